"""``whrelay/signatures/paddle.py``: known answers, ``paddle_billing`` as oracle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from paddle_billing.Notifications import PaddleSignature  # type: ignore[import-untyped]
from paddle_billing.Notifications import Secret as PaddleSecret
from paddle_billing.Notifications import Verifier as PaddleVerifier

from tests.helpers.schemes_hmac import mixed_case
from tests.helpers.sigkit import assert_reason, checker
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.paddle import PADDLE

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

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

# --- Paddle -------------------------------------------------------------------------------------

PADDLE_KA_SECRET = "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh"

PADDLE_KA_OTHERS = (
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
)

PADDLE_KA_TS = 1696195954

PADDLE_KA_BODY = b"hello-world"

PADDLE_KA_H1 = "d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"
"""paddle-python-sdk's own test vector (tests/Unit/Notification/test_Verifier.py)."""

PADDLE_SECRET = "pdl_ntfset_01abc_secretA"


@dataclass
class PaddleRequest:
    """What ``Verifier.verify`` reads: ``body`` bytes and ``headers.get``."""

    body: bytes
    headers: dict[str, str]


@pytest.fixture
def paddle_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """The Paddle SDK reads ``time()``: pin it (and make sure TEST_MODE is off)."""
    monkeypatch.delenv("TEST_MODE", raising=False)
    module = sys.modules[PaddleVerifier.__module__]

    def set_now(now: float) -> None:
        monkeypatch.setattr(module, "time", lambda: now)

    set_now(NOW)
    return set_now


def paddle_message(body: bytes, header: str) -> Message:
    return Message(body, (("Paddle-Signature", header),))


_PADDLE_RIGHT = hmac.new(
    PADDLE_SECRET.encode(), f"{NOW}:".encode() + JSON_BODY, hashlib.sha256
).hexdigest()


def test_paddle_known_answer() -> None:
    signed = PADDLE.sign(Message(PADDLE_KA_BODY), PADDLE_KA_SECRET, PADDLE_KA_TS)
    assert signed.header("paddle-signature") == f"ts={PADDLE_KA_TS};h1={PADDLE_KA_H1}"
    header = f"ts={PADDLE_KA_TS};h1=dummy;h1={PADDLE_KA_H1}"
    message = paddle_message(PADDLE_KA_BODY, header)
    verdict = PADDLE.verify(message, chk(*PADDLE_KA_OTHERS, PADDLE_KA_SECRET, now=PADDLE_KA_TS))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == PADDLE_KA_TS
    assert_reason(
        PADDLE.verify(message, chk(*PADDLE_KA_OTHERS, now=PADDLE_KA_TS)), Reason.BAD_SIGNATURE
    )
    # The vector's own check turns the clock off.
    assert_reason(PADDLE.verify(message, chk(PADDLE_KA_SECRET)), Reason.TIMESTAMP_TOO_OLD)
    assert_reason(PADDLE.verify(message, chk(PADDLE_KA_SECRET, ignore_timestamp=True)), Reason.OK)


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (0, Reason.OK),
        (5, Reason.OK),
        (-5, Reason.OK),
        (6, Reason.TIMESTAMP_TOO_OLD),
        (-6, Reason.TIMESTAMP_IN_FUTURE),
        (3600, Reason.TIMESTAMP_TOO_OLD),
    ],
)
def test_paddle_window_is_5_s_both_ways(
    skew: int, reason: Reason, paddle_clock: Callable[[float], None]
) -> None:
    signed = PADDLE.sign(Message(JSON_BODY), PADDLE_SECRET, NOW - skew)
    verdict = PADDLE.verify(signed, chk(PADDLE_SECRET))
    assert_reason(verdict, reason)
    if reason is not Reason.OK:
        assert "the signature itself matches" in verdict.detail
    request = PaddleRequest(JSON_BODY, dict(signed.headers))
    assert PaddleVerifier().verify(request, PaddleSecret(PADDLE_SECRET)) is (reason is Reason.OK)


def test_paddle_tolerance_overrides() -> None:
    stale = PADDLE.sign(Message(JSON_BODY), PADDLE_SECRET, NOW - 60)
    assert_reason(PADDLE.verify(stale, chk(PADDLE_SECRET, tolerance=60)), Reason.OK)
    assert_reason(PADDLE.verify(stale, chk(PADDLE_SECRET, tolerance=59)), Reason.TIMESTAMP_TOO_OLD)
    assert_reason(PADDLE.verify(stale, chk(PADDLE_SECRET, ignore_timestamp=True)), Reason.OK)
    ahead = PADDLE.sign(Message(JSON_BODY), "other", NOW + 60)
    verdict = PADDLE.verify(ahead, chk(PADDLE_SECRET))
    assert_reason(verdict, Reason.TIMESTAMP_IN_FUTURE)
    assert "the signature does not match" in verdict.detail


def test_paddle_several_h1_any_may_match() -> None:
    good = PADDLE.sign(Message(JSON_BODY), PADDLE_SECRET, NOW).header("Paddle-Signature")
    other = PADDLE.sign(Message(JSON_BODY), "old-secret", NOW).header("Paddle-Signature")
    assert good is not None and other is not None
    good_h1, other_h1 = good.split("h1=")[1], other.split("h1=")[1]
    for header in (
        f"ts={NOW};h1={good_h1};h1={other_h1}",
        f"ts={NOW};h1={other_h1};h1={good_h1}",
        f"h1={good_h1};ts={NOW}",
        f" ts={NOW} ; h1={good_h1} ",
    ):
        assert_reason(
            PADDLE.verify(paddle_message(JSON_BODY, header), chk(PADDLE_SECRET)), Reason.OK
        )
    header = f"ts={NOW};h1={other_h1}"
    assert_reason(
        PADDLE.verify(paddle_message(JSON_BODY, header), chk(PADDLE_SECRET)), Reason.BAD_SIGNATURE
    )


def test_paddle_unknown_keys_are_ignored() -> None:
    good = PADDLE.sign(Message(JSON_BODY), PADDLE_SECRET, NOW).header("Paddle-Signature")
    for extra in (";h2=abcdef", ";foo=bar", ";", ";junk"):
        message = paddle_message(JSON_BODY, f"{good}{extra}")
        assert_reason(PADDLE.verify(message, chk(PADDLE_SECRET)), Reason.OK)


def test_paddle_timestamp_is_signed() -> None:
    good = PADDLE.sign(Message(JSON_BODY), PADDLE_SECRET, NOW).header("Paddle-Signature")
    assert good is not None
    moved = good.replace(f"ts={NOW}", f"ts={NOW - 1}")
    assert_reason(
        PADDLE.verify(paddle_message(JSON_BODY, moved), chk(PADDLE_SECRET)), Reason.BAD_SIGNATURE
    )


@pytest.mark.parametrize(
    "header",
    [
        "h1=" + "0" * 64,
        f"ts={NOW}",
        "ts=yesterday;h1=" + "0" * 64,
        "ts=1735689600.5;h1=" + "0" * 64,
        "ts=;h1=" + "0" * 64,
        "t=1735689600,v1=" + "0" * 64,
        "garbage",
    ],
)
def test_paddle_malformed(header: str) -> None:
    message = paddle_message(JSON_BODY, header)
    assert_reason(PADDLE.verify(message, chk(PADDLE_SECRET)), Reason.MALFORMED_HEADER)
    assert_reason(PADDLE.verify(message, chk()), Reason.MALFORMED_HEADER)


@pytest.mark.parametrize(
    ("header", "found"),
    [
        (f"ts={NOW};h2={_PADDLE_RIGHT}", "only h2= entries; Paddle signs h1="),
        (f"ts={NOW};h1={_PADDLE_RIGHT.upper()}", "upper-case hex"),
        (
            f"ts={NOW};h1={base64.b64encode(bytes.fromhex(_PADDLE_RIGHT)).decode()}",
            "the signature is base64, Paddle sends hex",
        ),
    ],
)
def test_paddle_well_formed_header_that_does_not_match_is_bad_signature(
    header: str, found: str
) -> None:
    right = paddle_message(JSON_BODY, f"ts={NOW};h1={_PADDLE_RIGHT}")
    assert_reason(PADDLE.verify(right, chk(PADDLE_SECRET)), Reason.OK)
    verdict = PADDLE.verify(paddle_message(JSON_BODY, header), chk(PADDLE_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict


@pytest.mark.parametrize("body", UTF8_BODIES)
def test_paddle_oracle_accepts_what_whrelay_signs(
    body: bytes, paddle_clock: Callable[[float], None]
) -> None:
    signed = PADDLE.sign(Message(body), PADDLE_SECRET, NOW)
    request = PaddleRequest(body, dict(signed.headers))
    assert PaddleVerifier().verify(request, PaddleSecret(PADDLE_SECRET))
    assert PaddleVerifier().verify(request, [PaddleSecret("old"), PaddleSecret(PADDLE_SECRET)])
    assert not PaddleVerifier().verify(request, PaddleSecret("wrong"))


@pytest.mark.parametrize("body", UTF8_BODIES)
def test_whrelay_accepts_what_the_paddle_oracle_signs(body: bytes) -> None:
    h1 = PaddleSignature.calculate_hmac(PADDLE_SECRET, f"{NOW}:".encode() + body).hexdigest()
    message = mixed_case(paddle_message(body, f"ts={NOW};h1={h1}"))
    assert_reason(PADDLE.verify(message, chk(PADDLE_SECRET)), Reason.OK)
    assert_reason(PADDLE.verify(message, chk("wrong")), Reason.BAD_SIGNATURE)
