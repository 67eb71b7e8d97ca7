"""``whrelay listen -f``: forwarding byte-exact, retries, ordering, down targets, what each
attempt records. Targets are the recording ``TargetServer`` or a scripted ``RawServer``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers.commands import github_request, made_up_attempt
from tests.helpers.forwarding import (
    arrivals,
    attempts,
    attempts_made,
    deliveries,
    down_target,
    error_lines,
    events,
    https_target,
    post,
    post_all,
    post_bytes,
    run_concurrently,
    settled,
    stored_attempts,
)
from tests.helpers.memory import memory_kib, random_body, reset_peak
from tests.helpers.processes import (
    ROOT,
    Listener,
    listening,
    run_whrelay,
    start_listener,
    whrelay_cmd,
)
from tests.helpers.rawhttp import raw_request, request_bytes, send_raw
from tests.helpers.rawserver import RawServer, answers, self_signed
from tests.helpers.targetserver import Reply, TargetServer, target_server
from tests.helpers.wait import until, wait_until
from whrelay.core.errors import ExitCode
from whrelay.core.models import (
    DeliveryState,
)
from whrelay.render.webhooks import attempt_line

MiB = 1 << 20

FAST = ("--durability", "normal", "--retry-schedule", "0.2,0.5")
"""Options every listener here gets: quick commits and quick retries."""

GRACE = 0.8
"""Seconds to wait before asserting that something did not happen (> 0.5 s * 1.2 jitter)."""


def without(headers: Sequence[tuple[bytes, bytes]], *names: str) -> list[tuple[str, str]]:
    drop = {n.lower() for n in names}
    return [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in headers
        if k.decode("latin-1").lower() not in drop
    ]


# --- what is forwarded -------------------------------------------------------------------------

BINARY = bytes(range(256)) + b"\xff\xfe\x00\x80 not UTF-8 \xc3\x28"

FORWARDED_NAMES = ("Host", "Content-Length", "X-Forwarded-Host", "X-Forwarded-For")


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


GITHUB_SECRET = "review-secret"

QUICK_ONE_RETRY = ("--durability", "normal", "--retry-schedule", "0.2")
"""Options most listeners here get: quick commits and a quick retry."""

HUGE_YEAR = "Wed, 21 Oct 99999999999999999999 07:28:00 GMT"

# --- 2. Negative or non-hex framing in a target's answer -----------------------------------------

NEGATIVE_LENGTH = b"HTTP/1.1 500 X\r\nContent-Length: -1\r\n\r\n"

NEGATIVE_CHUNK = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n"


def kinds(listener: Listener) -> list[object]:
    return [e.get("event") for e in list(listener.events)]


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
            *FAST,
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
        listening(db, *FAST, "-f", str(target.port), *given) as listener,
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
    with target_server() as target, listening(db, *FAST, "-f", str(target.port)) as listener:
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
        with listening(db, *FAST, "-f", f"http://localhost:{target.port}/in") as listener:
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
        with listening(db, *FAST, "-f", str(target.port), "--ordered") as listener:
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
        with listening(db, *FAST, "-f", str(target.port)) as listener:
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
        with listening(db, *FAST, "-f", str(target.port)) as listener:
            await post_all(listener.url, [b"one", b"two"])
            await events(listener, "target_down")
        with listening(db, *FAST) as later:  # no -f: those two stay pending
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


async def test_500_then_200_is_retried(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.queue(Reply(500, body=b"boom"), Reply(503, body=b"busy"))
        with listening(db, *FAST, "-f", str(target.port)) as listener:
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
        with listening(db, *FAST, "-f", str(target.port)) as listener:
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
        with listening(db, *FAST, "-f", str(target.port)) as listener:
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
        with listening(db, *FAST, "-f", str(target.port)) as listener:
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
        with listening(db, *FAST, "-f", str(target.port)) as listener:
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
        with listening(db, *FAST, "-f", str(target.port)):
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
        with listening(db, *FAST, "-f", str(healthy.port), "-f", str(broken.port)) as listener:
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
        with listening(db, *FAST, "-f", str(target.port), "--timeout", "1s") as listener:
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
        with listening(db, *FAST, "-f", str(target.port)):
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


async def test_request_target_and_host_never_choose_the_destination(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target, listening(db, *FAST, "-f", str(target.port)) as listener:
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


# --- response capture --------------------------------------------------------------------------


async def test_large_response_is_capped(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    big = bytes(range(256)) * (5 * MiB // 256)
    with target_server() as target:
        target.reply(200, {"Content-Type": "application/octet-stream"}, big)
        with listening(db, *FAST, "-f", str(target.port)) as listener:
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
        listening(db, *FAST, "--mode", mode, "-f", str(target.port)) as listener,
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


def test_a_second_listen_forwarding_to_the_same_target_is_refused(tmp_path: Path) -> None:
    """Each listen resumes the pending deliveries of its targets: two forwarding to one
    target from one database would deliver them twice. Others are not in the way."""
    db = tmp_path / "hooks.db"
    first = start_listener(db, "-f", "3001")
    try:
        link = tmp_path / "link.db"
        link.symlink_to(db)
        for path in (db, link):
            second = run_whrelay(
                "listen", "--port", "0", "-f", "3002", "-f", "3001", "--db", str(path),
                timeout=30,
            )  # fmt: skip
            assert second.returncode == ExitCode.UNAVAILABLE, second.stderr
            message = second.stderr.decode()
            assert "another whrelay listen forwards to http://127.0.0.1:3001" in message
            assert "Traceback" not in message
        for others in ((), ("-f", "3002")):  # storing only, or forwarding elsewhere
            start_listener(db, *others).stop()
    finally:
        first.stop()
    start_listener(db, "-f", "3001").stop()  # the lock goes with the process


async def test_recorded_attempt_headers_include_host_and_content_length(tmp_path: Path) -> None:
    """The headers sent, as sent: the client's Host first and Content-Length last."""
    from tests.helpers.targetserver import target_server

    db = tmp_path / "hooks.db"
    with target_server() as target:
        listener = start_listener(db, "-f", str(target.port))
        try:
            answer = await raw_request(listener.url, github_request(b"{}"))
            listener.wait_for_events("attempt", 1)
        finally:
            listener.stop()
    shown = json.loads(run_whrelay("show", str(json.loads(answer.body)["id"]), "--json",
                                   "--db", str(db)).stdout)  # fmt: skip
    sent = shown["attempts"][0]["request_headers"]
    assert sent[0] == ["Host", f"127.0.0.1:{target.port}"]
    assert sent[-1] == ["Content-Length", "2"]
    wire = target.requests[0].headers
    assert [name.decode().lower() for name, _ in wire] == [name.lower() for name, _ in sent]


async def test_a_paused_target_is_said_once_and_then_per_new_webhook(tmp_path: Path) -> None:
    from tests.helpers.targetserver import target_server

    with target_server() as target:
        target.reply(status=410)
        listener = start_listener(tmp_path / "hooks.db", "-f", str(target.port))
        try:
            await asyncio.gather(
                *(raw_request(listener.url, github_request(b"{}")) for _ in range(4))
            )
            listener.wait_for_events("target_paused", 1)

            def settled() -> bool:
                """Every attempt that was in flight when the target went has ended."""
                answered = len(target.requests)
                return answered == sum(e["event"] == "attempt" for e in list(listener.events))

            wait_until(settled, "the attempts in flight to end")
            first = [e for e in listener.events if e["event"] == "target_paused"]
            await raw_request(listener.url, github_request(b"{}"))
            later = listener.wait_for_events("target_paused", len(first) + 1)
        finally:
            listener.stop()
    attempts = [e for e in listener.events if e["event"] == "attempt"]
    assert len(first) == 1, first  # however many attempts were in flight
    assert later[-1]["pending"] == 4 - len(attempts) + 1


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "state"), [("store", "pending"), ("proxy", "failed")])
async def test_ctrl_c_during_an_attempt_records_it_as_interrupted(
    tmp_path: Path, mode: str, state: str
) -> None:
    """The target has the webhook and no answer came: ``show`` says so, rather than claim
    nothing was sent. Store mode keeps the delivery pending for the next listen; in proxy
    mode the sender (who got no answer) sends it again itself, so it is settled."""
    from tests.helpers.targetserver import target_server

    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(stall=10)
        listener = start_listener(db, "-f", str(target.port), "--mode", mode)
        sending = asyncio.ensure_future(raw_request(listener.url, github_request(b"{}")))
        await asyncio.to_thread(target.wait_for, 1)
        assert await asyncio.to_thread(listener.stop) == ExitCode.INTERRUPTED
        with contextlib.suppress(asyncio.IncompleteReadError):  # proxy: no answer came
            await sending
    [row] = [
        json.loads(line)
        for line in run_whrelay("list", "--json", "--db", str(db)).stdout.splitlines()
    ]
    webhook_id = str(row["id"])
    shown = json.loads(run_whrelay("show", webhook_id, "--json", "--db", str(db)).stdout)
    [attempt] = shown["attempts"]
    assert (attempt["status"], attempt["error"]) == (None, "interrupted")
    assert attempt["error_detail"].startswith("whrelay stopped before the answer came")
    assert attempt["duration_ms"] > 0  # it was under way, not never sent
    assert [d["state"] for d in shown["deliveries"]] == [state]
    seen = [e["event"] for e in listener.events]
    assert seen.index("webhook") < seen.index("attempt")  # shown before its attempt


async def test_a_refused_attempt_announces_no_retry_time(tmp_path: Path) -> None:
    """A target found down is probed every second and the retry comes when it is back: the
    backoff's time (kept for a restart) would be a wrong promise."""
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    listener = start_listener(tmp_path / "hooks.db", "-f", str(port))
    try:
        await raw_request(listener.url, github_request(b"{}"))
        [event] = listener.wait_for_events("attempt", 1)
    finally:
        listener.stop()
    assert (event["error"], event["state"], event["retry_in"]) == ("refused", "pending", None)
    line = attempt_line(
        made_up_attempt(status=None, error="refused", trigger="first"), "pending"
    ).plain
    assert line.endswith("retry when the target is back"), line


@pytest.mark.slow
@pytest.mark.parametrize("value", [b"\xb2", HUGE_YEAR.encode()], ids=["superscript-two", "year"])
async def test_unusable_retry_after_still_records_the_attempt_and_retries(
    tmp_path: Path, value: bytes
) -> None:
    """A 503 whose Retry-After cannot be read (the raw byte 0xB2, a date in year 10**20) is
    recorded, and the delivery is retried on the schedule: it does not stay at 0 attempts."""
    busy = b"HTTP/1.1 503 Busy\r\nRetry-After: " + value + b"\r\nContent-Length: 0\r\n\r\n"
    db = tmp_path / "hooks.db"
    async with (
        RawServer(answers(busy)) as target,
        listening(db, *QUICK_ONE_RETRY, "-f", str(target.port)) as listener,
    ):
        webhook_id = await send_raw(listener.url, post_bytes(b"/hook", b"{}"))
        first, second = await attempts_made(db, webhook_id, 2)
    assert (first.status, second.status) == (503, 200)
    assert target.bodies == [b"{}", b"{}"]


@pytest.mark.slow
@pytest.mark.parametrize("answer", [NEGATIVE_LENGTH, NEGATIVE_CHUNK], ids=["length", "chunk"])
async def test_ordered_delivery_waits_for_a_badly_framed_first_answer(
    tmp_path: Path, answer: bytes
) -> None:
    """With --ordered, a first webhook answered with negative framing has its attempt recorded
    as an error, its connection is closed (not reused), and it is retried and delivered
    before the second webhook is sent at all."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer(answers(answer)) as target,
        listening(db, *QUICK_ONE_RETRY, "--ordered", "-f", str(target.port)) as listener,
    ):
        first = await send_raw(listener.url, post_bytes(b"/hook", b"first"))
        second = await send_raw(listener.url, post_bytes(b"/hook", b"second"))
        seen = await target.wait_for(3)
        await attempts_made(db, second, 1)
        tried = stored_attempts(db, first)
        await until(lambda: 1 in target.closed_by_client, "the first connection to be closed")
    assert [s.body for s in seen] == [b"first", b"first", b"second"]
    assert [(a.status, a.error) for a in tried] == [(None, "error"), (200, None)]
    assert seen[1].connection != seen[0].connection  # not reused after the bad answer


@pytest.mark.slow
async def test_listen_retries_a_tls_failure_on_the_schedule_without_target_down(
    tmp_path: Path,
) -> None:
    """An https target whose certificate does not verify is not "down" (its port accepts
    connections, so a probe would bring it straight back up): one attempt, recorded as
    ``tls``, and the next one only after the 60 s of the schedule; no ``target_down``."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer(ssl_context=self_signed(tmp_path)) as target,
        listening(
            db,
            "--durability",
            "normal",
            "--retry-schedule",
            "60",
            "-f",
            f"https://127.0.0.1:{target.port}",
        ) as listener,
    ):
        await send_raw(listener.url, post_bytes(b"/hook", b"{}"))
        await until(lambda: kinds(listener).count("attempt") >= 1, "the first attempt")
        await asyncio.sleep(2.5)  # more than two probe intervals (1 s)
        seen = list(listener.events)
    attempts = [e for e in seen if e.get("event") == "attempt"]
    assert len(attempts) == 1, attempts
    assert attempts[0]["error"] == "tls", attempts[0]
    assert [e for e in seen if e.get("event") == "target_down"] == []


@pytest.mark.slow
async def test_listen_does_not_forward_a_header_named_in_a_second_connection_line(
    tmp_path: Path,
) -> None:
    """End to end: ``Connection: keep-alive`` and ``Connection: X-Hop`` as two lines, and
    ``X-Hop: secret``: the target gets X-Kept but no X-Hop."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *QUICK_ONE_RETRY, "-f", str(target.port)) as listener,
    ):
        data = request_bytes(
            "POST",
            "/h",
            [
                ("Host", "x"),
                ("Connection", "keep-alive"),
                ("Connection", "X-Hop"),
                ("X-Hop", "secret"),
                ("X-Kept", "1"),
                ("Content-Length", "2"),
            ],
            b"{}",
        )
        await send_raw(listener.url, data)
        [seen] = await target.wait_for(1)
    assert seen.header(b"X-Kept") == b"1"
    assert seen.header(b"X-Hop") is None, seen.head


# --- 10. A fragment in the request target --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("target_path", [b"/a?x=1#frag", b"/a#frag"])
async def test_a_fragment_is_forwarded_as_it_came(tmp_path: Path, target_path: bytes) -> None:
    """A request target with a fragment (``/a?x=1#frag``) is forwarded byte for byte: the
    target's request line is the sender's."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *QUICK_ONE_RETRY, "-f", str(target.port)) as listener,
    ):
        await send_raw(listener.url, post_bytes(target_path, b"{}"))
        [seen] = await target.wait_for(1)
    assert seen.request_line == b"POST " + target_path + b" HTTP/1.1"


async def test_a_webhook_refused_after_an_outage_longer_than_its_signatures_tolerance_names_resign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paddle accepts a signature for 5 s (its SDK's default): a webhook queued through an
    outage longer than that and then answered 401 is marked a stale signature, in the
    ``attempt`` event and in ``show``, with the fix; one answered 401 at once is not."""
    import hmac

    db = tmp_path / "hooks.db"
    secret = "pdl_ntfset_stale"
    monkeypatch.setenv("PADDLE_WEBHOOK_SECRET", secret)

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
            db, *FAST, "-f", str(target.port), "--provider", "paddle",
            "--secret-env", "PADDLE_WEBHOOK_SECRET",
        ) as listener:  # fmt: skip
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
    assert stale["secret_envs"] == ["PADDLE_WEBHOOK_SECRET"]  # the fix can be given whole
    assert stale["secret_typed"] is False
    assert isinstance(stale["age_s"], float) and stale["age_s"] > 5
    assert (answered["webhook_id"], answered["status"]) == (fresh, 401)
    assert answered["stale_signature"] is None  # refused at once: not for its age
    shown = run_whrelay("show", str(queued), "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.decode().splitlines() if " 401 " in line]
    assert re.search(
        r"  stale signature \(\d+ s after arrival, paddle allows 5 s\): "
        rf"whrelay replay {queued} --resign --secret-env VAR$",
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
        with listening(db, *FAST, "-f", str(port), "--timeout", "0.3s") as listener:
            webhook_id = await post(listener.url, b"{}")
            [attempt] = await events(listener, "attempt")
    assert (attempt["webhook_id"], attempt["error"]) == (webhook_id, "timeout")
    shown = run_whrelay("show", str(webhook_id), "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.decode().splitlines()
    [line] = [line for line in lines if "timeout" in line and "attempt(s)" not in line]
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
    with https_target(tmp_path) as target, listening(db, *FAST, "-f", target.url) as listener:
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
        with listening(db, *FAST, *args) as listener:
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
        listening(
            db, *FAST, "-f", f"{trusted_blindly.url},insecure", "-f", verified.url
        ) as listener,
    ):
        webhook_id = await post(listener.url, b"{}")
        await asyncio.to_thread(trusted_blindly.wait_for, 1)
        seen = await events(listener, "attempt", 2)
        assert verified.requests == []
    by_url = {str(e["url"]).removesuffix("/hook"): e for e in seen if e["webhook_id"] == webhook_id}
    assert by_url[trusted_blindly.url]["status"] == 200
    assert by_url[verified.url]["error"] == "tls"


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
