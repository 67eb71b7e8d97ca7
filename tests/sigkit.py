"""Helpers shared by the signature scheme tests (``test_signatures_*.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable

from whrelay.signatures.base import Check, Reason, Secret, Verification


def checker(now: float) -> Callable[..., Check]:
    """``chk(*secrets, tolerance=..., ignore_timestamp=...)``: a ``Check`` at ``now`` unless
    told otherwise."""

    def chk(
        *secrets: Secret,
        now: float = now,
        tolerance: float | None = None,
        ignore_timestamp: bool = False,
    ) -> Check:
        return Check(secrets, now, tolerance, ignore_timestamp)

    return chk


def reserialized(body: bytes) -> bytes:
    """The same JSON as a framework would write it back: compact, ASCII escapes."""
    out = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert out != body
    return out


def flip_byte(body: bytes, index: int = 0) -> bytes:
    assert body
    return body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]


def assert_reason(verdict: Verification, reason: Reason) -> None:
    assert verdict.reason is reason, verdict
