"""Durations, points in time and sizes as users type them; every mistake is a ``UsageError``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from whrelay.core.errors import ExitCode, UsageError
from whrelay.core.timeparse import parse_duration, parse_since, parse_size

NOW_US = 1_795_000_000_123_456
"""A fixed "now" (2026-11-18, UTC) so that relative times are exact."""


def micros(moment: datetime) -> int:
    """``moment`` in UTC microseconds since the epoch, computed without float rounding."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("0", 0.0),
        ("30s", 30.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("3d", 3 * 86400.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("10M", 600.0),
        ("2H", 7200.0),
        (" 15s ", 15.0),
        ("5 m", 300.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("2d 12h", 2.5 * 86400),
        ("1s500ms", 1.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", " ", "abc", "-5s", "10x", "1e3", "s", "1.s", "5 minutes", "1h30", "30 1h", "1h h", "h1"],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_duration(text)
    assert caught.value.exit_code == ExitCode.USAGE
    assert repr(text) in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize(
    ("text", "ago_seconds"),
    [
        ("0", 0),
        ("90", 90),
        ("10m", 600),
        ("2h", 7200),
        ("3d", 3 * 86400),
        ("1w", 604800),
        ("1h30m", 5400),
    ],
)
def test_parse_since_duration_is_that_long_ago(text: str, ago_seconds: int) -> None:
    assert parse_since(text, NOW_US) == NOW_US - ago_seconds * 1_000_000


def test_parse_since_fractional_duration() -> None:
    assert parse_since("250ms", NOW_US) == NOW_US - 250_000
    assert parse_since("1.5h", NOW_US) == NOW_US - 5400 * 1_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T10:00:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T10:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26 10:00:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
        ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T10:00:00+00:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        (
            "2026-11-26T10:00:00+02:00",
            datetime(2026, 11, 26, 10, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2026-11-26T10:00:00-05:30",
            datetime(2026, 11, 26, 10, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        (
            "2026-11-26T10:00:00.123456Z",
            datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC),
        ),
        (
            "2026-11-26T10:00:00.5",
            datetime(2026, 11, 26, 10, 0, 0, 500000, tzinfo=UTC),
        ),
    ],
)
def test_parse_since_iso_time(text: str, expected: datetime) -> None:
    """ISO 8601 times; one without a zone is UTC, ``Z`` is UTC, offsets are honoured."""
    assert parse_since(text, NOW_US) == micros(expected)


def test_parse_since_iso_without_zone_is_utc_not_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert parse_since("2026-11-26T10:00:00", NOW_US) == micros(
        datetime(2026, 11, 26, 10, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    "text", ["nonsense", "", "yesterday", "2026-13-01", "2026-11-26T25:00", "10 minutes ago"]
)
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_since(text, NOW_US)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.hint


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1048576", 1048576),
        ("10b", 10),
        ("10B", 10),
        ("512k", 512 * 1024),
        ("512K", 512 * 1024),
        ("512kb", 512 * 1024),
        ("512KiB", 512 * 1024),
        ("1.5k", 1536),
        ("25MiB", 25 * 1024 * 1024),
        ("25m", 25 * 1024 * 1024),
        ("25MB", 25 * 1024 * 1024),
        ("1GB", 1 << 30),
        ("1g", 1 << 30),
        ("2GiB", 2 << 30),
        (" 2 MiB ", 2 << 20),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "-1k", "10TB", "1kk", "k", "1 0k", "ten"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_size(text)
    assert caught.value.exit_code == ExitCode.USAGE
    assert repr(text) in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize(
    ("size", "text"),
    [(25 << 20, "25 MiB"), (64 << 10, "64 KiB"), (1000, "1000 bytes"), (1536 << 10, "1536 KiB")],
)
def test_size_text_is_exact_and_parse_size_reads_it_back(size: int, text: str) -> None:
    from whrelay.core.timeparse import size_text

    assert size_text(size) == text
    assert parse_size(text.replace(" bytes", "")) == size
