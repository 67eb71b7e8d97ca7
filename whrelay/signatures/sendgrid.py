"""SendGrid (Twilio SendGrid Event Webhook): ECDSA P-256 with SHA-256.

``X-Twilio-Email-Event-Webhook-Signature`` = base64 of a DER ECDSA signature over the
``X-Twilio-Email-Event-Webhook-Timestamp`` header text + the raw body. Verified with the
"verification key" from the SendGrid console: base64 DER SubjectPublicKeyInfo (a PEM
``PUBLIC KEY`` is accepted too; a private key also verifies, through its public half). Signed
with a PEM or base64 DER (PKCS#8) private key. A ``bytes`` secret is a DER (or PEM) key as
it is. No timestamp window is documented and neither official library checks one, so the
timestamp is checked only when the check gives a tolerance.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING

from whrelay.core.errors import UsageError
from whrelay.identify.facts import Identification
from whrelay.signatures.base import (
    Check,
    MalformedError,
    Message,
    Secret,
    Verification,
    bad,
    check_time,
    encoding_problem,
    ok,
    signature_and_time,
    usable_keys,
)
from whrelay.signatures.examples import GENERIC_EXAMPLE, Example

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import (
        EllipticCurvePrivateKey,
        EllipticCurvePublicKey,
    )

TOLERANCE = 0.0
"""No default window: ``check_time`` skips a tolerance of 0 unless the check gives one."""
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def _key_bytes(secret: Secret) -> tuple[bytes, bool]:
    """The key's bytes and whether they are PEM."""
    if isinstance(secret, bytes):
        return secret, secret.lstrip().startswith(b"-----BEGIN")
    text = secret.strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii", "replace"), True
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True), False
    except (binascii.Error, ValueError):
        raise MalformedError("the SendGrid key is neither PEM nor base64 DER") from None


def public_key(secret: Secret) -> EllipticCurvePublicKey:
    """The P-256 public key of ``secret`` (a public key, or a private key's public half)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data, pem = _key_bytes(secret)
    loaded: object
    try:
        if pem and b"PRIVATE KEY" in data:
            loaded = serialization.load_pem_private_key(data, password=None).public_key()
        elif pem:
            loaded = serialization.load_pem_public_key(data)
        else:
            try:
                loaded = serialization.load_der_public_key(data)
            except ValueError:
                loaded = serialization.load_der_private_key(data, password=None).public_key()
    except (ValueError, TypeError):
        raise MalformedError(
            "the SendGrid verification key cannot be read (expected base64 DER "
            "SubjectPublicKeyInfo or a PEM PUBLIC KEY)"
        ) from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise MalformedError("the SendGrid verification key is not a P-256 (secp256r1) EC key")
    return loaded


def private_key(secret: Secret) -> EllipticCurvePrivateKey:
    """The P-256 private key of ``secret`` (PEM, or base64 DER PKCS#8)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        data, pem = _key_bytes(secret)
        loaded: object = (
            serialization.load_pem_private_key(data, password=None)
            if pem
            else serialization.load_der_private_key(data, password=None)
        )
    except (MalformedError, ValueError, TypeError):
        raise UsageError(
            "sendgrid signs with an EC P-256 private key: give it as PEM or base64 DER (PKCS#8)"
        ) from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise UsageError("sendgrid signs with an EC P-256 (secp256r1) private key")
    return loaded


IDENTIFICATION = Identification(headers=("x-twilio-email-event-webhook-signature",))
EXAMPLE = GENERIC_EXAMPLE


@dataclass(frozen=True, slots=True)
class SendGrid:
    name: str = "sendgrid"
    signature_headers: tuple[str, ...] = (SIGNATURE_HEADER,)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        stamp = str(now)
        signature = private_key(secret).sign(
            stamp.encode() + message.body, ec.ECDSA(hashes.SHA256())
        )
        return message.with_headers(
            [
                (SIGNATURE_HEADER, base64.b64encode(signature).decode()),
                (TIMESTAMP_HEADER, stamp),
            ]
        )

    def key_problem(self, secret: Secret) -> str | None:
        """The verification key must load as a P-256 public key (or a private key's half)."""
        try:
            public_key(secret)
        except MalformedError as error:
            return str(error)
        return None

    def verify(self, message: Message, check: Check) -> Verification:
        found = signature_and_time(self.name, message, SIGNATURE_HEADER, TIMESTAMP_HEADER)
        if isinstance(found, Verification):
            return found
        header, stamp, timestamp = found
        value = header.strip()
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        try:
            signature = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        content = stamp.strip().encode() + message.body
        matched = False
        for key in keys if signature else ():
            try:
                public_key(key).verify(signature, content, ec.ECDSA(hashes.SHA256()))
                matched = True
            except (InvalidSignature, ValueError):
                continue
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        hint = encoding_problem(value, "base64", None, "SendGrid")
        if hint is None and signature[:1] != b"\x30":
            hint = "the signature is base64 but not of a DER ECDSA signature, which SendGrid sends"
        return bad(self.name, timestamp=timestamp, hints=[hint])


SENDGRID = SendGrid()
