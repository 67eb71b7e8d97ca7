"""Group commit: one writer thread turns many concurrent writes into few transactions.

Callers hand a job (a function of the connection, e.g. "insert this webhook and its
deliveries") to ``GroupCommitWriter.submit`` and wait. The writer thread takes everything
queued, runs it in one ``BEGIN IMMEDIATE … COMMIT`` (one fsync with ``synchronous=FULL``),
then reports the whole batch through ``on_done`` in one call. While a commit is in progress
the next batch gathers by itself, so no artificial delay is added and fsync never runs on the
event loop. If a batch fails because of one of its jobs, each job is retried alone, so one bad
job fails only itself; an error that hits every job alike (the lock held elsewhere, a full
disk, a read-only file, an I/O error: ``StorageUnavailableError``) fails the whole batch at
once, since retrying each job would only make each wait for the same failure.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from whrelay.core.errors import StorageError, StorageLostError, StorageUnavailableError
from whrelay.storage.store import Store, storage_error_from

Token = TypeVar("Token")
Job = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 512
"""Jobs committed in one transaction at the most."""


@dataclass(frozen=True, slots=True)
class Outcome(Generic[Token]):
    """What happened to one submitted job: its result, or the error that kept it out."""

    token: Token
    result: Any
    error: StorageError | None


class GroupCommitWriter(Generic[Token]):
    """A thread that owns a writing ``Store`` and commits jobs in batches.

    ``on_done`` is called from the writer thread, once per batch, with one ``Outcome`` per job
    in submission order. It must be quick and thread-safe (for asyncio:
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
        self._queue: queue.SimpleQueue[tuple[Job, Token] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="whrelay-writer", daemon=True)
        self.batches = 0
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job, token: Token) -> None:
        self._queue.put((job, token))

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
            self.on_done(self._commit(batch))

    def _commit(self, batch: list[tuple[Job, Token]]) -> list[Outcome[Token]]:
        results = commit_batch(self.store, [job for job, _ in batch])
        self.batches += 1
        self.written += sum(error is None for _, error in results)
        return [
            Outcome(token, result, error)
            for (_, token), (result, error) in zip(batch, results, strict=True)
        ]


def commit_batch(store: Store, jobs: Sequence[Job]) -> list[tuple[Any, StorageError | None]]:
    """Run ``jobs`` in one transaction; if it fails because of a job, run each alone so that
    one bad job fails only itself. An error that hits every job alike
    (``StorageUnavailableError``) fails them all at once. One ``(result, error)`` per job,
    in order."""
    try:
        results = store.run(lambda db: [job(db) for job in jobs])
    except Exception as error:
        failure = _as_storage_error(error)
        if len(jobs) == 1 or isinstance(failure, StorageUnavailableError):
            return [(None, failure)] * len(jobs)
        outcomes: list[tuple[Any, StorageError | None]] = []
        for number, job in enumerate(jobs):
            [(result, alone)] = commit_batch(store, [job])
            if isinstance(alone, StorageUnavailableError):
                return outcomes + [(None, alone)] * (len(jobs) - number)
            outcomes.append((result, alone))
        return outcomes
    return [(result, None) for result in results]


def _as_storage_error(error: Exception) -> StorageError:
    if isinstance(error, StorageError):
        return error
    if isinstance(error, sqlite3.Error):
        return storage_error_from(error)
    return StorageError(f"unexpected error while storing: {error!r}")


@dataclass(frozen=True, slots=True)
class StorageHealth:
    """Whether a writer can commit now, and if not, why."""

    status: Literal["ok", "degraded", "lost"]
    reason: str | None = None
    """A few words naming no file (``StorageUnavailableError.reason``): what
    ``/_whrelay/health`` tells whoever can reach the port."""
    detail: str | None = field(default=None, compare=False)
    """The whole story, paths included, for the user's terminal."""

    @classmethod
    def of(cls, error: StorageUnavailableError) -> StorageHealth:
        status: Literal["degraded", "lost"] = (
            "lost" if isinstance(error, StorageLostError) else "degraded"
        )
        return cls(status, error.reason, error.message)


HEALTHY = StorageHealth("ok")


class HealthWatch:
    """A writer's ``StorageHealth``, and who to tell when it changes. Lost is for good."""

    def __init__(self) -> None:
        self.current = HEALTHY
        self.on_change: Callable[[StorageHealth], None] | None = None

    def set(self, health: StorageHealth) -> None:
        if self.current.status == "lost" or health == self.current:
            return
        self.current = health
        if self.on_change is not None:
            self.on_change(health)

    def committed(self, errors: Iterable[StorageError | None]) -> None:
        """What one batch's outcomes tell: a job was committed, or storage is unavailable
        (or lost). Another error belongs to its job alone and tells nothing of the storage."""
        failure = None
        for error in errors:
            if error is None:
                self.set(HEALTHY)
                return
            if failure is None and isinstance(error, StorageUnavailableError):
                failure = error
        if failure is not None:
            self.set(StorageHealth.of(failure))


class Writer(Protocol):
    """What the receiver and the forwarder write through: ``await run(job)`` returns the
    job's result once it is committed, or raises ``StorageError``. ``health`` says whether
    it can commit now."""

    health: HealthWatch

    async def start(self) -> None: ...

    async def run(self, job: Job) -> Any: ...

    async def close(self) -> None: ...


class AsyncWriter:
    """A ``GroupCommitWriter`` thread for asyncio: ``await writer.run(job)`` returns once
    committed. Used when the ``Store`` is given in-process (tests, embedding)."""

    def __init__(self, store: Store) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: GroupCommitWriter[asyncio.Future[Any]] = GroupCommitWriter(
            store, self._on_done
        )
        self.health = HealthWatch()
        """Learnt from commits only: a lost file is noticed at the next write."""

    @property
    def batches(self) -> int:
        return self._writer.batches

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer.start()

    async def close(self) -> None:
        """Commit everything submitted, then stop."""
        await asyncio.to_thread(self._writer.close)

    def _on_done(self, outcomes: Sequence[Outcome[asyncio.Future[Any]]]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._resolve, outcomes)

    def _resolve(self, outcomes: Sequence[Outcome[asyncio.Future[Any]]]) -> None:
        self.health.committed(outcome.error for outcome in outcomes)
        _resolve(outcomes)

    async def run(self, job: Job) -> Any:
        """Run ``job`` in the next group commit; raise ``StorageError`` if it failed."""
        assert self._loop is not None, "call start() first"
        waiter: asyncio.Future[Any] = self._loop.create_future()
        self._writer.submit(job, waiter)
        # A cancelled caller cancels only its wait: the write still happens, and _resolve
        # skips the cancelled future.
        return await waiter


def _resolve(outcomes: Sequence[Outcome[asyncio.Future[Any]]]) -> None:
    for outcome in outcomes:
        if outcome.token.done():
            continue
        if outcome.error is not None:
            outcome.token.set_exception(outcome.error)
        else:
            outcome.token.set_result(outcome.result)
