"""Standard Webhooks (and Svix, which is the same scheme under ``svix-*`` headers).

Signed content: ``id + "." + timestamp + "." + body``. ``v1``: HMAC-SHA256, key =
base64-decoded secret (``whsec_`` prefix optional), standard base64. ``v1a``: ed25519 over the
same content, verified with a ``whpk_`` public key and signed with a ``whsk_`` secret key
(base64 of seed + public key), which also verifies (through its public half). The header
holds space-separated ``version,signature`` entries; any match passes (rotation); entries of
another version are ignored, as the specification says. Tolerance ±300 s, both directions.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
    mac,
    malformed,
    missing,
    ok,
    parse_timestamp,
    same,
    usable_keys,
)
from whrelay.signatures.examples import GENERIC_EXAMPLE, Example

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TOLERANCE = 300.0
SECRET_PREFIX = "whsec_"
PUBLIC_PREFIX = "whpk_"
PRIVATE_PREFIX = "whsk_"


def hmac_key(secret: Secret) -> bytes:
    """The HMAC key of a ``whsec_`` secret: the base64 after the prefix, decoded."""
    if isinstance(secret, bytes):
        return secret
    text = secret.strip()
    if text.startswith(PUBLIC_PREFIX):
        raise MalformedError(
            "a whpk_ key is a public key: it checks v1a signatures but cannot sign "
            "(sign with the whsk_ key)"
        )
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


def _public_key(secret: Secret) -> Ed25519PublicKey | None:
    """The ed25519 public key of a ``whpk_`` key (or of a ``whsk_`` key's public half); ``None``
    for an HMAC secret. ``MalformedError`` for an ed25519 key that cannot be read."""
    if not isinstance(secret, str):
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    text = secret.strip()
    if text.startswith(PUBLIC_PREFIX):
        raw = _b64_key(text, PUBLIC_PREFIX, 32)
        try:
            return Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise MalformedError("the whpk_ key is not an ed25519 public key") from None
    if text.startswith(PRIVATE_PREFIX):
        seed = _b64_key(text, PRIVATE_PREFIX, 64)[:32]
        return Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return None


_FORMS = (
    "whsec_ followed by base64 (the HMAC secret), or a whpk_ ed25519 public key "
    "(whpk_ + base64 of 32 bytes)"
)


IDENTIFICATION = Identification(
    headers=("webhook-id", "webhook-signature"),
    event_fields=(("type",),),
    id_headers=("webhook-id",),
)
"""Other senders send these headers too (Svix, GitLab with a signing token): the registry
lists those before ``standard-webhooks``, so that detection tries them first."""
SVIX_IDENTIFICATION = Identification(
    headers=("svix-id",),
    event_fields=(("type",),),
    id_headers=("svix-id",),
)


@dataclass(frozen=True, slots=True)
class StandardWebhooks:
    name: str = "standard-webhooks"
    prefix: str = "webhook"
    """Header prefix: ``webhook`` (Standard Webhooks) or ``svix``."""
    fallback_prefix: str | None = None
    """Svix also reads the unbranded ``webhook-*`` headers when its own are absent."""
    title: str = "Standard Webhooks"
    """The name people write, for messages."""
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = GENERIC_EXAMPLE
    secret_headers: tuple[str, ...] = ()

    @property
    def signature_headers(self) -> tuple[str, ...]:
        return (f"{self.prefix}-signature",)

    def key_problem(self, secret: Secret) -> str | None:
        """A ``whsec_`` secret must be base64 after its prefix (the prefix is optional, as in
        the libraries); ``whpk_``/``whsk_`` keys must hold 32/64 bytes. ``bytes`` is a raw
        HMAC key."""
        if isinstance(secret, bytes):
            return None if secret else "the key is empty"
        text = secret.strip()
        if text.startswith(PUBLIC_PREFIX):
            try:
                _public_key(text)
            except MalformedError:
                return f"a {self.title} public key is whpk_ followed by the base64 of 32 bytes"
            return None
        if text.startswith(PRIVATE_PREFIX):
            try:
                _public_key(text)
            except MalformedError:
                return (
                    f"a {self.title} signing key is whsk_ followed by the base64 of 64 bytes "
                    "(seed and public key)"
                )
            return None
        try:
            key = hmac_key(text)
        except MalformedError:
            return f"a {self.title} secret is {_FORMS}"
        if not key:
            return f"nothing follows whsec_: a {self.title} secret is {_FORMS}"
        return None

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
        if isinstance(secret, str) and secret.strip().startswith(PRIVATE_PREFIX):
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
        if not entries:
            return malformed(self.name, f"{prefix}-signature holds no signature entry", timestamp)
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        # An id that is not UTF-8 came as bytes the sender signed: they are signed back.
        content = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogateescape") + message.body
        matched = any(self._matches(key, content, entries) for key in keys)
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        return self._mismatch(entries, keys, timestamp)

    @staticmethod
    def _matches(key: Secret, content: bytes, entries: list[tuple[str, str]]) -> bool:
        public = _public_key(key)
        if public is not None:
            from cryptography.exceptions import InvalidSignature

            for version, value in entries:
                if version != "v1a":
                    continue
                try:
                    public.verify(base64.b64decode(value), content)
                    return True
                except (InvalidSignature, binascii.Error, ValueError):
                    continue
            return False
        expected = base64.b64encode(mac(hmac_key(key), content)).decode()
        found = False
        for version, value in entries:
            if version == "v1" and same(value, expected):
                found = True
        return found

    def _mismatch(
        self, entries: list[tuple[str, str]], keys: tuple[Secret, ...], timestamp: int
    ) -> Verification:
        """``bad_signature``, with a hint naming what the header holds when that explains it."""
        versions = list(dict.fromkeys(version for version, _ in entries))
        if not {"v1", "v1a"} & set(versions):
            shown = ", ".join(v[:20] or "''" for v in versions[:4])
            return bad(
                self.name,
                "no v1 or v1a signature to check",
                timestamp,
                [
                    f"the header holds only {shown} entries, which {self.title} says to "
                    "ignore (it checks v1, and v1a with a whpk_ key)"
                ],
            )
        ed25519 = [key for key in keys if _public_key(key) is not None]
        hint: str | None
        if "v1" not in versions and not ed25519:
            hint = (
                "the header holds only v1a (ed25519) signatures: they are checked with the "
                "sender's whpk_ public key, not a whsec_ secret"
            )
        elif "v1a" not in versions and len(ed25519) == len(keys):
            hint = (
                "the header holds only v1 (HMAC) signatures: they are checked with the whsec_ "
                "secret, not a whpk_ key"
            )
        else:
            found = [
                encoding_problem(value, "base64", 32, self.title)
                for version, value in entries
                if version == "v1"
            ]
            hint = found[0] if found and all(found) else None
        return bad(self.name, timestamp=timestamp, hints=[hint])


STANDARD_WEBHOOKS = StandardWebhooks()
SVIX = StandardWebhooks(
    name="svix",
    prefix="svix",
    fallback_prefix="webhook",
    title="Svix",
    identification=SVIX_IDENTIFICATION,
)
