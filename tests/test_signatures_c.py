"""Linear, Zoom, Mailgun, SendGrid, Discord and the generic HMAC scheme.

Known answers: RFC 4231 / RFC 2202 HMAC values, RFC 8032 test 1 (ed25519), and values computed
outside Python with the ``openssl`` command line (HMACs, and an ECDSA P-256 signature made by
``openssl dgst -sign``). Oracles: ``sendgrid`` (``EventWebhook``) and ``discord_interactions``
(``verify_key``), in both directions; neither library signs, so "the library signed" means the
documented algorithm run by another implementation (``cryptography`` directly for ECDSA,
PyNaCl/libsodium for ed25519). Linear, Zoom, Mailgun and the generic scheme have no Python
library: they are checked against the documented algorithm recomputed with ``hmac``/``hashlib``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from discord_interactions import verify_key  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from sendgrid.helpers.eventwebhook import EventWebhook  # type: ignore[import-untyped]

from tests.helpers.sigkit import assert_reason, checker, reserialized
from whrelay.core.errors import UsageError
from whrelay.signatures import REGISTRY, detect_scheme, get_scheme
from whrelay.signatures.base import Check, Message, Reason, Secret, Verification
from whrelay.signatures.discord import DISCORD
from whrelay.signatures.hmac_generic import HMAC, GenericHmac
from whrelay.signatures.linear import LINEAR
from whrelay.signatures.mailgun import MAILGUN
from whrelay.signatures.sendgrid import SENDGRID
from whrelay.signatures.verification import sign_checked
from whrelay.signatures.zoom import ZOOM

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""
chk = checker(NOW)


class Signer(Protocol):
    """What these tests use of a scheme (read-only, so frozen dataclasses fit)."""

    @property
    def name(self) -> str: ...

    @property
    def signature_headers(self) -> tuple[str, ...]: ...

    def sign(self, message: Message, secret: Secret, now: int) -> Message: ...

    def verify(self, message: Message, check: Check) -> Verification: ...


def body_at(ts: int, **extra: object) -> bytes:
    """A JSON body (non-ASCII, spaced) carrying Linear's ``webhookTimestamp`` for ``ts``."""
    doc: dict[str, object] = {"id": "evt_1", "text": "Café ☕", "amount": 1.0, **extra}
    doc["webhookTimestamp"] = ts * 1000
    return json.dumps(doc, ensure_ascii=False).encode()


def binary_body(ts: int) -> bytes:
    """Not UTF-8, yet still a body Linear can read its timestamp from (as Node would)."""
    return b'{"webhookTimestamp": %d, "blob": "\xff\xfe\x80\xc3\x28"}' % (ts * 1000)


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


@dataclass(frozen=True)
class Spec:
    """One scheme as the table-driven tests see it."""

    id: str
    scheme: Signer
    sign_key: Secret
    verify_key: Secret
    other_sign_key: Secret
    other_verify_key: Secret
    tolerance: float | None
    """The default window, or ``None`` when the scheme checks none unless told."""
    timed: bool = True
    """Whether the scheme signs a timestamp at all."""
    body_covered: bool = True
    """Whether the MAC covers the body (not so for Mailgun)."""


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


def signed(
    spec: Spec, ts: int = NOW, body: bytes | None = None, key: Secret | None = None
) -> Message:
    message = Message(body_at(ts) if body is None else body, JSON_CT)
    return spec.scheme.sign(message, spec.sign_key if key is None else key, ts)


def verify(
    spec: Spec,
    message: Message,
    *,
    secrets: tuple[Secret, ...] | None = None,
    tolerance: float | None = None,
    ignore_timestamp: bool = False,
) -> Verification:
    keys = (spec.verify_key,) if secrets is None else secrets
    return spec.scheme.verify(message, Check(keys, NOW, tolerance, ignore_timestamp))


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


# --- Linear ----------------------------------------------------------------------------------

LINEAR_KAT_BODY = b'{"action":"create","type":"Issue","webhookTimestamp":1700000000000}'
LINEAR_KAT_SIG = "91e919dc0fd99df1cae12efef1ca08b082cfa523f101b572ec14ed98863fdf35"
"""``openssl dgst -sha256 -hmac lin_wh_secret`` over LINEAR_KAT_BODY."""


def linear_message(body: bytes, signature: str) -> Message:
    return Message(body, (("Linear-Signature", signature),))


def test_linear_known_answer() -> None:
    message = linear_message(LINEAR_KAT_BODY, LINEAR_KAT_SIG)
    verdict = LINEAR.verify(message, chk("lin_wh_secret"))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert LINEAR.sign(Message(LINEAR_KAT_BODY), "lin_wh_secret", NOW) == message
    expected = hmac.new(b"lin_wh_secret", LINEAR_KAT_BODY, hashlib.sha256).hexdigest()
    assert expected == LINEAR_KAT_SIG


def test_linear_rfc4231_case_2() -> None:
    """RFC 4231 test case 2 (key "Jefe"): a body without webhookTimestamp, so only with the
    timestamp ignored."""
    message = linear_message(
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    )
    assert_reason(LINEAR.verify(message, chk("Jefe", ignore_timestamp=True)), Reason.OK)
    assert_reason(LINEAR.verify(message, chk("Jefe")), Reason.MALFORMED_HEADER)


def test_linear_accepts_upper_case_hex_like_the_sdk() -> None:
    """@linear/sdk decodes the hex (``Buffer.from(sig, "hex")``) and compares bytes."""
    message = linear_message(LINEAR_KAT_BODY, LINEAR_KAT_SIG.upper())
    assert_reason(LINEAR.verify(message, chk("lin_wh_secret")), Reason.OK)


def test_linear_ignores_the_linear_timestamp_header() -> None:
    message = linear_message(LINEAR_KAT_BODY, LINEAR_KAT_SIG).with_header(
        "Linear-Timestamp", str(NOW - 10**6)
    )
    assert_reason(LINEAR.verify(message, chk("lin_wh_secret")), Reason.OK)


def test_linear_timestamp_is_milliseconds() -> None:
    body = b'{"webhookTimestamp":1699999939500}'  # 60.5 s before NOW
    message = LINEAR.sign(Message(body), "k", NOW)
    verdict = LINEAR.verify(message, chk("k"))
    assert_reason(verdict, Reason.TIMESTAMP_TOO_OLD)
    assert verdict.timestamp == 1_699_999_939.5
    body = b'{"webhookTimestamp":1699999940000}'  # exactly 60 s
    assert_reason(LINEAR.verify(LINEAR.sign(Message(body), "k", NOW), chk("k")), Reason.OK)


def test_linear_sign_does_not_edit_the_body() -> None:
    body = body_at(NOW - 3600)
    message = LINEAR.sign(Message(body, JSON_CT), "k", NOW)
    assert message.body == body
    assert dict(message.headers)["Linear-Signature"] == hmac.new(b"k", body, "sha256").hexdigest()
    assert_reason(LINEAR.verify(message, chk("k")), Reason.TIMESTAMP_TOO_OLD)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"action":"create"}', "no webhookTimestamp"),
        (b'{"webhookTimestamp":"1700000000000"}', "not a whole number"),
        (b'{"webhookTimestamp":1700000000000.0}', "not a whole number"),
        (b'{"webhookTimestamp":true}', "not a whole number"),
        (b'{"webhookTimestamp":-1}', "not a whole number"),
        (b'{"webhookTimestamp":null}', "not a whole number"),
        (b'{"webhookTimestamp":1' + b"0" * 20 + b"}", "not a whole number"),
    ],
)
def test_linear_unreadable_webhook_timestamp(body: bytes, words: str) -> None:
    message = LINEAR.sign(Message(body), "k", NOW)
    verdict = LINEAR.verify(message, chk("k"))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert words in verdict.detail
    assert_reason(LINEAR.verify(message, chk("k", ignore_timestamp=True)), Reason.OK)
    assert_reason(LINEAR.verify(message, chk("k", tolerance=0)), Reason.OK)
    assert_reason(LINEAR.verify(message, chk("other", ignore_timestamp=True)), Reason.BAD_SIGNATURE)


def test_sign_checked_signs_and_says_when_what_it_signed_would_not_verify() -> None:
    """``whrelay sign``/``send`` sign what they are given, and say when the receiver's check
    would fail (a Linear body without ``webhookTimestamp``)."""
    signed, check = sign_checked(LINEAR, Message(b'{"a":1}'), "k", NOW)
    assert (
        dict(signed.headers)["Linear-Signature"] == hmac.new(b"k", b'{"a":1}', "sha256").hexdigest()
    )
    assert_reason(check, Reason.MALFORMED_HEADER)
    assert "webhookTimestamp" in check.detail
    _, fresh = sign_checked(LINEAR, Message(body_at(NOW)), "k", NOW)
    assert_reason(fresh, Reason.OK)


def test_sign_checked_refuses_a_key_that_only_verifies() -> None:
    public_key = "whpk_" + base64.b64encode(bytes(32)).decode()
    with pytest.raises(UsageError, match="cannot sign with this standard-webhooks secret"):
        sign_checked(get_scheme("standard-webhooks"), Message(b"{}"), public_key, NOW)


# --- Zoom ------------------------------------------------------------------------------------

ZOOM_KAT_BODY = b'{"event":"meeting.started","payload":{"plainToken":"abc"}}'
ZOOM_KAT_SIG = "v0=ed13c3ce7a281dfc7b37251578fe9e90fbdef37da0b61ca54f1c297659eeabd5"
"""``openssl dgst -sha256 -hmac zoom_secret_token`` over ``v0:1700000000:`` + ZOOM_KAT_BODY."""


def zoom_message(body: bytes, signature: str, stamp: str = str(NOW)) -> Message:
    return Message(body, (("x-zm-signature", signature), ("x-zm-request-timestamp", stamp)))


def test_zoom_known_answer() -> None:
    message = zoom_message(ZOOM_KAT_BODY, ZOOM_KAT_SIG)
    verdict = ZOOM.verify(message, chk("zoom_secret_token"))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert ZOOM.sign(Message(ZOOM_KAT_BODY), "zoom_secret_token", NOW) == message
    content = b"v0:%d:" % NOW + ZOOM_KAT_BODY
    assert "v0=" + hmac.new(b"zoom_secret_token", content, "sha256").hexdigest() == ZOOM_KAT_SIG


def test_zoom_macs_the_raw_body_not_its_json() -> None:
    """Zoom's sample and Rivet MAC ``JSON.stringify(JSON.parse(body))``; whrelay MACs the
    bytes, so a body that only round-trips through JSON does not pass."""
    spaced = json.dumps(json.loads(ZOOM_KAT_BODY)).encode()
    verdict = ZOOM.verify(zoom_message(spaced, ZOOM_KAT_SIG), chk("zoom_secret_token"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_zoom_compares_the_whole_lower_case_value() -> None:
    upper = "v0=" + ZOOM_KAT_SIG[3:].upper()
    verdict = ZOOM.verify(zoom_message(ZOOM_KAT_BODY, upper), chk("zoom_secret_token"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


# --- Mailgun ---------------------------------------------------------------------------------

MAILGUN_KEY = "key-mailgun-signing"
MAILGUN_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f50617283"
MAILGUN_KAT_SIG = "d0d4c836a2dd68dfca868071b48bf58938765e3a57931940b21625976d975a74"
"""``openssl dgst -sha256 -hmac key-mailgun-signing`` over ``1700000000`` + MAILGUN_TOKEN."""


def mailgun_json(signature: object | None = None, **extra: object) -> Message:
    doc: dict[str, object] = {}
    if signature is not None:
        doc["signature"] = signature
    doc.update(extra)
    doc.setdefault("event-data", {"event": "delivered", "recipient": "ü@example.com"})
    return Message(json.dumps(doc, indent=2).encode(), JSON_CT)


KAT_SIGNATURE = {"timestamp": str(NOW), "token": MAILGUN_TOKEN, "signature": MAILGUN_KAT_SIG}


def test_mailgun_known_answer() -> None:
    expected = hmac.new(
        MAILGUN_KEY.encode(), (str(NOW) + MAILGUN_TOKEN).encode(), hashlib.sha256
    ).hexdigest()
    assert expected == MAILGUN_KAT_SIG
    verdict = MAILGUN.verify(mailgun_json(KAT_SIGNATURE), chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert_reason(MAILGUN.verify(mailgun_json(KAT_SIGNATURE), chk("other")), Reason.BAD_SIGNATURE)


def test_mailgun_event_data_is_not_signed() -> None:
    """Documented: only timestamp + token are covered; edits to the event data pass."""
    edited = mailgun_json(KAT_SIGNATURE, **{"event-data": {"event": "failed"}})
    assert_reason(MAILGUN.verify(edited, chk(MAILGUN_KEY)), Reason.OK)
    compact = mailgun_json(KAT_SIGNATURE)
    compact = compact.with_body(reserialized(compact.body))
    assert_reason(MAILGUN.verify(compact, chk(MAILGUN_KEY)), Reason.OK)


@pytest.mark.parametrize("field", ["timestamp", "token", "signature"])
def test_mailgun_fields_are_signed(field: str) -> None:
    changed = dict(KAT_SIGNATURE)
    value = changed[field]
    changed[field] = value[:-1] + ("1" if value[-1] != "1" else "2")
    verdict = MAILGUN.verify(mailgun_json(changed), chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_mailgun_numeric_timestamp_is_read_as_its_digits() -> None:
    numeric = dict(KAT_SIGNATURE, timestamp=NOW)
    assert_reason(MAILGUN.verify(mailgun_json(numeric), chk(MAILGUN_KEY)), Reason.OK)


def test_mailgun_upper_case_hex_fails_like_mailguns_examples() -> None:
    upper = dict(KAT_SIGNATURE, signature=MAILGUN_KAT_SIG.upper())
    assert_reason(MAILGUN.verify(mailgun_json(upper), chk(MAILGUN_KEY)), Reason.BAD_SIGNATURE)


def test_mailgun_parent_signature() -> None:
    parent_token = "f" * 50
    parent = {
        "timestamp": str(NOW),
        "token": parent_token,
        "signature": hmac.new(b"parent-key", f"{NOW}{parent_token}".encode(), "sha256").hexdigest(),
    }
    message = mailgun_json(KAT_SIGNATURE, **{"parent-signature": parent})
    assert_reason(MAILGUN.verify(message, chk(MAILGUN_KEY)), Reason.OK)
    verdict = MAILGUN.verify(message, chk("parent-key"))
    assert_reason(verdict, Reason.OK)
    assert "parent-signature" in verdict.detail
    assert_reason(MAILGUN.verify(message, chk("third")), Reason.BAD_SIGNATURE)


def test_mailgun_sign_sets_the_signature_object() -> None:
    original = mailgun_json(None, extra={"a": 1})
    message = MAILGUN.sign(original, "k", NOW)
    doc = json.loads(message.body)
    assert next(iter(doc)) == "signature"
    assert doc["event-data"] == json.loads(original.body)["event-data"]
    assert doc["extra"] == {"a": 1}
    sig = doc["signature"]
    assert sig["timestamp"] == str(NOW)
    assert len(sig["token"]) == 50
    assert (
        sig["signature"] == hmac.new(b"k", (str(NOW) + sig["token"]).encode(), "sha256").hexdigest()
    )
    assert message.headers == original.headers
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)


def test_mailgun_sign_replaces_an_old_signature() -> None:
    original = mailgun_json(
        KAT_SIGNATURE, **{"parent-signature": dict(KAT_SIGNATURE), "event-data": {"e": 1}}
    )
    message = MAILGUN.sign(original, "k", NOW + 5)
    doc = json.loads(message.body)
    assert list(doc) == ["signature", "event-data"]
    assert doc["signature"]["token"] != MAILGUN_TOKEN
    assert doc["signature"]["timestamp"] == str(NOW + 5)
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)
    assert_reason(MAILGUN.verify(message, chk(MAILGUN_KEY)), Reason.BAD_SIGNATURE)
    assert MAILGUN.sign(original, "k", NOW).body != MAILGUN.sign(original, "k", NOW).body


def test_mailgun_sign_an_empty_body() -> None:
    message = MAILGUN.sign(Message(b""), "k", NOW)
    assert list(json.loads(message.body)) == ["signature"]
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)


def test_mailgun_sign_refuses_a_body_with_nowhere_to_sign() -> None:
    with pytest.raises(UsageError, match="JSON object or a url-encoded form"):
        MAILGUN.sign(Message(binary_body(NOW)[1:]), "k", NOW)
    with pytest.raises(UsageError, match="multipart"):
        MAILGUN.sign(
            Message(b"x", (("Content-Type", "multipart/form-data; boundary=b"),)), "k", NOW
        )


def mailgun_form(**fields: str) -> bytes:
    return urllib.parse.urlencode(fields).encode()


FORM_CT = (("content-type", "application/x-www-form-urlencoded"),)


def test_mailgun_legacy_form_fields() -> None:
    body = mailgun_form(
        event="delivered", timestamp=str(NOW), token=MAILGUN_TOKEN, signature=MAILGUN_KAT_SIG
    )
    assert_reason(MAILGUN.verify(Message(body, FORM_CT), chk(MAILGUN_KEY)), Reason.OK)
    # Without a Content-Type the fields are still found.
    assert_reason(MAILGUN.verify(Message(body), chk(MAILGUN_KEY)), Reason.OK)
    upper = Message(body, (("CONTENT-TYPE", "Application/X-WWW-Form-Urlencoded"),))
    assert_reason(MAILGUN.verify(upper, chk(MAILGUN_KEY)), Reason.OK)
    assert_reason(MAILGUN.verify(Message(body, FORM_CT), chk("other")), Reason.BAD_SIGNATURE)


def test_mailgun_sign_a_form_keeps_the_other_fields_bytes() -> None:
    body = b"event=delivered&recipient=a%40b.c&timestamp=1&token=t&signature=x&note=%FF+1"
    message = MAILGUN.sign(Message(body, FORM_CT), "k", NOW)
    assert message.body.startswith(b"event=delivered&recipient=a%40b.c&note=%FF+1&timestamp=")
    fields = dict(urllib.parse.parse_qsl(message.body.decode("latin-1")))
    assert fields["timestamp"] == str(NOW)
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)


def test_mailgun_legacy_multipart_form() -> None:
    parts = [("event", "delivered"), ("timestamp", str(NOW)), ("token", MAILGUN_TOKEN)]
    parts.append(("signature", MAILGUN_KAT_SIG))
    body = (
        b"".join(
            b'--XyZ\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
            % (name.encode(), value.encode())
            for name, value in parts
        )
        + b"--XyZ--\r\n"
    )
    message = Message(body, (("Content-Type", "multipart/form-data; boundary=XyZ"),))
    assert_reason(MAILGUN.verify(message, chk(MAILGUN_KEY)), Reason.OK)
    assert_reason(MAILGUN.verify(message, chk("other")), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(mailgun_json(None), id="json-without-signature"),
        pytest.param(Message(b""), id="empty"),
        pytest.param(Message(binary_body(NOW)), id="binary"),
        pytest.param(Message(b"\xff\x00\x80"), id="binary-not-json"),
        pytest.param(Message(b"event=delivered", FORM_CT), id="form-without-fields"),
    ],
)
def test_mailgun_missing_signature(message: Message) -> None:
    verdict = MAILGUN.verify(message, chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.MISSING_HEADER)
    assert "in the body" in verdict.detail


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (mailgun_json("abc"), "not an object"),
        (mailgun_json({"timestamp": str(NOW), "signature": MAILGUN_KAT_SIG}), '"token"'),
        (mailgun_json(dict(KAT_SIGNATURE, timestamp="17e8")), "timestamp"),
        (mailgun_json(dict(KAT_SIGNATURE, timestamp=True)), '"timestamp"'),
        (mailgun_json(dict(KAT_SIGNATURE, token="")), "token is empty"),
        (mailgun_json(KAT_SIGNATURE, **{"parent-signature": "x"}), "parent-signature"),
        (Message(mailgun_form(timestamp=str(NOW), token="t"), FORM_CT), "no signature"),
    ],
)
def test_mailgun_malformed_signature(message: Message, words: str) -> None:
    verdict = MAILGUN.verify(message, chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert words in verdict.detail


@pytest.mark.parametrize(
    ("signature", "found"),
    [
        ("nothex", "the signature is not hex; Mailgun sends hex"),
        (MAILGUN_KAT_SIG.upper(), "upper-case hex"),
        (MAILGUN_KAT_SIG[:-2], "62 hex digits; Mailgun sends 64"),
        ("", "the signature is empty"),
    ],
)
def test_mailgun_signature_in_the_wrong_form_is_bad_signature(signature: str, found: str) -> None:
    assert_reason(MAILGUN.verify(mailgun_json(KAT_SIGNATURE), chk(MAILGUN_KEY)), Reason.OK)
    message = mailgun_json(dict(KAT_SIGNATURE, signature=signature))
    verdict = MAILGUN.verify(message, chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict


def test_mailgun_has_no_signature_header() -> None:
    assert MAILGUN.signature_headers == ()


# --- SendGrid --------------------------------------------------------------------------------

SENDGRID_KAT_BODY = (
    b'[{"email":"example@test.com","event":"processed","sg_event_id":"rbtnWrG1DVDGGGFHFyun0A"}]\r\n'
)
SENDGRID_KAT_SIG = (
    "MEUCIQCX1VzNQ8N/vie+R/3/w/D2D1mLW5jxCCoIwEQUi/PQNgIgEsHbY5E9OgqQ"
    "25Hssuj8WkbsK3fJQkagsOV61P5VWQI="
)
"""``openssl dgst -sha256 -sign`` over ``1700000000`` + SENDGRID_KAT_BODY, base64."""
SG_SIG = "X-Twilio-Email-Event-Webhook-Signature"
SG_TS = "X-Twilio-Email-Event-Webhook-Timestamp"


def sendgrid_message(body: bytes, signature: str, stamp: str = str(NOW)) -> Message:
    return Message(body, ((SG_SIG, signature), (SG_TS, stamp)))


def test_sendgrid_known_answer_made_by_openssl() -> None:
    message = sendgrid_message(SENDGRID_KAT_BODY, SENDGRID_KAT_SIG)
    verdict = SENDGRID.verify(message, chk(SENDGRID_PUBLIC_B64))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    oracle = EventWebhook(SENDGRID_PUBLIC_B64)
    assert oracle.verify_signature(SENDGRID_KAT_BODY.decode(), SENDGRID_KAT_SIG, str(NOW)) is True
    # Trimming the trailing CRLF breaks it in both.
    trimmed = SENDGRID_KAT_BODY.rstrip()
    assert_reason(
        SENDGRID.verify(message.with_body(trimmed), chk(SENDGRID_PUBLIC_B64)), Reason.BAD_SIGNATURE
    )
    assert oracle.verify_signature(trimmed.decode(), SENDGRID_KAT_SIG, str(NOW)) is False


def pem_public(b64: str) -> str:
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(SENDGRID_PUBLIC_B64, id="base64-der"),
        pytest.param(
            " " + SENDGRID_PUBLIC_B64[:40] + "\n" + SENDGRID_PUBLIC_B64[40:], id="wrapped"
        ),
        pytest.param(pem_public(SENDGRID_PUBLIC_B64), id="pem"),
        pytest.param(base64.b64decode(SENDGRID_PUBLIC_B64), id="der-bytes"),
        pytest.param(SENDGRID_PRIVATE_PEM, id="private-pem"),
    ],
)
def test_sendgrid_key_forms(key: Secret) -> None:
    message = sendgrid_message(SENDGRID_KAT_BODY, SENDGRID_KAT_SIG)
    assert_reason(SENDGRID.verify(message, chk(key)), Reason.OK)


def test_sendgrid_rejects_a_key_on_another_curve() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    der = p384.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    verdict = SENDGRID.verify(
        sendgrid_message(SENDGRID_KAT_BODY, SENDGRID_KAT_SIG), chk(base64.b64encode(der).decode())
    )
    assert_reason(verdict, Reason.NO_SECRET)
    assert any("P-256" in hint for hint in verdict.hints), verdict


@pytest.mark.parametrize(
    "body", [pytest.param(body_at(NOW), id="json"), pytest.param(b"", id="empty")]
)
def test_sendgrid_oracle_accepts_what_whrelay_signs(body: bytes) -> None:
    for key in (SENDGRID_PRIVATE_PEM, SENDGRID_PRIVATE_PEM.encode()):
        message = SENDGRID.sign(Message(body), key, NOW)
        headers = dict(message.headers)
        assert headers[SG_TS] == str(NOW)
        oracle = EventWebhook(SENDGRID_PUBLIC_B64)
        assert oracle.verify_signature(body.decode(), headers[SG_SIG], headers[SG_TS]) is True
        assert (
            oracle.verify_signature(body.decode() + " ", headers[SG_SIG], headers[SG_TS]) is False
        )


@pytest.mark.parametrize(
    "body", [pytest.param(body_at(NOW), id="json"), pytest.param(binary_body(NOW), id="binary")]
)
def test_sendgrid_whrelay_accepts_the_documented_algorithm(body: bytes) -> None:
    """The library cannot sign; ``cryptography`` run directly stands in for SendGrid."""
    raw = _OTHER_EC.sign(str(NOW).encode() + body, ec.ECDSA(hashes.SHA256()))
    message = sendgrid_message(body, base64.b64encode(raw).decode())
    assert_reason(SENDGRID.verify(message, chk(SENDGRID_OTHER_PUBLIC_PEM)), Reason.OK)
    assert_reason(SENDGRID.verify(message, chk(SENDGRID_PUBLIC_B64)), Reason.BAD_SIGNATURE)


def test_sendgrid_sign_refuses_a_public_key() -> None:
    with pytest.raises(UsageError, match="private key"):
        SENDGRID.sign(Message(b"{}"), SENDGRID_PUBLIC_B64, NOW)
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(UsageError, match="P-256"):
        SENDGRID.sign(Message(b"{}"), p384, NOW)


# --- Discord ---------------------------------------------------------------------------------

DISCORD_KAT_BODY = b'{"type":1}'
DISCORD_KAT_SIG = (
    "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228"
    "ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f"
)
"""PyNaCl, RFC 8032 test 1 key, over ``1700000000`` + DISCORD_KAT_BODY (ed25519 is
deterministic)."""
DC_SIG = "X-Signature-Ed25519"
DC_TS = "X-Signature-Timestamp"


def discord_message(body: bytes, signature: str, stamp: str = str(NOW)) -> Message:
    return Message(body, ((DC_SIG, signature), (DC_TS, stamp)))


def test_discord_rfc8032_key_and_known_answer() -> None:
    seed = bytes.fromhex(RFC8032_SEED)
    assert nacl.signing.SigningKey(seed).verify_key.encode().hex() == RFC8032_PUBLIC
    message = discord_message(DISCORD_KAT_BODY, DISCORD_KAT_SIG)
    verdict = DISCORD.verify(message, chk(RFC8032_PUBLIC))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert DISCORD.sign(Message(DISCORD_KAT_BODY), RFC8032_SEED, NOW) == message
    assert DISCORD.sign(Message(DISCORD_KAT_BODY), seed, NOW) == message
    nacl_form = RFC8032_SEED + RFC8032_PUBLIC  # NaCl's 64-byte secret key
    assert DISCORD.sign(Message(DISCORD_KAT_BODY), nacl_form, NOW) == message
    assert verify_key(DISCORD_KAT_BODY, DISCORD_KAT_SIG, str(NOW), RFC8032_PUBLIC) is True
    assert_reason(DISCORD.verify(message, chk(bytes.fromhex(RFC8032_PUBLIC))), Reason.OK)
    upper = discord_message(DISCORD_KAT_BODY, DISCORD_KAT_SIG.upper())
    assert_reason(DISCORD.verify(upper, chk(RFC8032_PUBLIC.upper())), Reason.OK)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(body_at(NOW), id="json"),
        pytest.param(b"", id="empty"),
        pytest.param(binary_body(NOW), id="binary"),
    ],
)
def test_discord_oracle_both_ways(body: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """discord_interactions verifies bytes, so binary bodies go through the oracle too."""
    message = DISCORD.sign(Message(body), RFC8032_SEED, NOW)
    headers = dict(message.headers)
    assert verify_key(body, headers[DC_SIG], headers[DC_TS], RFC8032_PUBLIC) is True
    assert verify_key(body + b"x", headers[DC_SIG], headers[DC_TS], RFC8032_PUBLIC) is False

    by_nacl = nacl.signing.SigningKey(bytes(range(32))).sign(str(NOW).encode() + body)
    theirs = discord_message(body, by_nacl.signature.hex())
    assert_reason(DISCORD.verify(theirs, chk(OTHER_PUBLIC)), Reason.OK)
    assert_reason(DISCORD.verify(theirs, chk(RFC8032_PUBLIC)), Reason.BAD_SIGNATURE)
    assert verify_key(body, by_nacl.signature.hex(), str(NOW), RFC8032_PUBLIC) is False
    capsys.readouterr()  # verify_key prints the exception of a failed check


def test_discord_sign_refuses_a_bad_seed() -> None:
    with pytest.raises(UsageError, match="seed"):
        DISCORD.sign(Message(b"{}"), "not hex", NOW)
    with pytest.raises(UsageError, match="seed"):
        DISCORD.sign(Message(b"{}"), "ab" * 31, NOW)


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
