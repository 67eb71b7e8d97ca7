"""Example events per provider, for ``whrelay send`` and ``whrelay sign`` without ``--data``.

Shapes follow each provider's documented examples, trimmed; ids are obviously fake.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid

_EVENTS: dict[str, tuple[object, tuple[tuple[str, str], ...]]] = {
    "stripe": (
        {
            "id": "evt_whrelay_{uid}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "api_version": "2024-06-20",
            "data": {
                "object": {
                    "id": "pi_whrelay_0001",
                    "object": "payment_intent",
                    "amount": 2000,
                    "currency": "usd",
                    "status": "succeeded",
                }
            },
        },
        (("Content-Type", "application/json; charset=utf-8"),),
    ),
    "github": (
        {
            "zen": "Keep it logically awesome.",
            "hook_id": 1,
            "repository": {"full_name": "octo/whrelay-test"},
        },
        (
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "ping"),
            ("X-GitHub-Delivery", "{uuid}"),
        ),
    ),
    "shopify": (
        {"id": 820982911946154508, "email": "jon@example.com", "total_price": "9.99"},
        (
            ("Content-Type", "application/json"),
            ("X-Shopify-Topic", "orders/create"),
            ("X-Shopify-Shop-Domain", "whrelay-test.myshopify.com"),
            ("X-Shopify-API-Version", "2024-07"),
            ("X-Shopify-Webhook-Id", "{uuid}"),
        ),
    ),
    "slack": (
        {
            "type": "event_callback",
            "event_id": "Ev{uid}",
            "event": {"type": "app_mention", "text": "<@U0LAN0Z89> hello", "user": "U2147483697"},
        },
        (("Content-Type", "application/json"),),
    ),
    "paddle": (
        {
            "event_id": "evt_01whrelay{uid}",
            "event_type": "transaction.completed",
            "occurred_at": "2026-11-26T10:00:00.000000Z",
            "notification_id": "ntf_01whrelay{uid}",
            "data": {"id": "txn_01whrelay0001", "status": "completed"},
        },
        (("Content-Type", "application/json"),),
    ),
    "twilio": (
        "MessageSid=SM0000000000000000000000000whrelay&From=%2B15005550006&To=%2B15005550001"
        "&Body=Hello+from+whrelay",
        (("Content-Type", "application/x-www-form-urlencoded"),),
    ),
    "linear": (
        {
            "action": "create",
            "type": "Issue",
            "createdAt": "2026-11-26T10:00:00.000Z",
            "data": {"id": "whrelay-{uuid}", "title": "Webhook test from whrelay"},
            "url": "https://linear.app/example/issue/WHR-1",
            "webhookTimestamp": "{now_ms}",
            "webhookId": "{uuid}",
        },
        (
            ("Content-Type", "application/json; charset=utf-8"),
            ("Linear-Delivery", "{uuid}"),
            ("Linear-Event", "Issue"),
        ),
    ),
    "gitlab": (
        {
            "object_kind": "push",
            "ref": "refs/heads/main",
            "project": {"path_with_namespace": "x/y"},
        },
        (("Content-Type", "application/json"), ("X-Gitlab-Event", "Push Hook")),
    ),
}
_DEFAULT: tuple[object, tuple[tuple[str, str], ...]] = (
    {"type": "whrelay.test", "id": "evt_whrelay_{uid}", "data": {"hello": "world"}},
    (("Content-Type", "application/json"),),
)


def _fill(text: str, ids: dict[str, str]) -> str:
    text = text.replace('"{now_ms}"', ids["now_ms"])  # a JSON number, not a string
    return text.replace("{uid}", ids["uid"]).replace("{uuid}", ids["uuid"])


def example_event(provider: str) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """A realistic body for ``provider``'s webhooks (JSON or a form) and the non-signature
    headers that go with it. Ids are fresh each time, so two sends are not duplicates."""
    ids = {
        "uid": secrets.token_hex(8),
        "uuid": str(uuid.uuid4()),
        "now_ms": str(int(time.time() * 1000)),
    }
    body, headers = _EVENTS.get(provider, _DEFAULT)
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return _fill(text, ids).encode(), tuple((k, _fill(v, ids)) for k, v in headers)
