"""``whrelay/core/errors.py``: diagnostics and the error types."""

from __future__ import annotations

import sys

import pytest


def test_say_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine diagnostics with stderr closed at start (``2>&-``: ``sys.stderr`` is None) or
    gone: the line is lost, nothing else (a restart of the storage process must go on)."""
    from whrelay.core.errors import say

    monkeypatch.setattr(sys, "stderr", None)
    say("warning: nobody reads this")

    class Gone:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stderr", Gone())
    say("warning: nobody reads this either")
