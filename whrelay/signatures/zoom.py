"""Zoom: ``x-zm-signature: v0=<hex>`` with ``x-zm-request-timestamp: <unix seconds>``.

Signed content ``"v0:" + timestamp + ":" + body``; HMAC-SHA256 keyed with the app's secret
token as UTF-8; ``v0=`` + lower-case hex, compared as the whole header value (as Zoom's sample
does). The MAC covers the raw body: Zoom's sample and Rivet MAC ``JSON.stringify(JSON.parse(
body))``, which only works because Zoom sends compact JSON that round-trips; whrelay does not
re-serialize. No timestamp window is documented and neither official verifier checks one, so
the timestamp is checked only when the check gives a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

from whrelay.identify.facts import Identification
from whrelay.signatures.base import (
    Check,
    Message,
    Secret,
    Verification,
    bad,
    check_time,
    mac,
    malformed,
    ok,
    same,
    signature_and_time,
    text_key_problem,
    usable_keys,
    utf8,
    version_hint,
    versioned,
)
from whrelay.signatures.examples import GENERIC_EXAMPLE, Example

TOLERANCE = 0.0
"""No default window: ``check_time`` skips a tolerance of 0 unless the check gives one."""
SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
VERSION = "v0"


def signed_content(timestamp: str, body: bytes) -> bytes:
    return f"{VERSION}:{timestamp}:".encode() + body


IDENTIFICATION = Identification(
    headers=("x-zm-signature",),
    event_fields=(("event",),),
)
EXAMPLE = GENERIC_EXAMPLE


@dataclass(frozen=True, slots=True)
class Zoom:
    name: str = "zoom"
    signature_headers: tuple[str, ...] = (SIGNATURE_HEADER,)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        stamp = str(now)
        signature = mac(utf8(secret), signed_content(stamp, message.body)).hex()
        return message.with_headers(
            [(SIGNATURE_HEADER, f"{VERSION}={signature}"), (TIMESTAMP_HEADER, stamp)]
        )

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        found = signature_and_time(self.name, message, SIGNATURE_HEADER, TIMESTAMP_HEADER)
        if isinstance(found, Verification):
            return found
        header, stamp, timestamp = found
        value = header.strip()
        parts = versioned(value, VERSION)
        if parts is None:
            return malformed(
                self.name, f"{SIGNATURE_HEADER} does not start with {VERSION}=", timestamp
            )
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        content = signed_content(stamp.strip(), message.body)
        matched = False
        for key in keys:
            if same(value, f"{VERSION}=" + mac(utf8(key), content).hex()):
                matched = True
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        return bad(self.name, timestamp=timestamp, hints=[version_hint(parts, VERSION, "Zoom")])


ZOOM = Zoom()
