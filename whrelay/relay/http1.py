"""A lean HTTP/1.1 client for forwarding: keep-alive connections per target, the request
written exactly as given, the response read with a cap.

Forwarding is whrelay's busiest client path, and a general-purpose client costs several
times the CPU of the request itself. This one does only what forwarding needs: one request
at a time per connection, headers written byte for byte (names and values exactly as
stored, in order), bodies framed by Content-Length, responses framed by Content-Length,
chunked encoding or the end of the connection. Before dialling, every address is checked
by ``allow`` (the loopback policy), so a refused address is never contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD = 256 * 1024
"""Bytes of response status line and headers read at the most."""
JOIN_UP_TO = 64 * 1024
"""Request bodies up to this many bytes are sent joined to the head, in one write; larger
ones are written after it from the stored bytes, without a copy of their own."""
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BlockedAddressError(OSError):
    """The connection would have gone to an address the loopback policy forbids."""


class ProtocolError(Exception):
    """The target's response is not HTTP/1.x as this client reads it."""


@dataclass(slots=True)
class Response:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    truncated: bool


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()

    def reusable(self) -> bool:
        """Whether the connection can carry another request: open, and with no bytes waiting
        (what a target sent beyond its answer would be read as the next answer)."""
        reader = self.reader
        return not (reader.at_eof() or self.writer.is_closing() or _buffered(reader))


def _buffered(reader: asyncio.StreamReader) -> int:
    """Bytes received and not yet read. ``StreamReader`` keeps them in ``_buffer`` (CPython
    3.11 to 3.14); were that ever to change, a connection is reused on the other checks."""
    buffer = getattr(reader, "_buffer", b"")
    return len(buffer) if isinstance(buffer, bytes | bytearray) else 0


@dataclass
class Http1Client:
    allow: Callable[[str], bool]
    """Whether an IP address may be connected to."""
    response_cap: int
    connect_timeout: float = 10.0
    _idle: dict[tuple[str, str, int], list[_Connection]] = field(default_factory=dict)

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def request(
        self, method: str, url: str, headers: tuple[tuple[bytes, bytes], ...], body: bytes | None
    ) -> Response:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # The request target exactly as the URL carries it after its origin, a fragment
        # included (a sender's '/a#b' is forwarded as it was received).
        origin = f"{parts.scheme}://{parts.netloc}"
        target = url[len(origin) :] if url.startswith(origin) else ""
        target = target or "/"
        head = [f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")]
        for name, value in headers:
            head.append(name + b": " + value + b"\r\n")
        if body is not None:
            head.append(b"Content-Length: %d\r\n" % len(body))
        head.append(b"\r\n")
        payload: tuple[bytes | memoryview, ...]
        if body is not None and len(body) > JOIN_UP_TO:
            # Written after the head as it is: joined to it, the body would be copied, and
            # copied again in slices (a bytes slice is a copy) as the socket took it.
            payload = (b"".join(head), memoryview(body))
        else:
            payload = (b"".join(head) + (body or b""),)  # one write, one packet
        key = (parts.scheme, host, port)
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.reusable():  # closed by the target while idle: the next one
                connection.close()
                continue
            # A request sent on a kept-alive connection that then fails is not sent again
            # here: the target may have received it (an app that crashed mid-request), and
            # a second send must be an attempt of its own, recorded, not a silent duplicate.
            try:
                return await self._exchange(key, connection, method, payload)
            except BaseException:
                connection.close()
                raise
        connection = await self._connect(parts.scheme, host, port)
        try:
            return await self._exchange(key, connection, method, payload)
        except BaseException:
            connection.close()
            raise

    async def _connect(self, scheme: str, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            allowed = [info for info in infos if self.allow(str(info[4][0]))]
            if not allowed:
                address = str(infos[0][4][0]) if infos else host
                raise BlockedAddressError(
                    f"{address} is not a loopback address (use --allow-remote)"
                )
            tls = ssl.create_default_context() if scheme == "https" else None
            last: OSError | None = None
            for family, _, proto, _, sockaddr in allowed:
                try:
                    reader, writer = await asyncio.open_connection(
                        str(sockaddr[0]),
                        int(sockaddr[1]),
                        family=family,
                        proto=proto,
                        ssl=tls,
                        server_hostname=host if tls else None,
                        limit=MAX_HEAD,
                    )
                except OSError as error:
                    last = error
                    continue
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return _Connection(reader, writer)
            assert last is not None
            raise last

    def _bare_lf(self, connection: _Connection, method: str, received: bytes) -> Response:
        """An answer whose lines end in a bare LF (RFC 9112 lets a recipient accept them),
        from a target that then closed the connection: all of it is in ``received``."""
        connection.close()
        rest = received
        while True:
            head, separator, rest = rest.partition(b"\n\n")
            if not separator:
                raise asyncio.IncompleteReadError(received, None)
            lines = head.replace(b"\r\n", b"\n").split(b"\n")
            try:
                status = int(lines[0].split(b" ", 2)[1])
            except (IndexError, ValueError):
                raise ProtocolError(f"bad status line {lines[0][:60]!r}") from None
            if status >= 200 or status == 101:
                break  # 1xx heads precede the real answer
        headers = _parse_headers(b"\r\n".join(line.rstrip(b"\r") for line in lines[1:]))
        lowered = {name.lower(): value for name, value in headers}
        if method == "HEAD" or status in (204, 304) or status < 200:
            return Response(status, headers, b"", False)
        if b"chunked" in lowered.get(b"transfer-encoding", b"").lower():
            raise ProtocolError("a chunked answer with bare-LF line endings")
        declared = lowered.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise ProtocolError(f"bad Content-Length {declared[:40]!r}")
            if len(rest) < int(declared):
                raise asyncio.IncompleteReadError(received, None)  # cut short
            rest = rest[: int(declared)]
        cap = self.response_cap
        return Response(status, headers, rest[:cap], len(rest) > cap)

    async def _exchange(
        self,
        key: tuple[str, str, int],
        connection: _Connection,
        method: str,
        payload: tuple[bytes | memoryview, ...],
    ) -> Response:
        for part in payload:  # not writelines, which joins them
            connection.writer.write(part)
        reader = connection.reader
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")  # the reader's limit: MAX_HEAD
            except asyncio.LimitOverrunError:
                raise ProtocolError("response headers too large") from None
            except asyncio.IncompleteReadError as error:
                if b"\n\n" not in error.partial:
                    raise
                return self._bare_lf(connection, method, error.partial)
            status_line, _, fields = head[:-4].partition(b"\r\n")
            try:
                version, status_text = status_line.split(b" ", 2)[:2]
                status = int(status_text)
            except ValueError:
                raise ProtocolError(f"bad status line {status_line[:60]!r}") from None
            headers = _parse_headers(fields)
            if status >= 200 or status == 101:
                break  # 1xx (100 Continue, 103 Early Hints) precede the real answer
        lowered = {name.lower(): value for name, value in headers}
        keep = (
            version == b"HTTP/1.1"
            and status != 101
            and b"close" not in lowered.get(b"connection", b"").lower()
        )
        cap = self.response_cap
        truncated = False
        if method == "HEAD" or status in (204, 304) or status < 200:
            body = b""
        elif b"chunked" in lowered.get(b"transfer-encoding", b"").lower():
            body, truncated = await _read_chunked(reader, cap)
        elif b"content-length" in lowered:
            declared = lowered[b"content-length"].strip()
            if not declared.isdigit():  # bytes: ASCII digits only, so no sign
                raise ProtocolError(f"bad Content-Length {declared[:40]!r}")
            length = int(declared)
            if length > cap:
                body, truncated = await reader.readexactly(cap), True
            else:
                body = await reader.readexactly(length)
        else:
            body = await reader.read(cap + 1)
            while len(body) <= cap:
                more = await reader.read(cap + 1 - len(body))
                if not more:
                    break
                body += more
            truncated = len(body) > cap
            body = body[:cap]
            keep = False
        if keep and not truncated and connection.reusable():
            self._idle.setdefault(key, []).append(connection)
        else:
            connection.close()
        return Response(status, headers, body, truncated)


def _parse_headers(fields: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """The header lines of a response head (without its status line and blank line)."""
    headers: list[tuple[bytes, bytes]] = []
    for line in fields.split(b"\r\n") if fields else ():
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError(f"bad header line {line[:60]!r}")
        headers.append((name, value.strip(b" \t")))
    return tuple(headers)


async def _skip_trailers(reader: asyncio.StreamReader) -> None:
    """Read past a chunked body's trailer fields, up to the blank line that ends them."""
    size = 0
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        size += len(line)
        if size > MAX_HEAD:
            raise ProtocolError("response trailers too large")


async def _read_chunked(reader: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size_text = size_line.split(b";", 1)[0].strip(b" \t\r\n")
        if not _HEX.fullmatch(size_text):
            raise ProtocolError(f"bad chunk size {size_text[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            await _skip_trailers(reader)
            return bytes(body), False
        room = cap - len(body)
        if size > room:
            # Only what fits is read: the rest is left unread and the connection closes.
            body += await reader.readexactly(room)
            return bytes(body), True
        body += await reader.readexactly(size)
        await reader.readexactly(2)
