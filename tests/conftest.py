"""Shared fixtures: an isolated environment, and real ``whrelay listen`` subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import random
import resource
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import pytest

from whrelay.core.models import (
    Attempt,
    Capture,
    DeliveryState,
    RawHeaders,
    Trigger,
    Verdict,
    Webhook,
)
from whrelay.storage import Store

if TYPE_CHECKING:
    from textual.app import App
    from textual.pilot import Pilot

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
POLL_INTERVAL = 0.02
"""Seconds between two looks while waiting for another process, thread or connection."""


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


# --- waiting: poll with a deadline, never a fixed sleep ---------------------------------------


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
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL)


def folder_state(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file in ``folder``: its bytes, modification time and mode (what a command that
    only reads must leave as it found it)."""
    return {
        entry.name: (entry.read_bytes(), entry.stat().st_mtime_ns, entry.stat().st_mode)
        for entry in sorted(folder.iterdir())
    }


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


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    """A ``whrelay listen`` subprocess with a fresh database, stopped after the test."""
    running = start_listener(tmp_path / "hooks.db")
    yield running
    running.stop()


# --- raw HTTP over loopback, and reading what a listener stored --------------------------------


def url_port(url: str) -> int:
    """The TCP port of a listener's ``http://127.0.0.1:PORT/`` URL."""
    port = urlsplit(url).port
    assert port is not None, url
    return port


@dataclass
class RawResponse:
    """One HTTP/1.x response as read off a raw socket."""

    version: bytes
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> bytes | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower().encode()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


async def read_response(reader: asyncio.StreamReader, timeout: float = 10) -> RawResponse:
    """Read one response (status line, headers, a Content-Length body) from ``reader``."""
    async with asyncio.timeout(timeout):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        version, status, *_ = lines[0].split(b" ", 2)
        headers = [
            (name.strip(), value.strip())
            for name, _, value in (line.partition(b":") for line in lines[1:])
        ]
        response = RawResponse(version, int(status), headers, b"")
        length = response.header("Content-Length")
        if length is not None:
            response.body = await reader.readexactly(int(length))
        return response


def request_bytes(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """An HTTP/1.x request exactly as it goes on the wire (no header added or changed)."""
    head = f"{method} {target} HTTP/{version}\r\n".encode()
    head += b"".join(f"{name}: {value}\r\n".encode() for name, value in headers)
    return head + b"\r\n" + body


async def raw_request(url: str, data: bytes, timeout: float = 10) -> RawResponse:
    """Send ``data`` as is to the listener at ``url`` on a new connection; read one response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(url))
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader, timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def send_raw(url: str, data: bytes) -> int:
    """Send a raw request to a listener; the stored webhook's id (asserts a 200)."""
    response = await raw_request(url, data)
    assert response.status == 200, response
    webhook_id = response.header("X-Whrelay-Id")
    assert webhook_id is not None
    return int(webhook_id)


def stored_webhook(db: Path, webhook_id: int) -> Webhook:
    """Webhook ``webhook_id`` as a fresh read-only ``Store`` reads it from ``db``."""
    with Store(db, readonly=True) as store:
        return store.get_webhook(webhook_id)


def stored_count(db: Path) -> int:
    """How many webhooks ``db`` holds (0 when it does not exist yet)."""
    if not db.exists():
        return 0
    with Store(db, readonly=True) as store:
        return store.count_webhooks()


# --- many concurrent senders -------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request a ``Flood`` client sent: enough to check its stored copy byte for byte."""

    seq: int
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def flood_request(seq: int) -> Sent:
    """A unique request: random binary (seeded by ``seq``), or JSON, or a few ASCII bytes."""
    rng = random.Random(seq)
    kind = seq % 4
    if kind == 0:
        body = b"%d" % seq
    elif kind == 1:
        body = json.dumps({"seq": seq, "text": "caf\u00e9 \u2603", "n": rng.random()}).encode()
    else:
        body = b"%d\x00" % seq + rng.randbytes(rng.randint(0, 4096))
    headers = (
        ("X-Seq", str(seq)),
        ("Content-Type", "application/json" if kind == 1 else "application/octet-stream"),
        ("x-MiXeD-Case", f"value {seq}"),
    )
    return Sent(seq=seq, path=f"/flood/{seq}", headers=headers, body=body)


@dataclass
class Flood:
    """``clients`` concurrent aiohttp clients POSTing unique requests until ``stop()``.

    Every request answered 200 lands in ``acked`` under the id the receiver gave it.
    """

    url: str
    clients: int = 32
    sent: dict[int, Sent] = field(default_factory=dict)
    acked: dict[int, Sent] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    _next: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(self._client(session) for _ in range(self.clients)))

    async def wait_acked(self, count: int, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while len(self.acked) < count:
                await asyncio.sleep(0.01)

    async def _client(self, session: aiohttp.ClientSession) -> None:
        base = self.url.rstrip("/")
        while not self._stopping.is_set():
            request = flood_request(self._next)
            self._next += 1
            self.sent[request.seq] = request
            try:
                async with session.post(
                    base + request.path, data=request.body, headers=dict(request.headers)
                ) as response:
                    payload = await response.read()
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                    if response.status != 200:
                        continue
                    webhook_id = int(response.headers["X-Whrelay-Id"])
                    assert json.loads(payload) == {"stored": True, "id": webhook_id}
                    assert webhook_id not in self.acked, f"id {webhook_id} acknowledged twice"
                    self.acked[webhook_id] = request
            except (aiohttp.ClientError, OSError, TimeoutError):
                self.errors += 1
                await asyncio.sleep(0.01)


def sent_headers_kept(stored: RawHeaders, sent: Sent) -> bool:
    """Whether the headers ``sent`` chose are in ``stored``, in order, byte for byte."""
    names = {name.lower().encode() for name, _ in sent.headers}
    ours = [(k, v) for k, v in stored if k.lower() in names]
    return ours == [(k.encode(), v.encode()) for k, v in sent.headers]


def assert_stored_exactly(db: Path, acked: dict[int, Sent]) -> None:
    """Every acknowledged request is in ``db`` under its id: path, headers and body exact."""
    with Store(db, readonly=True) as store:
        for webhook_id, sent in sorted(acked.items()):
            webhook = store.get_webhook(webhook_id)
            assert webhook.summary.method == "POST"
            assert webhook.summary.path == sent.path, webhook_id
            assert webhook.body == sent.body, f"id {webhook_id} (seq {sent.seq}): body differs"
            assert sent_headers_kept(webhook.headers, sent), (webhook_id, webhook.headers)
            assert webhook.header("Content-Length") == str(len(sent.body))


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (one no client
    trusts by default: the usual local https development set-up)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


# --- large bodies, and the memory they take --------------------------------------------------


def random_body(size: int, seed: int) -> bytes:
    """``size`` random bytes (every byte value, NULs and invalid UTF-8 among them)."""
    return random.Random(seed).randbytes(size)


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the peak since the last ``reset_peak``) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> int:
    """Start measuring ``pid``'s peak memory afresh; its resident size now, in KiB."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as error:
        pytest.skip(f"cannot reset the peak memory of a process here: {error}")
    return memory_kib(pid, "VmRSS")


# --- a history for the TUI: fixed ids, times, verdicts, deliveries and attempts ---------------

TUI_T0 = 1_790_000_000_000_000
"""2026-09-21 14:13:20 UTC: when the seeded history begins (microseconds)."""
TUI_NOW = TUI_T0 + 3 * 3600 * 1_000_000
"""The TUI's fixed clock in tests: three hours after the first webhook."""
TUI_SECRET = "whsec_tui_test_secret"
"""The Stripe secret the seeded Stripe webhook is signed with (a test value)."""
TUI_TARGET = "http://127.0.0.1:9"
"""The target the seeded deliveries went to (the discard port: nothing answers)."""
HOSTILE_TEXT = (
    "[bold red]boom[/] [@click=app.quit]quit[/] \x1b]52;c;aGVsbG8=\x07 "
    "\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07 \x1b[2J\u202eevil "
)
"""Markup with actions, OSC 52 (clipboard) and OSC 8 (hyperlink) sequences, a CSI that clears
the screen and a bidi override: all must show as text and do nothing."""


@dataclass(frozen=True)
class SeededTui:
    """The ids of the seeded webhooks, by what each is."""

    db: Path
    plain: int
    stripe: int
    github: int
    gzip: int
    binary: int
    form: int
    hostile: int
    hostile_binary: int
    duplicate: int
    newest: int


def _tui_webhook(
    db: sqlite3.Connection,
    n: int,
    path: str,
    headers: Sequence[tuple[str | bytes, str | bytes]],
    body: bytes | None,
    *,
    query: str = "",
    verdict: Verdict | None = None,
    targets: tuple[str, ...] = (),
) -> int:
    from whrelay.storage.store import insert_webhook

    raw = tuple((_bytes(k), _bytes(v)) for k, v in headers)
    capture = Capture("POST", path, query, raw, body, "1.1", "127.0.0.1", TUI_T0 + n * 61_000_000)
    summary, _ = insert_webhook(db, capture, targets, verdict)
    return summary.id


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _tui_attempts(
    db: sqlite3.Connection,
    webhook_id: int,
    answers: list[tuple[int | None, bytes]],
    state: str,
) -> None:
    """Attempts of the webhook's first delivery, one a minute after it arrived, then its
    state."""
    from whrelay.storage.store import insert_attempt, update_delivery

    [delivery] = _deliveries(db, webhook_id)
    received = db.execute("SELECT received_at FROM webhooks WHERE id = ?", (webhook_id,))
    at = int(received.fetchone()[0])
    target = db.execute("SELECT target FROM deliveries WHERE id = ?", (delivery,)).fetchone()[0]
    for n, (status, body) in enumerate(answers):
        started = at + (n + 1) * 60_000_000
        attempt = Attempt(
            webhook_id,
            delivery,
            Trigger.FIRST if n == 0 else Trigger.RETRY,
            f"{target}/hooks",
            ((b"Host", target.removeprefix("http://").encode()),),
            started,
            12_345,
            status,
            ((b"Content-Type", b"application/json"), (b"X-Request-Id", b"req-%d" % n))
            if status is not None
            else (),
            body if status is not None else None,
            error=None if status is not None else "refused",
            error_detail=None if status is not None else "connection refused",
        )
        insert_attempt(db, attempt)
        last = n == len(answers) - 1
        update_delivery(
            db,
            delivery,
            state=DeliveryState(state) if last else DeliveryState.PENDING,
            next_attempt_at=TUI_T0 + 3600 * 1_000_000 if not last or state == "pending" else None,
            attempt=attempt,
            now_us=started,
        )


def _deliveries(db: sqlite3.Connection, webhook_id: int) -> list[int]:
    rows = db.execute("SELECT id FROM deliveries WHERE webhook_id = ? ORDER BY id", (webhook_id,))
    return [int(row[0]) for row in rows]


def seed_tui(path: Path, target: str = TUI_TARGET) -> SeededTui:
    """A small history with one webhook of every kind the TUI shows differently: no scheme, a
    valid Stripe signature (``TUI_SECRET``), an invalid GitHub one, a gzip body, a binary body,
    a form, hostile text, a duplicate; delivered, failed, pending and never forwarded."""
    import gzip as gzip_module

    from whrelay.signatures import Message, get_scheme

    stripe_body = b'{"id":"evt_1TuiTest","type":"invoice.paid","data":{"object":{"amount":4200}}}'
    at = (TUI_T0 + 2 * 61_000_000) // 1_000_000
    signed = get_scheme("stripe").sign(Message(stripe_body, ()), TUI_SECRET, at)
    stripe_headers = [
        ("Host", "127.0.0.1:8642"),
        ("Content-Type", "application/json"),
        *signed.headers,
    ]
    github_body = b'{"ref":"refs/heads/main","commits":[{"id":"abc123","message":"Fix"}]}'
    shopify_json = b'{"id":820982911946154508,"email":"jon@example.com","total_price":"42.00"}'
    ids: dict[str, int] = {}
    targets = (target,)

    def seed(db: sqlite3.Connection) -> None:
        ids["plain"] = _tui_webhook(
            db, 1, "/hooks/plain", [("Content-Type", "application/json")], b'{"ping":true}'
        )
        ids["stripe"] = _tui_webhook(
            db, 2, "/hooks/stripe", stripe_headers, stripe_body,
            verdict=Verdict("valid", "stripe", "ok", "signature matches"), targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["stripe"], [(200, b'{"received":true}')], "delivered")
        ids["github"] = _tui_webhook(
            db, 3, "/hooks/github",
            [("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
             ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
             ("X-Hub-Signature-256", "sha256=" + "0" * 64)],
            github_body,
            verdict=Verdict("invalid", "github", "bad_signature", "no signature matches"),
            targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["github"], [(500, b'{"error":"boom"}'), (None, b"")], "failed")
        ids["gzip"] = _tui_webhook(
            db, 4, "/hooks/shopify",
            [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
             ("X-Shopify-Topic", "orders/create"), ("X-Shopify-Hmac-Sha256", "c2lnbmF0dXJl")],
            gzip_module.compress(shopify_json, mtime=0),
            verdict=Verdict("unverified", "shopify", "no_secret", "no secret given to listen"),
            targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["gzip"], [(503, b"try later")], "pending")
        ids["binary"] = _tui_webhook(
            db, 5, "/hooks/upload", [("Content-Type", "application/octet-stream")],
            b"\x00\x01\x02\xff\xfe binary \x80\x81" + bytes(range(32)),
        )  # fmt: skip
        ids["form"] = _tui_webhook(
            db, 6, "/hooks/form", [("Content-Type", "application/x-www-form-urlencoded")],
            b"token=abc&text=hello+world&user_name=ada", query="team=T1",
        )  # fmt: skip
        ids["hostile"] = _tui_webhook(
            db, 7, "/hooks/[bold]x[/]/[@click=app.quit]", [
                ("Content-Type", "text/plain"),
                (b"X-Evil", b"[@click=app.quit]quit[/] \x1b]52;c;aGk=\x07"),
            ],
            (HOSTILE_TEXT + "x" * 5000 + "\n").encode(), query="q=[b]",
        )  # fmt: skip
        ids["hostile_binary"] = _tui_webhook(
            db, 8, "/hooks/nul", [("Content-Type", "text/plain")],
            b"[bold]nul\x00[/] \xff\xfe not utf-8 \x1b[31m",
        )  # fmt: skip
        ids["duplicate"] = _tui_webhook(
            db, 9, "/hooks/stripe", stripe_headers, stripe_body,
            verdict=Verdict("valid", "stripe", "ok", "signature matches"), targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["duplicate"], [(200, b'{"received":true}')], "delivered")
        ids["newest"] = _tui_webhook(
            db, 10, "/hooks/standard",
            [("Content-Type", "application/json"), ("webhook-id", "msg_2KWPBgLlAfxdpx2AI5"),
             ("webhook-timestamp", "1790000610"), ("webhook-signature", "v1,AAAA")],
            b'{"type":"user.created","data":{"id":"u_1"}}',
        )  # fmt: skip

    with Store(path) as store:
        store.run(seed)
    return SeededTui(db=path, **ids)


@pytest.fixture
def seeded_tui(tmp_path: Path) -> SeededTui:
    """``seed_tui`` in a fresh database."""
    return seed_tui(tmp_path / "tui.db")


# --- driving the TUI ------------------------------------------------------------------------------


async def pilot_until(
    pilot: Pilot[Any], check: Callable[[], T | None], what: str, timeout: float = 20
) -> T:
    """``until`` for a Textual pilot: the app goes on (workers, messages, refreshes) between
    two looks."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(POLL_INTERVAL)


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text (one line per row)."""
    from io import StringIO

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=StringIO(), force_terminal=True, record=True)
    console.print(app.screen._compositor.render_update(full=True, simplify=True))
    return console.export_text(styles=False)


# --- a real terminal: a pseudo-terminal of a given size, and what it shows ----------------------


@dataclass
class TerminalRun:
    """A whrelay command run in a pseudo-terminal: what the screen shows at the end, and how
    it exited."""

    screen: list[str]
    """Each row of the screen (a terminal emulator's, fed every byte written), right-trimmed."""
    returncode: int
    raw: bytes


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
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
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
