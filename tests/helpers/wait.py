"""Waiting without a fixed sleep: poll with a deadline (another process, thread or connection,
or the event loop of the test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from textual.pilot import Pilot

T = TypeVar("T")
POLL_INTERVAL = 0.02
"""Seconds between two looks while waiting for another process, thread or connection."""


def wait_until(check: Callable[[], T | None], what: str, timeout: float = 20) -> T:
    """Poll ``check`` until it returns something truthy, and return that. After ``timeout``
    seconds, fail naming ``what``. For a wait on another process or thread: the machine may
    be loaded, so a fixed sleep is either too long or, one day, too short."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


async def until(check: Callable[[], T | None], what: str, timeout: float = 20) -> T:
    """``wait_until`` for a coroutine: the event loop (and what runs on it, servers and
    clients of the test) goes on between two looks."""
    return await _polled(check, what, timeout, asyncio.sleep)


async def pilot_until(
    pilot: Pilot[Any], check: Callable[[], T | None], what: str, timeout: float = 20
) -> T:
    """``until`` for a Textual pilot: the app goes on (workers, messages, refreshes) between
    two looks."""
    return await _polled(check, what, timeout, pilot.pause)


async def _polled(
    check: Callable[[], T | None],
    what: str,
    timeout: float,
    pause: Callable[[float], Awaitable[object]],
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pause(POLL_INTERVAL)
