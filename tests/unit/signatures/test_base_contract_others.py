"""Every scheme keeps the ``Scheme`` contract of ``whrelay/signatures/base.py``, table-driven:
Linear, Zoom, Mailgun, SendGrid, Discord and the generic HMAC scheme."""

from __future__ import annotations

import base64
import time
from dataclasses import replace

import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.schemes_others import Signer, Spec, binary_body, signed, verify
from tests.helpers.sigkit import assert_reason, reserialized
from whrelay.signatures import REGISTRY, detect_scheme, get_scheme
from whrelay.signatures.base import Message, Reason, Secret
from whrelay.signatures.discord import DISCORD
from whrelay.signatures.hmac_generic import HMAC, GenericHmac
from whrelay.signatures.linear import LINEAR
from whrelay.signatures.mailgun import MAILGUN
from whrelay.signatures.sendgrid import SENDGRID
from whrelay.signatures.zoom import ZOOM

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""


def swapcase_names(message: Message) -> Message:
    return replace(message, headers=tuple((k.swapcase(), v) for k, v in message.headers))


# --- keys ------------------------------------------------------------------------------------

RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

OTHER_SEED = bytes(range(32)).hex()

OTHER_PUBLIC = nacl.signing.SigningKey(bytes(range(32))).verify_key.encode().hex()

# Made with openssl (ecparam -name prime256v1; pkcs8 -topk8; ec -pubout -outform DER).
SENDGRID_PRIVATE_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMn/t+DmzinqoNN6R
wbePEj36SXH3f/1sdW3vGNtnPEuhRANCAAQoDFlhR28dobvI/w/in3bCNSYa1Cdh
hZF0FlEG5Gxak72eEVfclZtdGF9HaG/yoLzAy9/4hgLX+btfBCoCL524
-----END PRIVATE KEY-----
"""

SENDGRID_PUBLIC_B64 = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKAxZYUdvHaG7yP8P4p92wjUmGtQnYYWRdBZRBuRsWpO9nhFX"
    "3JWbXRhfR2hv8qC8wMvf+IYC1/m7XwQqAi+duA=="
)

_OTHER_EC = ec.generate_private_key(ec.SECP256R1())

SENDGRID_OTHER_PRIVATE_B64 = base64.b64encode(
    _OTHER_EC.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
).decode()

SENDGRID_OTHER_PUBLIC_PEM = (
    _OTHER_EC.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)

HMAC_TS = GenericHmac(
    header="X-Webhook-Signature",
    algorithm="sha256",
    encoding="base64",
    prefix="sha256=",
    timestamp_header="X-Webhook-Timestamp",
    template="{timestamp}.{body}",
)

SPECS = [
    Spec("linear", LINEAR, "lin_wh_a", "lin_wh_a", "lin_wh_b", "lin_wh_b", 60.0),
    Spec("zoom", ZOOM, "zoom_token_a", "zoom_token_a", "zoom_token_b", "zoom_token_b", None),
    Spec("mailgun", MAILGUN, "key-a", "key-a", "key-b", "key-b", None, body_covered=False),
    Spec(
        "sendgrid",
        SENDGRID,
        SENDGRID_PRIVATE_PEM,
        SENDGRID_PUBLIC_B64,
        SENDGRID_OTHER_PRIVATE_B64,
        SENDGRID_OTHER_PUBLIC_PEM,
        None,
    ),
    Spec("discord", DISCORD, RFC8032_SEED, RFC8032_PUBLIC, OTHER_SEED, OTHER_PUBLIC, None),
    Spec("hmac", HMAC, "s3cr3t", "s3cr3t", "other", "other", None, timed=False),
    Spec("hmac-ts", HMAC_TS, "s3cr3t", "s3cr3t", "other", "other", 300.0),
]

BY_ID = {spec.id: spec for spec in SPECS}

ALL = [pytest.param(spec, id=spec.id) for spec in SPECS]

BODY_COVERED = [pytest.param(spec, id=spec.id) for spec in SPECS if spec.body_covered]

WINDOWED = [pytest.param(spec, id=spec.id) for spec in SPECS if spec.tolerance is not None]

UNWINDOWED = [pytest.param(spec, id=spec.id) for spec in SPECS if spec.timed and not spec.tolerance]


def params(*ids: str) -> list[object]:
    return [pytest.param(BY_ID[i], id=i) for i in ids]


JSON_CT = (("Content-Type", "application/json"),)

# --- the registry ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "instance"),
    [
        ("linear", LINEAR),
        ("zoom", ZOOM),
        ("mailgun", MAILGUN),
        ("sendgrid", SENDGRID),
        ("discord", DISCORD),
        ("hmac", HMAC),
    ],
)
def test_registered_under_its_name(name: str, instance: Signer) -> None:
    assert name in REGISTRY
    found: object = get_scheme(name)
    assert found is instance
    assert instance.name == name


@pytest.mark.parametrize("spec", params("linear", "zoom", "sendgrid", "discord"))
def test_signed_headers_are_detected(spec: Spec) -> None:
    assert detect_scheme(signed(spec).headers) == spec.scheme.name


# --- what every scheme must do ---------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL)
def test_round_trip(spec: Spec) -> None:
    verdict = verify(spec, signed(spec))
    assert_reason(verdict, Reason.OK)
    assert verdict.valid
    assert verdict.scheme == spec.scheme.name
    assert verdict.timestamp == (NOW if spec.timed else None)


@pytest.mark.parametrize("spec", BODY_COVERED)
def test_one_byte_of_body_changed(spec: Spec) -> None:
    message = signed(spec)
    tampered = message.with_body(message.body.replace(b"evt_1", b"evt_2"))
    assert_reason(verify(spec, tampered), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("spec", BODY_COVERED)
def test_reserialized_json_fails(spec: Spec) -> None:
    message = signed(spec)
    assert_reason(verify(spec, message.with_body(reserialized(message.body))), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("spec", ALL)
def test_wrong_secret(spec: Spec) -> None:
    verdict = verify(spec, signed(spec), secrets=(spec.other_verify_key,))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert not verdict.valid


@pytest.mark.parametrize("spec", ALL)
def test_rotation_any_secret_may_match(spec: Spec) -> None:
    both = (spec.other_verify_key, spec.verify_key)
    assert_reason(verify(spec, signed(spec), secrets=both), Reason.OK)
    by_other = signed(spec, key=spec.other_sign_key)
    assert_reason(verify(spec, by_other, secrets=both), Reason.OK)
    assert_reason(verify(spec, by_other, secrets=both[::-1]), Reason.OK)


@pytest.mark.parametrize("spec", ALL)
def test_no_secret(spec: Spec) -> None:
    assert_reason(verify(spec, signed(spec), secrets=()), Reason.NO_SECRET)


@pytest.mark.parametrize("spec", ALL)
def test_header_names_are_case_insensitive(spec: Spec) -> None:
    message = swapcase_names(signed(spec))
    assert any(k != k.lower() and k != k.upper() for k, _ in signed(spec).headers)
    assert_reason(verify(spec, message), Reason.OK)
    upper = replace(message, headers=tuple((k.upper(), v) for k, v in message.headers))
    assert_reason(verify(spec, upper), Reason.OK)


@pytest.mark.parametrize("spec", BODY_COVERED)
def test_binary_body(spec: Spec) -> None:
    body = binary_body(NOW)
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    message = signed(spec, body=body)
    assert message.body == body
    assert_reason(verify(spec, message), Reason.OK)
    flipped = body.replace(b"\xfe", b"\xfd")
    assert_reason(verify(spec, message.with_body(flipped)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("spec", BODY_COVERED)
def test_empty_body(spec: Spec) -> None:
    message = signed(spec, body=b"")
    if spec.id == "linear":
        # No webhookTimestamp: unreadable freshness, unless the timestamp is not checked.
        assert_reason(verify(spec, message), Reason.MALFORMED_HEADER)
        assert_reason(verify(spec, message, ignore_timestamp=True), Reason.OK)
    else:
        assert_reason(verify(spec, message), Reason.OK)
    spaced = message.with_body(b" ")
    assert_reason(verify(spec, spaced, ignore_timestamp=True), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("spec", params(*(spec.id for spec in SPECS if spec.id != "mailgun")))
def test_missing_signature_header(spec: Spec) -> None:
    """(Mailgun's signature is in the body: test_mailgun_missing_signature.)"""
    message = signed(spec)
    stripped = message.without_header(spec.scheme.signature_headers[0])
    verdict = verify(spec, stripped)
    assert_reason(verdict, Reason.MISSING_HEADER)
    assert spec.scheme.signature_headers[0] in verdict.detail
    assert_reason(
        verify(spec, stripped.with_header(spec.scheme.signature_headers[0], "")),
        Reason.MISSING_HEADER,
    )


@pytest.mark.parametrize(
    ("spec_id", "timestamp_header"),
    [
        ("zoom", "x-zm-request-timestamp"),
        ("sendgrid", "X-Twilio-Email-Event-Webhook-Timestamp"),
        ("discord", "X-Signature-Timestamp"),
        ("hmac-ts", "X-Webhook-Timestamp"),
    ],
)
def test_missing_timestamp_header(spec_id: str, timestamp_header: str) -> None:
    spec = BY_ID[spec_id]
    message = signed(spec).without_header(timestamp_header)
    verdict = verify(spec, message)
    assert_reason(verdict, Reason.MISSING_HEADER)
    assert timestamp_header in verdict.detail
    both = message.without_header(spec.scheme.signature_headers[0])
    assert_reason(verify(spec, both), Reason.MISSING_HEADER)


def test_checks_read_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [(spec, signed(spec)) for spec in SPECS]

    def no_clock() -> float:
        raise AssertionError("a scheme read the clock")

    monkeypatch.setattr(time, "time", no_clock)
    monkeypatch.setattr(time, "time_ns", no_clock)
    for spec, message in messages:
        assert_reason(verify(spec, message), Reason.OK)
        spec.scheme.sign(message, spec.sign_key, NOW)


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", WINDOWED)
def test_default_window(spec: Spec) -> None:
    assert spec.tolerance is not None
    window = int(spec.tolerance)
    assert_reason(verify(spec, signed(spec, NOW - window)), Reason.OK)
    assert_reason(verify(spec, signed(spec, NOW + window)), Reason.OK)

    old = verify(spec, signed(spec, NOW - window - 1))
    assert_reason(old, Reason.TIMESTAMP_TOO_OLD)
    assert "the signature itself matches" in old.detail
    assert old.timestamp == NOW - window - 1

    future = verify(spec, signed(spec, NOW + window + 1))
    assert_reason(future, Reason.TIMESTAMP_IN_FUTURE)
    assert "the signature itself matches" in future.detail

    forged = verify(spec, signed(spec, NOW - 3600), secrets=(spec.other_verify_key,))
    assert_reason(forged, Reason.TIMESTAMP_TOO_OLD)
    assert "the signature does not match" in forged.detail


@pytest.mark.parametrize("spec", WINDOWED)
def test_window_overrides(spec: Spec) -> None:
    stale = signed(spec, NOW - 3600)
    assert_reason(verify(spec, stale, ignore_timestamp=True), Reason.OK)
    assert_reason(verify(spec, stale, tolerance=7200.0), Reason.OK)
    assert_reason(verify(spec, stale, tolerance=0.0), Reason.OK)
    assert_reason(verify(spec, signed(spec, NOW - 10), tolerance=5.0), Reason.TIMESTAMP_TOO_OLD)
    assert_reason(
        verify(spec, stale, ignore_timestamp=True, secrets=(spec.other_verify_key,)),
        Reason.BAD_SIGNATURE,
    )


@pytest.mark.parametrize("spec", UNWINDOWED)
def test_no_default_window_but_a_given_tolerance_applies(spec: Spec) -> None:
    ancient = signed(spec, NOW - 10**7)
    assert_reason(verify(spec, ancient), Reason.OK)
    assert_reason(verify(spec, signed(spec, NOW + 10**7)), Reason.OK)
    old = verify(spec, ancient, tolerance=300.0)
    assert_reason(old, Reason.TIMESTAMP_TOO_OLD)
    assert "the signature itself matches" in old.detail
    assert_reason(
        verify(spec, signed(spec, NOW + 301), tolerance=300.0), Reason.TIMESTAMP_IN_FUTURE
    )
    assert_reason(verify(spec, signed(spec, NOW + 300), tolerance=300.0), Reason.OK)
    assert_reason(verify(spec, ancient, tolerance=300.0, ignore_timestamp=True), Reason.OK)


@pytest.mark.parametrize(
    ("spec_id", "header", "value"),
    [
        ("zoom", "x-zm-request-timestamp", "17e8"),
        ("zoom", "x-zm-request-timestamp", "-1700000000"),
        ("sendgrid", "X-Twilio-Email-Event-Webhook-Timestamp", "1.7e9"),
        ("discord", "X-Signature-Timestamp", "1700000000.5"),
        ("discord", "X-Signature-Timestamp", "٣"),
        ("hmac-ts", "X-Webhook-Timestamp", "soon"),
    ],
)
def test_timestamp_parsed_strictly(spec_id: str, header: str, value: str) -> None:
    spec = BY_ID[spec_id]
    verdict = verify(spec, signed(spec).with_header(header, value))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert "timestamp" in verdict.detail


@pytest.mark.parametrize(
    ("spec_id", "header"),
    [
        ("zoom", "x-zm-request-timestamp"),
        ("sendgrid", "X-Twilio-Email-Event-Webhook-Timestamp"),
        ("discord", "X-Signature-Timestamp"),
        ("hmac-ts", "X-Webhook-Timestamp"),
    ],
)
def test_signed_timestamp_is_the_header_text(spec_id: str, header: str) -> None:
    """Tampering with the timestamp header breaks the signature, even with the window off.
    (Linear's and Mailgun's timestamps are in the body: see their own tests.)"""
    spec = BY_ID[spec_id]
    message = signed(spec)
    bumped = message.with_header(header, str(NOW + 1))
    assert_reason(verify(spec, bumped, ignore_timestamp=True), Reason.BAD_SIGNATURE)
    padded = message.with_header(header, "0" + str(NOW))
    assert_reason(verify(spec, padded, ignore_timestamp=True), Reason.BAD_SIGNATURE)


# --- malformed signature headers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_id", "header", "value"),
    [
        ("zoom", "x-zm-signature", "ab" * 32),
        ("zoom", "x-zm-signature", "sha256=" + "ab" * 32),
        ("hmac-ts", "X-Webhook-Signature", base64.b64encode(b"x" * 32).decode()),
    ],
)
def test_malformed_signature_header(spec_id: str, header: str, value: str) -> None:
    """Only a value that cannot be read: no ``v0=`` version, no configured prefix."""
    spec = BY_ID[spec_id]
    verdict = verify(spec, signed(spec).with_header(header, value))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert verdict.detail
    # Malformed is reported before a missing secret: the message itself is unreadable.
    assert_reason(
        verify(spec, signed(spec).with_header(header, value), secrets=()), Reason.MALFORMED_HEADER
    )


@pytest.mark.parametrize(
    ("spec_id", "header", "value", "found"),
    [
        ("linear", "Linear-Signature", "abc", "the signature has 3 hex digits; Linear sends 64"),
        ("linear", "Linear-Signature", "zz" * 32, "the signature is not hex"),
        ("linear", "Linear-Signature", "ab" * 33, "66 hex digits; Linear sends 64"),
        (
            "linear",
            "Linear-Signature",
            base64.b64encode(b"\x01" * 32).decode(),
            "the signature is base64, Linear sends hex",
        ),
        ("zoom", "x-zm-signature", "v1=" + "ab" * 32, "the signature is v1=, and Zoom signs v0="),
        ("zoom", "x-zm-signature", "v0=" + "AB" * 32, "upper-case hex"),
        ("sendgrid", "X-Twilio-Email-Event-Webhook-Signature", "not base64!", "not base64"),
        ("sendgrid", "X-Twilio-Email-Event-Webhook-Signature", "==", "not base64"),
        (
            "sendgrid",
            "X-Twilio-Email-Event-Webhook-Signature",
            base64.b64encode(b"\x01" * 70).decode(),
            "not of a DER ECDSA signature",
        ),
        ("discord", "X-Signature-Ed25519", "abcd", "4 hex digits; Discord sends 128"),
        ("discord", "X-Signature-Ed25519", "zz" * 64, "the signature is not hex"),
        (
            "discord",
            "X-Signature-Ed25519",
            base64.b64encode(b"\x01" * 64).decode(),
            "the signature is base64, Discord sends hex",
        ),
        (
            "hmac",
            "X-Signature",
            "not hex",
            "the signature is not hex; the configured scheme (sha256, hex) sends hex",
        ),
        ("hmac", "X-Signature", "ab" * 31, "62 hex digits"),
        (
            "hmac-ts",
            "X-Webhook-Signature",
            "sha256=" + base64.b64encode(b"x" * 31).decode(),
            "decodes to 31 bytes",
        ),
        ("hmac-ts", "X-Webhook-Signature", "sha256=%%%", "not base64"),
    ],
)
def test_signature_in_the_wrong_form_is_bad_signature(
    spec_id: str, header: str, value: str, found: str
) -> None:
    """A value that can be read but is not a signature of the scheme's form: it does not
    match, and the hint names what was found."""
    spec = BY_ID[spec_id]
    verdict = verify(spec, signed(spec).with_header(header, value))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict
    assert_reason(
        verify(spec, signed(spec).with_header(header, value), secrets=()), Reason.NO_SECRET
    )


@pytest.mark.parametrize(
    ("spec_id", "key", "found"),
    [
        ("discord", "not hex", "64 hex digits"),
        ("discord", RFC8032_PUBLIC[:-2], "64 hex digits"),
        ("discord", b"\x00" * 31, "64 hex digits"),
        ("sendgrid", "not a key", "PEM"),
        ("sendgrid", base64.b64encode(b"\x30\x00").decode(), "PEM PUBLIC KEY"),
    ],
)
def test_unreadable_verification_key(spec_id: str, key: Secret, found: str) -> None:
    """A key that cannot be one is skipped: alone, nothing can be checked (``no_secret``,
    naming the form expected); beside a key that works, it hides nothing."""
    spec = BY_ID[spec_id]
    verdict = verify(spec, signed(spec), secrets=(key,))
    assert_reason(verdict, Reason.NO_SECRET)
    assert "cannot be a" in verdict.detail
    assert any(found in hint for hint in verdict.hints), verdict
    for keys in ((key, spec.verify_key), (spec.verify_key, key)):
        assert_reason(verify(spec, signed(spec), secrets=keys), Reason.OK)


# --- property: any body signs and verifies, any byte flip breaks it --------------------------


@settings(max_examples=25, deadline=None)
@given(body=st.binary(max_size=300), index=st.integers(min_value=0))
def test_any_body_round_trips_and_any_flip_fails(body: bytes, index: int) -> None:
    for spec in SPECS:
        if not spec.body_covered:
            continue
        message = spec.scheme.sign(Message(body), spec.sign_key, NOW)
        assert verify(spec, message, ignore_timestamp=True).reason is Reason.OK, spec.id
        if body:
            i = index % len(body)
            flipped = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
            verdict = verify(spec, message.with_body(flipped), ignore_timestamp=True)
            assert verdict.reason is Reason.BAD_SIGNATURE, spec.id
