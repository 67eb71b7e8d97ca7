"""Scripted raw servers on 127.0.0.1, in the test's event loop: they write exact bytes.

``RawServer`` is an HTTP/1.1 target that answers with what the test scripts (framing included,
so a client's reading of odd answers is under control) and records exactly what arrived:
request heads byte for byte, which connection carried each request, which connections the
client closed. ``serving_raw`` runs a handler of the test's own per connection, for what a
script cannot say. ``self_signed`` gives either one a TLS certificate no client trusts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.wait import until

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
"""A plain 200 answer without a body."""


@dataclass
class Seen:
    """One request as it arrived at a ``RawServer``."""

    number: int
    """Arrival order over every connection, from 1."""
    connection: int
    """Which connection carried it (numbered from 1 in accept order)."""
    on_connection: int
    """Its order on that connection, from 1."""
    head: bytes
    """The request line and header lines, up to and including the blank line."""
    body: bytes

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (case-insensitive), bytes as they arrived."""
        for line in self.head[:-4].split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower():
                return value.strip(b" \t")
        return None


Script = Callable[[Seen], bytes]
"""What a ``RawServer`` writes back for one request."""


def answers(*scripted: bytes, then: bytes = OK) -> Script:
    """Answer the n-th request (over every connection) with ``scripted[n - 1]``, and every
    later one with ``then``."""
    return lambda seen: scripted[seen.number - 1] if seen.number <= len(scripted) else then


def per_connection(*scripted: bytes) -> Script:
    """Answer the n-th request on each connection with ``scripted[n - 1]`` (pair it with
    ``close_after=len(scripted)``)."""
    return lambda seen: scripted[seen.on_connection - 1]


@dataclass
class RawServer:
    """An HTTP/1.1 target that writes exact bytes: ``async with RawServer(...) as server``.

    Requests are framed by Content-Length only (whrelay's client always sends one). Each is
    answered with ``script(seen)`` once ``release`` is set (it is from the start unless
    ``hold``). A connection stays open until the client closes it, or until it has carried
    ``close_after`` answers.
    """

    script: Script = field(default=lambda seen: OK)
    ssl_context: ssl.SSLContext | None = None
    close_after: int | None = None
    hold: bool = False
    path: str = ""
    """Appended to ``url`` (``/hook``, say)."""
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    """Connections accepted so far."""
    closed_by_client: set[int] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def bodies(self) -> list[bytes]:
        return [seen.body for seen in self.requests]

    @property
    def closed(self) -> int:
        """How many connections the client closed."""
        return len(self.closed_by_client)

    @property
    def heads(self) -> list[bytes]:
        return [seen.head for seen in self.requests]

    async def __aenter__(self) -> RawServer:
        if not self.hold:
            self.release.set()
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        connection = self.connections
        on_connection = 0
        try:
            while self.close_after is None or on_connection < self.close_after:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as error:
                    if not error.partial:
                        self.closed_by_client.add(connection)
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                on_connection += 1
                seen = Seen(len(self.requests) + 1, connection, on_connection, head, body)
                self.requests.append(seen)
                await self.release.wait()
                writer.write(self.script(seen))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            self.closed_by_client.add(connection)
        finally:
            writer.close()
            self._handlers.discard(task)

    async def wait_for(self, count: int, timeout: float = 10) -> list[Seen]:
        """Wait until ``count`` requests have arrived; return them all."""
        await until(lambda: len(self.requests) >= count, f"{count} requests", timeout)
        return list(self.requests)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving_raw(handler: Handler) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running ``handler`` per connection; yields its port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (one no client
    trusts by default: the usual local https development set-up)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def canned(*scripted: bytes, ssl_context: ssl.SSLContext | None = None) -> RawServer:
    """A ``RawServer`` at ``/hook`` that answers the n-th request on each connection with
    ``scripted[n - 1]`` and closes the connection after the last."""
    return RawServer(
        per_connection(*scripted),
        ssl_context=ssl_context,
        close_after=len(scripted),
        path="/hook",
    )


def keeping_alive(
    answer: bytes = b"HTTP/1.1 204 No Content\r\n\r\n", hold: bool = False
) -> RawServer:
    """A ``RawServer`` at ``/hook`` that answers every request ``answer`` and keeps the
    connection; with ``hold``, answers wait until ``release`` is set."""
    return RawServer(lambda seen: answer, hold=hold, path="/hook")
