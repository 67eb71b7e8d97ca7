"""``whrelay/signatures/standard_webhooks.py``: Standard Webhooks (v1 and v1a) and Svix, with
the official ``standardwebhooks`` and ``svix`` libraries as oracles in both directions."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import standardwebhooks
import standardwebhooks.webhooks
import svix.webhooks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.helpers.schemes import registered
from tests.helpers.sigkit import assert_reason, checker, flip_byte, reserialized
from whrelay.signatures.base import MalformedError, Message, Reason, Secret
from whrelay.signatures.standard_webhooks import STANDARD_WEBHOOKS, SVIX, StandardWebhooks

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


_SW_MAC = hmac.new(SW_KEY, b"another message", hashlib.sha256).digest()

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
