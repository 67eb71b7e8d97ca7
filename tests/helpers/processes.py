"""``whrelay`` as a subprocess of the checkout: one command run to completion, a running
``whrelay listen`` (``start_listener``, ``listening``), a command in a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: whrelay runs from here, as `python -m whrelay`."""


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
    _error_reader: threading.Thread | None = None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        """Send ``sig`` and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        for reader in (self._reader, self._error_reader):
            if reader is not None:
                reader.join(5)
        return code

    def wait_for_events(
        self, kind: str, count: int, timeout: float = 20
    ) -> list[dict[str, object]]:
        """Block until ``count`` events of ``kind`` have been printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in list(self.events) if e.get("event") == kind]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"only {len(found)} {kind!r} events after {timeout} s")


def start_listener(
    db: Path,
    *extra: str,
    ready_timeout: float = 30,
    open_files: int | None = None,
    own_group: bool = False,
) -> Listener:
    """Start ``whrelay listen`` on a free loopback port and wait for its ready line;
    ``open_files`` limits its file descriptors (``ulimit -n``); ``own_group``: in a process
    group of its own (a session), which ``os.killpg(listener.proc.pid, ...)`` signals whole,
    as ``timeout`` and process managers do."""

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "--output", "json", "--db", str(db), *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=limit if open_files is not None else None,
        start_new_session=own_group,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    if not first:
        err = proc.stderr.read().decode(errors="replace")
        proc.wait(5)
        raise AssertionError(f"whrelay listen exited before ready: {err}")
    ready = json.loads(first)
    assert ready["event"] == "ready"
    listener = Listener(proc=proc, url=str(ready["url"]), db=db, events=[ready])

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            listener.events.append(json.loads(line))

    def read_errors() -> None:  # as they come: a listen never blocks on a full stderr pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            listener.stderr_lines.append(line.decode(errors="replace").rstrip("\n"))

    listener._reader = threading.Thread(target=read, daemon=True)
    listener._reader.start()
    listener._error_reader = threading.Thread(target=read_errors, daemon=True)
    listener._error_reader.start()
    return listener


class listening:
    """A ``whrelay listen`` subprocess on ``db`` (``start_listener``'s arguments), stopped when
    the block ends. ``with`` in a plain test; ``async with`` in a coroutine, where it starts
    and stops off the event loop so that servers of the test on that loop keep answering."""

    def __init__(self, db: Path, *args: str, **options: Any) -> None:
        self._db, self._args, self._options = db, args, options
        self._listener: Listener | None = None

    def _start(self) -> Listener:
        return start_listener(self._db, *self._args, **self._options)

    def __enter__(self) -> Listener:
        self._listener = self._start()
        return self._listener

    def __exit__(self, *exc: object) -> None:
        assert self._listener is not None
        self._listener.stop()

    async def __aenter__(self) -> Listener:
        self._listener = await asyncio.to_thread(self._start)
        return self._listener

    async def __aexit__(self, *exc: object) -> None:
        assert self._listener is not None
        await asyncio.to_thread(self._listener.stop)


@dataclass
class TerminalRun:
    """A whrelay command run in a pseudo-terminal: what the screen shows at the end, and how
    it exited."""

    screen: list[str]
    """Each row of the screen (a terminal emulator's, fed every byte written), right-trimmed."""
    returncode: int
    raw: bytes


def _as_typed_in_a_terminal() -> None:
    """In the child, before exec: the terminal its own (Ctrl-C reaches it), and the signals
    a terminal sends at their defaults, as a shell starts a foreground command. A child
    inherits ignored signals, and the test process has been seen to ignore SIGHUP, SIGINT
    and SIGQUIT for a moment in a full run (not from whrelay's code): Ctrl-C then did
    nothing."""
    import fcntl
    import signal
    import termios

    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_in_terminal(
    *args: str,
    columns: int = 60,
    rows: int = 40,
    interrupt_when: Callable[[bytes], bool] | None = None,
    timeout: float = 60,
) -> TerminalRun:
    """Run ``whrelay ARGS`` with stdin, stdout and stderr on a pseudo-terminal of
    ``columns`` x ``rows`` (``COLUMNS``/``LINES`` unset, so it reads the size from the
    terminal), and feed all it writes to a terminal emulator (pyte). With ``interrupt_when``,
    Ctrl-C is typed once what was written so far satisfies it."""
    import fcntl
    import pty
    import struct
    import termios

    import pyte

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        whrelay_cmd(*args),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        preexec_fn=_as_typed_in_a_terminal,
    )
    os.close(follower)
    raw = bytearray()
    interrupted = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"whrelay {' '.join(args)} did not end in {timeout:g} s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            raw += chunk
            if interrupt_when is not None and not interrupted and interrupt_when(bytes(raw)):
                interrupted = True
                os.write(leader, b"\x03")  # Ctrl-C, as typed: the terminal sends SIGINT
        code = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    stream.feed(bytes(raw))
    return TerminalRun([line.rstrip() for line in screen.display], code, bytes(raw))


_text_listeners = itertools.count()


@dataclass
class TextListener:
    """A ``whrelay listen`` with human output (pretty or compact) captured to files."""

    proc: subprocess.Popen[bytes]
    url: str
    out_path: Path
    err_path: Path

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    @property
    def output(self) -> bytes:
        return self.out_path.read_bytes() + self.err_path.read_bytes()


def start_text_listener(tmp_path: Path, db: Path, *extra: str, output: str) -> TextListener:
    """Start ``whrelay listen --output OUTPUT`` (pretty or compact) with its output in files
    under ``tmp_path``, and wait until it has printed its URL."""
    n = next(_text_listeners)
    out_path, err_path = tmp_path / f"listen-{n}.out", tmp_path / f"listen-{n}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            whrelay_cmd("listen", "--port", "0", "--output", output, "--db", str(db), *extra),
            stdout=out,
            stderr=err,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(
            rb"http://127\.0\.0\.1:\d+/", out_path.read_bytes() + err_path.read_bytes()
        )
        if found:
            return TextListener(proc, found.group().decode(), out_path, err_path)
        if proc.poll() is not None:
            raise AssertionError(f"listen exited early: {err_path.read_bytes()!r}")
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError("listen printed no URL in 30 s")
