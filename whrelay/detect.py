"""Tell a webhook's sender, event type and delivery id from the request, without a secret.

Detection reads headers first (cheap, and every major sender names itself in one) and the
JSON body only for what senders put nowhere else (Stripe's ``evt_`` id, a ``type`` field).
Pure functions; nothing here trusts the values beyond copying them as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from whrelay.models import Identity, RawHeaders, header_value

MAX_JSON_SNIFF = 1024 * 1024
"""Bodies larger than this are not parsed for an event type or id."""

# (provider, header that proves it). Order matters: the first match wins, so a sender that
# also sets another's headers (Svix sends webhook-* too) is checked before that other one.
_PROVIDER_HEADERS: tuple[tuple[str, str], ...] = (
    ("stripe", "stripe-signature"),
    ("github", "x-github-event"),
    ("github", "x-hub-signature-256"),
    ("gitlab", "x-gitlab-event"),
    ("gitlab", "x-gitlab-token"),
    ("shopify", "x-shopify-topic"),
    ("shopify", "x-shopify-hmac-sha256"),
    ("slack", "x-slack-signature"),
    ("twilio", "x-twilio-signature"),
    ("paddle", "paddle-signature"),
    ("square", "x-square-hmacsha256-signature"),
    ("linear", "linear-signature"),
    ("zoom", "x-zm-signature"),
    ("sendgrid", "x-twilio-email-event-webhook-signature"),
    ("discord", "x-signature-ed25519"),
    ("svix", "svix-id"),
    ("standard-webhooks", "webhook-id"),
    ("standard-webhooks", "webhook-signature"),
)

# Headers that carry the sender's delivery id, per provider.
_DELIVERY_HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-delivery",),
    "gitlab": ("x-gitlab-event-uuid", "x-gitlab-webhook-uuid"),
    "shopify": ("x-shopify-webhook-id", "x-shopify-event-id"),
    "svix": ("svix-id",),
    "standard-webhooks": ("webhook-id",),
    "twilio": ("i-twilio-idempotency-token",),
    "linear": ("linear-delivery",),
}

# Headers that carry the event type, per provider.
_EVENT_HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-event",),
    "gitlab": ("x-gitlab-event",),
    "shopify": ("x-shopify-topic",),
    "linear": ("linear-event",),
}

JsonObject = dict[str, object]


def _str_field(obj: JsonObject, *path: str) -> str | None:
    value: object = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value else None


def _first(*candidates: Callable[[], str | None]) -> str | None:
    for candidate in candidates:
        value = candidate()
        if value:
            return value
    return None


def detect_provider(headers: RawHeaders) -> str | None:
    """The provider whose signature or event header is present, or ``None``."""
    names = {name.lower() for name, _ in headers}
    for provider, header in _PROVIDER_HEADERS:
        if header.encode() in names:
            return provider
    return None


def _parse_json(headers: RawHeaders, body: bytes | None) -> JsonObject | None:
    if not body or len(body) > MAX_JSON_SNIFF:
        return None
    content_type = (header_value(headers, "content-type") or "").lower()
    if "json" not in content_type and body.lstrip()[:1] != b"{":
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def identify(headers: RawHeaders, body: bytes | None) -> Identity:
    """Provider, event type and delivery id, as far as the request tells them."""
    provider = detect_provider(headers)
    doc = _parse_json(headers, body) or {}

    def from_headers(table: dict[str, tuple[str, ...]]) -> str | None:
        for name in table.get(provider or "", ()):
            value = header_value(headers, name)
            if value:
                return value
        return None

    event_type = _first(
        lambda: from_headers(_EVENT_HEADERS),
        lambda: _str_field(doc, "event", "type") if provider == "slack" else None,
        lambda: _str_field(doc, "type"),  # Stripe, Svix, Slack url_verification, most others
        lambda: _str_field(doc, "event_type"),  # Paddle Billing
        lambda: _str_field(doc, "event"),  # Zoom
        lambda: _str_field(doc, "object_kind"),  # GitLab system hooks
    )
    delivery_id = _first(
        lambda: from_headers(_DELIVERY_HEADERS),
        lambda: _str_field(doc, "id") if provider == "stripe" else None,
        lambda: _str_field(doc, "event_id"),  # Slack, Paddle Billing
        lambda: _str_field(doc, "notification_id"),  # Paddle Billing
        lambda: header_value(headers, "webhook-id"),
        lambda: header_value(headers, "svix-id"),
    )
    return Identity(provider=provider, event_type=event_type, delivery_id=delivery_id)
