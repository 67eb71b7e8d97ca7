"""Explain a failed verification: try the usual culprits and name the one that fixes it.

Each culprit is a "what if": what if the body had not been re-serialized, the trailing newline
not added, the secret meant with (or without) its prefix, the URL the one the sender called,
the signature under the header the scheme reads? A variant that makes the signature check out
becomes a hint. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

from whrelay.signatures.base import Check, Message, Reason, Scheme, Secret, Verification

_PASSING = {Reason.OK, Reason.TIMESTAMP_TOO_OLD, Reason.TIMESTAMP_IN_FUTURE}
"""Outcomes that prove the variant's MAC matched (the timestamp is another matter)."""
_MAX_VARIANT_BODY = 4 * 1024 * 1024


def explain(scheme: Scheme, message: Message, check: Check) -> Verification:
    """``scheme.verify`` plus hints naming the likely cause of a failure."""
    result = scheme.verify(message, check)
    hints = list(result.hints)  # what the scheme itself found
    if result.reason is Reason.BAD_SIGNATURE:
        hints.extend(_first_fix(scheme, check, _body_variants(message)))
        hints.extend(_secret_hints(scheme, message, check))
        if scheme.needs_url:
            hints.extend(_first_fix(scheme, check, _url_variants(message)))
        hints.extend(_first_fix(scheme, check, _header_variants(scheme, message)))
        if not hints:  # neither the scheme (a malformed signature) nor a slip explains it
            hints.append(_other_key_hint(scheme, check))
    elif result.reason is Reason.MISSING_HEADER:
        hints.extend(_first_fix(scheme, check, _header_variants(scheme, message)))
    elif result.reason in (Reason.TIMESTAMP_TOO_OLD, Reason.TIMESTAMP_IN_FUTURE):
        hints.append(_skew_hint(result, check))
    elif result.reason is Reason.NO_SECRET and not check.secrets:
        hints.append("give the signing secret with --secret (or --secret-env VAR)")
    elif result.reason is Reason.MALFORMED_HEADER and scheme.needs_url and not message.url:
        hints.append(f"{scheme.name} signs the URL the sender called: give it with --url")
    if not result.valid:
        hints.extend(_provider_hint(scheme, message))
    return replace(result, hints=tuple(dict.fromkeys(hints)))


def _other_key_hint(scheme: Scheme, check: Check) -> str:
    """What is left when no slip in the body, the secret's form, the URL or the headers
    makes the signature check out: another key signed it, or another body was signed."""
    if len(check.secrets) == 1:
        culprit = "the secret is not the one that signed it"
    else:
        culprit = f"none of the {len(check.secrets)} secrets is the one that signed it"
    return (
        f"no slip in the body, the secret's form{', the URL' if scheme.needs_url else ''} or "
        f"the headers explains it: most likely {culprit} (each endpoint, and test and live "
        "mode, has its own), or the body checked is not the one signed"
    )


def _passes(scheme: Scheme, message: Message, check: Check) -> bool:
    return scheme.verify(message, check).reason in _PASSING


def _first_fix(scheme: Scheme, check: Check, variants: Iterator[tuple[Message, str]]) -> list[str]:
    for variant, hint in variants:
        if _passes(scheme, variant, check):
            return [hint]
    return []


def _body_variants(message: Message) -> Iterator[tuple[Message, str]]:
    """Byte-level slips first (newlines, line endings), then JSON re-serializations: the
    smallest change that explains the failure is the likeliest cause."""
    body = message.body
    if len(body) > _MAX_VARIANT_BODY:
        return
    if body.endswith(b"\n"):
        yield (
            message.with_body(body.rstrip(b"\r\n")),
            "a trailing newline was added to the body after it was signed",
        )
    yield message.with_body(body + b"\n"), "the body's trailing newline was removed after signing"
    if b"\r\n" in body:
        yield (
            message.with_body(body.replace(b"\r\n", b"\n")),
            "line endings changed: the sender signed LF (\\n) but the body has CRLF (\\r\\n)",
        )
    elif b"\n" in body:
        yield (
            message.with_body(body.replace(b"\n", b"\r\n")),
            "line endings changed: the sender signed CRLF (\\r\\n) but the body has LF (\\n)",
        )
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return
    forms = {
        "compact": json.dumps(parsed, separators=(",", ":"), ensure_ascii=False),
        "compact with \\u escapes": json.dumps(parsed, separators=(",", ":")),
        "spaced (Python's default)": json.dumps(parsed, ensure_ascii=False),
        "pretty (2 spaces)": json.dumps(parsed, indent=2, ensure_ascii=False),
        "pretty (4 spaces)": json.dumps(parsed, indent=4, ensure_ascii=False),
    }
    for form, text in forms.items():
        candidate = text.encode()
        if candidate != body:
            yield (
                message.with_body(candidate),
                f"the body was re-serialized: the sender signed the {form} JSON, but the "
                "bytes checked differ (a framework parsed and re-encoded the body; "
                "verify the raw bytes)",
            )


def _secret_hints(scheme: Scheme, message: Message, check: Check) -> list[str]:
    for secret in check.secrets:
        for variant, hint in _secret_variants(secret):
            trial = replace(check, secrets=(variant,))
            if _passes(scheme, message, trial):
                return [hint]
    return []


def _secret_variants(secret: Secret) -> Iterator[tuple[Secret, str]]:
    if isinstance(secret, bytes):
        return
    if secret.startswith("whsec_"):
        bare = secret.removeprefix("whsec_")
        yield (
            bare,
            "the secret matches once its whsec_ prefix is removed: the sender signed with the "
            "bare secret",
        )
        yield from _decoded(bare, "the secret's base64 after whsec_")
    else:
        yield (
            "whsec_" + secret,
            "the secret matches with a whsec_ prefix added: give the whole whsec_… string "
            "(this scheme uses all of it as the key)",
        )
        yield from _decoded(secret, "the secret")
    yield (
        secret.encode("utf-8", "surrogateescape"),
        "the signature was made with the secret's text as the key, not its base64-decoded "
        "bytes (or the other way round): check which form this provider expects",
    )


def _decoded(text: str, what: str) -> Iterator[tuple[Secret, str]]:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return
    if raw:
        yield (
            raw,
            f"the signature was made with {what} base64-decoded; this scheme uses the secret "
            "as text",
        )


def _url_variants(message: Message) -> Iterator[tuple[Message, str]]:
    if not message.url:
        return
    parts = urlsplit(message.url)
    other_scheme = "https" if parts.scheme == "http" else "http"
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    yield (
        message.with_url(urlunsplit(parts._replace(scheme=other_scheme))),
        f"the URL's scheme differs: the sender signed {other_scheme}:// (a tunnel or proxy "
        "terminated TLS?); give the public URL with --url",
    )
    if parts.port is None:
        yield (
            message.with_url(urlunsplit(parts._replace(netloc=f"{host}:{default_port}"))),
            "the URL's port differs: the sender signed it with the default port written out",
        )
    if parts.query:
        yield (
            message.with_url(urlunsplit(parts._replace(query=""))),
            "the URL's query differs: the sender signed the URL without its query string",
        )
    for header in ("x-forwarded-host", "host"):
        forwarded = message.header(header)
        if forwarded and forwarded != parts.netloc:
            for proto in (parts.scheme, other_scheme):
                yield (
                    message.with_url(urlunsplit(parts._replace(scheme=proto, netloc=forwarded))),
                    f"the URL's host differs: the sender signed {proto}://{forwarded}; "
                    "give the public URL with --url (listen: --public-url)",
                )
    path = parts.path
    toggled = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
    yield (
        message.with_url(urlunsplit(parts._replace(path=toggled))),
        "the URL's path differs by a trailing slash",
    )


def _header_variants(scheme: Scheme, message: Message) -> Iterator[tuple[Message, str]]:
    expected = scheme.signature_headers[0] if scheme.signature_headers else None
    if expected is None:
        return
    known = {name.lower() for name in scheme.signature_headers}
    for name, value in message.headers:
        if name.lower() in known or not value:
            continue
        yield (
            message.with_header(expected, value),
            f"the signature is under the header {name!r}, but {scheme.name} reads {expected!r}",
        )


def _skew_hint(result: Verification, check: Check) -> str:
    if result.timestamp is None:
        return "the timestamp is outside the tolerance"
    skew = check.now - result.timestamp
    direction = "behind" if skew > 0 else "ahead of"
    return (
        f"clock skew of {abs(skew):.0f} s: the signed timestamp is {abs(skew):.0f} s {direction} "
        "the time checked at; use --ignore-timestamp to check the signature alone, or "
        "'whrelay replay --resign' to send it again with a fresh timestamp"
    )


def _provider_hint(scheme: Scheme, message: Message) -> list[str]:
    from whrelay.signatures import detect_scheme

    detected = detect_scheme(message.headers)
    if (
        detected
        and detected != scheme.name
        and not {detected, scheme.name}
        <= {
            "svix",
            "standard-webhooks",
        }
    ):
        return [f"the headers look like {detected}'s: try --provider {detected}"]
    return []
