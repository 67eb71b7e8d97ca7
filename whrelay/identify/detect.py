"""Tell a webhook's sender, event type and delivery id from the request, without a secret.

Detection reads headers first (cheap, and every major sender names itself in one) and the
JSON body only for what senders put nowhere else (Stripe's ``evt_`` id, a ``type`` field).
Pure functions; nothing here trusts the values beyond copying them as text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from whrelay.core.models import Identity, RawHeaders, decode_header, first_values

if TYPE_CHECKING:
    from whrelay.identify.bodyfields import BodyFields

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

_PROVIDER_HEADERS_RAW = tuple((p, h.encode()) for p, h in _PROVIDER_HEADERS)
_BODY_PROVIDERS = ("mailgun",)
"""Providers that name themselves in the body only (Mailgun signs in the body)."""
PROVIDERS = tuple(sorted({provider for provider, _ in _PROVIDER_HEADERS} | set(_BODY_PROVIDERS)))
"""Every provider ``identify`` can tell (what ``list --provider`` selects by)."""

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

_FORM_SNIFF = 64 * 1024
"""Url-encoded bodies larger than this are not searched for Mailgun's fields."""

_EVENT_HEADERS_RAW = {p: tuple(h.encode() for h in hs) for p, hs in _EVENT_HEADERS.items()}
_DELIVERY_HEADERS_RAW = {p: tuple(h.encode() for h in hs) for p, hs in _DELIVERY_HEADERS.items()}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _provider_of(index: dict[bytes, bytes]) -> str | None:
    for provider, header in _PROVIDER_HEADERS_RAW:
        if header in index:
            return provider
    return None


def detect_provider(headers: RawHeaders) -> str | None:
    """The provider whose signature or event header is present, or ``None``."""
    return _provider_of(first_values(headers))


@functools.cache
def _json_fields() -> Callable[[bytes, bytes | None], BodyFields]:
    """``bodyfields.json_fields``, imported on first use: `verify` reads headers only, and
    starts faster without msgspec."""
    from whrelay.identify.bodyfields import json_fields

    return json_fields


_MAILGUN_FORM = tuple(
    re.compile(rb"(?:^|&)" + field + rb"=" + value + rb"(?:&|$)")
    for field, value in (
        (rb"timestamp", rb"\d+"),
        (rb"token", rb"[^&]+"),
        (rb"signature", rb"[0-9a-fA-F]{64}"),
    )
)
_MAILGUN_FORM_EVENT = re.compile(rb"(?:^|&)event=([^&]*)")
_MAILGUN_KEYS = frozenset(("timestamp", "token", "signature"))


def _mailgun(fields: BodyFields, content_type: bytes | None, body: bytes | None) -> Identity | None:
    """Mailgun's webhooks carry no header of their own: they are told by their body, a JSON
    ``signature`` object beside ``event-data``, or (legacy) url-encoded ``timestamp``,
    ``token`` and ``signature`` fields."""
    signature, data = fields.signature, fields.event_data
    if isinstance(signature, dict) and signature.keys() >= _MAILGUN_KEYS:
        data = data if isinstance(data, dict) else {}
        return Identity(
            "mailgun",
            _text(data.get("event")),
            _text(data.get("id")),
            None if content_type is None else decode_header(content_type),
        )
    if (
        content_type is not None
        and body
        and len(body) <= _FORM_SNIFF
        and content_type.lower().startswith(b"application/x-www-form-urlencoded")
        and b"signature=" in body  # cheap literal checks first: this runs on every request
        and b"token=" in body
        and b"timestamp=" in body
        and all(pattern.search(body) for pattern in _MAILGUN_FORM)
    ):
        event = _MAILGUN_FORM_EVENT.search(body)
        return Identity(
            "mailgun",
            unquote_plus(event.group(1).decode("latin-1")) or None if event else None,
            None,
            decode_header(content_type),
        )
    return None


def identify(headers: RawHeaders, body: bytes | None) -> Identity:
    """Provider, event type and delivery id, as far as the request tells them.

    On the hot path of every webhook: one pass over the headers, the body parsed at most once.
    """
    index = first_values(headers)
    provider = _provider_of(index)
    content_type = index.get(b"content-type")
    fields = _json_fields()(content_type or b"", body)
    if provider is None:
        mailgun = _mailgun(fields, content_type, body)
        if mailgun is not None:
            return mailgun

    event_type = None
    for name in _EVENT_HEADERS_RAW.get(provider or "", ()):
        value = index.get(name)
        if value:
            event_type = decode_header(value)
            break
    if event_type is None:
        if provider == "slack" and isinstance(fields.event, dict):
            event_type = _text(fields.event.get("type"))
        event_type = (
            event_type
            or _text(fields.type)
            or _text(fields.event_type)
            or _text(fields.event)
            or _text(fields.object_kind)
        )

    delivery_id = None
    for name in _DELIVERY_HEADERS_RAW.get(provider or "", ()):
        value = index.get(name)
        if value:
            delivery_id = decode_header(value)
            break
    if delivery_id is None:
        if provider == "stripe":
            delivery_id = _text(fields.id)
        delivery_id = delivery_id or _text(fields.event_id) or _text(fields.notification_id)
        for name in (b"webhook-id", b"svix-id"):
            if delivery_id:
                break
            value = index.get(name)
            delivery_id = decode_header(value) if value else None
    return Identity(
        provider=provider,
        event_type=event_type,
        provider_id=delivery_id,
        content_type=None if content_type is None else decode_header(content_type),
    )
