"""``whrelay/signatures/slack.py``: known answers, the window, ``slack_sdk`` as oracle."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from tests.helpers.schemes_hmac import mixed_case
from tests.helpers.sigkit import assert_reason, checker
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.slack import SLACK

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

# --- Slack --------------------------------------------------------------------------------------

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

SLACK_TS = 1531420618

SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook"
    b"-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977"
    b"00885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d1"
    b"0d2c447fce8b6703c"
)

SLACK_KA = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


def slack_message(body: bytes, signature: str, stamp: str) -> Message:
    return Message(body, (("X-Slack-Request-Timestamp", stamp), ("X-Slack-Signature", signature)))


_SLACK_RIGHT = (
    "v0="
    + hmac.new(SLACK_SECRET.encode(), f"v0:{NOW}:".encode() + JSON_BODY, hashlib.sha256).hexdigest()
)

UTF8_BODIES = [
    pytest.param(JSON_BODY, id="json"),
    pytest.param(SLACK_BODY, id="form"),
    pytest.param(b"", id="empty"),
    pytest.param("ünïcödé\r\n".encode(), id="utf8-text"),
]


def test_slack_known_answer() -> None:
    signed = SLACK.sign(Message(SLACK_BODY), SLACK_SECRET, SLACK_TS)
    assert signed.header("x-slack-signature") == SLACK_KA
    assert signed.header("x-slack-request-timestamp") == str(SLACK_TS)
    message = slack_message(SLACK_BODY, SLACK_KA, str(SLACK_TS))
    verdict = SLACK.verify(message, chk(SLACK_SECRET, now=SLACK_TS))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == SLACK_TS


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (0, Reason.OK),
        (300, Reason.OK),
        (-300, Reason.OK),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (-301, Reason.TIMESTAMP_IN_FUTURE),
        (86_400, Reason.TIMESTAMP_TOO_OLD),
    ],
)
def test_slack_window_is_300_s_both_ways(skew: int, reason: Reason) -> None:
    """``skew`` = check time minus signing time; the oracle agrees at every point."""
    signed = SLACK.sign(Message(JSON_BODY), SLACK_SECRET, NOW - skew)
    verdict = SLACK.verify(signed, chk(SLACK_SECRET))
    assert_reason(verdict, reason)
    if reason is not Reason.OK:
        assert "the signature itself matches" in verdict.detail
        assert verdict.timestamp == NOW - skew
    oracle = SignatureVerifier(SLACK_SECRET, clock=FixedClock(NOW))
    assert oracle.is_valid_request(JSON_BODY, dict(signed.headers)) is (reason is Reason.OK)


def test_slack_stale_and_wrong_says_the_signature_does_not_match() -> None:
    signed = SLACK.sign(Message(JSON_BODY), "another-secret", NOW - 1000)
    verdict = SLACK.verify(signed, chk(SLACK_SECRET))
    assert_reason(verdict, Reason.TIMESTAMP_TOO_OLD)
    assert "the signature does not match" in verdict.detail


def test_slack_tolerance_overrides() -> None:
    stale = SLACK.sign(Message(JSON_BODY), SLACK_SECRET, NOW - 1000)
    assert_reason(SLACK.verify(stale, chk(SLACK_SECRET, tolerance=1000)), Reason.OK)
    assert_reason(SLACK.verify(stale, chk(SLACK_SECRET, tolerance=999)), Reason.TIMESTAMP_TOO_OLD)
    assert_reason(SLACK.verify(stale, chk(SLACK_SECRET, ignore_timestamp=True)), Reason.OK)
    fresh = SLACK.sign(Message(JSON_BODY), SLACK_SECRET, NOW - 10)
    assert_reason(SLACK.verify(fresh, chk(SLACK_SECRET, tolerance=5)), Reason.TIMESTAMP_TOO_OLD)
    wrong = SLACK.sign(Message(JSON_BODY), "another-secret", NOW - 1000)
    verdict = SLACK.verify(wrong, chk(SLACK_SECRET, ignore_timestamp=True))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_slack_timestamp_is_signed() -> None:
    signed = SLACK.sign(Message(JSON_BODY), SLACK_SECRET, NOW)
    moved = signed.with_header("X-Slack-Request-Timestamp", str(NOW + 1))
    assert_reason(SLACK.verify(moved, chk(SLACK_SECRET)), Reason.BAD_SIGNATURE)


def test_slack_timestamp_enters_the_mac_as_spelled() -> None:
    stamp = f"0{NOW}"
    content = f"v0:{stamp}:".encode() + JSON_BODY
    sig = "v0=" + hmac.new(SLACK_SECRET.encode(), content, "sha256").hexdigest()
    verdict = SLACK.verify(slack_message(JSON_BODY, sig, stamp), chk(SLACK_SECRET))
    assert_reason(verdict, Reason.OK)


def test_slack_missing_one_header() -> None:
    signed = SLACK.sign(Message(JSON_BODY), SLACK_SECRET, NOW)
    for name in ("X-Slack-Request-Timestamp", "X-Slack-Signature"):
        verdict = SLACK.verify(signed.without_header(name), chk(SLACK_SECRET))
        assert_reason(verdict, Reason.MISSING_HEADER)
        assert name in verdict.detail


@pytest.mark.parametrize(
    ("stamp", "signature"),
    [
        ("yesterday", "v0=" + "0" * 64),
        ("1735689600.5", "v0=" + "0" * 64),
        ("-1735689600", "v0=" + "0" * 64),
        ("17e8", "v0=" + "0" * 64),
        (str(NOW), "0" * 64),
        (str(NOW), "sha256=" + "0" * 64),
    ],
)
def test_slack_malformed(stamp: str, signature: str) -> None:
    message = slack_message(JSON_BODY, signature, stamp)
    assert_reason(SLACK.verify(message, chk(SLACK_SECRET)), Reason.MALFORMED_HEADER)
    assert_reason(SLACK.verify(message, chk()), Reason.MALFORMED_HEADER)


@pytest.mark.parametrize(
    ("signature", "found"),
    [
        ("v1=" + _SLACK_RIGHT[3:], "the signature is v1=, and Slack signs v0= only"),
        (_SLACK_RIGHT.upper().replace("V0=", "v0="), "upper-case hex"),
        (
            "v0=" + base64.b64encode(bytes.fromhex(_SLACK_RIGHT[3:])).decode(),
            "the signature is base64, Slack sends hex",
        ),
        (_SLACK_RIGHT[:-1], "63 hex digits; Slack sends 64"),
    ],
)
def test_slack_well_formed_header_that_does_not_match_is_bad_signature(
    signature: str, found: str
) -> None:
    message = slack_message(JSON_BODY, signature, str(NOW))
    right = message.with_header("X-Slack-Signature", _SLACK_RIGHT)
    assert_reason(SLACK.verify(right, chk(SLACK_SECRET)), Reason.OK)
    verdict = SLACK.verify(message, chk(SLACK_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict
    verifier = SignatureVerifier(SLACK_SECRET, FixedClock(NOW))
    assert not verifier.is_valid(JSON_BODY, str(NOW), signature)


def test_slack_upper_case_hex_is_not_the_signature() -> None:
    signed = SLACK.sign(Message(JSON_BODY), SLACK_SECRET, NOW)
    sig = signed.header("X-Slack-Signature")
    assert sig is not None
    upper = signed.with_header("X-Slack-Signature", "v0=" + sig[3:].upper())
    assert_reason(SLACK.verify(upper, chk(SLACK_SECRET)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("body", UTF8_BODIES)
def test_slack_oracle_accepts_what_whrelay_signs(body: bytes) -> None:
    signed = SLACK.sign(Message(body), SLACK_SECRET, NOW)
    oracle = SignatureVerifier(SLACK_SECRET, clock=FixedClock(NOW))
    assert oracle.is_valid_request(body, dict(signed.headers))
    assert not SignatureVerifier("wrong", clock=FixedClock(NOW)).is_valid_request(
        body, dict(signed.headers)
    )


@pytest.mark.parametrize("body", UTF8_BODIES)
def test_whrelay_accepts_what_the_slack_oracle_signs(body: bytes) -> None:
    oracle = SignatureVerifier(SLACK_SECRET, clock=FixedClock(NOW))
    sig = oracle.generate_signature(timestamp=str(NOW), body=body)
    assert sig is not None
    message = mixed_case(slack_message(body, sig, str(NOW)))
    assert_reason(SLACK.verify(message, chk(SLACK_SECRET)), Reason.OK)
    assert_reason(SLACK.verify(message, chk("wrong")), Reason.BAD_SIGNATURE)
