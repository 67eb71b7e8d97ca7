"""``whrelay/core/retry.py``: the retry policy as a table."""

from __future__ import annotations

import email.utils
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whrelay.core.retry import (
    MIN_REPEATED_DELAY,
    RETRY_AFTER_CAP,
    Decision,
    RetryPolicy,
    decide_on_status,
    next_delay,
    parse_retry_after,
)

# --- retry: parse_retry_after ------------------------------------------------------------------

NOW = 1_750_000_000.0

# --- retry: next_delay -------------------------------------------------------------------------

schedules = st.lists(
    st.floats(min_value=0, max_value=7200, allow_nan=False), min_size=1, max_size=12
).map(tuple)

policies = st.builds(
    RetryPolicy,
    schedule=schedules,
    window=st.floats(min_value=0, max_value=200_000, allow_nan=False),
    jitter=st.floats(min_value=0, max_value=0.5, allow_nan=False),
    retry_after_cap=st.floats(min_value=0, max_value=7200, allow_nan=False),
)

elapsed_times = st.floats(min_value=0, max_value=200_000, allow_nan=False)

HUGE_YEAR = "Wed, 21 Oct 99999999999999999999 07:28:00 GMT"

# --- retry: decide_on_status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        (200, Decision.DELIVERED),
        (201, Decision.DELIVERED),
        (204, Decision.DELIVERED),
        (299, Decision.DELIVERED),
        (100, Decision.FAILED),
        (301, Decision.FAILED),
        (302, Decision.FAILED),
        (304, Decision.FAILED),
        (307, Decision.FAILED),
        (400, Decision.FAILED),
        (401, Decision.FAILED),
        (403, Decision.FAILED),
        (404, Decision.FAILED),
        (408, Decision.RETRY),
        (410, Decision.PAUSE_TARGET),
        (413, Decision.FAILED),
        (422, Decision.FAILED),
        (425, Decision.RETRY),
        (429, Decision.RETRY),
        (500, Decision.RETRY),
        (502, Decision.RETRY),
        (503, Decision.RETRY),
        (504, Decision.RETRY),
        (599, Decision.RETRY),
        (None, Decision.RETRY),
    ],
)
def test_each_status_decides_what_happens_to_the_delivery(
    status: int | None, decision: Decision
) -> None:
    assert decide_on_status(status) is decision


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW + 3600, usegmt=True), 3600.0),
        (email.utils.formatdate(NOW - 600, usegmt=True), 0.0),  # in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Thu, 99 Foo 2025 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    result = parse_retry_after(value, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-6)


@given(
    policy=policies,
    retries_done=st.integers(min_value=0, max_value=50),
    elapsed=elapsed_times,
    seed=st.integers(),
)
def test_next_delay_follows_the_schedule(
    policy: RetryPolicy, retries_done: int, elapsed: float, seed: int
) -> None:
    delay = next_delay(policy, retries_done, elapsed, None, random.Random(seed))
    base = policy.schedule[min(retries_done, len(policy.schedule) - 1)]
    low, high = base * (1 - policy.jitter), base * (1 + policy.jitter)
    if delay is None:
        # Given up only when even the shortest jittered wait could overrun the window.
        assert elapsed + high + 1e-6 > policy.window
    else:
        assert delay >= 0
        assert low - 1e-9 <= delay <= high + 1e-9
        assert elapsed + delay <= policy.window
    # Deterministic for a given random source.
    assert next_delay(policy, retries_done, elapsed, None, random.Random(seed)) == delay


@given(
    policy=policies,
    retries_done=st.integers(min_value=0, max_value=50),
    elapsed=elapsed_times,
    retry_after=st.floats(min_value=-100, max_value=100_000, allow_nan=False),
    seed=st.integers(),
)
def test_next_delay_honours_retry_after_up_to_the_cap(
    policy: RetryPolicy, retries_done: int, elapsed: float, retry_after: float, seed: int
) -> None:
    delay = next_delay(policy, retries_done, elapsed, retry_after, random.Random(seed))
    scheduled = policy.base_delay(retries_done) * (
        1 + random.Random(seed).uniform(-policy.jitter, policy.jitter)
    )
    # A longer Retry-After wins up to the cap; a shorter one (even 0) never takes the
    # schedule's backoff away: no tight loop against the target.
    wanted = max(min(max(retry_after, MIN_REPEATED_DELAY), policy.retry_after_cap), scheduled)
    if elapsed + wanted > policy.window:
        assert delay is None
    else:
        assert delay == wanted
        assert delay >= scheduled


def test_next_delay_default_policy() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    first = next_delay(policy, 0, 0.0, None, rng)
    assert first is not None
    assert 0.8 <= first <= 1.2
    last = next_delay(policy, 100, 0.0, None, rng)  # past the schedule: the last entry repeats
    assert last is not None
    assert 3600 * 0.8 <= last <= 3600 * 1.2
    assert next_delay(policy, 0, 0.0, 10 * 24 * 3600.0, rng) == RETRY_AFTER_CAP
    assert next_delay(policy, 0, 0.0, 5.0, rng) == 5.0
    assert next_delay(policy, 0, policy.window - 100, 3600.0, rng) is None  # beyond the window
    assert next_delay(policy, 3, policy.window - 1, None, rng) is None  # window spent


# --- 1. Retry-After that is not a number a float can be made of ----------------------------------


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9\u2070", HUGE_YEAR])
def test_parse_retry_after_ignores_what_is_not_a_delay(value: str) -> None:
    """Superscript digits (``str.isdigit`` is true for them) and an HTTP date whose year is
    beyond any datetime are no delay at all: ``None``, not an exception."""
    assert parse_retry_after(value, time.time()) is None
