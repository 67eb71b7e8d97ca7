"""The forwarding client (whrelay.relay.http1) against canned responses on loopback: each
test's server writes exact bytes, so the framing the client must read is under control."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import ROOT
from tests.helpers.rawhttp import url_port
from tests.helpers.rawserver import (
    RawServer,
    answers,
    canned,
    keeping_alive,
    self_signed,
    serving_raw,
)
from tests.helpers.wait import until
from whrelay.relay.http1 import MAX_HEAD, MAX_IDLE_PER_TARGET, Http1Client, ProtocolError


def client() -> Http1Client:
    return Http1Client(allow=lambda address: address == "127.0.0.1", response_cap=1 << 20)


async def test_a_chunked_answer_with_trailers_is_read_whole_and_the_connection_reused() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    plain = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    async with canned(chunked, plain) as target:
        url = target.url
        http = client()
        first = await http.request("POST", url, ((b"X-In", b"1"),), b"body")
        second = await http.request("POST", url, (), b"")
        await http.close()
    assert (first.status, first.body, first.truncated) == (200, b"abcde", False)
    assert (b"X-A", b"1") in first.headers
    assert (second.status, second.body) == (201, b"ok")
    assert len(target.heads) == 2  # both on one connection: the server answered both in turn


async def test_a_chunked_answer_without_trailers_ends_at_the_blank_line() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    async with canned(answer) as target:
        url = target.url
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
    async with canned(answer) as target:
        url = target.url
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
    async with canned(answer) as target:
        url = target.url
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
    async with canned(answer) as target:
        url = target.url
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
    async with canned(answer) as target:
        url = target.url
        http = client()
        with pytest.raises(ProtocolError, match="different values: 2, 9"):
            await http.request("GET", url, (), None)
        await http.close()


@pytest.mark.parametrize(
    "lengths", [b"Content-Length: 2\r\nContent-Length: 2\r\n", b"Content-Length: 2 , 2\r\n"]
)
async def test_the_same_content_length_repeated_is_that_length(lengths: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + lengths + b"\r\nok"
    async with canned(answer, answer) as target:
        url = target.url
        http = client()
        first = await http.request("GET", url, (), None)
        second = await http.request("GET", url, (), None)
        await http.close()
    assert (first.body, second.body) == (b"ok", b"ok")
    assert len(target.heads) == 2  # on one connection


@pytest.mark.parametrize(
    "body", [b"3\r\nabcXY0\r\n\r\n", b"3\r\nabc\n0\r\n\r\n", b"3\r\nabcd\r\n0\r\n\r\n"]
)
async def test_a_chunk_not_followed_by_crlf_is_a_protocol_error(body: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    async with canned(answer) as target:
        url = target.url
        http = client()
        with pytest.raises(ProtocolError, match="not followed by CRLF"):
            await asyncio.wait_for(http.request("GET", url, (), None), 10)
        await http.close()


async def test_chunked_with_a_content_length_is_read_chunked_and_not_reused() -> None:
    """Transfer-Encoding overrides Content-Length (RFC 9112 6.3); both at once is a
    smuggling sign, so the connection carries nothing more."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer += b"2\r\nhi\r\n0\r\n\r\n"
    async with canned(answer, answer) as target:
        url = target.url
        http = client()
        first = await http.request("GET", url, (), None)
        assert http.idle("http", "127.0.0.1", url_port(url)) == 0
        await http.close()
    assert first.body == b"hi"
    assert len(target.heads) == 1


async def test_a_transfer_coding_that_is_not_chunked_last_runs_to_the_close() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nConnection: close\r\n\r\n"
    async with canned(answer + b"raw bytes") as target:
        url = target.url
        http = client()
        response = await http.request("GET", url, (), None)
        await http.close()
    assert response.body == b"raw bytes"


# --- the pool of idle connections --------------------------------------------------------------


async def test_idle_connections_are_kept_up_to_the_bound_per_target() -> None:
    async with keeping_alive(hold=True) as server:
        http = client()
        port = url_port(server.url)
        burst = [
            asyncio.create_task(http.request("POST", server.url, (), b"x"))
            for _ in range(MAX_IDLE_PER_TARGET + 3)
        ]
        await until(lambda: len(server.requests) == len(burst), "every request in")
        server.release.set()
        assert [r.status for r in await asyncio.gather(*burst)] == [204] * len(burst)
        assert server.connections == MAX_IDLE_PER_TARGET + 3
        assert http.idle("http", "127.0.0.1", port) == MAX_IDLE_PER_TARGET
        await until(lambda: server.closed == 3, "the three beyond the bound closed")
        # The ones kept are used again: no new connection.
        await http.request("POST", server.url, (), b"x")
        assert server.connections == MAX_IDLE_PER_TARGET + 3
        await http.close()
        await until(lambda: server.closed == server.connections, "every connection closed")


async def test_an_idle_connection_is_closed_once_it_expires() -> None:
    async with keeping_alive() as server:
        http = Http1Client(allow=lambda a: a == "127.0.0.1", response_cap=1024, idle_expiry=0.2)
        assert (await http.request("POST", server.url, (), b"x")).status == 204
        await until(lambda: server.closed == 1, "the idle connection closed by the client")
        assert http.idle("http", "127.0.0.1", url_port(server.url)) == 0
        assert (await http.request("POST", server.url, (), b"x")).status == 204
        assert server.connections == 2  # a new one, not the expired one
        await http.close()


async def test_https_targets_share_the_tls_context_asked_for_once(tmp_path: Path) -> None:
    """Every connection, to either of two https targets, uses the one context the client
    asked for (it was asked again per target, and before that per connection)."""
    made: list[ssl.SSLContext] = []

    def context(verify: bool) -> ssl.SSLContext:
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
    assert len(made) == 1


async def bare_lf_exchange(answer: bytes) -> object:
    """What ``Http1Client`` makes of ``answer`` from a target that then closes: the
    response, or the exception it raised."""
    from whrelay.relay.http1 import Http1Client

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/h"
    http = Http1Client(allow=lambda address: True, response_cap=1 << 20)
    try:
        return await http.request("GET", url, (), None)
    except Exception as error:
        return error
    finally:
        await http.close()
        server.close()
        await server.wait_closed()


MiB = 1 << 20


def http_client() -> Http1Client:
    return Http1Client(allow=lambda address: address == "127.0.0.1", response_cap=MiB)


# --- 2. Negative or non-hex framing in a target's answer -----------------------------------------

NEGATIVE_LENGTH = b"HTTP/1.1 500 X\r\nContent-Length: -1\r\n\r\n"

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

NEGATIVE_CHUNK = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n"

# --- the third round: a diff review and a delivery-under-adversity run ---------------------


async def test_a_request_lost_on_a_kept_alive_connection_is_not_sent_again_silently() -> None:
    """The target reads the second request on a kept-alive connection, then drops it: that
    is an attempt that failed (the app may have run), not something to resend unrecorded."""
    from whrelay.relay.http1 import Http1Client

    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number in (1, 2):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            received.append(await reader.readexactly(length))
            if number == 1:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        writer.close()  # the app crashed on the second

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/h"
    http = Http1Client(allow=lambda address: True, response_cap=1 << 20)
    try:
        assert (await http.request("POST", url, (), b"first")).status == 200
        with pytest.raises(asyncio.IncompleteReadError):
            await http.request("POST", url, (), b"second")
    finally:
        await http.close()
        server.close()
        await server.wait_closed()
    assert received == [b"first", b"second"]  # the second went out once


async def test_an_answer_with_bare_lf_lines_is_read() -> None:
    """RFC 9112 lets a recipient take LF for CRLF; a small server that writes LF and closes
    answered, and is not to be retried as 'reset' for a day."""
    from whrelay.relay.http1 import ProtocolError, Response

    answer = await bare_lf_exchange(b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nokEXTRA")
    assert isinstance(answer, Response)
    assert (answer.status, answer.body) == (200, b"ok")
    assert answer.headers == ((b"Content-Length", b"2"), (b"X-A", b"b"))
    after_continue = await bare_lf_exchange(
        b"HTTP/1.1 100 Continue\n\nHTTP/1.1 500 Oops\nContent-Length: 0\n\n"
    )
    assert isinstance(after_continue, Response) and after_continue.status == 500
    short = await bare_lf_exchange(b"HTTP/1.1 200 OK\nContent-Length: 100\n\nok")
    assert isinstance(short, asyncio.IncompleteReadError)  # recorded as reset, retried
    chunked = await bare_lf_exchange(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n")
    assert isinstance(chunked, ProtocolError)


@pytest.mark.parametrize(
    "answer",
    [
        NEGATIVE_LENGTH,
        NEGATIVE_CHUNK,
        CHUNKED + b"0x10\r\n0123456789abcdef\r\n0\r\n\r\n",
        CHUNKED + b"+5\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["content-length -1", "chunk -1", "chunk 0x10", "chunk +5"],
)
async def test_signed_or_prefixed_framing_is_a_protocol_error(answer: bytes) -> None:
    """A Content-Length or chunk size is digits only (hex digits for a chunk): a sign or a
    ``0x`` prefix (which Python's ``int(text, 16)`` would take) is a ``ProtocolError``."""
    async with canned(answer) as target:
        url = target.url
        http = http_client()
        try:
            with pytest.raises(ProtocolError):
                await asyncio.wait_for(http.request("POST", url, (), b"x"), 10)
        finally:
            await http.close()


# --- 4. One huge chunk and the response cap ------------------------------------------------------


async def test_a_huge_chunk_is_cut_at_the_cap_without_being_read_whole() -> None:
    """A chunked answer made of one 50 MiB chunk, read with a 1 MiB cap: the client returns
    the first 1 MiB, truncated, before the target has managed to write the chunk (it cannot:
    nobody reads it), rather than reading all 50 MiB into memory."""
    size = 50 * MiB
    written_all = asyncio.Event()
    handler_done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % size)
            block = b"x" * (256 * 1024)
            for _ in range(size // len(block)):
                writer.write(block)
                await writer.drain()
            written_all.set()  # before the chunk's CRLF, which any reader must wait for
            writer.write(b"\r\n0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            handler_done.set()

    async with serving_raw(serve) as port:
        http = http_client()
        try:
            response = await asyncio.wait_for(
                http.request("GET", f"http://127.0.0.1:{port}/big", (), None), 60
            )
            returned_before_all_written = not written_all.is_set()
        finally:
            await http.close()
            await asyncio.wait_for(handler_done.wait(), 30)
    assert returned_before_all_written
    assert (response.status, len(response.body), response.truncated) == (200, MiB, True)
    assert response.body == b"x" * MiB


async def test_a_connection_is_never_reused_after_101() -> None:
    """After ``101 Switching Protocols`` the connection speaks another protocol: the next
    request goes on a new connection."""
    switched = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    async with RawServer(answers(switched)) as target:
        http = http_client()
        try:
            one = await asyncio.wait_for(http.request("POST", target.url + "/a", (), b"x"), 10)
            two = await asyncio.wait_for(http.request("POST", target.url + "/a", (), b"x"), 10)
        finally:
            await http.close()
    assert (one.status, two.status) == (101, 200)
    assert [s.connection for s in target.requests] == [1, 2]


async def test_a_connection_made_without_verifying_is_never_reused_for_a_verified_request(
    tmp_path: Path,
) -> None:
    """One https origin reached with ``verify=False`` (a target marked insecure) and then
    with verification (another target there, not marked): the verified request gets a
    connection of its own, and so the certificate check, which fails for a self-signed one;
    it is not sent on the kept-alive connection the unverified one left."""
    keep = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ssl.SSLError):
            while True:
                heads.append(await reader.readuntil(b"\r\n\r\n"))
                writer.write(keep)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=self_signed(tmp_path))
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    http = client()
    try:
        assert (await http.request("GET", url, (), None, verify=False)).body == b"ok"
        assert http.idle("https", "127.0.0.1", url_port(url), verify=False) == 1
        with pytest.raises(ssl.SSLCertVerificationError):
            await http.request("GET", url, (), None)
        assert (await http.request("GET", url, (), None, verify=False)).body == b"ok"
    finally:
        await http.close()
        server.close()
        await server.wait_closed()
    assert len(heads) == 2  # only the unverified requests reached the server


FORWARD_AND_COUNT_FAULTS = """
import asyncio
import resource
import sys

from whrelay.core.allocator import give_back_large_blocks
from whrelay.relay.http1 import Http1Client

async def main(url: str, warm: int, count: int) -> None:
    client = Http1Client(allow=lambda address: address == "127.0.0.1", response_cap=1 << 20)
    verify = not url.startswith("https:")  # the test's own self-signed certificate
    for _ in range(warm):
        await client.request("POST", url, (), b"{}", verify)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(count):
        assert (await client.request("POST", url, (), b"{}", verify)).status == 200
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    await client.close()

assert give_back_large_blocks()  # as listen does
asyncio.run(main(sys.argv[1], 50, int(sys.argv[2])))
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mmap threshold, /proc's counts")
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_reading_answers_takes_no_fresh_memory_from_the_system_each_time(
    tmp_path: Path, scheme: str
) -> None:
    # With listen's fixed mmap threshold, a read buffer of 128 KiB or more is a mapping of
    # its own: a page fault (and mmap, mremap, munmap) for every answer read from a target,
    # over a plain socket or through TLS (which reads the decrypted bytes with its own size).
    # The client runs in a process of its own, so that only its reads are counted.
    count = 300
    tls = self_signed(tmp_path) if scheme == "https" else None
    async with canned(
        *[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"] * (count + 50), ssl_context=tls
    ) as target:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            FORWARD_AND_COUNT_FAULTS,
            target.url.replace("http:", f"{scheme}:", 1),
            str(count),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    faults = int(out)
    assert faults < count // 3, f"{faults} page faults in {count} answers"
