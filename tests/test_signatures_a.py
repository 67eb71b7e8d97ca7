"""Standard Webhooks (v1 and v1a), Svix, Stripe and GitHub signatures.

Known answers come from /work/shared/reference/signatures.md; the official Python libraries
(``standardwebhooks``, ``svix``, ``stripe``) are oracles in both directions: whrelay accepts what
they sign and they accept what whrelay signs. Stripe's library decodes the body as UTF-8, so
its oracle direction uses UTF-8 bodies and binary bodies are checked against whrelay (and a
hand-made HMAC over the raw bytes) only; standardwebhooks (1.3 on) takes the raw bytes, so it
is an oracle for binary bodies too. The libraries read the system clock; a fixture freezes it
at ``NOW`` so that window boundaries can be compared exactly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Self

import pytest
import standardwebhooks
import standardwebhooks.webhooks
import stripe
import stripe._webhook
import svix.webhooks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.helpers.sigkit import assert_reason, checker, flip_byte, reserialized
from whrelay.signatures import get_scheme
from whrelay.signatures.base import MalformedError, Message, Reason, Secret
from whrelay.signatures.github import GITHUB
from whrelay.signatures.standard_webhooks import STANDARD_WEBHOOKS, SVIX, StandardWebhooks
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


def registered(name: str) -> object:
    """``get_scheme(name)`` as a plain object (the frozen dataclasses are compared by identity;
    mypy does not see them as ``Scheme``s because the Protocol declares settable attributes)."""
    found: object = get_scheme(name)
    return found


# --- frozen oracle clocks ------------------------------------------------------------------


class _FrozenDatetime(datetime):
    """``datetime`` whose ``now()`` is ``NOW`` (standardwebhooks and svix read it)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Self:
        return cls.fromtimestamp(NOW, tz)


@pytest.fixture
def frozen_oracles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", _FrozenDatetime)
    monkeypatch.setattr(stripe._webhook, "time", types.SimpleNamespace(time=lambda: float(NOW)))


# ===========================================================================================
# Standard Webhooks and Svix (symmetric v1)
# ===========================================================================================

SW_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
SW_KEY = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
SW_OTHER_KEY = hashlib.sha256(b"the previous secret").digest()
SW_OTHER = "whsec_" + base64.b64encode(SW_OTHER_KEY).decode()
MSG_ID = "msg_2LJpD3ZLx0Ll5BNaDm3nRMkE"


@dataclass(frozen=True)
class SWCase:
    scheme: StandardWebhooks
    prefix: str
    """The header set under test (Svix is also tested with its unbranded fallback)."""
    oracle_verify: Callable[[str, bytes, dict[str, str]], None]
    oracle_sign: Callable[[str, str, datetime, str], str]


def _std_verify(secret: str, body: bytes, headers: dict[str, str]) -> None:
    standardwebhooks.Webhook(secret).verify(body, headers, json_parse=False)


def _std_sign(secret: str, msg_id: str, when: datetime, body: str) -> str:
    return standardwebhooks.Webhook(secret).sign(msg_id, when, body)


def _svix_verify(secret: str, body: bytes, headers: dict[str, str]) -> None:
    svix.webhooks.Webhook(secret).verify(body, headers)


def _svix_sign(secret: str, msg_id: str, when: datetime, body: str) -> str:
    return svix.webhooks.Webhook(secret).sign(msg_id, when, body)


STD_CASE = SWCase(STANDARD_WEBHOOKS, "webhook", _std_verify, _std_sign)
SVIX_CASE = SWCase(SVIX, "svix", _svix_verify, _svix_sign)
SVIX_UNBRANDED_CASE = SWCase(SVIX, "webhook", _svix_verify, _svix_sign)
SW_CASES = [
    pytest.param(STD_CASE, id="std"),
    pytest.param(SVIX_CASE, id="svix"),
    pytest.param(SVIX_UNBRANDED_CASE, id="svix-unbranded"),
]


def sw_message(body: bytes, prefix: str, msg_id: str = MSG_ID) -> Message:
    return Message(body, ((f"{prefix}-id", msg_id),))


def sw_hmac(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The documented v1 signature, computed here over raw bytes."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def sw_signed(
    case: SWCase, body: bytes, secret: Secret = SW_SECRET, at: int = NOW, msg_id: str = MSG_ID
) -> Message:
    return case.scheme.sign(sw_message(body, case.prefix, msg_id), secret, at)


def oracle_accepts(case: SWCase, secret: str, message: Message) -> bool:
    try:
        case.oracle_verify(secret, message.body, dict(message.headers))
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def test_sw_known_answer() -> None:
    body = b'{"email":"test@example.com","username":"test_user"}'
    message = Message(body, (("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),))
    signed = STANDARD_WEBHOOKS.sign(message, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", 1649367553)
    assert signed.header("webhook-timestamp") == "1649367553"
    assert signed.header("webhook-signature") == "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    verdict = STANDARD_WEBHOOKS.verify(signed, chk(SW_SECRET, now=1649367553))
    assert verdict.valid
    assert verdict.timestamp == 1649367553


def test_svix_known_answer_on_both_header_sets() -> None:
    body = b'{"email":"test@example.com","username":"test_user"}'
    expected = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    for prefix in ("svix", "webhook"):
        message = Message(
            body,
            (
                (f"{prefix}-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
                (f"{prefix}-timestamp", "1649367553"),
                (f"{prefix}-signature", expected),
            ),
        )
        assert SVIX.verify(message, chk(SW_SECRET, now=1649367553)).valid
        assert SVIX.sign(message, SW_SECRET, 1649367553).header(f"{prefix}-signature") == expected


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize("body", [*BODIES, pytest.param(BINARY_BODY, id="binary")])
def test_sw_valid_and_matches_the_documented_algorithm(case: SWCase, body: bytes) -> None:
    signed = sw_signed(case, body)
    assert signed.header(f"{case.prefix}-id") == MSG_ID
    assert signed.header(f"{case.prefix}-timestamp") == str(NOW)
    assert signed.header(f"{case.prefix}-signature") == sw_hmac(SW_KEY, MSG_ID, NOW, body)
    verdict = case.scheme.verify(signed, chk(SW_SECRET))
    assert verdict.valid, verdict
    assert verdict.timestamp == NOW


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_sign_invents_an_id_when_there_is_none(case: SWCase) -> None:
    signed = case.scheme.sign(Message(JSON_BODY), SW_SECRET, NOW)
    prefix = case.scheme.prefix
    msg_id = signed.header(f"{prefix}-id")
    assert msg_id
    assert signed.header(f"{prefix}-signature") == sw_hmac(SW_KEY, msg_id, NOW, JSON_BODY)
    assert case.scheme.verify(signed, chk(SW_SECRET)).valid


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize("body", [JSON_BODY, BINARY_BODY])
def test_sw_one_byte_changed_fails(case: SWCase, body: bytes) -> None:
    signed = sw_signed(case, body)
    for index in (0, len(body) // 2, len(body) - 1):
        verdict = case.scheme.verify(signed.with_body(flip_byte(body, index)), chk(SW_SECRET))
        assert_reason(verdict, Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_reserialized_json_fails(case: SWCase) -> None:
    signed = sw_signed(case, JSON_BODY)
    verdict = case.scheme.verify(signed.with_body(reserialized(JSON_BODY)), chk(SW_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_wrong_secret_fails(case: SWCase) -> None:
    signed = sw_signed(case, JSON_BODY)
    assert_reason(case.scheme.verify(signed, chk(SW_OTHER)), Reason.BAD_SIGNATURE)
    # Stripe's convention (the whole whsec_ string as UTF-8 is the key) is not this scheme's.
    stripe_style = sw_signed(case, JSON_BODY, secret=SW_SECRET.encode())
    assert_reason(case.scheme.verify(stripe_style, chk(SW_SECRET)), Reason.BAD_SIGNATURE)
    assert case.scheme.verify(stripe_style, chk(SW_SECRET.encode())).valid  # bytes: raw key


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_secret_with_and_without_prefix(case: SWCase) -> None:
    bare = SW_SECRET.removeprefix("whsec_")
    unpadded = SW_OTHER.removeprefix("whsec_").rstrip("=")
    assert unpadded != SW_OTHER.removeprefix("whsec_")
    cases: list[tuple[Secret, Secret, bytes]] = [
        (SW_SECRET, bare, SW_KEY),
        (bare, SW_SECRET, SW_KEY),
        (bare, bare, SW_KEY),
        (SW_SECRET, SW_KEY, SW_KEY),  # bytes: the raw HMAC key
        (SW_KEY, SW_SECRET, SW_KEY),
        (SW_OTHER, unpadded, SW_OTHER_KEY),  # the Python library pads an unpadded secret too
        (unpadded, "whsec_" + unpadded, SW_OTHER_KEY),
    ]
    for sign_with, verify_with, key in cases:
        signed = sw_signed(case, JSON_BODY, secret=sign_with)
        assert signed.header(f"{case.prefix}-signature") == sw_hmac(key, MSG_ID, NOW, JSON_BODY)
        assert case.scheme.verify(signed, chk(verify_with)).valid, (sign_with, verify_with)


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_rotation_several_secrets(case: SWCase) -> None:
    signed = sw_signed(case, JSON_BODY)
    assert case.scheme.verify(signed, chk(SW_OTHER, SW_SECRET)).valid
    assert case.scheme.verify(signed, chk(SW_SECRET, SW_OTHER)).valid
    assert_reason(case.scheme.verify(signed, chk(SW_OTHER, SW_OTHER)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_several_space_separated_signatures(case: SWCase, frozen_oracles: None) -> None:
    header = f"{case.prefix}-signature"
    right = sw_hmac(SW_KEY, MSG_ID, NOW, JSON_BODY)
    old = sw_hmac(SW_OTHER_KEY, MSG_ID, NOW, JSON_BODY)
    base = sw_signed(case, JSON_BODY)
    for value in (f"{old} {right}", f"{right} {old}", f"v2,abcd {old} {right}"):
        message = base.with_header(header, value)
        assert case.scheme.verify(message, chk(SW_SECRET)).valid, value
        assert case.scheme.verify(message, chk(SW_OTHER)).valid, value
        assert oracle_accepts(case, SW_SECRET, message), value
        assert oracle_accepts(case, SW_OTHER, message), value
    third = "whsec_" + base64.b64encode(b"k" * 32).decode()
    message = base.with_header(header, f"{old} {right}")
    assert_reason(case.scheme.verify(message, chk(third)), Reason.BAD_SIGNATURE)
    assert not oracle_accepts(case, third, message)


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize("msg_id", ["msg.with.dots", "a.1", ".", "msg_x."])
def test_sw_dot_inside_the_id(case: SWCase, msg_id: str, frozen_oracles: None) -> None:
    signed = sw_signed(case, JSON_BODY, msg_id=msg_id)
    assert signed.header(f"{case.prefix}-signature") == sw_hmac(SW_KEY, msg_id, NOW, JSON_BODY)
    assert case.scheme.verify(signed, chk(SW_SECRET)).valid
    assert oracle_accepts(case, SW_SECRET, signed)
    # The id is covered: another id with the same signature fails.
    moved = signed.with_header(f"{case.prefix}-id", msg_id + "x")
    assert_reason(case.scheme.verify(moved, chk(SW_SECRET)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (0, Reason.OK),
        (299, Reason.OK),
        (300, Reason.OK),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (86_400, Reason.TIMESTAMP_TOO_OLD),
        (-299, Reason.OK),
        (-300, Reason.OK),
        (-301, Reason.TIMESTAMP_IN_FUTURE),
        (-86_400, Reason.TIMESTAMP_IN_FUTURE),
    ],
)
def test_sw_window_is_300_s_both_ways(
    case: SWCase, skew: int, reason: Reason, frozen_oracles: None
) -> None:
    """``skew`` = now - signed timestamp. 300 passes, 301 fails, in either direction; the
    official library (frozen at ``NOW``) agrees on every boundary."""
    signed = sw_signed(case, JSON_BODY, at=NOW - skew)
    verdict = case.scheme.verify(signed, chk(SW_SECRET))
    assert_reason(verdict, reason)
    assert verdict.timestamp == NOW - skew
    assert oracle_accepts(case, SW_SECRET, signed) is (reason is Reason.OK)
    if reason is not Reason.OK:
        assert "the signature itself matches" in verdict.detail
        wrong = case.scheme.verify(signed, chk(SW_OTHER))
        assert_reason(wrong, reason)
        assert "the signature does not match" in wrong.detail
        # ignore_timestamp and a wider tolerance both let it through
        assert case.scheme.verify(signed, chk(SW_SECRET, ignore_timestamp=True)).valid
        assert case.scheme.verify(signed, chk(SW_SECRET, tolerance=abs(skew))).valid
        assert_reason(
            case.scheme.verify(signed, chk(SW_OTHER, ignore_timestamp=True)),
            Reason.BAD_SIGNATURE,
        )


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_tolerance_override_narrows_the_window(case: SWCase) -> None:
    signed = sw_signed(case, JSON_BODY, at=NOW - 11)
    assert case.scheme.verify(signed, chk(SW_SECRET, tolerance=11)).valid
    assert_reason(
        case.scheme.verify(signed, chk(SW_SECRET, tolerance=10)), Reason.TIMESTAMP_TOO_OLD
    )
    # a tolerance of 0 means no window at all
    assert case.scheme.verify(signed, chk(SW_SECRET, tolerance=0)).valid
    ahead = sw_signed(case, JSON_BODY, at=NOW + 11)
    assert_reason(
        case.scheme.verify(ahead, chk(SW_SECRET, tolerance=10)), Reason.TIMESTAMP_IN_FUTURE
    )


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize("part", ["id", "timestamp", "signature"])
def test_sw_missing_header(case: SWCase, part: str) -> None:
    signed = sw_signed(case, JSON_BODY)
    for message in (
        signed.without_header(f"{case.prefix}-{part}"),
        signed.with_header(f"{case.prefix}-{part}", ""),
    ):
        verdict = case.scheme.verify(message, chk(SW_SECRET))
        assert_reason(verdict, Reason.MISSING_HEADER)
        assert part in verdict.detail
    assert_reason(case.scheme.verify(Message(JSON_BODY), chk(SW_SECRET)), Reason.MISSING_HEADER)


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize(
    "timestamp", ["abc", f"{NOW}.5", f"{NOW}x", f"-{NOW}", "1e9", f"0x{NOW:x}", "١٢٣"]
)
def test_sw_malformed_timestamp(case: SWCase, timestamp: str) -> None:
    message = sw_signed(case, JSON_BODY).with_header(f"{case.prefix}-timestamp", timestamp)
    assert_reason(case.scheme.verify(message, chk(SW_SECRET)), Reason.MALFORMED_HEADER)


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize("value", ["garbage", "v1", "v1,abcd garbage", "   "])
def test_sw_malformed_signature(case: SWCase, value: str) -> None:
    """Only a header that cannot be read: an entry without its comma, or no entry at all."""
    message = sw_signed(case, JSON_BODY).with_header(f"{case.prefix}-signature", value)
    assert_reason(case.scheme.verify(message, chk(SW_SECRET)), Reason.MALFORMED_HEADER)


_SW_MAC = hmac.new(SW_KEY, b"another message", hashlib.sha256).digest()


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("v2,abcd", "only v2 entries, which {title} says to ignore"),
        ("v2,abcd v3,efgh", "only v2, v3 entries, which {title} says to ignore"),
        ("v1a," + base64.b64encode(b"e" * 64).decode(), "only v1a (ed25519) signatures"),
        ("v1," + _SW_MAC.hex(), "the signature is hex, {title} sends base64"),
        ("v1," + base64.b64encode(_SW_MAC).decode().rstrip("="), "lacks its = padding"),
        ("v1," + base64.b64encode(_SW_MAC[:31]).decode(), "decodes to 31 bytes; {title} sends 32"),
        ("v1," + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), "URL-safe base64"),
        ("v1,!!!!", "not base64"),
        ("v1,", "the signature is empty"),
    ],
)
def test_sw_well_formed_header_that_does_not_match_is_bad_signature(
    case: SWCase, value: str, found: str, frozen_oracles: None
) -> None:
    """Entries of a version the specification says to ignore, and signatures in the wrong
    encoding, are a signature that does not match, with a hint naming what was found."""
    message = sw_signed(case, JSON_BODY).with_header(f"{case.prefix}-signature", value)
    verdict = case.scheme.verify(message, chk(SW_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    wanted = found.format(title=case.scheme.title)
    assert any(wanted in hint for hint in verdict.hints), verdict
    assert not oracle_accepts(case, SW_SECRET, message)


def test_sw_v1_entries_checked_with_a_public_key_only_say_so() -> None:
    verdict = STANDARD_WEBHOOKS.verify(sw_signed(STD_CASE, JSON_BODY), chk(WHPK))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any("only v1 (HMAC) signatures" in hint for hint in verdict.hints), verdict
    # a plain mismatch names nothing it did not find
    plain = STANDARD_WEBHOOKS.verify(sw_signed(STD_CASE, JSON_BODY), chk(SW_OTHER))
    assert_reason(plain, Reason.BAD_SIGNATURE)
    assert plain.hints == ()


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_malformed_is_reported_before_no_secret(case: SWCase) -> None:
    """The brief's order: required headers, then parsing (malformed), then no secret."""
    signed = sw_signed(case, JSON_BODY)
    assert_reason(case.scheme.verify(signed, chk()), Reason.NO_SECRET)
    bad_stamp = signed.with_header(f"{case.prefix}-timestamp", "soon")
    assert_reason(case.scheme.verify(bad_stamp, chk()), Reason.MALFORMED_HEADER)
    bad_sig = signed.with_header(f"{case.prefix}-signature", "garbage")
    assert_reason(case.scheme.verify(bad_sig, chk()), Reason.MALFORMED_HEADER)


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_secret_that_is_not_base64_is_not_accepted(case: SWCase) -> None:
    signed = sw_signed(case, JSON_BODY)
    verdict = case.scheme.verify(signed, chk("whsec_not*base64!"))
    assert_reason(verdict, Reason.NO_SECRET)
    assert "cannot be a" in verdict.detail
    assert any("whsec_ followed by base64" in hint for hint in verdict.hints), verdict
    assert "not*base64" not in repr(verdict)


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_mixed_case_header_names(case: SWCase, frozen_oracles: None) -> None:
    signed = sw_signed(case, JSON_BODY)
    renamed = Message(
        signed.body,
        tuple(
            (name.title() if i % 2 else name.upper(), value)
            for i, (name, value) in enumerate(signed.headers)
        ),
    )
    assert renamed.headers != signed.headers
    assert case.scheme.verify(renamed, chk(SW_SECRET)).valid
    assert oracle_accepts(case, SW_SECRET, renamed)
    # signing a message whose id header is spelled in mixed case keeps that id
    resigned = case.scheme.sign(
        Message(JSON_BODY, ((f"{case.prefix.upper()}-ID", "msg_mixed"),)), SW_SECRET, NOW
    )
    assert resigned.header(f"{case.prefix}-id") == "msg_mixed"
    assert case.scheme.verify(resigned, chk(SW_SECRET)).valid


@pytest.mark.parametrize("case", SW_CASES)
def test_sw_binary_body_is_maced_as_bytes(case: SWCase, frozen_oracles: None) -> None:
    """A body that is not UTF-8 is MACed as the bytes received. The official library agrees
    in both directions (standardwebhooks 1.3 signs and verifies bytes byte for byte; svix
    delegates to it), and neither accepts the body decoded and re-encoded."""
    signed = sw_signed(case, BINARY_BODY)
    expected = sw_hmac(SW_KEY, MSG_ID, NOW, BINARY_BODY)
    assert signed.header(f"{case.prefix}-signature") == expected
    assert case.scheme.verify(signed, chk(SW_SECRET)).valid
    assert oracle_accepts(case, SW_SECRET, signed)
    official = standardwebhooks.Webhook(SW_SECRET)
    assert official.sign(MSG_ID, datetime.fromtimestamp(NOW, tz=UTC), BINARY_BODY) == expected
    lossy = signed.with_body(BINARY_BODY.decode("utf-8", "replace").encode())
    assert_reason(case.scheme.verify(lossy, chk(SW_SECRET)), Reason.BAD_SIGNATURE)
    assert not oracle_accepts(case, SW_SECRET, lossy)


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("secret", [SW_SECRET, SW_OTHER, SW_SECRET.removeprefix("whsec_")])
def test_sw_oracle_accepts_what_whrelay_signs(
    case: SWCase, body: bytes, secret: str, frozen_oracles: None
) -> None:
    signed = sw_signed(case, body, secret=secret)
    assert oracle_accepts(case, secret, signed)
    if body:
        assert not oracle_accepts(case, secret, signed.with_body(flip_byte(body)))


@pytest.mark.parametrize("case", SW_CASES)
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("skew", [0, 300, -300, 301, -301])
def test_whrelay_accepts_what_the_sw_oracle_signs(
    case: SWCase, body: bytes, skew: int, frozen_oracles: None
) -> None:
    when = datetime.fromtimestamp(NOW - skew, tz=UTC)
    value = case.oracle_sign(SW_SECRET, MSG_ID, when, body.decode())
    message = Message(
        body,
        (
            (f"{case.prefix}-id", MSG_ID),
            (f"{case.prefix}-timestamp", str(NOW - skew)),
            (f"{case.prefix}-signature", value),
        ),
    )
    assert oracle_accepts(case, SW_SECRET, message) is (abs(skew) <= 300)
    assert case.scheme.verify(message, chk(SW_SECRET)).valid is (abs(skew) <= 300)
    assert case.scheme.verify(message, chk(SW_SECRET, ignore_timestamp=True)).valid


def test_standard_webhooks_ignores_svix_headers() -> None:
    signed = sw_signed(SVIX_CASE, JSON_BODY)
    assert signed.header("svix-signature")
    assert_reason(STANDARD_WEBHOOKS.verify(signed, chk(SW_SECRET)), Reason.MISSING_HEADER)


def test_svix_prefers_its_own_headers_over_the_unbranded_ones(frozen_oracles: None) -> None:
    good = SVIX.sign(sw_message(JSON_BODY, "svix"), SW_SECRET, NOW)
    junk = (
        ("webhook-id", "msg_other"),
        ("webhook-timestamp", "1"),
        ("webhook-signature", "v1,AAAA"),
    )
    both = Message(good.body, good.headers + junk)
    assert SVIX.verify(both, chk(SW_SECRET)).valid
    assert oracle_accepts(SVIX_CASE, SW_SECRET, both)
    # and a bad svix-* set is not rescued by a good webhook-* one (the library agrees)
    unbranded = SVIX.sign(sw_message(JSON_BODY, "webhook"), SW_SECRET, NOW)
    bad_svix = (
        ("svix-id", "msg_other"),
        ("svix-timestamp", str(NOW)),
        ("svix-signature", "v1," + "A" * 43 + "="),
    )
    mixed = Message(unbranded.body, unbranded.headers + bad_svix)
    assert_reason(SVIX.verify(mixed, chk(SW_SECRET)), Reason.BAD_SIGNATURE)
    assert not oracle_accepts(SVIX_CASE, SW_SECRET, mixed)


def test_sw_registry_names() -> None:
    assert registered("standard-webhooks") is STANDARD_WEBHOOKS
    assert registered("standardwebhooks") is STANDARD_WEBHOOKS
    assert registered("standard_webhooks") is STANDARD_WEBHOOKS
    assert registered("svix") is SVIX
    assert STANDARD_WEBHOOKS.signature_headers[0] == "webhook-signature"
    assert SVIX.signature_headers[0] == "svix-signature"
    assert not STANDARD_WEBHOOKS.needs_url
    assert not SVIX.needs_url


# ===========================================================================================
# Standard Webhooks asymmetric v1a (ed25519)
# ===========================================================================================

WHSK = (
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
)
WHPK = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
V1A_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
V1A_TS = 1614265330
V1A_BODY = b'{"test": 2432232314}'
V1A_SIG = (
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)


def fresh_keypair() -> tuple[str, str]:
    """(whsk_…, whpk_…) of a new ed25519 key."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    return (
        "whsk_" + base64.b64encode(seed + public).decode(),
        "whpk_" + base64.b64encode(public).decode(),
    )


def v1a_message(body: bytes = V1A_BODY, at: int = V1A_TS, key: str = WHSK) -> Message:
    return STANDARD_WEBHOOKS.sign(Message(body, (("webhook-id", V1A_ID),)), key, at)


def test_v1a_known_answer() -> None:
    signed = v1a_message()
    assert signed.header("webhook-signature") == V1A_SIG
    verdict = STANDARD_WEBHOOKS.verify(signed, chk(WHPK, now=V1A_TS))
    assert verdict.valid, verdict
    assert verdict.timestamp == V1A_TS
    # the spec's example header, built by hand, verifies too
    given = Message(
        V1A_BODY,
        (
            ("webhook-id", V1A_ID),
            ("webhook-timestamp", str(V1A_TS)),
            ("webhook-signature", V1A_SIG),
        ),
    )
    assert STANDARD_WEBHOOKS.verify(given, chk(WHPK, now=V1A_TS)).valid
    assert SVIX.verify(
        Message(V1A_BODY, tuple((k.replace("webhook", "svix"), v) for k, v in given.headers)),
        chk(WHPK, now=V1A_TS),
    ).valid


@pytest.mark.parametrize("body", [*BODIES, pytest.param(BINARY_BODY, id="binary")])
def test_v1a_fresh_key_round_trip(body: bytes) -> None:
    private, public = fresh_keypair()
    signed = v1a_message(body, NOW, private)
    value = signed.header("webhook-signature")
    assert value is not None
    assert value.startswith("v1a,")
    assert STANDARD_WEBHOOKS.verify(signed, chk(public)).valid
    if body:
        changed = signed.with_body(flip_byte(body, len(body) - 1))
        assert_reason(STANDARD_WEBHOOKS.verify(changed, chk(public)), Reason.BAD_SIGNATURE)


def test_v1a_wrong_key_and_wrong_kind_of_secret() -> None:
    signed = v1a_message()
    _, other_public = fresh_keypair()
    assert_reason(
        STANDARD_WEBHOOKS.verify(signed, chk(other_public, now=V1A_TS)), Reason.BAD_SIGNATURE
    )
    # an HMAC secret does not verify an ed25519 signature, and vice versa
    assert_reason(
        STANDARD_WEBHOOKS.verify(signed, chk(SW_SECRET, now=V1A_TS)), Reason.BAD_SIGNATURE
    )
    hmac_signed = sw_signed(STD_CASE, JSON_BODY)
    assert_reason(STANDARD_WEBHOOKS.verify(hmac_signed, chk(WHPK)), Reason.BAD_SIGNATURE)


def test_v1a_reserialized_and_one_byte_changed() -> None:
    signed = v1a_message()
    assert_reason(
        STANDARD_WEBHOOKS.verify(signed.with_body(reserialized(V1A_BODY)), chk(WHPK, now=V1A_TS)),
        Reason.BAD_SIGNATURE,
    )
    assert_reason(
        STANDARD_WEBHOOKS.verify(signed.with_body(flip_byte(V1A_BODY, 3)), chk(WHPK, now=V1A_TS)),
        Reason.BAD_SIGNATURE,
    )


def test_v1a_mixed_with_v1(frozen_oracles: None) -> None:
    """A header carrying both kinds: each key finds its own entry; the library skips v1a."""
    ed = v1a_message(JSON_BODY, NOW).header("webhook-signature")
    mac = sw_hmac(SW_KEY, V1A_ID, NOW, JSON_BODY)
    base = v1a_message(JSON_BODY, NOW)
    for value in (f"{ed} {mac}", f"{mac} {ed}"):
        message = base.with_header("webhook-signature", value)
        assert STANDARD_WEBHOOKS.verify(message, chk(WHPK)).valid
        assert STANDARD_WEBHOOKS.verify(message, chk(SW_SECRET)).valid
        assert STANDARD_WEBHOOKS.verify(message, chk(SW_OTHER, WHPK)).valid
        assert STANDARD_WEBHOOKS.verify(message, chk(WHPK, SW_OTHER)).valid
        assert oracle_accepts(STD_CASE, SW_SECRET, message)
    # only the ed25519 entry is right: the HMAC secret fails, the public key passes
    wrong_mac = sw_hmac(b"x" * 32, V1A_ID, NOW, JSON_BODY)
    message = base.with_header("webhook-signature", f"{wrong_mac} {ed}")
    assert STANDARD_WEBHOOKS.verify(message, chk(WHPK)).valid
    assert_reason(STANDARD_WEBHOOKS.verify(message, chk(SW_SECRET)), Reason.BAD_SIGNATURE)
    # a v1a signature placed under the v1 label is not accepted
    assert ed is not None
    relabelled = base.with_header("webhook-signature", ed.replace("v1a,", "v1,"))
    assert_reason(STANDARD_WEBHOOKS.verify(relabelled, chk(WHPK)), Reason.BAD_SIGNATURE)


def test_v1a_rotation_several_entries_and_keys() -> None:
    private_a, public_a = fresh_keypair()
    private_b, public_b = fresh_keypair()
    sig_a = v1a_message(JSON_BODY, NOW, private_a).header("webhook-signature")
    sig_b = v1a_message(JSON_BODY, NOW, private_b).header("webhook-signature")
    both = v1a_message(JSON_BODY, NOW, private_a).with_header(
        "webhook-signature", f"{sig_a} {sig_b}"
    )
    assert STANDARD_WEBHOOKS.verify(both, chk(public_a)).valid
    assert STANDARD_WEBHOOKS.verify(both, chk(public_b)).valid
    only_a = v1a_message(JSON_BODY, NOW, private_a)
    assert STANDARD_WEBHOOKS.verify(only_a, chk(public_b, public_a)).valid
    assert_reason(STANDARD_WEBHOOKS.verify(only_a, chk(public_b)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (300, Reason.OK),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (-300, Reason.OK),
        (-301, Reason.TIMESTAMP_IN_FUTURE),
    ],
)
def test_v1a_window(skew: int, reason: Reason) -> None:
    signed = v1a_message(JSON_BODY, NOW - skew)
    assert_reason(STANDARD_WEBHOOKS.verify(signed, chk(WHPK)), reason)
    assert STANDARD_WEBHOOKS.verify(signed, chk(WHPK, ignore_timestamp=True)).valid


def test_v1a_unpadded_keys_work_like_unpadded_whsec() -> None:
    """``hmac_key`` accepts an unpadded whsec_; the whsk_/whpk_ keys should too."""
    signed = STANDARD_WEBHOOKS.sign(
        Message(V1A_BODY, (("webhook-id", V1A_ID),)), WHSK.rstrip("="), V1A_TS
    )
    assert signed.header("webhook-signature") == V1A_SIG
    assert STANDARD_WEBHOOKS.verify(signed, chk(WHPK.rstrip("="), now=V1A_TS)).valid


@pytest.mark.parametrize(
    "key", ["whpk_abc", "whpk_", "whpk_!!!!", "whpk_" + "A" * 40, "whsk_" + "A" * 44]
)
def test_v1a_broken_public_key_is_a_verdict_not_an_exception(key: str) -> None:
    verdict = STANDARD_WEBHOOKS.verify(v1a_message(), chk(key, now=V1A_TS))
    assert_reason(verdict, Reason.NO_SECRET)
    assert any(key[:5] in hint for hint in verdict.hints), verdict
    # and it hides no key that works
    assert STANDARD_WEBHOOKS.verify(v1a_message(), chk(key, WHPK, now=V1A_TS)).valid


def test_v1a_signing_key_verifies_through_its_public_half() -> None:
    assert STANDARD_WEBHOOKS.verify(v1a_message(), chk(WHSK, now=V1A_TS)).valid
    private, _ = fresh_keypair()
    assert_reason(
        STANDARD_WEBHOOKS.verify(v1a_message(), chk(private, now=V1A_TS)), Reason.BAD_SIGNATURE
    )


def test_v1a_public_key_cannot_sign() -> None:
    with pytest.raises(MalformedError, match="whsk_"):
        STANDARD_WEBHOOKS.sign(Message(V1A_BODY), WHPK, V1A_TS)


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


_ST_RIGHT = st_hex(ST_SECRET.encode(), NOW, JSON_BODY)


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


# ===========================================================================================
# GitHub
# ===========================================================================================

GH_SECRET = "It's a Secret to Everybody"
GH_OTHER = "another secret"


def gh_hex(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()


def gh_signed(body: bytes = JSON_BODY, secret: Secret = GH_SECRET) -> Message:
    return GITHUB.sign(Message(body, (("X-GitHub-Event", "push"),)), secret, NOW)


def sha1_only(message: Message) -> Message:
    return message.without_header("X-Hub-Signature-256")


def test_github_known_answer_from_the_docs() -> None:
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    signed = gh_signed(body)
    assert signed.header("X-Hub-Signature-256") == expected
    assert signed.header("X-Hub-Signature") == "sha1=" + gh_hex(GH_SECRET, body, "sha1")
    message = Message(body, (("X-Hub-Signature-256", expected),))
    verdict = GITHUB.verify(message, chk(GH_SECRET))
    assert verdict.valid, verdict
    assert verdict.timestamp is None


@pytest.mark.parametrize("body", [*BODIES, pytest.param(BINARY_BODY, id="binary")])
def test_github_valid_sha256_and_legacy_sha1(body: bytes) -> None:
    signed = gh_signed(body)
    assert signed.header("x-hub-signature-256") == "sha256=" + gh_hex(GH_SECRET, body)
    assert GITHUB.verify(signed, chk(GH_SECRET)).valid
    legacy = sha1_only(signed)
    verdict = GITHUB.verify(legacy, chk(GH_SECRET))
    assert verdict.valid, verdict
    assert "sha-1" in verdict.detail.lower()
    assert_reason(GITHUB.verify(legacy, chk(GH_OTHER)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("body", [JSON_BODY, BINARY_BODY])
def test_github_one_byte_changed_fails(body: bytes, legacy: bool) -> None:
    signed = gh_signed(body)
    if legacy:
        signed = sha1_only(signed)
    for index in (0, len(body) // 2, len(body) - 1):
        verdict = GITHUB.verify(signed.with_body(flip_byte(body, index)), chk(GH_SECRET))
        assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_github_reserialized_json_and_wrong_secret_fail() -> None:
    signed = gh_signed()
    assert_reason(
        GITHUB.verify(signed.with_body(reserialized(JSON_BODY)), chk(GH_SECRET)),
        Reason.BAD_SIGNATURE,
    )
    assert_reason(GITHUB.verify(signed, chk(GH_OTHER)), Reason.BAD_SIGNATURE)
    assert_reason(GITHUB.verify(signed, chk(GH_SECRET.lower())), Reason.BAD_SIGNATURE)


def test_github_rotation_several_secrets() -> None:
    signed = gh_signed()
    assert GITHUB.verify(signed, chk(GH_OTHER, GH_SECRET)).valid
    assert GITHUB.verify(sha1_only(signed), chk(GH_OTHER, GH_SECRET)).valid
    assert GITHUB.verify(signed, chk(GH_SECRET.encode())).valid  # bytes: the raw key


def test_github_sha256_wins_over_sha1_no_downgrade() -> None:
    """When both headers are sent, a wrong SHA-256 is not rescued by a right SHA-1."""
    signed = gh_signed().with_header("X-Hub-Signature-256", "sha256=" + "0" * 64)
    assert signed.header("X-Hub-Signature") == "sha1=" + gh_hex(GH_SECRET, JSON_BODY, "sha1")
    assert_reason(GITHUB.verify(signed, chk(GH_SECRET)), Reason.BAD_SIGNATURE)


def test_github_no_timestamp() -> None:
    signed = gh_signed()
    assert GITHUB.verify(signed, chk(GH_SECRET, now=0)).valid
    assert GITHUB.verify(signed, chk(GH_SECRET, now=NOW * 2, tolerance=1)).valid


def test_github_missing_header() -> None:
    bare = Message(JSON_BODY, (("X-GitHub-Event", "push"),))
    assert_reason(GITHUB.verify(bare, chk(GH_SECRET)), Reason.MISSING_HEADER)
    empty = bare.with_header("X-Hub-Signature-256", "")
    assert_reason(GITHUB.verify(empty, chk(GH_SECRET)), Reason.MISSING_HEADER)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Hub-Signature-256", "garbage"),
        ("X-Hub-Signature-256", "sha1=" + "0" * 40),
        ("X-Hub-Signature-256", "SHA256=" + "0" * 64),
        ("X-Hub-Signature", "sha256=" + "0" * 64),
        ("X-Hub-Signature", "md5=abc"),
    ],
)
def test_github_malformed_header(name: str, value: str) -> None:
    message = Message(JSON_BODY, ((name, value),))
    assert_reason(GITHUB.verify(message, chk(GH_SECRET)), Reason.MALFORMED_HEADER)
    assert_reason(GITHUB.verify(message, chk()), Reason.MALFORMED_HEADER)


def test_github_no_secret() -> None:
    assert_reason(GITHUB.verify(gh_signed(), chk()), Reason.NO_SECRET)


def test_github_uppercase_hex_is_rejected() -> None:
    upper = Message(
        JSON_BODY, (("X-Hub-Signature-256", "sha256=" + gh_hex(GH_SECRET, JSON_BODY).upper()),)
    )
    assert_reason(GITHUB.verify(upper, chk(GH_SECRET)), Reason.BAD_SIGNATURE)


_GH_RIGHT = bytes.fromhex(gh_hex(GH_SECRET, JSON_BODY))


@pytest.mark.parametrize(
    ("name", "value", "found"),
    [
        (
            "X-Hub-Signature-256",
            "sha256=" + base64.b64encode(_GH_RIGHT).decode(),
            "the signature is base64, GitHub sends hex",
        ),
        ("X-Hub-Signature-256", "sha256=" + _GH_RIGHT.hex().upper(), "upper-case hex"),
        ("X-Hub-Signature-256", "sha256=" + _GH_RIGHT.hex()[:40], "40 hex digits; GitHub sends 64"),
        ("X-Hub-Signature-256", "sha256=xyz", "the signature is not hex"),
        ("X-Hub-Signature", "sha1=" + _GH_RIGHT.hex(), "64 hex digits; GitHub sends 40"),
    ],
)
def test_github_well_formed_header_that_does_not_match_is_bad_signature(
    name: str, value: str, found: str
) -> None:
    verdict = GITHUB.verify(Message(JSON_BODY, ((name, value),)), chk(GH_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict


@pytest.mark.parametrize("legacy", [False, True])
def test_github_mixed_case_header_names(legacy: bool) -> None:
    signed = gh_signed()
    if legacy:
        signed = sha1_only(signed)
    for transform in (str.lower, str.upper, str.swapcase):
        renamed = Message(signed.body, tuple((transform(k), v) for k, v in signed.headers))
        assert GITHUB.verify(renamed, chk(GH_SECRET)).valid, transform


def test_github_binary_and_empty_bodies() -> None:
    for body in (BINARY_BODY, b""):
        signed = gh_signed(body)
        assert GITHUB.verify(signed, chk(GH_SECRET)).valid
        assert GITHUB.verify(sha1_only(signed), chk(GH_SECRET)).valid
    lossy = BINARY_BODY.decode("utf-8", "replace").encode()
    verdict = GITHUB.verify(gh_signed(BINARY_BODY).with_body(lossy), chk(GH_SECRET))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_github_registry_and_attributes() -> None:
    assert registered("github") is GITHUB
    assert GITHUB.signature_headers[0] == "X-Hub-Signature-256"
    assert "X-Hub-Signature" in GITHUB.signature_headers
    assert not GITHUB.needs_url
