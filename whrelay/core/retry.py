"""The retry policy: pure functions from an attempt's outcome to what happens next.

A local app restarts in seconds, so the schedule is front-loaded: retries come after 1 s,
2 s, 5 s, 10 s, 30 s, 1 min, 2 min, 5 min, 10 min, 30 min, then hourly, each with ±20 %
jitter, until the retry window (24 h by default) is spent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from whrelay.core.defaults import DEFAULT_SCHEDULE as DEFAULT_SCHEDULE
from whrelay.core.defaults import DEFAULT_WINDOW as DEFAULT_WINDOW
from whrelay.core.defaults import JITTER as JITTER
from whrelay.core.defaults import RETRY_AFTER_CAP as RETRY_AFTER_CAP

RETRYABLE_STATUSES = frozenset({408, 425, 429})
MIN_REPEATED_DELAY = 0.1
"""Seconds: the least the schedule's last delay (which repeats) and a ``Retry-After`` may be,
so that a target that keeps failing is not sent the same webhook in a tight loop."""


class Decision(StrEnum):
    """What happens to a delivery after an attempt (not a signature's verdict)."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    """Given up: a non-retryable answer, or the retry window is spent."""
    PAUSE_TARGET = "pause_target"
    """410 Gone: stop sending anything to this target."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    window: float = DEFAULT_WINDOW
    """Seconds after the first attempt during which retries are made."""
    jitter: float = JITTER
    retry_after_cap: float = RETRY_AFTER_CAP

    def base_delay(self, retries_done: int) -> float:
        """The un-jittered wait before retry number ``retries_done + 1``."""
        index = min(retries_done, len(self.schedule) - 1)
        return self.schedule[index]


def decide_on_status(status: int | None) -> Decision:
    """What an answer's status means for the delivery. ``None``: no answer at all (refused,
    reset, timeout)."""
    if status is None:
        return Decision.RETRY
    if 200 <= status < 300:
        return Decision.DELIVERED
    if status == 410:
        return Decision.PAUSE_TARGET
    if status in RETRYABLE_STATUSES or status >= 500:
        return Decision.RETRY
    return Decision.FAILED  # 1xx, 3xx (never followed), other 4xx


NOT_RETRIED_ERRORS = frozenset({"blocked", "unsent"})
"""Attempt errors no retry can mend: an address the loopback policy refuses, and a request
that could not be made (re-signing failed on what the sender sent)."""


def decide_on_attempt(status: int | None, error: str | None) -> Decision:
    """What an attempt's outcome means: ``decide_on_status`` of its status, save the errors
    no retry can mend. The forwarder acts on it; ``show`` says it."""
    if error in NOT_RETRIED_ERRORS:
        return Decision.FAILED
    return decide_on_status(status)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone also takes '²'
        return float(value)
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def next_delay(
    policy: RetryPolicy,
    retries_done: int,
    elapsed: float,
    retry_after: float | None,
    rng: random.Random,
) -> float | None:
    """Seconds until the next retry, or ``None`` when the window is spent.

    ``retries_done`` counts retries already made (0 after the first attempt); ``elapsed`` is
    the time since the first attempt. A ``Retry-After`` longer than the schedule's delay wins,
    up to the cap; a shorter one (``Retry-After: 0`` from an app stuck in maintenance mode)
    does not take the backoff away, or a tight loop would store an attempt every 0.1 s.
    """
    base = policy.base_delay(retries_done)
    delay = base * (1 + rng.uniform(-policy.jitter, policy.jitter))
    if retry_after is not None:
        delay = max(min(max(retry_after, MIN_REPEATED_DELAY), policy.retry_after_cap), delay)
    if elapsed + delay > policy.window:
        return None
    return delay
