"""Fixtures every test can use. Plain helpers live in ``tests/helpers/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import Listener, start_listener
from tests.helpers.tui import SeededTui, seed_tui


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the developer's real data, config or terminal settings: no
    ``WHRELAY_*`` variable of theirs (``WHRELAY_PORT``, ``WHRELAY_CONFIG``) reaches a test, and
    the user config directory is an empty folder of the test's."""
    data = tmp_path / "data"
    for name in [name for name in os.environ if name.startswith("WHRELAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WHRELAY_DATA_DIR", str(data))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return data


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    """A ``whrelay listen`` subprocess with a fresh database, stopped after the test."""
    running = start_listener(tmp_path / "hooks.db")
    yield running
    running.stop()


@pytest.fixture
def seeded_tui(tmp_path: Path) -> SeededTui:
    """``seed_tui`` in a fresh database."""
    return seed_tui(tmp_path / "tui.db")
