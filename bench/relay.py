"""Relay benchmark: ``whrelay listen`` forwarding, next to the bare target and to mitmdump.

Part one, throughput. The same load as ``bench/ingest.py`` (1 KiB JSON POSTs shaped like a
Stripe event, each with its own event id, over 32 keep-alive connections, the same seconds a
run after a short warm-up, from ``wrk`` when it is on PATH, else from an aiohttp client) goes
to:

* ``direct``: the target itself, ``bench/_bare_server.py`` (reads the body, answers 200);
* ``whrelay``: ``whrelay listen -f <target port> --output quiet`` in store mode, forwarding to
  a fresh target: the sender is answered once the webhook and its delivery are committed, and
  the target gets it in the background. After the load the benchmark waits (bounded) until no
  delivery is pending, and reports the forwarding rate and the drain time besides the ingest
  rate. Every acknowledged webhook must be stored and delivered;
* ``mitmdump``: ``mitmdump --mode reverse:http://127.0.0.1:<target port> -w FILE``, the peer
  that also records and forwards. mitmproxy lives in a venv of the benchmark's own,
  ``~/.cache/whrelay-bench/mitm-venv`` (``$XDG_CACHE_HOME`` is honoured), made with
  ``python3 -m venv`` and ``pip install mitmproxy`` on the first run: it is never a dependency
  of the project. When it cannot be installed, that part is skipped.

Runs go direct, whrelay, mitmdump, direct (``--rounds`` times the middle two): the baseline
brackets the others, and each kind's runs are averaged. Each run prints the 2xx rate, the
load generator's latencies, the server's CPU (percent of one core, and per request), the
target's CPU, and the CPU the rest of the machine used meanwhile (``other``: when it is high,
something else was running and the numbers are noisy). For whrelay it then prints, from its
database: the ingest rate, the rate of deliveries made during the load and the backlog left
when it stopped, the forwarding throughput (deliveries from the first arrival to the last
delivery), the drain time, and whrelay's CPU per webhook taken in and passed on.

Part two, proxy mode latency at low load: one client sends requests one after another over a
keep-alive connection, after a warm-up, alternating blocks of 100 between the target directly
and ``whrelay listen --mode proxy -f <target port>`` (so that drift hits both alike); p50 and
p99 of each, and what the proxy adds.

    python bench/relay.py [--seconds 10] [--connections 32] [--warmup 2] [--requests 2000]
                          [--durability full|normal] [--no-mitmdump] [--no-latency]

Everything runs on 127.0.0.1 in a temporary directory (also ``WHRELAY_DATA_DIR``), removed at
the end with every process started; only mitmproxy's venv stays, in the cache directory.

The exit status is 0 whether or not the goals are met; it is nonzero only when the harness
itself fails (a server that does not start, a load generator that does not run).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ingest import (
    BARE_SERVER,
    HOST,
    MEASURED_PATH,
    MEASURED_PHASE,
    NOISE_PERCENT,
    REQUEST_TIMEOUT,
    WARMUP_PATH,
    WARMUP_PHASE,
    HarnessError,
    Load,
    LoadSpec,
    Payload,
    add_load_arguments,
    check_load_arguments,
    choose_client,
    cpu_seconds,
    filesystem_of,
    fmt,
    launch,
    machine_busy_seconds,
    make_payload,
    own_cpu_seconds,
    run_load,
    sigterm_as_exit,
    terminate,
    write_wrk_script,
    wrk_version,
)

Kind = Literal["direct", "whrelay", "mitmdump"]
LABELS: dict[Kind, str] = {
    "direct": "direct (bare)",
    "whrelay": "whrelay store",
    "mitmdump": "mitmdump",
}
GOAL_VS_DIRECT = 0.3
"""Least acceptable ratio of whrelay's ingest rate to the bare target's."""
GOAL_VS_MITMDUMP = 10.0
"""Least acceptable ratio of whrelay's ingest rate to mitmdump's."""
GOAL_PROXY_ADDED_MS = 2.0
"""Most milliseconds proxy mode may add to a request at p50."""

DRIFT = 1.2
"""Ratio of the bare target's CPU per request between its runs above which a note warns."""
LATENCY_BLOCK = 100
"""Requests sent in a row to one side before the client switches to the other."""
POLL_INTERVAL = 0.02
INSTALL_TIMEOUT = 900.0
"""Seconds ``pip install mitmproxy`` may take on the first run."""
VENV_MARKER = ".whrelay-bench"
"""File in the mitmproxy venv that says the benchmark made it (and may remake it)."""


# --- processes -----------------------------------------------------------------------------


@dataclass
class Proc:
    label: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path


RUNNING: list[Proc] = []
"""Every process started and not yet stopped: the ``finally`` of ``main`` stops them."""


def child_env(workdir: Path) -> dict[str, str]:
    # WHRELAY_DATA_DIR: nothing of the benchmark lands in the user's own whrelay data.
    return {
        **os.environ,
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
        "WHRELAY_DATA_DIR": str(workdir),
    }


def start(label: str, command: Callable[[int], list[str]], log: Path, workdir: Path) -> Proc:
    """Start ``command(port)`` on a free port; wait until a GET on it is answered 200.

    Every server here answers ``/_whrelay/health``: whrelay itself, the bare target (any
    path), and mitmdump (it passes the request on to the target).
    """

    def started(proc: subprocess.Popen[bytes], port: int) -> Proc:
        handle = Proc(label, proc, port, log)
        RUNNING.append(handle)
        return handle

    return launch(label, command, log, child_env(workdir), started, stop)


def stop(started: Proc) -> int:
    """Stop ``started`` (see ``ingest.terminate``) and forget it."""
    code = terminate(started.proc)
    if started in RUNNING:
        RUNNING.remove(started)
    return code


def target_command(port: int) -> list[str]:
    return [sys.executable, str(BARE_SERVER), "--port", str(port)]


def whrelay_command(
    target: int, db: Path, durability: str, mode: Literal["store", "proxy"]
) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "whrelay", "listen", "-f", str(target)),
            *("--mode", mode, "--output", "quiet", "--host", HOST, "--port", str(port)),
            *("--durability", durability, "--db", str(db)),
        ]

    return command


def mitmdump_command(mitmdump: Path, target: int, flows: Path) -> Callable[[int], list[str]]:
    confdir = mitmdump.parent.parent.parent / "mitmproxy-conf"

    def command(port: int) -> list[str]:
        return [
            *(str(mitmdump), "--mode", f"reverse:http://{HOST}:{target}", "-w", str(flows)),
            *("--listen-host", HOST, "--listen-port", str(port)),
            # Its CA and settings next to its venv, not in ~/.mitmproxy.
            *("--set", f"confdir={confdir}"),
        ]

    return command


# --- mitmproxy's own environment -----------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "whrelay-bench"


def mitmdump_version(mitmdump: Path) -> str | None:
    """``Mitmproxy: 11.0.2`` from ``mitmdump --version``, or None when it does not run."""
    try:
        done = subprocess.run(
            [str(mitmdump), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return next((line for line in done.stdout.splitlines() if line.strip()), "mitmdump")


def ensure_mitmdump(venv: Path) -> tuple[Path | None, str]:
    """``mitmdump`` from the benchmark's own venv, made on first use: (path, version), or
    (None, why not)."""
    mitmdump = venv / "bin" / "mitmdump"
    version = mitmdump_version(mitmdump)
    if version is not None:
        return mitmdump, version
    if venv.exists():
        if not (venv / VENV_MARKER).exists():
            return None, f"{venv} exists but has no working mitmdump (and is not ours to remake)"
        shutil.rmtree(venv)
    python3 = shutil.which("python3") or sys.executable
    print(f"installing mitmproxy into {venv} (first run only; it is not a project dependency)")
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [python3, "-m", "venv", str(venv)], capture_output=True, timeout=300, check=True
        )
        (venv / VENV_MARKER).write_text("made by whrelay's bench/relay.py; safe to delete\n")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run(
            [*pip, "--disable-pip-version-check", "mitmproxy"],
            capture_output=True,
            timeout=INSTALL_TIMEOUT,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(venv, ignore_errors=True)
        output = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        return None, f"{' '.join(map(str, error.cmd[:4]))} failed: {' '.join(output[-2:])}"
    except (OSError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(venv, ignore_errors=True)
        return None, str(error)
    version = mitmdump_version(mitmdump)
    if version is None:
        return None, "mitmproxy installed, but mitmdump does not run"
    return mitmdump, version


COUNT_FLOWS = """\
import sys
from mitmproxy import io

with open(sys.argv[1], "rb") as file:
    print(sum(
        1 for flow in io.FlowReader(file).stream()
        if getattr(getattr(flow, "request", None), "path", None) == sys.argv[2]
    ))
"""


def count_flows(mitmdump: Path, flows: Path) -> int | None:
    """Flows for the measured path that mitmdump wrote to its file, read with its own Python."""
    python = mitmdump.parent / "python"
    try:
        done = subprocess.run(
            [str(python), "-c", COUNT_FLOWS, str(flows), MEASURED_PATH],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return int(done.stdout) if done.returncode == 0 and done.stdout.strip().isdigit() else None


# --- whrelay's database --------------------------------------------------------------------


def open_readonly(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{urllib.parse.quote(str(db))}?mode=ro", uri=True, timeout=5.0)


def count_rows(db: Path) -> int:
    """Webhooks stored for the measured path."""
    with contextlib.closing(open_readonly(db)) as conn:
        sql = "SELECT count(*) FROM webhooks WHERE path = ?"
        return int(conn.execute(sql, (MEASURED_PATH,)).fetchone()[0])


def pending_count(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'pending'").fetchone()
    return int(row[0])


def wait_drained(db: Path, timeout: float) -> tuple[int, float]:
    """Poll until no delivery is pending or ``timeout`` passes: (still pending, seconds)."""
    began = time.monotonic()
    with contextlib.closing(open_readonly(db)) as conn:
        while True:
            pending = pending_count(conn)
            waited = time.monotonic() - began
            if pending == 0 or waited >= timeout:
                return pending, waited
            time.sleep(POLL_INTERVAL)


def pending_by_cli(db: Path, workdir: Path) -> int | None:
    """Webhooks ``whrelay list --status pending --json --limit 0`` lists (the user's view)."""
    command = [sys.executable, "-m", "whrelay", "list", "--status", "pending", "--json"]
    command += ["--limit", "0", "--db", str(db)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env=child_env(workdir), check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return sum(1 for line in done.stdout.splitlines() if line.strip())


@dataclass
class Forwarding:
    """What the forwarder did with the measured webhooks, from the database."""

    delivered: int
    failed: int
    pending: int
    delivered_during_load: int
    first_created_us: int | None
    last_delivered_us: int | None
    backlog_at_end: int
    """Deliveries pending when the load stopped."""
    drain_seconds: float
    """From the end of the load until no delivery was pending (polled)."""
    pending_listed: int | None = None
    cpu_us_per_webhook: float | None = None
    """whrelay's CPU from the start of the load until drained, per webhook delivered: the
    whole cost of taking one in and passing it on."""


def forwarding_stats(
    db: Path, load_end_us: int
) -> tuple[int, int, int, int, int | None, int | None]:
    """(delivered, failed, pending, delivered by load end, first created, last delivered)."""
    query = """
        SELECT
            coalesce(sum(d.state = 'delivered'), 0),
            coalesce(sum(d.state = 'failed'), 0),
            coalesce(sum(d.state = 'pending'), 0),
            coalesce(sum(d.state = 'delivered' AND d.updated_at <= ?), 0),
            min(d.created_at),
            max(CASE WHEN d.state = 'delivered' THEN d.updated_at END)
        FROM deliveries AS d JOIN webhooks AS w ON w.id = d.webhook_id
        WHERE w.path = ?
    """
    with contextlib.closing(open_readonly(db)) as conn:
        row = conn.execute(query, (load_end_us, MEASURED_PATH)).fetchone()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]), row[4], row[5])


# --- throughput runs -----------------------------------------------------------------------


@dataclass
class RunResult:
    number: int
    kind: Kind
    load: Load
    cpu_percent: float | None
    """The measured server's CPU (all threads) as a percentage of one core."""
    target_cpu_percent: float | None
    """The target's CPU, when the measured server is a relay in front of it."""
    cpu_us_per_request: float | None
    """The measured server's CPU per answered request during the load."""
    other_cpu_percent: float | None
    """CPU the rest of the machine used during the load (not the servers, not the load)."""
    exit_code: int
    probe_error: str | None = None
    rows: int | None = None
    """whrelay: webhooks stored; mitmdump: flows recorded (measured path)."""
    forwarding: Forwarding | None = None

    @property
    def rate(self) -> float:
        """2xx answers a second: a refused request is not a webhook taken in."""
        return self.load.ok / self.load.seconds if self.load.seconds else 0.0


@dataclass
class Settings:
    spec: LoadSpec
    warmup: float
    durability: str
    drain_timeout: float
    workdir: Path
    mitmdump: Path | None
    notes: list[str] = field(default_factory=list)


def send_one(port: int, payload: Payload, path: str = WARMUP_PATH) -> str | None:
    """Send one webhook; ``None`` when it is answered 2xx, else what came back instead."""
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("POST", path, body=payload.body, headers=payload.headers)
        answer = conn.getresponse()
        text = answer.read(300).decode(errors="replace").strip()
        return None if 200 <= answer.status < 300 else f"{answer.status}: {text}"
    except OSError as error:
        return f"no answer: {error}"
    finally:
        conn.close()


def cpu_since(pid: int, before: float | None) -> float | None:
    """CPU seconds process ``pid`` (and its descendants) used since they had used ``before``."""
    after = tree_cpu_seconds(pid)
    return None if before is None or after is None else after - before


PF_KTHREAD = 0x00200000


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    kernel_thread: bool
    ticks: int
    """User + system time of the process (all its threads)."""
    children_ticks: int
    """User + system time of its children that it has waited for."""


def proc_stats() -> dict[int, ProcStat]:
    """Every process's CPU times from /proc (Linux; empty elsewhere)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        found[int(stat.parent.name)] = ProcStat(
            ppid=int(fields[1]),
            kernel_thread=bool(int(fields[6]) & PF_KTHREAD),
            ticks=int(fields[11]) + int(fields[12]),
            children_ticks=int(fields[13]) + int(fields[14]),
        )
    return found


def tree_cpu_seconds(pid: int, stats: dict[int, ProcStat] | None = None) -> float | None:
    """CPU seconds of process ``pid`` and all its descendants, those still running and those
    reaped (whrelay listen commits in a child process of its own). None off Linux."""
    stats = proc_stats() if stats is None else stats
    if pid not in stats:
        return cpu_seconds(pid)
    children: dict[int, list[int]] = {}
    for child, stat in stats.items():
        children.setdefault(stat.ppid, []).append(child)
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += stats[current].ticks + stats[current].children_ticks
        todo.extend(children.get(current, ()))
    return total / os.sysconf("SC_CLK_TCK")


def kernel_thread_seconds(stats: dict[int, ProcStat] | None = None) -> float:
    """CPU seconds all kernel threads have used. Under load much of it is on the servers'
    behalf (the journal and the block layer doing whrelay's fsyncs, memory management), so it
    is not counted as "other processes"."""
    stats = proc_stats() if stats is None else stats
    ticks = sum(stat.ticks for stat in stats.values() if stat.kernel_thread)
    return ticks / os.sysconf("SC_CLK_TCK")


def per(value: float | None, count: float, scale: float) -> float | None:
    return None if value is None or count <= 0 else scale * value / count


def run_one(number: int, kind: Kind, settings: Settings) -> RunResult:
    workdir, spec = settings.workdir, settings.spec
    target = start("target", target_command, workdir / f"run{number}-target.log", workdir)
    measured = target
    db = workdir / f"run{number}-whrelay.db"
    flows = workdir / f"run{number}-mitmdump.flows"
    try:
        if kind == "whrelay":
            command = whrelay_command(target.port, db, settings.durability, "store")
            measured = start("whrelay listen", command, workdir / f"run{number}.log", workdir)
        elif kind == "mitmdump":
            assert settings.mitmdump is not None
            command = mitmdump_command(settings.mitmdump, target.port, flows)
            measured = start("mitmdump", command, workdir / f"run{number}.log", workdir)
        probe_error = send_one(measured.port, spec.payload)
        if settings.warmup > 0:
            run_load(
                f"http://{HOST}:{measured.port}{WARMUP_PATH}", settings.warmup, spec, WARMUP_PHASE
            )
        if kind == "whrelay":  # the warm-up's deliveries must not compete with the run's
            wait_drained(db, settings.drain_timeout)
        before = (tree_cpu_seconds(measured.proc.pid), tree_cpu_seconds(target.proc.pid))
        machine_before, own_before = machine_busy_seconds(), own_cpu_seconds()
        kernel_before = kernel_thread_seconds()
        wall_before = time.monotonic()
        load = run_load(
            f"http://{HOST}:{measured.port}{MEASURED_PATH}", spec.seconds, spec, MEASURED_PHASE
        )
        load_end_us = time.time_ns() // 1000
        wall = time.monotonic() - wall_before
        machine_after, own = machine_busy_seconds(), own_cpu_seconds() - own_before
        own += kernel_thread_seconds() - kernel_before
        server_cpu = cpu_since(measured.proc.pid, before[0])
        target_cpu = cpu_since(target.proc.pid, before[1]) if measured is not target else None
        others = None
        if machine_before is not None and machine_after is not None and server_cpu is not None:
            busy = machine_after - machine_before
            others = max(0.0, busy - server_cpu - (target_cpu or 0.0) - own)
        forwarding = None
        if kind == "whrelay":
            with contextlib.closing(open_readonly(db)) as conn:
                backlog = pending_count(conn)
            still, drain = wait_drained(db, settings.drain_timeout)
            if still:
                settings.notes.append(
                    f"run {number}: {still} deliveries still pending after "
                    f"{settings.drain_timeout:g} s (--drain-timeout)"
                )
            stats = forwarding_stats(db, load_end_us)
            forwarding = Forwarding(*stats[:4], stats[4], stats[5], backlog, drain)
            forwarding.cpu_us_per_webhook = per(
                cpu_since(measured.proc.pid, before[0]), forwarding.delivered, 1e6
            )
            forwarding.pending_listed = pending_by_cli(db, workdir)
    finally:
        exit_code = stop(measured)
        if measured is not target:
            stop(target)
    result = RunResult(
        number,
        kind,
        load,
        cpu_percent=per(server_cpu, wall, 100),
        target_cpu_percent=per(target_cpu, wall, 100),
        cpu_us_per_request=per(server_cpu, load.requests, 1e6),
        other_cpu_percent=per(others, wall, 100),
        exit_code=exit_code,
        probe_error=probe_error,
    )
    result.forwarding = forwarding
    if kind == "whrelay":
        result.rows = count_rows(db)
    elif kind == "mitmdump":
        assert settings.mitmdump is not None
        result.rows = count_flows(settings.mitmdump, flows)
    return result


def plan(rounds: int, with_mitmdump: bool) -> list[Kind]:
    """direct, then whrelay and mitmdump per round, then direct again."""
    kinds: list[Kind] = ["direct"]
    for _ in range(rounds):
        kinds += ["whrelay", "mitmdump"] if with_mitmdump else ["whrelay"]
    return [*kinds, "direct"]


# --- latency -------------------------------------------------------------------------------


class SequentialClient:
    """One keep-alive connection; one request at a time (``http.client``: little overhead)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def post(self, payload: Payload) -> tuple[int | None, float]:
        """(status or None on a socket error, seconds); headers and body go in one send."""
        began = time.perf_counter()
        try:
            self.conn.request("POST", MEASURED_PATH, body=payload.body, headers=payload.headers)
            answer = self.conn.getresponse()
            answer.read()
            status: int | None = answer.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = self._connect()
            status = None
        return status, time.perf_counter() - began

    def close(self) -> None:
        self.conn.close()


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    failures: int = 0

    def percentile(self, p: float) -> float | None:
        """Milliseconds at percentile ``p`` (nearest rank)."""
        if not self.seconds:
            return None
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def run_latency(
    payload: Payload, requests: int, warmup: int, budget: float, durability: str, workdir: Path
) -> tuple[Latencies, Latencies, list[str]]:
    """(direct, through whrelay's proxy mode, notes on what may have skewed them)."""
    target = start("target", target_command, workdir / "latency-target.log", workdir)
    proxy: Proc | None = None
    clients: list[SequentialClient] = []
    try:
        command = whrelay_command(target.port, workdir / "latency.db", durability, "proxy")
        proxy = start("whrelay listen --mode proxy", command, workdir / "latency.log", workdir)
        direct_client, proxy_client = SequentialClient(target.port), SequentialClient(proxy.port)
        clients = [direct_client, proxy_client]
        for client in clients:
            for _ in range(warmup):
                client.post(payload)
        sides = [(direct_client, Latencies()), (proxy_client, Latencies())]
        notes = []
        pids = (target.proc.pid, proxy.proc.pid)
        servers_before = [tree_cpu_seconds(pid) for pid in pids]
        machine_before, own_before = machine_busy_seconds(), own_cpu_seconds()
        kernel_before = kernel_thread_seconds()
        began = time.monotonic()
        deadline = began + budget
        for block in range(-(-requests // LATENCY_BLOCK)):
            if time.monotonic() >= deadline:
                notes.append(f"stopped after {budget:g} s (--latency-budget), {block} blocks each")
                break
            size = min(LATENCY_BLOCK, requests - block * LATENCY_BLOCK)
            for client, latencies in sides if block % 2 == 0 else sides[::-1]:
                for _ in range(size):
                    status, seconds = client.post(payload)
                    if status is not None and 200 <= status < 300:
                        latencies.seconds.append(seconds)
                    else:
                        latencies.failures += 1
        wall = time.monotonic() - began
        servers = [cpu_since(pid, before) for pid, before in zip(pids, servers_before, strict=True)]
        machine_after, own = machine_busy_seconds(), own_cpu_seconds() - own_before
        own += kernel_thread_seconds() - kernel_before
        if machine_before is not None and machine_after is not None and None not in servers:
            others = machine_after - machine_before - own - sum(c or 0.0 for c in servers)
            if 100 * others / wall > NOISE_PERCENT:
                notes.append(
                    f"other processes used {100 * others / wall:.0f}% CPU meanwhile: latencies "
                    "are skewed; rerun on a quiet machine"
                )
        return sides[0][1], sides[1][1], notes
    finally:
        for client in clients:
            client.close()
        if proxy is not None:
            stop(proxy)
        stop(target)


# --- report --------------------------------------------------------------------------------


def print_header(spec: LoadSpec, args: argparse.Namespace, workdir: Path, mitm: str) -> None:
    import aiohttp

    client = f"{wrk_version()}, {spec.threads} thread(s)" if spec.client == "wrk" else "aiohttp"
    print(
        f"whrelay relay benchmark: {len(spec.payload.body)}-byte JSON POSTs (Stripe-like, "
        f"a new event id each), {spec.connections} connections, {spec.seconds:g} s a run after "
        f"{args.warmup:g} s warm-up; load from {client}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, aiohttp "
        f"{aiohttp.__version__}, SQLite {sqlite3.sqlite_version}; whrelay --durability "
        f"{args.durability}; databases in {workdir} ({filesystem_of(workdir)}); {mitm}"
    )
    if spec.client == "aiohttp":
        print(
            "note: the aiohttp load generator is slower than the bare target, so the direct "
            "rate is the client's limit and whrelay's ratios look better than they are; "
            "install wrk"
        )


def print_table_header() -> None:
    print()
    print(
        f"{'run':>3}  {'server':<14} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'2xx':>8} "
        f"{'non-2xx':>7} {'sock err':>8} {'srv CPU':>7} {'µs/req':>6} {'tgt CPU':>7} "
        f"{'other':>5} {'exit':>4}"
    )


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def print_run(result: RunResult) -> None:
    load = result.load
    print(
        f"{result.number:>3}  {LABELS[result.kind]:<14} {result.rate:>9.0f} "
        f"{fmt(load.p50_ms, '.2f'):>7} {fmt(load.p99_ms, '.2f'):>7} {load.ok:>8} "
        f"{load.requests - load.ok:>7} {load.socket_errors:>8} "
        f"{percent(result.cpu_percent):>7} {fmt(result.cpu_us_per_request, '.0f'):>6} "
        f"{percent(result.target_cpu_percent):>7} {percent(result.other_cpu_percent):>5} "
        f"{result.exit_code:>4}",
        flush=True,
    )
    if result.probe_error is not None:
        print(f"     ! a single webhook sent before the run was answered {result.probe_error}")


def forwarding_rate(result: RunResult) -> float | None:
    """Deliveries a second, from the first measured arrival to the last delivery."""
    f = result.forwarding
    if f is None or f.first_created_us is None or f.last_delivered_us is None:
        return None
    span = (f.last_delivered_us - f.first_created_us) / 1e6
    return f.delivered / span if span > 0 else None


def print_forwarding(results: list[RunResult]) -> None:
    for result in results:
        f = result.forwarding
        if f is None:
            continue
        ok = result.load.ok
        print(f"whrelay run {result.number}, store mode forwarding to the target:")
        print(f"  ingest (2xx to the sender)      {result.rate:>9.0f} req/s  ({ok} in the run)")
        during = f.delivered_during_load / result.load.seconds
        print(
            f"  forwarded during the load       {during:>9.0f} req/s  (backlog when the load "
            f"stopped: {f.backlog_at_end})"
        )
        rate = forwarding_rate(result)
        if rate is not None and f.first_created_us and f.last_delivered_us:
            span = (f.last_delivered_us - f.first_created_us) / 1e6
            print(
                f"  forwarding throughput           {rate:>9.0f} req/s  ({f.delivered} delivered "
                f"in {span:.2f} s, first arrival to last delivery)"
            )
        print(f"  drain time after the load       {f.drain_seconds:>9.2f} s")
        print(
            f"  whrelay CPU per webhook         {fmt(f.cpu_us_per_webhook, '.0f'):>9} µs     "
            "(taken in and forwarded: load start to drained)"
        )
        stored = "-" if result.rows is None else str(result.rows)
        lost = (
            [] if result.rows is None or result.rows >= ok else [f"{ok - result.rows} NOT STORED"]
        )
        if f.delivered < ok:
            lost.append(f"{ok - f.delivered} NOT DELIVERED")
        print(
            f"  stored {stored}, delivered {f.delivered}, failed {f.failed}, pending {f.pending}"
            f" (whrelay list --status pending: {fmt(f.pending_listed, 'd')}) for {ok} 2xx: "
            f"{', '.join(lost) or 'OK'}"
        )


def print_throughput_summary(results: list[RunResult]) -> None:
    rates: dict[Kind, list[float]] = {}
    for result in results:
        rates.setdefault(result.kind, []).append(result.rate)
    mean = {kind: statistics.fmean(values) for kind, values in rates.items()}
    print()
    print(f"{'server':<14} {'req/s':>9}  runs")
    for kind in ("direct", "whrelay", "mitmdump"):
        if kind in mean:
            runs = ", ".join(f"{r:.0f}" for r in rates[kind])
            print(f"{LABELS[kind]:<14} {mean[kind]:>9.0f}  {runs}")
    for result in results:
        if result.kind == "mitmdump":
            flows = "-" if result.rows is None else str(result.rows)
            print(
                f"  mitmdump run {result.number}: {flows} flows recorded for {result.load.ok} 2xx"
            )
    print()
    print(f"{'ratio':<20} {'value':>7}  {'goal':<9} met")
    whrelay = mean.get("whrelay")
    goals: tuple[tuple[str, Kind, float], ...] = (
        ("whrelay / direct", "direct", GOAL_VS_DIRECT),
        ("whrelay / mitmdump", "mitmdump", GOAL_VS_MITMDUMP),
    )
    for name, other, goal in goals:
        base = mean.get(other)
        if whrelay is None or not base:
            print(f"{name:<20} {'-':>7}  >= {goal:<6g} (not measured)")
            continue
        ratio = whrelay / base
        print(f"{name:<20} {ratio:>7.2f}  >= {goal:<6g} {'yes' if ratio >= goal else 'NO'}")
    forwarded = [forwarding_rate(r) for r in results if r.forwarding is not None]
    rates_known = [rate for rate in forwarded if rate is not None]
    if rates_known and mean.get("direct"):
        ratio = statistics.fmean(rates_known) / mean["direct"]
        print(f"{'forwarding / direct':<20} {ratio:>7.2f}  (no goal: whrelay's delivery rate)")
    costs = [r.cpu_us_per_request for r in results if r.kind == "direct"]
    known = [cost for cost in costs if cost]
    if len(known) > 1 and max(known) > DRIFT * min(known):
        print(
            f"note: the bare target's CPU per request went from {known[0]:.0f} to "
            f"{known[-1]:.0f} µs between its runs: the machine itself changed speed (contention "
            "outside what /proc shows?); the ratios are uncertain, rerun with --rounds 3"
        )
    busy = [r for r in results if (r.other_cpu_percent or 0.0) > NOISE_PERCENT]
    if busy:
        runs = ", ".join(f"{r.number} ({r.other_cpu_percent:.0f}%)" for r in busy)
        print(
            f"note: other processes used much CPU during run(s) {runs} (column 'other'); "
            "the numbers are noisy: rerun on a quiet machine, or with --rounds 3"
        )


def print_latency(direct: Latencies, proxied: Latencies, notes: list[str]) -> None:
    print()
    print(
        f"proxy mode latency, sequential requests on one keep-alive connection "
        f"({len(direct.seconds)} direct, {len(proxied.seconds)} through whrelay --mode proxy):"
    )
    print(f"  {'':<16} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6}")
    for name, lat in (("direct", direct), ("whrelay proxy", proxied)):
        p50, p99 = lat.percentile(50), lat.percentile(99)
        print(f"  {name:<16} {fmt(p50, '.3f'):>7} {fmt(p99, '.3f'):>7} {lat.failures:>6}")
    d50, p50 = direct.percentile(50), proxied.percentile(50)
    d99, p99 = direct.percentile(99), proxied.percentile(99)
    if d50 is not None and p50 is not None and d99 is not None and p99 is not None:
        added = p50 - d50
        print(f"  {'added':<16} {added:>7.3f} {p99 - d99:>7.3f}")
        met = "yes" if added <= GOAL_PROXY_ADDED_MS else "NO"
        print(f"  goal: proxy adds <= {GOAL_PROXY_ADDED_MS:g} ms at p50: {met}")
    for note in notes:
        print(f"  note: {note}")


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput of whrelay listen forwarding (store mode) next to the bare "
        "target and to mitmdump; then proxy mode's added latency."
    )
    add_load_arguments(parser, "times to run whrelay and mitmdump (direct: +1)")
    parser.add_argument(
        "--durability", choices=["full", "normal"], default="full", help="whrelay's --durability"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="most seconds to wait for deliveries"
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="latency: measured requests per side"
    )
    parser.add_argument(
        "--latency-warmup", type=int, default=200, help="latency: warm-up requests per side"
    )
    parser.add_argument(
        "--latency-budget", type=float, default=120.0, help="latency: most seconds measured"
    )
    parser.add_argument("--no-mitmdump", action="store_true", help="skip mitmdump")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency part")
    parser.add_argument("--no-throughput", action="store_true", help="skip the throughput part")
    parser.add_argument(
        "--mitm-venv",
        type=Path,
        default=default_cache_dir() / "mitm-venv",
        help="mitmproxy's own venv, made on the first run (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    check_load_arguments(parser, args)
    if args.requests < 1 or args.latency_warmup < 0 or args.latency_budget <= 0:
        parser.error("--requests and --latency-budget must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = choose_client(args.client)
    workdir = Path(tempfile.mkdtemp(prefix="whrelay-bench-relay-", dir=args.tmpdir))
    try:
        with sigterm_as_exit():
            payload = make_payload(args.body_bytes)
            spec = LoadSpec(
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
                payload=payload,
                client=client,
                script=write_wrk_script(workdir, payload) if client == "wrk" else None,
            )
            mitmdump, mitm = None, "mitmdump skipped (--no-mitmdump)"
            if not (args.no_mitmdump or args.no_throughput):
                mitmdump, mitm = ensure_mitmdump(args.mitm_venv)
                if mitmdump is None:
                    print(f"mitmproxy cannot be installed ({mitm}): skipping mitmdump")
                    mitm = "mitmdump skipped (not installable)"
            settings = Settings(
                spec, args.warmup, args.durability, args.drain_timeout, workdir, mitmdump
            )
            print_header(spec, args, workdir, mitm)
            if not args.no_throughput:
                print_table_header()
                results = []
                for number, kind in enumerate(plan(args.rounds, mitmdump is not None), start=1):
                    result = run_one(number, kind, settings)
                    print_run(result)
                    results.append(result)
                print()
                print_forwarding(results)
                print_throughput_summary(results)
            if not args.no_latency:
                latency = run_latency(
                    payload,
                    args.requests,
                    args.latency_warmup,
                    args.latency_budget,
                    args.durability,
                    workdir,
                )
                print_latency(*latency)
            for note in settings.notes:
                print(f"note: {note}")
    finally:
        for started in list(RUNNING):
            stop(started)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as error:
        sys.stderr.write(f"bench: error: {error}\n")
        sys.exit(1)
