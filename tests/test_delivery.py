"""Delivery over real loopback sockets: ``whrelay listen -f`` subprocesses forwarding to
recording targets (``tests.targetserver``), retries, outages, restarts, the loopback policy,
proxy mode, replay and response capture.

Waits poll the database or the NDJSON events with deadlines; the only fixed sleeps are short
grace periods before asserting that something did *not* happen. No test asserts an upper
bound on timing, and no test sends a packet to a non-loopback address: the non-loopback
targets below are only resolved (``check_target``), or refused by the ``Sender``'s
socket-factory guard, which raises before a socket even exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import (
    ROOT,
    Listener,
    memory_kib,
    random_body,
    raw_request,
    reset_peak,
    run_in_terminal,
    run_whrelay,
    self_signed,
    send_raw,
    start_listener,
    until,
    url_port,
    wait_until,
    whrelay_cmd,
)
from tests.targetserver import Recorded, Reply, TargetServer, target_server
from whrelay.core.errors import ExitCode
from whrelay.core.models import Attempt, Delivery, DeliveryState, Trigger
from whrelay.relay.client import Outgoing, Sender
from whrelay.storage import Store
from whrelay.storage.writer import HealthWatch

MiB = 1 << 20
FAST = ("--durability", "normal", "--retry-schedule", "0.2,0.5")
"""Options every listener here gets: quick commits and quick retries."""
GRACE = 0.8
"""Seconds to wait before asserting that something did not happen (> 0.5 s * 1.2 jitter)."""


# --- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def listening(db: Path, *args: str) -> Iterator[Listener]:
    """A ``whrelay listen`` subprocess (with ``FAST``), stopped afterwards."""
    listener = start_listener(db, *FAST, *args)
    try:
        yield listener
    finally:
        listener.stop()


def request_bytes(
    method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes = b""
) -> bytes:
    """An HTTP/1.1 request exactly as it goes on the wire."""
    head = f"{method} {target} HTTP/1.1\r\n".encode()
    head += b"".join(f"{name}: {value}\r\n".encode() for name, value in headers)
    return head + b"\r\n" + body


async def post_all(url: str, bodies: Sequence[bytes], path: str = "/hook") -> list[int]:
    """POST each body in turn (one at a time, so arrival order is list order); their ids."""
    ids = []
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            async with session.post(url.rstrip("/") + path, data=body) as response:
                assert response.status == 200, await response.text()
                ids.append(int(response.headers["X-Whrelay-Id"]))
    return ids


async def post(url: str, body: bytes, path: str = "/hook") -> int:
    return (await post_all(url, [body], path))[0]


def deliveries(db: Path, webhook_id: int) -> list[Delivery]:
    with Store(db, readonly=True) as store:
        return store.deliveries(webhook_id)


def attempts(db: Path, webhook_id: int) -> list[Attempt]:
    with Store(db, readonly=True) as store:
        return store.attempts(webhook_id)


async def settled(
    db: Path, ids: Sequence[int], state: str = "delivered", timeout: float = 20
) -> list[Delivery]:
    """Wait until every delivery of every webhook in ``ids`` is in ``state``; return them."""

    def check() -> list[Delivery] | None:
        found = [d for webhook_id in ids for d in deliveries(db, webhook_id)]
        if (
            found
            and all(d.state == state for d in found)
            and {d.webhook_id for d in found} == set(ids)
        ):
            return found
        return None

    return await until(check, f"deliveries of {list(ids)} to be {state}", timeout)


async def events(listener: Listener, kind: str, count: int = 1) -> list[dict[str, object]]:
    return await asyncio.to_thread(listener.wait_for_events, kind, count)


async def arrivals(target: TargetServer, count: int, timeout: float = 20) -> list[Recorded]:
    return await asyncio.to_thread(target.wait_for, count, timeout)


def down_target() -> TargetServer:
    """A started target that is down (its port refuses connections); ``close()`` it."""
    target = TargetServer().start()
    target.down()
    return target


def without(headers: Sequence[tuple[bytes, bytes]], *names: str) -> list[tuple[str, str]]:
    drop = {n.lower() for n in names}
    return [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in headers
        if k.decode("latin-1").lower() not in drop
    ]


def run_concurrently(*argvs: Sequence[str]) -> list[subprocess.CompletedProcess[bytes]]:
    """Run several ``whrelay`` commands at once (read-only ones); their results, in order."""
    procs = [
        subprocess.Popen(
            whrelay_cmd(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
        )
        for argv in argvs
    ]
    results = []
    for argv, proc in zip(argvs, procs, strict=True):
        out, err = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(list(argv), proc.returncode, out, err))
    return results


def error_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if line.startswith("whrelay: error:")]


# --- what is forwarded -------------------------------------------------------------------------

BINARY = bytes(range(256)) + b"\xff\xfe\x00\x80 not UTF-8 \xc3\x28"
FORWARDED_NAMES = ("Host", "Content-Length", "X-Forwarded-Host", "X-Forwarded-For")


async def test_forwarded_request_is_byte_exact(tmp_path: Path) -> None:
    """Method, path, query, body bytes, header order/case/duplicates; hop-by-hop headers
    removed; Host is the target's; X-Forwarded-For extended, the -Host and -Proto a tunnel
    set kept; -H adds and replaces; a target with a
    path is used as given (with the query appended); nothing is added by whrelay."""
    with (
        target_server() as plain,
        target_server() as pathed,
        listening(
            tmp_path / "hooks.db",
            "-f",
            str(plain.port),
            "--route",
            f"/routed/*=:{pathed.port}/in?k=v",
            "-H",
            "X-Added: yes",
            "-H",
            "x-replace-me: new",
        ) as listener,
    ):
        headers = [
            ("Host", "hooks.example.com"),
            ("X-Dup", "one"),
            ("Content-Type", "application/octet-stream"),
            ("X-Dup", "two"),
            ("X-MiXeD-Case", "Kept As Is"),
            ("Connection", "keep-alive, X-Conn-Only"),
            ("X-Conn-Only", "dropped: named in Connection"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "X-Sig"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("Proxy-Connection", "keep-alive"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Host", "tunnel.example"),
            ("X-Forwarded-Proto", "https"),
            ("X-Replace-Me", "original"),
            ("X-Signature", "sha256=abc"),
            ("Content-Length", str(len(BINARY))),
        ]
        first = await send_raw(
            listener.url, request_bytes("PATCH", "/a/b%20c?z=1&a=2&a=3", headers, BINARY)
        )
        no_body = await send_raw(
            listener.url,
            request_bytes("GET", "/routed/x?q=1", [("Host", "h"), ("X-Only", "1")]),
        )
        chunked = await send_raw(
            listener.url,
            request_bytes(
                "POST",
                "/chunked",
                [("Host", "h"), ("Transfer-Encoding", "chunked"), ("X-C", "1")],
                b"6\r\nhel\xfflo\r\n0\r\n\r\n",
            ),
        )
        empty = await send_raw(
            listener.url,
            request_bytes("PUT", "/empty", [("Host", "h"), ("Content-Length", "0")]),
        )
        await settled(listener.db, [first, no_body, chunked, empty])

    by_path = {r.path_qs.split("?")[0]: r for r in plain.requests}
    assert len(plain.requests) == 3
    got = by_path["/a/b%20c"]
    assert got.method == "PATCH"
    assert got.path_qs == "/a/b%20c?z=1&a=2&a=3"
    assert got.body == BINARY
    assert got.header("Content-Length") == str(len(BINARY))
    assert got.header_all("Host") == [f"127.0.0.1:{plain.port}"]
    # What a tunnel in front of whrelay said of the original request stays (the public URL a
    # provider signed); the chain of addresses gets the sender's.
    assert got.header_all("X-Forwarded-Host") == ["tunnel.example"]
    assert got.header_all("X-Forwarded-For") == ["203.0.113.9, 127.0.0.1"]
    assert got.header_all("X-Forwarded-Proto") == ["https"]
    assert without(got.headers, *FORWARDED_NAMES, "X-Forwarded-Proto") == [
        ("X-Dup", "one"),
        ("Content-Type", "application/octet-stream"),
        ("X-Dup", "two"),
        ("X-MiXeD-Case", "Kept As Is"),
        ("x-replace-me", "new"),  # -H takes the replaced header's place
        ("X-Signature", "sha256=abc"),
        ("X-Added", "yes"),
    ]

    # A target with a path: that path, with the target's query and then the webhook's.
    assert len(pathed.requests) == 1
    routed = pathed.requests[0]
    assert routed.method == "GET"
    assert routed.path_qs == "/in?k=v&q=1"
    assert routed.body == b""
    assert routed.header_all("Host") == [f"127.0.0.1:{pathed.port}"]
    # Nothing whrelay made up: no User-Agent, Accept, Accept-Encoding, Content-Type.
    assert without(routed.headers, *FORWARDED_NAMES, "X-Forwarded-Proto") == [
        ("X-Only", "1"),
        ("X-Added", "yes"),
        ("x-replace-me", "new"),
    ]

    # A chunked request goes out with its decoded body and a length, not re-chunked.
    dechunked = by_path["/chunked"]
    assert dechunked.body == b"hel\xfflo"
    assert dechunked.header_all("Transfer-Encoding") == []
    assert dechunked.header("Content-Length") == "6"
    assert without(dechunked.headers, *FORWARDED_NAMES, "X-Forwarded-Proto") == [
        ("X-C", "1"),
        ("X-Added", "yes"),
        ("x-replace-me", "new"),
    ]

    put = by_path["/empty"]
    assert put.method == "PUT"
    assert put.body == b""
    assert put.header("Content-Length") == "0"


async def test_h_replaces_host_and_a_header_named_twice_in_listen_replay_and_send(
    tmp_path: Path,
) -> None:
    """``-H 'Host: x'`` is the one Host the target gets (an app would answer 400 to two), and
    a name given twice by ``-H`` is sent once, with the last value; the attempt records what
    went on the wire."""
    db = tmp_path / "hooks.db"
    given = ("-H", "Host: app.test", "-H", "X-Twice: first", "-H", "x-twice: second")
    with (
        target_server() as target,
        listening(db, "-f", str(target.port), *given) as listener,
    ):
        webhook_id = await post(listener.url, b"{}")
        await settled(db, [webhook_id])
        replayed = await asyncio.to_thread(
            run_whrelay, "replay", str(webhook_id), *given, "--db", str(db)
        )
        sent = await asyncio.to_thread(
            run_whrelay, "send", target.url + "/sent", "--provider", "github", "--secret", "s",
            *given,
        )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert sent.returncode == 0, sent.stderr
    assert len(target.requests) == 3
    for request in target.requests:
        assert request.header_all("Host") == ["app.test"], request.path_qs
        assert request.header_all("X-Twice") == ["second"], request.path_qs
    for attempt in attempts(db, webhook_id):
        assert attempt.status == 200
        assert [v for k, v in attempt.request_headers if k.lower() == b"host"] == [b"app.test"]
        assert attempt.request_headers[0] == (b"Host", b"app.test")


def test_h_refuses_the_headers_that_frame_the_body(tmp_path: Path) -> None:
    db = str(tmp_path / "hooks.db")
    for argv in (
        ("replay", "1", "-H", "Content-Length: 3", "--db", db),
        ("listen", "--port", "0", "-H", "transfer-encoding: chunked", "--db", db),
        ("send", "3000", "--provider", "github", "--secret", "s", "-H", "Content-Length: 1"),
    ):
        result = run_whrelay(*argv)
        assert result.returncode == 2, (argv, result.stderr)
        [line] = error_lines(result.stderr)
        assert "whrelay writes it for the body it sends" in line, line
        assert b"Traceback" not in result.stderr


async def test_duplicate_headers_differing_in_case_are_all_forwarded(tmp_path: Path) -> None:
    # Signatures and multi-valued headers: 'X-Dup: one' then 'x-dup: two' must both reach the
    # target, in that order, spelled as received (and as the attempt record says was sent).
    db = tmp_path / "hooks.db"
    headers = [("Host", "h"), ("X-Dup", "one"), ("x-dup", "two"), ("X-DUP", "three")]
    with target_server() as target, listening(db, "-f", str(target.port)) as listener:
        webhook_id = await send_raw(
            listener.url, request_bytes("POST", "/d", [*headers, ("Content-Length", "1")], b"d")
        )
        await settled(db, [webhook_id])
    [attempt] = attempts(db, webhook_id)
    dups = [(b"X-Dup", b"one"), (b"x-dup", b"two"), (b"X-DUP", b"three")]
    assert [h for h in attempt.request_headers if h[0].lower() == b"x-dup"] == dups
    [got] = target.requests
    assert [h for h in got.headers if h[0].lower() == b"x-dup"] == dups


async def test_localhost_target_is_allowed(tmp_path: Path) -> None:
    with target_server() as target:
        db = tmp_path / "hooks.db"
        with listening(db, "-f", f"http://localhost:{target.port}/in") as listener:
            webhook_id = await post(listener.url, b"to localhost")
            await settled(db, [webhook_id])
    [got] = target.requests
    assert got.body == b"to localhost"
    assert got.path_qs == "/in"
    assert got.header("Host") == f"localhost:{target.port}"


# --- outages and retries -----------------------------------------------------------------------


async def test_target_down_then_up_ordered_delivers_all_in_order(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    target = down_target()
    try:
        with listening(db, "-f", str(target.port), "--ordered") as listener:
            bodies = [b"%d\x00webhook \xfe%d" % (i, i) for i in range(30)]
            ids = await post_all(listener.url, bodies)
            assert len(set(ids)) == 30
            [down] = await events(listener, "target_down")
            assert down["target"] == target.url
            assert [d.state for i in ids for d in deliveries(db, i)] == ["pending"] * 30
            target.up()
            await settled(db, ids)
            [up] = await events(listener, "target_up")
            assert up["target"] == target.url
    finally:
        target.close()

    assert target.bodies == bodies  # none lost, none twice, in arrival order
    first = attempts(db, ids[0])
    assert [a.error for a in first[:-1]] == ["refused"] * (len(first) - 1)
    assert len(first) >= 2
    assert first[0].trigger == "first"
    assert first[-1].status == 200
    assert first[-1].trigger == "retry"
    for webhook_id in ids[1:]:
        # Nothing more was sent while the target was down: each got one attempt, a 200.
        assert [(a.status, a.error) for a in attempts(db, webhook_id)] == [(200, None)]


async def test_target_back_up_gets_its_queue_started_in_arrival_order(tmp_path: Path) -> None:
    """Without --ordered, a lane sends several at a time, but starts them in arrival order:
    the first webhook, whose failed attempt made the target down and which is read back from
    the database for its retry, is not overtaken by those still in memory."""
    db = tmp_path / "hooks.db"
    target = down_target()
    try:
        with listening(db, "-f", str(target.port)) as listener:
            ids = await post_all(listener.url, [b"webhook %d" % i for i in range(6)])
            await events(listener, "target_down")
            target.up()
            await settled(db, ids)
    finally:
        target.close()
    delivered = [[a for a in attempts(db, i) if a.status == 200] for i in ids]
    assert all(len(found) == 1 for found in delivered), delivered
    starts = [found[0].started_at for found in delivered]
    assert starts == sorted(starts), [found[0].trigger for found in delivered]
    assert delivered[0][0].trigger == "retry"
    # `show` tells the story of the first one: refused, retried, then delivered by retry n.
    shown = run_whrelay("show", str(ids[0]), "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.decode().splitlines() if "→" in line]
    count = len(attempts(db, ids[0]))
    assert len(lines) == count >= 2
    assert all("refused" in line and line.endswith("retried") for line in lines[:-1]), lines
    assert " 200 " in lines[-1]
    assert lines[-1].rstrip().endswith(f"(retry {count - 1})"), lines[-1]
    assert "not retried" not in shown.stdout.decode()


async def test_a_later_listen_names_the_targets_still_waiting(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    target = down_target()
    try:
        with listening(db, "-f", str(target.port)) as listener:
            await post_all(listener.url, [b"one", b"two"])
            await events(listener, "target_down")
        with listening(db) as later:  # no -f: those two stay pending
            pass  # its warnings are read once it has stopped
    finally:
        target.close()
    [line] = [line for line in later.stderr_lines if "earlier runs" in line]
    assert line.startswith("warning: 2 deliveries from earlier runs wait for targets not given")
    assert f"({target.url})" in line
    assert "-f" in line


def test_quiet_output_still_says_a_target_is_down(tmp_path: Path) -> None:
    target = down_target()
    stderr = StderrLines()
    try:
        proc = subprocess.Popen(
            whrelay_cmd("listen", "--port", "0", "--output", "quiet", "--db",
                        str(tmp_path / "q.db"), "-f", str(target.port), *FAST),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        try:
            stderr.follow(proc)
            # No ready line in quiet mode: the port is found in /proc once it listens.
            port = wait_until(lambda: _listening_port(proc), "listen to open its port", 30)
            with contextlib.closing(socket.create_connection(("127.0.0.1", port))) as sock:
                sock.sendall(b"POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
                assert sock.recv(100).startswith(b"HTTP/1.1 200")
            down = f"▼ {target.url} is down"
            wait_until(lambda: stderr.has(down), f"{down!r} on stderr")
        finally:
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=30)
            stderr.join()
    finally:
        target.close()
    assert stdout == b""
    assert stderr.has(f"▼ {target.url} is down")


class StderrLines:
    """A subprocess's stderr, read line by line by a thread while it runs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def follow(self, proc: subprocess.Popen[bytes]) -> None:
        stream = proc.stderr
        assert stream is not None

        def read() -> None:
            for line in stream:
                self.lines.append(line.decode(errors="replace"))

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def join(self) -> None:
        if self._reader is not None:
            self._reader.join(10)


def _listening_port(proc: subprocess.Popen[bytes]) -> int | None:
    """The TCP port ``proc`` listens on (from /proc: quiet mode prints no URL), or ``None``
    while it has none yet. Fails if ``proc`` has exited."""
    assert proc.poll() is None, f"listen exited with {proc.returncode}"
    inodes = set()
    for fd in Path(f"/proc/{proc.pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
            return int(fields[1].split(":")[1], 16)
    return None


async def test_500_then_200_is_retried(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.queue(Reply(500, body=b"boom"), Reply(503, body=b"busy"))
        with listening(db, "-f", str(target.port)) as listener:
            webhook_id = await post(listener.url, b"retry me")
            [delivery] = await settled(db, [webhook_id])
            seen = await events(listener, "attempt", 3)
    assert target.bodies == [b"retry me"] * 3
    tries = attempts(db, webhook_id)
    assert [a.status for a in tries] == [500, 503, 200]
    assert [a.trigger for a in tries] == ["first", "retry", "retry"]
    assert tries[0].response_body == b"boom"
    assert delivery.attempts == 3
    assert delivery.last_status == 200
    assert [e["state"] for e in seen] == ["pending", "pending", "delivered"]
    assert isinstance(seen[0]["retry_in"], float)
    assert seen[0]["retry_in"] > 0
    assert seen[2]["retry_in"] is None


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_4xx_is_not_retried(tmp_path: Path, status: int) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.queue(Reply(status, body=b"no such hook"))
        with listening(db, "-f", str(target.port)) as listener:
            webhook_id = await post(listener.url, b"once")
            [delivery] = await settled(db, [webhook_id], "failed")
            [event] = await events(listener, "attempt")
            await asyncio.sleep(GRACE)
    assert target.bodies == [b"once"]
    [attempt] = attempts(db, webhook_id)
    assert attempt.status == status
    assert attempt.response_body == b"no such hook"
    assert delivery.attempts == 1
    assert delivery.last_status == status
    assert event["state"] == "failed"
    assert event["retry_in"] is None


async def test_redirect_is_not_followed(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target, target_server() as elsewhere:
        target.reply(302, {"Location": elsewhere.url + "/stolen"}, b"moved")
        with listening(db, "-f", str(target.port)) as listener:
            webhook_id = await post(listener.url, b"stay here")
            [delivery] = await settled(db, [webhook_id], "failed")
            await asyncio.sleep(GRACE)
    assert elsewhere.requests == []
    assert target.bodies == [b"stay here"]
    [attempt] = attempts(db, webhook_id)
    assert attempt.status == 302
    assert attempt.url == target.url + "/hook"
    assert delivery.last_status == 302


async def test_429_retry_after_is_honoured(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.queue(Reply(429, (("Retry-After", "1"),), b"slow down"))
        with listening(db, "-f", str(target.port)) as listener:
            webhook_id = await post(listener.url, b"later")
            await settled(db, [webhook_id])
            first_event = (await events(listener, "attempt"))[0]
    first, second = attempts(db, webhook_id)
    assert first.status == 429
    assert second.status == 200
    assert first_event["retry_in"] == 1.0
    assert (second.started_at - first.started_at) / 1e6 >= 0.9
    assert target.requests[1].at - target.requests[0].at >= 0.9


async def test_410_pauses_the_target(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(410, body=b"gone")
        with listening(db, "-f", str(target.port)) as listener:
            gone = await post(listener.url, b"first")
            [paused] = await events(listener, "target_paused")
            assert paused["target"] == target.url
            await settled(db, [gone], "failed")
            target.reply(200)
            later = await post_all(listener.url, [b"second", b"third"])
            await events(listener, "webhook", 3)
            await asyncio.sleep(GRACE)
            assert target.bodies == [b"first"]  # nothing more sent to a paused target
            assert [d.state for i in later for d in deliveries(db, i)] == ["pending"] * 2
        # The pending ones are kept for the next run, which delivers them.
        with listening(db, "-f", str(target.port)):
            await settled(db, later)
    # Without --ordered a lane sends up to 8 at once: both start in arrival order, but which
    # request the target sees first is up to the connections.
    assert target.bodies[0] == b"first"
    assert sorted(target.bodies[1:]) == [b"second", b"third"]
    assert [a.status for a in attempts(db, gone)] == [410]


async def test_a_down_target_does_not_delay_another(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    healthy = TargetServer().start()
    broken = down_target()
    try:
        with listening(db, "-f", str(healthy.port), "-f", str(broken.port)) as listener:
            bodies = [b"fan-out %d" % i for i in range(12)]
            ids = await post_all(listener.url, bodies)
            await arrivals(healthy, 12)
            await events(listener, "target_down")
            assert broken.is_up is False
            assert sorted(healthy.bodies) == sorted(bodies)

            def healthy_delivered() -> list[dict[str, DeliveryState]] | None:
                """Each webhook's delivery states, once the healthy target's are delivered."""
                states = [
                    {d.target: d.state for d in deliveries(db, webhook_id)} for webhook_id in ids
                ]
                return states if all(s[healthy.url] == "delivered" for s in states) else None

            # Attempt records are committed just after the answers arrive: wait for them.
            states = await until(healthy_delivered, "the healthy target's deliveries")
            for state in states:
                assert state[broken.url] == "pending"
            broken.up()
            await settled(db, ids)
    finally:
        healthy.close()
        broken.close()
    assert sorted(broken.bodies) == sorted(bodies)  # each once, none lost
    assert sorted(healthy.bodies) == sorted(bodies)


async def test_stalled_target_times_out_and_is_retried(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.queue(Reply(stall=30))
        with listening(db, "-f", str(target.port), "--timeout", "1s") as listener:
            webhook_id = await post(listener.url, b"slow")
            await settled(db, [webhook_id])
            seen = await events(listener, "attempt", 2)
    first, second = attempts(db, webhook_id)
    assert first.status is None
    assert first.error == "timeout"
    assert first.duration_us >= 900_000
    assert second.status == 200
    assert second.trigger == "retry"
    assert seen[0]["error"] == "timeout"
    assert seen[0]["state"] == "pending"
    assert target.bodies == [b"slow", b"slow"]


# --- restarts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_pending_deliveries_survive_a_restart(tmp_path: Path, sig: int) -> None:
    db = tmp_path / "hooks.db"
    target = down_target()
    try:
        bodies = [b"survivor %d \xff" % i for i in range(8)]
        first_run = start_listener(db, *FAST, "-f", str(target.port))
        try:
            ids = await post_all(first_run.url, bodies)
            await events(first_run, "target_down")
        finally:
            code = first_run.stop(sig)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        assert [d.state for i in ids for d in deliveries(db, i)] == ["pending"] * len(ids)
        target.up()
        with listening(db, "-f", str(target.port)):
            await settled(db, ids)
    finally:
        target.close()
    if sig == signal.SIGTERM:
        assert sorted(target.bodies) == sorted(bodies)  # a clean stop: exactly once
    else:
        assert set(target.bodies) == set(bodies)  # a crash: at least once


# --- the loopback policy -----------------------------------------------------------------------


def test_listen_refuses_non_loopback_targets_at_start(tmp_path: Path) -> None:
    urls = [
        "http://10.0.0.1:80",
        "http://192.168.1.1:80",
        "http://169.254.169.254/latest",
        "http://[::ffff:10.0.0.1]:80",
    ]
    dbs = [tmp_path / f"db{i}.sqlite" for i in range(len(urls))]
    results = run_concurrently(
        *(
            ["listen", "--port", "0", "-f", url, "--db", str(db)]
            for url, db in zip(urls, dbs, strict=True)
        )
    )
    for url, db, result in zip(urls, dbs, results, strict=True):
        assert result.returncode == 2, (url, result.stderr)
        [line] = error_lines(result.stderr)
        assert "not on this machine" in line, line
        assert b"--allow-remote" in result.stderr, result.stderr
        assert result.stdout == b""  # never got to 'ready'
        assert not db.exists()  # stopped before opening anything


async def test_sender_guard_blocks_non_loopback_before_connecting() -> None:
    # Http1Client._connect resolves the name and checks every address with Sender._allowed
    # before it opens a connection; a non-loopback address raises BlockedAddressError there.
    # No socket is ever created for these addresses, so no packet can leave.
    with target_server() as target:
        async with Sender(allow_remote=False, timeout=5) as sender:
            for url in (
                "http://10.255.255.1:9/",
                "http://[::ffff:10.255.255.1]:9/",
                "http://169.254.169.254/latest",
            ):
                attempt = await sender.send(
                    Outgoing("POST", url, (("X-A", "1"),), b"x"),
                    webhook_id=1,
                    delivery=None,
                    trigger=Trigger.REPLAY,
                )
                assert attempt.status is None, url
                assert attempt.error == "blocked", (url, attempt)
                assert "loopback" in (attempt.error_detail or "")
            allowed = await sender.send(
                Outgoing("POST", target.url + "/ok", (), b"y"),
                webhook_id=1,
                delivery=None,
                trigger=Trigger.REPLAY,
            )
    assert allowed.status == 200
    assert target.bodies == [b"y"]


async def test_request_target_and_host_never_choose_the_destination(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target, listening(db, "-f", str(target.port)) as listener:
        absolute = await send_raw(
            listener.url,
            request_bytes(
                "POST",
                "http://evil.example/x",
                [("Host", "evil.example"), ("Content-Length", "8")],
                b"absolute",
            ),
        )
        spoofed = await send_raw(
            listener.url,
            request_bytes(
                "POST",
                "/y",
                [
                    ("Host", "10.0.0.1"),
                    ("X-Forwarded-Host", "evil"),
                    ("Content-Length", "7"),
                ],
                b"spoofed",
            ),
        )
        await settled(db, [absolute, spoofed])
    assert sorted(target.bodies) == [b"absolute", b"spoofed"]
    for webhook_id in (absolute, spoofed):
        [attempt] = attempts(db, webhook_id)
        assert attempt.url.startswith(target.url + "/"), attempt.url
        assert attempt.status == 200
    for got in target.requests:
        assert got.header_all("Host") == [f"127.0.0.1:{target.port}"]
    by_body = {r.body: r for r in target.requests}
    # The absolute-form target counts for its path alone.
    assert by_body[b"absolute"].path_qs == "/x"
    # Passed on (as a tunnel's would be), and never used to choose where it goes.
    assert by_body[b"spoofed"].header_all("X-Forwarded-Host") == ["evil"]
    assert by_body[b"spoofed"].path_qs == "/y"


# --- proxy mode --------------------------------------------------------------------------------


async def test_proxy_mode_passes_the_targets_answer_through(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    compressed = gzip.compress(bytes(range(256)) * 64)
    with target_server() as target:
        target.queue(
            Reply(
                418,
                (("X-Teapot", "short"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")),
                b"I'm a teapot",
            ),
            Reply(
                200,
                (("Content-Type", "application/octet-stream"), ("Content-Encoding", "gzip")),
                compressed,
            ),
        )
        with listening(db, "-f", str(target.port), "--mode", "proxy") as listener:
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                async with session.post(listener.url + "tea", data=b"brew") as response:
                    assert response.status == 418
                    assert response.headers["X-Teapot"] == "short"
                    assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
                    assert await response.read() == b"I'm a teapot"
                    teapot_id = int(response.headers["X-Whrelay-Id"])
                async with session.post(listener.url + "bin", data=b"zip") as response:
                    assert response.status == 200
                    assert response.headers["Content-Encoding"] == "gzip"
                    assert await response.read() == compressed
                    binary_id = int(response.headers["X-Whrelay-Id"])
                target.down()
                async with session.post(listener.url + "down", data=b"nobody") as response:
                    assert response.status == 502
                    text = await response.text()
                    down_id = int(response.headers["X-Whrelay-Id"])
    assert target.url in text
    assert "did not answer" in text
    assert f"#{down_id}" in text
    assert target.bodies == [b"brew", b"zip"]
    [teapot] = attempts(db, teapot_id)
    assert (teapot.trigger, teapot.status) == ("proxy", 418)
    assert deliveries(db, teapot_id)[0].state == "failed"
    [binary] = attempts(db, binary_id)
    assert (binary.trigger, binary.status, binary.response_body) == ("proxy", 200, compressed)
    assert deliveries(db, binary_id)[0].state == "delivered"
    [down] = attempts(db, down_id)
    assert (down.trigger, down.status) == ("proxy", None)
    # "reset" when a keep-alive connection the target just closed was picked from the pool.
    assert down.error in ("refused", "reset")


async def test_proxy_mode_passes_the_targets_header_bytes_on_exactly(tmp_path: Path) -> None:
    """A header of the target's answer that is not UTF-8 reaches the sender as the same bytes
    (headers are decoded by one lossless rule), not as replacement characters."""
    answer = b"HTTP/1.1 200 OK\r\nX-Caf: caf\xe9 \xff\xfe\r\nContent-Length: 2\r\n\r\nok"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with listening(tmp_path / "hooks.db", "-f", str(port), "--mode", "proxy") as listener:
            response = await raw_request(
                listener.url,
                b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            )
    finally:
        server.close()
        await server.wait_closed()
    assert (response.status, response.body) == (200, b"ok")
    assert response.header("X-Caf") == b"caf\xe9 \xff\xfe"


async def test_proxy_mode_forwards_only_what_is_committed(tmp_path: Path) -> None:
    """While the database cannot be written (another process holds the write lock), a proxied
    webhook does not reach the target; once the commit is through, it does, and the sender
    gets the target's answer."""
    from whrelay.core.paths import lock_path
    from whrelay.storage.lock import WriteLock

    db = tmp_path / "hooks.db"
    with (
        target_server() as target,
        listening(db, "-f", str(target.port), "--mode", "proxy") as listener,
    ):
        lock = WriteLock(lock_path(db))
        lock.acquire()
        held = True
        try:
            async with aiohttp.ClientSession() as session:
                sending = asyncio.ensure_future(session.post(listener.url + "held", data=b"x"))
                deadline = time.monotonic() + 2.0  # the window in which it must not arrive
                while time.monotonic() < deadline and not target.requests and not sending.done():
                    await asyncio.sleep(0.02)
                assert target.requests == [], "forwarded before it was stored"
                assert not sending.done()
                lock.release()
                held = False
                response = await sending
                assert response.status == 200, await response.text()
                webhook_id = int(response.headers["X-Whrelay-Id"])
                response.release()
        finally:
            if held:
                lock.release()
        [seen] = target.wait_for(1)
    assert seen.body == b"x"
    [attempt] = attempts(db, webhook_id)
    assert (attempt.trigger, attempt.status) == ("proxy", 200)


async def test_proxy_mode_answers_head_with_the_targets_length(tmp_path: Path) -> None:
    """An answer to HEAD has no body; its Content-Length is the target's (the size of the body
    it would have sent), not the 0 bytes passed on."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(200, (("X-Kind", "head"),), b"x" * 1234)
        with listening(db, "-f", str(target.port), "--mode", "proxy") as listener:
            reader, writer = await asyncio.open_connection("127.0.0.1", url_port(listener.url))
            writer.write(
                request_bytes("HEAD", "/probe", [("Host", "localhost"), ("Connection", "close")])
            )
            answer = await asyncio.wait_for(reader.read(), 20)  # all of it, to the close
            writer.close()
    head, _, rest = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert [line for line in lines if line.lower().startswith(b"content-length:")] == [
        b"Content-Length: 1234"
    ]
    assert b"X-Kind: head" in lines
    assert rest == b""  # no body after the head
    assert [r.method for r in target.requests] == ["HEAD"]


# --- replay, list and show ---------------------------------------------------------------------


async def delivered_history(db: Path, target: TargetServer, count: int) -> list[int]:
    """Forward ``count`` webhooks to ``target`` with a short-lived listener; their ids."""
    with listening(db, "-f", str(target.port)) as listener:
        ids = await post_all(
            listener.url, [b"payload %d \x00\xff" % i for i in range(count)], "/h?x=1"
        )
        await settled(db, ids)
    return ids


async def test_replay_sends_identical_bytes_again(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with (
        target_server() as target,
        target_server() as other,
        listening(db, "-f", str(target.port)) as listener,
    ):
        ids = await post_all(listener.url, [b"payload %d \x00\xff" % i for i in range(3)], "/h?x=1")
        await settled(db, ids)
        # While that listener is running, replay from another process.
        result = await asyncio.to_thread(run_whrelay, "replay", str(ids[0]), "--db", str(db))
        assert result.returncode == 0, result.stderr
        # (Forwarded by concurrent attempts, the first three may reach the target in any order.)
        original = next(r for r in target.requests[:3] if r.body.startswith(b"payload 0 "))
        replayed = target.requests[-1]
        assert len(target.requests) == 4
        assert replayed.method == original.method == "POST"
        assert replayed.path_qs == original.path_qs == "/h?x=1"
        assert replayed.body == original.body == b"payload 0 \x00\xff"
        assert replayed.headers == original.headers
        last = attempts(db, ids[0])[-1]
        assert (last.trigger, last.status, last.delivery) == (
            "replay",
            200,
            deliveries(db, ids[0])[0].id,
        )

        # Elsewhere, with an extra header and another body.
        body_file = tmp_path / "edited.bin"
        body_file.write_bytes(b"\x00edited\xff")
        result = await asyncio.to_thread(
            run_whrelay,
            "replay",
            str(ids[1]),
            "--to",
            str(other.port),
            "-H",
            "X-Replayed: 1",
            "--body-file",
            str(body_file),
            "--db",
            str(db),
        )
        assert result.returncode == 0, result.stderr
        [moved] = other.requests
        assert moved.body == b"\x00edited\xff"
        assert moved.header("Content-Length") == "8"
        assert moved.header_all("X-Replayed") == ["1"]
        assert moved.path_qs == "/h?x=1"
        last = attempts(db, ids[1])[-1]
        assert (last.trigger, last.url, last.delivery) == (
            "replay",
            other.url + "/h?x=1",
            None,
        )

        # Several at once, as JSON.
        result = await asyncio.to_thread(
            run_whrelay, "replay", *map(str, ids), "--json", "--db", str(db)
        )
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(r["webhook_id"], r["status"], r["trigger"]) for r in lines] == [
            (i, 200, "replay") for i in ids
        ]
    assert target.bodies[-3:] == [b"payload %d \x00\xff" % i for i in range(3)]


async def test_replay_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        [webhook_id] = await delivered_history(db, target, 1)
        target.reply(500, body=b"broken")
        failing = await asyncio.to_thread(run_whrelay, "replay", str(webhook_id), "--db", str(db))
        target.down()
        down = await asyncio.to_thread(run_whrelay, "replay", str(webhook_id), "--db", str(db))
        unknown = await asyncio.to_thread(run_whrelay, "replay", "999", "--db", str(db))
    assert failing.returncode == 1, failing.stderr
    assert down.returncode == 1, down.stderr
    tries = attempts(db, webhook_id)
    assert [(a.trigger, a.status, a.error) for a in tries[-2:]] == [
        ("replay", 500, None),
        ("replay", None, "refused"),
    ]
    assert deliveries(db, webhook_id)[0].state == "delivered"  # a failed replay changes nothing
    assert unknown.returncode == 2
    [line] = error_lines(unknown.stderr)
    assert "999" in line
    assert len(tries) == 3


async def test_list_status_show_and_dry_run(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        unreachable = down_target()
        try:
            target.queue(Reply(200), Reply(400, body=b"bad"))
            with listening(
                db, "-f", str(target.port), "--route", f"/later/*={unreachable.port}"
            ) as listener:
                delivered = await post(listener.url, b"fine", "/ok")
                await settled(db, [delivered])
                failed = await post(listener.url, b"bad", "/bad")
                await settled(db, [failed], "failed")
                pending = await post(listener.url, b"wait", "/later/x")
                await events(listener, "target_down")
        finally:
            unreachable.close()
        before = len(target.requests)
        base = ("--db", str(db))
        results = run_concurrently(
            ("list", "--status", "delivered", "--json", *base),
            ("list", "--status", "pending", "--json", *base),
            ("list", "--status", "failed", "--json", *base),
            ("replay", "--since", "1h", "--status", "failed", "--dry-run", *base),
            ("replay", "--since", "1h", "--status", "failed", "--dry-run", "--json", *base),
            ("show", str(failed), *base),
            ("show", str(failed), "--json", *base),
        )
        # They have exited, and a request is recorded before it is answered: had a dry run
        # sent one, it would be in target.requests by now.
        assert len(target.requests) == before  # the dry runs sent nothing
    for result in results:
        assert result.returncode == 0, (result.args, result.stderr)
    listed = [[json.loads(line)["id"] for line in r.stdout.splitlines()] for r in results[:3]]
    assert listed == [[delivered], [pending], [failed]]

    dry, dry_json, show_text, show_json = results[3:]
    assert f"#{failed}".encode() in dry.stdout
    assert f"{target.url}/bad".encode() in dry.stdout
    assert f"#{delivered}".encode() not in dry.stdout
    assert [json.loads(line) for line in dry_json.stdout.splitlines()] == [
        {
            "id": failed,
            "target": target.url,
            "dry_run": True,
            "verdict": "unverified",
            "scheme": None,
        }
    ]
    assert len(attempts(db, failed)) == 1  # nothing recorded either

    text = show_text.stdout.decode()
    assert "Deliveries" in text
    assert "Attempts" in text
    assert target.url in text
    assert "failed" in text
    assert "400" in text
    record = json.loads(show_json.stdout)
    assert [(d["target"], d["state"], d["attempts"]) for d in record["deliveries"]] == [
        (target.url, "failed", 1)
    ]
    assert [(a["trigger"], a["status"]) for a in record["attempts"]] == [("first", 400)]


async def test_bulk_replay_of_failed_sends_only_the_failed_deliveries(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as fine, target_server() as picky:
        picky.reply(400, body=b"no")
        with listening(db, "-f", str(fine.port), "-f", str(picky.port)) as listener:
            both = await post(listener.url, b"to both", "/two")
            await until(
                lambda: len([d for d in deliveries(db, both) if d.state != "pending"]) == 2 or None,
                "both deliveries settled",
            )
        assert sorted(d.state for d in deliveries(db, both)) == ["delivered", "failed"]
        dry = run_whrelay(
            "replay", "--since", "1h", "--status", "failed", "--dry-run", "--json", "--db", str(db)
        )
        mixed = run_whrelay("replay", str(both), "--status", "failed", "--db", str(db))
        again = run_whrelay("replay", "--since", "1h", "--status", "failed", "--db", str(db))
        shown = run_whrelay("show", str(both), "--db", str(db))
    assert again.returncode == 1, again.stderr  # the picky target still answers 400
    assert [r.path_qs for r in picky.requests] == ["/two", "/two"]
    assert [r.path_qs for r in fine.requests] == ["/two"]  # not sent again
    lines = shown.stdout.decode().splitlines()
    [picky_line] = [line for line in lines if line.startswith("failed") and picky.url in line]
    assert "1 attempt(s) + 1 replay(s)" in picky_line
    assert dry.returncode == 0, dry.stderr
    assert [json.loads(line) for line in dry.stdout.splitlines()] == [
        {"id": both, "target": picky.url, "dry_run": True, "verdict": "unverified", "scheme": None}
    ]
    assert mixed.returncode == 2
    assert b"not both" in mixed.stderr


# --- response capture --------------------------------------------------------------------------


async def test_large_response_is_capped(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    big = bytes(range(256)) * (5 * MiB // 256)
    with target_server() as target:
        target.reply(200, {"Content-Type": "application/octet-stream"}, big)
        with listening(db, "-f", str(target.port)) as listener:
            webhook_id = await post(listener.url, b"give me a lot")
            await settled(db, [webhook_id])
    [attempt] = attempts(db, webhook_id)
    assert attempt.status == 200
    assert attempt.response_truncated is True
    assert attempt.response_body == big[:MiB]


@pytest.mark.parametrize("mode", ["store", "proxy"])
async def test_a_large_body_is_forwarded_byte_exact_without_copies_of_it(
    tmp_path: Path, mode: str
) -> None:
    """A large body goes to the target after the request's head, from the stored bytes: not
    joined to the head, nor sliced into copies as the socket takes it. ``listen`` grows by
    the body read (joined once) and what the socket did not take at once, no more."""
    db = tmp_path / "hooks.db"
    body = random_body(24 * MiB, 11)
    with (
        target_server() as target,
        listening(db, "--mode", mode, "-f", str(target.port)) as listener,
    ):
        await post(listener.url, b"warm-up")
        target.wait_for(1)
        idle = reset_peak(listener.proc.pid)
        await post(listener.url, body)
        [_, forwarded] = target.wait_for(2)
        grown = memory_kib(listener.proc.pid, "VmHWM") - idle
    assert forwarded.body == body
    assert forwarded.header("Content-Length") == str(len(body))
    assert grown * 1024 < 3 * len(body), f"grew {grown / 1024:.0f} MiB for a 24 MiB body"


async def test_a_lane_outlives_a_webhook_it_cannot_read(tmp_path: Path) -> None:
    """Reading a webhook back for its retry fails with something unexpected: that one waits
    and is tried again; the lane goes on with the others."""
    from whrelay.core.config import ForwardSettings
    from whrelay.core.models import Capture, Webhook, now_micros
    from whrelay.core.targets import parse_target
    from whrelay.relay.forwarder import Forwarder

    db = tmp_path / "lane.db"
    with Store(db) as store:
        stored = store.insert_webhooks(
            [Capture("POST", "/h", "", (), b"w%d" % i, "1.1", "127.0.0.1", now_micros())
             for i in range(3)]
        )  # fmt: skip
    reader = Store(db, readonly=True)
    reads: list[int] = []

    async def load(webhook_id: int, delivery_id: int) -> Webhook:
        reads.append(webhook_id)
        if webhook_id == stored[0].id:
            raise ValueError("a row this reader cannot decode")
        return reader.get_webhook(webhook_id)

    class Recorded:  # the writer's role here: nothing to keep
        health = HealthWatch()

        async def run(self, job: object) -> None:
            return None

        async def start(self) -> None: ...

        async def close(self) -> None: ...

    try:
        with target_server() as target:
            lane_target = parse_target(str(target.port))
            async with Sender() as sender:
                forwarder = Forwarder(
                    ForwardSettings(targets=(lane_target,)),
                    sender,
                    Recorded(),
                    load,
                    lambda e: None,
                )
                now = now_micros()
                forwarder.start(
                    [Delivery(i + 1, w.id, lane_target.url, DeliveryState.PENDING, 1, now, now, now)
                     for i, w in enumerate(stored)]
                )  # fmt: skip
                await arrivals(target, 2)
                await until(lambda: reads.count(stored[0].id) >= 2 or None, "a second read")
                runner = forwarder.lanes[lane_target.url].runner
                assert runner is not None and not runner.done()
                await forwarder.stop()
    finally:
        reader.close()
    assert sorted(target.bodies) == [b"w1", b"w2"]


# --- replay's output: the bar, the summary, Ctrl-C ------------------------------------------------

STRIPE_SECRET = "whsec_deliveryTestSecret"


def stored_forwarded(
    db: Path, target: str, count: int, *, age_s: float = 60, stripe: bool = False
) -> list[int]:
    """``count`` webhooks stored as listen stores them, ``age_s`` seconds ago, each with a
    delivery to ``target``; with ``stripe``, signed by Stripe at their arrival and judged
    valid. Their ids."""
    from whrelay.core.models import Capture, Verdict
    from whrelay.signatures import Message, get_scheme
    from whrelay.storage.store import insert_webhook

    arrived = time.time() - age_s
    ids = []
    with Store(db) as store:
        for n in range(count):
            body = b'{"id":"evt_%d","type":"invoice.paid"}' % n
            headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
            verdict = None
            if stripe:
                signed = get_scheme("stripe").sign(
                    Message(body, headers), STRIPE_SECRET, int(arrived)
                )
                headers = signed.headers
                verdict = Verdict("valid", "stripe", "ok")
            raw = tuple((k.encode(), v.encode()) for k, v in headers)
            capture = Capture(
                "POST", f"/hooks/{n}", "", raw, body, "1.1", "127.0.0.1", int(arrived * 1e6)
            )
            summary, _ = store.run(
                partial(insert_webhook, capture=capture, targets=[target], verdict=verdict)
            )
            ids.append(summary.id)
    return ids


def test_bulk_replay_on_a_narrow_terminal_clears_its_bar_and_ends_with_a_summary(
    tmp_path: Path,
) -> None:
    """The lines wrap on a 40-column terminal; no trace of the bar is left between them or
    after them, and the summary counts what was sent."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(200, stall=0.05)
        stored_forwarded(db, target.url, 5)
        run = run_in_terminal("replay", "--since", "1h", "--db", str(db), columns=40)
    shown = "\n".join(run.screen)
    assert run.returncode == 0, shown
    assert len(target.requests) == 5
    assert "replaying" not in shown
    assert "━" not in shown
    assert shown.count("(replay)") == 5
    assert "Replayed: 5 sent, 5 answered 2xx." in shown.replace("\n", "")


def test_bulk_replay_summary_counts_failures_by_kind_and_hints_at_resign_for_stale_ones(
    tmp_path: Path,
) -> None:
    """Stripe-signed webhooks an hour old, answered 400 (as a Stripe library answers a
    timestamp too old), one answered 500, and one never forwarded (skipped)."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.queue(Reply(400), Reply(400), Reply(500))
        stored_forwarded(db, target.url, 3, age_s=3600, stripe=True)
        with Store(db) as store:  # never forwarded: skipped by a filter
            from whrelay.core.models import Capture
            from whrelay.storage.store import insert_webhook

            alone = Capture("POST", "/alone", "", (), b"{}", "1.1", None, int(time.time() * 1e6))
            store.run(lambda db: insert_webhook(db, alone))
        result = run_whrelay("replay", "--since", "2h", "--db", str(db))
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Replayed: 3 sent, 0 answered 2xx, 3 failed (2 × 400, 1 × 500), 1 skipped." in err
    [hint] = [line for line in err.splitlines() if line.startswith("hint:")]
    assert "2 of the failures" in hint and "stripe" in hint and "--resign" in hint


def test_ctrl_c_during_a_bulk_replay_says_what_was_done_and_exits_130(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(200, stall=0.5)
        stored_forwarded(db, target.url, 8)
        run = run_in_terminal(
            "replay", "--since", "1h", "--db", str(db), columns=60,
            interrupt_when=lambda written: b"(replay)" in written,
        )  # fmt: skip
    shown = "\n".join(run.screen)
    assert run.returncode == 130, shown
    assert "replaying" not in shown
    summary = next(line for line in run.screen if line.startswith("Interrupted:"))
    sent = shown.count("(replay)")
    assert sent >= 1
    assert summary.startswith(f"Interrupted: {sent} sent, {sent} answered 2xx, ")
    assert f"{8 - sent} not sent." in shown.replace("\n", "")
    assert "Traceback" not in shown
    with Store(db, readonly=True) as store:
        replays = [a for i in range(1, 9) for a in store.attempts(i) if a.trigger == "replay"]
    assert len(replays) == sent


# --- cancel: a delivery given up ----------------------------------------------------------------


async def test_cancel_from_another_process_stops_a_running_listen_retrying_it(
    tmp_path: Path,
) -> None:
    """A listen retries a webhook its target keeps answering 500; ``whrelay cancel ID`` in
    another process records it cancelled, and the listen makes no attempt after that, while
    it goes on retrying another webhook. ``list --status cancelled`` and ``show`` say so;
    ``cancel --status pending --target`` gives up the rest."""
    db = tmp_path / "hooks.db"
    with target_server() as target, listening(db, "-f", str(target.port)) as listener:
        target.reply(500, body=b"broken")
        webhook = await post(listener.url, b'{"n":1}')
        await until(lambda: len(attempts(db, webhook)) >= 2, "the listen to retry")
        result = await asyncio.to_thread(run_whrelay, "cancel", str(webhook), "--db", str(db))
        cancelled_by = time.time_ns() // 1000
        assert result.returncode == 0, result.stderr
        assert f"cancelled  #{webhook} → {target.url}" in result.stdout.decode()
        other = await post(listener.url, b'{"n":2}')
        # Retried three times (past the 0.5 s retry) while the cancelled one was due again.
        await until(lambda: len(attempts(db, other)) >= 3, "the other webhook to be retried")
        tried = attempts(db, webhook)
        listed = await asyncio.to_thread(
            run_whrelay, "list", "--status", "cancelled", "--json", "--db", str(db)
        )
        shown = await asyncio.to_thread(
            run_whrelay, "show", str(webhook), "--json", "--db", str(db)
        )
        rest = await asyncio.to_thread(
            run_whrelay, "cancel", "--status", "pending", "--target", str(target.port),
            "--json", "--db", str(db),
        )  # fmt: skip
        await until(
            lambda: deliveries(db, other)[0].state == "cancelled", "the other to be cancelled"
        )
    assert all(attempt.started_at < cancelled_by for attempt in tried), tried
    assert [d.state for d in deliveries(db, webhook)] == ["cancelled"]
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [webhook]
    record = json.loads(shown.stdout)
    assert [d["state"] for d in record["deliveries"]] == ["cancelled"]
    assert record["attempts"][-1]["outcome"] == "failed, then cancelled"
    assert rest.returncode == 0, rest.stderr
    assert [json.loads(line)["webhook_id"] for line in rest.stdout.splitlines()] == [other]


def test_cancel_says_what_it_cannot_do(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    [webhook] = stored_forwarded(db, "http://127.0.0.1:9", 1)
    for argv, message in (
        (("cancel",), "name webhook ids, or select the deliveries with --status pending"),
        (("cancel", "--status", "failed"), "only pending deliveries can be cancelled"),
        (("cancel", str(webhook), "--status", "pending"), "not both"),
        (("cancel", "999"), "no webhook with id 999"),
    ):
        result = run_whrelay(*argv, "--db", str(db))
        assert result.returncode == 2, (argv, result.stderr)
        [line] = error_lines(result.stderr)
        assert message in line, line
    done = run_whrelay("cancel", str(webhook), "--db", str(db))
    again = run_whrelay("cancel", str(webhook), "--db", str(db))
    assert done.returncode == again.returncode == 0
    assert b"Nothing pending to cancel." in again.stderr
    assert [d.state for d in deliveries(db, webhook)] == ["cancelled"]


async def test_a_webhook_refused_after_an_outage_longer_than_its_signatures_tolerance_names_resign(
    tmp_path: Path,
) -> None:
    """Paddle accepts a signature for 5 s (its SDK's default): a webhook queued through an
    outage longer than that and then answered 401 is marked a stale signature, in the
    ``attempt`` event and in ``show``, with the fix; one answered 401 at once is not."""
    import hmac

    db = tmp_path / "hooks.db"
    secret = "pdl_ntfset_stale"

    def paddle(body: bytes) -> list[tuple[str, str]]:
        stamp = str(int(time.time()))
        mac = hmac.new(secret.encode(), stamp.encode() + b":" + body, "sha256").hexdigest()
        return [
            ("Host", "127.0.0.1"),
            ("Paddle-Signature", f"ts={stamp};h1={mac}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ]

    target = down_target()
    try:
        with listening(
            db, "-f", str(target.port), "--provider", "paddle", "--secret", secret
        ) as listener:
            body = b'{"event_id":"evt_01stale","event_type":"transaction.paid"}'
            queued = await send_raw(listener.url, request_bytes("POST", "/p", paddle(body), body))
            await events(listener, "target_down")
            arrived = deliveries(db, queued)[0].created_at / 1e6
            while time.time() < arrived + 6:  # the outage outlasts Paddle's 5 s
                await asyncio.sleep(0.2)
            target.reply(401, {}, b"invalid signature")
            target.up()
            [_, refused] = await events(listener, "attempt", 2)
            fresh_body = b'{"event_id":"evt_01fresh","event_type":"transaction.paid"}'
            fresh = await send_raw(
                listener.url, request_bytes("POST", "/p", paddle(fresh_body), fresh_body)
            )
            [*_, answered] = await events(listener, "attempt", 3)
    finally:
        target.close()
    assert (refused["webhook_id"], refused["status"]) == (queued, 401)
    stale = refused["stale_signature"]
    assert isinstance(stale, dict)
    assert stale["scheme"] == "paddle" and stale["tolerance_s"] == 5.0
    assert isinstance(stale["age_s"], float) and stale["age_s"] > 5
    assert (answered["webhook_id"], answered["status"]) == (fresh, 401)
    assert answered["stale_signature"] is None  # refused at once: not for its age
    shown = run_whrelay("show", str(queued), "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.decode().splitlines() if " 401 " in line]
    assert re.search(
        r"  stale signature \(\d+ s after arrival, paddle allows 5 s\): "
        rf"whrelay replay {queued} --resign$",
        line,
    ), line
    record = json.loads(run_whrelay("show", str(queued), "--json", "--db", str(db)).stdout)
    assert record["attempts"][-1]["stale_signature"]["scheme"] == "paddle"
    fresh_shown = run_whrelay("show", str(fresh), "--db", str(db)).stdout.decode()
    assert " 401 " in fresh_shown and "stale signature" not in fresh_shown


async def test_a_forward_that_times_out_suggests_timeout_0_for_a_debugger(tmp_path: Path) -> None:
    """An app stopped at a breakpoint answers late: the timed-out attempt's line says that
    ``--timeout 0`` waits for the answer."""
    db = tmp_path / "hooks.db"
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        with listening(db, "-f", str(port), "--timeout", "0.3s") as listener:
            webhook_id = await post(listener.url, b"{}")
            [attempt] = await events(listener, "attempt")
    assert (attempt["webhook_id"], attempt["error"]) == (webhook_id, "timeout")
    shown = run_whrelay("show", str(webhook_id), "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.decode().splitlines() if "timeout" in line]
    assert "no answer within 0.3 s" in line
    assert "at a breakpoint? --timeout 0 waits for the answer" in line


async def test_ctrl_c_lets_a_forward_in_flight_finish_within_the_grace_period(
    tmp_path: Path,
) -> None:
    """A target answering a second after Ctrl-C (within ``FORWARD_GRACE``) has its answer
    recorded: the delivery is delivered, not cut off as interrupted and sent again."""
    from whrelay.core.defaults import FORWARD_GRACE

    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(200, {}, b"handled", stall=min(1.0, FORWARD_GRACE / 3))
        listener = start_listener(db, *FAST, "-f", str(target.port))
        try:
            webhook_id = await post(listener.url, b'{"in": "flight"}')
            await arrivals(target, 1)  # the forward is under way, its answer a second off
        finally:
            assert await asyncio.to_thread(listener.stop) == ExitCode.INTERRUPTED
    [attempt] = attempts(db, webhook_id)
    assert (attempt.status, attempt.error) == (200, None)
    assert attempt.response_body == b"handled"
    assert [d.state for d in deliveries(db, webhook_id)] == ["delivered"]


# --- https targets with a self-signed certificate ----------------------------------------------
#
# A dev server's usual https set-up: a certificate it made itself, which no client trusts by
# default (``self_signed`` writes it to FOLDER/cert.pem). Each target below is a real https
# server on 127.0.0.1.


def https_target(folder: Path) -> contextlib.AbstractContextManager[TargetServer]:
    """A recording https target whose self-signed certificate is ``folder/cert.pem``."""
    folder.mkdir(exist_ok=True)
    return target_server(tls=self_signed(folder))


def certificate_lines(shown: subprocess.CompletedProcess[bytes]) -> list[str]:
    """The attempt lines of ``whrelay show`` that say a certificate did not verify."""
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    return [line for line in text.splitlines() if "→" in line and "certificate verify" in line]


async def test_a_self_signed_https_target_is_refused_and_its_line_names_the_fixes(
    tmp_path: Path,
) -> None:
    """By default a self-signed certificate is refused (the app gets nothing); the attempt
    is ``tls``, and its line in ``show`` suggests ``--ca-file`` and ``--insecure``."""
    db = tmp_path / "hooks.db"
    with https_target(tmp_path) as target, listening(db, "-f", target.url) as listener:
        webhook_id = await post(listener.url, b"{}")
        attempt = (await events(listener, "attempt"))[0]
        assert target.requests == []
    assert (attempt["webhook_id"], attempt["error"]) == (webhook_id, "tls")
    assert attempt["error_detail"] == "certificate verify failed: self-signed certificate"
    lines = certificate_lines(run_whrelay("show", str(webhook_id), "--db", str(db)))
    assert lines, "no attempt line says the certificate did not verify"
    for line in lines:
        assert "self-signed?" in line and "--ca-file" in line and "--insecure" in line, line


@pytest.mark.parametrize("how", ["--insecure", "TARGET,insecure", "--ca-file"])
async def test_insecure_or_the_certificate_as_ca_file_delivers_to_a_self_signed_https_target(
    tmp_path: Path, how: str
) -> None:
    """``--insecure`` (every https target), ``,insecure`` (that one) and ``--ca-file
    cert.pem`` (the dev server's own certificate, trusted) each get the webhook through."""
    db = tmp_path / "hooks.db"
    with https_target(tmp_path) as target:
        args = {
            "--insecure": ["-f", target.url, "--insecure"],
            "TARGET,insecure": ["-f", f"{target.url},insecure"],
            "--ca-file": ["-f", target.url, "--ca-file", str(tmp_path / "cert.pem")],
        }[how]
        with listening(db, *args) as listener:
            webhook_id = await post(listener.url, b'{"over": "tls"}')
            await settled(db, [webhook_id])
    assert target.bodies == [b'{"over": "tls"}']
    [attempt] = attempts(db, webhook_id)
    assert (attempt.status, attempt.url) == (200, target.url + "/hook")


async def test_insecure_after_one_target_leaves_the_others_verified(tmp_path: Path) -> None:
    """``-f 'URL,insecure'`` affects that target only: another self-signed https target
    (given without it) is still verified, and refused."""
    db = tmp_path / "hooks.db"
    with (
        https_target(tmp_path / "a") as trusted_blindly,
        https_target(tmp_path / "b") as verified,
        listening(db, "-f", f"{trusted_blindly.url},insecure", "-f", verified.url) as listener,
    ):
        webhook_id = await post(listener.url, b"{}")
        await asyncio.to_thread(trusted_blindly.wait_for, 1)
        seen = await events(listener, "attempt", 2)
        assert verified.requests == []
    by_url = {str(e["url"]).removesuffix("/hook"): e for e in seen if e["webhook_id"] == webhook_id}
    assert by_url[trusted_blindly.url]["status"] == 200
    assert by_url[verified.url]["error"] == "tls"


async def test_replay_and_send_take_insecure_and_ca_file(tmp_path: Path) -> None:
    """``replay`` of a delivery to a self-signed https target fails as ``listen``'s did until
    told ``--insecure`` or ``--ca-file``, or sent ``--to 'URL,insecure'``; ``send`` the same."""
    db = tmp_path / "hooks.db"
    cert = str(tmp_path / "cert.pem")
    with https_target(tmp_path) as target:
        with listening(db, "-f", target.url, "--insecure") as listener:
            webhook_id = await post(listener.url, b"{}")
            await settled(db, [webhook_id])

        def replay(*args: str) -> subprocess.CompletedProcess[bytes]:
            return run_whrelay("replay", str(webhook_id), "--db", str(db), *args)

        refused = await asyncio.to_thread(replay)
        insecure = await asyncio.to_thread(replay, "--insecure")
        trusted = await asyncio.to_thread(replay, "--ca-file", cert)
        marked = await asyncio.to_thread(replay, "--to", f"{target.url},insecure")

        def send(*args: str) -> subprocess.CompletedProcess[bytes]:
            return run_whrelay("send", target.url + "/sent", "--provider", "none", *args)

        send_refused = await asyncio.to_thread(send)
        send_insecure = await asyncio.to_thread(send, "--insecure")
        send_trusted = await asyncio.to_thread(send, "--ca-file", cert)
    assert refused.returncode == 1, refused.stderr
    assert send_refused.returncode == 1, send_refused.stderr
    for failed in (refused, send_refused):
        line = failed.stdout.decode()
        assert "certificate verify failed" in line and "--ca-file" in line, line
    for result in (insecure, trusted, marked, send_insecure, send_trusted):
        assert result.returncode == 0, (result.stdout, result.stderr)
    assert [r.path_qs for r in target.requests] == ["/hook"] * 4 + ["/sent"] * 2
    assert [(a.trigger, a.status) for a in attempts(db, webhook_id)][1:] == [
        ("replay", None),
        ("replay", 200),
        ("replay", 200),
        ("replay", 200),
    ]


@pytest.mark.parametrize(
    "command",
    [
        ("listen", "--port", "0", "-f", "https://127.0.0.1:9"),
        ("replay", "1"),
        ("send", "https://127.0.0.1:9/", "--provider", "none"),
    ],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize("problem", ["missing", "not PEM", "a folder"])
def test_a_ca_file_that_holds_no_certificate_is_refused_at_start_in_one_line(
    tmp_path: Path, command: tuple[str, ...], problem: str
) -> None:
    """Before anything is opened, bound or sent: exit 2, one line naming the file."""
    ca_file = {
        "missing": tmp_path / "missing.pem",
        "not PEM": tmp_path / "key-only.pem",
        "a folder": tmp_path,
    }[problem]
    (tmp_path / "key-only.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    db = tmp_path / "hooks.db"
    with_db = ("--db", str(db)) if command[0] != "send" else ()
    result = run_whrelay(*command, "--ca-file", str(ca_file), *with_db)
    assert result.returncode == 2, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith(f"whrelay: error: --ca-file {ca_file}"), line
    assert b"Traceback" not in result.stderr
    assert result.stdout == b""
    assert not db.exists()


def test_insecure_never_lifts_the_loopback_guard(tmp_path: Path) -> None:
    """``--insecure`` is about certificates: a target not on this machine is still refused
    (only resolved, never contacted)."""
    db = tmp_path / "hooks.db"
    for args in (
        ("listen", "--port", "0", "--insecure", "-f", "https://10.0.0.1", "--db", str(db)),
        ("listen", "--port", "0", "-f", "https://10.0.0.1,insecure", "--db", str(db)),
        ("send", "https://10.0.0.1/", "--provider", "none", "--insecure"),
    ):
        result = run_whrelay(*args)
        assert result.returncode == 2, (args, result.stderr)
        [line] = error_lines(result.stderr)
        assert "not on this machine" in line, line
    assert not db.exists()
