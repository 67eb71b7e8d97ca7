"""Parse the durations, times and sizes users type: ``10m``, ``2h``, ISO times, ``25MiB``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from whrelay.core.errors import UsageError

_DURATION = re.compile(
    r"^\s*(?:\d+(?:\.\d+)?\s*|(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+)$", re.IGNORECASE
)
"""A plain number (seconds), or numbers with units one after another: ``1h30m``, ``2d 12h``."""
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_duration(text: str) -> float:
    """Seconds from ``30``, ``30s``, ``10m``, ``2h``, ``3d``, ``1w``, ``250ms`` or a sum of
    them written together: ``1h30m``, ``1m30s``."""
    if not _DURATION.match(text):
        raise UsageError(
            f"not a duration: {text!r}", hint="use a number with s, m, h, d or w, e.g. 90s or 1h30m"
        )
    return sum(
        float(number) * _DURATION_UNITS[(unit or "s").lower()]
        for number, unit in _DURATION_PART.findall(text)
    )


def parse_since(text: str, now_us: int) -> int:
    """A point in time, in UTC microseconds, from a duration ago (``10m``) or an ISO 8601 time.

    An ISO time without a zone is taken as UTC.
    """
    if _DURATION.match(text):
        return now_us - int(parse_duration(text) * 1_000_000)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"not a duration or time: {text!r}",
            hint="use e.g. 10m, 2h, 1h30m, 3d or 2026-11-26T09:30:00",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``512k``, ``25MiB``, ``1GB`` (binary units: 1k = 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"not a size: {text!r}", hint="use e.g. 512k, 25MiB or 1g")
    unit = (match.group(2) or "b")[0].lower()
    return int(float(match.group(1)) * _SIZE_UNITS.get(unit, 1))


def size_text(size: int) -> str:
    """A size as ``--max-body`` takes it, in the largest binary unit that divides it exactly:
    ``25 MiB``, ``64 KiB``, ``1000 bytes``."""
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if size and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"
