"""Send one webhook to one target and record everything about the attempt.

The request carries the stored body bytes and the stored headers in order, with their case
and duplicates, minus hop-by-hop headers; ``Host`` is the target's, and the original host,
client address and scheme travel in ``X-Forwarded-*``. Redirects are never followed. Proxy
environment variables are ignored. Unless remote targets are allowed, the connection is
refused before any byte is sent when the address actually being connected to is not loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import errno
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDict

from whrelay.models import Attempt, RawHeaders, Webhook, encode_header, now_micros
from whrelay.signatures import Scheme
from whrelay.targets import Target, is_loopback
from whrelay.verification import resign

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
    }
)
# Framing the client recomputes from the target and the body it sends.
_RECOMPUTED = frozenset({"host", "content-length"})
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
DEFAULT_TIMEOUT = 30.0
DEFAULT_RESPONSE_CAP = 1024 * 1024
"""Bytes of a target's response body that are kept; the rest is not read."""


_EXACT_HEADERS: contextvars.ContextVar[tuple[tuple[str, str], ...] | None] = contextvars.ContextVar(
    "whrelay_exact_headers", default=None
)


class ExactHeadersRequest(aiohttp.ClientRequest):
    """A client request that sends the headers exactly as listed: aiohttp's session folds
    names that differ only in case (``X-Dup`` and ``x-dup``) into one, which would drop a
    duplicate the sender sent."""

    def update_headers(self, headers: Any) -> None:
        exact = _EXACT_HEADERS.get()
        if exact is None:
            super().update_headers(headers)
            return
        super().update_headers(None)  # the Host header only
        for name, value in exact:
            if name.lower() == "host":
                self.headers[name] = value
            else:
                self.headers.add(name, value)


class BlockedAddressError(OSError):
    """The connection would have gone to an address the loopback policy forbids."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One HTTP request to send, fully decided."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None


def _header_text(raw: bytes) -> str:
    # aiohttp encodes header text as UTF-8, so valid UTF-8 goes out byte-exact; other bytes
    # (rare, and outside what HTTP allows) go out as their Latin-1 reading re-encoded.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def forwarded_headers(
    webhook: Webhook, extra: Sequence[tuple[str, str]] = ()
) -> tuple[tuple[str, str], ...]:
    """The headers forwarded for ``webhook``: stored order and case, hop-by-hop removed,
    ``X-Forwarded-*`` set, then ``extra`` (``-H``) added or replacing same-named ones."""
    connection_tokens = {
        token.strip().lower()
        for value in (webhook.header("connection") or "").split(",")
        for token in [value]
        if token.strip()
    }
    dropped = HOP_BY_HOP | _RECOMPUTED | connection_tokens
    dropped |= {"x-forwarded-host", "x-forwarded-for", "x-forwarded-proto"}
    replaced = {name.lower() for name, _ in extra}
    pairs = [
        (_header_text(name), _header_text(value))
        for name, value in webhook.headers
        if name.decode("latin-1").lower() not in dropped | replaced
    ]
    forwarded = [
        ("X-Forwarded-Host", webhook.header("host") or ""),
        ("X-Forwarded-For", webhook.remote_addr or ""),
        ("X-Forwarded-Proto", "http"),
    ]
    pairs.extend(
        (name, value) for name, value in forwarded if value and name.lower() not in replaced
    )
    pairs.extend(extra)
    return tuple(pairs)


def build_request(
    webhook: Webhook,
    target: Target,
    extra_headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
) -> Outgoing:
    """The request that forwards ``webhook`` to ``target`` (``body`` replaces the stored one)."""
    return Outgoing(
        method=webhook.summary.method,
        url=target.url_for(webhook.summary.path, webhook.summary.query),
        headers=forwarded_headers(webhook, extra_headers),
        body=webhook.body if body is None else body,
    )


Resigner = Callable[[Outgoing], Outgoing]


def make_resigner(scheme: Scheme, secret: str) -> Resigner:
    """A function that re-signs a request with a fresh timestamp (``--resign``)."""

    def resign_request(outgoing: Outgoing) -> Outgoing:
        headers, body = resign(
            scheme, secret, outgoing.headers, outgoing.body or b"", outgoing.url, int(time.time())
        )
        return dataclasses.replace(outgoing, headers=headers, body=body)

    return resign_request


@dataclass
class Sender:
    """An HTTP client session for forwarding, with the loopback guard on every connection."""

    allow_remote: bool = False
    timeout: float = DEFAULT_TIMEOUT
    """Seconds for a whole attempt; 0 means no limit (sitting at a debugger breakpoint)."""
    response_cap: int = DEFAULT_RESPONSE_CAP
    _session: aiohttp.ClientSession | None = field(default=None, init=False)

    def _guard(self, addr_info: tuple[int, int, int, str, tuple[object, ...]]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address = str(sockaddr[0])
        if not self.allow_remote and not is_loopback(address):
            raise BlockedAddressError(
                errno.EACCES, f"{address} is not a loopback address (use --allow-remote)"
            )
        sock = socket.socket(family=family, type=type_, proto=proto)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    async def __aenter__(self) -> Sender:
        connector = aiohttp.TCPConnector(
            limit=0,
            socket_factory=self._guard,
            use_dns_cache=False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=self.timeout or None, sock_connect=10),
            cookie_jar=aiohttp.DummyCookieJar(),
            request_class=ExactHeadersRequest,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, outgoing: Outgoing, *, webhook_id: int, delivery: int | None, trigger: str
    ) -> Attempt:
        """Make one attempt; never raises for network trouble, which is recorded instead."""
        assert self._session is not None, "use 'async with Sender()'"
        started_at = now_micros()
        clock = time.perf_counter()
        sent_headers = tuple((encode_header(k), encode_header(v)) for k, v in outgoing.headers)

        def finish(**fields: object) -> Attempt:
            return Attempt(
                webhook_id=webhook_id,
                delivery=delivery,
                trigger=trigger,
                url=outgoing.url,
                request_headers=sent_headers,
                started_at=started_at,
                duration_us=int((time.perf_counter() - clock) * 1_000_000),
                **fields,  # type: ignore[arg-type]
            )

        exact = _EXACT_HEADERS.set(outgoing.headers)
        try:
            async with self._session.request(
                outgoing.method,
                outgoing.url,
                headers=CIMultiDict(outgoing.headers),
                data=outgoing.body,
                allow_redirects=False,
                skip_auto_headers=_NO_AUTO_HEADERS,
            ) as response:
                body, truncated = await _read_capped(response, self.response_cap)
                headers: RawHeaders = tuple(response.raw_headers)
                if truncated:
                    response.close()
                return finish(
                    status=response.status,
                    response_headers=headers,
                    response_body=body,
                    response_truncated=truncated,
                )
        except aiohttp.ClientConnectorError as error:
            cause = error.os_error
            if isinstance(cause, BlockedAddressError) or "not a loopback address" in str(error):
                return finish(status=None, error="blocked", error_detail=str(cause.strerror))
            if cause.errno == errno.ECONNREFUSED:
                return finish(status=None, error="refused", error_detail="connection refused")
            detail = cause.strerror or str(error)
            return finish(status=None, error="connect", error_detail=detail)
        except TimeoutError:
            limit = f"{self.timeout:g} s" if self.timeout else "the connect timeout"
            return finish(status=None, error="timeout", error_detail=f"no answer within {limit}")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            return finish(status=None, error="reset", error_detail=str(error) or repr(error))
        except aiohttp.ClientError as error:
            return finish(status=None, error="error", error_detail=str(error) or repr(error))
        finally:
            _EXACT_HEADERS.reset(exact)


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether more was there (left unread)."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = await response.content.read(min(65536, cap + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], True


async def probe(target: Target, allow_remote: bool, timeout: float = 1.0) -> bool:
    """Whether ``target`` accepts TCP connections now. The name is resolved first and only
    allowed addresses are dialled, so a name that re-resolves elsewhere is never contacted."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            for family, _, proto, _, sockaddr in infos:
                if not allow_remote and not is_loopback(str(sockaddr[0])):
                    continue
                try:
                    _, writer = await asyncio.open_connection(
                        str(sockaddr[0]), int(sockaddr[1]), family=family, proto=proto
                    )
                except OSError:
                    continue
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True
    except (OSError, TimeoutError):
        return False
    return False
