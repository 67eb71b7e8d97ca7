"""Slack: ``X-Slack-Signature: v0=<hex>`` over ``"v0:" + X-Slack-Request-Timestamp + ":" + body``.

HMAC-SHA256 keyed with the signing secret as UTF-8 text (not hex-decoded); lower-case hex.
The timestamp enters the MAC exactly as the header spells it. One signature per request;
rotation means trying several secrets. Tolerance ±300 s, both directions (as ``slack_sdk``).
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
from whrelay.signatures.examples import Example

TOLERANCE = 300.0
SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"


def signature(secret: Secret, stamp: str, body: bytes) -> str:
    content = f"{VERSION}:{stamp}:".encode() + body
    return f"{VERSION}=" + mac(utf8(secret), content).hex()


IDENTIFICATION = Identification(
    headers=("x-slack-signature",),
    event_fields=(("event", "type"), ("type",)),  # Events API: the inner event's type
    subtype_fields=(("event", "subtype"),),  # message + bot_message: message.bot_message
    id_fields=(("event_id",),),
)
EXAMPLE = Example(
    {
        "type": "event_callback",
        "event_id": "Ev{uid}",
        "event": {"type": "app_mention", "text": "<@U0LAN0Z89> hello", "user": "U2147483697"},
    }
)


@dataclass(frozen=True, slots=True)
class Slack:
    name: str = "slack"
    signature_headers: tuple[str, ...] = (SIGNATURE_HEADER,)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        stamp = str(now)
        return message.with_headers(
            [
                (TIMESTAMP_HEADER, stamp),
                (SIGNATURE_HEADER, signature(secret, stamp, message.body)),
            ]
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
        given = value.encode("utf-8", "surrogateescape")
        matched = False
        for key in keys:
            if same(given, signature(key, stamp.strip(), message.body)):
                matched = True
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        return bad(self.name, timestamp=timestamp, hints=[version_hint(parts, VERSION, "Slack")])


SLACK = Slack()
