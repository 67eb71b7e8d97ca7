"""``whrelay/signatures/sendgrid.py``: ECDSA P-256, ``sendgrid`` as oracle."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook  # type: ignore[import-untyped]

from tests.helpers.schemes_others import binary_body, body_at
from tests.helpers.sigkit import assert_reason, checker
from whrelay.core.errors import UsageError
from whrelay.signatures.base import Message, Reason, Secret
from whrelay.signatures.sendgrid import SENDGRID

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""

chk = checker(NOW)

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

SENDGRID_OTHER_PUBLIC_PEM = (
    _OTHER_EC.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)

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


def pem_public(b64: str) -> str:
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


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
