"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]``.

Signed content ``t + "." + body``; HMAC-SHA256 keyed with the whole ``whsec_…`` string as
UTF-8 (no base64 decoding); lower-case hex. Any ``v1`` may match (a rolled secret); other
schemes (``v0``) are ignored. Tolerance 300 s into the past only: a future ``t`` passes.
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

TOLERANCE = 300.0
HEADER = "Stripe-Signature"


@dataclass(frozen=True, slots=True)
class Stripe:
    name: str = "stripe"
    signature_headers: tuple[str, ...] = (HEADER,)
    needs_url: bool = False

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        signature = mac(utf8(secret), f"{now}.".encode() + message.body).hex()
        return message.with_header(HEADER, f"t={now},v1={signature}")

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER)
        if not header:
            return missing(self.name, HEADER)
        stamps = []
        candidates = []
        for item in header.split(","):
            key, sep, value = item.strip().partition("=")
            if not sep:
                continue
            if key == "t":
                stamps.append(value)
            elif key == "v1":
                candidates.append(value)
        if not stamps:
            return malformed(self.name, "no t= timestamp in Stripe-Signature")
        try:
            timestamp = parse_timestamp(stamps[0])
        except MalformedError as error:
            return malformed(self.name, str(error))
        if not candidates:
            return malformed(self.name, "no v1= signature in Stripe-Signature", timestamp)
        if not check.secrets:
            return no_secret(self.name)
        content = f"{timestamp}.".encode() + message.body
        matched = any(
            same(candidate, mac(utf8(secret), content).hex())
            for secret in check.secrets
            for candidate in candidates
        )
        if not matched:
            return bad(self.name, timestamp=timestamp)
        late = check_time(self.name, timestamp, check, TOLERANCE, future=False)
        if late is not None:
            return Verification(
                self.name, late.reason, f"{late.detail} (the signature itself matches)", timestamp
            )
        return ok(self.name, timestamp)


STRIPE = Stripe()
