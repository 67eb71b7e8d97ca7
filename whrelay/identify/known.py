"""Every provider whrelay knows, as its scheme module declares it.

Generated from the registry (``whrelay/signatures/__init__.py``) and the schemes'
declarations by ``python -m whrelay.signatures.index``: do not edit. A test fails when this
differs from what the schemes declare.
"""

from __future__ import annotations

from whrelay.identify.facts import BodyMark, Identification

SCHEMES: tuple[str, ...] = (
    "stripe",
    "github",
    "gitlab",
    "shopify",
    "slack",
    "twilio",
    "paddle",
    "square",
    "linear",
    "zoom",
    "mailgun",
    "sendgrid",
    "discord",
    "svix",
    "standard-webhooks",
    "hmac",
)
"""Every scheme's name, in the registry's order (``--provider``)."""

PROVIDERS: tuple[str, ...] = (
    "discord",
    "github",
    "gitlab",
    "linear",
    "mailgun",
    "paddle",
    "sendgrid",
    "shopify",
    "slack",
    "square",
    "standard-webhooks",
    "stripe",
    "svix",
    "twilio",
    "zoom",
)
"""Every provider detection can tell."""

SECRET_HEADERS: tuple[str, ...] = ("x-gitlab-token",)
"""Headers whose value is the secret itself (never shown)."""

SENDERS: tuple[tuple[str, Identification], ...] = (
    (
        "stripe",
        Identification(
            headers=("stripe-signature",),
            event_fields=(("type",),),
            id_fields=(("id",),),
        ),
    ),
    (
        "github",
        Identification(
            headers=("x-github-event", "x-hub-signature-256"),
            event_headers=("x-github-event",),
            subtype_fields=(("action",),),
            id_headers=("x-github-delivery",),
        ),
    ),
    (
        "gitlab",
        Identification(
            headers=("x-gitlab-event", "x-gitlab-token"),
            event_headers=("x-gitlab-event",),
            event_fields=(("object_kind",),),
            subtype_fields=(("object_attributes", "action"),),
            id_headers=("x-gitlab-event-uuid", "x-gitlab-webhook-uuid"),
        ),
    ),
    (
        "shopify",
        Identification(
            headers=("x-shopify-topic", "x-shopify-hmac-sha256"),
            event_headers=("x-shopify-topic",),
            id_headers=("x-shopify-webhook-id", "x-shopify-event-id"),
        ),
    ),
    (
        "slack",
        Identification(
            headers=("x-slack-signature",),
            event_fields=(("event", "type"), ("type",)),
            subtype_fields=(("event", "subtype"),),
            id_fields=(("event_id",),),
        ),
    ),
    (
        "twilio",
        Identification(headers=("x-twilio-signature",), id_headers=("i-twilio-idempotency-token",)),
    ),
    (
        "paddle",
        Identification(
            headers=("paddle-signature",),
            event_fields=(("event_type",),),
            id_fields=(("event_id",), ("notification_id",)),
        ),
    ),
    (
        "square",
        Identification(
            headers=("x-square-hmacsha256-signature",),
            event_fields=(("type",),),
            id_fields=(("event_id",),),
        ),
    ),
    (
        "linear",
        Identification(
            headers=("linear-signature",),
            event_headers=("linear-event",),
            subtype_fields=(("action",),),
            id_headers=("linear-delivery",),
        ),
    ),
    (
        "zoom",
        Identification(headers=("x-zm-signature",), event_fields=(("event",),)),
    ),
    (
        "mailgun",
        Identification(
            event_fields=(("event-data", "event"),),
            id_fields=(("event-data", "id"),),
            body=BodyMark(
                json_field="signature",
                json_keys=("timestamp", "token", "signature"),
                form_fields=(
                    ("timestamp", "\\d+"),
                    ("token", "[^&]+"),
                    ("signature", "[0-9a-fA-F]{64}"),
                ),
                form_event="event",
            ),
            common_fields=False,
        ),
    ),
    (
        "sendgrid",
        Identification(headers=("x-twilio-email-event-webhook-signature",)),
    ),
    (
        "discord",
        Identification(headers=("x-signature-ed25519",)),
    ),
    (
        "svix",
        Identification(headers=("svix-id",), event_fields=(("type",),), id_headers=("svix-id",)),
    ),
    (
        "standard-webhooks",
        Identification(
            headers=("webhook-id", "webhook-signature"),
            event_fields=(("type",),),
            id_headers=("webhook-id",),
        ),
    ),
)
"""Every provider whose webhooks can be told apart, with how: in the order detection
tries them."""
