"""Linear: ``Linear-Signature: <hex HMAC-SHA256(secret, body)>``, freshness inside the body.

The key is the secret as UTF-8; the MAC covers the raw body. The hex is decoded and compared
as bytes, as ``@linear/sdk`` does (so upper-case hex passes too). Freshness comes from the
``webhookTimestamp`` field of the JSON body (Unix *milliseconds*), which the signature covers;
the ``Linear-Timestamp`` header is deprecated and ignored, as in the SDK. Tolerance ±60 s.

A body without a readable ``webhookTimestamp`` (not JSON, not an object, no such field, not a
whole number) is ``malformed_header``, not ``missing_header``: no header is missing, and the
signed message cannot be judged for freshness. When the timestamp is not checked
(``ignore_timestamp``, or a tolerance of 0) the field is not required. The body is parsed only
to read that field (invalid UTF-8 replaced, as ``JSON.parse(buf.toString())`` does); the MAC
always covers the raw bytes.

``sign`` sets the header over the body as given and does not edit the body, so a re-signed
old delivery keeps its old ``webhookTimestamp``.
"""

from __future__ import annotations

import json
import re
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
    same,
    text_key_problem,
    usable_keys,
    utf8,
)
from whrelay.signatures.examples import Example

TOLERANCE = 60.0
HEADER = "Linear-Signature"
TIMESTAMP_FIELD = "webhookTimestamp"
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_MILLISECONDS = 10**16


def body_timestamp(body: bytes) -> float:
    """The ``webhookTimestamp`` of a Linear body, in Unix seconds; ``MalformedError`` if none."""
    if not body.strip():
        raise MalformedError(
            f"the body is empty, so it carries no {TIMESTAMP_FIELD} (Linear signs its "
            "timestamp inside the JSON body)"
        )
    try:
        doc = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        raise MalformedError(
            f"the body is not JSON, so it carries no {TIMESTAMP_FIELD} (Linear signs its "
            "timestamp inside the JSON body)"
        ) from None
    if not isinstance(doc, dict):
        raise MalformedError(f"the body is not a JSON object, so it has no {TIMESTAMP_FIELD}")
    if TIMESTAMP_FIELD not in doc:
        raise MalformedError(
            f"the JSON body has no {TIMESTAMP_FIELD} field (Unix milliseconds; Linear "
            "ignores the Linear-Timestamp header)"
        )
    value = doc[TIMESTAMP_FIELD]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_MILLISECONDS:
        raise MalformedError(
            f"{TIMESTAMP_FIELD} {json.dumps(value)[:40]} is not a whole number of milliseconds"
        )
    return value / 1000


def _checks_time(check: Check) -> bool:
    return not check.ignore_timestamp and (check.tolerance is None or check.tolerance > 0)


IDENTIFICATION = Identification(
    headers=("linear-signature",),
    event_headers=("linear-event",),
    subtype_fields=(("action",),),  # Issue + create: Issue.create
    id_headers=("linear-delivery",),
)
EXAMPLE = Example(
    {
        "action": "create",
        "type": "Issue",
        "createdAt": "2026-11-26T10:00:00.000Z",
        "data": {"id": "whrelay-{uuid}", "title": "Webhook test from whrelay"},
        "url": "https://linear.app/example/issue/WHR-1",
        "webhookTimestamp": "{now_ms}",
        "webhookId": "{uuid}",
    },
    (
        ("Content-Type", "application/json; charset=utf-8"),
        ("Linear-Delivery", "{uuid}"),
        ("Linear-Event", "Issue"),
    ),
)


@dataclass(frozen=True, slots=True)
class Linear:
    name: str = "linear"
    signature_headers: tuple[str, ...] = (HEADER,)
    needs_url: bool = False
    signs_body: bool = True
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        return message.with_header(HEADER, mac(utf8(secret), message.body).hex())

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)

    def verify(self, message: Message, check: Check) -> Verification:
        header = message.header(HEADER)
        if not header:
            return missing(self.name, HEADER)
        value = header.strip()
        timestamp: float | None = None
        try:
            timestamp = body_timestamp(message.body)
        except MalformedError as error:
            if _checks_time(check):
                return malformed(self.name, str(error))
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        given = bytes.fromhex(value) if _HEX.match(value) else None
        matched = False
        for key in keys:
            if given is not None and same(given, mac(utf8(key), message.body)):
                matched = True
        if timestamp is not None:
            late = check_time(self.name, timestamp, check, TOLERANCE)
            if late is not None:
                note = "the signature itself matches" if matched else "the signature does not match"
                return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched:
            return ok(self.name, timestamp)
        return bad(
            self.name, timestamp=timestamp, hints=[encoding_problem(value, "hex", 32, "Linear")]
        )


LINEAR = Linear()
