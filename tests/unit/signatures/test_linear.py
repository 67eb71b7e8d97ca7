"""``whrelay/signatures/linear.py``: known answers, RFC 4231, the timestamp in the body."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.helpers.schemes_others import body_at
from tests.helpers.sigkit import assert_reason, checker
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.linear import LINEAR

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""

chk = checker(NOW)

JSON_CT = (("Content-Type", "application/json"),)

# --- Linear ----------------------------------------------------------------------------------

LINEAR_KAT_BODY = b'{"action":"create","type":"Issue","webhookTimestamp":1700000000000}'

LINEAR_KAT_SIG = "91e919dc0fd99df1cae12efef1ca08b082cfa523f101b572ec14ed98863fdf35"
"""``openssl dgst -sha256 -hmac lin_wh_secret`` over LINEAR_KAT_BODY."""


def linear_message(body: bytes, signature: str) -> Message:
    return Message(body, (("Linear-Signature", signature),))


def test_linear_known_answer() -> None:
    message = linear_message(LINEAR_KAT_BODY, LINEAR_KAT_SIG)
    verdict = LINEAR.verify(message, chk("lin_wh_secret"))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert LINEAR.sign(Message(LINEAR_KAT_BODY), "lin_wh_secret", NOW) == message
    expected = hmac.new(b"lin_wh_secret", LINEAR_KAT_BODY, hashlib.sha256).hexdigest()
    assert expected == LINEAR_KAT_SIG


def test_linear_rfc4231_case_2() -> None:
    """RFC 4231 test case 2 (key "Jefe"): a body without webhookTimestamp, so only with the
    timestamp ignored."""
    message = linear_message(
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    )
    assert_reason(LINEAR.verify(message, chk("Jefe", ignore_timestamp=True)), Reason.OK)
    assert_reason(LINEAR.verify(message, chk("Jefe")), Reason.MALFORMED_HEADER)


def test_linear_accepts_upper_case_hex_like_the_sdk() -> None:
    """@linear/sdk decodes the hex (``Buffer.from(sig, "hex")``) and compares bytes."""
    message = linear_message(LINEAR_KAT_BODY, LINEAR_KAT_SIG.upper())
    assert_reason(LINEAR.verify(message, chk("lin_wh_secret")), Reason.OK)


def test_linear_ignores_the_linear_timestamp_header() -> None:
    message = linear_message(LINEAR_KAT_BODY, LINEAR_KAT_SIG).with_header(
        "Linear-Timestamp", str(NOW - 10**6)
    )
    assert_reason(LINEAR.verify(message, chk("lin_wh_secret")), Reason.OK)


def test_linear_timestamp_is_milliseconds() -> None:
    body = b'{"webhookTimestamp":1699999939500}'  # 60.5 s before NOW
    message = LINEAR.sign(Message(body), "k", NOW)
    verdict = LINEAR.verify(message, chk("k"))
    assert_reason(verdict, Reason.TIMESTAMP_TOO_OLD)
    assert verdict.timestamp == 1_699_999_939.5
    body = b'{"webhookTimestamp":1699999940000}'  # exactly 60 s
    assert_reason(LINEAR.verify(LINEAR.sign(Message(body), "k", NOW), chk("k")), Reason.OK)


def test_linear_sign_does_not_edit_the_body() -> None:
    body = body_at(NOW - 3600)
    message = LINEAR.sign(Message(body, JSON_CT), "k", NOW)
    assert message.body == body
    assert dict(message.headers)["Linear-Signature"] == hmac.new(b"k", body, "sha256").hexdigest()
    assert_reason(LINEAR.verify(message, chk("k")), Reason.TIMESTAMP_TOO_OLD)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"action":"create"}', "no webhookTimestamp"),
        (b'{"webhookTimestamp":"1700000000000"}', "not a whole number"),
        (b'{"webhookTimestamp":1700000000000.0}', "not a whole number"),
        (b'{"webhookTimestamp":true}', "not a whole number"),
        (b'{"webhookTimestamp":-1}', "not a whole number"),
        (b'{"webhookTimestamp":null}', "not a whole number"),
        (b'{"webhookTimestamp":1' + b"0" * 20 + b"}", "not a whole number"),
    ],
)
def test_linear_unreadable_webhook_timestamp(body: bytes, words: str) -> None:
    message = LINEAR.sign(Message(body), "k", NOW)
    verdict = LINEAR.verify(message, chk("k"))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert words in verdict.detail
    assert_reason(LINEAR.verify(message, chk("k", ignore_timestamp=True)), Reason.OK)
    assert_reason(LINEAR.verify(message, chk("k", tolerance=0)), Reason.OK)
    assert_reason(LINEAR.verify(message, chk("other", ignore_timestamp=True)), Reason.BAD_SIGNATURE)
