"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]``.

Signed content ``t + "." + body``; HMAC-SHA256 keyed with the whole ``whsec_…`` string as
UTF-8 (no base64 decoding); lower-case hex. Any ``v1`` may match (a rolled secret); other
schemes (``v0``) are ignored: a header with only those is a ``bad_signature``. Tolerance 300 s
into the past only: a future ``t`` passes.
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

TOLERANCE = 300.0
HEADER = "Stripe-Signature"


IDENTIFICATION = Identification(
    headers=("stripe-signature",),
    event_fields=(("type",),),
    id_fields=(("id",),),  # the evt_ id
)
EXAMPLE = Example(
    {
        "id": "evt_whrelay_{uid}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "api_version": "2024-06-20",
        "data": {
            "object": {
                "id": "pi_whrelay_0001",
                "object": "payment_intent",
                "amount": 2000,
                "currency": "usd",
                "status": "succeeded",
            }
        },
    },
    (("Content-Type", "application/json; charset=utf-8"),),
)


@dataclass(frozen=True, slots=True)
class Stripe:
    name: str = "stripe"
    signature_headers: tuple[str, ...] = (HEADER,)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        signature = mac(utf8(secret), f"{now}.".encode() + message.body).hex()
        return message.with_header(HEADER, f"t={now},v1={signature}")

    def key_problem(self, secret: Secret) -> str | None:
        """Any text: Stripe keys the MAC with the whole secret (``whsec_`` included)."""
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER)
        if not header:
            return missing(self.name, HEADER)
        stamps = []
        candidates = []
        others = []
        for item in header.split(","):
            key, sep, value = item.strip().partition("=")
            if not sep:
                continue
            if key == "t":
                stamps.append(value)
            elif key == "v1":
                candidates.append(value)
            else:
                others.append(key)
        if not stamps:
            return malformed(self.name, "no t= timestamp in Stripe-Signature")
        try:
            timestamp = parse_timestamp(stamps[0])
        except MalformedError as error:
            return malformed(self.name, str(error))
        if not candidates and not others:
            return malformed(self.name, "no signature in Stripe-Signature", timestamp)
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        content = f"{timestamp}.".encode() + message.body
        matched = any(
            same(candidate, mac(utf8(key), content).hex())
            for key in keys
            for candidate in candidates
        )
        if not matched:
            return self._mismatch(candidates, others, timestamp)
        late = check_time(self.name, timestamp, check, TOLERANCE, future=False)
        if late is not None:
            return Verification(
                self.name, late.reason, f"{late.detail} (the signature itself matches)", timestamp
            )
        return ok(self.name, timestamp)

    def _mismatch(self, candidates: list[str], others: list[str], timestamp: int) -> Verification:
        if not candidates:
            shown = ", ".join(dict.fromkeys(f"{key[:20]}=" for key in others[:4]))
            return bad(
                self.name,
                "no v1= signature to check",
                timestamp,
                [
                    f"the header holds only {shown} signatures; Stripe checks v1= only and "
                    "ignores the others (so an old scheme cannot be forced)"
                ],
            )
        found = [encoding_problem(c, "hex", 32, "Stripe", lower_case=True) for c in candidates]
        return bad(self.name, timestamp=timestamp, hints=[found[0] if all(found) else None])


STRIPE = Stripe()
