"""``whrelay listen``'s HTTP/1.x edges over raw sockets: pipelining, keep-alive, malformed
requests, limits, half-closed connections, running out of file descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.helpers.captures import stored_count, stored_webhook
from tests.helpers.processes import Listener, start_listener
from tests.helpers.rawhttp import RawResponse, raw_request, read_response, request_bytes, url_port
from whrelay.receiver.http import ACCEPT_RETRY

HOST = ("Host", "127.0.0.1")

SMALL_MAX_BODY = 1024

# --- the shared listeners -------------------------------------------------------------------------


def _shared_listener(factory: pytest.TempPathFactory, name: str, *extra: str) -> Iterator[Listener]:
    base = factory.mktemp(name)
    # The autouse ``isolated_env`` fixture is per test; this listener outlives the tests, so it
    # gets the same isolation here.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WHRELAY_DATA_DIR", str(base / "data"))
        env.delenv("WHRELAY_DB", raising=False)
        env.delenv("WHRELAY_DEBUG", raising=False)
        env.setenv("NO_COLOR", "1")
        running = start_listener(base / "hooks.db", *extra)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    """One ``whrelay listen`` (default settings) for the whole module."""
    yield from _shared_listener(tmp_path_factory, "edge")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    """One ``whrelay listen --max-body 1k`` for the whole module."""
    yield from _shared_listener(tmp_path_factory, "edge-small", "--max-body", "1k")


# --- raw HTTP helpers -----------------------------------------------------------------------------


def post(path: str, body: bytes = b"", *extra: tuple[str, str], version: str = "1.1") -> bytes:
    """``POST path`` with Host, any ``extra`` headers, and a Content-Length body."""
    headers = [HOST, *extra, ("Content-Length", str(len(body)))]
    return request_bytes("POST", path, headers, body, version)


def chunked(chunks: list[bytes]) -> bytes:
    """``chunks`` in chunked transfer coding, with the last chunk and no trailer."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


@contextlib.asynccontextmanager
async def connection(
    listener: Listener,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A fresh loopback connection to ``listener``, really closed on exit."""
    reader, writer = await asyncio.open_connection("127.0.0.1", url_port(listener.url))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(5):
                await writer.wait_closed()


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def read_to_close(reader: asyncio.StreamReader, within: float = 5) -> bytes:
    """Every byte the server sends until it closes; fails if it has not closed in ``within`` s.

    A reset counts as closed (what was read before it is returned).
    """
    data = b""
    try:
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(
            f"the server kept the connection open {within} s; it sent {data[:100]!r}"
        ) from None
    return data


async def assert_closes_silently(reader: asyncio.StreamReader, within: float = 5) -> None:
    """The server closes the connection without sending another byte (a reset counts)."""
    try:
        async with asyncio.timeout(within):
            data = await reader.read(65536)
    except ConnectionResetError:
        return
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open {within} s") from None
    assert data == b"", f"the server went on answering: {data[:100]!r}"


def parse_head(head: bytes) -> RawResponse:
    """A response's status line and headers (``head`` ends with the blank line)."""
    lines = head.removesuffix(b"\r\n\r\n").split(b"\r\n")
    version, status, *_ = lines[0].split(b" ", 2)
    headers = [
        (name.strip(), value.strip())
        for name, _, value in (line.partition(b":") for line in lines[1:])
    ]
    return RawResponse(version, int(status), headers, b"")


async def read_head(reader: asyncio.StreamReader, timeout: float = 10) -> RawResponse:
    """Read a response's status line and headers only, none of what follows them."""
    async with asyncio.timeout(timeout):
        return parse_head(await reader.readuntil(b"\r\n\r\n"))


def acked_id(response: RawResponse) -> int:
    """The id of a stored webhook's 200 acknowledgement, checking header and body agree."""
    assert response.status == 200, (response.status, response.body)
    header = response.header("X-Whrelay-Id")
    assert header is not None, response.headers
    webhook_id = int(header)
    assert json.loads(response.body) == {"stored": True, "id": webhook_id}
    return webhook_id


async def assert_nothing_stored(listener: Listener, before: int) -> None:
    """Nothing was stored since ``before`` was counted, and the listener still stores: a
    marker request sent now is the one new row."""
    marker = await raw_request(listener.url, post("/marker", b"m"))
    marker_id = acked_id(marker)
    assert stored_count(listener.db) == before + 1
    assert stored_webhook(listener.db, marker_id).summary.path == "/marker"


# --- 4. malformed and smuggling input -------------------------------------------------------------

MALFORMED: dict[str, bytes] = {
    "content-length then chunked": request_bytes(
        "POST",
        "/m",
        [HOST, ("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
        b"3\r\nabc\r\n0\r\n\r\n",
    ),
    "chunked then content-length": request_bytes(
        "POST",
        "/m",
        [HOST, ("Transfer-Encoding", "chunked"), ("Content-Length", "3")],
        b"3\r\nabc\r\n0\r\n\r\n",
    ),
    "two equal content-lengths": request_bytes(
        "POST", "/m", [HOST, ("Content-Length", "3"), ("Content-Length", "3")], b"abc"
    ),
    "two different content-lengths": request_bytes(
        "POST", "/m", [HOST, ("Content-Length", "3"), ("Content-Length", "4")], b"abcd"
    ),
    "negative content-length": request_bytes("POST", "/m", [HOST, ("Content-Length", "-1")]),
    "chunk size zz": request_bytes(
        "POST", "/m", [HOST, ("Transfer-Encoding", "chunked")], b"zz\r\nabc\r\n0\r\n\r\n"
    ),
    "chunk size overflow": request_bytes(
        "POST",
        "/m",
        [HOST, ("Transfer-Encoding", "chunked")],
        b"fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    ),
    "chunked not the last coding": request_bytes(
        "POST",
        "/m",
        [HOST, ("Transfer-Encoding", "chunked, gzip")],
        b"3\r\nabc\r\n0\r\n\r\n",
    ),
    "chunked twice": request_bytes(
        "POST",
        "/m",
        [HOST, ("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
        b"3\r\nabc\r\n0\r\n\r\n",
    ),
    "version HTTP/1.2": request_bytes("POST", "/m", [HOST, ("Content-Length", "0")], version="1.2"),
    "version FOO": b"POST /m FOO\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    "space before the colon": b"POST /m HTTP/1.1\r\nHost: h\r\nX-Name : v\r\n"
    b"Content-Length: 0\r\n\r\n",
    "empty header name": b"POST /m HTTP/1.1\r\nHost: h\r\n: v\r\nContent-Length: 0\r\n\r\n",
    "NUL in a header value": b"POST /m HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n"
    b"Content-Length: 0\r\n\r\n",
    "bare CR in a header value": b"POST /m HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n"
    b"Content-Length: 0\r\n\r\n",
    "bare LF line ends": b"POST /m HTTP/1.1\nHost: h\nContent-Length: 0\n\n",
    "no Host in HTTP/1.1": b"POST /m HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "two Host headers": request_bytes(
        "POST", "/m", [("Host", "a"), ("Host", "b"), ("Content-Length", "0")]
    ),
    "obs-fold with a space": b"POST /m HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n"
    b"Content-Length: 0\r\n\r\n",
    "obs-fold with a tab": b"POST /m HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n"
    b"Content-Length: 0\r\n\r\n",
    "space in the target": b"POST /a b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
}


async def assert_refused_400(listener: Listener, raw: bytes) -> None:
    """``raw`` gets a well-formed 400, then the connection closes, and nothing is stored."""
    before = stored_count(listener.db)
    async with connection(listener) as (reader, writer):
        await send(writer, raw)
        response = await read_response(reader)
        await assert_closes_silently(reader)
    assert response.status == 400, (response.status, response.body)
    assert response.version in (b"HTTP/1.0", b"HTTP/1.1")
    assert response.header("X-Whrelay-Id") is None
    # One short line that does not quote the request back ("... when reading: b'tttt…'").
    assert len(response.body) <= 300 and b"b'" not in response.body, response.body[:160]
    assert b".;" not in response.body, response.body
    await assert_nothing_stored(listener, before)


# --- 5. limits ------------------------------------------------------------------------------------

LIMIT = 8190
"""Longest request target, and longest header value, in bytes."""

MAX_HEADERS = 128


def with_headers(count: int) -> bytes:
    """A POST with exactly ``count`` header lines (Host and Content-Length among them)."""
    extra = [(f"X-H{i}", f"v{i}") for i in range(count - 2)]
    return request_bytes("POST", "/many-headers", [HOST, *extra, ("Content-Length", "0")])


OVER_LIMITS: dict[str, bytes] = {
    "target of 8191 bytes": request_bytes("GET", "/" + "t" * LIMIT, [HOST]),
    "target of 64 KiB": request_bytes("GET", "/" + "t" * 65536, [HOST]),
    "129 headers": with_headers(MAX_HEADERS + 1),
    "header value of 8191 bytes": post("/big-header", b"", ("X-Big", "v" * (LIMIT + 1))),
    "header value of 64 KiB": post("/big-header", b"", ("X-Big", "v" * 65536)),
    "header name of 8191 bytes": post("/big-header", b"", ("X" * (LIMIT + 1), "v")),
}

# --- 7. Upgrade -----------------------------------------------------------------------------------


async def assert_stored_as_a_plain_webhook(
    listener: Listener, method: str, headers: list[tuple[str, str]], body: bytes | None
) -> None:
    """A request asking to switch protocols gets no 101 and no switch: it is stored like any
    other (headers and body as sent) and answered 200. The connection then either stays
    HTTP (a request pipelined behind it is answered and stored: what the aiohttp receiver
    did) or is closed, announced with ``Connection: close``, and that request is neither
    answered nor stored. Never is it stored unanswered, or read as part of something else."""
    before = stored_count(listener.db)
    raw = request_bytes(method, "/upgrade", headers, body or b"")
    async with connection(listener) as (reader, writer):
        await send(writer, raw + post("/after-upgrade", b"a"))
        upgrade = await read_response(reader)
        following = None
        if upgrade.header("Connection") == b"close":
            await assert_closes_silently(reader)
        else:
            following = await read_response(reader)
    assert upgrade.header("Upgrade") is None
    webhook = stored_webhook(listener.db, acked_id(upgrade))
    assert (webhook.summary.method, webhook.summary.path) == (method, "/upgrade")
    assert webhook.body == body
    assert webhook.headers == tuple((k.encode(), v.encode()) for k, v in headers)
    if following is None:
        assert stored_count(listener.db) == before + 1
    else:
        assert stored_webhook(listener.db, acked_id(following)).summary.path == "/after-upgrade"
        assert stored_count(listener.db) == before + 2


# --- 9. clients that stop half-way ----------------------------------------------------------------

HALVES: dict[str, bytes] = {
    "in the request line": b"POST /half-a HTT",
    "in the headers": b"POST /half-b HTTP/1.1\r\nHost: h\r\nTransfer-Enc",
    "before the blank line": b"POST /half-c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n",
    "in a content-length body": b"POST /half-d HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n"
    b"\r\nabc",
    "in a chunk": b"POST /half-e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    "before the last chunk": b"POST /half-f HTTP/1.1\r\nHost: h\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
}


def _wait_for_line(listener: Listener, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(listener.stderr_lines) if text in line]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} on stderr within {timeout} s: {listener.stderr_lines}")


def _exhaust_then_send(listener: Listener) -> RawResponse:
    """Hold more connections to ``listener`` than it has descriptors for, until it says so
    and for a few retries after; then, once they are closed, send it a webhook."""
    port = url_port(listener.url)
    held: list[socket.socket] = []
    try:
        # The kernel completes each connection (the backlog); listen cannot accept them all.
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(150)]
        line = _wait_for_line(listener, "cannot accept connections")
        assert line.startswith("whrelay: cannot accept connections: Too many open files;")
        # The exhaustion goes on for a few retries of the listening socket: the old code
        # printed thousands of tracebacks in that time.
        time.sleep(3 * ACCEPT_RETRY)
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            return asyncio.run(raw_request(listener.url, post("/after-emfile", b"x")))
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# --- 1. pipelining --------------------------------------------------------------------------------


async def test_three_pipelined_requests_are_answered_and_stored_in_order(edge: Listener) -> None:
    """Three requests in one write, framed three ways (length, chunked, none): three answers
    in order, three rows in order, and the connection still serves a fourth."""
    sent = [
        (
            "POST",
            "/pipe/1",
            request_bytes("POST", "/pipe/1", [HOST, ("Content-Length", "3")], b"one"),
            b"one",
        ),
        (
            "PUT",
            "/pipe/2",
            request_bytes(
                "PUT", "/pipe/2", [HOST, ("Transfer-Encoding", "chunked")], chunked([b"tw", b"o"])
            ),
            b"two",
        ),
        ("GET", "/pipe/3", request_bytes("GET", "/pipe/3?n=3", [HOST]), None),
    ]
    async with connection(edge) as (reader, writer):
        await send(writer, b"".join(raw for _, _, raw, _ in sent))
        ids = [acked_id(await read_response(reader)) for _ in sent]
        await send(writer, post("/pipe/4", b"four"))
        fourth = acked_id(await read_response(reader))
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert fourth > ids[-1]
    stored = [stored_webhook(edge.db, webhook_id) for webhook_id in ids]
    assert [(w.summary.method, w.summary.path, w.body) for w in stored] == [
        (method, path, body) for method, path, _, body in sent
    ]
    assert stored[2].summary.query == "n=3"


async def test_forty_pipelined_requests_are_all_answered_in_order(edge: Listener) -> None:
    """More requests in one write than a server would parse ahead: none dropped or reordered."""
    bodies = [b"%d:" % i + bytes([i]) * (i * 37) for i in range(40)]
    async with connection(edge) as (reader, writer):
        await send(writer, b"".join(post(f"/many/{i}", body) for i, body in enumerate(bodies)))
        ids = [acked_id(await read_response(reader)) for _ in bodies]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(bodies)
    for i, (webhook_id, body) in enumerate(zip(ids, bodies, strict=True)):
        webhook = stored_webhook(edge.db, webhook_id)
        assert (webhook.summary.path, webhook.body) == (f"/many/{i}", body)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_request_pipelined_behind_a_413_is_not_handled(
    small: Listener, framing: str
) -> None:
    """ok, too big, ok in one write: 200, then 413 with ``Connection: close``, then the
    connection ends; the request after the 413 is neither answered nor stored."""
    big = bytes(range(256)) * 8
    assert len(big) > SMALL_MAX_BODY
    if framing == "chunked":
        too_big = request_bytes(
            "POST", "/too-big", [HOST, ("Transfer-Encoding", "chunked")], chunked([big])
        )
    else:
        too_big = post("/too-big", big)
    before = stored_count(small.db)
    async with connection(small) as (reader, writer):
        await send(writer, post("/before-413", b"ok") + too_big + post("/after-413", b"no"))
        first = await read_response(reader)
        refused = await read_response(reader)
        await assert_closes_silently(reader)
    first_id = acked_id(first)
    assert refused.status == 413
    assert refused.header("Connection") == b"close"
    assert stored_count(small.db) == before + 1
    assert stored_webhook(small.db, first_id).summary.path == "/before-413"


# --- 2. keep-alive --------------------------------------------------------------------------------


async def test_http11_keeps_the_connection_open_by_default(edge: Listener) -> None:
    async with connection(edge) as (reader, writer):
        await send(writer, post("/keep/1", b"1"))
        first = await read_response(reader)
        await send(writer, post("/keep/2", b"2"))
        second = await read_response(reader)
    assert first.header("Connection") != b"close"
    ids = [acked_id(first), acked_id(second)]
    assert ids[0] < ids[1]
    assert [stored_webhook(edge.db, i).summary.path for i in ids] == ["/keep/1", "/keep/2"]


async def test_connection_close_from_the_client_closes_after_the_answer(edge: Listener) -> None:
    async with connection(edge) as (reader, writer):
        await send(writer, post("/close", b"c", ("Connection", "close")))
        response = await read_response(reader)
        await assert_closes_silently(reader)
    assert response.version == b"HTTP/1.1"
    assert response.header("Connection") == b"close"
    assert stored_webhook(edge.db, acked_id(response)).summary.path == "/close"


async def test_http10_without_keep_alive_closes_after_the_answer(edge: Listener) -> None:
    async with connection(edge) as (reader, writer):
        await send(writer, post("/ten", b"10", version="1.0"))
        response = await read_response(reader)
        await assert_closes_silently(reader)
    assert response.version.startswith(b"HTTP/1.")
    assert response.header("Connection") in (None, b"close")
    webhook = stored_webhook(edge.db, acked_id(response))
    assert (webhook.summary.path, webhook.http_version) == ("/ten", "1.0")


async def test_http10_with_keep_alive_keeps_the_connection_open(edge: Listener) -> None:
    """``Connection: keep-alive`` in HTTP/1.0 is answered in kind; the next request on the
    socket (a plain HTTP/1.0 one) is answered too, and then the connection closes."""
    async with connection(edge) as (reader, writer):
        await send(writer, post("/ten-keep/1", b"a", ("Connection", "keep-alive"), version="1.0"))
        first = await read_response(reader)
        await send(writer, post("/ten-keep/2", b"b", version="1.0"))
        second = await read_response(reader)
        await assert_closes_silently(reader)
    assert first.header("Connection") == b"keep-alive"
    paths = [stored_webhook(edge.db, acked_id(r)).summary.path for r in (first, second)]
    assert paths == ["/ten-keep/1", "/ten-keep/2"]


@pytest.mark.parametrize(
    "first",
    [
        post("/closing", b"c", ("Connection", "close")),
        post("/closing", b"c", version="1.0"),
    ],
    ids=["connection-close", "http10"],
)
async def test_a_request_pipelined_behind_a_closing_one_is_ignored(
    edge: Listener, first: bytes
) -> None:
    before = stored_count(edge.db)
    async with connection(edge) as (reader, writer):
        await send(writer, first + post("/ignored", b"i"))
        response = await read_response(reader)
        await assert_closes_silently(reader)
    assert response.status == 200
    assert stored_count(edge.db) == before + 1
    assert stored_webhook(edge.db, acked_id(response)).summary.path == "/closing"


async def test_http10_with_transfer_encoding_closes_the_connection(edge: Listener) -> None:
    """HTTP/1.0 has no chunked coding: whoever sits in front may frame the body differently,
    so nothing after such a request on the connection may be trusted (or stored)."""
    first = request_bytes(
        "POST",
        "/ten-chunked",
        [HOST, ("Transfer-Encoding", "chunked"), ("Connection", "keep-alive")],
        chunked([b"abc"]),
        version="1.0",
    )
    before = stored_count(edge.db)
    async with connection(edge) as (reader, writer):
        await send(writer, first + post("/smuggled", b"s"))
        response = await read_response(reader)
        await assert_closes_silently(reader)
    if response.status == 200:
        assert stored_webhook(edge.db, acked_id(response)).body == b"abc"
        assert stored_count(edge.db) == before + 1
    else:
        assert response.status == 400
        await assert_nothing_stored(edge, before)


# --- 3. HEAD --------------------------------------------------------------------------------------


async def test_head_is_answered_without_body_bytes_and_stored(edge: Listener) -> None:
    """The answer to HEAD ends with its headers: the pipelined request's answer starts right
    after them."""
    head_request = request_bytes("HEAD", "/head/hook", [HOST, ("X-Head", "1")])
    async with connection(edge) as (reader, writer):
        await send(writer, head_request + post("/after-head", b"x"))
        head = await read_head(reader)
        following = await read_response(reader)
    assert 200 <= head.status < 300
    head_id = head.header("X-Whrelay-Id")
    assert head_id is not None
    assert following.version == b"HTTP/1.1", "body bytes after the answer to HEAD"
    after_id = acked_id(following)
    webhook = stored_webhook(edge.db, int(head_id))
    assert (webhook.summary.method, webhook.summary.path, webhook.body) == (
        "HEAD",
        "/head/hook",
        None,
    )
    assert (b"X-Head", b"1") in webhook.headers
    assert stored_webhook(edge.db, after_id).summary.path == "/after-head"
    assert int(head_id) < after_id


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_request_gets_400_closes_and_is_not_stored(
    edge: Listener, raw: bytes
) -> None:
    await assert_refused_400(edge, raw)


async def test_malformed_request_400_status_line_says_http11(edge: Listener) -> None:
    lines = {}
    for name, raw in MALFORMED.items():
        async with connection(edge) as (reader, writer):
            await send(writer, raw)
            lines[name] = (await reader.readuntil(b"\r\n")).rstrip()
    assert lines == {name: b"HTTP/1.1 400 Bad Request" for name in MALFORMED}


@pytest.mark.parametrize(
    ("version", "status", "says"),
    [
        ("0.9", 505, b"HTTP/0.9 is not supported (HTTP/1.1 is); not stored\n"),
        ("2.0", 505, b"HTTP/2.0 is not supported (HTTP/1.1 is); not stored\n"),
        ("3.0", 505, b"HTTP/3.0 is not supported (HTTP/1.1 is); not stored\n"),
        ("9.9", 505, b"HTTP/9.9 is not supported (HTTP/1.1 is); not stored\n"),
        ("1.2", 400, b"malformed request: HTTP/1.2 is not HTTP/1.0 or 1.1; not stored\n"),
        ("1.9", 400, b"malformed request: HTTP/1.9 is not HTTP/1.0 or 1.1; not stored\n"),
        ("1.10", 400, b"malformed request: Bad status line; not stored\n"),
    ],
)
async def test_other_http_versions_get_505_for_another_major_and_400_else(
    edge: Listener, version: str, status: int, says: bytes
) -> None:
    """A major version other than 1 is refused as such (505, RFC 9110 15.6.6), whether
    llhttp reads the line (2.0, 0.9) or not (3.0, 9.9: it was 400); a minor version past 1
    is not read by llhttp (RFC 9112 2.3 would take it as 1.1) and ``1.10`` is no version
    (one digit each): 400. None is stored."""
    before = stored_count(edge.db)
    response = await raw_request(edge.url, post("/v", b"v", version=version))
    assert (response.status, response.body) == (status, says)
    await assert_nothing_stored(edge, before)


async def test_http10_without_host_is_stored_and_http11_without_host_is_400(
    edge: Listener,
) -> None:
    """RFC 9112 3.2: ``Host`` is required of HTTP/1.1 requests only."""
    wire = request_bytes("POST", "/no-host", [("Content-Length", "2")], b"hi", "1.0")
    stored = stored_webhook(edge.db, acked_id(await raw_request(edge.url, wire)))
    assert (stored.http_version, stored.headers, stored.body) == (
        "1.0",
        ((b"Content-Length", b"2"),),
        b"hi",
    )
    await assert_refused_400(edge, wire.replace(b"HTTP/1.0", b"HTTP/1.1"))


async def test_header_values_are_stored_without_the_whitespace_around_them(
    edge: Listener,
) -> None:
    """Spaces and tabs around a value are not part of it (RFC 9112 5): not kept; the ones
    inside it are, as is the name's case."""
    wire = (
        b"POST /ws HTTP/1.1\r\nHost: x\r\nX-Pad: \t  padded  value \t \r\nx-EMPTY:   \r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    stored = stored_webhook(edge.db, acked_id(await raw_request(edge.url, wire)))
    assert stored.headers == (
        (b"Host", b"x"),
        (b"X-Pad", b"padded  value"),
        (b"x-EMPTY", b""),
        (b"Content-Length", b"0"),
    )


@pytest.mark.parametrize("raw", OVER_LIMITS.values(), ids=OVER_LIMITS.keys())
async def test_over_a_limit_gets_400_and_is_not_stored(edge: Listener, raw: bytes) -> None:
    """Over-long target, too many headers, an over-long header value: 400 (not 414 or 431)."""
    await assert_refused_400(edge, raw)


async def test_at_the_limits_is_stored_exactly(edge: Listener) -> None:
    """The limits are not off by one: a target of 8190 bytes, 128 headers and a header value
    of 8190 bytes are all stored as sent."""
    target = "/" + "t" * (LIMIT - 1)
    value = "v" * LIMIT
    responses = [
        await raw_request(edge.url, request_bytes("GET", target, [HOST])),
        await raw_request(edge.url, with_headers(MAX_HEADERS)),
        await raw_request(edge.url, post("/big-header", b"b", ("X-Big", value))),
    ]
    long_target, many, big = (stored_webhook(edge.db, acked_id(r)) for r in responses)
    assert long_target.summary.target == target
    assert len(many.headers) == MAX_HEADERS
    assert many.headers[1] == (b"X-H0", b"v0")
    assert (b"X-Big", value.encode()) in big.headers
    assert big.body == b"b"


async def test_the_limits_are_on_the_target_name_and_value_not_on_lines(edge: Listener) -> None:
    """A request line or a header line may be longer than 8190 bytes as long as its target
    and its value are not."""
    name, value = "X-" + "n" * 998, "v" * LIMIT
    target = "/" + "t" * (LIMIT - 1)
    wire = request_bytes("POST", target, [HOST, (name, value), ("Content-Length", "0")])
    lines = wire.split(b"\r\n")
    assert len(lines[0]) > LIMIT and len(lines[2]) == LIMIT + 1002
    stored = stored_webhook(edge.db, acked_id(await raw_request(edge.url, wire)))
    assert stored.summary.path == target
    assert (name.encode(), value.encode()) in stored.headers


# --- 6. chunk extensions and trailers -------------------------------------------------------------


async def test_chunk_extensions_and_trailers_are_stripped_from_the_stored_body(
    edge: Listener,
) -> None:
    """The stored body is the de-chunked bytes; extensions go, and trailer fields are not
    taken for headers (a trailer must not be able to pose as, say, a signature header)."""
    data = [b"abc", b"\r\n0\r\n\r\n", bytes(range(256)), b"Z" * 0x1A]
    body = (
        b"3;name=value\r\n" + data[0] + b"\r\n"
        b'7;quoted="a;b";flag\r\n' + data[1] + b"\r\n"
        b"100\r\n" + data[2] + b"\r\n"
        b"1A;x\r\n" + data[3] + b"\r\n"
        b"0;last=1\r\n"
        b"X-Trailer: t\r\n"
        b"X-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\n"
        b"\r\n"
    )
    headers = [HOST, ("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
    async with connection(edge) as (reader, writer):
        await send(writer, request_bytes("POST", "/chunk-ext", headers, body))
        response = await read_response(reader)
        # The connection is still in step after the trailers.
        await send(writer, post("/after-trailers", b"t"))
        after = await read_response(reader)
    webhook = stored_webhook(edge.db, acked_id(response))
    assert webhook.body == b"".join(data)
    assert webhook.headers == tuple((k.encode(), v.encode()) for k, v in headers)
    assert webhook.header("X-Hub-Signature-256") is None
    assert stored_webhook(edge.db, acked_id(after)).summary.path == "/after-trailers"


async def test_a_post_asking_for_websocket_is_stored_and_answered_200(edge: Listener) -> None:
    headers = [HOST, ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Content-Length", "5")]
    await assert_stored_as_a_plain_webhook(edge, "POST", headers, b"hello")


async def test_a_websocket_handshake_is_stored_and_answered_200_not_101(edge: Listener) -> None:
    headers = [
        HOST,
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    await assert_stored_as_a_plain_webhook(edge, "GET", headers, None)


# --- 8. the acknowledgement -----------------------------------------------------------------------


async def test_acknowledgement_wire_format(edge: Listener) -> None:
    async with connection(edge) as (reader, writer):
        await send(writer, post("/ack", b'{"a":1}', ("Content-Type", "application/json")))
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
        response = parse_head(head)
        length = response.header("Content-Length")
        assert length is not None
        response.body = await reader.readexactly(int(length))
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    content_type = response.header("Content-Type") or b""
    assert content_type.split(b";")[0].strip().lower() == b"application/json"
    assert int(length) == len(response.body)
    assert response.header("Transfer-Encoding") is None
    assert response.header("Connection") != b"close"
    webhook_id = acked_id(response)
    assert response.header("X-Whrelay-Id") == str(webhook_id).encode()
    date = response.header("Date")
    assert date is not None
    assert date.endswith(b" GMT")
    sent_at = parsedate_to_datetime(date.decode()).timestamp()
    assert abs(sent_at - time.time()) < 120
    assert stored_webhook(edge.db, webhook_id).body == b'{"a":1}'


@pytest.mark.parametrize("partial", HALVES.values(), ids=HALVES.keys())
async def test_half_a_request_then_eof_is_not_stored(edge: Listener, partial: bytes) -> None:
    """The client sends part of a request, then EOF: no 2xx, the server closes, nothing is
    stored, and the next client is served."""
    before = stored_count(edge.db)
    async with connection(edge) as (reader, writer):
        await send(writer, partial)
        writer.write_eof()
        answer = await read_to_close(reader)
    if answer:
        assert parse_head(answer.partition(b"\r\n\r\n")[0] + b"\r\n\r\n").status >= 400, answer
    await assert_nothing_stored(edge, before)


async def test_a_whole_request_then_eof_is_answered_and_stored(edge: Listener) -> None:
    """A client may end its side once its request is sent (``shutdown(SHUT_WR)``): the
    request is complete, so it is stored and answered, then the connection closes."""
    async with connection(edge) as (reader, writer):
        await send(writer, post("/half-closed", b"whole"))
        writer.write_eof()
        answer = await read_to_close(reader)
    head, _, body = answer.partition(b"\r\n\r\n")
    response = parse_head(head + b"\r\n\r\n")
    stored = stored_webhook(edge.db, acked_id(dataclasses.replace(response, body=body)))
    assert (stored.summary.path, stored.body) == ("/half-closed", b"whole")


async def test_a_stalled_half_request_does_not_hold_up_others(edge: Listener) -> None:
    """One connection stops mid-body and stays open; another is answered meanwhile; the
    stalled one then vanishes and its part-body is not stored."""
    before = stored_count(edge.db)
    async with connection(edge) as (_, stalled):
        await send(stalled, post("/stalled", b"0123456789")[:-4])
        other = await raw_request(edge.url, post("/not-held-up", b"o"), timeout=5)
        assert stored_webhook(edge.db, acked_id(other)).summary.path == "/not-held-up"
    # The marker request sent next comes after the close: by the time the listener answers
    # it, it has seen the close, and anything stored for the stalled request is counted.
    await assert_nothing_stored(edge, before + 1)


# --- 10. a body in tiny writes --------------------------------------------------------------------


async def test_chunked_body_sent_one_byte_per_write_is_stored_exactly(edge: Listener) -> None:
    """2 KiB chunked (chunks of many sizes, every byte value, CRLFs inside the data), the
    whole request written one byte at a time, so every split point is exercised."""
    data = (bytes(range(256)) + b"\r\n0\r\n\r\n") * 8
    data = data[:2048]
    sizes = [1, 2, 15, 16, 17, 100, 255, 256, 1, 400, 1000]
    chunks = []
    offset = 0
    for size in sizes:
        chunks.append(data[offset : offset + size])
        offset += size
    chunks.append(data[offset:])
    assert b"".join(chunks) == data and len(data) == 2048
    raw = request_bytes(
        "POST", "/trickle", [HOST, ("Transfer-Encoding", "chunked")], chunked(chunks)
    )
    async with connection(edge) as (reader, writer):
        for i in range(len(raw)):
            writer.write(raw[i : i + 1])
            await writer.drain()
            if i % 16 == 0:
                await asyncio.sleep(0.0005)  # let the bytes leave as separate segments
        response = await read_response(reader)
    webhook = stored_webhook(edge.db, acked_id(response))
    assert webhook.body == data
    assert webhook.summary.path == "/trickle"


@pytest.mark.slow
def test_running_out_of_file_descriptors_is_said_in_a_line_and_serving_resumes(
    tmp_path: Path,
) -> None:
    """More connections than ``ulimit -n`` allows: listen says so once (asyncio printed
    thousands of tracebacks a second, 24,846 in 20 s), and serves again once the clients
    that held the descriptors are gone."""
    listener = start_listener(tmp_path / "fd.db", open_files=64)
    try:
        answer = _exhaust_then_send(listener)
    finally:
        code = listener.stop()
    assert answer.status == 200, answer.body
    assert code == 130
    assert 1 <= len(listener.stderr_lines) <= 3, listener.stderr_lines
    assert all(line.startswith("whrelay: ") for line in listener.stderr_lines)
    assert stored_webhook(listener.db, acked_id(answer)).summary.path == "/after-emfile"
