"""A recording HTTP target for delivery tests: what whrelay forwards, exactly as it arrived.

``TargetServer`` runs an aiohttp server on 127.0.0.1 in a background thread with its own event
loop, so plain (sync) tests that drive ``whrelay listen`` subprocesses can use it as well as
async tests (every method is a quick, thread-safe call; none needs the caller's loop).

It records every request (method, ``path_qs``, raw headers in order with their case and
duplicates, the exact body bytes, arrival order and time) and can be told at runtime how to
answer (``reply``: status, headers, body, a stall), to answer the next few requests
differently (``queue``), and to go ``down`` (the port refuses connections; open connections
are closed) and come back ``up`` on the same port. Given a server TLS context, it is an https
target.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    """How the target answers one request."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"ok\n"
    stall: float = 0.0
    """Seconds to sleep (after recording the request) before answering."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the target received it."""

    seq: int
    """Arrival order, from 0 (the order the request's body was complete)."""
    at: float
    """``time.monotonic()`` when it arrived."""
    method: str
    path_qs: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), decoded as Latin-1."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower().encode()
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == wanted]

    @property
    def header_names(self) -> list[str]:
        return [k.decode("latin-1") for k, _ in self.headers]


class TargetServer:
    """A recording target on ``127.0.0.1`` (or ``host``: ``outward_address()`` for one on
    another machine, as whrelay sees it); a context manager that starts and stops it."""

    def __init__(
        self, port: int = 0, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.port = port
        self.tls = tls
        self.host = host
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._default = Reply()
        self._queued: list[Reply] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="targetserver", daemon=True
        )
        self._runner: web.ServerRunner | None = None
        self._release: asyncio.Event | None = None
        self._connections = 0

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> TargetServer:
        self._thread.start()
        self.up()
        return self

    def close(self) -> None:
        """Stop serving and end the thread."""
        if not self._thread.is_alive():
            if not self._loop.is_closed() and not self._loop.is_running():
                self._loop.close()
            return
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> TargetServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash); ``https`` with a TLS context."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._runner is not None

    def up(self) -> None:
        """Listen (again) on the same port; the first ``up`` picks a free port if it was 0."""
        self._call(self._up)

    def down(self) -> None:
        """Stop listening and close every open connection: the port refuses connections."""
        self._call(self._down)

    async def _up(self) -> None:
        if self._runner is not None:
            return
        self._release = asyncio.Event()
        runner = web.ServerRunner(web.Server(self._handle), shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=self.tls)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def _down(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._release is not None:
            self._release.set()  # stalled handlers answer now, instead of holding up shutdown
        await runner.cleanup()

    def _call(self, factory: Callable[[], Awaitable[T]], timeout: float = 10) -> T:
        async def run() -> T:
            return await factory()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    # --- behaviour -------------------------------------------------------------------------

    def reply(
        self,
        status: int = 200,
        headers: dict[str, str] | tuple[tuple[str, str], ...] = (),
        body: bytes = b"ok\n",
        stall: float = 0.0,
    ) -> None:
        """Answer every request from now on like this (after any queued replies)."""
        with self._lock:
            self._default = Reply(status, _pairs(headers), body, stall)

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order; then the default again."""
        with self._lock:
            self._queued.extend(replies)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        release = self._release
        body = await request.content.read()  # any size (request.read() stops at 1 MiB)
        with self._lock:
            recorded = Recorded(
                seq=len(self._requests),
                at=time.monotonic(),
                method=request.method,
                path_qs=request.raw_path,
                headers=tuple(request.raw_headers),
                body=body,
            )
            self._requests.append(recorded)
            answer = self._queued.pop(0) if self._queued else self._default
        if answer.stall > 0 and release is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(answer.stall):
                    await release.wait()
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    # --- what arrived ----------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def bodies(self) -> list[bytes]:
        return [r.body for r in self.requests]

    def wait_for(self, count: int, timeout: float = 20) -> list[Recorded]:
        """Block until at least ``count`` requests have arrived; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.requests
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"target got {len(found)} of {count} requests in {timeout} s")
            time.sleep(0.01)


def _pairs(headers: dict[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(headers.items()) if isinstance(headers, dict) else tuple(headers)


@contextlib.contextmanager
def target_server(port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[TargetServer]:
    """A started ``TargetServer`` (https with ``tls``), stopped afterwards."""
    with TargetServer(port, tls) as server:
        yield server


def outward_address() -> str | None:
    """This machine's own IPv4 address on its way out (not loopback): a target there is,
    for whrelay's loopback guard, on another machine, yet a test can serve on it. ``None``
    when the machine has none (no network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: the route picks the address
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address
