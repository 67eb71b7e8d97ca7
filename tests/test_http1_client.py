"""The forwarding client (whrelay.relay.http1) against canned responses on loopback: each
test's server writes exact bytes, so the framing the client must read is under control."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, self_signed, url_port
from whrelay.relay.http1 import MAX_HEAD, MAX_IDLE_PER_TARGET, Http1Client, ProtocolError


@contextlib.asynccontextmanager
async def canned(*answers: bytes) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1 that answers the n-th request on a connection with
    ``answers[n]`` (then closes if that was the last); yields its URL and the request heads."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answer in answers:
                head = await reader.readuntil(b"\r\n\r\n")
                heads.append(head)
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook", heads
    finally:
        server.close()
        await server.wait_closed()


def client() -> Http1Client:
    return Http1Client(allow=lambda address: address == "127.0.0.1", response_cap=1 << 20)


async def test_a_chunked_answer_with_trailers_is_read_whole_and_the_connection_reused() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    plain = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    async with canned(chunked, plain) as (url, heads):
        http = client()
        first = await http.request("POST", url, ((b"X-In", b"1"),), b"body")
        second = await http.request("POST", url, (), b"")
        await http.close()
    assert (first.status, first.body, first.truncated) == (200, b"abcde", False)
    assert (b"X-A", b"1") in first.headers
    assert (second.status, second.body) == (201, b"ok")
    assert len(heads) == 2  # both on one connection: the server answered both in turn


async def test_a_chunked_answer_without_trailers_ends_at_the_blank_line() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    async with canned(answer) as (url, _):
        http = client()
        response = await asyncio.wait_for(http.request("GET", url, (), None), 5)
        await http.close()
    assert response.body == b"hi"


async def test_interim_answers_are_skipped() -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
    )
    async with canned(answer) as (url, _):
        http = client()
        response = await http.request("POST", url, (), b"x")
        await http.close()
    assert (response.status, response.headers, response.body) == (
        202,
        ((b"Content-Length", b"0"),),
        b"",
    )


async def test_an_answer_framed_by_the_close_is_read_to_the_end() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    async with canned(answer) as (url, _):
        http = client()
        response = await http.request("GET", url, (), None)
        await http.close()
    assert response.body == b"all of it"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * MAX_HEAD + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 two hundred\r\n\r\n",
    ],
    ids=["head too large", "header without colon", "bad status"],
)
async def test_an_answer_that_is_not_http_is_a_protocol_error(answer: bytes) -> None:
    async with canned(answer) as (url, _):
        http = client()
        with pytest.raises(ProtocolError):
            await http.request("GET", url, (), None)
        await http.close()


# --- strict framing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lengths",
    [
        b"Content-Length: 2\r\nContent-Length: 9\r\n",
        b"Content-Length: 2, 9\r\n",
        b"Content-Length: 9\r\nX-Between: 1\r\ncontent-length: 2\r\n",
    ],
    ids=["two headers", "a list", "apart"],
)
async def test_two_different_content_lengths_are_a_protocol_error(lengths: bytes) -> None:
    """Which one frames the body is the target's secret: the last one won, and ``2`` then
    ``9`` read ``okHTTP/1.`` (the next answer's first bytes) as the body."""
    answer = b"HTTP/1.1 200 OK\r\n" + lengths + b"\r\nok" + b"HTTP/1.1 200 OK\r\n\r\n"
    async with canned(answer) as (url, _):
        http = client()
        with pytest.raises(ProtocolError, match="different values: 2, 9"):
            await http.request("GET", url, (), None)
        await http.close()


@pytest.mark.parametrize(
    "lengths", [b"Content-Length: 2\r\nContent-Length: 2\r\n", b"Content-Length: 2 , 2\r\n"]
)
async def test_the_same_content_length_repeated_is_that_length(lengths: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + lengths + b"\r\nok"
    async with canned(answer, answer) as (url, heads):
        http = client()
        first = await http.request("GET", url, (), None)
        second = await http.request("GET", url, (), None)
        await http.close()
    assert (first.body, second.body) == (b"ok", b"ok")
    assert len(heads) == 2  # on one connection


@pytest.mark.parametrize(
    "body", [b"3\r\nabcXY0\r\n\r\n", b"3\r\nabc\n0\r\n\r\n", b"3\r\nabcd\r\n0\r\n\r\n"]
)
async def test_a_chunk_not_followed_by_crlf_is_a_protocol_error(body: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    async with canned(answer) as (url, _):
        http = client()
        with pytest.raises(ProtocolError, match="not followed by CRLF"):
            await asyncio.wait_for(http.request("GET", url, (), None), 10)
        await http.close()


async def test_chunked_with_a_content_length_is_read_chunked_and_not_reused() -> None:
    """Transfer-Encoding overrides Content-Length (RFC 9112 6.3); both at once is a
    smuggling sign, so the connection carries nothing more."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer += b"2\r\nhi\r\n0\r\n\r\n"
    async with canned(answer, answer) as (url, heads):
        http = client()
        first = await http.request("GET", url, (), None)
        assert http.idle("http", "127.0.0.1", url_port(url)) == 0
        await http.close()
    assert first.body == b"hi"
    assert len(heads) == 1


async def test_a_transfer_coding_that_is_not_chunked_last_runs_to_the_close() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nConnection: close\r\n\r\n"
    async with canned(answer + b"raw bytes") as (url, _):
        http = client()
        response = await http.request("GET", url, (), None)
        await http.close()
    assert response.body == b"raw bytes"


# --- the pool of idle connections --------------------------------------------------------------


@dataclass
class Counted:
    """What a keep-alive server saw of its connections."""

    url: str
    opened: int = 0
    ended: int = 0
    """Connections the client closed."""
    requests: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Answers wait for it (set from the start unless the test holds them)."""


@contextlib.asynccontextmanager
async def keep_alive_server(hold: bool = False) -> AsyncIterator[Counted]:
    """A server on 127.0.0.1 that answers every request ``204`` and keeps the connection,
    counting connections opened and closed by the client."""
    counted = Counted("")
    if not hold:
        counted.release.set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counted.opened += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                counted.requests += 1
                await counted.release.wait()
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except asyncio.IncompleteReadError:
            counted.ended += 1
        except ConnectionError:
            counted.ended += 1
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    counted.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    try:
        yield counted
    finally:
        server.close()
        await server.wait_closed()


async def until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        await asyncio.sleep(0.01)


async def test_idle_connections_are_kept_up_to_the_bound_per_target() -> None:
    async with keep_alive_server(hold=True) as server:
        http = client()
        port = url_port(server.url)
        burst = [
            asyncio.create_task(http.request("POST", server.url, (), b"x"))
            for _ in range(MAX_IDLE_PER_TARGET + 3)
        ]
        await until(lambda: server.requests == len(burst), "every request in")
        server.release.set()
        assert [r.status for r in await asyncio.gather(*burst)] == [204] * len(burst)
        assert server.opened == MAX_IDLE_PER_TARGET + 3
        assert http.idle("http", "127.0.0.1", port) == MAX_IDLE_PER_TARGET
        await until(lambda: server.ended == 3, "the three beyond the bound closed")
        # The ones kept are used again: no new connection.
        await http.request("POST", server.url, (), b"x")
        assert server.opened == MAX_IDLE_PER_TARGET + 3
        await http.close()
        await until(lambda: server.ended == server.opened, "every connection closed")


async def test_an_idle_connection_is_closed_once_it_expires() -> None:
    async with keep_alive_server() as server:
        http = Http1Client(allow=lambda a: a == "127.0.0.1", response_cap=1024, idle_expiry=0.2)
        assert (await http.request("POST", server.url, (), b"x")).status == 204
        await until(lambda: server.ended == 1, "the idle connection closed by the client")
        assert http.idle("http", "127.0.0.1", url_port(server.url)) == 0
        assert (await http.request("POST", server.url, (), b"x")).status == 204
        assert server.opened == 2  # a new one, not the expired one
        await http.close()


async def test_a_tls_context_is_made_once_per_target(tmp_path: Path) -> None:
    """Each connection to an https target uses that target's one context (it was built
    again for every connection: the system's certificates loaded each time)."""
    made: list[ssl.SSLContext] = []

    def context() -> ssl.SSLContext:
        made.append(ssl.create_default_context(cafile=str(tmp_path / "cert.pem")))
        return made[-1]

    server_tls = self_signed(tmp_path)
    close = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(close)
            await writer.drain()
        writer.close()

    servers = [await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls) for _ in "ab"]
    urls = [f"https://127.0.0.1:{s.sockets[0].getsockname()[1]}/hook" for s in servers]
    http = Http1Client(allow=lambda a: a == "127.0.0.1", response_cap=1024, tls_context=context)
    try:
        for url in urls[:1] * 3 + urls[1:] * 2:  # a connection each (Connection: close)
            assert (await http.request("GET", url, (), None)).body == b"ok"
    finally:
        await http.close()
        for server in servers:
            server.close()
            await server.wait_closed()
    assert len(made) == 2


FORWARD_AND_COUNT_FAULTS = """
import asyncio
import resource
import sys

from whrelay.core.allocator import give_back_large_blocks
from whrelay.relay.http1 import Http1Client

async def main(url: str, warm: int, count: int) -> None:
    client = Http1Client(allow=lambda address: address == "127.0.0.1", response_cap=1 << 20)
    for _ in range(warm):
        await client.request("POST", url, (), b"{}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(count):
        assert (await client.request("POST", url, (), b"{}")).status == 200
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    await client.close()

assert give_back_large_blocks()  # as listen does
asyncio.run(main(sys.argv[1], 50, int(sys.argv[2])))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mmap threshold, /proc's counts")
async def test_reading_answers_takes_no_fresh_memory_from_the_system_each_time() -> None:
    # With listen's fixed mmap threshold, a read buffer of 128 KiB or more is a mapping of
    # its own: a page fault (and mmap, mremap, munmap) for every answer read from a target.
    # The client runs in a process of its own, so that only its reads are counted.
    count = 300
    async with canned(*[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"] * (count + 50)) as (
        url,
        _,
    ):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            FORWARD_AND_COUNT_FAULTS,
            url,
            str(count),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    faults = int(out)
    assert faults < count // 3, f"{faults} page faults in {count} answers"
