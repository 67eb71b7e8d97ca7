"""``whrelay/signatures/stripe.py``: known answers, the window, ``stripe`` as oracle."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import stripe
import stripe._webhook

from tests.helpers.schemes import registered
from tests.helpers.sigkit import assert_reason, checker, flip_byte, reserialized
from whrelay.signatures.base import Message, Reason, Secret
from whrelay.signatures.stripe import STRIPE

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

BINARY_BODY = b"\xff\xfe\x00\x80binary\xc3\x28\n\r\n"
"""Not UTF-8 (0xff, a lone continuation byte, an invalid two-byte sequence)."""

BODIES = [
    pytest.param(JSON_BODY, id="json"),
    pytest.param(b"", id="empty"),
    pytest.param("plain text with ünïcödé and a newline\r\n".encode(), id="utf8-text"),
]

# ===========================================================================================
# Stripe
# ===========================================================================================

ST_SECRET = "whsec_NCKLkRbN8sCjMLVeE0SJxpKuTd1cyhKH"

ST_OTHER = "whsec_7x2Kq8Rj4eRzMcyAh5Q9W3bNpLfTv6Ds"


def st_hex(secret: bytes, timestamp: int | str, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def st_message(header: str, body: bytes = JSON_BODY) -> Message:
    return Message(body, (("Stripe-Signature", header),))


def st_signed(body: bytes = JSON_BODY, secret: Secret = ST_SECRET, at: int = NOW) -> Message:
    return STRIPE.sign(Message(body), secret, at)


def stripe_accepts(message: Message, secret: str, tolerance: int = 300) -> bool:
    try:
        stripe.WebhookSignature.verify_header(
            message.body, message.header("stripe-signature"), secret, tolerance
        )
    except stripe.SignatureVerificationError:
        return False
    return True


_ST_RIGHT = st_hex(ST_SECRET.encode(), NOW, JSON_BODY)


@pytest.mark.parametrize("body", [*BODIES, pytest.param(BINARY_BODY, id="binary")])
def test_stripe_valid_and_matches_the_documented_algorithm(body: bytes) -> None:
    signed = st_signed(body)
    assert signed.header("stripe-signature") == (
        f"t={NOW},v1={st_hex(ST_SECRET.encode(), NOW, body)}"
    )
    verdict = STRIPE.verify(signed, chk(ST_SECRET))
    assert verdict.valid, verdict
    assert verdict.timestamp == NOW


@pytest.mark.parametrize("body", BODIES)
def test_stripe_known_answer_from_the_library(body: bytes) -> None:
    expected = stripe.WebhookSignature.generate_signature_header(
        body.decode(), ST_SECRET, timestamp=NOW
    )
    assert st_signed(body).header("Stripe-Signature") == expected


def test_stripe_whole_whsec_string_is_the_key() -> None:
    decoded = base64.b64decode(ST_SECRET.removeprefix("whsec_") + "==")
    as_if_base64 = st_message(f"t={NOW},v1={st_hex(decoded, NOW, JSON_BODY)}")
    assert_reason(STRIPE.verify(as_if_base64, chk(ST_SECRET)), Reason.BAD_SIGNATURE)
    assert not stripe_accepts(as_if_base64, ST_SECRET)
    without_prefix = st_message(
        f"t={NOW},v1={st_hex(ST_SECRET.removeprefix('whsec_').encode(), NOW, JSON_BODY)}"
    )
    assert_reason(STRIPE.verify(without_prefix, chk(ST_SECRET)), Reason.BAD_SIGNATURE)
    # bytes = a raw key used as-is: the decoded bytes verify the "base64" variant
    assert STRIPE.verify(as_if_base64, chk(decoded)).valid
    assert STRIPE.verify(st_signed(), chk(ST_SECRET.encode())).valid


@pytest.mark.parametrize("body", [JSON_BODY, BINARY_BODY])
def test_stripe_one_byte_changed_fails(body: bytes) -> None:
    signed = st_signed(body)
    for index in (0, len(body) // 2, len(body) - 1):
        verdict = STRIPE.verify(signed.with_body(flip_byte(body, index)), chk(ST_SECRET))
        assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_stripe_reserialized_json_and_wrong_secret_fail() -> None:
    signed = st_signed()
    assert_reason(
        STRIPE.verify(signed.with_body(reserialized(JSON_BODY)), chk(ST_SECRET)),
        Reason.BAD_SIGNATURE,
    )
    assert_reason(STRIPE.verify(signed, chk(ST_OTHER)), Reason.BAD_SIGNATURE)


def test_stripe_rotation_several_secrets() -> None:
    signed = st_signed()
    assert STRIPE.verify(signed, chk(ST_OTHER, ST_SECRET)).valid
    assert STRIPE.verify(signed, chk(ST_SECRET, ST_OTHER)).valid


def test_stripe_several_v1_entries(frozen_oracles: None) -> None:
    right = st_hex(ST_SECRET.encode(), NOW, JSON_BODY)
    old = st_hex(ST_OTHER.encode(), NOW, JSON_BODY)
    for header in (
        f"t={NOW},v1={old},v1={right}",
        f"t={NOW},v1={right},v1={old}",
        f"t={NOW},v1={'0' * 64},v1={old},v1={right}",
    ):
        message = st_message(header)
        assert STRIPE.verify(message, chk(ST_SECRET)).valid, header
        assert STRIPE.verify(message, chk(ST_OTHER)).valid, header
        assert stripe_accepts(message, ST_SECRET), header
        assert stripe_accepts(message, ST_OTHER), header
    third = st_message(f"t={NOW},v1={old},v1={right}")
    assert_reason(STRIPE.verify(third, chk("whsec_third")), Reason.BAD_SIGNATURE)
    assert not stripe_accepts(third, "whsec_third")


def test_stripe_v0_is_ignored(frozen_oracles: None) -> None:
    right = st_hex(ST_SECRET.encode(), NOW, JSON_BODY)
    # a v0 alongside a good v1: fine
    with_v0 = st_message(f"t={NOW},v1={right},v0={'f' * 64}")
    assert STRIPE.verify(with_v0, chk(ST_SECRET)).valid
    assert stripe_accepts(with_v0, ST_SECRET)
    # the right MAC under v0 only: no v1 at all (downgrade protection)
    only_v0 = st_message(f"t={NOW},v0={right}")
    verdict = STRIPE.verify(only_v0, chk(ST_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any("only v0= signatures" in hint for hint in verdict.hints), verdict
    assert not stripe_accepts(only_v0, ST_SECRET)
    # the right MAC under v0, a wrong one under v1: still bad
    wrong_v1 = st_message(f"t={NOW},v1={'0' * 64},v0={right}")
    assert_reason(STRIPE.verify(wrong_v1, chk(ST_SECRET)), Reason.BAD_SIGNATURE)
    assert not stripe_accepts(wrong_v1, ST_SECRET)


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (0, Reason.OK),
        (300, Reason.OK),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (86_400, Reason.TIMESTAMP_TOO_OLD),
        (-301, Reason.OK),
        (-86_400, Reason.OK),
        (-10 * 365 * 86_400, Reason.OK),
    ],
)
def test_stripe_window_is_300_s_into_the_past_only(
    skew: int, reason: Reason, frozen_oracles: None
) -> None:
    """``skew`` = now - signed timestamp: future timestamps pass (as in the library)."""
    signed = st_signed(at=NOW - skew)
    verdict = STRIPE.verify(signed, chk(ST_SECRET))
    assert_reason(verdict, reason)
    assert verdict.timestamp == NOW - skew
    assert stripe_accepts(signed, ST_SECRET) is (reason is Reason.OK)
    if reason is not Reason.OK:
        assert "the signature itself matches" in verdict.detail
        assert STRIPE.verify(signed, chk(ST_SECRET, ignore_timestamp=True)).valid
        assert STRIPE.verify(signed, chk(ST_SECRET, tolerance=skew)).valid
        assert stripe_accepts(signed, ST_SECRET, tolerance=skew)


def test_stripe_tolerance_override_and_wrong_mac_when_stale() -> None:
    signed = st_signed(at=NOW - 11)
    assert STRIPE.verify(signed, chk(ST_SECRET, tolerance=11)).valid
    assert_reason(STRIPE.verify(signed, chk(ST_SECRET, tolerance=10)), Reason.TIMESTAMP_TOO_OLD)
    assert STRIPE.verify(st_signed(at=NOW + 11), chk(ST_SECRET, tolerance=10)).valid
    assert STRIPE.verify(st_signed(at=NOW - 10_000), chk(ST_SECRET, tolerance=0)).valid
    # stale and wrongly signed: the MAC is checked first, as in the library
    stale = st_signed(at=NOW - 10_000)
    assert_reason(STRIPE.verify(stale, chk(ST_OTHER)), Reason.BAD_SIGNATURE)
    assert_reason(STRIPE.verify(stale, chk(ST_OTHER, ignore_timestamp=True)), Reason.BAD_SIGNATURE)


def test_stripe_missing_header() -> None:
    assert_reason(STRIPE.verify(Message(JSON_BODY), chk(ST_SECRET)), Reason.MISSING_HEADER)
    assert_reason(STRIPE.verify(st_message(""), chk(ST_SECRET)), Reason.MISSING_HEADER)
    other = Message(JSON_BODY, (("X-Hub-Signature-256", "sha256=00"),))
    assert_reason(STRIPE.verify(other, chk(ST_SECRET)), Reason.MISSING_HEADER)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"v1={'0' * 64}",
        f"t=abc,v1={'0' * 64}",
        f"t={NOW}.5,v1={'0' * 64}",
        f"t=-{NOW},v1={'0' * 64}",
        f"t={NOW}",
        f"t={NOW},x",
    ],
)
def test_stripe_malformed_header(header: str, frozen_oracles: None) -> None:
    verdict = STRIPE.verify(st_message(header), chk(ST_SECRET))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert not stripe_accepts(st_message(header), ST_SECRET)
    # malformed is reported before "no secret"
    assert_reason(STRIPE.verify(st_message(header), chk()), Reason.MALFORMED_HEADER)


@pytest.mark.parametrize(
    ("header", "found"),
    [
        (f"t={NOW},v0={_ST_RIGHT}", "only v0= signatures; Stripe checks v1= only"),
        (f"t={NOW},v2={'0' * 64},v0={'1' * 64}", "only v2=, v0= signatures"),
        (f"t={NOW},v1={_ST_RIGHT.upper()}", "upper-case hex; Stripe sends lower-case"),
        (
            f"t={NOW},v1={base64.b64encode(bytes.fromhex(_ST_RIGHT)).decode()}",
            "the signature is base64, Stripe sends hex",
        ),
        (f"t={NOW},v1={_ST_RIGHT[:-2]}", "62 hex digits; Stripe sends 64"),
        (f"t={NOW},v1=", "the signature is empty"),
    ],
)
def test_stripe_well_formed_header_that_does_not_match_is_bad_signature(
    header: str, found: str, frozen_oracles: None
) -> None:
    verdict = STRIPE.verify(st_message(header), chk(ST_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict
    assert not stripe_accepts(st_message(header), ST_SECRET)
    assert_reason(STRIPE.verify(st_message(header), chk()), Reason.NO_SECRET)


def test_stripe_no_secret() -> None:
    assert_reason(STRIPE.verify(st_signed(), chk()), Reason.NO_SECRET)


@pytest.mark.parametrize("name", ["stripe-signature", "STRIPE-SIGNATURE", "sTrIpE-sIgNaTuRe"])
def test_stripe_mixed_case_header_names(name: str, frozen_oracles: None) -> None:
    value = st_signed().header("Stripe-Signature")
    assert value is not None
    message = Message(JSON_BODY, ((name, value),))
    assert STRIPE.verify(message, chk(ST_SECRET)).valid
    assert stripe_accepts(message, ST_SECRET)


def test_stripe_uppercase_hex_is_rejected(frozen_oracles: None) -> None:
    upper = st_message(f"t={NOW},v1={st_hex(ST_SECRET.encode(), NOW, JSON_BODY).upper()}")
    assert_reason(STRIPE.verify(upper, chk(ST_SECRET)), Reason.BAD_SIGNATURE)
    assert not stripe_accepts(upper, ST_SECRET)


def test_stripe_binary_body_is_maced_as_bytes() -> None:
    signed = st_signed(BINARY_BODY)
    assert STRIPE.verify(signed, chk(ST_SECRET)).valid
    lossy = BINARY_BODY.decode("utf-8", "replace").encode()
    assert_reason(STRIPE.verify(signed.with_body(lossy), chk(ST_SECRET)), Reason.BAD_SIGNATURE)
    with pytest.raises(UnicodeDecodeError):
        stripe_accepts(signed, ST_SECRET)


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("secret", [ST_SECRET, ST_OTHER, "not-even-whsec"])
def test_stripe_oracle_accepts_what_whrelay_signs(
    body: bytes, secret: str, frozen_oracles: None
) -> None:
    signed = st_signed(body, secret)
    assert stripe_accepts(signed, secret)
    if body:
        assert not stripe_accepts(signed.with_body(flip_byte(body)), secret)


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("skew", [0, 300, 301, -100_000])
def test_whrelay_accepts_what_stripe_signs(body: bytes, skew: int, frozen_oracles: None) -> None:
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), ST_SECRET, timestamp=NOW - skew
    )
    message = st_message(header, body)
    assert STRIPE.verify(message, chk(ST_SECRET)).valid is (skew <= 300)
    assert stripe_accepts(message, ST_SECRET) is (skew <= 300)
    assert STRIPE.verify(message, chk(ST_SECRET, ignore_timestamp=True)).valid
    assert_reason(STRIPE.verify(message, chk(ST_OTHER)), Reason.BAD_SIGNATURE)


def test_stripe_registry_and_attributes() -> None:
    assert registered("stripe") is STRIPE
    assert STRIPE.signature_headers[0] == "Stripe-Signature"
    assert not STRIPE.needs_url
