"""Shared by the tests of Linear, Zoom, Mailgun, SendGrid, Discord and the generic HMAC scheme:
their contract table and each scheme's own file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from whrelay.signatures.base import Check, Message, Secret, Verification

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""


class Signer(Protocol):
    """What these tests use of a scheme (read-only, so frozen dataclasses fit)."""

    @property
    def name(self) -> str: ...

    @property
    def signature_headers(self) -> tuple[str, ...]: ...

    def sign(self, message: Message, secret: Secret, now: int) -> Message: ...

    def verify(self, message: Message, check: Check) -> Verification: ...


def body_at(ts: int, **extra: object) -> bytes:
    """A JSON body (non-ASCII, spaced) carrying Linear's ``webhookTimestamp`` for ``ts``."""
    doc: dict[str, object] = {"id": "evt_1", "text": "Café ☕", "amount": 1.0, **extra}
    doc["webhookTimestamp"] = ts * 1000
    return json.dumps(doc, ensure_ascii=False).encode()


def binary_body(ts: int) -> bytes:
    """Not UTF-8, yet still a body Linear can read its timestamp from (as Node would)."""
    return b'{"webhookTimestamp": %d, "blob": "\xff\xfe\x80\xc3\x28"}' % (ts * 1000)


@dataclass(frozen=True)
class Spec:
    """One scheme as the table-driven tests see it."""

    id: str
    scheme: Signer
    sign_key: Secret
    verify_key: Secret
    other_sign_key: Secret
    other_verify_key: Secret
    tolerance: float | None
    """The default window, or ``None`` when the scheme checks none unless told."""
    timed: bool = True
    """Whether the scheme signs a timestamp at all."""
    body_covered: bool = True
    """Whether the MAC covers the body (not so for Mailgun)."""


JSON_CT = (("Content-Type", "application/json"),)


def signed(
    spec: Spec, ts: int = NOW, body: bytes | None = None, key: Secret | None = None
) -> Message:
    message = Message(body_at(ts) if body is None else body, JSON_CT)
    return spec.scheme.sign(message, spec.sign_key if key is None else key, ts)


def verify(
    spec: Spec,
    message: Message,
    *,
    secrets: tuple[Secret, ...] | None = None,
    tolerance: float | None = None,
    ignore_timestamp: bool = False,
) -> Verification:
    keys = (spec.verify_key,) if secrets is None else secrets
    return spec.scheme.verify(message, Check(keys, NOW, tolerance, ignore_timestamp))
