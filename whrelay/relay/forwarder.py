"""Store mode's forwarder: one lane per target, fed from the durable queue.

Each target has its own lane (a worker task, its own queue and concurrency), so a target that
is down or slow never delays another. A lane sends its deliveries in arrival order. When a
target refuses connections it is marked down: nothing more is sent to it, and a cheap TCP
probe (about every second) starts the drain, in arrival order, as soon as it is back.
Every attempt and every change of a delivery's state is committed to the database, so a
restart resumes exactly where the last run stopped (at least once: an attempt in flight at a
crash is made again).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from whrelay.core.config import ForwardSettings, VerifySettings
from whrelay.core.defaults import FORWARD_GRACE
from whrelay.core.errors import NotFoundError, StorageError, say
from whrelay.core.events import DeliveryAttempted, ListenEvent, TargetDown, TargetPaused, TargetUp
from whrelay.core.models import (
    Attempt,
    Delivery,
    DeliveryState,
    Trigger,
    Webhook,
    header_value,
    now_micros,
)
from whrelay.core.retry import Decision, decide_on_attempt, next_delay, parse_retry_after
from whrelay.core.targets import Target, match_route
from whrelay.relay.client import INTERRUPTED, Resigner, Sender, prepare, probe, unsent
from whrelay.signatures import stale_signature
from whrelay.signatures.verification import Secrets, secrets_for
from whrelay.storage.jobs import RecordAttempt
from whrelay.storage.writer import Writer

CONNECTION_ERRORS = frozenset({"refused", "connect"})
HELD_PER_TARGET = 8 * 1024 * 1024
"""Bytes of webhook bodies a target's queue keeps in memory, to send them without reading them
back; the rest (and all while the target is down) are read from the database when their
turn comes, so a target that is away for long never holds a backlog in memory."""


@dataclass(slots=True)
class _Item:
    delivery_id: int
    webhook_id: int
    first_at: int
    """UTC microseconds of the delivery's creation: the retry window counts from here."""
    attempts: int
    due: float
    """Loop time at which the next attempt may start."""
    webhook: Webhook | None = None
    key: tuple[float, int] = (0.0, 0)
    held: int = 0
    """Body bytes of ``webhook`` counted in its lane's ``held``."""


class Lane:
    """The deliveries of one target, and the task that sends them."""

    def __init__(self, forwarder: Forwarder, target: Target) -> None:
        self.forwarder = forwarder
        self.target = target
        self.items: dict[int, _Item] = {}
        self.heap: list[tuple[float, int]] = []
        self.wake = asyncio.Event()
        self.down = False
        self.paused = False
        settings = forwarder.settings
        self.slots = asyncio.Semaphore(1 if settings.ordered else settings.concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.runner: asyncio.Task[None] | None = None
        self.warned = False
        self.held = 0
        """Bytes of bodies the queue keeps in memory (``HELD_PER_TARGET`` at most)."""

    # --- queue -----------------------------------------------------------------------------

    def _push(self, item: _Item) -> None:
        # Ordered lanes go strictly by id; others by due time, then id (arrival order).
        item.key = (
            (0.0, item.delivery_id)
            if self.forwarder.settings.ordered
            else (
                item.due,
                item.delivery_id,
            )
        )
        heapq.heappush(self.heap, item.key)
        self.wake.set()

    def add(self, item: _Item) -> None:
        if item.webhook is not None:
            size = len(item.webhook.body or b"")
            if self.down or self.paused or self.held + size > HELD_PER_TARGET:
                item.webhook = None  # read back from the database when its turn comes
            else:
                item.held = size
                self.held += size
        self.items[item.delivery_id] = item
        self._push(item)
        if self.paused:  # a new webhook held for the next run: say so, with the count
            self.forwarder.emit(TargetPaused(self.target.url, pending=len(self.items)))

    async def _sleep(self, timeout: float | None) -> None:
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.wake.wait()

    async def _next_due(self) -> _Item | None:
        loop = asyncio.get_running_loop()
        while True:
            if self.paused:
                return None
            if self.down:
                await self._wait_until_up()
                continue
            if not self.heap:
                await self._sleep(None)
                continue
            key = self.heap[0]
            item = self.items.get(key[1])
            if item is None or item.key != key:
                heapq.heappop(self.heap)  # stale entry
                continue
            delay = item.due - loop.time()
            if delay > 0:
                await self._sleep(delay)
                continue
            heapq.heappop(self.heap)
            item.key = (-1.0, -1)  # in flight: not in the heap
            return item

    async def _wait_until_up(self) -> None:
        settings = self.forwarder.settings
        while self.down:
            await asyncio.sleep(settings.probe_interval)
            if await probe(self.target, self.forwarder.sender.allow_remote):
                self.down = False
        now = asyncio.get_running_loop().time()
        waiting = [item for item in self.items.values() if item.key[1] >= 0]
        self.heap = []
        for item in sorted(waiting, key=lambda i: i.delivery_id):
            item.due = now
            self._push(item)
        self.forwarder.emit(TargetUp(self.target.url, pending=len(waiting)))

    def let_go(self, item: _Item) -> None:
        """Drop ``item``'s webhook from memory (it is read back when needed)."""
        self.held -= item.held
        item.held = 0
        item.webhook = None

    def mark_down(self, reason: str) -> None:
        if not self.down:
            for waiting in self.items.values():
                if waiting.key[1] >= 0:  # queued, not in flight
                    self.let_go(waiting)
            self.down = True
            self.forwarder.emit(TargetDown(self.target.url, reason))
            self.wake.set()

    # --- sending ---------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self.slots.acquire()
            item = await self._next_due()
            if item is None:
                self.slots.release()
                return
            if item.webhook is None:
                # Read here, not in the attempt: a retry read from the database would
                # otherwise be overtaken by the webhooks behind it that are still in memory,
                # and a target that comes back would not get its queue in arrival order.
                try:
                    item.webhook = await self.forwarder.load(item.webhook_id, item.delivery_id)
                except NotFoundError:
                    self.let_go(item)
                    self.items.pop(item.delivery_id, None)
                    self.slots.release()
                    continue
                except Exception as error:
                    # The database cannot be read now (or a bug): try again soon, and say so
                    # once; the lane goes on with the rest.
                    if not isinstance(error, StorageError) and not self.warned:
                        self.warned = True
                        say(
                            f"warning: cannot read webhook #{item.webhook_id} to "
                            f"forward it: {error!r}; trying again"
                        )
                    item.due = asyncio.get_running_loop().time() + 1.0
                    self._push(item)
                    self.slots.release()
                    continue
            task = asyncio.create_task(self._attempt(item))
            self.tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()
        self.wake.set()

    async def _attempt(self, item: _Item) -> None:
        """One attempt; an error no attempt foresaw (a bug) warns, and the delivery is tried
        again a second later rather than left waiting until the next run."""
        try:
            await self._attempt_once(item)
        except Exception as error:
            if not self.warned:
                self.warned = True
                say(
                    f"warning: forwarding webhook #{item.webhook_id} to "
                    f"{self.target.url} failed unexpectedly: {error!r}; trying again"
                )
            if item.delivery_id in self.items and item.key[1] < 0:  # not queued again yet
                self.let_go(item)
                item.due = asyncio.get_running_loop().time() + 1.0
                self._push(item)

    async def _attempt_once(self, item: _Item) -> None:
        forwarder = self.forwarder
        webhook = item.webhook
        assert webhook is not None, "run() reads it first"
        self.let_go(item)  # retries read it again from the database
        trigger = Trigger.FIRST if item.attempts == 0 else Trigger.RETRY
        request = prepare(
            webhook, self.target, forwarder.settings.extra_headers, forwarder.resigner
        )
        webhook_id, delivery = item.webhook_id, item.delivery_id
        started_at = now_micros()
        try:
            attempt = await forwarder.sender.send(
                request, webhook_id=webhook_id, delivery=delivery, trigger=trigger
            )
        except asyncio.CancelledError:  # listen is stopping: say what was under way
            cut = unsent(
                request,
                webhook_id=webhook_id,
                delivery=delivery,
                trigger=trigger,
                why=INTERRUPTED + "; the next listen sends it again",
                error="interrupted",
                started_at=started_at,
            )
            pending = DeliveryState.PENDING
            if await forwarder.record(cut, pending, now_micros()) is not None:
                number = item.attempts + 1
                forwarder.emit(DeliveryAttempted(cut, self.target.url, pending, None, number))
            raise
        item.attempts += 1
        decision = decide_on_attempt(attempt.status, attempt.error)
        now_us = now_micros()
        retry_in: float | None = None
        if decision is Decision.RETRY:
            if attempt.error in CONNECTION_ERRORS:
                self.mark_down(attempt.error_detail or attempt.error or "unreachable")
            answered = header_value(attempt.response_headers, "retry-after")
            retry_after = parse_retry_after(answered, now_us / 1e6)
            retry_in = next_delay(
                forwarder.settings.policy,
                retries_done=item.attempts - 1,
                elapsed=(now_us - item.first_at) / 1e6,
                retry_after=retry_after,
                rng=forwarder.rng,
            )
            if retry_in is None:
                decision = Decision.FAILED
        if decision is Decision.PAUSE_TARGET:
            decision = Decision.FAILED
            if not self.paused:  # said once, not once per attempt that was in flight
                self.paused = True
                for waiting in self.items.values():
                    self.let_go(waiting)
                forwarder.emit(TargetPaused(self.target.url, pending=len(self.items) - 1))
        if decision is Decision.RETRY:
            assert retry_in is not None
            state = DeliveryState.PENDING
            next_at: int | None = now_us + int(retry_in * 1_000_000)
            item.due = asyncio.get_running_loop().time() + retry_in
            self._push(item)
        else:
            state = (
                DeliveryState.DELIVERED if decision is Decision.DELIVERED else DeliveryState.FAILED
            )
            next_at = None
            self.items.pop(item.delivery_id, None)
        # A target found down is probed every second: the retry comes when it is back, not
        # at the backoff's time (kept in the database for a restart), so none is announced.
        shown_in = None if self.down and attempt.error in CONNECTION_ERRORS else retry_in
        stale = stale_signature(webhook.summary, attempt)
        if stale is not None:
            given = forwarder.secrets_for(webhook.summary.path)
            stale = replace(stale, secret_envs=given.env_vars, secret_typed=given.typed)
        event = DeliveryAttempted(
            attempt, self.target.url, state, shown_in, number=item.attempts, stale=stale
        )
        if forwarder.settings.ordered:
            await forwarder.record(attempt, state, next_at)
            forwarder.emit(event)
        else:
            # The slot is free as soon as the answer is in: committing the record need not
            # hold back the next attempt (records are committed in submission order). The
            # event follows the commit, so whoever sees it finds the attempt stored.
            forwarder.record_later(attempt, state, next_at, event)


class Forwarder:
    """The lanes of every configured target."""

    def __init__(
        self,
        settings: ForwardSettings,
        sender: Sender,
        writer: Writer,
        load: Callable[[int, int], Awaitable[Webhook]],
        emit: Callable[[ListenEvent], None],
        resigner: Resigner | None = None,
        *,
        verify: VerifySettings | None = None,
    ) -> None:
        self.resigner = resigner
        self.verify = verify or VerifySettings()
        """How listen checks signatures: its secrets, to name them in a stale signature's
        fix (never a value)."""
        self.settings = settings
        self.sender = sender
        self.writer = writer
        self.load = load
        self.emit = emit
        self.rng = random.Random()  # jitter, not security
        self.lanes: dict[str, Lane] = {t.url: Lane(self, t) for t in settings.all_targets}
        self.recording: set[asyncio.Task[None]] = set()

    def secrets_for(self, path: str) -> Secrets:
        """The secrets that check a webhook at ``path`` (its route's own, else listen's: the
        rule ``keys_for`` follows), and the variables they were read from."""
        return secrets_for(match_route(path, self.settings.routes), self.verify)

    def start(self, pending: list[Delivery]) -> list[Delivery]:
        """Start every lane with the deliveries a previous run left pending.

        Returns the pending deliveries whose target is not configured this time (left as they
        are, for a later run that names their target).
        """
        orphans = []
        for delivery in pending:
            if delivery.target in self.lanes:
                self.enqueue(delivery)
            else:
                orphans.append(delivery)
        for lane in self.lanes.values():
            lane.runner = asyncio.create_task(lane.run(), name=f"lane {lane.target.url}")
        return orphans

    def enqueue(self, delivery: Delivery, webhook: Webhook | None = None) -> None:
        """Queue a pending delivery (committed already) on its target's lane."""
        lane = self.lanes[delivery.target]
        loop = asyncio.get_running_loop()
        wait = 0.0
        if delivery.next_attempt_at is not None:
            wait = max(0.0, (delivery.next_attempt_at - now_micros()) / 1e6)
        lane.add(
            _Item(
                delivery_id=delivery.id,
                webhook_id=delivery.webhook_id,
                first_at=delivery.created_at,
                attempts=delivery.attempts,
                due=loop.time() + wait,
                webhook=webhook,
            )
        )

    async def record(
        self, attempt: Attempt, state: DeliveryState, next_at: int | None
    ) -> Attempt | None:
        """Commit one attempt and its delivery's new state. A storage failure is reported, not
        raised: the delivery stays pending in the database and is retried after a restart."""
        try:
            stored: Attempt = await self.writer.run(RecordAttempt(attempt, state, next_at))
        except StorageError:
            return None
        return stored

    def record_later(
        self,
        attempt: Attempt,
        state: DeliveryState,
        next_at: int | None,
        event: DeliveryAttempted | None = None,
    ) -> None:
        """``record`` in the background, then emit ``event``; ``stop`` waits for them."""

        async def record_then_emit() -> None:
            await self.record(attempt, state, next_at)
            if event is not None:
                self.emit(event)

        task = asyncio.create_task(record_then_emit())
        self.recording.add(task)
        task.add_done_callback(self.recording.discard)

    async def stop(self, grace: float = FORWARD_GRACE) -> None:
        """Stop the lanes: no attempt starts any more; those in flight get ``grace`` seconds
        to be answered (and recorded), then are cut off, recorded as interrupted and left
        pending in the database; records of finished attempts are committed first."""
        runners = [lane.runner for lane in self.lanes.values() if lane.runner is not None]
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
        in_flight = [task for lane in self.lanes.values() for task in lane.tasks]
        if in_flight and grace > 0:
            await asyncio.wait(in_flight, timeout=grace)
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        await asyncio.gather(*self.recording, return_exceptions=True)
