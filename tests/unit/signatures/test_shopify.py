"""``whrelay/signatures/shopify.py``: known answers, both header names."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.helpers.schemes_hmac import hmac_b64
from tests.helpers.sigkit import assert_reason, checker
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.shopify import SHOPIFY

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

BINARY_BODY = b"\xff\xfe\x00\x80binary\xc3\x28\n\r\n"
"""Not UTF-8 (0xff, a lone continuation byte, an invalid two-byte sequence)."""

# --- Shopify ------------------------------------------------------------------------------------

SHOPIFY_KA_BODY = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'

SHOPIFY_KA_SECRET = "test-webhook-secret"

SHOPIFY_KA = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw="
"""``openssl dgst -sha256 -hmac test-webhook-secret -binary | base64`` of the body."""


def test_shopify_known_answer() -> None:
    signed = SHOPIFY.sign(Message(SHOPIFY_KA_BODY), SHOPIFY_KA_SECRET, NOW)
    assert signed.header("X-Shopify-Hmac-Sha256") == SHOPIFY_KA
    for header in ("X-Shopify-Hmac-Sha256", "X-Shopify-Hmac-SHA256", "shopify-hmac-sha256"):
        message = Message(SHOPIFY_KA_BODY, ((header, SHOPIFY_KA),))
        assert_reason(SHOPIFY.verify(message, chk(SHOPIFY_KA_SECRET)), Reason.OK)
    # No timestamp: any clock passes.
    message = Message(SHOPIFY_KA_BODY, (("X-Shopify-Hmac-Sha256", SHOPIFY_KA),))
    assert_reason(SHOPIFY.verify(message, chk(SHOPIFY_KA_SECRET, now=0)), Reason.OK)


def test_shopify_matches_the_documented_algorithm_on_binary_bodies() -> None:
    signed = SHOPIFY.sign(Message(BINARY_BODY), SHOPIFY_KA_SECRET, NOW)
    expected = hmac_b64(SHOPIFY_KA_SECRET.encode(), BINARY_BODY)
    assert signed.header("x-shopify-hmac-sha256") == expected


def test_shopify_events_deliveries_use_the_unprefixed_header() -> None:
    events = Message(
        JSON_BODY,
        (
            ("shopify-topic", "orders/create"),
            ("shopify-shop-domain", "shop.myshopify.com"),
            ("shopify-event-id", "evt-1"),
        ),
    )
    signed = SHOPIFY.sign(events, SHOPIFY_KA_SECRET, NOW)
    assert signed.header("shopify-hmac-sha256") == hmac_b64(SHOPIFY_KA_SECRET.encode(), JSON_BODY)
    assert signed.header("X-Shopify-Hmac-Sha256") is None
    assert_reason(SHOPIFY.verify(signed, chk(SHOPIFY_KA_SECRET)), Reason.OK)
    classic = SHOPIFY.sign(Message(JSON_BODY, (("X-Shopify-Topic", "orders/create"),)), "k", NOW)
    assert classic.header("X-Shopify-Hmac-Sha256") is not None
    assert classic.header("shopify-hmac-sha256") is None


def test_shopify_prefers_the_classic_header_when_both_are_present() -> None:
    good = hmac_b64(SHOPIFY_KA_SECRET.encode(), JSON_BODY)
    wrong = hmac_b64(b"wrong", JSON_BODY)
    both = Message(JSON_BODY, (("shopify-hmac-sha256", wrong), ("X-Shopify-Hmac-Sha256", good)))
    assert_reason(SHOPIFY.verify(both, chk(SHOPIFY_KA_SECRET)), Reason.OK)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("not base64!!", "the signature is not base64; Shopify sends base64"),
        (hashlib.sha256(b"x").hexdigest(), "the signature is hex, Shopify sends base64"),
        (base64.b64encode(b"\x00" * 20).decode(), "decodes to 20 bytes; Shopify sends 32"),
        ("QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw", "lacks its = padding"),
        (base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), "URL-safe base64"),
    ],
)
def test_shopify_signature_in_the_wrong_form_is_bad_signature(value: str, found: str) -> None:
    """The header is the signature alone: any value can be read, so a wrong form is a
    signature that does not match, and the hint says what the form is."""
    message = Message(SHOPIFY_KA_BODY, (("X-Shopify-Hmac-Sha256", value),))
    verdict = SHOPIFY.verify(message, chk(SHOPIFY_KA_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict
    assert_reason(SHOPIFY.verify(message, chk()), Reason.NO_SECRET)


def test_shopify_upper_case_signature_is_not_the_signature() -> None:
    flipped = SHOPIFY_KA.swapcase()
    message = Message(SHOPIFY_KA_BODY, (("X-Shopify-Hmac-Sha256", flipped),))
    assert_reason(SHOPIFY.verify(message, chk(SHOPIFY_KA_SECRET)), Reason.BAD_SIGNATURE)
