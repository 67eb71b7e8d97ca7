"""A lean HTTP/1.1 client for forwarding: keep-alive connections per target, the request
written exactly as given, the response read with a cap.

Forwarding is whrelay's busiest client path, and a general-purpose client costs several
times the CPU of the request itself. This one does only what forwarding needs: one request
at a time per connection, headers written byte for byte (names and values exactly as
stored, in order), bodies framed by Content-Length, responses framed by Content-Length,
chunked encoding or the end of the connection, strictly (two different lengths, or a chunk
not followed by CRLF, are a ``ProtocolError``: guessing would read one answer's bytes as
another's). Idle connections are pooled per target, a few and for a few seconds; https
targets share a TLS context, asked for once (one that verifies their certificates, or, for
those asked for with ``verify=False``, one that does not: their connections are never pooled
together). Before
dialling, every address is checked by ``allow`` (the loopback policy), so a refused address
is never contacted.
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

from whrelay.core.tls import client_context

MAX_HEAD = 256 * 1024
"""Bytes of response status line and headers read at the most."""
MAX_IDLE_PER_TARGET = 8
"""Kept-alive connections kept per target (scheme, host and port) while idle, at the most:
as many as a target's lane sends at once. One more is closed, the oldest first."""
IDLE_EXPIRY = 4.0
"""Seconds an idle kept-alive connection is kept; then it is closed. Under the 5 s after
which Node.js servers close theirs, so that a request is seldom sent on a connection the
target is closing."""
JOIN_UP_TO = 64 * 1024
"""Request bodies up to this many bytes are sent joined to the head, in one write; larger
ones are written after it from the stored bytes, without a copy of their own."""
READ_SIZE = 64 * 1024
"""Bytes asked of the socket at each read of an answer (asyncio's transports ask 256 KiB). A
request for 128 KiB or more is a mapping of its own for the C allocator, whose threshold
``listen`` fixes there (``whrelay.core.allocator``): one ``mmap``, ``mremap`` and ``munmap``
and a fresh page for every answer read. Under it, the read buffer comes from the heap and
is reused. Answers are small; a large one takes a few more reads."""
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


@dataclass(slots=True, eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    expiry: asyncio.TimerHandle | None = None
    """While idle in the pool: when it is closed."""

    def close(self) -> None:
        self.taken()
        self.writer.close()

    def taken(self) -> None:
        """Out of the pool (to be used, or closed): no longer expires."""
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None

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


_Target = tuple[str, str, int, bool]
"""Scheme, host, port and whether the certificate is verified: what a pooled connection (and
a TLS context) is for."""


@dataclass
class Http1Client:
    allow: Callable[[str], bool]
    """Whether an IP address may be connected to."""
    response_cap: int
    connect_timeout: float = 10.0
    max_idle: int = MAX_IDLE_PER_TARGET
    """Idle kept-alive connections kept per target."""
    idle_expiry: float = IDLE_EXPIRY
    """Seconds an idle connection is kept before it is closed."""
    tls_context: Callable[[bool], ssl.SSLContext] = client_context
    """Gives the TLS context https targets are dialled with, verifying their certificates or
    not: asked once for each, not per target or per connection (``client_context`` builds
    each once per process: loading the system's certificates takes milliseconds)."""
    _idle: dict[_Target, list[_Connection]] = field(default_factory=dict)
    _tls: dict[bool, ssl.SSLContext] = field(default_factory=dict)
    """The context asked for, by whether it verifies."""

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def idle(self, scheme: str, host: str, port: int, verify: bool = True) -> int:
        """How many idle connections to this target are kept."""
        return len(self._idle.get((scheme, host, port, verify), ()))

    def _keep(self, key: _Target, connection: _Connection) -> None:
        """Pool a connection that can carry another exchange: the freshest ``max_idle`` are
        kept, each for ``idle_expiry`` seconds."""
        idle = self._idle.setdefault(key, [])
        idle.append(connection)
        while len(idle) > self.max_idle:
            idle.pop(0).close()
        connection.expiry = asyncio.get_running_loop().call_later(
            self.idle_expiry, self._expire, key, connection
        )

    def _expire(self, key: _Target, connection: _Connection) -> None:
        connection.expiry = None
        idle = self._idle.get(key, [])
        if connection in idle:
            idle.remove(connection)
            if not idle:
                del self._idle[key]
        connection.close()

    async def request(
        self,
        method: str,
        url: str,
        headers: tuple[tuple[bytes, bytes], ...],
        body: bytes | None,
        verify: bool = True,
    ) -> Response:
        """Send one request; ``verify=False``: an https target's certificate is not checked."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # The request target exactly as the URL carries it after its origin, a fragment
        # included (a sender's '/a#b' is forwarded as it was received).
        origin = f"{parts.scheme}://{parts.netloc}"
        target = url[len(origin) :] if url.startswith(origin) else ""
        target = target or "/"
        host_header = parts.netloc.encode("latin-1")
        lines = []
        for name, value in headers:
            if name.lower() == b"host":  # given (-H 'Host: x'): in place of the URL's
                host_header = value
            else:
                lines.append(name + b": " + value + b"\r\n")
        head = [f"{method} {target} HTTP/1.1\r\nHost: ".encode("latin-1"), host_header, b"\r\n"]
        head += lines
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
        key = (parts.scheme, host, port, verify)
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            connection.taken()
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
        connection = await self._connect(key)
        try:
            return await self._exchange(key, connection, method, payload)
        except BaseException:
            connection.close()
            raise

    async def _connect(self, key: _Target) -> _Connection:
        scheme, host, port, verify = key
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            allowed = [info for info in infos if self.allow(str(info[4][0]))]
            if not allowed:
                address = str(infos[0][4][0]) if infos else host
                raise BlockedAddressError(
                    f"{address} is not a loopback address (use --allow-remote)"
                )
            tls = None
            if scheme == "https":
                tls = self._tls.get(verify) or self._tls.setdefault(
                    verify, self.tls_context(verify)
                )
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
                _read_at_most(writer.transport, READ_SIZE)
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
        if method == "HEAD" or status in (204, 304) or status < 200:
            return Response(status, headers, b"", False)
        framing = _framing(headers)
        if framing.chunked:
            raise ProtocolError("a chunked answer with bare-LF line endings")
        if framing.length is not None:
            if len(rest) < framing.length:
                raise asyncio.IncompleteReadError(received, None)  # cut short
            rest = rest[: framing.length]
        cap = self.response_cap
        return Response(status, headers, rest[:cap], len(rest) > cap)

    async def _exchange(
        self,
        key: _Target,
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
        keep = (
            version == b"HTTP/1.1"
            and status != 101
            and not any(
                name.lower() == b"connection" and b"close" in value.lower()
                for name, value in headers
            )
        )
        cap = self.response_cap
        truncated = False
        framing = _Framing()
        if method == "HEAD" or status in (204, 304) or status < 200:
            body = b""
        elif (framing := _framing(headers)).chunked:
            body, truncated = await _read_chunked(reader, cap)
        elif framing.length is not None:
            if framing.length > cap:
                body, truncated = await reader.readexactly(cap), True
            else:
                body = await reader.readexactly(framing.length)
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
        if keep and framing.reusable and not truncated and connection.reusable():
            self._keep(key, connection)
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


@dataclass(frozen=True, slots=True)
class _Framing:
    """How a response's body is delimited (RFC 9112 6.3)."""

    chunked: bool = False
    length: int | None = None
    """From ``Content-Length``; ``None`` with neither: the body ends with the connection."""
    reusable: bool = True
    """Whether the framing lets the connection carry another exchange."""


def _framing(headers: tuple[tuple[bytes, bytes], ...]) -> _Framing:
    """Strictly: a ``Content-Length`` that is not digits, or two that differ (``2`` then
    ``9``, or ``2, 9``), is a ``ProtocolError``; the same value repeated is that value. A
    ``Transfer-Encoding`` overrides any length: chunked when that is its final coding, else
    the body runs to the end of the connection; either way, with a length beside it (a
    smuggling sign), the connection is not used again."""
    codings: list[bytes] = []
    lengths: set[int] = set()
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            codings += [c.strip().lower() for c in value.split(b",") if c.strip()]
        elif lowered == b"content-length":
            for item in value.split(b","):
                digits = item.strip(b" \t")
                if not digits.isdigit():  # bytes: ASCII digits only, so no sign
                    raise ProtocolError(f"bad Content-Length {value[:40]!r}")
                lengths.add(int(digits))
    if codings:
        return _Framing(chunked=codings[-1] == b"chunked", reusable=not lengths)
    if len(lengths) > 1:
        shown = ", ".join(str(n) for n in sorted(lengths))
        raise ProtocolError(f"Content-Length given with different values: {shown}")
    return _Framing(length=lengths.pop() if lengths else None)


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
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("a chunk not followed by CRLF")


def _read_at_most(transport: asyncio.BaseTransport, size: int) -> None:
    """Make ``transport`` read ``size`` bytes at a time (see ``READ_SIZE``): a plain socket's
    transport, or, over TLS, the protocol that reads the decrypted bytes (CPython's
    ``_ssl_protocol``: private, so only where it is found; elsewhere reads stay as they are)."""
    readers: tuple[object, ...] = (transport, getattr(transport, "_ssl_protocol", None))
    for reader in readers:
        if reader is not None and isinstance(getattr(reader, "max_size", None), int):
            setattr(reader, "max_size", size)  # noqa: B010 - a private attribute, if there
