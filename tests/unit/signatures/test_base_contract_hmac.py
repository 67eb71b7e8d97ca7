"""Every scheme keeps the ``Scheme`` contract of ``whrelay/signatures/base.py``, table-driven:
Shopify, Slack, Twilio, Paddle, GitLab and Square."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest

from tests.helpers.schemes_hmac import mixed_case
from tests.helpers.sigkit import assert_reason, checker, flip_byte, reserialized
from whrelay.signatures import get_scheme
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.gitlab import GITLAB, GitLab
from whrelay.signatures.paddle import PADDLE, Paddle
from whrelay.signatures.shopify import SHOPIFY, Shopify
from whrelay.signatures.slack import SLACK, Slack
from whrelay.signatures.square import SQUARE, Square
from whrelay.signatures.twilio import TWILIO, Twilio

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

BINARY_BODY = b"\xff\xfe\x00\x80binary\xc3\x28\n\r\n"
"""Not UTF-8 (0xff, a lone continuation byte, an invalid two-byte sequence)."""

FORM_BODY = b"Body=Hello+w%C3%B6rld&From=%2B14158675309&To=%2B18005551212&Empty="

AnyScheme = Shopify | Slack | Twilio | Paddle | Square | GitLab

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
