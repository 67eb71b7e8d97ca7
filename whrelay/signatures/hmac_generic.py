"""A generic HMAC scheme for senders without a module of their own.

``GenericHmac`` describes one: the header that carries the signature, the hash (``sha1``,
``sha256``, ``sha512``), the encoding (``hex`` or ``base64``), a prefix the value starts with
(``sha256=``), an optional timestamp header, and the signed content as a template with the
placeholders ``{body}`` (the raw body bytes) and ``{timestamp}`` (the timestamp header's text);
the rest of the template is UTF-8, and ``{{`` / ``}}`` are literal braces. The key is the
secret as UTF-8 (a ``bytes`` secret as it is). The signature is decoded and compared as bytes,
so upper- and lower-case hex both pass. ``tolerance`` (±, seconds) applies only with a
timestamp header; a check's own tolerance overrides it, and 0 means no window.

The default, ``HMAC``, is ``X-Signature: <hex HMAC-SHA256(secret, body)>``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from string import Formatter
from typing import Literal

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
    mac,
    malformed,
    missing,
    ok,
    parse_timestamp,
    same,
    text_key_problem,
    usable_keys,
    utf8,
)
from whrelay.signatures.examples import GENERIC_EXAMPLE, Example

DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha512": 64}
ENCODINGS = ("hex", "base64")
PLACEHOLDERS = ("body", "timestamp")


def _template_fields(template: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, placeholder or ``None``) pieces; ``UsageError`` if bad."""
    try:
        pieces = list(Formatter().parse(template))
    except ValueError:
        raise UsageError(
            f"the signed-content template {template!r} has an unmatched brace",
            hint="write {{ or }} for a literal brace",
        ) from None
    out: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in pieces:
        if field is not None and (field not in PLACEHOLDERS or spec or conversion):
            raise UsageError(
                f"unknown placeholder {{{field}}} in the signed-content template {template!r}",
                hint="the placeholders are {body} and {timestamp}, e.g. '{timestamp}.{body}'",
            )
        out.append((literal, field))
    return out


@dataclass(frozen=True, slots=True)
class GenericHmac:
    header: str = "X-Signature"
    """The header that carries the signature."""
    algorithm: str = "sha256"
    """``sha1``, ``sha256`` or ``sha512`` (any case)."""
    encoding: str = "hex"
    """``hex`` or ``base64`` (standard alphabet; any case)."""
    prefix: str = ""
    """Text before the encoded MAC in the header, e.g. ``sha256=``."""
    timestamp_header: str | None = None
    """The header that carries a Unix timestamp (seconds), or ``None``."""
    template: str = "{body}"
    """The signed content: ``{body}`` and ``{timestamp}`` placeholders, the rest UTF-8."""
    tolerance: float = 300.0
    """Seconds either way; used only with ``timestamp_header``; 0 means no window."""
    name: str = "hmac"
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = None
    """None: nothing tells a generic HMAC sender; give ``--provider hmac``."""
    example: Example = GENERIC_EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # "SHA256" and " Base64 " mean the obvious; frozen, so set through object.
        object.__setattr__(self, "algorithm", self.algorithm.strip().lower())
        object.__setattr__(self, "encoding", self.encoding.strip().lower())
        if self.algorithm not in DIGEST_SIZES:
            raise UsageError(
                f"unknown HMAC algorithm {self.algorithm!r}",
                hint="use " + ", ".join(DIGEST_SIZES),
            )
        if self.encoding not in ENCODINGS:
            raise UsageError(
                f"unknown signature encoding {self.encoding!r}",
                hint="use " + " or ".join(ENCODINGS),
            )
        if not self.header.strip():
            raise UsageError("the signature header name is empty")
        if self.timestamp_header is not None and not self.timestamp_header.strip():
            raise UsageError("the timestamp header name is empty")
        fields = [field for _, field in _template_fields(self.template) if field]
        if "body" not in fields:
            raise UsageError(
                f"the signed-content template {self.template!r} does not contain {{body}}",
                hint="a signature that does not cover the body proves nothing about it",
            )
        if "timestamp" in fields and self.timestamp_header is None:
            raise UsageError(
                "the signed-content template uses {timestamp} but no timestamp header is set",
                hint="name the header that carries the timestamp",
            )
        if self.timestamp_header is not None and "timestamp" not in fields:
            raise UsageError(
                "a timestamp header is set but the signed-content template does not contain "
                "{timestamp}, so the timestamp would not be signed",
                hint="put it in the template, e.g. '{timestamp}.{body}'",
            )
        if not math.isfinite(self.tolerance) or self.tolerance < 0:
            raise UsageError(f"the tolerance must be 0 or more seconds, not {self.tolerance!r}")

    @property
    def signature_headers(self) -> tuple[str, ...]:
        return (self.header,)

    def content(self, body: bytes, timestamp: str = "") -> bytes:
        """The bytes this scheme signs."""
        out = bytearray()
        for literal, field in _template_fields(self.template):
            out += literal.encode("utf-8")
            if field == "body":
                out += body
            elif field == "timestamp":
                out += timestamp.encode("utf-8")
        return bytes(out)

    def _encode(self, digest: bytes) -> str:
        if self.encoding == "hex":
            return digest.hex()
        return base64.b64encode(digest).decode("ascii")

    def _decode(self, text: str) -> bytes:
        size = DIGEST_SIZES[self.algorithm]
        wrong = MalformedError(
            f"{self.header} is not {self.encoding} of a {self.algorithm} HMAC ({size} bytes)"
        )
        if self.encoding == "hex":
            if not re.fullmatch(f"[0-9a-fA-F]{{{2 * size}}}", text):
                raise wrong
            return bytes.fromhex(text)
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise wrong from None
        if len(raw) != size:
            raise wrong
        return raw

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        stamp = str(now) if self.timestamp_header else ""
        digest = mac(utf8(secret), self.content(message.body, stamp), self.algorithm)
        pairs = [(self.header, self.prefix + self._encode(digest))]
        if self.timestamp_header:
            pairs.append((self.timestamp_header, stamp))
        return message.with_headers(pairs)

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(self.header)
        stamp = message.header(self.timestamp_header) if self.timestamp_header else None
        absent = [self.header] if not header else []
        if self.timestamp_header and not stamp:
            absent.append(self.timestamp_header)
        if absent:
            return missing(self.name, *absent)
        assert header is not None
        timestamp: int | None = None
        if stamp is not None:
            try:
                timestamp = parse_timestamp(stamp)
            except MalformedError as error:
                return malformed(self.name, str(error))
        value = header.strip()
        if not value.startswith(self.prefix):
            return malformed(
                self.name, f"{self.header} does not start with {self.prefix!r}", timestamp
            )
        encoded = value[len(self.prefix) :]
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        try:
            given: bytes | None = self._decode(encoded)
        except MalformedError:
            given = None
        content = self.content(message.body, stamp.strip() if stamp is not None else "")
        matched = False
        for key in keys:
            if given is not None and same(given, mac(utf8(key), content, self.algorithm)):
                matched = True
        if timestamp is not None:
            late = check_time(self.name, timestamp, check, self.tolerance)
            if late is not None:
                note = "the signature itself matches" if matched else "the signature does not match"
                return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        hint = None
        if given is None:  # decoded leniently (any hex case, base64 padding optional)
            expected: Literal["hex", "base64"] = "hex" if self.encoding == "hex" else "base64"
            sender = f"the configured scheme ({self.algorithm}, {self.encoding})"
            hint = encoding_problem(encoded, expected, DIGEST_SIZES[self.algorithm], sender)
        return bad(self.name, timestamp=timestamp, hints=[hint])

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)


HMAC = GenericHmac()
