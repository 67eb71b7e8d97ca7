"""Shared fixtures: an isolated environment, and real ``whrelay listen`` subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the developer's real data, config or terminal settings."""
    data = tmp_path / "data"
    monkeypatch.setenv("WHRELAY_DATA_DIR", str(data))
    monkeypatch.delenv("WHRELAY_DB", raising=False)
    monkeypatch.delenv("WHRELAY_DEBUG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return data


def whrelay_cmd(*args: str) -> list[str]:
    """The command line that runs whrelay from this checkout in a subprocess."""
    return [sys.executable, "-m", "whrelay", *args]


def run_whrelay(
    *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run ``whrelay ARGS`` to completion; stdout and stderr captured as bytes."""
    return subprocess.run(
        whrelay_cmd(*args),
        input=input,
        capture_output=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


@dataclass
class Listener:
    """A running ``whrelay listen --output json`` subprocess."""

    proc: subprocess.Popen[bytes]
    url: str
    db: Path
    events: list[dict[str, object]] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        """Send ``sig`` and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self._reader is not None:
            self._reader.join(5)
        return code

    def wait_for_events(self, kind: str, count: int, timeout: float = 20) -> list[dict[str, object]]:
        """Block until ``count`` events of ``kind`` have been printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in list(self.events) if e.get("event") == kind]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"only {len(found)} {kind!r} events after {timeout} s")


def start_listener(db: Path, *extra: str, ready_timeout: float = 30) -> Listener:
    """Start ``whrelay listen`` on a free loopback port and wait for its ready line."""
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "--output", "json", "--db", str(db), *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    if not first:
        err = proc.stderr.read().decode(errors="replace")
        proc.wait(5)
        raise AssertionError(f"whrelay listen exited before ready: {err}")
    ready = json.loads(first)
    assert ready["event"] == "ready"
    listener = Listener(proc=proc, url=str(ready["url"]), db=db, events=[ready])

    def read() -> None:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            listener.events.append(json.loads(line))
        listener.stderr_lines.extend(proc.stderr.read().decode(errors="replace").splitlines())

    listener._reader = threading.Thread(target=read, daemon=True)
    listener._reader.start()
    return listener


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    """A ``whrelay listen`` subprocess with a fresh database, stopped after the test."""
    running = start_listener(tmp_path / "hooks.db")
    yield running
    running.stop()
