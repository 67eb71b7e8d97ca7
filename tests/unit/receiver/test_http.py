"""Connection-layer bugs found in review of whrelay/receiver/http.py, pinned against the
HttpServer directly (a stub handler, loopback sockets): each test states the safe behaviour
the fix brought."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from tests.helpers.wait import until
from whrelay.receiver.http import (
    HttpServer,
    Limits,
    Request,
    Response,
    _serialize,
    plain,
)

# --- Content-Length given by a handler (proxy mode passes a target's on for HEAD) ------------


def _head(answer: bytes) -> list[bytes]:
    return answer.partition(b"\r\n\r\n")[0].split(b"\r\n")


def _lengths(answer: bytes) -> list[bytes]:
    return [line for line in _head(answer) if line.lower().startswith(b"content-length:")]


class Stub:
    """Stores every request it handles; ``/_big`` answers 8 MiB from the head alone."""

    def __init__(self) -> None:
        self.stored: list[Request] = []

    def early(self, request: Request) -> Response | None:
        if request.target == "/_big":
            return Response(200, b"x" * (8 << 20))
        if request.target.startswith("/_"):
            return plain(404, "reserved")
        return None

    async def handle(self, request: Request) -> Response:
        self.stored.append(request)
        await asyncio.sleep(0.01)  # like a commit: the answer is not immediate
        return plain(200, "stored")

    def refused(self, status: int, message: str, method: str, target: str) -> None:
        pass


@contextlib.asynccontextmanager
async def stub_server(idle: float = 15.0) -> AsyncIterator[tuple[HttpServer, Stub]]:
    stub = Stub()
    server = HttpServer(stub, Limits(1 << 20, 30.0, idle))
    await server.start("127.0.0.1", 0)
    try:
        yield server, stub
    finally:
        await server.stop(1.0)


def post(path: str, body: bytes) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (
        path.encode(),
        len(body),
        body,
    )


def draining(server: HttpServer) -> bool:
    """Whether an answer waits in a connection's write buffer (its client is not reading)."""
    return any(
        c.transport is not None and c.transport.get_write_buffer_size() > 0
        for c in server.connections
    )


def body_coming(server: HttpServer, received: int) -> bool:
    """Whether a connection has read ``received`` bytes of a body that is still coming in."""
    return any(
        c.parsing is not None and not c.parsing.is_eof() and c.parsing.total_bytes >= received
        for c in server.connections
    )


async def read_until_eof(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, bool]:
    data = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(1 << 20):
                data += chunk
    except TimeoutError:
        return data, False
    return data, True


class Faulty(Stub):
    """A handler with a bug on one path."""

    def early(self, request: Request) -> Response | None:
        if request.target == "/bug":
            raise RuntimeError("a bug")
        return super().early(request)


async def _answer(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"stored\n"), timeout)
    except (TimeoutError, asyncio.IncompleteReadError) as error:
        return getattr(error, "partial", b"")


@pytest.mark.parametrize(
    ("method", "status", "given", "sent"),
    [
        ("HEAD", 200, "1234", [b"Content-Length: 1234"]),  # the body it would have had
        ("HEAD", 200, " 77 ", [b"Content-Length: 77"]),
        ("HEAD", 200, "\u00b2", [b"Content-Length: 2"]),  # not ASCII digits: ours instead
        ("HEAD", 204, "12", []),  # never on a 204 (RFC 9110 8.6)
        ("GET", 200, "999", [b"Content-Length: 2"]),  # a body's length is always ours
    ],
)
def test_a_given_content_length_is_kept_only_where_it_is_right(
    method: str, status: int, given: str, sent: list[bytes]
) -> None:
    request = Request(method, "/x", (1, 1), (), "127.0.0.1", 0, False)
    response = Response(status, b"ok", None, (("Content-Length", given), ("X-Kept", "1")))
    answer = _serialize(request, response, False)
    assert _lengths(answer) == sent
    assert b"X-Kept: 1" in _head(answer)
    body = answer.partition(b"\r\n\r\n")[2]
    assert body == (b"ok" if method == "GET" and status != 204 else b"")


def test_an_answer_to_head_of_unknown_length_says_none() -> None:
    head = Request("HEAD", "/x", (1, 1), (), "127.0.0.1", 0, False)
    unknown = Response(200, b"", None, (("X-Kept", "1"),), unknown_length=True)
    assert _lengths(_serialize(head, unknown, False)) == []
    # Only for HEAD: any other answer's length is always told.
    get = Request("GET", "/x", (1, 1), (), "127.0.0.1", 0, False)
    assert _lengths(_serialize(get, unknown, False)) == [b"Content-Length: 0"]


async def test_a_valid_request_before_a_malformed_one_in_the_same_read_is_answered() -> None:
    bad = b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"
    async with stub_server() as (server, stub):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/a", b"1") + bad)
        data, _ = await read_until_eof(reader, 3)
        writer.close()
    assert data.startswith(b"HTTP/1.1 200 ")
    assert [r.target for r in stub.stored] == ["/a"]


async def test_complete_pipelined_requests_then_half_close_are_all_answered() -> None:
    async with stub_server() as (server, stub):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/a", b"1") + post("/b", b"2") + post("/c", b"3"))
        writer.write_eof()
        data, eof = await read_until_eof(reader, 3)
        writer.close()
    assert eof
    assert data.count(b"HTTP/1.1 200 ") == 3
    assert len(stub.stored) == 3


async def test_a_request_pipelined_behind_an_h2c_upgrade_is_not_silently_dropped() -> None:
    upgrade = (
        b"POST /u HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
        b"Content-Length: 2\r\n\r\nab"
    )
    async with stub_server() as (server, _stub):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(upgrade + post("/next", b"zz"))
        data, eof = await read_until_eof(reader, 2)
        writer.close()
    # Either both are answered, or the connection closes after the first: never a silent drop.
    answered = data.count(b"HTTP/1.1 ")
    assert answered == 2 or (answered == 1 and eof), (answered, eof)


async def test_half_close_while_an_answer_drains_closes_the_connection() -> None:
    async with stub_server() as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /_big HTTP/1.1\r\nHost: a\r\n\r\n")
        await until(lambda: draining(server), "the answer to wait on us to read it")
        writer.write_eof()
        await until(
            lambda: all(c.client_done for c in server.connections), "the server to see the EOF"
        )
        data, eof = await read_until_eof(reader, 3)
        writer.close()
        assert len(data) > 8 << 20
        assert eof
        assert not server.connections


async def test_a_pipelined_flood_that_never_reads_stays_bounded_and_is_cut_off() -> None:
    request = b"GET /_x HTTP/1.1\r\nHost: a\r\n\r\n"
    async with stub_server(idle=1.0) as (server, _):
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await until(lambda: server.connections, "the connection to be accepted")
        writer.write(request * 40000)
        queued = 0

        def cut_off() -> bool:
            """Whether the server has closed the connection; meanwhile, its longest queue."""
            nonlocal queued
            queued = max([queued, *(len(c.queue) for c in server.connections)])
            return not server.connections

        await until(cut_off, "the connection to be cut off")
        writer.transport.abort()
    assert queued <= 64, queued


async def test_connect_with_a_path_target_is_refused_and_not_handled() -> None:
    """llhttp takes what follows a CONNECT head as tunnel data: never stored, never a 2xx."""
    head = b"CONNECT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    async with stub_server() as (server, stub):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head)
        data, eof = await read_until_eof(reader, 3)
        writer.close()
    assert data.startswith(b"HTTP/1.1 400 ")
    assert eof
    assert stub.stored == []


async def test_stopping_while_a_body_comes_in_answers_503_at_once() -> None:
    """Ctrl-C during an upload: the sender is told to come back (503, Retry-After) instead of
    waiting for a reset at the end of the shutdown timeout; nothing half-received is stored."""
    stub = Stub()
    server = HttpServer(stub, Limits(1 << 20, 30.0, 15.0))
    await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234")
    await until(lambda: body_coming(server, 5), "the first half of the body to arrive")
    started = asyncio.get_running_loop().time()
    await server.stop(30.0)
    took = asyncio.get_running_loop().time() - started
    data, _ = await read_until_eof(reader, 3)
    writer.close()
    assert data.startswith(b"HTTP/1.1 503 "), data
    assert b"Retry-After: 5" in data
    assert stub.stored == []
    assert took < 10.0, took  # it did not sit out the 30 s shutdown timeout


async def test_a_bug_before_the_body_drops_that_connection_and_the_server_goes_on(
    capfd: pytest.CaptureFixture[str],
) -> None:
    stub = Faulty()
    server = HttpServer(stub, Limits(1 << 20, 30.0, 15.0))
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/bug", b"x"))
        data, eof = await read_until_eof(reader, 3)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/fine", b"y"))
        answer = await reader.readuntil(b"\r\n")
        writer.close()
    finally:
        await server.stop(1.0)
    assert (data, eof) == (b"", True)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert [r.target for r in stub.stored] == ["/fine"]
    assert "internal error on a connection: RuntimeError('a bug')" in capfd.readouterr().err


async def test_chunked_body_of_many_small_chunks_does_not_stall() -> None:
    async with stub_server() as (server, stub):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        head = b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        writer.write(head + b"1\r\nX\r\n" * 4097)  # more chunks than StreamReader's 4096
        await writer.drain()
        await until(lambda: body_coming(server, 4097), "the 4097 chunks to be read")
        writer.write(b"1\r\nY\r\n0\r\n\r\n")
        await writer.drain()
        answer = await _answer(reader, 3.0)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert [r.body for r in stub.stored] == [b"X" * 4097 + b"Y"]


async def test_upgrade_request_body_in_two_writes_is_read() -> None:
    async with stub_server() as (server, stub):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        body = b"x" * 100_000
        writer.write(
            b"POST /u HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:10]
        )
        await writer.drain()
        await until(lambda: body_coming(server, 10), "the first 10 bytes to be read")
        writer.write(body[10:])
        await writer.drain()
        answer = await _answer(reader, 3.0)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert [r.body for r in stub.stored] == [body]
