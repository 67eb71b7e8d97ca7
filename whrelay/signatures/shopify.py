"""Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(app client secret, body)>``.

The key is the secret as UTF-8; the MAC covers the raw body bytes; the header holds the
standard base64 of the 32-byte MAC. Newer "Events" deliveries carry the same value under the
unprefixed ``shopify-hmac-sha256``, read when ``X-Shopify-Hmac-Sha256`` is absent. No
timestamp (``X-Shopify-Triggered-At`` is informational), one signature: rotation means trying
the old and the new secret. An empty body is verified like any other (the official library
refuses it as ``missing_body`` before looking at the MAC).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from whrelay.identify.facts import Identification
from whrelay.signatures.base import (
    Check,
    Message,
    Secret,
    Verification,
    bad,
    encoding_problem,
    mac,
    missing,
    ok,
    same,
    text_key_problem,
    usable_keys,
    utf8,
)
from whrelay.signatures.examples import Example

HEADER = "X-Shopify-Hmac-Sha256"
EVENTS_HEADER = "shopify-hmac-sha256"
_MAC_SIZE = 32


def signature(secret: Secret, body: bytes) -> str:
    return base64.b64encode(mac(utf8(secret), body)).decode()


IDENTIFICATION = Identification(
    headers=("x-shopify-topic", "x-shopify-hmac-sha256"),
    event_headers=("x-shopify-topic",),
    id_headers=("x-shopify-webhook-id", "x-shopify-event-id"),
)
EXAMPLE = Example(
    {"id": 820982911946154508, "email": "jon@example.com", "total_price": "9.99"},
    (
        ("Content-Type", "application/json"),
        ("X-Shopify-Topic", "orders/create"),
        ("X-Shopify-Shop-Domain", "whrelay-test.myshopify.com"),
        ("X-Shopify-API-Version", "2024-07"),
        ("X-Shopify-Webhook-Id", "{uuid}"),
    ),
)


@dataclass(frozen=True, slots=True)
class Shopify:
    name: str = "shopify"
    signature_headers: tuple[str, ...] = (HEADER, EVENTS_HEADER)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        return message.with_header(self._header_name(message), signature(secret, message.body))

    @staticmethod
    def _header_name(message: Message) -> str:
        """The Events header when the message is an Events delivery, else the classic one."""
        if message.header(HEADER) is not None:
            return HEADER
        names = {key.lower() for key, _ in message.headers}
        if EVENTS_HEADER in names or (
            any(name.startswith("shopify-") for name in names)
            and not any(name.startswith("x-shopify-") for name in names)
        ):
            return EVENTS_HEADER
        return HEADER

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER) or message.header(EVENTS_HEADER)
        if not header:
            return missing(self.name, HEADER)
        value = header.strip()
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        for key in keys:
            if same(value, signature(key, message.body)):
                return ok(self.name)
        return bad(self.name, hints=[encoding_problem(value, "base64", _MAC_SIZE, "Shopify")])


SHOPIFY = Shopify()
