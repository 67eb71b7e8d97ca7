"""Group commit: one writer thread turns many concurrent captures into few transactions.

The receiver hands each capture to ``GroupCommitWriter.submit`` and waits. The writer thread
takes everything queued, commits it in one ``BEGIN IMMEDIATE … COMMIT`` (one fsync with
``synchronous=FULL``), then reports the whole batch through ``on_done`` in one call. While a
commit is in progress the next batch gathers by itself, so no artificial delay is added and
fsync never runs on the event loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from whrelay.errors import StorageError
from whrelay.models import Capture, WebhookSummary
from whrelay.storage.store import Store

Token = TypeVar("Token")

MAX_BATCH = 512
"""Captures committed in one transaction at the most."""


@dataclass(frozen=True, slots=True)
class Outcome(Generic[Token]):
    """What happened to one submitted capture: stored, or the error that kept it out."""

    token: Token
    stored: WebhookSummary | None
    error: StorageError | None


class GroupCommitWriter(Generic[Token]):
    """A thread that owns a writing ``Store`` and commits captures in batches.

    ``on_done`` is called from the writer thread, once per batch, with one ``Outcome`` per
    capture in submission order. It must be quick and thread-safe (for asyncio:
    ``loop.call_soon_threadsafe``).
    """

    def __init__(
        self,
        store: Store,
        on_done: Callable[[Sequence[Outcome[Token]]], None],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.store = store
        self.on_done = on_done
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Capture, Token] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="whrelay-writer", daemon=True)
        self.batches = 0
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, capture: Capture, token: Token) -> None:
        self._queue.put((capture, token))

    def close(self, timeout: float | None = None) -> None:
        """Commit everything already submitted, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Capture, Token]]) -> None:
        outcomes: list[Outcome[Token]]
        try:
            stored = self.store.insert_webhooks([capture for capture, _ in batch])
        except StorageError as error:
            outcomes = [Outcome(token, None, error) for _, token in batch]
        except Exception as error:  # the thread must answer every waiter
            failure = StorageError(f"unexpected error while storing: {error!r}")
            outcomes = [Outcome(token, None, failure) for _, token in batch]
        else:
            outcomes = [
                Outcome(token, row, None) for (_, token), row in zip(batch, stored, strict=True)
            ]
            self.batches += 1
            self.written += len(stored)
        self.on_done(outcomes)
