"""``whrelay/signatures/github.py``: known answers from GitHub's docs, sha256 and legacy sha1."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tests.helpers.schemes import registered
from tests.helpers.sigkit import assert_reason, checker, flip_byte, reserialized
from whrelay.signatures.base import Message, Reason, Secret
from whrelay.signatures.github import GITHUB

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


_GH_RIGHT = bytes.fromhex(gh_hex(GH_SECRET, JSON_BODY))


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
