"""Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=…]``.

Signed content ``ts + ":" + body`` (``ts`` as the header spells it); HMAC-SHA256 keyed with
the notification destination's secret key (``pdl_ntfset_…``) as UTF-8; lower-case hex. Any
``h1`` may match (as the Python SDK; the Node SDK keeps only the last). Unknown keys (a future
``h2``) are ignored. Tolerance 5 s, both directions (as the Python SDK).
"""

from __future__ import annotations

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
    utf8,
)

TOLERANCE = 5.0
HEADER = "Paddle-Signature"


def signature(secret: Secret, stamp: str, body: bytes) -> str:
    return mac(utf8(secret), f"{stamp}:".encode() + body).hex()


@dataclass(frozen=True, slots=True)
class Paddle:
    name: str = "paddle"
    signature_headers: tuple[str, ...] = (HEADER,)
    needs_url: bool = False

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        stamp = str(now)
        return message.with_header(
            HEADER, f"ts={stamp};h1={signature(secret, stamp, message.body)}"
        )

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER)
        if not header:
            return missing(self.name, HEADER)
        stamps: list[str] = []
        candidates: list[str] = []
        for item in header.split(";"):
            key, sep, value = item.partition("=")
            if not sep:
                continue
            key = key.strip()
            if key == "ts":
                stamps.append(value.strip())
            elif key == "h1":
                candidates.append(value.strip())
        if not stamps:
            return malformed(self.name, f"no ts= timestamp in {HEADER}")
        try:
            timestamp = parse_timestamp(stamps[0])
        except MalformedError as error:
            return malformed(self.name, str(error))
        if not candidates:
            return malformed(self.name, f"no h1= signature in {HEADER}", timestamp)
        if not check.secrets:
            return no_secret(self.name)
        given = [candidate.encode("utf-8", "surrogateescape") for candidate in candidates]
        matched = False
        for secret in check.secrets:
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
        return bad(self.name, timestamp=timestamp)


PADDLE = Paddle()
