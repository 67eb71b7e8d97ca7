"""TUI benchmark: ``whrelay tui`` on 1,000 and 1,000,000 webhooks, in a real pseudo-terminal.

For each size (a database from ``bench/seed.py``, made once and cached) it starts
``whrelay tui`` in a 120x40 pseudo-terminal and reads what it paints, as a terminal would:

* **first screen**: from process start to the newest webhook's row painted, against the floor
  measured in the same run: a minimal Textual app (written to a temporary folder) that paints
  a static 50-row ``DataTable``. Goal on 1,000,000: within 1.5x the floor;
* **RSS** (``VmRSS``) after the first screen, and after ``G`` (the oldest row) and ``g`` (back).
  Goal: RSS on 1,000,000 within 30 MB of RSS on 1,000;
* **keys**: ``G``, ``g`` and ``PgDn``, each from the key written to the row it brings
  painted. Goal: under 100 ms;
* **search**: ``/`` and a text found among recent webhooks, to the first match painted (goal:
  under 300 ms); a text only the oldest webhook holds, to its row painted (the full history
  searched, the status line's progress counted as it streams); and ``Esc`` during a search
  that finds nothing, to the whole history painted again (a cancelled search).

Times are medians of ``--runs`` runs (after a warm-up run: bytecode and the page cache warm,
as for a database in use). Exit 0 whatever the figures; nonzero only when the harness fails.

    python bench/tui.py [--sizes 1000,1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from seed import seeded  # noqa: E402

from whrelay.core.models import format_time  # noqa: E402
from whrelay.storage import Store  # noqa: E402
from whrelay.storage.read import page  # noqa: E402

COLUMNS, LINES = 120, 40
TIMEOUT = 120.0
GOALS = {"first screen ratio": 1.5, "rss delta MB": 30.0, "key ms": 100.0, "search ms": 300.0}

FLOOR_APP = '''\
"""The floor for bench/tui.py: a minimal Textual app that paints a static 50-row table."""

from textual.app import App, ComposeResult
from textual.widgets import DataTable


class Floor(App[None]):
    BINDINGS = [("q", "quit", "quit")]

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("ID", "RECEIVED", "METHOD", "PATH", "EVENT", "SIGNATURE", "SIZE")
        for n in range(50):
            table.add_row(f"floor-{n:03d}", "10-21 14:13:16", "POST", f"/hooks/{n}",
                          "stripe/invoice.paid", "valid", "1.2 KiB")


Floor().run()
'''


class HarnessError(Exception):
    pass


@dataclass
class Terminal:
    """A process in a pseudo-terminal of COLUMNS x LINES, and everything it wrote, timed."""

    argv: list[str]
    proc: subprocess.Popen[bytes] = field(init=False)
    started: float = field(init=False)
    output: bytearray = field(default_factory=bytearray)
    chunks: list[tuple[float, int]] = field(default_factory=list)
    """When each read ended, and the length of the output then."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        # As an installed CLI runs, the second time: with bytecode (the warm-up runs write it),
        # so PYTHONDONTWRITEBYTECODE is dropped, as bench/startup.py does.
        dropped = ("COLUMNS", "LINES", "NO_COLOR", "PYTHONDONTWRITEBYTECODE")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env.update(TERM="xterm-256color", COLORTERM="truecolor", LANG="C.UTF-8")
        self.master = master
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.output += data
                self.chunks.append((time.perf_counter(), len(self.output)))

    def mark(self) -> int:
        with self.lock:
            return len(self.output)

    def wait_for(self, marker: bytes, since: int = 0, timeout: float = TIMEOUT) -> float:
        """When ``marker`` was first written after offset ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = self.output.find(marker, since)
                if found >= 0:
                    end = found + len(marker)
                    return next(t for t, length in self.chunks if length >= end)
            if self.proc.poll() is not None:
                raise HarnessError(f"{self.argv[1:]} exited with {self.proc.returncode}")
            time.sleep(0.002)
        tail = bytes(self.output[-2000:])
        raise HarnessError(f"no {marker!r} within {timeout:g} s; the last output: {tail!r}")

    def wait_for_pattern(
        self, pattern: re.Pattern[bytes], since: int = 0, timeout: float = TIMEOUT
    ) -> float:
        """When output matching ``pattern`` was first complete after offset ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = pattern.search(bytes(self.output[since:]))
                if found is not None:
                    end = since + found.end()
                    return next(t for t, length in self.chunks if length >= end)
            if self.proc.poll() is not None:
                raise HarnessError(f"{self.argv[1:]} exited with {self.proc.returncode}")
            time.sleep(0.002)
        raise HarnessError(f"no {pattern.pattern!r} within {timeout:g} s")

    def send(self, keys: bytes) -> float:
        sent = time.perf_counter()
        os.write(self.master, keys)
        return sent

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return kb / 1024

    def close(self) -> None:
        if self.proc.poll() is None:
            os.write(self.master, b"q")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.master)


def shown(received_at: int) -> bytes:
    """A row's time column, as the list paints it: the marker of that row."""
    return format_time(received_at)[5:19].replace("T", " ").encode()


@dataclass
class Markers:
    """What the runs look for, read once from the database."""

    newest: bytes
    oldest: bytes
    rows: list[bytes]
    recent_term: str
    rare_term: str

    @classmethod
    def of(cls, db: Path) -> Markers:
        with Store(db, readonly=True) as store:
            top = page(store, limit=200)
            oldest = page(store, direction="newer", limit=1)[0]
            rare = store.get_webhook(oldest.id).body or b""
        term = re.search(rb'"id":"(evt_\d+)"', rare)
        if term is None:
            raise HarnessError("the oldest webhook has no evt_ id to search for")
        return cls(
            newest=shown(top[0].received_at),
            oldest=shown(oldest.received_at),
            rows=[shown(s.received_at) for s in top],
            recent_term="invoice.paid",
            rare_term=term.group(1).decode(),
        )


def whrelay(db: Path) -> list[str]:
    return [sys.executable, "-m", "whrelay", "tui", "--db", str(db)]


def first_screen(argv: list[str], marker: bytes) -> float:
    terminal = Terminal(argv)
    try:
        return (terminal.wait_for(marker) - terminal.started) * 1000
    finally:
        terminal.close()


@dataclass
class Session:
    first_ms: float
    rss_first: float
    rss_after_jump: float
    keys: dict[str, float]
    search_recent_ms: float
    search_full_ms: float
    progress_updates: int
    cancel_ms: float


def timed_key(terminal: Terminal, key: bytes, marker: bytes) -> float:
    since = terminal.mark()
    sent = terminal.send(key)
    return (terminal.wait_for(marker, since) - sent) * 1000


def session(db: Path, markers: Markers) -> Session:
    terminal = Terminal(whrelay(db))
    try:
        first = (terminal.wait_for(markers.newest) - terminal.started) * 1000
        terminal.wait_for(b"of ")  # the status line: the history counted
        time.sleep(0.5)
        rss_first = terminal.rss_mb()
        screen = bytes(terminal.output)
        visible = sum(1 for row in markers.rows[:60] if row in screen)
        keys = {
            "G": timed_key(terminal, b"G", markers.oldest),
            "g": timed_key(terminal, b"g", markers.newest),
        }
        keys["PgDn"] = timed_key(terminal, b"\x1b[6~", markers.rows[2 * visible - 1])
        keys["g (again)"] = timed_key(terminal, b"g", markers.newest)
        time.sleep(0.5)
        rss_jump = terminal.rss_mb()
        # The status line of the whole term with a match found (its row is painted with it).
        term = re.escape(markers.recent_term.encode())
        found = re.compile(rb'search "' + term + rb'"(?:\x1b\[[0-9;]*m|\s)*[1-9][\d,]* match')
        since = terminal.mark()
        sent = terminal.send(b"/" + markers.recent_term.encode())
        recent = (terminal.wait_for_pattern(found, since) - sent) * 1000
        # Esc clears it; then a text only the oldest webhook holds: the whole history searched.
        since = terminal.mark()
        terminal.send(b"\x1b")
        terminal.wait_for(b"following", since)
        time.sleep(0.3)
        since = terminal.mark()
        sent = terminal.send(b"/" + markers.rare_term.encode())
        full = (terminal.wait_for(markers.oldest, since) - sent) * 1000
        updates = len(set(re.findall(rb"looked at ([\d,]+)", bytes(terminal.output[since:]))))
        since = terminal.mark()
        terminal.send(b"\x1b")
        terminal.wait_for(b"following", since)
        time.sleep(0.3)
        # A search that finds nothing, cancelled by Esc after a moment.
        terminal.send(b"/no such text anywhere")
        time.sleep(0.3)
        cancel = timed_key(terminal, b"\x1b", b"following")
        return Session(first, rss_first, rss_jump, keys, recent, full, updates, cancel)
    finally:
        terminal.close()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        floor = Path(folder) / "floor.py"
        floor.write_text(FLOOR_APP)
        floor_argv = [sys.executable, str(floor)]
        first_screen(floor_argv, b"floor-000")  # warm-up: bytecode
        results: dict[int, list[Session]] = {}
        for size in sizes:
            db = seeded(size)
            markers = Markers.of(db)
            session(db, markers)  # warm-up: bytecode, the page cache
            results[size] = [session(db, markers) for _ in range(args.runs)]
        floors = [first_screen(floor_argv, b"floor-000") for _ in range(args.runs)]
    report(sizes, results, median(floors))
    return 0


def report(sizes: list[int], results: dict[int, list[Session]], floor_ms: float) -> None:
    def figure(size: int, get: Callable[[Session], float]) -> float:
        return median([get(s) for s in results[size]])

    print(f"floor (a Textual app painting a static 50-row table): {floor_ms:.0f} ms")
    header = f"{'':34}" + "".join(f"{size:>14,}" for size in sizes)
    print(header)
    rows: list[tuple[str, Callable[[Session], float], str]] = [
        ("first screen, ms", lambda s: s.first_ms, "{:14.0f}"),
        ("first screen / floor", lambda s: s.first_ms / floor_ms, "{:14.2f}"),
        ("RSS after the first screen, MB", lambda s: s.rss_first, "{:14.1f}"),
        ("RSS after G and g, MB", lambda s: s.rss_after_jump, "{:14.1f}"),
        ("G (the oldest), ms", lambda s: s.keys["G"], "{:14.1f}"),
        ("g (the newest), ms", lambda s: s.keys["g"], "{:14.1f}"),
        ("PgDn, ms", lambda s: s.keys["PgDn"], "{:14.1f}"),
        ("/ recent text, first match, ms", lambda s: s.search_recent_ms, "{:14.1f}"),
        ("/ whole history, found, ms", lambda s: s.search_full_ms, "{:14.0f}"),
        ("  progress updates seen", lambda s: s.progress_updates, "{:14.0f}"),
        ("Esc during a search, ms", lambda s: s.cancel_ms, "{:14.1f}"),
    ]
    for name, get, fmt in rows:
        print(f"{name:34}" + "".join(fmt.format(figure(size, get)) for size in sizes))
    big, small = max(sizes), min(sizes)
    print("\ngoals:")
    ratio = figure(big, lambda s: s.first_ms) / floor_ms
    delta = figure(big, lambda s: s.rss_after_jump) - figure(small, lambda s: s.rss_after_jump)
    keys = max(figure(big, lambda s, k=k: s.keys[k]) for k in ("G", "g", "PgDn"))  # type: ignore[misc]
    search = figure(big, lambda s: s.search_recent_ms)
    for name, value, goal in (
        (f"first screen on {big:,} / floor", ratio, GOALS["first screen ratio"]),
        (f"RSS on {big:,} - RSS on {small:,} (MB)", delta, GOALS["rss delta MB"]),
        (f"slowest of G, g, PgDn on {big:,} (ms)", keys, GOALS["key ms"]),
        (f"first recent match on {big:,} (ms)", search, GOALS["search ms"]),
    ):
        verdict = "met" if value <= goal else "NOT met"
        print(f"  {name:44} {value:8.2f}  goal <= {goal:g}: {verdict}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as error:
        print(f"bench/tui.py: {error}", file=sys.stderr)
        sys.exit(1)
