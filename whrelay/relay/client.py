"""Send one webhook to one target and record everything about the attempt.

The request carries the stored body bytes and the stored headers in order, with their case
and duplicates, minus hop-by-hop headers; ``Host`` is the target's, and the original host,
client address and scheme travel in ``X-Forwarded-*``. Header bytes go out exactly as stored
(``http1`` writes them itself). Redirects are never followed. Proxy environment variables
are not read. Unless remote targets are allowed, every address a target's name resolves to is
checked before it is dialled, so a non-loopback address is never contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from whrelay.core.models import (
    CERTIFICATE_FAILED,
    Attempt,
    RawHeaders,
    Trigger,
    Webhook,
    decode_header,
    encode_header,
    header_values,
    now_micros,
)
from whrelay.core.targets import Target, is_loopback
from whrelay.core.tls import client_context
from whrelay.relay.http1 import BlockedAddressError, Http1Client, ProtocolError
from whrelay.signatures import redact_headers
from whrelay.signatures.verification import ResignDecision, SigningKeys, decide_resign, resign

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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One HTTP request to send, fully decided."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    resigned: bool | None = None
    """``--resign``: whether it was signed afresh; ``None`` when re-signing was not asked."""
    resign_note: str | None = None
    """Why it goes out as received although re-signing was asked, or what it was forced past."""
    edited: str | None = None
    """What a replay changed of the stored webhook (``Attempt.edited``)."""
    insecure: bool = False
    """An https target's certificate is not verified (``Target.insecure``)."""

    def recorded_headers(self) -> RawHeaders:
        """The headers as an attempt records them: those that carry a secret itself (GitLab's
        token) are redacted, so no secret reaches the database."""
        return tuple((encode_header(k), encode_header(v)) for k, v in redact_headers(self.headers))


def forwarded_headers(
    webhook: Webhook, extra: Sequence[tuple[str, str]] = ()
) -> tuple[tuple[str, str], ...]:
    """The headers forwarded for ``webhook``: stored order and case, hop-by-hop removed,
    ``X-Forwarded-*`` added; ``extra`` (``-H``) takes the place of the headers of its name,
    or comes last (``Host`` too, which the client then writes in place of the target's); a
    name given twice in ``extra`` is sent once, with the last value.

    ``X-Forwarded-For`` gets the sender's address appended to any chain it came with. An
    ``X-Forwarded-Host`` or ``-Proto`` that came with the webhook (from a tunnel such as ngrok
    in front of whrelay) is kept: it names the public URL the provider signed, which the app
    needs to check a Twilio or Square signature. Only when absent are whrelay's own given.
    """
    connection_tokens = {
        token.strip().lower()
        for value in header_values(webhook.headers, "connection")  # every Connection line
        for token in value.split(",")
        if token.strip()
    }
    dropped = HOP_BY_HOP | _RECOMPUTED | connection_tokens
    given: dict[str, tuple[str, str]] = {}
    for name, value in extra:
        given[name.lower()] = (name, value)  # named twice: the last wins
    replaced = set(given)
    pairs: list[tuple[str, str]] = []
    for raw_name, raw_value in webhook.headers:
        lowered = decode_header(raw_name).lower()
        if lowered in dropped:
            continue
        if lowered in replaced:  # -H takes the place of the first header of its name
            if lowered in given:
                pairs.append(given.pop(lowered))
            continue
        # Lossless: bytes that are not UTF-8 go out as the same bytes (``decode_header``).
        pairs.append((decode_header(raw_name), decode_header(raw_value)))
    present = {name.lower() for name, _ in pairs}
    if webhook.remote_addr and "x-forwarded-for" not in replaced:
        chain = [v for v in header_values(pairs, "x-forwarded-for") if v.strip()]
        pairs = [pair for pair in pairs if pair[0].lower() != "x-forwarded-for"]
        pairs.append(("X-Forwarded-For", ", ".join([*chain, webhook.remote_addr])))
    for name, value in (
        ("X-Forwarded-Host", webhook.header("host") or ""),
        ("X-Forwarded-Proto", "http"),
    ):
        if value and name.lower() not in present | replaced:
            pairs.append((name, value))
    pairs.extend(given.values())
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
        insecure=target.insecure,
    )


@dataclass(frozen=True, slots=True)
class Resigner:
    """``--resign``: signs a request afresh, with the current time, when the webhook's own
    signature was valid (``verification.decide_resign``); otherwise the request goes out as
    received, and says why. ``keys_for`` gives the scheme and secrets for a webhook (a route's
    own, or listen's); ``unverified`` is ``replay --resign-unverified``."""

    keys_for: Callable[[Webhook], SigningKeys]
    unverified: bool = False
    clock: Callable[[], float] = time.time
    originals: Mapping[int, Webhook] = field(default_factory=dict)
    """Edited copies, by id, and the webhook each was edited from (the TUI's edit and
    re-send): a copy's body was changed on purpose by the user, so the signature judged is
    its original's, and the copy is signed afresh only when that one verifies."""

    def decide(self, webhook: Webhook) -> ResignDecision:
        judged = self.originals.get(webhook.id, webhook)
        return decide_resign(judged, self.keys_for(judged), unverified=self.unverified)

    def __call__(self, webhook: Webhook, outgoing: Outgoing) -> Outgoing:
        """``outgoing`` signed afresh, or as it was (the sender's own signature untouched) with
        the reason noted: the webhook's signature did not verify, or it cannot be signed
        again (an algorithm the scheme cannot sign with, a key that only verifies)."""
        decision = self.decide(webhook)
        if decision.scheme is None or decision.secret is None:
            return dataclasses.replace(
                outgoing, resigned=False, resign_note=f"not re-signed: {decision.why}"
            )
        try:
            headers, body = resign(
                decision.scheme,
                decision.secret,
                outgoing.headers,
                outgoing.body or b"",
                outgoing.url,
                int(self.clock()),
            )
        except Exception as error:
            message = getattr(error, "message", None) or str(error) or repr(error)
            return dataclasses.replace(
                outgoing, resigned=False, resign_note=f"not re-signed: {message}"
            )
        note = f"re-signed although {decision.why}" if decision.why else None
        return dataclasses.replace(
            outgoing, headers=headers, body=body, resigned=True, resign_note=note
        )


@dataclass
class Sender:
    """The forwarding client: keep-alive HTTP/1.1 connections per target, with the loopback
    guard applied to every address before it is dialled."""

    allow_remote: bool = False
    timeout: float = DEFAULT_TIMEOUT
    """Seconds for a whole attempt; 0 means no limit (sitting at a debugger breakpoint)."""
    response_cap: int = DEFAULT_RESPONSE_CAP
    ca_file: Path | None = None
    """PEM certificates trusted for https targets besides the system's (``--ca-file``)."""
    _client: Http1Client | None = field(default=None, init=False)

    def _allowed(self, address: str) -> bool:
        return self.allow_remote or is_loopback(address)

    async def __aenter__(self) -> Sender:
        self._client = Http1Client(self._allowed, self.response_cap, tls_context=self._tls_context)
        return self

    def _tls_context(self, verify: bool) -> ssl.SSLContext:
        """The process's one context for this way of checking (shared with other senders)."""
        return client_context(verify, self.ca_file)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def send(
        self, outgoing: Outgoing, *, webhook_id: int, delivery: int | None, trigger: Trigger
    ) -> Attempt:
        """Make one attempt; never raises for network trouble, which is recorded instead."""
        assert self._client is not None, "use 'async with Sender()'"
        started_at = now_micros()
        clock = time.perf_counter()
        sent_headers = tuple((encode_header(k), encode_header(v)) for k, v in outgoing.headers)
        # Recorded as they go on the wire: the client writes Host first (the URL's, or one
        # given with -H in its place), Content-Length last.
        host = urlsplit(outgoing.url).netloc.encode("latin-1")
        shown = outgoing.recorded_headers()
        given: list[tuple[bytes, bytes]] = []
        others: list[tuple[bytes, bytes]] = []
        for pair in shown:
            (given if pair[0].lower() == b"host" else others).append(pair)
        recorded = (given[-1] if given else (b"Host", host), *others)
        if outgoing.body is not None:
            recorded += ((b"Content-Length", b"%d" % len(outgoing.body)),)

        def finish(**fields: object) -> Attempt:
            return Attempt(
                webhook_id=webhook_id,
                delivery=delivery,
                trigger=trigger,
                url=outgoing.url,
                request_headers=recorded,
                started_at=started_at,
                duration_us=int((time.perf_counter() - clock) * 1_000_000),
                resigned=outgoing.resigned,
                resign_note=outgoing.resign_note,
                edited=outgoing.edited,
                **fields,  # type: ignore[arg-type]
            )

        try:
            async with asyncio.timeout(self.timeout or None):
                response = await self._client.request(
                    outgoing.method,
                    outgoing.url,
                    sent_headers,
                    outgoing.body,
                    verify=not outgoing.insecure,
                )
        except ssl.SSLError as error:
            # Not the target being down: it answered, and the TLS handshake failed (a
            # self-signed certificate on https://localhost). Retried on the schedule.
            if isinstance(error, ssl.SSLCertVerificationError):
                detail = f"{CERTIFICATE_FAILED}: {error.verify_message}"
            else:
                detail = error.reason or str(error)
            return finish(status=None, error="tls", error_detail=detail)
        except BlockedAddressError as error:
            return finish(status=None, error="blocked", error_detail=str(error))
        except ConnectionRefusedError:
            return finish(status=None, error="refused", error_detail="connection refused")
        except TimeoutError:
            limit = f"{self.timeout:g} s" if self.timeout else "the connect timeout"
            return finish(status=None, error="timeout", error_detail=f"no answer within {limit}")
        except asyncio.IncompleteReadError as error:
            detail = (
                f"the connection closed after {len(error.partial)} bytes of the answer"
                if error.partial
                else "the connection closed before any answer"
            )
            return finish(status=None, error="reset", error_detail=detail)
        except (ConnectionError, asyncio.LimitOverrunError) as error:
            return finish(status=None, error="reset", error_detail=str(error) or repr(error))
        except (socket.gaierror, OSError) as error:
            return finish(status=None, error="connect", error_detail=error.strerror or str(error))
        except ProtocolError as error:
            return finish(status=None, error="error", error_detail=str(error))
        except Exception as error:  # a bug or an answer nothing above foresaw: still recorded
            return finish(status=None, error="error", error_detail=f"unexpected: {error!r}")
        return finish(
            status=response.status,
            response_headers=response.headers,
            response_body=response.body,
            response_truncated=response.truncated,
        )


def unsent(
    outgoing: Outgoing,
    *,
    webhook_id: int,
    delivery: int | None,
    trigger: Trigger,
    why: str,
    error: str = "unsent",
    started_at: int | None = None,
) -> Attempt:
    """The record of an attempt that got no answer for a reason of whrelay's own: it could not
    be made at all (``unsent``), or whrelay stopped while it waited (``interrupted``, with
    ``started_at``)."""
    now = now_micros()
    return Attempt(
        webhook_id=webhook_id,
        delivery=delivery,
        trigger=trigger,
        url=outgoing.url,
        request_headers=outgoing.recorded_headers(),
        started_at=now if started_at is None else started_at,
        duration_us=0 if started_at is None else max(1, now - started_at),
        status=None,
        error=error,
        error_detail=why,
        resigned=outgoing.resigned,
        resign_note=outgoing.resign_note,
        edited=outgoing.edited,
    )


INTERRUPTED = "whrelay stopped before the answer came; the target may have received the webhook"


def prepare(
    webhook: Webhook,
    target: Target,
    extra_headers: Sequence[tuple[str, str]],
    resigner: Resigner | None,
    body: bytes | None = None,
) -> Outgoing:
    """The request forwarding ``webhook`` to ``target`` (``body`` replacing the stored one),
    signed afresh when ``resigner`` is given and the webhook may be."""
    outgoing = build_request(webhook, target, extra_headers, body)
    return outgoing if resigner is None else resigner(webhook, outgoing)


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
