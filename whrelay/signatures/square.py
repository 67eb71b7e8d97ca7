"""Square: ``x-square-hmacsha256-signature: <base64 HMAC-SHA256(key, URL + body)>``.

The key is the subscription's signature key as UTF-8; the URL is the notification URL exactly
as configured in the subscription (the public one, not the URL a relay was reached on),
followed by the raw body bytes. No timestamp, one signature: rotation means trying several
keys. An empty body is verified like any other (the official library returns ``False``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

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
from whrelay.signatures.examples import GENERIC_EXAMPLE, Example

HEADER = "x-square-hmacsha256-signature"
_MAC_SIZE = 32
URL_NEEDED = (
    "square signs the notification URL the sender called, and it is not known: "
    "give it with --url (listen: --public-url)"
)


def signature(secret: Secret, url: str, body: bytes) -> str:
    content = url.encode("utf-8", "surrogateescape") + body
    return base64.b64encode(mac(utf8(secret), content)).decode()


IDENTIFICATION = Identification(
    headers=("x-square-hmacsha256-signature",),
    event_fields=(("type",),),
    id_fields=(("event_id",),),
)
EXAMPLE = GENERIC_EXAMPLE


@dataclass(frozen=True, slots=True)
class Square:
    name: str = "square"
    signature_headers: tuple[str, ...] = (HEADER,)
    needs_url: bool = True
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        if message.url is None:
            raise UsageError(
                "square signs the notification URL: it is needed to sign",
                hint="give it with --url",
            )
        return message.with_header(HEADER, signature(secret, message.url, message.body))

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER)
        if not header:
            return missing(self.name, HEADER)
        if message.url is None:
            return malformed(self.name, URL_NEEDED)
        value = header.strip()
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        for key in keys:
            if same(value, signature(key, message.url, message.body)):
                return ok(self.name)
        return bad(
            self.name,
            f"no signature matches (signed URL assumed: {message.url})",
            hints=[encoding_problem(value, "base64", _MAC_SIZE, "Square")],
        )


SQUARE = Square()
