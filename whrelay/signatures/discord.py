"""Discord (interactions and webhook events): ed25519.

``X-Signature-Ed25519`` = hex of an ed25519 signature over the ``X-Signature-Timestamp``
header text + the raw body. Verified with the application's public key (hex, 32 bytes);
signed with the private key as a hex 32-byte seed (a 64-byte seed + public key, NaCl's form,
is accepted too). A ``bytes`` secret is the raw 32-byte key. No timestamp window is documented
and neither official library checks one, so the timestamp is checked only when the check gives
a tolerance.
"""

from __future__ import annotations

import re
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
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TOLERANCE = 0.0
"""No default window: ``check_time`` skips a tolerance of 0 unless the check gives one."""
SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{128}$")


def _raw_key(secret: Secret, sizes: tuple[int, ...]) -> bytes:
    if isinstance(secret, bytes):
        raw = secret
    else:
        text = secret.strip()
        if not re.fullmatch(r"[0-9a-fA-F]*", text) or len(text) % 2:
            raise MalformedError("the Discord key is not hex")
        raw = bytes.fromhex(text)
    if len(raw) not in sizes:
        raise MalformedError(f"the Discord key holds {len(raw)} bytes, not {sizes[0]}")
    return raw


IDENTIFICATION = Identification(headers=("x-signature-ed25519",))
EXAMPLE = GENERIC_EXAMPLE


@dataclass(frozen=True, slots=True)
class Discord:
    name: str = "discord"
    signature_headers: tuple[str, ...] = (SIGNATURE_HEADER,)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            seed = _raw_key(secret, (32, 64))[:32]
        except MalformedError:
            raise UsageError(
                "discord signs with an ed25519 private key: give its 32-byte seed as hex"
            ) from None
        stamp = str(now)
        signature = Ed25519PrivateKey.from_private_bytes(seed).sign(stamp.encode() + message.body)
        return message.with_headers(
            [(SIGNATURE_HEADER, signature.hex()), (TIMESTAMP_HEADER, stamp)]
        )

    def key_problem(self, secret: Secret) -> str | None:
        """The application's public key: 64 hex digits (a ``bytes`` secret: its 32 bytes)."""
        try:
            _public_key(secret)
        except MalformedError:
            return "a Discord key is the application's public key: 64 hex digits (32 bytes)"
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
        from cryptography.exceptions import InvalidSignature

        readable = _SIGNATURE.match(value) is not None
        signature = bytes.fromhex(value) if readable else b""
        content = stamp.strip().encode() + message.body
        matched = False
        for key in keys if readable else ():
            try:
                _public_key(key).verify(signature, content)
                matched = True
            except InvalidSignature:
                continue
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        return bad(
            self.name, timestamp=timestamp, hints=[encoding_problem(value, "hex", 64, "Discord")]
        )


def _public_key(secret: Secret) -> Ed25519PublicKey:
    """The ed25519 public key ``secret`` holds; ``MalformedError`` if it holds none."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        return Ed25519PublicKey.from_public_bytes(_raw_key(secret, (32,)))
    except ValueError:
        raise MalformedError("the Discord key is not an ed25519 public key") from None


DISCORD = Discord()
