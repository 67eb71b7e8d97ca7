"""The receiver: an aiohttp application that stores every request before acknowledging it.

Any method on any path is a webhook, except under the reserved prefix ``/_whrelay/``.
A request is answered 2xx only after the group-commit writer has committed its row; when the
database cannot be written the sender gets 503 (so it retries) and the receiver keeps running.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from aiohttp import hdrs, web

from whrelay import __version__
from whrelay.config import ListenSettings
from whrelay.errors import StorageError
from whrelay.events import ListenEvent, RequestRefused, WebhookReceived
from whrelay.models import Capture, WebhookSummary, now_micros
from whrelay.storage import GroupCommitWriter, Outcome, Store

RESERVED_PREFIX = "/_whrelay/"

Waiter = asyncio.Future[WebhookSummary]


@dataclass(slots=True)
class Receiver:
    """The receiver's state, shared by its handlers."""

    settings: ListenSettings
    store: Store
    emit: Callable[[ListenEvent], None]
    writer: GroupCommitWriter[Waiter] | None = None
    stored: int = 0


RECEIVER = web.AppKey("receiver", Receiver)


def _resolve(outcomes: Sequence[Outcome[Waiter]]) -> None:
    for outcome in outcomes:
        if outcome.token.done():
            continue
        if outcome.error is not None:
            outcome.token.set_exception(outcome.error)
        else:
            assert outcome.stored is not None
            outcome.token.set_result(outcome.stored)


async def _writer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the group-commit writer for the app's lifetime; on shutdown, commit what is queued."""
    receiver = app[RECEIVER]
    loop = asyncio.get_running_loop()

    def on_done(outcomes: Sequence[Outcome[Waiter]]) -> None:
        loop.call_soon_threadsafe(_resolve, outcomes)

    receiver.writer = GroupCommitWriter(receiver.store, on_done)
    receiver.writer.start()
    yield
    await asyncio.to_thread(receiver.writer.close)


def _plain(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=headers)


def _refuse(request: web.Request, status: int, message: str, **headers: str) -> web.Response:
    receiver = request.app[RECEIVER]
    receiver.emit(RequestRefused(status, message, request.method, request.path))
    return _plain(status, message, **headers)


def _has_body(request: web.BaseRequest) -> bool:
    """Whether the request framed a body at all (a length, even 0, or chunked)."""
    return hdrs.CONTENT_LENGTH in request.headers or hdrs.TRANSFER_ENCODING in request.headers


async def receive(request: web.Request) -> web.StreamResponse:
    """Store one webhook, then acknowledge it."""
    received_at = now_micros()
    receiver = request.app[RECEIVER]
    settings = receiver.settings
    path, _, query = request.raw_path.partition("?")
    if path.startswith(RESERVED_PREFIX):
        return await _reserved(request, path)

    too_large = f"body larger than the {settings.max_body} byte limit (--max-body); not stored"
    length = request.content_length
    if length is not None and length > settings.max_body:
        return _refuse(request, 413, too_large, Connection="close")
    try:
        async with asyncio.timeout(settings.read_timeout or None):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refuse(request, 413, too_large, Connection="close")
    except TimeoutError:
        message = f"body not received within {settings.read_timeout:g} s; not stored"
        return _refuse(request, 408, message, Connection="close")

    capture = Capture(
        method=request.method,
        path=path,
        query=query,
        headers=tuple(request.raw_headers),
        body=body if body or _has_body(request) else None,
        http_version=f"{request.version.major}.{request.version.minor}",
        remote_addr=request.remote,
        received_at=received_at,
    )
    assert receiver.writer is not None
    waiter: Waiter = asyncio.get_running_loop().create_future()
    receiver.writer.submit(capture, waiter)
    try:
        stored = await asyncio.shield(waiter)
    except StorageError as error:
        return _refuse(request, 503, f"not stored: {error}", **{"Retry-After": "5"})
    receiver.stored += 1
    receiver.emit(WebhookReceived(stored))
    return web.Response(
        status=200,
        body=b'{"stored":true,"id":%d}\n' % stored.id,
        content_type="application/json",
        headers={"X-Whrelay-Id": str(stored.id)},
    )


async def _reserved(request: web.Request, path: str) -> web.StreamResponse:
    if path == RESERVED_PREFIX + "health" and request.method in ("GET", "HEAD"):
        receiver = request.app[RECEIVER]
        payload = {
            "status": "ok",
            "version": __version__,
            "db": str(receiver.settings.db_path),
            "stored": receiver.stored,
        }
        return web.Response(text=json.dumps(payload) + "\n", content_type="application/json")
    return _plain(404, f"{path} is reserved for whrelay itself; nothing is stored here")


def make_app(
    settings: ListenSettings, store: Store, emit: Callable[[ListenEvent], None]
) -> web.Application:
    """The receiver application. Its writer thread starts and stops with the app."""
    app = web.Application(client_max_size=settings.max_body, handler_args={})
    app[RECEIVER] = Receiver(settings=settings, store=store, emit=emit)
    app.cleanup_ctx.append(_writer_ctx)
    app.router.add_route("*", "/{tail:.*}", receive)
    return app
