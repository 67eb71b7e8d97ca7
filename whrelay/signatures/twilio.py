"""Twilio: ``X-Twilio-Signature: <base64 HMAC-SHA1(auth token, URL + sorted form params)>``.

The string signed is the full URL Twilio called (scheme, host, port, path, query), then for
each form parameter name in sorted order the name followed by its value (the values of a
repeated name sorted, duplicates once, as Twilio's libraries do). Parameters are the decoded
``application/x-www-form-urlencoded`` fields of the raw body, handled as bytes, so reordering
or re-encoding the form does not matter but changing a value does. No body: the URL alone.

JSON bodies: Twilio appends ``bodySHA256=<hex SHA-256 of the body>`` to the URL and signs the
URL alone; the body must then hash to that value. The URL is tried as given and with the
default port added or removed (``:443``/``:80``), as Twilio's libraries do. A request with
``X-Twilio-Webhooks-Signature-Settings: …,algorithm=HMAC_SHA256`` (SharedKey signing) is
checked with HMAC-SHA256 instead. No timestamp, one signature: rotation means trying the
primary and the secondary token.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

from whrelay.core.errors import UsageError
from whrelay.identify.facts import Identification
from whrelay.signatures.base import (
    Check,
    Message,
    Secret,
    Verification,
    bad,
    encoding_problem,
    mac,
    malformed,
    missing,
    ok,
    same,
    text_key_problem,
    usable_keys,
    utf8,
)
from whrelay.signatures.examples import Example

HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
BODY_HASH_PARAM = "bodySHA256"
_ALGORITHMS = {"HMAC_SHA1": ("sha1", 20), "HMAC_SHA256": ("sha256", 32)}
_DEFAULT_PORTS = {"https": 443, "http": 80}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$", re.DOTALL)
_PORT = re.compile(r":([0-9]+)$")
_BODY_HASH_VALUE = re.compile(r"([?&]bodySHA256=)[^&#]*")
URL_NEEDED = (
    "twilio signs the URL the sender called, and it is not known: "
    "give it with --url (listen: --public-url)"
)


def algorithm(message: Message) -> str:
    """The algorithm the settings header names (``HMAC_SHA1`` without one)."""
    for part in (message.header(SETTINGS_HEADER) or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip().lower() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def url_variants(url: str) -> list[tuple[str, str]]:
    """``url`` as given, then with its default port added or removed; each with a note."""
    out = [(url, "")]
    match = _URL.match(url)
    if match is None:
        return out
    scheme, netloc, rest = match.groups()
    default = _DEFAULT_PORTS.get(scheme.lower())
    if default is None:
        return out
    userinfo, at, hostport = netloc.rpartition("@")
    port = _PORT.search(hostport)
    if port is None:
        out.append(
            (
                f"{scheme}://{userinfo}{at}{hostport}:{default}{rest}",
                f"with the default port :{default} written out",
            )
        )
    elif int(port.group(1)) == default:
        out.append(
            (
                f"{scheme}://{userinfo}{at}{hostport[: port.start()]}{rest}",
                f"without the default port :{default}",
            )
        )
    return out


def body_hash(url: str) -> str | None:
    """The ``bodySHA256`` the URL carries (``""`` when empty), or ``None``."""
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get(BODY_HASH_PARAM)
    return values[0] if values else None


def form_params(body: bytes) -> bytes:
    """The sorted names and values of a form body, concatenated, as bytes."""
    grouped: dict[bytes, set[bytes]] = {}
    for part in body.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        grouped.setdefault(unquote_to_bytes(name.replace(b"+", b" ")), set()).add(
            unquote_to_bytes(value.replace(b"+", b" "))
        )
    return b"".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))


def _signature(secret: Secret, content: bytes, digest: str) -> str:
    return base64.b64encode(mac(utf8(secret), content, digest)).decode()


def _text(url: str) -> bytes:
    return url.encode("utf-8", "surrogateescape")


IDENTIFICATION = Identification(
    headers=("x-twilio-signature",),
    id_headers=("i-twilio-idempotency-token",),
)
EXAMPLE = Example(
    "MessageSid=SM0000000000000000000000000whrelay&From=%2B15005550006&To=%2B15005550001"
    "&Body=Hello+from+whrelay",
    (("Content-Type", "application/x-www-form-urlencoded"),),
)


@dataclass(frozen=True, slots=True)
class Twilio:
    name: str = "twilio"
    signature_headers: tuple[str, ...] = (HEADER,)
    needs_url: bool = True
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        """``message`` signed for its URL. A URL carrying ``bodySHA256`` gets the body's hash
        there (the returned message's ``url``), and the URL alone is signed."""
        if message.url is None:
            raise UsageError(
                "twilio signs the URL the request is sent to: it is needed to sign",
                hint="give it with --url",
            )
        name = algorithm(message)
        if name not in _ALGORITHMS:
            raise UsageError(
                f"unsupported Twilio signature algorithm {name!r} in {SETTINGS_HEADER}",
                hint="known: " + ", ".join(_ALGORITHMS),
            )
        digest = _ALGORITHMS[name][0]
        url = message.url
        if body_hash(url) is not None:
            url = _BODY_HASH_VALUE.sub(
                lambda m: m.group(1) + hashlib.sha256(message.body).hexdigest(), url, count=1
            )
            content = _text(url)
        else:
            content = _text(url) + form_params(message.body)
        return message.with_url(url).with_header(HEADER, _signature(secret, content, digest))

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER)
        if not header:
            return missing(self.name, HEADER)
        if message.url is None:
            return malformed(self.name, URL_NEEDED)
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        name = algorithm(message)
        if name not in _ALGORITHMS:
            return bad(
                self.name,
                f"{SETTINGS_HEADER} names the algorithm {name[:40]!r}, which cannot be checked",
                hints=[
                    f"the signature is made with {name[:40]!r}; Twilio signs with "
                    + " or ".join(_ALGORITHMS)
                ],
            )
        digest, size = _ALGORITHMS[name]
        value = header.strip()
        url = message.url
        expected_hash = body_hash(url)
        params = b"" if expected_hash is not None else form_params(message.body)
        variants = url_variants(url)
        note: str | None = None
        for key in keys:
            for candidate, how in variants:
                if same(value, _signature(key, _text(candidate) + params, digest)):
                    note = how
                    break
            if note is not None:
                break
        if note is None:
            return bad(
                self.name,
                f"no signature matches (signed URL assumed: {url})",
                hints=[encoding_problem(value, "base64", size, f"Twilio ({name})")],
            )
        if expected_hash is not None:
            actual = hashlib.sha256(message.body).hexdigest()
            if not same(expected_hash.lower().encode("utf-8", "surrogateescape"), actual):
                return bad(
                    self.name,
                    f"the signature matches the URL, but the body's SHA-256 is not the URL's "
                    f"{BODY_HASH_PARAM}: the body was changed",
                )
        return ok(self.name, detail=f"signature matches the URL {note}" if note else "")


TWILIO = Twilio()
