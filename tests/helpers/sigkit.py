"""Helpers shared by the signature scheme tests (``tests/unit/signatures/``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from whrelay.signatures.base import Check, Reason, Secret, Verification


def checker(now: float) -> Callable[..., Check]:
    """``chk(*secrets, tolerance=..., ignore_timestamp=...)``: a ``Check`` at ``now`` unless
    told otherwise."""

    def chk(
        *secrets: Secret,
        now: float = now,
        tolerance: float | None = None,
        ignore_timestamp: bool = False,
    ) -> Check:
        return Check(secrets, now, tolerance, ignore_timestamp)

    return chk


def reserialized(body: bytes) -> bytes:
    """The same JSON as a framework would write it back: compact, ASCII escapes."""
    out = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert out != body
    return out


def flip_byte(body: bytes, index: int = 0) -> bytes:
    assert body
    return body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]


def assert_reason(verdict: Verification, reason: Reason) -> None:
    assert verdict.reason is reason, verdict


# --- keys of the asymmetric schemes: (to sign, to verify) ------------------------------------


def discord_keys() -> tuple[str, str]:
    """(private 32-byte seed hex to sign, public key hex to verify)."""
    private = Ed25519PrivateKey.generate()
    return private.private_bytes_raw().hex(), private.public_key().public_bytes_raw().hex()


def sendgrid_keys() -> tuple[str, str]:
    """(PKCS#8 PEM private key to sign, base64 DER SubjectPublicKeyInfo to verify)."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode()


def whsk_keys() -> tuple[str, str]:
    """(whsk_ secret key to sign, whpk_ public key to verify) for Standard Webhooks v1a."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    return (
        "whsk_" + base64.b64encode(private.private_bytes_raw() + public).decode(),
        "whpk_" + base64.b64encode(public).decode(),
    )
