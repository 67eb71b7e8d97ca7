"""Standard Webhooks (and Svix, which is the same scheme under ``svix-*`` headers).

Signed content: ``id + "." + timestamp + "." + body``. ``v1``: HMAC-SHA256, key =
base64-decoded secret (``whsec_`` prefix optional), standard base64. ``v1a``: ed25519 over the
same content, verified with a ``whpk_`` public key and signed with a ``whsk_`` secret key
(base64 of seed + public key). The header holds space-separated ``version,signature`` entries;
any match passes (rotation). Tolerance ±300 s, both directions.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from whrelay.signatures.base import (
    Check,
    MalformedError,
    Message,
    Secret,
    Verification,
    bad,
    check_time,
    mac,
    malformed,
    missing,
    no_secret,
    ok,
    parse_timestamp,
    same,
)

TOLERANCE = 300.0
SECRET_PREFIX = "whsec_"
PUBLIC_PREFIX = "whpk_"
PRIVATE_PREFIX = "whsk_"


def hmac_key(secret: Secret) -> bytes:
    """The HMAC key of a ``whsec_`` secret: the base64 after the prefix, decoded."""
    if isinstance(secret, bytes):
        return secret
    text = secret.strip()
    text = text.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError("the secret is not base64 after its whsec_ prefix") from None


def _b64_key(text: str, prefix: str, size: int) -> bytes:
    bare = text.strip().removeprefix(prefix)
    try:
        raw = base64.b64decode(bare + "=" * (-len(bare) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"the {prefix} key is not base64") from None
    if len(raw) != size:
        raise MalformedError(f"a {prefix} key must hold {size} bytes, not {len(raw)}")
    return raw


@dataclass(frozen=True, slots=True)
class StandardWebhooks:
    name: str = "standard-webhooks"
    prefix: str = "webhook"
    """Header prefix: ``webhook`` (Standard Webhooks) or ``svix``."""
    fallback_prefix: str | None = None
    """Svix also reads the unbranded ``webhook-*`` headers when its own are absent."""
    needs_url: bool = False

    @property
    def signature_headers(self) -> tuple[str, ...]:
        return (f"{self.prefix}-signature",)

    def _headers(self, message: Message) -> tuple[str | None, str | None, str | None, str]:
        for prefix in (self.prefix, self.fallback_prefix):
            if prefix is None:
                continue
            values = [
                message.header(f"{prefix}-{part}") for part in ("id", "timestamp", "signature")
            ]
            if any(values):
                return values[0], values[1], values[2], prefix
        return None, None, None, self.prefix

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        msg_id, _, _, prefix = self._headers(message)
        msg_id = msg_id or f"msg_{secrets.token_urlsafe(18)}"
        content = f"{msg_id}.{now}.".encode("utf-8", "surrogateescape") + message.body
        if isinstance(secret, str) and secret.startswith(PRIVATE_PREFIX):
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            key = _b64_key(secret, PRIVATE_PREFIX, 64)
            signature = (
                "v1a,"
                + base64.b64encode(
                    Ed25519PrivateKey.from_private_bytes(key[:32]).sign(content)
                ).decode()
            )
        else:
            signature = "v1," + base64.b64encode(mac(hmac_key(secret), content)).decode()
        return message.with_headers(
            [
                (f"{prefix}-id", msg_id),
                (f"{prefix}-timestamp", str(now)),
                (f"{prefix}-signature", signature),
            ]
        )

    def verify(self, message: Message, check: Check) -> Verification:
        msg_id, stamp, header, prefix = self._headers(message)
        absent = [
            f"{prefix}-{part}"
            for part, value in (("id", msg_id), ("timestamp", stamp), ("signature", header))
            if not value
        ]
        if absent:
            return missing(self.name, *absent)
        assert msg_id is not None and stamp is not None and header is not None
        try:
            timestamp = parse_timestamp(stamp)
        except MalformedError as error:
            return malformed(self.name, str(error))
        entries = []
        for entry in header.split():
            version, sep, value = entry.partition(",")
            if not sep:
                return malformed(
                    self.name, f"signature entry {entry[:40]!r} has no comma", timestamp
                )
            entries.append((version, value))
        if not check.secrets:
            return no_secret(self.name)
        # An id that is not UTF-8 came as bytes the sender signed: they are signed back.
        content = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogateescape") + message.body
        matched = False
        for secret in check.secrets:
            try:
                matched = matched or self._matches(secret, content, entries)
            except MalformedError as error:
                return malformed(self.name, str(error), timestamp)
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        if not any(version in ("v1", "v1a") for version, _ in entries):
            return malformed(self.name, "no v1 or v1a signature in the header", timestamp)
        return bad(self.name, timestamp=timestamp)

    @staticmethod
    def _matches(secret: Secret, content: bytes, entries: list[tuple[str, str]]) -> bool:
        if isinstance(secret, str) and secret.startswith(PUBLIC_PREFIX):
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            public = Ed25519PublicKey.from_public_bytes(_b64_key(secret, PUBLIC_PREFIX, 32))
            for version, value in entries:
                if version != "v1a":
                    continue
                try:
                    public.verify(base64.b64decode(value), content)
                    return True
                except (InvalidSignature, binascii.Error, ValueError):
                    continue
            return False
        expected = base64.b64encode(mac(hmac_key(secret), content)).decode()
        found = False
        for version, value in entries:
            if version == "v1" and same(value, expected):
                found = True
        return found


STANDARD_WEBHOOKS = StandardWebhooks()
SVIX = StandardWebhooks(name="svix", prefix="svix", fallback_prefix="webhook")
