"""The forwarding client (whrelay.relay.http1) against canned responses on loopback: each
test's server writes exact bytes, so the framing the client must read is under control."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from whrelay.relay.http1 import MAX_HEAD, Http1Client, ProtocolError


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
