"""Shared by the tests of Standard Webhooks, Svix, Stripe and GitHub: bodies, and the clock
frozen for the official libraries."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Self

from whrelay.signatures import get_scheme

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""


def registered(name: str) -> object:
    """``get_scheme(name)`` as a plain object (the frozen dataclasses are compared by identity;
    mypy does not see them as ``Scheme``s because the Protocol declares settable attributes)."""
    found: object = get_scheme(name)
    return found


# --- frozen oracle clocks ------------------------------------------------------------------


class FrozenDatetime(datetime):
    """``datetime`` whose ``now()`` is ``NOW`` (standardwebhooks and svix read it)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Self:
        return cls.fromtimestamp(NOW, tz)
