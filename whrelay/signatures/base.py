"""What every signature scheme shares: the message, the verdict, the Protocol, the helpers.

Schemes are pure: no I/O, the clock passed in, MACs over raw bytes (never decoded text), and
every comparison through ``hmac.compare_digest``. A secret is a ``str`` as the provider hands
it out (``whsec_…``, a hex or PEM key); ``bytes`` means a raw key used as it is, which is how
``explain`` tries "what if the secret was meant another way".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol

from whrelay.core.models import header_value

if TYPE_CHECKING:
    from whrelay.identify.facts import Identification
    from whrelay.signatures.examples import Example

Secret = str | bytes
Headers = tuple[tuple[str, str], ...]


class Reason(StrEnum):
    """Why a verification came out as it did: one vocabulary for every scheme.

    ``malformed_header`` is a header that cannot be read (an entry without the comma or ``=``
    its format needs, a timestamp that is not whole seconds). A header that can be read but
    holds no signature that matches is ``bad_signature``, also when it holds only entries of a
    version the scheme ignores or a signature in the wrong encoding or length (its ``hints``
    say what was found). ``no_secret``: none given, or none of them can be the scheme's key.
    """

    OK = "ok"
    BAD_SIGNATURE = "bad_signature"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    NO_SECRET = "no_secret"


@dataclass(frozen=True, slots=True)
class Message:
    """What a signature covers: the request as the sender made it."""

    body: bytes
    headers: Headers = ()
    url: str | None = None
    """The URL the sender called (Twilio, Square sign it); ``None`` when unknown."""
    method: str = "POST"

    def header(self, name: str) -> str | None:
        """The first value of ``name``, case-insensitively (``header_value``)."""
        return header_value(self.headers, name)

    def with_header(self, name: str, value: str) -> Message:
        """A copy with ``name`` set: the first same-named header replaced in place (the others
        dropped), or appended."""
        wanted = name.lower()
        out: list[tuple[str, str]] = []
        done = False
        for key, old in self.headers:
            if key.lower() == wanted:
                if not done:
                    out.append((key, value))
                    done = True
                continue
            out.append((key, old))
        if not done:
            out.append((name, value))
        return replace(self, headers=tuple(out))

    def with_headers(self, pairs: Sequence[tuple[str, str]]) -> Message:
        message = self
        for name, value in pairs:
            message = message.with_header(name, value)
        return message

    def without_header(self, name: str) -> Message:
        wanted = name.lower()
        return replace(self, headers=tuple(p for p in self.headers if p[0].lower() != wanted))

    def with_body(self, body: bytes) -> Message:
        return replace(self, body=body)

    def with_url(self, url: str | None) -> Message:
        return replace(self, url=url)


@dataclass(frozen=True, slots=True)
class Check:
    """How to verify: the secrets to try, the clock, and the timestamp rules."""

    secrets: tuple[Secret, ...]
    now: float
    """Unix seconds: the moment the signature is judged at."""
    tolerance: float | None = None
    """Seconds; ``None`` means the scheme's own default."""
    ignore_timestamp: bool = False


@dataclass(frozen=True, slots=True)
class Verification:
    """A verdict. ``hints`` name likely causes of a failure (filled in by ``explain``)."""

    scheme: str
    reason: Reason
    detail: str = ""
    timestamp: float | None = None
    """The signed timestamp, when the scheme has one and it could be read."""
    hints: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return self.reason is Reason.OK

    def to_json(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "reason": self.reason.value,
            "scheme": self.scheme,
            "detail": self.detail,
            "timestamp": self.timestamp,
            "hints": list(self.hints),
        }


class Scheme(Protocol):
    """A signature scheme: one small pure module each, registered by name.

    Its module is its provider's one home: besides how to sign and verify, it declares what
    tells the provider's webhooks apart (``identification``), whether the signature covers
    the body (``signs_body``) and an example event (``example``). Detection, ``send``'s and
    ``sign``'s examples, the ``--provider`` help and ``list --provider`` derive from these."""

    @property
    def name(self) -> str: ...

    @property
    def signature_headers(self) -> tuple[str, ...]:
        """The header(s) that carry the signature (the first is the main one)."""
        ...

    @property
    def needs_url(self) -> bool:
        """Whether the signature covers the URL the sender called."""
        ...

    @property
    def signs_body(self) -> bool:
        """Whether the signature covers the body: ``False`` for Mailgun (it signs a token in
        the body) and GitLab (a token in a header), whose signature still matches another
        body."""
        ...

    @property
    def identification(self) -> Identification | None:
        """How the provider's webhooks are told without a secret (detection); ``None`` when
        nothing tells them (the generic ``hmac``)."""
        ...

    @property
    def example(self) -> Example:
        """An example event (``send`` and ``sign`` without ``--data``)."""
        ...

    @property
    def secret_headers(self) -> tuple[str, ...]:
        """Headers (lower case) whose value is the secret itself, not a signature made with
        it (GitLab's token): never recorded in an attempt, never shown."""
        ...

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        """``message`` signed at ``now``: its signature (and timestamp) headers set."""
        ...

    def verify(self, message: Message, check: Check) -> Verification:
        """Whether ``message`` carries a valid signature by one of ``check.secrets``. Each
        secret is tried on its own: one that cannot be a key (``key_problem``) is skipped."""
        ...

    def key_problem(self, secret: Secret) -> str | None:
        """Why ``secret`` cannot be this scheme's verification key: a short phrase naming the
        form expected (never the secret itself); ``None`` when it can be."""
        ...


# --- helpers every scheme uses -------------------------------------------------------------

_INT = re.compile(r"^[0-9]{1,15}$")


class MalformedError(ValueError):
    """A header that is present but cannot be read."""


def utf8(secret: Secret) -> bytes:
    """The key of schemes that use the secret string as UTF-8 (most of them). A secret typed
    with bytes that are not UTF-8 (lone surrogates, from a command line) is those bytes."""
    return secret if isinstance(secret, bytes) else secret.encode("utf-8", "surrogateescape")


def mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def same(a: bytes | str, b: bytes | str) -> bool:
    """Constant-time equality; text is compared as its UTF-8 bytes (header bytes that were
    not UTF-8, held as lone surrogates, are compared as those bytes)."""
    left = a.encode("utf-8", "surrogateescape") if isinstance(a, str) else a
    right = b.encode("utf-8", "surrogateescape") if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def parse_timestamp(text: str) -> int:
    """A Unix timestamp in seconds, strictly: ASCII digits only."""
    text = text.strip()
    if not _INT.match(text):
        raise MalformedError(f"timestamp {text[:40]!r} is not a whole number of seconds")
    return int(text)


def check_time(
    scheme: str,
    timestamp: float,
    check: Check,
    default_tolerance: float,
    *,
    future: bool = True,
) -> Verification | None:
    """A failed ``Verification`` when ``timestamp`` is outside the window, else ``None``.

    ``future=False`` checks only the past (Stripe accepts timestamps from the future).
    """
    if check.ignore_timestamp:
        return None
    tolerance = default_tolerance if check.tolerance is None else check.tolerance
    if tolerance <= 0:
        return None
    skew = check.now - timestamp
    if skew > tolerance:
        return Verification(
            scheme,
            Reason.TIMESTAMP_TOO_OLD,
            f"signed {skew:.0f} s before the check; the tolerance is {tolerance:g} s",
            timestamp,
        )
    if future and -skew > tolerance:
        return Verification(
            scheme,
            Reason.TIMESTAMP_IN_FUTURE,
            f"signed {-skew:.0f} s after the check; the tolerance is {tolerance:g} s",
            timestamp,
        )
    return None


def no_secret(scheme: str) -> Verification:
    return Verification(scheme, Reason.NO_SECRET, "no secret was given")


class KeyJudge(Protocol):
    """What ``usable_keys`` needs of a scheme."""

    @property
    def name(self) -> str: ...

    def key_problem(self, secret: Secret) -> str | None: ...


def text_key_problem(secret: Secret) -> str | None:
    """``key_problem`` of the schemes keyed by the secret's text: any non-empty secret."""
    return None if secret else "the secret is empty"


def usable_keys(scheme: KeyJudge, check: Check) -> tuple[Secret, ...] | Verification:
    """The secrets of ``check`` that can be ``scheme``'s key, in order; or, when there is none,
    the ``no_secret`` verdict saying why (the forms expected as its hints). A secret that
    cannot be a key is skipped, so it never hides a later one that matches."""
    if not check.secrets:
        return no_secret(scheme.name)
    keys: list[Secret] = []
    problems: list[str] = []
    for secret in check.secrets:
        problem = scheme.key_problem(secret)
        if problem is None:
            keys.append(secret)
        else:
            problems.append(problem)
    if keys:
        return tuple(keys)
    count = len(check.secrets)
    detail = (
        f"the secret cannot be a {scheme.name} key"
        if count == 1
        else f"none of the {count} secrets can be a {scheme.name} key"
    )
    return Verification(scheme.name, Reason.NO_SECRET, detail, hints=tuple(dict.fromkeys(problems)))


def missing(scheme: str, *names: str) -> Verification:
    return Verification(scheme, Reason.MISSING_HEADER, f"no {' / '.join(names)} header")


def malformed(scheme: str, detail: str, timestamp: float | None = None) -> Verification:
    return Verification(scheme, Reason.MALFORMED_HEADER, detail, timestamp)


def bad(
    scheme: str,
    detail: str = "",
    timestamp: float | None = None,
    hints: Sequence[str | None] = (),
) -> Verification:
    """``bad_signature``; ``hints`` name what was found (``None``s are left out)."""
    return Verification(
        scheme,
        Reason.BAD_SIGNATURE,
        detail or "no signature matches",
        timestamp,
        tuple(hint for hint in hints if hint),
    )


def ok(scheme: str, timestamp: float | None = None, detail: str = "") -> Verification:
    return Verification(scheme, Reason.OK, detail or "signature matches", timestamp)


_VERSIONED = re.compile(r"^(v[0-9]{1,3})=")


def versioned(value: str, version: str) -> tuple[str, str] | None:
    """``(version, signature)`` of a ``vN=<signature>`` header value (Slack's, Zoom's), or
    ``None`` when it has no ``vN=`` at the start, so cannot be read."""
    if value.startswith(f"{version}="):
        return version, value[len(version) + 1 :]
    found = _VERSIONED.match(value)
    if found is None:
        return None
    return found.group(1), value[found.end() :]


def version_hint(parts: tuple[str, str], version: str, sender: str) -> str | None:
    """The hint for a ``vN=<hex>`` signature that did not match: another version, or hex in
    the wrong form (``sender`` writes lower-case hex of an HMAC-SHA256); ``None`` if neither."""
    found, value = parts
    if found != version:
        return (
            f"the signature is {found}=, and {sender} signs {version}= only: a {found} "
            "signature cannot be checked"
        )
    return encoding_problem(value, "hex", 32, sender, lower_case=True)


def signature_and_time(
    scheme: str, message: Message, signature_header: str, timestamp_header: str
) -> tuple[str, str, int] | Verification:
    """The signature header, the timestamp header as sent, and the timestamp it holds; or the
    verdict naming what is missing or unreadable (the opening of every timestamped scheme)."""
    header = message.header(signature_header)
    stamp = message.header(timestamp_header)
    absent = [
        name for name, value in ((signature_header, header), (timestamp_header, stamp)) if not value
    ]
    if absent:
        return missing(scheme, *absent)
    assert header is not None
    assert stamp is not None
    try:
        return header, stamp, parse_timestamp(stamp)
    except MalformedError as error:
        return malformed(scheme, str(error))


_HEX_DIGITS = re.compile(r"^[0-9a-fA-F]+$")


def _base64(text: str, alphabet: bytes | None = None) -> bytes | None:
    try:
        return base64.b64decode(text, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        return None


def encoding_problem(
    value: str,
    encoding: Literal["hex", "base64"],
    size: int | None,
    sender: str,
    *,
    lower_case: bool = False,
) -> str | None:
    """What is wrong with the *form* of a signature ``sender`` writes as ``size`` bytes in
    ``encoding`` (``lower_case``: lower-case hex, compared as text); ``None`` when its form is
    right and it simply does not match. A hint for ``bad_signature``, never the verdict."""
    text = value.strip()
    if not text:
        return f"the signature is empty; {sender} sends {encoding}"
    is_hex = bool(_HEX_DIGITS.match(text))
    if encoding == "hex":
        if is_hex:
            if (size is not None and len(text) != 2 * size) or len(text) % 2:
                wanted = f"{2 * size}" if size is not None else "an even number of them"
                return f"the signature has {len(text)} hex digits; {sender} sends {wanted}"
            if lower_case and text != text.lower():
                return (
                    f"the signature is upper-case hex; {sender} sends lower-case hex and the "
                    "text is compared"
                )
            return None
        raw = _base64(text + "=" * (-len(text) % 4))
        if raw is not None and (size is None or len(raw) == size):
            return f"the signature is base64, {sender} sends hex"
        return f"the signature is not hex; {sender} sends hex"
    if is_hex and size is not None and len(text) == 2 * size:
        return f"the signature is hex, {sender} sends base64"
    raw = _base64(text)
    if raw is None:
        if _base64(text + "=" * (-len(text) % 4)) is not None:
            return f"the signature's base64 lacks its = padding; {sender} sends it padded"
        if _base64(text + "=" * (-len(text) % 4), b"-_") is not None:
            return (
                f"the signature is URL-safe base64 (- and _); {sender} sends standard "
                "base64 (+ and /)"
            )
        return f"the signature is not base64; {sender} sends base64"
    if not raw:
        return f"the signature is empty; {sender} sends base64"
    if size is not None and len(raw) != size:
        return f"the signature decodes to {len(raw)} bytes; {sender} sends {size}"
    return None
