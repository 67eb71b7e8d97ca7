"""Raw HTTP/1.x from the client side: requests as exact bytes, one response read off a socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    pass


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
    headers: Sequence[tuple[str, str]],
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
