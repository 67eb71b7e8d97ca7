"""The data source: the adapter's calls, run in workers, their results posted as messages.

Widgets never read the database, resolve a name or open a socket: they ask the source, and
the source runs the adapter's function in a Textual worker (a thread for SQLite and for CPU
work, a task on the event loop for a replay, whose client is asyncio) and posts the result
to the widget that asked. Reads go through two read-only connections, each used by one
worker at a time: one for what the user waits on (pages, arrivals, a webhook's detail), one
for scans (search and filters), so a long search never holds up a page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from textual.message_pump import MessagePump
from textual.worker import get_current_worker

from whrelay.core.errors import WhrelayError
from whrelay.tui import adapter
from whrelay.tui.messages import (
    ActionFailed,
    Compared,
    Copied,
    DeliveriesChanged,
    EditOpened,
    EditReviewed,
    EditSent,
    ExportFinished,
    ExportProgressed,
    Failure,
    HistoryCounted,
    HistoryOpened,
    MatchesFound,
    PendingCounted,
    ReplayFinished,
    RowsFetched,
    ScanStopped,
    VerifyFinished,
    WebhookLoaded,
    WebhooksArrived,
)
from whrelay.tui.model import PAGE, Fetch

if TYPE_CHECKING:
    from textual.app import App

    from whrelay.core.models import Webhook, WebhookSummary
    from whrelay.tui.adapter import (
        EditDraft,
        EditReview,
        ExportSelection,
        Position,
        Query,
        Resign,
        Store,
        WebhookView,
    )

P = ParamSpec("P")
T = TypeVar("T")

FIRST_SCAN = 500
"""Webhooks the first step of a scan looks at: the newest, so their matches show at once."""
LARGEST_SCAN = 20_000
"""Webhooks one step looks at, at the most (steps grow while each takes under STEP_TIME)."""
STEP_TIME = 0.1
"""Seconds a step of a scan should take: a new keystroke or Esc waits no longer."""


class Closed(Exception):
    """The source was closed (the app is leaving): a worker's result goes nowhere."""


class Cancelled(Exception):
    """The worker was cancelled while it waited for the connection: it reads nothing."""


def _cancelled() -> bool:
    try:
        return get_current_worker().is_cancelled
    except Exception:  # not in a worker (a test calling the reader directly)
        return False


class Reader:
    """One read-only connection to the database, used by one thread at a time. It opens
    lazily, on the first read (from a worker, never from the event loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, read: Callable[..., T], *args: object) -> T:
        """``read(store, *args)`` on this connection, once no other thread uses it. A
        cancelled worker gives up waiting (``Cancelled``): stale work never queues up in
        front of what the user waits for, nor holds one of the loop's worker threads."""
        while not self._lock.acquire(timeout=0.02):
            if _cancelled():
                raise Cancelled
        try:
            if self._closed:
                raise Closed
            if _cancelled():
                raise Cancelled
            if self._store is None:
                self._store = adapter.open_reader(self.path)
            return read(self._store, *args)
        finally:
            self._lock.release()

    def interrupt(self) -> None:
        """Stop the query under way, if any (SQLite's own interrupt: thread-safe)."""
        store = self._store
        if store is not None:
            store.db.interrupt()

    def close(self) -> None:
        self._closed = True
        self.interrupt()
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


class DataSource:
    """Runs the adapter's reads, scans, replays and checks for the widgets (see the module
    docstring). ``app`` runs the workers; each result goes to the widget that asked."""

    def __init__(self, app: App[object], path: Path):
        self.app = app
        self.path = path
        self.reader = Reader(path)
        self.scanner = Reader(path)
        self._version: int | None = None
        self._since: adapter.Changes | None = None
        """Where the next look for deliveries that moved on starts; set as the history opens."""
        self._polling = False
        self.pending_to: MessagePump | None = None
        """Who is told the pending deliveries per target (``listen --tui``'s header)."""
        self.tls = adapter.ReplayTls()
        """Which targets replays may dial, and how https ones (``whrelay tui --allow-remote
        --ca-file``, or listen's settings)."""

    def close(self) -> None:
        self.app.workers.cancel_group(self.app, "scan")
        self.scanner.close()
        self.reader.close()

    def _run(
        self,
        work: Callable[[], None],
        group: str,
        reply_to: MessagePump,
        what: str,
        exclusive: bool = True,
    ) -> None:
        def guarded() -> None:
            try:
                work()
            except (Closed, Cancelled):
                pass
            except Exception as error:
                if _cancelled():  # its query interrupted (stop_scan): nobody waits for it
                    return
                reply_to.post_message(ActionFailed(Failure.of(what, error)))

        self.app.run_worker(
            guarded, thread=True, group=group, exclusive=exclusive, exit_on_error=False
        )

    # --- the whole history ------------------------------------------------------------------------

    def open_history(self, generation: int, reply_to: MessagePump, top: int = PAGE) -> None:
        """The newest rows at once, then the count (slower on a cold cache)."""

        def work() -> None:
            self._since = self.reader(adapter.changes_from)
            rows = self.reader(adapter.rows, None, "older", top)
            newest = self.reader(adapter.newest_id)
            reply_to.post_message(HistoryOpened(generation, rows, newest))
            self._count(generation, reply_to, newest)

        self._run(work, "open", reply_to, "read the history")

    def count_history(self, generation: int, reply_to: MessagePump, newest: int) -> None:
        """The count alone: the newest rows, up to webhook ``newest``, are shown already."""
        self._run(
            lambda: self._count(generation, reply_to, newest), "open", reply_to, "read the history"
        )

    def _count(self, generation: int, reply_to: MessagePump, newest: int) -> None:
        self._version = None  # the next poll looks, whatever came since the rows shown
        for _ in range(3):  # a count and a newest id of the same moment
            before = self.reader(adapter.data_version)
            total = self.reader(adapter.total)
            latest = self.reader(adapter.newest_id)
            if self.reader(adapter.data_version) == before:
                break
        # Those that arrived after the rows shown come as arrivals at the next poll.
        arrived_since = self.reader(_count_after, newest, latest)
        reply_to.post_message(HistoryCounted(generation, total - arrived_since, 0))
        self._pending()

    def fetch(self, fetches: Sequence[Fetch], reply_to: MessagePump) -> None:
        """Rows around the viewport; a newer request cancels one not started yet."""

        def work() -> None:
            for fetch in fetches:
                if get_current_worker().is_cancelled:
                    reply_to.post_message(RowsFetched(fetch, (), complete=False))
                    continue
                start = fetch.start
                if fetch.skip:
                    start = self.reader(
                        adapter.skip, fetch.skip_from, fetch.skip, fetch.skip_direction
                    )
                    if start is None:  # fewer webhooks than counted: pruned meanwhile
                        reply_to.post_message(RowsFetched(fetch, ()))
                        continue
                rows = self.reader(adapter.rows, start, fetch.direction, fetch.limit)
                reply_to.post_message(RowsFetched(fetch, rows))

        self._run(work, "fetch", reply_to, "read the history")

    def poll(
        self,
        generation: int,
        newest_id: int,
        query: Query,
        loaded: Sequence[WebhookSummary],
        reply_to: MessagePump,
    ) -> None:
        """Look whether another connection committed (``PRAGMA data_version``, a cheap
        read); only then ask for the arrivals after ``newest_id`` and for the deliveries
        that moved on among the ``loaded`` webhooks."""
        if self._polling:
            return
        self._polling = True

        def work() -> None:
            try:
                version = self.reader(adapter.data_version)
                if version == self._version:
                    return
                self._version = version
                self._look(generation, newest_id, query, loaded, reply_to)
            finally:
                self._polling = False

        self._run(work, "poll", reply_to, "follow the history", exclusive=False)

    def _look(
        self,
        generation: int,
        newest_id: int,
        query: Query,
        loaded: Sequence[WebhookSummary],
        reply_to: MessagePump,
    ) -> None:
        count, latest = 0, newest_id
        while batch := self.reader(adapter.arrivals, latest, 1000):
            count += len(batch)
            latest = batch[-1].id
        if count:
            if query.empty:
                top = self.reader(adapter.rows, None, "older", min(count, PAGE) + PAGE)
            else:
                top, _ = self.reader(adapter.scan, query, None, count)
            reply_to.post_message(WebhooksArrived(generation, count, top, latest))
        if self._since is None:  # not opened yet: what changes from now on
            changed: set[int] = set()
            self._since = self.reader(adapter.changes_from)
        else:
            changed, self._since = self.reader(adapter.changed_webhooks, self._since)
        touched = [s for s in loaded if s.id in changed]
        if changed:
            fresh = self.reader(adapter.refreshed, touched) if touched else []
            reply_to.post_message(DeliveriesChanged(fresh, changed))
        self._pending()

    def _pending(self) -> None:
        if self.pending_to is not None:
            self.pending_to.post_message(PendingCounted(self.reader(adapter.pending_by_target)))

    # --- narrowed: scans --------------------------------------------------------------------------

    def scan(
        self,
        generation: int,
        query: Query,
        start: Position | None,
        want: int,
        reply_to: MessagePump,
    ) -> None:
        """Look through the history from ``start`` (newest first) for ``query``'s matches, a
        bounded step at a time, posting each step's matches, until ``want`` are found or the
        oldest is reached. A new scan, or ``stop_scan``, cancels it between two steps."""

        def work() -> None:
            worker = get_current_worker()
            within, found, position = FIRST_SCAN, 0, start
            try:
                while not worker.is_cancelled:
                    began = time.monotonic()
                    rows, position = self.scanner(adapter.scan, query, position, within)
                    if worker.is_cancelled:
                        break
                    found += len(rows)
                    going_on = position is not None and found < want
                    reply_to.post_message(
                        MatchesFound(generation, rows, position, within, going_on)
                    )
                    if not going_on:
                        break
                    if time.monotonic() - began < STEP_TIME / 2:
                        within = min(within * 2, LARGEST_SCAN)
            finally:
                reply_to.post_message(ScanStopped(generation))

        self._run(work, "scan", reply_to, "search")

    def stop_scan(self) -> None:
        self.app.workers.cancel_group(self.app, "scan")
        self.scanner.interrupt()

    # --- one webhook ------------------------------------------------------------------------------

    def load_webhook(self, webhook_id: int, reply_to: MessagePump) -> None:
        def work() -> None:
            view = self.reader(adapter.webhook_view, webhook_id)
            if not get_current_worker().is_cancelled:
                reply_to.post_message(WebhookLoaded(view))

        self._run(work, "webhook", reply_to, f"read webhook #{webhook_id}")

    def verify(self, webhook: Webhook, secret: str, reply_to: MessagePump) -> None:
        def work() -> None:
            result = adapter.verify_again(webhook, secret)
            reply_to.post_message(VerifyFinished(webhook.id, result))

        self._run(work, "verify", reply_to, "verify")

    def replay(
        self,
        webhook_id: int,
        reply_to: MessagePump,
        to: str | None = None,
        resign: Resign | None = None,
    ) -> None:
        """Replay through ``whrelay replay``'s function (an asyncio task on the app's loop:
        the forwarding client is asyncio); ``to`` is a target as typed (``F``)."""
        import asyncio

        what = f"replay #{webhook_id}"

        async def work() -> None:
            try:
                target = None
                if to is not None:
                    target = await asyncio.to_thread(adapter.parse_forward_target, to, self.tls)
                result = await adapter.replay(self.path, webhook_id, target, resign, tls=self.tls)
            except Exception as error:
                reply_to.post_message(ActionFailed(Failure.of(what, error), webhook_id))
            else:
                reply_to.post_message(ReplayFinished(result))

        self.app.run_worker(work(), group="replay", exit_on_error=False)

    def check_target(self, text: str, done: Callable[[WhrelayError | None], None]) -> None:
        """``-f``'s checks on a target typed in (its name resolved: off the loop); ``done``
        gets ``None`` or the error, on the loop."""

        def work() -> None:
            try:
                adapter.parse_forward_target(text, self.tls)
            except WhrelayError as error:
                self.app.call_from_thread(done, error)
            else:
                self.app.call_from_thread(done, None)

        self._run(work, "check-target", self.app, "check the target")

    # --- copy, export, compare, edit -------------------------------------------------------------

    def copy(self, webhook_id: int, what: str, reply_to: MessagePump) -> None:
        """Webhook ``webhook_id`` as text for the clipboard (``adapter.copy_text``)."""

        def work() -> None:
            text = self.reader(adapter.copy_text, webhook_id, what)
            reply_to.post_message(Copied(webhook_id, what, text))

        self._run(work, "copy", reply_to, f"copy #{webhook_id}")

    def export(
        self, selection: ExportSelection, fmt: str, path: Path, reply_to: MessagePump
    ) -> None:
        """Write ``selection`` to ``path``, on a connection of its own (pages and searches go
        on meanwhile), posting its progress; cancelling the worker stops it, leaving no file."""

        def work() -> None:
            worker = get_current_worker()
            reader = Reader(self.path)

            def progress(done: int, total: int) -> None:
                reply_to.post_message(ExportProgressed(done, total))

            try:
                count = reader(
                    adapter.write_export,
                    selection,
                    fmt,
                    path,
                    progress,
                    lambda: worker.is_cancelled,
                )
            finally:
                reader.close()
            reply_to.post_message(ExportFinished(count, path))

        self._run(work, "export", reply_to, "export")

    def compare(self, left_id: int, right_id: int, reply_to: MessagePump) -> None:
        def work() -> None:
            comparison = self.reader(adapter.compare_webhooks, left_id, right_id)
            reply_to.post_message(Compared(comparison))

        self._run(work, "compare", reply_to, f"compare #{left_id} and #{right_id}")

    def compare_answers(
        self, view: WebhookView, left: int, right: int, reply_to: MessagePump
    ) -> None:
        def work() -> None:
            reply_to.post_message(Compared(adapter.compare_answers(view, left, right)))

        self._run(work, "compare", reply_to, "compare the answers")

    def open_edit(self, webhook_id: int, reply_to: MessagePump) -> None:
        def work() -> None:
            reply_to.post_message(EditOpened(self.reader(adapter.edit_start, webhook_id)))

        self._run(work, "edit", reply_to, f"edit #{webhook_id}")

    def review_edit(self, original_id: int, draft: EditDraft, reply_to: MessagePump) -> None:
        """Read the draft and check it (a target typed in is resolved: off the loop)."""

        def work() -> None:
            review = self.reader(adapter.review_edit, original_id, draft, self.tls)
            reply_to.post_message(EditReviewed(review))

        self._run(work, "edit", reply_to, "review the edit")

    def send_edited(self, review: EditReview, unverified: bool, reply_to: MessagePump) -> None:
        """Store the edit and send it (an asyncio task: the forwarding client is asyncio)."""
        what = f"send the edit of #{review.original_id}"

        async def work() -> None:
            try:
                result = await adapter.send_edited(self.path, review, unverified, tls=self.tls)
            except Exception as error:
                reply_to.post_message(ActionFailed(Failure.of(what, error), review.original_id))
            else:
                reply_to.post_message(EditSent(result))

        self.app.run_worker(work(), group="replay", exit_on_error=False)


def _count_after(store: Store, after_id: int, until_id: int) -> int:
    """Webhooks committed after ``after_id`` up to ``until_id`` (a handful, at start-up)."""
    if until_id <= after_id:
        return 0
    return len(
        [s for s in adapter.arrivals(store, after_id, until_id - after_id) if s.id <= until_id]
    )
