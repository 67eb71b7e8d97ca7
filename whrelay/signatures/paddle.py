"""Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=…]``.

Signed content ``ts + ":" + body`` (``ts`` as the header spells it); HMAC-SHA256 keyed with
the notification destination's secret key (``pdl_ntfset_…``) as UTF-8; lower-case hex. Any
``h1`` may match (as the Python SDK; the Node SDK keeps only the last). Unknown keys (a future
``h2``) are ignored: a header with only those is a ``bad_signature``. Tolerance 5 s, both
directions (as the Python SDK).
"""

from __future__ import annotations

from dataclasses import dataclass

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
from whrelay.signatures.examples import Example

TOLERANCE = 5.0
HEADER = "Paddle-Signature"


def signature(secret: Secret, stamp: str, body: bytes) -> str:
    return mac(utf8(secret), f"{stamp}:".encode() + body).hex()


IDENTIFICATION = Identification(
    headers=("paddle-signature",),
    event_fields=(("event_type",),),
    id_fields=(("event_id",), ("notification_id",)),
)
EXAMPLE = Example(
    {
        "event_id": "evt_01whrelay{uid}",
        "event_type": "transaction.completed",
        "occurred_at": "2026-11-26T10:00:00.000000Z",
        "notification_id": "ntf_01whrelay{uid}",
        "data": {"id": "txn_01whrelay0001", "status": "completed"},
    }
)


@dataclass(frozen=True, slots=True)
class Paddle:
    name: str = "paddle"
    signature_headers: tuple[str, ...] = (HEADER,)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        stamp = str(now)
        return message.with_header(
            HEADER, f"ts={stamp};h1={signature(secret, stamp, message.body)}"
        )

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER)
        if not header:
            return missing(self.name, HEADER)
        stamps: list[str] = []
        candidates: list[str] = []
        others: list[str] = []
        for item in header.split(";"):
            key, sep, value = item.partition("=")
            if not sep:
                continue
            key = key.strip()
            if key == "ts":
                stamps.append(value.strip())
            elif key == "h1":
                candidates.append(value.strip())
            else:
                others.append(key)
        if not stamps:
            return malformed(self.name, f"no ts= timestamp in {HEADER}")
        try:
            timestamp = parse_timestamp(stamps[0])
        except MalformedError as error:
            return malformed(self.name, str(error))
        if not candidates and not others:
            return malformed(self.name, f"no signature in {HEADER}", timestamp)
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        given = [candidate.encode("utf-8", "surrogateescape") for candidate in candidates]
        matched = False
        for secret in keys:
            expected = signature(secret, stamps[0], message.body)
            for candidate in given:
                if same(candidate, expected):
                    matched = True
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        if not candidates:
            shown = ", ".join(dict.fromkeys(f"{key[:20]}=" for key in others[:4]))
            return bad(
                self.name,
                "no h1= signature to check",
                timestamp,
                [f"the header holds only {shown} entries; Paddle signs h1= and those are ignored"],
            )
        found = [encoding_problem(c, "hex", 32, "Paddle", lower_case=True) for c in candidates]
        return bad(self.name, timestamp=timestamp, hints=[found[0] if all(found) else None])


PADDLE = Paddle()
