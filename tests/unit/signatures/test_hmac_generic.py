"""``whrelay/signatures/hmac_generic.py``: the generic HMAC scheme and its configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from tests.helpers.sigkit import assert_reason, checker
from whrelay.core.errors import UsageError
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.hmac_generic import HMAC, GenericHmac

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""

chk = checker(NOW)

HMAC_TS = GenericHmac(
    header="X-Webhook-Signature",
    algorithm="sha256",
    encoding="base64",
    prefix="sha256=",
    timestamp_header="X-Webhook-Timestamp",
    template="{timestamp}.{body}",
)

# --- the generic HMAC scheme -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("sha1", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        ("sha256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (
            "sha512",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a"
            "6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ],
)
def test_hmac_rfc_known_answers(algorithm: str, expected: str) -> None:
    """RFC 2202 / RFC 4231 test case 2 (key "Jefe")."""
    scheme = GenericHmac(algorithm=algorithm)
    body = b"what do ya want for nothing?"
    message = scheme.sign(Message(body), "Jefe", NOW)
    assert message.headers == (("X-Signature", expected),)
    assert_reason(scheme.verify(message, chk("Jefe")), Reason.OK)
    assert_reason(scheme.verify(message, chk("jefe")), Reason.BAD_SIGNATURE)
    b64 = GenericHmac(algorithm=algorithm, encoding="base64", prefix=f"{algorithm}=")
    signed_b64 = b64.sign(Message(body), "Jefe", NOW)
    assert signed_b64.headers == (
        ("X-Signature", f"{algorithm}=" + base64.b64encode(bytes.fromhex(expected)).decode()),
    )
    assert_reason(b64.verify(signed_b64, chk("Jefe")), Reason.OK)


def test_hmac_timestamp_template_known_answer() -> None:
    """``openssl dgst -sha256 -hmac s3cr3t -binary | base64`` over ``1700000000.{"id":1}``."""
    message = Message(
        b'{"id":1}',
        (
            ("x-webhook-signature", "sha256=R60YO2e0IpiQpPzJ7XBSdxTbEMUmLDhFr4dt/zP8bFs="),
            ("x-webhook-timestamp", str(NOW)),
        ),
    )
    verdict = HMAC_TS.verify(message, chk("s3cr3t"))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    unpadded = message.with_header(
        "X-Webhook-Signature", "sha256=R60YO2e0IpiQpPzJ7XBSdxTbEMUmLDhFr4dt/zP8bFs"
    )
    assert_reason(HMAC_TS.verify(unpadded, chk("s3cr3t")), Reason.OK)


def test_hmac_upper_case_hex_and_literal_braces() -> None:
    scheme = GenericHmac(
        header="Sig", timestamp_header="Ts", template="{{{timestamp}}}:{body}", tolerance=0
    )
    assert scheme.content(b"B", "7") == b"{7}:B"
    message = scheme.sign(Message(b"B"), "k", NOW)
    expected = hmac.new(b"k", b"{%d}:B" % NOW, hashlib.sha256).hexdigest()
    assert dict(message.headers) == {"Sig": expected, "Ts": str(NOW)}
    upper = message.with_header("Sig", expected.upper())
    assert_reason(scheme.verify(upper, chk("k")), Reason.OK)
    # tolerance=0 on the scheme: no window by default.
    assert_reason(scheme.verify(scheme.sign(Message(b"B"), "k", 1), chk("k")), Reason.OK)


def test_hmac_template_with_non_ascii_literal_is_utf8() -> None:
    scheme = GenericHmac(template="é{body}")
    message = scheme.sign(Message(b"\xff"), "k", NOW)
    expected = hmac.new(b"k", "é".encode() + b"\xff", hashlib.sha256).hexdigest()
    assert dict(message.headers)["X-Signature"] == expected


def test_hmac_bytes_secret_is_the_raw_key() -> None:
    message = HMAC.sign(Message(b"x"), b"\x00\xff", NOW)
    assert dict(message.headers)["X-Signature"] == hmac.new(b"\x00\xff", b"x", "sha256").hexdigest()
    assert_reason(HMAC.verify(message, chk(b"\x00\xff")), Reason.OK)


def test_hmac_prefix_must_be_present() -> None:
    scheme = GenericHmac(prefix="sha256=")
    message = scheme.sign(Message(b"x"), "k", NOW)
    bare = message.with_header("X-Signature", dict(message.headers)["X-Signature"][7:])
    verdict = scheme.verify(bare, chk("k"))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert "sha256=" in verdict.detail


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"algorithm": "md5"}, "unknown HMAC algorithm 'md5'"),
        ({"algorithm": "sha-256"}, "unknown HMAC algorithm"),
        ({"encoding": "base32"}, "unknown signature encoding 'base32'"),
        ({"template": "{body"}, "unmatched brace"),
        (
            {"template": "{timestamp.x}.{body}", "timestamp_header": "T"},
            "placeholder {timestamp.x}",
        ),
        ({"template": "{body[0]}"}, "unknown placeholder {body[0]}"),
        ({"template": "{foo}.{body}"}, "unknown placeholder {foo}"),
        ({"template": "{body!r}"}, "unknown placeholder"),
        ({"template": "{body:>10}"}, "unknown placeholder"),
        ({"template": "{timestamp}"}, "does not contain {body}"),
        ({"template": "{timestamp}.{body}"}, "no timestamp header"),
        ({"timestamp_header": "X-Ts"}, "would not be signed"),
        ({"header": " "}, "header name is empty"),
        ({"tolerance": -1.0}, "tolerance"),
        ({"tolerance": float("nan")}, "tolerance"),
    ],
)
def test_hmac_configuration_is_validated(kwargs: dict[str, object], words: str) -> None:
    make: Callable[..., GenericHmac] = GenericHmac
    with pytest.raises(UsageError) as caught:
        make(**kwargs)
    assert words in str(caught.value)


def test_hmac_algorithm_and_encoding_in_any_case() -> None:
    scheme = GenericHmac(algorithm=" SHA512", encoding="Base64")
    assert (scheme.algorithm, scheme.encoding) == ("sha512", "base64")
    assert scheme == GenericHmac(algorithm="sha512", encoding="base64")


def test_hmac_usage_errors_carry_hints() -> None:
    with pytest.raises(UsageError) as caught:
        GenericHmac(algorithm="md5")
    assert caught.value.hint == "use sha1, sha256, sha512"
