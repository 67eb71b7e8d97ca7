"""Second review of whrelay/receiver/http.py: each bug it found, pinned by the safe behaviour."""

from __future__ import annotations

import asyncio

from tests.helpers.wait import until
from tests.test_http_review import body_coming, stub_server


async def _answer(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"stored\n"), timeout)
    except (TimeoutError, asyncio.IncompleteReadError) as error:
        return getattr(error, "partial", b"")


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
