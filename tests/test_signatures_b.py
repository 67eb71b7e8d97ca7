"""Shopify, Slack, Twilio, Paddle, GitLab and Square signatures.

Known answers: Slack's and Twilio's documentation examples (reference §7, §8), the Twilio,
Paddle and Square SDKs' own test vectors, the Standard Webhooks known answer (§2, for GitLab's
signing token), and for Shopify (no Python oracle, none in the reference) a value computed
outside whrelay (OpenSSL ``dgst -hmac``, matching a third-party test). Oracles in both
directions: ``slack_sdk``, ``twilio`` (``RequestValidator``), ``paddle_billing`` (``Verifier``)
and ``square`` (``verify_signature``, which only verifies). They decode bodies as UTF-8, so
the oracle direction uses UTF-8 bodies; binary bodies are checked against whrelay only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from paddle_billing.Notifications import PaddleSignature  # type: ignore[import-untyped]
from paddle_billing.Notifications import Secret as PaddleSecret
from paddle_billing.Notifications import Verifier as PaddleVerifier
from slack_sdk.signature import Clock, SignatureVerifier
from square.utils.webhooks_helper import verify_signature as square_verify
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.helpers.sigkit import assert_reason, checker, flip_byte, reserialized
from whrelay.core.errors import UsageError
from whrelay.signatures import get_scheme
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.gitlab import GITLAB, GitLab
from whrelay.signatures.paddle import PADDLE, Paddle
from whrelay.signatures.shopify import SHOPIFY, Shopify
from whrelay.signatures.slack import SLACK, Slack
from whrelay.signatures.square import SQUARE, Square
from whrelay.signatures.twilio import TWILIO, Twilio, url_variants

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""
chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'
BINARY_BODY = b"\xff\xfe\x00\x80binary\xc3\x28\n\r\n"
"""Not UTF-8 (0xff, a lone continuation byte, an invalid two-byte sequence)."""
FORM_BODY = b"Body=Hello+w%C3%B6rld&From=%2B14158675309&To=%2B18005551212&Empty="

AnyScheme = Shopify | Slack | Twilio | Paddle | Square | GitLab


def hmac_b64(key: bytes, content: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(key, content, digest).digest()).decode()


def mixed_case(message: Message) -> Message:
    """Header names in alternating case (``x-SlAcK-…``), as an odd proxy might write them."""
    headers = tuple(
        ("".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(k)), v)
        for k, v in message.headers
    )
    return Message(message.body, headers, message.url, message.method)


# --- every scheme: the cases of reference §18 ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    scheme: AnyScheme
    secret: str
    other: str
    """A second, different secret of the same kind."""
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    covers_body: bool = True
    id: str = field(default="")

    def message(self, body: bytes) -> Message:
        return Message(body, self.headers, self.url)

    def signed(self, body: bytes, secret: str | None = None, at: int = NOW) -> Message:
        return self.scheme.sign(self.message(body), secret or self.secret, at)


SW_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
SW_OTHER = "whsec_" + base64.b64encode(b"another signing key, 32 bytes!!!").decode()
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
SQUARE_URL = "https://example.com/webhooks/square"

CASES = [
    Case(SHOPIFY, "shpss_0123456789abcdef", "shpss_fedcba9876543210", id="shopify"),
    Case(SLACK, "8f742231b10e8888abcd99yyyzzz85a5", "00000000000000000000000000000000", id="slack"),
    Case(TWILIO, "12345", "67890", url=TWILIO_URL, id="twilio"),
    Case(PADDLE, "pdl_ntfset_01abc_secretA", "pdl_ntfset_01abc_secretB", id="paddle"),
    Case(SQUARE, "Ibxx_5AKakO-3qeNVR61Dw", "another-square-key", url=SQUARE_URL, id="square"),
    Case(GITLAB, "gitlab-secret-token", "other-token", covers_body=False, id="gitlab-token"),
    Case(
        GITLAB,
        SW_SECRET,
        SW_OTHER,
        headers=(("webhook-id", "msg_gitlab_1"), ("webhook-signature", "")),
        id="gitlab-signing-token",
    ),
]
ALL = [pytest.param(case, id=case.id) for case in CASES]
BODY_COVERED = [pytest.param(case, id=case.id) for case in CASES if case.covers_body]
BODIES = [
    pytest.param(JSON_BODY, id="json"),
    pytest.param(b"", id="empty"),
    pytest.param(BINARY_BODY, id="binary"),
    pytest.param(FORM_BODY, id="form"),
]


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("body", BODIES)
def test_valid(case: Case, body: bytes) -> None:
    assert_reason(case.scheme.verify(case.signed(body), chk(case.secret)), Reason.OK)


@pytest.mark.parametrize("case", BODY_COVERED)
@pytest.mark.parametrize("body", [JSON_BODY, BINARY_BODY, FORM_BODY])
def test_one_byte_changed_fails(case: Case, body: bytes) -> None:
    message = case.signed(body)
    for index in (0, len(body) // 2, len(body) - 1):
        changed = message.with_body(flip_byte(body, index))
        assert_reason(case.scheme.verify(changed, chk(case.secret)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("case", BODY_COVERED)
def test_reserialized_json_fails(case: Case) -> None:
    message = case.signed(JSON_BODY).with_body(reserialized(JSON_BODY))
    assert_reason(case.scheme.verify(message, chk(case.secret)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("case", BODY_COVERED)
def test_trailing_newline_added_fails(case: Case) -> None:
    message = case.signed(JSON_BODY).with_body(JSON_BODY + b"\n")
    assert_reason(case.scheme.verify(message, chk(case.secret)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("case", ALL)
def test_wrong_secret_fails(case: Case) -> None:
    verdict = case.scheme.verify(case.signed(JSON_BODY), chk(case.other))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert not verdict.valid


@pytest.mark.parametrize("case", ALL)
def test_rotation_any_secret_may_match(case: Case) -> None:
    for signer in (case.secret, case.other):
        message = case.signed(JSON_BODY, signer)
        for order in ((case.secret, case.other), (case.other, case.secret)):
            assert_reason(case.scheme.verify(message, chk(*order)), Reason.OK)
    assert_reason(
        case.scheme.verify(case.signed(JSON_BODY, case.other), chk(case.secret)),
        Reason.BAD_SIGNATURE,
    )


@pytest.mark.parametrize("case", ALL)
def test_raw_bytes_secret_is_the_key(case: Case) -> None:
    """A ``bytes`` secret is used as it is; for the UTF-8-keyed schemes that is the same key."""
    if case.id == "gitlab-signing-token":
        key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    else:
        key = case.secret.encode()
    assert_reason(case.scheme.verify(case.signed(JSON_BODY), chk(key)), Reason.OK)
    signed_with_bytes = case.scheme.sign(case.message(JSON_BODY), key, NOW)
    assert_reason(case.scheme.verify(signed_with_bytes, chk(case.secret)), Reason.OK)


@pytest.mark.parametrize("case", ALL)
def test_mixed_case_header_names(case: Case) -> None:
    message = mixed_case(case.signed(JSON_BODY))
    assert all(name != name.lower() for name, _ in message.headers)
    assert_reason(case.scheme.verify(message, chk(case.secret)), Reason.OK)
    upper = case.signed(JSON_BODY)
    upper = Message(upper.body, tuple((k.upper(), v) for k, v in upper.headers), upper.url)
    assert_reason(case.scheme.verify(upper, chk(case.secret)), Reason.OK)


@pytest.mark.parametrize("case", ALL)
def test_missing_header(case: Case) -> None:
    message = case.signed(JSON_BODY)
    for name in case.scheme.signature_headers:
        message = message.without_header(name)
    assert_reason(case.scheme.verify(message, chk(case.secret)), Reason.MISSING_HEADER)
    unsigned = Message(JSON_BODY, (("Content-Type", "application/json"),), case.url)
    assert_reason(case.scheme.verify(unsigned, chk(case.secret)), Reason.MISSING_HEADER)


@pytest.mark.parametrize("case", ALL)
def test_empty_header_value_is_missing(case: Case) -> None:
    message = case.signed(JSON_BODY)
    for name in case.scheme.signature_headers:
        if message.header(name) is not None:
            message = message.with_header(name, "")
    assert_reason(case.scheme.verify(message, chk(case.secret)), Reason.MISSING_HEADER)


@pytest.mark.parametrize("case", ALL)
def test_no_secret(case: Case) -> None:
    assert_reason(case.scheme.verify(case.signed(JSON_BODY), chk()), Reason.NO_SECRET)


@pytest.mark.parametrize("case", ALL)
def test_sign_replaces_an_old_signature(case: Case) -> None:
    old = case.signed(JSON_BODY, case.other, NOW - 10_000)
    again = case.scheme.sign(old, case.secret, NOW)
    for name in case.scheme.signature_headers:
        assert sum(1 for k, _ in again.headers if k.lower() == name.lower()) <= 1
    assert_reason(case.scheme.verify(again, chk(case.secret)), Reason.OK)


@pytest.mark.parametrize("case", ALL)
def test_header_values_that_are_not_utf8_do_not_crash(case: Case) -> None:
    """Header values decoded with surrogateescape (raw 0x80-0xff bytes) fail cleanly."""
    message = case.signed(JSON_BODY)
    name = case.scheme.signature_headers[0]
    if message.header(name) is None:
        name = case.scheme.signature_headers[1]
    garbled = message.with_header(name, "v0=\udcff\udcfe" if case.id == "slack" else "\udcff")
    if case.id == "paddle":
        garbled = message.with_header(name, f"ts={NOW};h1=\udcff")
    verdict = case.scheme.verify(garbled, chk(case.secret))
    assert verdict.reason in (Reason.BAD_SIGNATURE, Reason.MALFORMED_HEADER), verdict


def test_registry_names() -> None:
    expected: dict[str, AnyScheme] = {
        "shopify": SHOPIFY,
        "slack": SLACK,
        "twilio": TWILIO,
        "paddle": PADDLE,
        "gitlab": GITLAB,
        "square": SQUARE,
    }
    for name, scheme in expected.items():
        found: object = get_scheme(name)
        assert found is scheme
        assert scheme.name == name
        assert scheme.needs_url is (name in ("twilio", "square"))
        assert scheme.signature_headers


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


_SLACK_RIGHT = (
    "v0="
    + hmac.new(SLACK_SECRET.encode(), f"v0:{NOW}:".encode() + JSON_BODY, hashlib.sha256).hexdigest()
)


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


UTF8_BODIES = [
    pytest.param(JSON_BODY, id="json"),
    pytest.param(SLACK_BODY, id="form"),
    pytest.param(b"", id="empty"),
    pytest.param("ünïcödé\r\n".encode(), id="utf8-text"),
]


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


# --- Twilio -------------------------------------------------------------------------------------

TWILIO_TOKEN = "12345"
TWILIO_DOC_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
TWILIO_DOC_KA = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
"""Reference §8: Twilio's documentation example."""
TWILIO_LIB_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]
TWILIO_LIB_KA = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
TWILIO_JSON = b'{"property": "value", "boolean": true}'
TWILIO_JSON_URL = (
    TWILIO_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
)
TWILIO_JSON_KA = "a9nBmqA0ju/hNViExpshrM61xv4="
"""twilio-python's own test vectors (form and JSON), recomputed with the installed library."""


class MultiDict:
    """A form with repeated names, as Django's ``QueryDict`` offers it to the oracle."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self.pairs))

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def twilio_message(body: bytes, signature: str, url: str | None = TWILIO_URL) -> Message:
    return Message(
        body,
        (
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", signature),
        ),
        url,
    )


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        (TWILIO_URL, TWILIO_DOC_PARAMS, TWILIO_DOC_KA),
        (TWILIO_URL, TWILIO_LIB_PARAMS, TWILIO_LIB_KA),
    ],
)
def test_twilio_known_answers_form(url: str, params: list[tuple[str, str]], signature: str) -> None:
    body = urlencode(params).encode()
    assert b"%2B" in body
    signed = TWILIO.sign(Message(body, url=url), TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == signature
    assert signed.url == url
    message = twilio_message(body, signature, url)
    assert_reason(TWILIO.verify(message, chk(TWILIO_TOKEN)), Reason.OK)
    reordered = urlencode(list(reversed(params))).encode()
    assert_reason(TWILIO.verify(message.with_body(reordered), chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_known_answer_json_body_sha256() -> None:
    signed = TWILIO.sign(Message(TWILIO_JSON, url=TWILIO_JSON_URL), TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == TWILIO_JSON_KA
    assert signed.url == TWILIO_JSON_URL
    message = twilio_message(TWILIO_JSON, TWILIO_JSON_KA, TWILIO_JSON_URL)
    assert_reason(TWILIO.verify(message, chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_json_body_changed_under_a_signed_url() -> None:
    message = twilio_message(b'{"property": "other"}', TWILIO_JSON_KA, TWILIO_JSON_URL)
    verdict = TWILIO.verify(message, chk(TWILIO_TOKEN))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert "body" in verdict.detail
    assert "bodySHA256" in verdict.detail
    re_encoded = twilio_message(reserialized(TWILIO_JSON), TWILIO_JSON_KA, TWILIO_JSON_URL)
    assert_reason(TWILIO.verify(re_encoded, chk(TWILIO_TOKEN)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/myapp?bodySHA256=",
        "https://example.com/myapp?bodySHA256=not-a-hex-digest",
        "https://example.com/myapp?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b28",
    ],
)
def test_twilio_bad_body_sha256_fails_closed(url: str) -> None:
    """A signature valid for its URL, but the URL's hash is not the body's."""
    sig = hmac_b64(TWILIO_TOKEN.encode(), url.encode(), "sha1")
    verdict = TWILIO.verify(twilio_message(TWILIO_JSON, sig, url), chk(TWILIO_TOKEN))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_twilio_body_sha256_is_compared_by_value() -> None:
    url = TWILIO_URL + "&bodySHA256=" + hashlib.sha256(TWILIO_JSON).hexdigest().upper()
    sig = hmac_b64(TWILIO_TOKEN.encode(), url.encode(), "sha1")
    assert_reason(
        TWILIO.verify(twilio_message(TWILIO_JSON, sig, url), chk(TWILIO_TOKEN)), Reason.OK
    )


def test_twilio_binary_json_variant_hashes_raw_bytes() -> None:
    url = "https://example.com/hook?bodySHA256=" + hashlib.sha256(BINARY_BODY).hexdigest()
    signed = TWILIO.sign(Message(BINARY_BODY, url=url), TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == hmac_b64(b"12345", url.encode(), "sha1")
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)
    assert_reason(
        TWILIO.verify(signed.with_body(flip_byte(BINARY_BODY)), chk(TWILIO_TOKEN)),
        Reason.BAD_SIGNATURE,
    )


def test_twilio_sign_puts_the_body_hash_in_the_url() -> None:
    stale = "https://example.com/hook?a=1&bodySHA256=" + "0" * 64 + "&b=2"
    signed = TWILIO.sign(Message(TWILIO_JSON, url=stale), TWILIO_TOKEN, NOW)
    assert signed.url == (
        "https://example.com/hook?a=1&bodySHA256="
        + hashlib.sha256(TWILIO_JSON).hexdigest()
        + "&b=2"
    )
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)
    assert_reason(TWILIO.verify(signed.with_url(stale), chk(TWILIO_TOKEN)), Reason.BAD_SIGNATURE)


def test_twilio_binary_form_values_are_maced_as_bytes() -> None:
    body = b"B=%FF%FE&A=\x80raw\xff"
    signed = TWILIO.sign(Message(body, url=TWILIO_URL), TWILIO_TOKEN, NOW)
    expected = TWILIO_URL.encode() + b"A\x80raw\xff" + b"B\xff\xfe"
    assert signed.header("X-Twilio-Signature") == hmac_b64(b"12345", expected, "sha1")
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_no_body_signs_the_url_alone() -> None:
    url = "https://example.com/voice?CallSid=CA1&From=%2B1555"
    message = Message(b"", url=url, method="GET")
    signed = TWILIO.sign(message, TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == hmac_b64(b"12345", url.encode(), "sha1")
    assert RequestValidator(TWILIO_TOKEN).validate(url, {}, signed.header("X-Twilio-Signature"))
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)


@pytest.mark.parametrize(
    ("signed_url", "checked_url", "reason"),
    [
        ("https://example.com/hook", "https://example.com:443/hook", Reason.OK),
        ("https://example.com:443/hook", "https://example.com/hook", Reason.OK),
        ("http://example.com/hook", "http://example.com:80/hook", Reason.OK),
        ("http://example.com:80/hook?x=1", "http://example.com/hook?x=1", Reason.OK),
        ("https://u:p@example.com/hook", "https://u:p@example.com:443/hook", Reason.OK),
        ("https://[::1]/hook", "https://[::1]:443/hook", Reason.OK),
        ("https://example.com/hook", "http://example.com/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://example.com:80/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://example.com:8443/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://relay.local/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook?x=1", "https://example.com/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://example.com/hook/", Reason.BAD_SIGNATURE),
    ],
)
def test_twilio_url_and_default_port(signed_url: str, checked_url: str, reason: Reason) -> None:
    signed = TWILIO.sign(Message(FORM_BODY, url=signed_url), TWILIO_TOKEN, NOW)
    verdict = TWILIO.verify(signed.with_url(checked_url), chk(TWILIO_TOKEN))
    assert_reason(verdict, reason)
    if reason is Reason.BAD_SIGNATURE:
        assert checked_url in verdict.detail


def test_twilio_url_variants() -> None:
    assert [u for u, _ in url_variants("https://a.example/x")] == [
        "https://a.example/x",
        "https://a.example:443/x",
    ]
    assert [u for u, _ in url_variants("HTTP://a.example:80")] == [
        "HTTP://a.example:80",
        "HTTP://a.example",
    ]
    assert [u for u, _ in url_variants("https://a.example:8443/x")] == ["https://a.example:8443/x"]
    assert [u for u, _ in url_variants("wss://a.example/x")] == ["wss://a.example/x"]
    assert [u for u, _ in url_variants("/relative")] == ["/relative"]


def test_twilio_form_value_changed_or_param_added() -> None:
    signed = TWILIO.sign(Message(FORM_BODY, url=TWILIO_URL), TWILIO_TOKEN, NOW)
    for body in (
        FORM_BODY.replace(b"Hello", b"Hallo"),
        FORM_BODY + b"&Extra=1",
        FORM_BODY.replace(b"&Empty=", b""),
    ):
        assert_reason(
            TWILIO.verify(signed.with_body(body), chk(TWILIO_TOKEN)), Reason.BAD_SIGNATURE
        )
    # Re-encoding the same fields does not matter: they are signed decoded.
    re_encoded = b"To=%2B18005551212&Empty=&From=%2b14158675309&Body=Hello%20w%c3%b6rld"
    assert_reason(TWILIO.verify(signed.with_body(re_encoded), chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_url_is_needed() -> None:
    signed = TWILIO.sign(Message(FORM_BODY, url=TWILIO_URL), TWILIO_TOKEN, NOW)
    for secrets in ((TWILIO_TOKEN,), ()):
        verdict = TWILIO.verify(signed.with_url(None), chk(*secrets))
        assert_reason(verdict, Reason.MALFORMED_HEADER)
        assert "URL" in verdict.detail
        assert "--url" in verdict.detail
        assert "--public-url" in verdict.detail
    assert_reason(
        TWILIO.verify(signed.with_url(None).without_header("X-Twilio-Signature"), chk("x")),
        Reason.MISSING_HEADER,
    )
    with pytest.raises(UsageError):
        TWILIO.sign(Message(FORM_BODY), TWILIO_TOKEN, NOW)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("not base64!!", "not base64"),
        # SHA-256 sized without the settings header
        (
            base64.b64encode(b"\x00" * 32).decode(),
            "decodes to 32 bytes; Twilio (HMAC_SHA1) sends 20",
        ),
        (hashlib.sha1(b"x").hexdigest(), "the signature is hex, Twilio (HMAC_SHA1) sends base64"),
    ],
)
def test_twilio_signature_in_the_wrong_form_is_bad_signature(value: str, found: str) -> None:
    message = twilio_message(FORM_BODY, value)
    verdict = TWILIO.verify(message, chk(TWILIO_TOKEN))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict
    assert_reason(TWILIO.verify(message, chk()), Reason.NO_SECRET)


def test_twilio_shared_key_hmac_sha256() -> None:
    settings = (
        "X-Twilio-Webhooks-Signature-Settings",
        "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    )
    params = TWILIO_LIB_PARAMS
    body = urlencode(params).encode()
    signed = TWILIO.sign(Message(body, (settings,), TWILIO_URL), "shared-secret", NOW)
    sig = signed.header("X-Twilio-Signature")
    oracle = RequestValidator("shared-secret")
    assert sig == oracle.compute_signature(TWILIO_URL, dict(params), "HMAC_SHA256")
    assert oracle.validate(TWILIO_URL, dict(params), sig, "HMAC_SHA256")
    assert_reason(TWILIO.verify(signed, chk("shared-secret")), Reason.OK)
    # Without the settings header the same signature is read as SHA-1: the wrong size.
    plain = signed.without_header(settings[0])
    verdict = TWILIO.verify(plain, chk("shared-secret"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any("decodes to 32 bytes" in hint for hint in verdict.hints), verdict
    unknown = signed.with_header(settings[0], "key=k,algorithm=HMAC_SHA512")
    verdict = TWILIO.verify(unknown, chk("shared-secret"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any("'HMAC_SHA512'" in hint for hint in verdict.hints), verdict
    assert not RequestValidator("shared-secret").validate(
        TWILIO_URL, dict(params), sig, "HMAC_SHA512"
    )
    with pytest.raises(UsageError):
        TWILIO.sign(unknown, "shared-secret", NOW)


TWILIO_FORMS = [
    pytest.param(TWILIO_DOC_PARAMS, id="docs"),
    pytest.param([("Body", "héllo wörld & more=1"), ("From", "+1555")], id="utf8-and-escapes"),
    pytest.param([("Tag", "b"), ("Tag", "a"), ("Tag", "b"), ("A", "")], id="repeated-names"),
    pytest.param([], id="empty"),
]


@pytest.mark.parametrize("params", TWILIO_FORMS)
@pytest.mark.parametrize("url", [TWILIO_URL, "http://example.com:80/sms", "https://h.example:443/"])
def test_twilio_oracle_accepts_what_whrelay_signs(params: list[tuple[str, str]], url: str) -> None:
    body = urlencode(params).encode()
    signed = TWILIO.sign(Message(body, url=url), TWILIO_TOKEN, NOW)
    sig = signed.header("X-Twilio-Signature")
    assert RequestValidator(TWILIO_TOKEN).validate(url, MultiDict(params), sig)
    assert not RequestValidator("wrong").validate(url, MultiDict(params), sig)


@pytest.mark.parametrize("params", TWILIO_FORMS)
@pytest.mark.parametrize("url", [TWILIO_URL, "http://example.com:80/sms", "https://h.example:443/"])
def test_whrelay_accepts_what_the_twilio_oracle_signs(
    params: list[tuple[str, str]], url: str
) -> None:
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, MultiDict(params))
    message = mixed_case(twilio_message(urlencode(params).encode(), sig, url))
    assert_reason(TWILIO.verify(message, chk(TWILIO_TOKEN)), Reason.OK)
    assert_reason(TWILIO.verify(message, chk("wrong")), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("body", [TWILIO_JSON, JSON_BODY, b"[]"])
def test_twilio_json_oracle_both_ways(body: bytes) -> None:
    url = "https://example.com/status?bodySHA256=" + hashlib.sha256(body).hexdigest()
    signed = TWILIO.sign(Message(body, url=url), TWILIO_TOKEN, NOW)
    sig = signed.header("X-Twilio-Signature")
    oracle = RequestValidator(TWILIO_TOKEN)
    assert oracle.validate(url, body.decode(), sig)
    assert not oracle.validate(url, body.decode() + " ", sig)
    theirs = oracle.compute_signature(url, {})
    assert_reason(TWILIO.verify(twilio_message(body, theirs, url), chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_oracle_port_handling_agrees() -> None:
    oracle = RequestValidator(TWILIO_TOKEN)
    body = urlencode(TWILIO_DOC_PARAMS).encode()
    for signed_url, checked_url in (
        ("https://example.com:443/hook", "https://example.com/hook"),
        ("https://example.com/hook", "https://example.com:443/hook"),
    ):
        sig = oracle.compute_signature(signed_url, dict(TWILIO_DOC_PARAMS))
        assert oracle.validate(checked_url, dict(TWILIO_DOC_PARAMS), sig)
        message = twilio_message(body, sig, checked_url)
        verdict = TWILIO.verify(message, chk(TWILIO_TOKEN))
        assert_reason(verdict, Reason.OK)
        assert "default port" in verdict.detail


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


_PADDLE_RIGHT = hmac.new(
    PADDLE_SECRET.encode(), f"{NOW}:".encode() + JSON_BODY, hashlib.sha256
).hexdigest()


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


# --- GitLab -------------------------------------------------------------------------------------

GITLAB_TOKEN = "gitlab-secret-token"
SW_KA_ID = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"
SW_KA_TS = 1649367553
SW_KA_BODY = b'{"email":"test@example.com","username":"test_user"}'
SW_KA = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
"""Reference §2 (Standard Webhooks known answer): GitLab's signing token uses that scheme."""


def gitlab_sw_message(signature: str = SW_KA, ts: int = SW_KA_TS) -> Message:
    return Message(
        SW_KA_BODY,
        (
            ("X-Gitlab-Event", "Push Hook"),
            ("webhook-id", SW_KA_ID),
            ("webhook-timestamp", str(ts)),
            ("webhook-signature", signature),
        ),
    )


def test_gitlab_token_known_answer() -> None:
    message = Message(JSON_BODY, (("X-Gitlab-Token", GITLAB_TOKEN),))
    verdict = GITLAB.verify(message, chk(GITLAB_TOKEN))
    assert_reason(verdict, Reason.OK)
    assert "not the body" in verdict.detail
    signed = GITLAB.sign(Message(JSON_BODY), GITLAB_TOKEN, NOW)
    assert signed.header("x-gitlab-token") == GITLAB_TOKEN
    assert signed.header("webhook-signature") is None


def test_gitlab_token_is_compared_whole() -> None:
    for token in (GITLAB_TOKEN + " ", GITLAB_TOKEN[:-1], GITLAB_TOKEN.upper(), "x"):
        message = Message(JSON_BODY, (("X-Gitlab-Token", token),))
        assert_reason(GITLAB.verify(message, chk(GITLAB_TOKEN)), Reason.BAD_SIGNATURE)


def test_gitlab_token_does_not_cover_the_body_or_the_time() -> None:
    message = GITLAB.sign(Message(JSON_BODY), GITLAB_TOKEN, NOW)
    for body in (flip_byte(JSON_BODY), BINARY_BODY, b""):
        assert_reason(GITLAB.verify(message.with_body(body), chk(GITLAB_TOKEN)), Reason.OK)
    assert_reason(GITLAB.verify(message, chk(GITLAB_TOKEN, now=0)), Reason.OK)


def test_gitlab_signing_token_known_answer() -> None:
    message = gitlab_sw_message()
    verdict = GITLAB.verify(message, chk(SW_SECRET, now=SW_KA_TS))
    assert_reason(verdict, Reason.OK)
    assert verdict.scheme == "gitlab"
    assert verdict.timestamp == SW_KA_TS
    signed = GITLAB.sign(gitlab_sw_message(signature=""), SW_SECRET, SW_KA_TS)
    assert signed.header("webhook-signature") == SW_KA
    assert signed.header("webhook-id") == SW_KA_ID
    assert signed.header("X-Gitlab-Token") is None


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (300, Reason.OK),
        (-300, Reason.OK),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (-301, Reason.TIMESTAMP_IN_FUTURE),
    ],
)
def test_gitlab_signing_token_window(skew: int, reason: Reason) -> None:
    verdict = GITLAB.verify(gitlab_sw_message(), chk(SW_SECRET, now=SW_KA_TS + skew))
    assert_reason(verdict, reason)
    assert verdict.scheme == "gitlab"
    assert_reason(
        GITLAB.verify(gitlab_sw_message(), chk(SW_SECRET, now=0, ignore_timestamp=True)),
        Reason.OK,
    )


def test_gitlab_signing_token_failures() -> None:
    changed = gitlab_sw_message().with_body(flip_byte(SW_KA_BODY))
    assert_reason(GITLAB.verify(changed, chk(SW_SECRET, now=SW_KA_TS)), Reason.BAD_SIGNATURE)
    stamp = gitlab_sw_message().with_header("webhook-timestamp", "soon")
    assert_reason(GITLAB.verify(stamp, chk(SW_SECRET, now=SW_KA_TS)), Reason.MALFORMED_HEADER)
    no_id = gitlab_sw_message().without_header("webhook-id")
    verdict = GITLAB.verify(no_id, chk(SW_SECRET, now=SW_KA_TS))
    assert_reason(verdict, Reason.MISSING_HEADER)
    assert "webhook-id" in verdict.detail
    assert_reason(GITLAB.verify(gitlab_sw_message(), chk()), Reason.NO_SECRET)


def test_gitlab_with_both_token_and_signature() -> None:
    both = gitlab_sw_message().with_header("X-Gitlab-Token", GITLAB_TOKEN)
    at = chk(GITLAB_TOKEN, now=SW_KA_TS)
    assert_reason(GITLAB.verify(both, at), Reason.OK)
    assert_reason(GITLAB.verify(both, chk(SW_SECRET, now=SW_KA_TS)), Reason.OK)
    assert_reason(GITLAB.verify(both, chk("neither", now=SW_KA_TS)), Reason.BAD_SIGNATURE)
    stale = GITLAB.verify(both, chk(SW_SECRET, now=SW_KA_TS + 3600))
    assert_reason(stale, Reason.TIMESTAMP_TOO_OLD)
    # Re-signing with a whsec_ signing token keeps the token header as it was.
    resigned = GITLAB.sign(both, SW_OTHER, NOW)
    assert resigned.header("X-Gitlab-Token") == GITLAB_TOKEN
    assert_reason(GITLAB.verify(resigned, chk(SW_OTHER)), Reason.OK)
    # Re-signing with a plain token sets the token.
    retokened = GITLAB.sign(both, "new-token", NOW)
    assert retokened.header("X-Gitlab-Token") == "new-token"


def test_gitlab_bytes_secret_token() -> None:
    signed = GITLAB.sign(Message(JSON_BODY), "tökén".encode(), NOW)
    assert signed.header("X-Gitlab-Token") == "tökén"
    assert_reason(GITLAB.verify(signed, chk("tökén".encode())), Reason.OK)
    assert_reason(GITLAB.verify(signed, chk("tökén")), Reason.OK)


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
