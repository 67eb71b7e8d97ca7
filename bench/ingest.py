"""Ingest benchmark: how many webhooks a second ``whrelay listen`` stores, next to bare aiohttp.

Starts four kinds of server as subprocesses on free ports of 127.0.0.1, one at a time, each
fresh for its run:

* ``bare``: ``bench/_bare_server.py``, an aiohttp server that reads the body and answers 200
  (the handler routed by a ``web.Application``: the baseline of the goals);
* ``http``: the same answer from whrelay's own HTTP layer, storing nothing (the floor,
  shown for reference: what is left between it and ``full`` is the cost of storing);
* ``full``: ``whrelay listen --output quiet`` with the default durability (fsync per commit);
* ``normal``: the same with ``--durability normal``.

Each gets the same load for the same time: 1 KiB JSON POSTs shaped like a Stripe event, each
with its own event id (``--duplicates``: one id throughout), with Stripe's headers
(``Stripe-Signature`` included), over 32 keep-alive connections, after a short warm-up. The
load comes from ``wrk`` when it is on PATH, else from an aiohttp client with as many
connections. Runs go bare, http, full, normal (``--rounds`` times), then bare once more,
so that drift over the session hits the baseline on both sides; each kind's runs are
averaged. After each whrelay run the database's rows are counted and checked against the
2xx answers the load generator saw: every acknowledged webhook must be stored.

    python bench/ingest.py [--seconds 10] [--connections 32] [--warmup 2] [--rounds 1]

The exit status is 0 whether or not the goals are met; it is nonzero only when the harness
itself fails (a server that does not start, a load generator that does not run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Literal, TypeVar

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BARE_SERVER = HERE / "_bare_server.py"

MEASURED_PATH = "/webhooks/stripe"
"""Where the measured load goes; the rows counted afterwards are the ones with this path."""
WARMUP_PATH = "/warmup/stripe"

SIGNING_SECRET = b"whsec_benchmark_only_not_a_real_secret"
REQUEST_TIMEOUT = 10.0
"""Seconds before the load generator gives up on one request (counted as a socket error)."""
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

NOISE_PERCENT = 25.0
"""CPU (percent of one core) other processes may use during a run before the report warns."""

Kind = Literal["bare", "http", "full", "normal"]
LABELS: dict[Kind, str] = {
    "bare": "bare aiohttp",
    "http": "bare whrelay-http",
    "full": "whrelay full",
    "normal": "whrelay normal",
}
GOALS: dict[Kind, float] = {"full": 0.6, "normal": 0.8}
"""Least acceptable ratio of whrelay's throughput to the bare server's."""


class HarnessError(Exception):
    """Something the benchmark itself needs went wrong (not a slow whrelay)."""


# --- the request ---------------------------------------------------------------------------


EVENT_ID = b"evt_3PqXb2LkdIwHu7ix0Q9xYz1A"
"""The event id in the template body; each request gets its own id of the same length."""


@dataclass(frozen=True)
class Payload:
    body: bytes
    headers: dict[str, str]
    unique: bool = True
    """Give every request its own event id, as real senders do. The signature then covers
    only the template (whrelay runs without a secret here, so nothing checks it). False sends
    the template as is: every webhook after the first is flagged as a duplicate."""

    @property
    def halves(self) -> tuple[bytes, bytes]:
        """The body before and after the event id."""
        before, found, after = self.body.partition(EVENT_ID)
        assert found, "the template body holds EVENT_ID"
        return before, after

    def body_for(self, phase: int, number: int) -> bytes:
        """The body of request ``number`` (counted from 1) of load ``phase``."""
        if not self.unique:
            return self.body
        before, after = self.halves
        return before + event_id(phase, 0, number) + after


WARMUP_PHASE, MEASURED_PHASE = 1, 2
"""Loads sent to one server number their ids apart (a warm-up's ids are not sent again)."""


def event_id(phase: int, thread: int, number: int) -> bytes:
    """A Stripe-shaped id as long as EVENT_ID, unique per (load phase, load thread, request
    number). ``post.lua`` makes the same ids (keep the two in step)."""
    return b"evt_%02d%02d%020d" % (phase, thread, number)


def make_payload(size: int, unique: bool = True) -> Payload:
    """A Stripe-like ``payment_intent.succeeded`` event of exactly ``size`` bytes, signed."""
    created = int(time.time())
    event: dict[str, object] = {
        "id": EVENT_ID.decode(),
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": {
            "object": {
                "id": "pi_3PqXb2LkdIwHu7ix0aBcDeF",
                "object": "payment_intent",
                "amount": 4999,
                "amount_received": 4999,
                "currency": "eur",
                "customer": "cus_QhY7nM2pLr8sTu",
                "description": "Order #100482",
                "latest_charge": "ch_3PqXb2LkdIwHu7ix0GhIjKl",
                "livemode": False,
                "metadata": {"order_id": "100482", "note": ""},
                "payment_method": "pm_1PqXazLkdIwHu7ixMnOpQrSt",
                "payment_method_types": ["card"],
                "receipt_email": "jane.doe@example.com",
                "status": "succeeded",
            }
        },
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_Vw8xYz1AbCdEf", "idempotency_key": "5e1c8a52-0c1f-4f7e-9d7b"},
        "type": "payment_intent.succeeded",
    }

    def encode() -> bytes:
        return json.dumps(event, indent=2).encode() + b"\n"

    shortfall = size - len(encode())
    if shortfall < 0:
        raise HarnessError(f"--body-bytes must be at least {size - shortfall}")
    metadata = event["data"]["object"]["metadata"]  # type: ignore[index]
    metadata["note"] = ("gift wrap, leave at the door. " * (shortfall // 30 + 1))[:shortfall]
    body = encode()
    assert len(body) == size, (len(body), size)
    signed = hmac.new(SIGNING_SECRET, f"{created}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Accept": "*/*; q=0.5, application/xml",
        "Cache-Control": "no-cache",
        "Stripe-Signature": f"t={created},v1={signed}",
    }
    return Payload(body=body, headers=headers, unique=unique)


# --- servers -------------------------------------------------------------------------------


@dataclass
class Server:
    kind: Kind
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    db: Path | None

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


RUNNING: list[Server] = []
"""Every server started and not yet stopped: the ``finally`` of ``main`` stops them."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def server_command(kind: Kind, port: int, db: Path) -> list[str]:
    if kind == "bare":
        return [sys.executable, str(BARE_SERVER), "--port", str(port)]
    if kind == "http":
        return [sys.executable, str(BARE_SERVER), "--port", str(port), "--whrelay-http"]
    command = [sys.executable, "-m", "whrelay", "listen", "--host", HOST, "--port", str(port)]
    command += ["--output", "quiet", "--db", str(db)]
    if kind == "normal":
        command += ["--durability", "normal"]
    return command


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthy(port: int) -> bool:
    try:
        with _NO_PROXY.open(f"http://{HOST}:{port}/_whrelay/health", timeout=1.0) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


T = TypeVar("T")


def launch(
    label: str,
    command: Callable[[int], list[str]],
    log: Path,
    env: dict[str, str],
    started: Callable[[subprocess.Popen[bytes], int], T],
    stop: Callable[[T], object],
) -> T:
    """Start ``command(port)`` on a free port and wait until it answers a health check.

    ``started`` wraps (and registers, for cleanup) the new process; ``stop`` undoes that when
    the server does not come up. Shared by every benchmark in this folder.
    """
    for _attempt in range(3):
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command(port),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        handle = started(proc, port)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if healthy(port):
                return handle
            time.sleep(0.05)
        stop(handle)
        tail = log_tail(log)
        if "cannot listen" in tail or "address already in use" in tail.lower():
            continue  # another process took the port between the probe and the bind
        raise HarnessError(f"{label} did not start on port {port}:\n{tail}")
    raise HarnessError(f"{label} could not bind a free port in 3 attempts")


def terminate(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def start_server(kind: Kind, workdir: Path, run: int) -> Server:
    """Start a server of ``kind`` on a free port and wait until it answers a health check."""
    db = workdir / f"run{run}-{kind}.db" if kind in ("full", "normal") else None
    log = workdir / f"run{run}-{kind}.log"

    def started(proc: subprocess.Popen[bytes], port: int) -> Server:
        server = Server(kind=kind, proc=proc, port=port, log=log, db=db)
        RUNNING.append(server)
        return server

    return launch(
        LABELS[kind],
        lambda port: server_command(kind, port, db or workdir / "unused.db"),
        log,
        {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"},
        started,
        stop_server,
    )


def stop_server(server: Server) -> int:
    """Stop ``server`` (see ``terminate``) and forget it."""
    code = terminate(server.proc)
    if server in RUNNING:
        RUNNING.remove(server)
    return code


def probe(server: Server, payload: Payload) -> str | None:
    """Send one webhook; ``None`` when it is answered 2xx, else what came back instead."""
    request = urllib.request.Request(
        server.url(WARMUP_PATH), data=payload.body, headers=payload.headers, method="POST"
    )
    try:
        with _NO_PROXY.open(request, timeout=REQUEST_TIMEOUT) as answer:
            return None if 200 <= answer.status < 300 else f"status {answer.status}"
    except urllib.error.HTTPError as error:
        text = error.read(300).decode(errors="replace").strip()
        return f"{error.code}: {text}"
    except (urllib.error.URLError, OSError) as error:
        return f"no answer: {error}"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads), or None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (whrelay's storage process), or [] off Linux."""
    pids: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(child) for child in children.read_text().split()]
    return pids


def children_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the processes ``pid`` started that are still running."""
    return sum(cpu_seconds(child) or 0.0 for child in child_pids(pid))


def machine_busy_seconds() -> float | None:
    """CPU seconds the machine's processes (and its hypervisor) have used since boot.

    Interrupt and softirq time is left out: loopback TCP for the benchmark's own traffic is
    accounted there, not to the server or wrk. None off Linux.
    """
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(x) for x in first[1:9])
    return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its reaped children (wrk), for the load's share."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def count_rows(db: Path, path: str) -> int | str:
    """Rows stored for ``path``, or why they could not be counted.

    Read after the server has stopped, so everything it acknowledged has been committed.
    """
    uri = f"file:{urllib.parse.quote(str(db))}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            sql = "SELECT count(*) FROM webhooks WHERE path = ?"
            row = conn.execute(sql, (path,)).fetchone()
    except sqlite3.Error as error:
        return f"cannot read {db}: {error}"
    return int(row[0])


# --- load ----------------------------------------------------------------------------------


@dataclass
class Load:
    """What a load generator reports for one run."""

    requests: int
    """Responses received, whatever their status."""
    seconds: float
    ok: int
    """2xx and 3xx responses."""
    socket_errors: int
    """Connect, read and write errors and timeouts."""
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class LoadSpec:
    seconds: float
    connections: int
    threads: int
    payload: Payload
    client: Literal["wrk", "aiohttp"]
    script: Path | None = None


WRK_SCRIPT = """\
-- Generated by bench/ingest.py: a signed Stripe-like POST (each with its own event id when
-- unique is true), and a parseable summary at the end.
local function slurp(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end
wrk.method = "POST"
wrk.body = slurp({body_path})
{headers}
local unique = {unique}
local before, after = slurp({before_path}), slurp({after_path})

local threads = 0
function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

local phase = 0
function init(args)
  phase = tonumber(args[1]) or 0
end

local sent = 0
function request()
  if not unique then
    return wrk.request()
  end
  sent = sent + 1
  -- The same ids as event_id() in bench/ingest.py.
  local id = string.format("evt_%02d%02d%020d", phase, thread_number, sent)
  return wrk.format(nil, nil, nil, before .. id .. after)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d status=%d connect=%d read=%d write=%d " ..
    "timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_wrk_script(workdir: Path, payload: Payload) -> Path:
    body_path = workdir / "body.json"
    body_path.write_bytes(payload.body)
    before, after = payload.halves
    before_path, after_path = workdir / "before.json", workdir / "after.json"
    before_path.write_bytes(before)
    after_path.write_bytes(after)
    headers = "\n".join(
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in payload.headers.items()
    )
    script = workdir / "post.lua"
    script.write_text(
        WRK_SCRIPT.format(
            body_path=lua_string(str(body_path)),
            before_path=lua_string(str(before_path)),
            after_path=lua_string(str(after_path)),
            unique="true" if payload.unique else "false",
            headers=headers,
        )
    )
    return script


def run_wrk(url: str, seconds: float, spec: LoadSpec, phase: int) -> Load:
    assert spec.script is not None
    command = [
        "wrk",
        f"-t{max(1, min(spec.threads, spec.connections))}",
        f"-c{spec.connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={REQUEST_TIMEOUT:g}s",
        "-s",
        str(spec.script),
        url,
        "--",
        str(phase),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise HarnessError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    values = {k: int(v) for k, _, v in (p.partition("=") for p in line.split()[1:])}
    sock = values["connect"] + values["read"] + values["write"] + values["timeout"]
    return Load(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        ok=values["requests"] - values["status"],
        socket_errors=sock,
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
    )


async def _aiohttp_load(url: str, seconds: float, spec: LoadSpec, phase: int) -> Load:
    import aiohttp

    latencies: list[float] = []
    counts = {"ok": 0, "other": 0, "errors": 0}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=spec.connections)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.perf_counter() + seconds

        sent = 0

        async def worker() -> None:
            nonlocal sent
            while time.perf_counter() < deadline:
                sent += 1
                body = spec.payload.body_for(phase, sent)
                began = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=spec.payload.headers) as answer:
                        await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError):
                    counts["errors"] += 1
                    continue
                latencies.append(time.perf_counter() - began)
                counts["ok" if 200 <= status < 400 else "other"] += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec.connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000

    return Load(
        requests=counts["ok"] + counts["other"],
        seconds=elapsed,
        ok=counts["ok"],
        socket_errors=counts["errors"],
        p50_ms=percentile(50),
        p99_ms=percentile(99),
    )


def run_load(url: str, seconds: float, spec: LoadSpec, phase: int) -> Load:
    """``spec``'s load on ``url`` for ``seconds``; ``phase`` keeps its event ids apart from
    those of other loads on the same server."""
    if spec.client == "wrk":
        return run_wrk(url, seconds, spec, phase)
    return asyncio.run(_aiohttp_load(url, seconds, spec, phase))


# --- runs ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    number: int
    kind: Kind
    load: Load
    cpu_percent: float | None
    """The server's CPU (all threads, user + system) as a percentage of one core."""
    cpu_us_per_request: float | None
    """The server's CPU per answered request: the cost that neighbours' load hardly changes."""
    other_cpu_percent: float | None
    """CPU the rest of the machine used during the run (not the server, not the load)."""
    exit_code: int
    probe_error: str | None = None
    rows: int | str | None = None
    """Rows stored by a whrelay run (None for the bare server), or why they were not counted."""
    storage_cpu_percent: float | None = None
    """The CPU of the processes the server started (whrelay's storage process), in % of a
    core; None for a server that started none."""

    @property
    def rate(self) -> float:
        """2xx answers a second: a request refused (503) is not a webhook ingested."""
        return self.load.ok / self.load.seconds if self.load.seconds else 0.0


def run_one(number: int, kind: Kind, workdir: Path, spec: LoadSpec, warmup: float) -> RunResult:
    server = start_server(kind, workdir, number)
    try:
        probe_error = probe(server, spec.payload)
        if warmup > 0:
            run_load(server.url(WARMUP_PATH), warmup, spec, WARMUP_PHASE)
        pid = server.proc.pid
        storage_before = children_cpu_seconds(pid)
        before = (cpu_seconds(pid), machine_busy_seconds(), own_cpu_seconds())
        wall_before = time.monotonic()
        load = run_load(server.url(MEASURED_PATH), spec.seconds, spec, MEASURED_PHASE)
        wall = time.monotonic() - wall_before
        after = (cpu_seconds(pid), machine_busy_seconds(), own_cpu_seconds())
        storage_cpu = children_cpu_seconds(pid) - storage_before
    finally:
        exit_code = stop_server(server)
    cpu_percent = cpu_per_request = other_percent = None
    if before[0] is not None and after[0] is not None:
        server_cpu = after[0] - before[0]
        cpu_percent = 100 * server_cpu / wall
        cpu_per_request = 1e6 * server_cpu / load.requests if load.requests else None
        if before[1] is not None and after[1] is not None:
            others = (after[1] - before[1]) - server_cpu - storage_cpu - (after[2] - before[2])
            other_percent = max(0.0, 100 * others / wall)
    result = RunResult(
        number, kind, load, cpu_percent, cpu_per_request, other_percent, exit_code, probe_error
    )
    if kind in ("full", "normal"):
        result.storage_cpu_percent = max(0.0, 100 * storage_cpu / wall)
    if server.db is not None:
        result.rows = count_rows(server.db, MEASURED_PATH)
    return result


def plan(rounds: int) -> list[Kind]:
    """bare, http, full, normal per round, then bare again: the baseline brackets the
    whrelay runs."""
    kinds: list[Kind] = []
    for _ in range(rounds):
        kinds += ["bare", "http", "full", "normal"]
    return [*kinds, "bare"]


# --- report --------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def filesystem_of(path: Path) -> str:
    """The filesystem type holding ``path`` (fsync's cost depends on it), from /proc/mounts."""
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    words = (done.stdout + done.stderr).split()
    return " ".join(words[:2]) if words else "wrk"


def print_header(spec: LoadSpec, args: argparse.Namespace, workdir: Path) -> None:
    import aiohttp

    client = f"{wrk_version()}, {spec.threads} thread(s)" if spec.client == "wrk" else "aiohttp"
    print(
        f"whrelay ingest benchmark: {len(spec.payload.body)}-byte JSON POSTs (Stripe-like, "
        f"{'a new event id each' if spec.payload.unique else 'one event id: duplicates'}), "
        f"{spec.connections} connections, {spec.seconds:g} s a run after "
        f"{args.warmup:g} s warm-up; load from {client}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, aiohttp "
        f"{aiohttp.__version__}, SQLite {sqlite3.sqlite_version}; databases in {workdir} "
        f"({filesystem_of(workdir)})"
    )
    print()
    print(
        f"{'run':>3}  {'server':<17} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'2xx':>8} "
        f"{'non-2xx':>7} {'sock err':>8} {'srv CPU':>7} {'µs/req':>6} {'store':>5} "
        f"{'other':>5} {'exit':>4}"
    )


def print_run(result: RunResult) -> None:
    load = result.load
    storage = "-" if result.storage_cpu_percent is None else f"{result.storage_cpu_percent:.0f}%"
    print(
        f"{result.number:>3}  {LABELS[result.kind]:<17} {result.rate:>9.0f} "
        f"{fmt(load.p50_ms, '.2f'):>7} {fmt(load.p99_ms, '.2f'):>7} {load.ok:>8} "
        f"{load.requests - load.ok:>7} {load.socket_errors:>8} "
        f"{fmt(result.cpu_percent, '.0f') + '%':>7} {fmt(result.cpu_us_per_request, '.0f'):>6} "
        f"{storage:>5} {fmt(result.other_cpu_percent, '.0f') + '%':>5} {result.exit_code:>4}",
        flush=True,
    )
    if result.probe_error is not None:
        print(f"     ! a single webhook sent before the run was answered {result.probe_error}")


def print_summary(results: list[RunResult]) -> None:
    print(
        "(srv CPU: the receiving process's CPU, all threads, in % of one core; µs/req: that "
        "CPU per request; store: whrelay's storage process; other: CPU the rest of the "
        "machine used meanwhile; / bare: the goals' ratio; / http: against whrelay's own HTTP "
        "layer storing nothing)"
    )
    rates: dict[Kind, list[float]] = {}
    costs: dict[Kind, list[float]] = {}
    for result in results:
        rates.setdefault(result.kind, []).append(result.rate)
        if result.cpu_us_per_request is not None:
            costs.setdefault(result.kind, []).append(result.cpu_us_per_request)
    mean = {kind: statistics.fmean(values) for kind, values in rates.items()}
    bare = mean.get("bare", 0.0)
    floor = mean.get("http", 0.0)
    print()
    print(
        f"{'server':<17} {'req/s':>9}  {'runs':<22} {'µs/req':>6} {'/ bare':>6} "
        f"{'/ http':>6}  {'goal':<7} met"
    )
    for kind in ("bare", "http", "full", "normal"):
        if kind not in mean:
            continue
        runs = ", ".join(f"{r:.0f}" for r in rates[kind])
        ratio = mean[kind] / bare if bare else 0.0
        low = fmt(mean[kind] / floor if floor else None, ".2f")
        cost = statistics.fmean(costs[kind]) if kind in costs else None
        line = (
            f"{LABELS[kind]:<17} {mean[kind]:>9.0f}  {runs:<22} {fmt(cost, '.0f'):>6} "
            f"{ratio:>6.2f} {low:>6}"
        )
        if kind in GOALS:
            goal = GOALS[kind]
            line += f"  >= {goal:.1f}  {'yes' if ratio >= goal else 'NO'}"
        print(line)
    print_paired(results)
    busy = [r for r in results if (r.other_cpu_percent or 0.0) > NOISE_PERCENT]
    if busy:
        runs = ", ".join(f"{r.number} ({r.other_cpu_percent:.0f}%)" for r in busy)
        print(
            f"note: other processes used much CPU during run(s) {runs} (column 'other'); "
            "the numbers are noisy: rerun on a quiet machine, or with --rounds 3"
        )
    print()
    print("stored rows vs 2xx answers (every acknowledged webhook must be in the database):")
    for result in results:
        if result.rows is None:
            continue
        ok = result.load.ok
        if isinstance(result.rows, str):
            print(f"  run {result.number} {LABELS[result.kind]}: FAILED, {result.rows}")
            continue
        verdict = "OK" if result.rows >= ok else f"MISSING {ok - result.rows}"
        extra = result.rows - ok
        note = f" ({extra} stored whose answer came after the load stopped)" if extra > 0 else ""
        print(
            f"  run {result.number} {LABELS[result.kind]}: {result.rows} rows, "
            f"{ok} 2xx answers: {verdict}{note}"
        )


def paired_ratios(results: list[RunResult], kind: Kind) -> list[float]:
    """Each ``kind`` run against the bare runs that bracket it (the nearest before and after):
    the machine's drift over a whole session cancels out better than in a ratio of means."""
    bare = [r for r in results if r.kind == "bare"]
    ratios = []
    for result in (r for r in results if r.kind == kind):
        before = [b for b in bare if b.number < result.number][-1:]
        after = [b for b in bare if b.number > result.number][:1]
        around = [b.rate for b in before + after if b.rate]
        if around:
            ratios.append(result.rate / statistics.fmean(around))
    return ratios


def print_paired(results: list[RunResult]) -> None:
    for kind in ("full", "normal"):
        ratios = paired_ratios(results, kind)
        if len(ratios) < 2:
            continue
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        median = statistics.median(ratios)
        print(
            f"{LABELS[kind]}: each run / the bare runs around it: {listed}; "
            f"median {median:.2f} (goal {GOALS[kind]:.1f})"
        )


# --- main ----------------------------------------------------------------------------------


def add_load_arguments(parser: argparse.ArgumentParser, rounds_help: str) -> None:
    """The options of the load every throughput benchmark sends (also ``relay.py``'s)."""
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds a run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    parser.add_argument("--rounds", type=int, default=1, help=rounds_help)
    parser.add_argument("--body-bytes", type=int, default=1024, help="request body size")
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "aiohttp"],
        default="auto",
        help="load generator; auto = wrk when on PATH, else aiohttp",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (2-core machine: 1)")
    parser.add_argument(
        "--tmpdir", type=Path, default=None, help="where the databases go (fsync cost varies)"
    )


def check_load_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.seconds <= 0 or args.connections < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--seconds, --connections and --rounds must be positive, --warmup >= 0")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput of whrelay listen (full and normal durability) next to a bare "
        "aiohttp server, under the same webhook-like load."
    )
    add_load_arguments(parser, "times to run bare, http, full, normal (bare ends it)")
    parser.add_argument(
        "--duplicates",
        action="store_true",
        help="send one event id over and over (whrelay flags each repeat as a duplicate); "
        "by default every request carries its own, as real senders' do",
    )
    args = parser.parse_args(argv)
    check_load_arguments(parser, args)
    return args


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so that ``finally`` blocks stop the servers."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def choose_client(wanted: str) -> Literal["wrk", "aiohttp"]:
    have_wrk = shutil.which("wrk") is not None
    if wanted == "aiohttp" or (wanted == "auto" and not have_wrk):
        return "aiohttp"
    if not have_wrk:
        raise HarnessError("--client wrk: wrk is not on PATH")
    return "wrk"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = choose_client(args.client)
    workdir = Path(tempfile.mkdtemp(prefix="whrelay-bench-", dir=args.tmpdir))
    try:
        with sigterm_as_exit():
            payload = make_payload(args.body_bytes, unique=not args.duplicates)
            spec = LoadSpec(
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
                payload=payload,
                client=client,
                script=write_wrk_script(workdir, payload) if client == "wrk" else None,
            )
            print_header(spec, args, workdir)
            results = []
            for number, kind in enumerate(plan(args.rounds), start=1):
                result = run_one(number, kind, workdir, spec, args.warmup)
                print_run(result)
                results.append(result)
            print_summary(results)
    finally:
        for server in list(RUNNING):
            stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as error:
        sys.stderr.write(f"bench: error: {error}\n")
        sys.exit(1)
