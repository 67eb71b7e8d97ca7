"""The receiver over real loopback sockets: what it stores, what it refuses, how it stops.

Most tests drive a real ``whrelay listen`` subprocess (the ``listener`` fixture or
``start_listener``); the 503 test runs the receiver in-process so that it can make the very
connection the writer uses run out of pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import (
    ROOT,
    Flood,
    Listener,
    RawResponse,
    assert_stored_exactly,
    flood_request,
    raw_request,
    read_response,
    request_bytes,
    start_listener,
    stored_count,
    stored_webhook,
    url_port,
    whrelay_cmd,
)
from whrelay import __version__
from whrelay.core.config import ListenSettings
from whrelay.core.events import ListenEvent, RequestRefused, WebhookReceived
from whrelay.receiver.app import make_receiver
from whrelay.storage import Store

MiB = 1 << 20


def refused(listener: Listener, count: int = 1) -> list[dict[str, object]]:
    """The listener's "refused" events, once at least ``count`` have been printed."""
    return listener.wait_for_events("refused", count)


async def close_connection(writer: asyncio.StreamWriter) -> None:
    """Close our end and wait until the socket is really closed (not merely scheduled to)."""
    writer.close()
    try:
        async with asyncio.timeout(10):
            await writer.wait_closed()
    except OSError:
        pass
    except TimeoutError:
        writer.transport.abort()


async def wait_for_server_close(reader: asyncio.StreamReader, within: float) -> None:
    """Read (and drop) until the server closes the connection; fail after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            try:
                data = await reader.read(65536)
            except ConnectionResetError:
                return
            if not data:
                return


# --- load and exactness ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_thousand_concurrent_posts_are_all_stored_byte_exact(listener: Listener) -> None:
    """1,000 POSTs at once, on 1,000 connections: each 200, each stored exactly under its id."""
    total = 1000
    sent = [flood_request(seq) for seq in range(total)]
    assert len({request.body for request in sent}) == total
    go = asyncio.Event()

    async def post(session: aiohttp.ClientSession, index: int) -> tuple[int, int, int]:
        request = sent[index]
        await go.wait()
        async with session.post(
            listener.url.rstrip("/") + request.path,
            data=request.body,
            headers=dict(request.headers),
        ) as response:
            payload = json.loads(await response.read())
            return response.status, int(response.headers["X-Whrelay-Id"]), int(payload["id"])

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(post(session, i)) for i in range(total)]
        await asyncio.sleep(0)
        go.set()
        results = await asyncio.gather(*tasks)

    assert [status for status, _, _ in results] == [200] * total
    assert all(header_id == body_id for _, header_id, body_id in results)
    ids = [header_id for _, header_id, _ in results]
    assert len(set(ids)) == total
    assert stored_count(listener.db) == total
    assert_stored_exactly(listener.db, dict(zip(ids, sent, strict=True)))
    assert any(len(request.body) > 1000 for request in sent)


async def test_duplicate_headers_keep_their_order_and_case(listener: Listener) -> None:
    headers = [
        ("Host", "127.0.0.1"),
        ("X-Dup", "1"),
        ("Content-Type", "text/plain"),
        ("x-dup", "2"),
        ("X-DUP", "3"),
        ("Content-Length", "2"),
    ]
    response = await raw_request(listener.url, request_bytes("POST", "/dup", headers, b"ok"))
    assert response.status == 200
    webhook = stored_webhook(listener.db, int(response.header("X-Whrelay-Id") or 0))
    assert webhook.headers == tuple((k.encode(), v.encode()) for k, v in headers)
    assert webhook.body == b"ok"


async def test_non_utf8_body_and_header_bytes_are_kept(listener: Listener) -> None:
    body = b"\xff\xfe\x00\x80\xc3\x28" + bytes(range(256))
    head = (
        b"POST /bin HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Latin-1: caf\xe9\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    response = await raw_request(listener.url, head + body)
    assert response.status == 200
    webhook = stored_webhook(listener.db, int(response.header("X-Whrelay-Id") or 0))
    assert webhook.body == body
    assert webhook.summary.size == len(body)
    assert (b"X-Latin-1", b"caf\xe9") in webhook.headers


async def test_empty_body_and_no_body_are_told_apart(listener: Listener) -> None:
    empty = await raw_request(
        listener.url,
        request_bytes("POST", "/empty", [("Host", "h"), ("Content-Length", "0")]),
    )
    chunked_empty = await raw_request(
        listener.url,
        request_bytes("POST", "/chunked", [("Host", "h"), ("Transfer-Encoding", "chunked")])
        + b"0\r\n\r\n",
    )
    none = await raw_request(listener.url, request_bytes("GET", "/none", [("Host", "h")]))
    assert (empty.status, chunked_empty.status, none.status) == (200, 200, 200)

    def body_of(response: RawResponse) -> bytes | None:
        return stored_webhook(listener.db, int(response.header("X-Whrelay-Id") or 0)).body

    assert body_of(empty) == b""
    assert body_of(chunked_empty) == b""
    assert body_of(none) is None


async def test_raw_path_and_query_are_kept_as_sent(listener: Listener) -> None:
    cases = [
        ("/hooks/a%20b/%2F%41/caf%C3%A9", "a=1&b=%20&c"),
        ("/a//b/./c/../d", "x=%2B+y&x=2&&=;"),
        ("/plain", ""),
    ]
    for path, query in cases:
        target = f"{path}?{query}" if query else path
        response = await raw_request(
            listener.url, request_bytes("GET", target, [("Host", "127.0.0.1")])
        )
        assert response.status == 200, target
        webhook = stored_webhook(listener.db, int(response.header("X-Whrelay-Id") or 0))
        assert (webhook.summary.path, webhook.summary.query) == (path, query)
        assert webhook.summary.target == target


async def test_http_version_is_recorded(listener: Listener) -> None:
    for version in ("1.0", "1.1"):
        request = request_bytes(
            "POST", "/v", [("Host", "h"), ("Content-Length", "3")], b"abc", version=version
        )
        response = await raw_request(listener.url, request)
        assert response.status == 200
        webhook = stored_webhook(listener.db, int(response.header("X-Whrelay-Id") or 0))
        assert webhook.http_version == version
        assert webhook.remote_addr == "127.0.0.1"


async def test_gzip_body_is_stored_compressed_as_received(listener: Listener) -> None:
    plain = json.dumps({"action": "opened", "padding": "x" * 5000}).encode()
    compressed = gzip.compress(plain, mtime=0)
    headers = [
        ("Host", "h"),
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", str(len(compressed))),
    ]
    response = await raw_request(listener.url, request_bytes("POST", "/gz", headers, compressed))
    assert response.status == 200
    webhook = stored_webhook(listener.db, int(response.header("X-Whrelay-Id") or 0))
    assert webhook.body == compressed
    assert webhook.summary.size == len(compressed)
    assert gzip.decompress(webhook.body) == plain


# --- provider detection ---------------------------------------------------------------------------

PROVIDER_CASES: list[tuple[dict[str, str], dict[str, object], tuple[str | None, ...]]] = [
    (
        {
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-GitHub-Hook-ID": "292430182",
            "X-Hub-Signature-256": "sha256=" + "0" * 64,
            "User-Agent": "GitHub-Hookshot/044aadd",
        },
        {"action": "opened", "number": 1},
        ("github", "pull_request.opened", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ),
    (
        {"Stripe-Signature": "t=1700000000,v1=" + "a" * 64},
        {
            "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
            "object": "event",
            "type": "payment_intent.succeeded",
        },
        ("stripe", "payment_intent.succeeded", "evt_1NG8Du2eZvKYlo2CUI79vXWy"),
    ),
    (
        {
            "svix-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            "svix-timestamp": "1700000000",
            "svix-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        },
        {"type": "invoice.paid", "data": {}},
        ("svix", "invoice.paid", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
    ),
    (
        {
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1700000000",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        },
        {"type": "contact.created", "data": {"id": 1}},
        ("standard-webhooks", "contact.created", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
    ),
    ({}, {"hello": "world"}, (None, None, None)),
]


async def test_providers_are_detected_end_to_end(listener: Listener) -> None:
    async with aiohttp.ClientSession() as session:
        for headers, doc, expected in PROVIDER_CASES:
            async with session.post(listener.url + "hooks", json=doc, headers=headers) as response:
                assert response.status == 200
                webhook_id = int(response.headers["X-Whrelay-Id"])
            summary = stored_webhook(listener.db, webhook_id).summary
            assert (summary.provider, summary.event_type, summary.provider_id) == expected
    events = listener.wait_for_events("webhook", len(PROVIDER_CASES))
    shown = [(e["provider"], e["event_type"], e["provider_id"]) for e in events]
    assert shown == [expected for _, _, expected in PROVIDER_CASES]


# --- oversized bodies -----------------------------------------------------------------------------


@pytest.fixture
def small_listener(tmp_path: Path) -> Iterator[Listener]:
    """A listener that takes bodies up to 64 KiB."""
    running = start_listener(tmp_path / "hooks.db", "--max-body", "64k")
    yield running
    running.stop()


async def test_oversized_body_with_content_length_gets_413(small_listener: Listener) -> None:
    body = random.Random(1).randbytes(3 * MiB)
    async with aiohttp.ClientSession() as session:
        async with session.post(small_listener.url + "big", data=body) as response:
            assert response.status == 413
            assert b"larger than the 64 KiB limit" in await response.read()
        async with session.post(small_listener.url + "small", data=b"x" * 65536) as response:
            assert response.status == 200
    assert stored_count(small_listener.db) == 1
    assert stored_webhook(small_listener.db, 1).summary.path == "/small"
    assert [(e["status"], e["path"]) for e in refused(small_listener)] == [(413, "/big")]


async def test_oversized_chunked_body_gets_413(small_listener: Listener) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(48):
            yield b"\x00\xff" * 32768

    async with aiohttp.ClientSession() as session:
        async with session.post(small_listener.url + "big", data=chunks()) as response:
            assert response.status == 413
            await response.read()
        assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    # The client may have stopped mid-body; let its socket really close (one loop turn) so
    # the listener is not left lingering on a half-sent body when the fixture stops it.
    await asyncio.sleep(0.05)
    assert stored_count(small_listener.db) == 0
    assert [(e["status"], e["path"]) for e in refused(small_listener)] == [(413, "/big")]


async def test_expect_100_continue_gets_the_go_ahead_before_the_body(
    small_listener: Listener,
) -> None:
    """curl and other clients send ``Expect: 100-continue`` for large bodies and wait for
    ``100 Continue`` before sending the body: they must get it at once, then a 200."""
    body = b'{"type":"big.upload"}'
    head = request_bytes(
        "POST",
        "/expect",
        [
            ("Host", "127.0.0.1"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Expect", "100-continue"),
        ],
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(small_listener.url))
    try:
        writer.write(head)
        await writer.drain()
        interim = await read_response(reader, timeout=0.9)  # under curl's 1 s fallback
        assert interim.status == 100
        writer.write(body)
        await writer.drain()
        final = await read_response(reader)
        assert final.status == 200
    finally:
        writer.close()
    webhook = stored_webhook(small_listener.db, int(final.header("X-Whrelay-Id") or b"0"))
    assert webhook.body == body
    assert webhook.summary.event_type == "big.upload"


async def test_expect_100_continue_with_a_body_too_large_gets_413_without_the_go_ahead(
    small_listener: Listener,
) -> None:
    """The point of ``Expect``: a body that would be refused is refused before it is sent."""
    head = request_bytes(
        "POST",
        "/expect-big",
        [("Host", "127.0.0.1"), ("Content-Length", str(3 * MiB)), ("Expect", "100-continue")],
    )
    response = await raw_request(small_listener.url, head)  # no body follows
    assert response.status == 413
    assert stored_count(small_listener.db) == 0
    assert [(e["status"], e["path"]) for e in refused(small_listener)] == [(413, "/expect-big")]


async def test_an_unknown_expectation_gets_417(small_listener: Listener) -> None:
    head = request_bytes(
        "POST",
        "/expect-odd",
        [("Host", "127.0.0.1"), ("Content-Length", "2"), ("Expect", "something-else")],
    )
    response = await raw_request(small_listener.url, head + b"{}")
    assert response.status == 417
    assert b"something-else" in response.body
    assert stored_count(small_listener.db) == 0


async def test_an_empty_expect_header_is_no_expectation(small_listener: Listener) -> None:
    head = request_bytes(
        "POST", "/expect-empty", [("Host", "127.0.0.1"), ("Content-Length", "2"), ("Expect", "")]
    )
    response = await raw_request(small_listener.url, head + b"{}")
    assert response.status == 200
    assert stored_webhook(small_listener.db, 1).body == b"{}"


async def test_expect_is_ignored_in_http_1_0(small_listener: Listener) -> None:
    """HTTP/1.0 has no 100 (Continue): the body follows at once and is stored."""
    head = request_bytes(
        "POST",
        "/expect-10",
        [("Host", "127.0.0.1"), ("Content-Length", "2"), ("Expect", "100-continue")],
        version="1.0",
    )
    response = await raw_request(small_listener.url, head + b"{}")
    assert response.status == 200
    assert stored_webhook(small_listener.db, 1).summary.path == "/expect-10"


@pytest.mark.parametrize(("method", "target"), [("OPTIONS", "*"), ("CONNECT", "example.com:443")])
async def test_a_request_target_that_is_not_a_path_is_refused(
    small_listener: Listener, method: str, target: str
) -> None:
    """Nothing is sent to ``*`` or to an authority: 400, not stored (and no 2xx that would
    tell a proxy client its tunnel is open)."""
    head = request_bytes(method, target, [("Host", "example.com:443"), ("Content-Length", "0")])
    response = await raw_request(small_listener.url, head)
    assert response.status == 400
    assert stored_count(small_listener.db) == 0
    assert [e["status"] for e in refused(small_listener)] == [400]


async def test_an_absolute_form_target_is_stored_by_its_path(small_listener: Listener) -> None:
    """``POST http://host/p?q HTTP/1.1`` (RFC 9112 3.2.2): path and query as sent, host aside."""
    head = request_bytes(
        "POST",
        "http://elsewhere.example/hooks/a%20b?x=1&y",
        [("Host", "elsewhere.example"), ("Content-Length", "2")],
    )
    response = await raw_request(small_listener.url, head + b"{}")
    assert response.status == 200
    summary = stored_webhook(small_listener.db, 1).summary
    assert (summary.path, summary.query) == ("/hooks/a%20b", "x=1&y")


async def test_a_reserved_path_with_a_body_it_does_not_read_closes_the_connection(
    small_listener: Listener,
) -> None:
    """The answer comes at once, without a go-ahead for a body nobody reads, and says the
    connection ends: the client need not send the body (RFC 9110 10.1.1)."""
    head = request_bytes(
        "POST",
        "/_whrelay/health",
        [("Host", "127.0.0.1"), ("Content-Length", "5"), ("Expect", "100-continue")],
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(small_listener.url))
    try:
        writer.write(head)
        await writer.drain()
        response = await read_response(reader, timeout=0.9)
        assert response.status == 404
        assert response.header("Connection") == b"close"
    finally:
        writer.close()
    assert stored_count(small_listener.db) == 0


async def test_413_with_connection_close_closes_the_connection(small_listener: Listener) -> None:
    """A response that says ``Connection: close`` must end the connection (RFC 9112 9.6).

    The oversized request is followed on the same connection by a pipelined small one; the
    server announced it would close, so it must neither answer nor store that second request.
    """
    big = b"y" * (100 * 1024)
    first = request_bytes("POST", "/big", [("Host", "h"), ("Content-Length", str(len(big)))], big)
    second = request_bytes("POST", "/after", [("Host", "h"), ("Content-Length", "2")], b"ok")
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(small_listener.url))
    try:
        writer.write(first + second)
        await writer.drain()
        response = await read_response(reader)
        assert response.status == 413
        assert response.header("Connection") == b"close"
        rest = b""
        closed = False
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            async with asyncio.timeout(5):
                while chunk := await reader.read(65536):
                    rest += chunk
                closed = True
    finally:
        await close_connection(writer)
    assert rest == b"", f"answered a request after Connection: close: {rest[:60]!r}"
    assert closed, "the connection stayed open after Connection: close"
    assert stored_count(small_listener.db) == 0


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of process ``pid``, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    values: dict[str, int] = {}
    for key in ("VmRSS", "VmHWM"):
        match = re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None, status
        values[key] = int(match.group(1))
    return values


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
async def test_rejected_200_mib_stream_does_not_grow_memory(tmp_path: Path) -> None:
    """A 200 MiB chunked body against --max-body 1MiB: 413, and RSS grows far less than that."""
    running = start_listener(tmp_path / "hooks.db", "--max-body", "1MiB")
    try:
        warm = await raw_request(
            running.url, request_bytes("POST", "/warm", [("Host", "h"), ("Content-Length", "0")])
        )
        assert warm.status == 200
        before = memory_kib(running.proc.pid)

        reader, writer = await asyncio.open_connection("127.0.0.1", url_port(running.url))
        writer.write(
            request_bytes("POST", "/huge", [("Host", "h"), ("Transfer-Encoding", "chunked")])
        )
        frame = b"%x\r\n" % MiB + b"\xab" * MiB + b"\r\n"
        sent_mib = 0

        async def feed() -> None:
            nonlocal sent_mib
            for _ in range(200):
                writer.write(frame)
                await writer.drain()
                sent_mib += 1
            writer.write(b"0\r\n\r\n")
            await writer.drain()

        feeder = asyncio.create_task(feed())
        try:
            response = await read_response(reader, timeout=30)
            with contextlib.suppress(ConnectionError):
                async with asyncio.timeout(60):
                    await feeder
        finally:
            feeder.cancel()
            await close_connection(writer)
        after = memory_kib(running.proc.pid)
        assert response.status == 413
        growth_mib = (after["VmHWM"] - before["VmRSS"]) / 1024
        assert growth_mib < 64, f"peak RSS grew {growth_mib:.0f} MiB after {sent_mib} MiB sent"
        assert running.proc.poll() is None
        assert stored_count(running.db) == 1
    finally:
        running.stop()


# --- the in-flight body budget ------------------------------------------------------------------


async def start_body(url: str, path: str, size: int, sent: int) -> asyncio.StreamWriter:
    """A POST of ``size`` body bytes (Content-Length) of which only ``sent`` go out now. It
    asks for ``100 Continue``, which comes once its room in the budget is taken."""
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(url))
    head = [("Host", "h"), ("Content-Length", str(size)), ("Expect", "100-continue")]
    writer.write(request_bytes("POST", path, head))
    await writer.drain()
    async with asyncio.timeout(10):
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"a" * sent)
    await writer.drain()
    return writer


@pytest.mark.slow
async def test_a_body_over_the_budget_waits_for_room_then_is_stored(tmp_path: Path) -> None:
    """--body-budget 1MiB: while one 800 KiB body is being sent, a second one is not read; it
    goes through as soon as the first is stored."""
    running = start_listener(tmp_path / "hooks.db", "--max-body", "1MiB", "--body-budget", "1MiB")
    try:
        first = await start_body(running.url, "/first", 800 * 1024, 1024)
        second = asyncio.ensure_future(
            raw_request(running.url, request_bytes(
                "POST", "/second", [("Host", "h"), ("Content-Length", str(800 * 1024))],
                b"b" * 800 * 1024,
            ))
        )  # fmt: skip
        await asyncio.sleep(0.5)  # well inside the 5 s it may wait
        assert not second.done()
        first.write(b"a" * (800 * 1024 - 1024))
        await first.drain()
        assert (await second).status == 200
        await close_connection(first)
        await asyncio.to_thread(lambda: running.wait_for_events("webhook", 2))
    finally:
        running.stop()
    assert {e["path"] for e in running.events if e.get("event") == "webhook"} == {
        "/first",
        "/second",
    }


@pytest.mark.slow
async def test_a_body_that_finds_no_room_gets_503_with_retry_after(tmp_path: Path) -> None:
    running = start_listener(tmp_path / "hooks.db", "--max-body", "1MiB", "--body-budget", "1MiB")
    try:
        held = await start_body(running.url, "/held", 1024 * 1024, 1024)
        response = await raw_request(
            running.url,
            request_bytes(
                "POST", "/late", [("Host", "h"), ("Content-Length", str(512 * 1024))],
                b"c" * 512 * 1024,
            ),
            timeout=30,
        )  # fmt: skip
        await close_connection(held)
        [event] = refused(running)
    finally:
        running.stop()
    assert response.status == 503
    assert response.header("Retry-After") == b"5"
    assert b"--body-budget" in response.body
    assert event["path"] == "/late"
    assert stored_count(running.db) == 0


def test_a_body_budget_below_max_body_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        whrelay_cmd("listen", "--body-budget", "1KiB", "--db", str(tmp_path / "x.db")),
        capture_output=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(b"whrelay: error: --body-budget must be at least --max-body")


# --- malformed requests ---------------------------------------------------------------------------

MALFORMED = {
    "duplicate content-length": request_bytes(
        "POST", "/m", [("Host", "h"), ("Content-Length", "3"), ("Content-Length", "4")], b"abcd"
    ),
    "content-length and chunked": request_bytes(
        "POST",
        "/m",
        [("Host", "h"), ("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
        b"3\r\nabc\r\n0\r\n\r\n",
    ),
    "10 KB header line": request_bytes(
        "POST", "/m", [("Host", "h"), ("X-Big", "a" * 10240), ("Content-Length", "0")]
    ),
    "200 headers": request_bytes(
        "POST",
        "/m",
        [("Host", "h"), *((f"X-H{i}", "v") for i in range(200)), ("Content-Length", "0")],
    ),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_request_gets_400_and_is_not_stored(listener: Listener, raw: bytes) -> None:
    response = await raw_request(listener.url, raw)
    assert response.status == 400
    ok = await raw_request(
        listener.url, request_bytes("POST", "/ok", [("Host", "h"), ("Content-Length", "0")])
    )
    assert ok.status == 200
    assert stored_count(listener.db) == 1
    assert stored_webhook(listener.db, 1).summary.path == "/ok"


# --- the reserved prefix, and any method on any path ----------------------------------------------


async def test_health_reports_only_status_and_version(tmp_path: Path) -> None:
    """Whoever can reach the port may ask: no database path, no targets, no counts. The
    ``ready`` event tells the user where the database is."""
    target = tmp_path / "secret-place" / "hooks.db"
    target.parent.mkdir()
    listener = start_listener(target, "-f", "9", "--mode", "store")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(listener.url + "one", data=b"1") as response:
                assert response.status == 200
            async with session.get(listener.url + "_whrelay/health") as response:
                assert response.status == 200
                assert response.content_type == "application/json"
                health = await response.json()
    finally:
        listener.stop()
    assert health == {"status": "ok", "version": __version__}
    assert listener.events[0]["db"] == str(target)
    assert stored_count(target) == 1


async def test_other_reserved_paths_are_404_and_not_stored(listener: Listener) -> None:
    async with aiohttp.ClientSession() as session:
        for method, path in [
            ("GET", "/_whrelay/"),
            ("GET", "/_whrelay/nope"),
            ("POST", "/_whrelay/health"),
            ("GET", "/_whrelay/health/more"),
            ("PUT", "/_whrelay/anything?x=1"),
        ]:
            async with session.request(method, listener.url.rstrip("/") + path) as response:
                assert response.status == 404, (method, path)
    assert stored_count(listener.db) == 0


async def test_any_method_on_any_path_is_stored(listener: Listener) -> None:
    calls = [
        ("PUT", "/a"),
        ("PATCH", "/a/b/c"),
        ("DELETE", "/"),
        ("GET", "/deep/er/path.json"),
        ("OPTIONS", "/opt"),
        ("HEAD", "/head"),
        ("PURGE", "/cache/key"),
        ("POST", "/_whrelayish/health"),
    ]
    stored: list[tuple[str, str]] = []
    async with aiohttp.ClientSession() as session:
        for method, path in calls:
            async with session.request(
                method, listener.url.rstrip("/") + path, data=b"x" if method != "HEAD" else None
            ) as response:
                assert response.status == 200, (method, path)
                webhook = stored_webhook(listener.db, int(response.headers["X-Whrelay-Id"]))
                stored.append((webhook.summary.method, webhook.summary.path))
    assert stored == calls


# --- slow clients ---------------------------------------------------------------------------------


@pytest.fixture
def slow_listener(tmp_path: Path) -> Iterator[Listener]:
    """A listener that gives idle connections and request bodies one second."""
    running = start_listener(tmp_path / "hooks.db", "--idle-timeout", "1s", "--read-timeout", "1s")
    yield running
    running.stop()


async def test_idle_keepalive_connection_is_closed(slow_listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(slow_listener.url))
    try:
        writer.write(request_bytes("POST", "/k", [("Host", "h"), ("Content-Length", "2")], b"ok"))
        await writer.drain()
        response = await read_response(reader)
        assert response.status == 200
        assert response.header("Connection") != b"close"
        await wait_for_server_close(reader, within=10)
    finally:
        await close_connection(writer)


async def test_silent_connection_is_closed(slow_listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(slow_listener.url))
    try:
        await wait_for_server_close(reader, within=10)
    finally:
        await close_connection(writer)
    assert stored_count(slow_listener.db) == 0


async def test_trickled_headers_connection_is_closed(slow_listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(slow_listener.url))

    async def trickle() -> None:
        writer.write(b"POST /slow HTTP/1.1\r\nHost: h\r\n")
        for i in range(100):
            writer.write(b"X-Slow-%d: v\r\n" % i)
            await writer.drain()
            await asyncio.sleep(0.2)

    trickler = asyncio.create_task(trickle())
    try:
        await wait_for_server_close(reader, within=10)
    finally:
        trickler.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await trickler
        await close_connection(writer)
    assert stored_count(slow_listener.db) == 0


async def test_trickled_body_gets_408_and_is_not_stored(slow_listener: Listener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(slow_listener.url))

    async def trickle() -> None:
        writer.write(request_bytes("POST", "/slow", [("Host", "h"), ("Content-Length", "100")]))
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)

    trickler = asyncio.create_task(trickle())
    try:
        response = await read_response(reader, timeout=10)
    finally:
        trickler.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await trickler
        await close_connection(writer)
    assert response.status == 408
    assert stored_count(slow_listener.db) == 0
    assert [(e["status"], e["path"]) for e in refused(slow_listener)] == [(408, "/slow")]


# --- the database cannot be written ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def in_process_receiver(
    settings: ListenSettings, store: Store, events: list[ListenEvent]
) -> AsyncIterator[str]:
    """A receiver served on 127.0.0.1, a free port, as ``serve`` runs it; yields its URL."""
    receiver = make_receiver(settings, store, events.append)
    async with receiver.running():
        http = receiver.http_server()
        try:
            await http.start("127.0.0.1", 0)
            yield f"http://127.0.0.1:{http.port}/"
        finally:
            await http.stop(settings.shutdown_timeout)


async def post_many(url: str, bodies: list[bytes]) -> list[tuple[int, int | None]]:
    """POST every body at once; (status, X-Whrelay-Id) for each, in order."""
    async with aiohttp.ClientSession() as session:

        async def one(body: bytes) -> tuple[int, int | None]:
            async with session.post(url + "hook", data=body) as response:
                await response.read()
                webhook_id = response.headers.get("X-Whrelay-Id")
                if response.status == 503:
                    assert response.headers.get("Retry-After")
                return response.status, None if webhook_id is None else int(webhook_id)

        return await asyncio.gather(*(one(body) for body in bodies))


async def test_full_database_gets_503_then_recovers(tmp_path: Path) -> None:
    """SQLITE_FULL (max_page_count reached): 503, never 2xx; once there is room, 200 again."""
    db = tmp_path / "hooks.db"
    store = Store(db)
    events: list[ListenEvent] = []
    bodies = [b"%d:" % i + random.Random(i).randbytes(16 * 1024) for i in range(45)]
    try:
        async with in_process_receiver(ListenSettings(db_path=db, port=0), store, events) as url:
            before = await post_many(url, bodies[:5])
            assert [status for status, _ in before] == [200] * 5

            pages = store.db.execute("PRAGMA page_count").fetchone()[0]
            store.db.execute(f"PRAGMA max_page_count = {pages}")
            failed = await post_many(url, bodies[5:25])
            assert [status for status, _ in failed] == [503] * 20
            assert all(webhook_id is None for _, webhook_id in failed)

            store.db.execute("PRAGMA max_page_count = 1073741823")
            after = await post_many(url, bodies[25:])
            assert [status for status, _ in after] == [200] * 20
    finally:
        store.close()

    acked = {
        webhook_id: body
        for (_, webhook_id), body in zip(before + after, bodies[:5] + bodies[25:], strict=True)
        if webhook_id is not None
    }
    assert stored_count(db) == 25
    for webhook_id, body in acked.items():
        assert stored_webhook(db, webhook_id).body == body
    statuses = [e.status for e in events if isinstance(e, RequestRefused)]
    assert statuses == [503] * 20
    assert sum(isinstance(e, WebhookReceived) for e in events) == 25


def can_mount_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


@pytest.mark.slow
async def test_full_disk_gets_503_and_the_listener_recovers(tmp_path: Path) -> None:
    """A real full file system (a 2 MiB tmpfs): 503s, the process lives, then it stores again."""
    mount = tmp_path / "small"
    if not can_mount_tmpfs(mount):
        pytest.skip("needs root and a working 'mount -t tmpfs'")
    try:
        running = start_listener(mount / "hooks.db")
        try:
            acked: dict[int, bytes] = {}

            async def post_each(bodies: list[bytes]) -> list[int]:
                statuses = []
                for body in bodies:
                    [(status, webhook_id)] = await post_many(running.url, [body])
                    statuses.append(status)
                    if status == 200:
                        assert webhook_id is not None
                        acked[webhook_id] = body
                return statuses

            assert await post_each([b"first"]) == [200]

            filler = mount / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as out:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
                    os.fsync(out.fileno())

            full = [b"%d:" % i + random.Random(i).randbytes(64 * 1024) for i in range(10)]
            statuses = await post_each(full)
            assert set(statuses) <= {200, 503}
            assert 503 in statuses
            assert running.proc.poll() is None

            filler.unlink()
            assert await post_each([b"later %d" % i for i in range(5)]) == [200] * 5
            for webhook_id, body in acked.items():
                assert stored_webhook(running.db, webhook_id).body == body
            assert any(e["status"] == 503 for e in refused(running))
        finally:
            code = running.stop()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert code == 130


# --- stopping -------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_sigint_exits_130_and_keeps_everything_acknowledged(tmp_path: Path) -> None:
    running = start_listener(tmp_path / "hooks.db")
    flood = Flood(running.url, clients=16)
    flooding = asyncio.create_task(flood.run())
    try:
        await flood.wait_acked(200)
        running.proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(running.proc.wait, 30)
    finally:
        flood.stop()
        await flooding
        running.stop()
    assert code == 130
    assert running.events[-1]["event"] == "stopped"
    assert running.events[-1]["signal"] == "SIGINT"
    stopped_stored = running.events[-1]["stored"]
    assert isinstance(stopped_stored, int)
    assert stopped_stored >= len(flood.acked)
    assert not any("Traceback" in line for line in running.stderr_lines), running.stderr_lines
    assert_stored_exactly(running.db, flood.acked)
    assert set(flood.statuses) == {200}


async def test_sigterm_exits_0(listener: Listener) -> None:
    response = await raw_request(
        listener.url, request_bytes("POST", "/t", [("Host", "h"), ("Content-Length", "1")], b"t")
    )
    assert response.status == 200
    assert listener.stop(signal.SIGTERM) == 0
    assert listener.events[-1] == {"event": "stopped", "stored": 1, "signal": "SIGTERM"}
    assert not any("Traceback" in line for line in listener.stderr_lines)
    assert stored_webhook(listener.db, 1).body == b"t"


async def test_json_output_is_ndjson_only(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    proc = subprocess.Popen(
        whrelay_cmd(
            "listen", "--port", "0", "--output", "json", "--max-body", "1k", "--db", str(db)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        url = str(ready["url"])
        async with aiohttp.ClientSession() as session:
            for data in (b"one", "tw\u00f6\n\x1b[31m".encode(), b"x" * 4096, b"\xff"):
                async with session.post(url + "p?q=1", data=data) as response:
                    await response.read()
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, None, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    text = out.decode()
    assert text.endswith("\n")
    lines = text.removesuffix("\n").split("\n")
    events = [ready, *(json.loads(line) for line in lines)]
    assert all(isinstance(event, dict) for event in events)
    assert set(ready) == {"event", "url", "db", "config", "version", "resumed"}
    assert (ready["event"], ready["resumed"]) == ("ready", 0)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    assert ready["db"] == str(db)
    assert ready["version"] == __version__
    assert [event["event"] for event in events] == [
        "ready",
        "webhook",
        "webhook",
        "refused",
        "webhook",
        "stopped",
    ]
    assert [event["id"] for event in events if event["event"] == "webhook"] == [1, 2, 3]
    assert events[3]["status"] == 413
    assert events[-1] == {"event": "stopped", "stored": 3, "signal": "SIGINT"}
    assert b"Traceback" not in err
