"""HTTP/1.1 for the receiver: aiohttp's C request parser under a small asyncio protocol.

The receiver used to be served by ``aiohttp.web``. Every path is a webhook and every answer is
a few bytes, so that framework's request and response objects did nothing but cost time:
measured in ``bench/ingest.py``, serving a bare handler through them took about three times
as long per request as this module does. What is kept from aiohttp is the part that matters
for safety, its parser (llhttp, in strict mode), with the hardening it adds: duplicate
``Content-Length``, ``Content-Length`` with ``Transfer-Encoding``, a missing ``Host``, NUL
bytes, over-long lines and too many headers are all refused there, and bodies are de-chunked
and flow-controlled by its ``StreamReader``.

What is ours: answers leave a connection in the order its requests came (pipelining),
keep-alive, the idle and body timeouts, the body size limit, ``Expect: 100-continue``, and
writing the answer. The webhook logic is the ``Handler``'s (``whrelay.receiver.app``), which
sees only ``Request`` and ``Response`` values, never a socket.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol

# These reach into aiohttp's internals (BaseProtocol's private flow control, the parser's
# constructor and results), which change between releases: what is used here is listed in
# aiohttp_internals.NEEDED, checked by ``listen`` before this module is imported, and
# pyproject.toml bounds aiohttp to the releases tested. Using more of them: add it there.
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http import HttpProcessingError, HttpRequestParser, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader

from whrelay import __version__
from whrelay.core.defaults import body_budget
from whrelay.core.errors import say
from whrelay.core.models import encode_header, now_micros
from whrelay.core.timeparse import size_text

MAX_LINE = 8190
"""Longest request target, header name and header value, in bytes (aiohttp's limits apply
to each of them, not to whole lines; 8190 is its default and nginx's)."""
MAX_HEADERS = 128
READ_CHUNK = 1 << 16
"""Body bytes buffered before reading from the socket pauses (flow control)."""
MAX_PIPELINED = 16
"""Requests parsed ahead of the one being answered, at most; then reading pauses."""
LINGER = 2.0
"""Seconds a connection closed on a body it did not read goes on reading (and dropping)
what the client still sends, so that the client reads the answer rather than a reset."""
CUT_OFF_WAIT = 1.0
"""Seconds the handlers cut off at shutdown get to record what they were doing."""
BUDGET_WAIT = 5.0
"""Seconds a body waits for room in the in-flight budget (unread: the sender is held back by
TCP) before its sender gets 503 with ``Retry-After``."""
SERVER = f"whrelay/{__version__}".encode()
_NO_BODY = frozenset({204, 304})
_QUOTED = re.compile(r":\s*(?:bytearray\()?b?['\"]")
"""Where a parser error starts quoting the request back."""
_VERSION_REFUSED = "Invalid HTTP version"
_VERSION = re.compile(r" HTTP/([0-9]{1,3})\.([0-9]{1,3})")


def _refused_version(message: str) -> tuple[int, int] | None:
    """The version of a request line the parser refused for its version, from its message
    (``Invalid HTTP version``, then the line quoted: its last ``HTTP/x.y`` is the version;
    one in the path comes before it). ``None`` for any other refusal."""
    if _VERSION_REFUSED not in message:
        return None
    quoted = message.partition(_VERSION_REFUSED)[2]
    found = _VERSION.findall(quoted.split("\n\n", 1)[-1].split("\n", 1)[0])
    return (int(found[-1][0]), int(found[-1][1])) if found else None


LOCALHOST = "localhost"
IPV4_LOOPBACK = "127.0.0.1"
IPV6_LOOPBACK = "::1"
ACCEPT_RETRY = 1.0
"""Seconds accepting pauses after a failed ``accept()`` (out of file descriptors, say)."""
ACCEPT_REPORT_INTERVAL = 10.0
"""Seconds between two reports of connections that could not be accepted."""


@dataclass(slots=True)
class Request:
    """One request as received: the target, headers and body bytes exactly as sent."""

    method: str
    target: str
    """The request target as sent: ``/path?query``, or an absolute URL, ``*``, ``host:port``."""
    version: tuple[int, int]
    headers: tuple[tuple[bytes, bytes], ...]
    remote: str | None
    received_at: int
    """When its headers were complete: UTC, microseconds since the epoch."""
    has_body: bool
    """Whether it framed a body at all (``Content-Length``, even 0, or chunked)."""
    body: bytes | None = None
    """Set once the whole body is read; ``None`` when no body was framed."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "text/plain; charset=utf-8"
    headers: Sequence[tuple[str, str]] = ()
    close: bool = False
    """Close the connection after this answer."""
    unknown_length: bool = False
    """For ``HEAD``: only a ``Content-Length`` among ``headers`` (a proxied target's) tells the
    body's length; without a valid one, none is sent rather than a wrong one."""


def plain(
    status: int, message: str, *, close: bool = False, headers: Sequence[tuple[str, str]] = ()
) -> Response:
    """A one-line text answer."""
    return Response(status, message.encode() + b"\n", headers=headers, close=close)


def refuse(
    handler: Handler,
    request: Request,
    status: int,
    message: str,
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    """A refusal, told to ``handler.refused``; the connection closes after it."""
    handler.refused(status, message, request.method, request.target)
    return plain(status, message, close=True, headers=headers)


class Handler(Protocol):
    """What the server asks of the application."""

    def early(self, request: Request) -> Response | None:
        """An answer given from the head alone, before the body is read (a refusal), or
        ``None`` to read the body and ``handle`` the request."""

    async def handle(self, request: Request) -> Response:
        """The answer to a request whose body has been read."""

    def refused(self, status: int, message: str, method: str, target: str) -> None:
        """Told of every request this module refuses itself (too large, too slow, malformed)."""


class BodyBudget:
    """Bytes of request bodies held at once, across every connection: from when a body starts
    to be read until its request is answered (stored and, in proxy mode, forwarded). A body
    that would take the total over ``limit`` waits, unread, for others to finish. Memory then
    grows with the budget, not with the number of senders."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take(self, size: int) -> None:
        """Count ``size`` bytes that are in memory already (they came with the head)."""
        self.used += size

    async def reserve(self, size: int, wait: float) -> bool:
        """Room for ``size`` more bytes, waiting up to ``wait`` seconds; whether it came. A
        body alone is always let in, however large (``--max-body`` bounds it)."""
        if self.used + size <= self.limit or self.used == 0:
            self.used += size
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self.used + size > self.limit and self.used > 0:
            left = deadline - loop.time()
            if left <= 0:
                return False
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(left):
                    await waiter
            except TimeoutError:
                return False
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.used += size
        return True

    def release(self, size: int) -> None:
        self.used -= size
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class Limits:
    max_body: int
    """Bytes; a larger body gets 413 and the connection is closed."""
    read_timeout: float
    """Seconds to read a request's body, from when its turn comes (at once but for pipelined
    requests); 0 for none."""
    idle_timeout: float
    """Seconds a connection may sit without a request being answered, headers being
    trickled in included."""
    body_budget: int = 0
    """Bytes of bodies held at once across connections (``BodyBudget``); 0: four times
    ``max_body``, and at least 16 MiB."""

    @property
    def budget(self) -> int:
        return body_budget(self.max_body, self.body_budget)


class AcceptErrors:
    """Connections that could not be accepted (out of file descriptors or memory), said in
    one line at most per ``interval``: when it starts, then with a count while it goes on,
    and when a connection is accepted again (at the first accept once an interval passed
    since the last line, so that a server at its limit does not flap in the log)."""

    def __init__(self, interval: float = ACCEPT_REPORT_INTERVAL) -> None:
        self.interval = interval
        self.failing_since: float | None = None
        self.failed = 0
        """Failed accepts since the last line."""
        self.total = 0
        """Failed accepts since they started."""
        self._last_line = -interval

    def failure(self, error: OSError) -> None:
        now = time.monotonic()
        self.failed += 1
        self.total += 1
        if self.failing_since is None:
            self.failing_since = now
        if now < self._last_line + self.interval:
            return
        why = error.strerror or str(error)
        if self.total == self.failed:
            say(
                f"cannot accept connections: {why}; they wait, and are tried again every "
                f"{ACCEPT_RETRY:g} s (if it lasts: raise the limit, ulimit -n)"
            )
        else:
            say(
                f"still cannot accept connections: {why} ({self.failed} failed accepts in "
                f"the last {now - self._last_line:.0f} s)"
            )
        self.failed = 0
        self._last_line = now

    def accepted(self) -> None:
        """A connection was accepted: said, if it ends a spell of failures."""
        now = time.monotonic()
        if self.failing_since is None or now < self._last_line + self.interval:
            return
        lasted = now - self.failing_since
        say(f"accepting connections again ({self.total} failed accepts over {lasted:.0f} s)")
        self.failing_since = None
        self.failed = self.total = 0
        self._last_line = now


class HttpServer:
    """Serves a ``Handler`` on TCP sockets: ``await start(...)``, then ``await stop()``.

    It accepts connections itself rather than through ``loop.create_server``: asyncio logs
    each failed ``accept()`` with a traceback, and on running out of descriptors (``EMFILE``)
    goes on through the whole backlog, scheduling a retry of the listening socket for each
    failure, which schedule more in turn (up to Python 3.14 at least): 24,846 tracebacks in
    20 s, and a loop busy with them. Here a failure pauses accepting for ``ACCEPT_RETRY``
    seconds, once, and ``AcceptErrors`` reports it; clients meanwhile wait in the backlog."""

    def __init__(self, handler: Handler, limits: Limits) -> None:
        self.handler = handler
        self.limits = limits
        self.connections: set[Connection] = set()
        self.budget = BodyBudget(limits.budget)
        self.accept_errors = AcceptErrors()
        self._sockets: list[socket.socket] = []
        self._paused: dict[socket.socket, asyncio.TimerHandle] = {}
        self._connecting: set[asyncio.Task[object]] = set()
        self._backlog = 1024
        self.unbound: dict[str, str] = {}
        """Addresses ``localhost`` stands for that could not be bound, and why."""

    async def start(self, host: str, port: int, backlog: int = 1024) -> None:
        """Listen on every address ``host`` resolves to (as ``loop.create_server`` does), all
        on one port (``port`` 0: the one the first address got). ``localhost`` is both
        loopback addresses, 127.0.0.1 and ::1, whatever the resolver says: clients differ in
        which one they try first (Node.js 17 and later, curl on some systems: ::1). Where ::1
        cannot be bound (no IPv6), ``unbound`` says why."""
        loop = asyncio.get_running_loop()
        wanted = [host] if host != LOCALHOST else [IPV4_LOOPBACK, IPV6_LOOPBACK]
        self._backlog = backlog
        self.unbound = {}
        try:
            for name in wanted:
                optional = name == IPV6_LOOPBACK and host == LOCALHOST
                try:
                    infos = await loop.getaddrinfo(
                        name or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
                    )
                    for family, kind, proto, _, address in dict.fromkeys(infos):
                        if self._sockets and port == 0:  # the same port on every address
                            address = (address[0], self.port, *address[2:])
                        self._bind(family, kind, proto, address, backlog)
                except OSError as error:
                    if not optional:
                        raise
                    self.unbound[name] = (error.strerror or str(error)).lower()
        except BaseException:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
            raise
        for sock in self._sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    def _bind(
        self, family: int, kind: int, proto: int, address: tuple[Any, ...], backlog: int
    ) -> None:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:  # in asyncio's words, which name the address
                why = (error.strerror or str(error)).lower()
                raise OSError(
                    error.errno, f"error while attempting to bind on address {address!r}: {why}"
                ) from None
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sockets.append(sock)

    def _accept(self, sock: socket.socket) -> None:
        """Accept what waits on ``sock`` (up to a backlog's worth); on a failure, stop
        watching it for ``ACCEPT_RETRY`` seconds."""
        loop = asyncio.get_running_loop()
        for _ in range(self._backlog):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as error:
                self.accept_errors.failure(error)
                loop.remove_reader(sock.fileno())
                self._paused[sock] = loop.call_later(ACCEPT_RETRY, self._resume, sock)
                return
            conn.setblocking(False)
            task: asyncio.Task[object] = loop.create_task(self._connect(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    def _resume(self, sock: socket.socket) -> None:
        del self._paused[sock]
        if sock.fileno() >= 0:
            asyncio.get_running_loop().add_reader(sock.fileno(), self._accept, sock)

    async def _connect(self, conn: socket.socket) -> object:
        loop = asyncio.get_running_loop()
        try:
            return await loop.connect_accepted_socket(lambda: Connection(self, loop), conn)
        except OSError:  # the client went away at once (reset): nothing to serve
            conn.close()
            return None

    @property
    def port(self) -> int:
        assert self._sockets, "start() first"
        return int(self._sockets[0].getsockname()[1])

    async def stop(self, timeout: float) -> None:
        """Stop accepting; answer what is being answered (within ``timeout`` seconds), then
        close every connection. Requests not yet started are not answered: their senders
        send them again."""
        if not self._sockets:
            return
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            if sock not in self._paused:
                loop.remove_reader(sock.fileno())
            sock.close()
        for timer in self._paused.values():
            timer.cancel()
        self._paused.clear()
        self._sockets.clear()
        if self._connecting:  # accepted: let them become connections, to be shut below
            await asyncio.wait(list(self._connecting))
        for connection in list(self.connections):
            connection.shut()
        try:
            async with asyncio.timeout(timeout):
                while self.connections:
                    await asyncio.sleep(0.01)
        except TimeoutError:
            cut = list(self.connections)
            for connection in cut:
                connection.abort()
            # Their handlers are cancelled and waited for while the engine still runs, so
            # what they record on the way out (an interrupted proxy attempt) is committed.
            tasks = [c.task for c in cut if c.task is not None and not c.task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=CUT_OFF_WAIT)


class _Malformed(Exception):
    """The parser refused what followed a request's head (in its body)."""


class _ShuttingDown(Exception):
    """The server stops while a request's body is still coming in."""


class _OverBudget(Exception):
    """No room came in the in-flight budget for the rest of a body."""


class Connection(BaseProtocol):
    """One client connection: parses requests, answers them one after another, in order."""

    def __init__(self, server: HttpServer, loop: asyncio.AbstractEventLoop) -> None:
        parser = HttpRequestParser(
            self,
            loop,
            READ_CHUNK,
            max_line_size=MAX_LINE,
            max_field_size=MAX_LINE,
            max_headers=MAX_HEADERS,
            auto_decompress=False,  # bodies are stored as received
            max_msg_queue_size=1,  # one message per feed_data: an error cannot swallow it
        )
        super().__init__(loop, parser)
        self.parser = parser
        self.server = server
        self.handler = server.handler
        self.limits = server.limits
        self.remote: str | None = None
        self.queue: collections.deque[tuple[RawRequestMessage, StreamReader, int]] = (
            collections.deque()
        )
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        """Answer what is being answered, then close; read nothing more."""
        self.broken_status = 400
        """The answer to what the parser refused: 400, or 505 for another major version."""
        self.broken: str | None = None
        """Why the parser refused the stream; a 400 goes out in turn, then the connection
        closes."""
        self.idle_since: float | None = None
        self.idle_timer: asyncio.TimerHandle | None = None
        self.lingering = False
        """Closed on our side, dropping what the client still sends (see ``_close``)."""
        self.client_done = False
        """The client ended its side: answer what it sent, then close."""
        self.parsing: StreamReader | None = None
        """The body of the request parsed last, which may still be coming in."""
        self.final: StreamReader | None = None
        """The body of a request asking to switch protocols: nothing after it is read."""
        self.held = 0
        """Bytes of the body being answered counted in the server's ``BodyBudget``."""

    # --- asyncio's side ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self.server.connections.add(self)
        if self.server.accept_errors.failing_since is not None:
            self.server.accept_errors.accepted()
        self._went_idle()

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.server.connections.discard(self)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        gone = ConnectionResetError("the client closed the connection")
        self._fail_open_body(gone)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.broken is not None:
            return  # after an answer that closes the connection, nothing more is read
        if self.final is not None and self.final.is_eof():
            return  # the rest of a connection asking for another protocol is not read
        got = False
        while self.final is None or not self.final.is_eof():
            # The parser stops after each request it completes (max_msg_queue_size=1), so a
            # refusal of what follows cannot swallow a request parsed from the same read.
            current = self.parsing
            open_body = current is not None and not current.is_eof()
            self.parser.message_consumed()
            try:
                messages, upgraded, _ = self.parser.feed_data(data)
            except HttpProcessingError as error:
                self._malformed(error)
                return
            data = b""
            if not messages:
                if (
                    open_body
                    and current is not None
                    and current.is_eof()
                    and not self._reading_paused
                ):
                    continue  # it stopped at the end of that body: go on with the rest
                break
            got = True
            received_at = now_micros()
            for message, payload in messages:
                self.queue.append((message, payload, received_at))
                self.parsing = payload
                if message.upgrade or upgraded:
                    # A protocol switch is never granted: that request is read to the end of
                    # its body and answered, then the connection closes.
                    self.final = payload
            if self.final is not None:
                break
            if len(self.queue) >= MAX_PIPELINED:
                self._pause_reading_for_buffer()
                break
            if self._reading_paused:
                break
        if got and self.task is None:
            self.idle_since = None
            self.task = self._loop.create_task(self._work())

    def eof_received(self) -> bool:
        """The client ended its side. Requests it sent in full are still answered (a client
        may half-close after its request); a body it left unfinished is not stored."""
        self.client_done = True
        cut = ConnectionResetError("the client ended the connection before the body did")
        self._fail_open_body(cut)
        return self.task is not None and not self.lingering

    def resume_reading(self, resume_parser: bool = True) -> None:
        # A StreamReader calls this each time it is read from; only a real pause needs the
        # parser run again (on what it held back).
        was_paused = self._reading_paused
        self._reading_paused = False
        # The parser can also have stopped on its own (aiohttp's StreamReader pauses it when
        # many small chunks pile up): while a body is coming in, always let it go on.
        body_open = self.parsing is not None and not self.parsing.is_eof()
        if resume_parser and (was_paused or body_open):
            self.data_received(b"")
        stopped = (self.closing or self.broken is not None) and not self.lingering
        if was_paused and not self._reading_paused and not self._buffer_paused and not stopped:
            self._resume_transport_reading()

    def shut(self) -> None:
        """Finish the answer under way, if any, then close. A body still coming in is not
        waited for: its sender gets 503 (and sends it again)."""
        self.closing = True
        self._pause_transport_reading()
        self._fail_open_body(_ShuttingDown())
        if (self.task is None or self.lingering) and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- answering ---------------------------------------------------------------------------

    async def _work(self) -> None:
        """Answer the queued requests in order; then wait idle for the next."""
        try:
            while self.queue and self.transport is not None:
                message, payload, received_at = self.queue.popleft()
                if self._buffer_paused and len(self.queue) < MAX_PIPELINED // 2:
                    self._buffer_paused = False
                    self.data_received(b"")  # what the parser holds back
                    if not self._buffer_paused:
                        self._resume_reading_for_buffer()
                request, response = await self._answer(message, payload, received_at)
                if response is None:  # the client went away before its body was complete
                    self.abort()
                    return
                if self.transport is None:
                    return
                unread = payload is not EMPTY_PAYLOAD and not payload.is_eof()
                close = (
                    response.close
                    or unread
                    or message.should_close
                    or message.upgrade
                    or payload is self.final
                    or self.closing
                    or (self.client_done and not self.queue)
                    # HTTP/1.0 has no chunked coding: whatever follows may be framed otherwise
                    # by anything in between, so it is not read (RFC 9112 6.1).
                    or (message.chunked and request.version == (1, 0))
                )
                self.transport.write(_serialize(request, response, close))
                if close:
                    self._close(linger=unread)
                    return
                if self._paused:  # the client is not reading its answers
                    async with asyncio.timeout(self.limits.idle_timeout or None):
                        await self._drain_helper()
            if self.broken is not None and self.transport is not None:
                status, why = self.broken_status, f"{self.broken}; not stored"
                if status == 400:
                    why = "malformed request: " + why
                self.handler.refused(status, why, "", "")
                self.transport.write(_serialize(None, plain(status, why), True))
                self._close(linger=True)
            elif (self.closing or self.client_done) and not self.lingering:
                self._close()
        except (OSError, TimeoutError):  # the connection broke under us (reset, not connected)
            self.abort()
        except Exception as error:  # a bug here: drop this connection, keep serving the rest
            say(f"internal error on a connection: {error!r}")
            self.abort()
        finally:
            self.task = None
            if self.transport is not None and not self.closing and not self.client_done:
                self._went_idle()

    async def _answer(
        self, message: RawRequestMessage, payload: StreamReader, received_at: int
    ) -> tuple[Request, Response | None]:
        try:
            return await self._answer_within_budget(message, payload, received_at)
        finally:
            if self.held:
                self.server.budget.release(self.held)
                self.held = 0

    async def _hold(self, size: int, wait: float) -> bool:
        """Count ``size`` more body bytes in the budget, waiting for room up to ``wait``."""
        if not wait:
            self.server.budget.take(size)
        elif not await self.server.budget.reserve(size, wait):
            return False
        self.held += size
        return True

    async def _answer_within_budget(
        self, message: RawRequestMessage, payload: StreamReader, received_at: int
    ) -> tuple[Request, Response | None]:
        headers = message.headers
        request = Request(
            method=message.method,
            target=message.path,
            version=(message.version.major, message.version.minor),
            headers=message.raw_headers,
            remote=self.remote,
            received_at=received_at,
            has_body="Content-Length" in headers or "Transfer-Encoding" in headers,
        )
        if request.method == "CONNECT":
            # A tunnel request: what follows its head is not HTTP, and is never read.
            return request, self._refuse(request, 400, "CONNECT is not supported; not stored")
        if request.version not in ((1, 1), (1, 0)):
            why = "HTTP/{}.{} is not supported (HTTP/1.1 is); not stored".format(*request.version)
            return request, self._refuse(request, 505, why)
        early = self.handler.early(request)
        if early is not None:
            return request, early
        limit = self.limits.max_body
        length = headers.get("Content-Length")
        if length is not None and int(length) > limit:
            return request, self._too_large(request)
        # Room for a large body in the budget before any of it is read (or 100 Continue sent).
        large = length is not None and int(length) > READ_CHUNK and not payload.is_eof()
        if large and not await self._hold(int(length or 0), BUDGET_WAIT):
            return request, self._over_budget(request)
        expect = headers.get("Expect")
        if expect and request.version >= (1, 1):
            if expect.lower() != "100-continue":
                why = f"unsupported Expect: {expect!r}; not stored"
                return request, self._refuse(request, 417, why)
            if not payload.is_eof() and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            if payload is EMPTY_PAYLOAD:
                body: bytes | None = b""
            elif payload.is_eof():  # the usual case: the body came with the head
                body = payload.read_nowait(-1)
                body = body if len(body) <= limit else None
                if body is not None and not self.held:
                    await self._hold(len(body), 0)
            else:
                body = await self._read_body(payload, limit)
        except _OverBudget:
            return request, self._over_budget(request)
        except _Malformed as error:
            self.broken = None  # answered here, not again after the queue
            return request, self._refuse(request, 400, f"malformed request: {error}; not stored")
        except _ShuttingDown:
            why = "whrelay is shutting down; not stored"
            return request, refuse(self.handler, request, 503, why, (("Retry-After", "5"),))
        except TimeoutError:
            timeout = self.limits.read_timeout
            return request, self._refuse(
                request, 408, f"body not received within {timeout:g} s; not stored"
            )
        except ConnectionError:
            return request, None
        if body is None:
            return request, self._too_large(request)
        request.body = body if body or request.has_body else None
        try:
            return request, await self.handler.handle(request)
        except Exception as error:  # a bug: answered 500, the connection stays usable
            say(f"internal error while receiving a request: {error!r}")
            return request, plain(500, "whrelay: internal error; not acknowledged")

    async def _read_body(self, payload: StreamReader, limit: int) -> bytes | None:
        """The whole body, or ``None`` once it grows over ``limit`` (what came is dropped).
        Bytes beyond what is held in the budget already (a chunked body, or one whose length
        was small) are counted as they come; ``_OverBudget`` when no room comes for them."""
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.limits.read_timeout or None):
            while True:
                chunk = await payload.readany()
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > limit:
                    return None
                if size > self.held and not await self._hold(size - self.held, BUDGET_WAIT):
                    raise _OverBudget
                chunks.append(chunk)

    def _refuse(self, request: Request, status: int, message: str) -> Response:
        return refuse(self.handler, request, status, message)

    def _over_budget(self, request: Request) -> Response:
        budget = size_text(self.server.budget.limit)
        message = (
            f"whrelay holds {budget} of bodies in flight already (--body-budget), and no "
            f"room came within {BUDGET_WAIT:g} s; not stored"
        )
        return refuse(self.handler, request, 503, message, (("Retry-After", "5"),))

    def _too_large(self, request: Request) -> Response:
        limit = size_text(self.limits.max_body)
        message = f"body larger than the {limit} limit (--max-body); not stored"
        return self._refuse(request, 413, message)

    def _malformed(self, error: HttpProcessingError) -> None:
        # The first line is the parser's verdict ("Invalid header value char:"); the next
        # ones quote the request back, which is of no use in a log line.
        lines = (error.message or "").splitlines()
        reason = lines[0] if lines else type(error).__name__
        # "Got more than 8190 bytes when reading: b'AAAA…'": the verdict without the quote.
        reason = _QUOTED.split(reason, maxsplit=1)[0][:200].rstrip(":. ")
        version = _refused_version(error.message or "")
        if version is not None:
            major, minor = version
            if major != 1:  # refusing the major version is what 505 says (RFC 9110 15.6.6)
                self.broken_status = 505
                reason = f"HTTP/{major}.{minor} is not supported (HTTP/1.1 is)"
            else:  # RFC 9112 2.3 would read it as 1.1; llhttp reads only 1.0 and 1.1
                reason = f"HTTP/{major}.{minor} is not HTTP/1.0 or 1.1"
        self.broken = reason
        self._pause_transport_reading()
        self._fail_open_body(_Malformed(reason))
        if self.task is None and self.transport is not None:
            self.idle_since = None
            self.task = self._loop.create_task(self._work())

    def _fail_open_body(self, error: BaseException) -> None:
        """Fail the body still coming in, if any: the parser reads one request at a time, so
        only the last one parsed can be unfinished."""
        if self.parsing is not None and not self.parsing.is_eof():
            self.parsing.set_exception(error)

    def _close(self, linger: bool = False) -> None:
        """Close once the answer is sent. With ``linger``, the client may still be sending a
        body: closing a socket with unread data resets it, and the client would see the reset
        instead of the answer. So send the answer and end our side, drop what still comes, and
        close when the client does, or after ``LINGER`` seconds."""
        self.closing = True
        transport = self.transport
        if transport is None:
            return
        if not linger or not transport.can_write_eof():
            transport.close()
            if transport.get_write_buffer_size():
                # A client that stops reading does not hold the connection open forever.
                self._loop.call_later(self.limits.idle_timeout or LINGER, transport.abort)
            return
        try:
            transport.write_eof()
        except OSError:  # the client reset the connection first (ENOTCONN): nothing to say
            transport.abort()
            return
        self.lingering = True
        self._reading_paused = self._buffer_paused = False
        self._resume_transport_reading()
        self._loop.call_later(LINGER, transport.close)
        # A client that stops reading does not hold the connection open forever either.
        self._loop.call_later(LINGER + (self.limits.idle_timeout or LINGER), transport.abort)

    # --- idleness ----------------------------------------------------------------------------

    def _went_idle(self) -> None:
        self.idle_since = self._loop.time()
        if self.idle_timer is None and self.limits.idle_timeout:
            self.idle_timer = self._loop.call_at(
                self.idle_since + self.limits.idle_timeout, self._idle_check
            )

    def _idle_check(self) -> None:
        """Close a connection idle for ``idle_timeout``; one timer, moved on rather than
        re-armed for every request."""
        self.idle_timer = None
        if self.transport is None or self.closing:
            return
        if self.task is None and self.idle_since is not None:
            deadline = self.idle_since + self.limits.idle_timeout
            if self._loop.time() >= deadline:
                self._close()
                return
        else:
            deadline = self._loop.time() + self.limits.idle_timeout
        self.idle_timer = self._loop.call_at(deadline, self._idle_check)


# --- writing an answer ------------------------------------------------------------------------


@functools.cache
def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())


_date = [0, b""]


def _http_date() -> bytes:
    now = int(time.time())
    if now != _date[0]:
        _date[0], _date[1] = now, formatdate(now, usegmt=True).encode()
    return _date[1]  # type: ignore[return-value]


def _header_lines(
    headers: Sequence[tuple[str, str]], keep_length: bool = False
) -> tuple[list[bytes], bool, bool, bool]:
    """The header lines, and whether they give ``Date``, ``Server`` and ``Content-Length``.
    A line that could split the answer (CR, LF or NUL, a colon in the name: a target's
    headers are passed on in proxy mode) is left out, and so is a ``Content-Length`` unless
    ``keep_length`` (an answer to ``HEAD``: it tells the size of the body not sent) and it
    is the first, made of ASCII digits."""
    lines = []
    date = server = length = False
    for name, value in headers:
        if not name or ":" in name or any(c in name or c in value for c in "\r\n\0"):
            continue
        lowered = name.lower()
        if lowered == "content-length":
            digits = value.strip()
            if not keep_length or length or not (digits.isascii() and digits.isdigit()):
                continue
            length = True
            value = digits
        date = date or lowered == "date"
        server = server or lowered == "server"
        lines.append(b"%s: %s\r\n" % (_header_bytes(name), _header_bytes(value)))
    return lines, date, server, length


def _header_bytes(text: str) -> bytes:
    """A header of an answer as bytes: a proxied target's (decoded by ``decode_header``) as
    the bytes it sent; a lone surrogate that no decoding made, as ``?``."""
    try:
        return encode_header(text)
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _serialize(request: Request | None, response: Response, close: bool) -> bytes:
    """The answer's bytes: status line, headers, body (none to ``HEAD``, 204 or 304)."""
    status = response.status
    lines = [_status_line(status)]
    head = request is not None and request.method == "HEAD"
    # A Content-Length passed on must describe a body: none on a 204 or 304 (RFC 9110 8.6).
    keep_length = head and status not in _NO_BODY
    extra, date, server, length = (
        _header_lines(response.headers, keep_length)
        if response.headers
        else ([], False, False, False)
    )
    if not date:
        lines.append(b"Date: " + _http_date() + b"\r\n")
    if not server:
        lines.append(b"Server: " + SERVER + b"\r\n")
    if response.content_type and status not in _NO_BODY:
        lines.append(b"Content-Type: " + response.content_type.encode() + b"\r\n")
    lines += extra
    body = response.body
    if status in _NO_BODY:
        body = b""
    elif not length and not (head and response.unknown_length):
        lines.append(b"Content-Length: %d\r\n" % len(body))
    if close:
        lines.append(b"Connection: close\r\n")
    elif request is not None and request.version == (1, 0):
        lines.append(b"Connection: keep-alive\r\n")
    lines.append(b"\r\n")
    if not head:
        lines.append(body)
    return b"".join(lines)
