"""The receiver: stores every request before acknowledging it.

Any method on any path is a webhook, except under the reserved prefix ``/_whrelay/``.
A request is answered only after its row, and a pending delivery per target, are committed;
when the database cannot be written the sender gets 503 (so it retries) and the receiver
keeps running. In store mode the answer is an immediate 200 and the forwarder delivers in the
background; in proxy mode the sender waits for the first target's answer.

This module sees requests and answers as values; ``whrelay.receiver.http`` does HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from whrelay import __version__
from whrelay.core.config import ListenSettings
from whrelay.core.errors import NotFoundError, StorageError, StorageUnavailableError
from whrelay.core.events import (
    DeliveryAttempted,
    ListenEvent,
    RequestRefused,
    StorageDegraded,
    StorageLost,
    StorageRecovered,
    WebhookReceived,
)
from whrelay.core.models import (
    Capture,
    DeliveryState,
    Identity,
    Trigger,
    Verdict,
    Webhook,
    WebhookSummary,
    decode_header,
    now_micros,
)
from whrelay.core.targets import match_route
from whrelay.identify.detect import identify
from whrelay.receiver.http import HttpServer, Limits, Request, Response, plain, refuse
from whrelay.relay.client import (
    HOP_BY_HOP,
    INTERRUPTED,
    Resigner,
    Sender,
    prepare,
    unsent,
)
from whrelay.relay.forwarder import Forwarder
from whrelay.signatures.verification import SigningKeys, judge, keys_for
from whrelay.storage import AsyncWriter, Store
from whrelay.storage.jobs import InsertWebhook
from whrelay.storage.writer import StorageHealth, Writer

RESERVED_PREFIX = "/_whrelay/"


@dataclass(slots=True)
class Receiver:
    """The receiver's state, shared by its handlers."""

    settings: ListenSettings
    emit: Callable[[ListenEvent], None]
    writer: Writer
    sender: Sender | None = None
    forwarder: Forwarder | None = None
    stored: int = 0
    orphans: tuple[str, ...] = ()
    """Pending deliveries from earlier runs whose target is not configured now."""
    resumed: int = 0
    """Pending deliveries from earlier runs that the forwarder resumes."""

    def http_server(self) -> HttpServer:
        """The HTTP server that serves this receiver, with the settings' limits."""
        settings = self.settings
        limits = Limits(
            settings.max_body, settings.read_timeout, settings.idle_timeout, settings.body_budget
        )
        return HttpServer(self, limits)

    # --- the http.Handler protocol ---------------------------------------------------------

    def early(self, request: Request) -> Response | None:
        return _early(self, request)

    def handle(self, request: Request) -> Coroutine[Any, Any, Response]:
        return receive(self, request)  # the coroutine itself: one frame less per webhook

    def refused(self, status: int, message: str, method: str, target: str) -> None:
        self.emit(RequestRefused(status, message, method, target.partition("?")[0]))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Receiver]:
        """Run the writer, the sender and the forwarder while the server serves.

        Leave it after the server has stopped (in-flight requests answered): then the forwarder
        stops, and everything queued for the writer is committed before it stops.
        """
        async with _engine(self):
            yield self


@contextlib.asynccontextmanager
async def _engine(receiver: Receiver) -> AsyncIterator[None]:
    receiver.writer.health.on_change = lambda health: receiver.emit(_health_event(health))
    await receiver.writer.start()
    try:
        async with _relay(receiver):
            yield
    finally:
        await receiver.writer.close()


@contextlib.asynccontextmanager
async def _relay(receiver: Receiver) -> AsyncIterator[None]:
    """The sender and, when there are targets, the forwarder (which resumes what is pending)."""
    settings = receiver.settings
    reader = Store(settings.db_path, readonly=True)
    read_lock = threading.Lock()

    def read(webhook_id: int, delivery_id: int) -> Webhook:
        """A webhook to retry, unless another process (``whrelay replay``) delivered it."""
        with read_lock:
            webhook = reader.get_webhook(webhook_id)
            states = {d.id: d.state for d in reader.deliveries(webhook_id)}
        if states.get(delivery_id) != DeliveryState.PENDING:
            raise NotFoundError(f"delivery {delivery_id} is no longer pending")
        return webhook

    async def load(webhook_id: int, delivery_id: int) -> Webhook:
        return await asyncio.to_thread(read, webhook_id, delivery_id)

    async with Sender(
        settings.allow_remote, settings.forward_timeout, settings.response_cap, settings.ca_file
    ) as s:
        receiver.sender = s
        pending = await asyncio.to_thread(reader.pending_deliveries)
        receiver.orphans = tuple(d.target for d in pending)
        if settings.forward.all_targets:
            receiver.forwarder = Forwarder(
                settings.forward,
                s,
                receiver.writer,
                load,
                receiver.emit,
                _resigner(settings),
                verify=settings.verify,
            )
            receiver.orphans = tuple(d.target for d in receiver.forwarder.start(pending))
            receiver.resumed = len(pending) - len(receiver.orphans)
        try:
            yield
        finally:
            if receiver.forwarder is not None:
                await receiver.forwarder.stop()
            reader.close()


def _health_event(health: StorageHealth) -> ListenEvent:
    reason, detail = health.reason or "", health.detail or health.reason or ""
    if health.status == "lost":
        return StorageLost(reason, detail)
    if health.status == "degraded":
        return StorageDegraded(reason, detail)
    return StorageRecovered()


def _not_stored(receiver: Receiver, request: Request, error: StorageError) -> Response:
    """503 with ``Retry-After``: the sender sends it again. The sender is told the reason in
    a few words (no path); the user sees the whole message."""
    receiver.refused(503, f"not stored: {error}", request.method, request.target)
    told = error.reason if isinstance(error, StorageUnavailableError) else error.message
    return plain(503, f"not stored: {told}", headers=(("Retry-After", "5"),))


def _resigner(settings: ListenSettings) -> Resigner | None:
    """``--resign``: each webhook is checked, and re-signed, with its route's provider and
    secrets where the route names them, else listen's own."""
    verify = settings.verify
    if not verify.resign:
        return None
    routes = settings.forward.routes

    def keys(webhook: Webhook) -> SigningKeys:
        provider, secrets = keys_for(match_route(webhook.summary.path, routes), verify)
        return SigningKeys(provider, secrets, verify.public_url)

    return Resigner(keys)


def _origin_form(target: str) -> str | None:
    """The path and query of an absolute-form request target (``POST http://host/p?q``,
    which servers must accept, RFC 9112 3.2.2), as sent; the host in it is ignored, as
    ``Host`` is. ``None`` for any other form that is not a path."""
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    origin = rest[cut:]
    return origin if origin.startswith("/") else "/" + origin


def _early(receiver: Receiver, request: Request) -> Response | None:
    """Requests answered from their head alone: targets that are not a path, and the
    reserved paths. The target is rewritten to its path and query when it is absolute."""
    target = request.target
    if not target.startswith("/"):
        origin = _origin_form(target)
        if origin is None:
            # `OPTIONS *` and `CONNECT host:port` name no resource: nothing a webhook is sent
            # to (and a 2xx to CONNECT would tell a proxy client its tunnel is open).
            message = "the request target is not a path; not stored"
            return refuse(receiver, request, 400, message)
        request.target = origin
    if request.target.startswith(RESERVED_PREFIX):
        return _reserved(receiver, request, request.target.partition("?")[0])
    return None


async def receive(receiver: Receiver, request: Request) -> Response:
    """Store one webhook, then acknowledge it (store mode) or proxy it (proxy mode)."""
    settings = receiver.settings
    path, _, query = request.target.partition("?")
    received_at = request.received_at
    capture = Capture(
        method=request.method,
        path=path,
        query=query,
        headers=request.headers,
        body=request.body,
        http_version="{}.{}".format(*request.version),
        remote_addr=request.remote,
        received_at=received_at,
    )
    route = match_route(path, settings.forward.routes)
    # Identified here rather than in the storage process, whose every row delays its batch.
    identity = identify(capture.headers, capture.body)
    verdict = judge(capture, settings.verify, route, received_at / 1_000_000, identity.provider)
    rejected = settings.verify.reject_invalid and verdict.verdict == "invalid"
    targets = [] if rejected else [t.url for t in settings.forward.targets_for(path)]
    if settings.mode == "proxy" and targets:
        health = receiver.writer.health.current
        if health.status == "lost":  # not sent on to the target: it could not be recorded
            lost = StorageUnavailableError(health.detail or "", reason=health.reason)
            return _not_stored(receiver, request, lost)
        return await _proxy(receiver, capture, targets, verdict, identity)
    try:
        stored, deliveries = await receiver.writer.run(
            InsertWebhook(capture, targets, verdict, identity)
        )
    except StorageError as error:
        return _not_stored(receiver, request, error)
    receiver.stored += 1
    webhook = _webhook(capture, stored)
    receiver.emit(WebhookReceived(stored, webhook))
    if rejected:
        return plain(
            401,
            f"invalid signature ({verdict.reason}): stored as #{stored.id}, not forwarded",
            headers=(("X-Whrelay-Id", str(stored.id)),),
        )
    if deliveries:
        assert receiver.forwarder is not None
        for delivery in deliveries:
            receiver.forwarder.enqueue(delivery, webhook)
    return _acknowledge(stored)


def _webhook(capture: Capture, summary: WebhookSummary) -> Webhook:
    return Webhook(
        summary=summary,
        headers=capture.headers,
        body=capture.body,
        http_version=capture.http_version,
        remote_addr=capture.remote_addr,
    )


def _acknowledge(stored: WebhookSummary) -> Response:
    return Response(
        200,
        b'{"stored":true,"id":%d}\n' % stored.id,
        "application/json",
        (("X-Whrelay-Id", str(stored.id)),),
    )


async def _proxy(
    receiver: Receiver,
    capture: Capture,
    targets: list[str],
    verdict: Verdict,
    identity: Identity,
) -> Response:
    """Commit the webhook, then send it to the first target and answer the sender with the
    target's response; queue the rest. The target never sees a webhook that is not stored:
    when the commit fails the sender gets 503 (and sends it again) and the target nothing,
    so the app never runs a webhook twice for one that whrelay has no record of."""
    assert receiver.sender is not None
    assert receiver.forwarder is not None
    forwarder = receiver.forwarder
    target = forwarder.lanes[targets[0]].target
    try:
        stored, deliveries = await receiver.writer.run(
            InsertWebhook(capture, targets, verdict, identity)
        )
    except StorageError as error:
        message = f"not stored, so not forwarded: {error}"
        receiver.refused(503, message, capture.method, capture.path)
        told = error.reason if isinstance(error, StorageUnavailableError) else error.message
        return plain(503, f"not stored, so not forwarded: {told}", headers=(("Retry-After", "5"),))
    receiver.stored += 1
    webhook = _webhook(capture, stored)
    receiver.emit(WebhookReceived(stored, webhook))
    for delivery in deliveries[1:]:
        forwarder.enqueue(delivery, webhook)
    request = prepare(webhook, target, receiver.settings.forward.extra_headers, forwarder.resigner)
    webhook_id, delivery_id = stored.id, deliveries[0].id
    started_at = now_micros()
    try:
        attempt = await receiver.sender.send(
            request, webhook_id=webhook_id, delivery=delivery_id, trigger=Trigger.PROXY
        )
    except asyncio.CancelledError:  # listen is stopping before the target answered
        cut = unsent(
            request,
            webhook_id=webhook_id,
            delivery=delivery_id,
            trigger=Trigger.PROXY,
            why=INTERRUPTED + "; the sender got no answer, and sends it again",
            error="interrupted",
            started_at=started_at,
        )
        failed = DeliveryState.FAILED  # settled: the sender retries by itself
        # Recorded here, not later: the server waits for this handler to end.
        if await forwarder.record(cut, failed, None) is not None:
            receiver.emit(DeliveryAttempted(cut, target.url, failed))
        raise
    # The sender has the answer and does its own retrying: the delivery is settled either way.
    state = DeliveryState.DELIVERED if attempt.ok else DeliveryState.FAILED
    forwarder.record_later(attempt, state, None, DeliveryAttempted(attempt, target.url, state))
    if attempt.status is not None and attempt.status < 200:
        # 101 Switching Protocols (the only interim status the client hands back): the
        # sender's connection is not switched, so it gets no answer it could use.
        return plain(
            502,
            f"whrelay: target {target.url} answered {attempt.status}, which cannot be passed "
            f"on; the webhook is stored as #{stored.id}",
            headers=(("X-Whrelay-Id", str(stored.id)),),
        )
    if attempt.status is None:
        detail = attempt.error_detail or attempt.error or "no answer"
        return plain(
            502,
            f"whrelay: target {target.url} did not answer ({attempt.error}: {detail}); "
            f"the webhook is stored as #{stored.id}",
            headers=(("X-Whrelay-Id", str(stored.id)),),
        )
    headers = []
    # The length of a body is ours to tell, except in an answer to HEAD, which has none:
    # there the target's Content-Length (the size of the body it did not send) is kept.
    dropped = HOP_BY_HOP if capture.method == "HEAD" else HOP_BY_HOP | {"content-length"}
    for name, value in attempt.response_headers:
        text = decode_header(name)  # passed on as the same bytes
        if text.lower() not in dropped:
            headers.append((text, decode_header(value)))
    headers.append(("X-Whrelay-Id", str(stored.id)))
    if attempt.response_truncated:
        # Only what is kept is passed on (not a 502: the target ran the webhook, and the
        # sender would send it again); the header says the body is cut.
        kept = len(attempt.response_body or b"")
        headers.append(("X-Whrelay-Truncated", f"the first {kept} bytes of a longer body"))
    # An answer to HEAD says how long the body would be only if the target said so.
    head = capture.method == "HEAD"
    return Response(
        attempt.status, attempt.response_body or b"", None, headers, unknown_length=head
    )


def _reserved(receiver: Receiver, request: Request, path: str) -> Response:
    """``/_whrelay/health``; any other reserved path is 404. The body, if any, is not read:
    the connection closes after the answer unless it has all come in already."""
    if path == RESERVED_PREFIX + "health" and request.method in ("GET", "HEAD"):
        # Whoever can reach the port may ask: the status and the version, and why storage
        # is degraded in a few words; never the database's path, the targets or counts.
        health = receiver.writer.health.current
        if health.status == "ok":
            code, payload = 200, {"status": "ok", "version": __version__}
        else:
            reason = health.reason or ""
            code, payload = 503, {"status": "degraded", "reason": reason, "version": __version__}
        body = (json.dumps(payload) + "\n").encode()
        return Response(code, body, "application/json; charset=utf-8")
    return plain(404, f"{path} is reserved for whrelay itself; nothing is stored here")


def make_receiver(
    settings: ListenSettings,
    store: Store | None,
    emit: Callable[[ListenEvent], None],
    writer: Writer | None = None,
) -> Receiver:
    """The receiver: serve ``receiver.server()`` inside ``async with receiver.running()``.

    ``writer`` defaults to a writer thread over ``store``; ``listen`` passes the storage
    process instead.
    """
    if writer is None:
        assert store is not None, "make_receiver needs a store or a writer"
        writer = AsyncWriter(store)
    return Receiver(settings=settings, emit=emit, writer=writer)
