"""``whrelay/signatures/square.py``: known answers, the URL, ``square`` as oracle."""

from __future__ import annotations

import base64
import hashlib

import pytest
from square.utils.webhooks_helper import verify_signature as square_verify

from tests.helpers.schemes_hmac import hmac_b64
from tests.helpers.sigkit import assert_reason, checker
from whrelay.core.errors import UsageError
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.square import SQUARE

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

BINARY_BODY = b"\xff\xfe\x00\x80binary\xc3\x28\n\r\n"
"""Not UTF-8 (0xff, a lone continuation byte, an invalid two-byte sequence)."""

SQUARE_URL = "https://example.com/webhooks/square"

SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook"
    b"-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977"
    b"00885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d1"
    b"0d2c447fce8b6703c"
)

UTF8_BODIES = [
    pytest.param(JSON_BODY, id="json"),
    pytest.param(SLACK_BODY, id="form"),
    pytest.param(b"", id="empty"),
    pytest.param("ünïcödé\r\n".encode(), id="utf8-text"),
]

# --- Square -------------------------------------------------------------------------------------

SQUARE_KA_BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-'
    b'f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type'
    b'":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)

SQUARE_KA = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="

SQUARE_KA_KEY = "Ibxx_5AKakO-3qeNVR61Dw"

SQUARE_KA_URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
"""The Square SDKs' own test vector (Python, Node, Go, PHP, Ruby all carry it)."""


def square_message(body: bytes, signature: str, url: str | None = SQUARE_KA_URL) -> Message:
    return Message(body, (("X-Square-HmacSha256-Signature", signature),), url)


def test_square_known_answer() -> None:
    assert square_verify(
        request_body=SQUARE_KA_BODY.decode(),
        signature_header=SQUARE_KA,
        signature_key=SQUARE_KA_KEY,
        notification_url=SQUARE_KA_URL,
    )
    signed = SQUARE.sign(Message(SQUARE_KA_BODY, url=SQUARE_KA_URL), SQUARE_KA_KEY, NOW)
    assert signed.header("x-square-hmacsha256-signature") == SQUARE_KA
    message = square_message(SQUARE_KA_BODY, SQUARE_KA)
    assert_reason(SQUARE.verify(message, chk(SQUARE_KA_KEY)), Reason.OK)
    assert_reason(SQUARE.verify(message, chk(SQUARE_KA_KEY, now=0)), Reason.OK)


@pytest.mark.parametrize(
    "url",
    [
        SQUARE_KA_URL + "/",
        SQUARE_KA_URL.replace("https", "http"),
        SQUARE_KA_URL.replace("webhook.site", "webhook.site:443"),
        SQUARE_KA_URL + "?x=1",
        "https://relay.local/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
    ],
)
def test_square_url_must_be_the_configured_one(url: str) -> None:
    verdict = SQUARE.verify(square_message(SQUARE_KA_BODY, SQUARE_KA, url), chk(SQUARE_KA_KEY))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert url in verdict.detail


def test_square_url_is_needed() -> None:
    for secrets in ((SQUARE_KA_KEY,), ()):
        verdict = SQUARE.verify(square_message(SQUARE_KA_BODY, SQUARE_KA, None), chk(*secrets))
        assert_reason(verdict, Reason.MALFORMED_HEADER)
        assert "--url" in verdict.detail
        assert "--public-url" in verdict.detail
    with pytest.raises(UsageError):
        SQUARE.sign(Message(SQUARE_KA_BODY), SQUARE_KA_KEY, NOW)


def test_square_matches_the_documented_algorithm_on_binary_bodies() -> None:
    signed = SQUARE.sign(Message(BINARY_BODY, url=SQUARE_URL), SQUARE_KA_KEY, NOW)
    expected = hmac_b64(SQUARE_KA_KEY.encode(), SQUARE_URL.encode() + BINARY_BODY)
    assert signed.header("x-square-hmacsha256-signature") == expected


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("not base64!!", "not base64"),
        (hashlib.sha256(b"x").hexdigest(), "the signature is hex, Square sends base64"),
        (base64.b64encode(b"\x00" * 20).decode(), "decodes to 20 bytes; Square sends 32"),
    ],
)
def test_square_signature_in_the_wrong_form_is_bad_signature(value: str, found: str) -> None:
    message = square_message(SQUARE_KA_BODY, value)
    verdict = SQUARE.verify(message, chk(SQUARE_KA_KEY))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict
    assert_reason(SQUARE.verify(message, chk()), Reason.NO_SECRET)


@pytest.mark.parametrize("body", [b for b in UTF8_BODIES if b.values[0]])
def test_square_oracle_accepts_what_whrelay_signs(body: bytes) -> None:
    signed = SQUARE.sign(Message(body, url=SQUARE_URL), SQUARE_KA_KEY, NOW)
    sig = signed.header("x-square-hmacsha256-signature")
    assert sig is not None
    kwargs = {
        "request_body": body.decode(),
        "signature_header": sig,
        "notification_url": SQUARE_URL,
    }
    assert square_verify(signature_key=SQUARE_KA_KEY, **kwargs)
    assert not square_verify(signature_key="wrong", **kwargs)


def test_square_empty_body_follows_the_algorithm_not_the_library() -> None:
    """The library returns ``False`` for an empty body before looking at the MAC."""
    sig = hmac_b64(SQUARE_KA_KEY.encode(), SQUARE_URL.encode())
    assert not square_verify(
        request_body="",
        signature_header=sig,
        signature_key=SQUARE_KA_KEY,
        notification_url=SQUARE_URL,
    )
    verdict = SQUARE.verify(square_message(b"", sig, SQUARE_URL), chk(SQUARE_KA_KEY))
    assert_reason(verdict, Reason.OK)
