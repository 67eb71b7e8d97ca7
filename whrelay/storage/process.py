"""The storage process: ``listen``'s writer, in a process of its own.

Storing costs CPU (detection, SQL, the blob copy) that, in the receiver's process, would hold
the same GIL as the HTTP handling. Running the group-commit writer in a child process lets
both use a core. The receiver sends jobs over the child's stdin and gets their
results back on its stdout, one frame per committed batch; a webhook is acknowledged only
after its result arrives, that is after its transaction is committed. When the receiver goes
away (even by ``kill -9``) the child reads end-of-file, commits what it has, and exits. It
runs in a process group of its own, so that signals meant for ``listen`` (Ctrl-C, a SIGTERM
to the group) reach only ``listen``, which stops it.

Large bodies are not copied on the way: a body over ``OUT_OF_BAND`` follows its frame on the
pipe as it is, written from the receiver's own bytes (``_Outlet``), and the child reads it
into one buffer that SQLite stores from (``_Inbox``). What waits to be written to the child
is bounded (``backlog``): past it, webhooks are refused at once rather than queued.

Stalls answer in bounded time: a webhook waits ``COMMIT_DEADLINE`` at the most for its commit,
then gets a 503, whatever the storage process is doing (waiting for a lock, stopped). The
parent also asks the child every ``STATUS_EVERY`` how it is: the child then checks that the
files at the database's path are still the ones it has open, and, while it cannot commit,
tries again (reopening a database SQLite opened read-only), so ``/_whrelay/health`` tells the
truth within a second, traffic or not.

Run by ``ProcessWriter``; not meant to be started by hand:
``python -m whrelay.storage.process DB DURABILITY [DEVICE:INODE]``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import marshal
import operator
import os
import pickle
import signal
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whrelay.core.allocator import give_back_large_blocks
from whrelay.core.defaults import DEFAULT_MAX_BODY, body_budget
from whrelay.core.errors import (
    CANNOT_OPEN,
    READ_ONLY,
    StorageError,
    StorageLostError,
    StorageUnavailableError,
    say,
)
from whrelay.core.models import Attempt, Capture, DeliveryState, Identity, Trigger, Verdict
from whrelay.core.timeparse import size_text
from whrelay.storage.jobs import InsertWebhook, RecordAttempt
from whrelay.storage.store import Durability, FileId, Store, file_id
from whrelay.storage.writer import (
    MAX_BATCH,
    HealthWatch,
    Job,
    StorageHealth,
    commit_batch,
)

_FRAME = struct.Struct("!Q")
FLUSH_AT = 3
"""Jobs sent to the storage process as soon as this many wait, without waiting for the end of
the event loop's turn: it starts committing them while this process handles the rest of a
burst of requests. Measured with bench/ingest.py's load: 10–20% more webhooks a second than
sending once a turn, about the same for 1, 2, 3 and 6."""
RESTART_DELAY = 0.5
"""Seconds before a storage process that died is replaced."""
COMMIT_DEADLINE = 8.0
"""Seconds a write waits for its commit at the most. Past it the webhook's sender gets 503
with ``Retry-After`` (before GitHub stops waiting for an answer, at 10 s), and the webhook is
never reported stored: if the storage process commits it later anyway, it is stored but was
not acknowledged, and the sender's retry is stored again (flagged as a duplicate when the
provider gives an id of its own)."""
STATUS_EVERY = 0.5
"""Seconds between the parent's questions to the storage process (see the module docstring)."""
STALL_AFTER = COMMIT_DEADLINE / 2
"""Seconds without an answer from the storage process, with a question or a write waiting,
after which storage counts as degraded (stalled)."""
REOPEN_EVERY = 1.0
"""Seconds between two attempts of the storage process to reopen the database."""
OUT_OF_BAND = 64 * 1024
"""Webhook bodies over this many bytes travel out of band: the job in the frame carries the
body's length, and the body follows the frame on the pipe as it is, written from the
receiver's own bytes and read by the storage process into one buffer of its own. Smaller
bodies (most webhooks are about 1 KiB) stay inside the frame: one ``marshal`` call for the
frame is the cheapest way over for them, and their copies cost next to nothing."""
BATCH_BODIES = 16 * 1024 * 1024
"""Bytes of out-of-band bodies the storage process holds for one batch: one that would take
a batch over it is read after that batch is committed, so that the storage process holds
about one large body at a time, not every one sent in a frame."""
DEFAULT_BACKLOG = body_budget(DEFAULT_MAX_BODY)
"""Bytes waiting to be written to the storage process above which webhooks are refused (see
``ProcessWriter``); ``listen`` passes its in-flight body budget."""
_READ = 1 << 20
_WRITEV_PARTS = 64
"""Buffers given to one ``os.writev`` at the most (the system allows 1024)."""


def _frames(buffer: bytearray) -> list[bytes]:
    """Take every complete frame off the front of ``buffer`` (the child's answers)."""
    frames = []
    offset = 0
    while len(buffer) - offset >= _FRAME.size:
        (size,) = _FRAME.unpack_from(buffer, offset)
        end = offset + _FRAME.size + size
        if len(buffer) < end:
            break
        frames.append(bytes(buffer[offset + _FRAME.size : end]))
        offset = end
    del buffer[:offset]
    return frames


def _frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload)) + payload


# --- the wire format -----------------------------------------------------------------------
# A frame is an 8-byte length and a ``marshal``led list of jobs. The two jobs sent for every
# webhook travel as plain tuples (several times faster than pickling dataclasses); any other
# job is pickled. A webhook body over ``OUT_OF_BAND`` bytes is replaced in its tuple by its
# length, and its bytes follow the frame, after those of the frame's earlier jobs. Both ends
# are this module.

_WEBHOOK, _ATTEMPT, _PICKLED, _STATUS = 1, 2, 0, 3
_FAILED, _UNAVAILABLE, _LOST = 0, 1, 2
_capture_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Capture)))
_attempt_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Attempt)))
_identity_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Identity)))
_BODY = [f.name for f in dataclasses.fields(Capture)].index("body")


def encode_job(key: int, job: Job) -> tuple[tuple[Any, ...], bytes | None]:
    """A job as a marshallable tuple, and the body that follows the frame out of band, if
    any. An ``InsertWebhook`` must be ``identified()``: the storage process then answers
    with the ids alone and the parent rebuilds the records."""
    if isinstance(job, InsertWebhook):
        verdict, identity = job.verdict, job.identity
        assert identity is not None, "ProcessWriter.run identifies the webhook first"
        captured = _capture_fields(job.capture)
        body = job.capture.body
        if body is not None and len(body) > OUT_OF_BAND:
            captured = (*captured[:_BODY], len(body), *captured[_BODY + 1 :])
        else:
            body = None
        fields: tuple[Any, ...] = (
            key,
            _WEBHOOK,
            captured,
            tuple(job.targets),
            None
            if verdict is None
            else (verdict.verdict, verdict.scheme, verdict.reason, verdict.detail),
            _identity_fields(identity),
        )
        return fields, body
    if isinstance(job, RecordAttempt):
        attempt_fields = _attempt_fields(job.attempt)
        # marshal takes plain strings only: the trigger and the state go as their values.
        plain = (*attempt_fields[:2], str(attempt_fields[2]), *attempt_fields[3:])
        fields = (key, _ATTEMPT, plain, str(job.state), job.next_attempt_at)
        return fields, None
    return (key, _PICKLED, pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)), None


def out_of_band(fields: tuple[Any, ...]) -> int | None:
    """The length of the body that follows the frame for this encoded job, if one does."""
    if fields[1] == _WEBHOOK:
        body = fields[2][_BODY]
        if type(body) is int:
            return body
    return None


def decode_job(fields: tuple[Any, ...], body: bytearray | None = None) -> tuple[int, int, Job]:
    """The job ``encode_job`` encoded (not the parent's question, ``(key, _STATUS)``), as the
    storage process runs it, with ``body``, read after the frame, for the length that stands
    in for it. SQLite stores the ``bytearray`` as it stores ``bytes``: a BLOB of the same
    bytes."""
    key, kind = fields[0], fields[1]
    if kind == _WEBHOOK:
        captured = fields[2]
        if body is not None:
            captured = (*captured[:_BODY], body, *captured[_BODY + 1 :])
        verdict = None if fields[4] is None else Verdict(*fields[4])
        job = InsertWebhook(Capture(*captured), fields[3], verdict, Identity(*fields[5]))
        return key, kind, job.rows
    if kind == _ATTEMPT:
        values = list(fields[2])
        values[2] = Trigger(values[2])
        attempt = Attempt(*values)
        return key, kind, RecordAttempt(attempt, DeliveryState(fields[3]), fields[4])
    return key, kind, pickle.loads(fields[2])  # noqa: S301 - written by our own parent


def encode_result(kind: int, result: Any) -> Any:
    if kind == _WEBHOOK:
        return result  # the ids: (webhook, duplicated webhook, [deliveries])
    if kind == _ATTEMPT:
        return result.id  # the parent has the rest (the response body need not come back)
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def decode_result(job: Job, kind: int, data: Any) -> Any:
    if kind == _WEBHOOK:
        assert isinstance(job, InsertWebhook)
        return job.result(data)
    if kind == _ATTEMPT:
        assert isinstance(job, RecordAttempt)
        return dataclasses.replace(job.attempt, id=data)
    return pickle.loads(data)  # noqa: S301 - written by our own child


# --- the child -----------------------------------------------------------------------------


class _Keeper:
    """The storage process's ``Store``, and why it cannot commit now, if it cannot."""

    def __init__(self, path: Path, durability: Durability, expected: FileId | None) -> None:
        self.path = path
        self.durability: Durability = durability
        self.store: Store | None = None
        self.failure: StorageUnavailableError | None = None
        self.opened_at = 0.0
        now = file_id(path)
        if expected is not None and now != expected:
            # Gone while the storage process was down: not the database listen started on.
            how = "deleted" if now is None else "replaced"
            self.failure = StorageLostError(
                f"the database file {path} was {how}", reason=f"the database file was {how}"
            )
            return
        self._open()

    def _open(self) -> None:
        self.opened_at = time.monotonic()
        if self.store is not None:
            self.store.close()
            self.store = None
        try:
            self.store = Store(self.path, durability=self.durability)
        except StorageError as error:
            self.failure = StorageUnavailableError(error.message, reason=CANNOT_OPEN)
            return
        # Whether it can be written, found out now: SQLite opens a file it may not write
        # read-only without a word, and health would say ok until the first webhook.
        self._try(self.store)

    def _try(self, store: Store) -> None:
        """A one-page write: ``failure`` says how it went."""
        try:
            store.probe()
        except StorageUnavailableError as error:
            self.failure = error
        except StorageError:
            pass  # a bug, not a reason to say that nothing can be committed
        else:
            self.failure = None

    def _ready(self) -> Store | None:
        """The store to write with, or ``None``. Reopened first, now and then, when it could
        not be opened, or when SQLite opened it read-only: such a connection stays read-only
        after the file is made writable again."""
        if isinstance(self.failure, StorageLostError):
            return None
        stale = self.store is None or (
            self.failure is not None and self.failure.reason == READ_ONLY
        )
        if stale and time.monotonic() - self.opened_at >= REOPEN_EVERY:
            self._open()
        return self.store

    def commit(self, jobs: list[Job]) -> list[tuple[Any, StorageError | None]]:
        store = self._ready()
        if store is None:
            assert self.failure is not None
            return [(None, self.failure)] * len(jobs)
        results = commit_batch(store, jobs)
        self._learn(error for _, error in results)
        return results

    def _learn(self, errors: Iterable[StorageError | None]) -> None:
        for error in errors:
            if error is None:
                self.failure = None
                return
            if isinstance(error, StorageUnavailableError):
                self.failure = error
                return

    def status(self) -> tuple[str, str | None, str | None]:
        """Whether this process can commit now: the files are checked, and while it could
        not commit, a one-page write is tried."""
        store = self.store if not isinstance(self.failure, StorageLostError) else None
        if store is not None:
            try:
                store.check_files()
            except StorageUnavailableError as error:
                self.failure = error
        if self.failure is not None:
            reopened = self.opened_at
            store = self._ready()
            if store is not None and self.opened_at == reopened:  # (opening tries it)
                self._try(store)
        if self.failure is None:
            return "ok", None, None
        return StorageHealth.of(self.failure).status, self.failure.reason, self.failure.message

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


class _Inbox:
    """The storage process's end of the pipe: frames, and the bodies that follow them.

    Frames are read in large reads, many at once under load. A body that follows a frame is
    read into a ``bytearray`` of its exact size, made once: first whatever of it the last
    read brought (at most ``_READ`` bytes), then the rest straight from the pipe into it.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.offset = 0
        """Where the bytes not yet taken start in ``buffer``."""
        self._read = bytearray(_READ)
        """What each read reads into: made once, where ``os.read`` would allocate its
        ``_READ`` bytes (a mapping of their own, see ``whrelay.core.allocator``) every time."""

    def fill(self) -> bool:
        """Read what the pipe holds, waiting for something; ``False`` at end-of-file."""
        got = os.readv(self.fd, [self._read])
        if not got:
            return False
        del self.buffer[: self.offset]
        self.offset = 0
        with memoryview(self._read) as read:
            self.buffer += read[:got]
        return True

    def jobs(self) -> list[tuple[Any, ...]] | None:
        """The encoded jobs of the next frame, or ``None`` until all of it has been read."""
        start = self.offset + _FRAME.size
        if len(self.buffer) < start:
            return None
        (size,) = _FRAME.unpack_from(self.buffer, self.offset)
        if len(self.buffer) < start + size:
            return None
        with memoryview(self.buffer) as view:
            jobs: list[tuple[Any, ...]] = marshal.loads(view[start : start + size])  # noqa: S302 - written by our own parent
        self.offset = start + size
        return jobs

    def body(self, size: int) -> bytearray:
        """The next ``size`` bytes. ``EOFError`` when the pipe ends first (the parent died
        while writing them): the job they belong to is not stored."""
        body = bytearray(size)
        with memoryview(body) as into, memoryview(self.buffer) as held:
            have = min(size, len(self.buffer) - self.offset)
            into[:have] = held[self.offset : self.offset + have]
        self.offset += have
        with memoryview(body) as into:
            while have < size:
                got = os.readv(self.fd, [into[have:]])
                if not got:
                    raise EOFError(f"the pipe ended {size - have} bytes before a body's end")
                have += got
        return body


def child_main(db_path: str, durability: Durability, expected: FileId | None = None) -> int:
    """Read jobs from stdin until end-of-file; commit them in batches; answer on stdout."""
    # We run in a process group of our own (``ProcessWriter._spawn``), so Ctrl-C and a
    # SIGTERM sent to listen's group (by `timeout`, systemd, a process manager) reach only
    # the parent, which drains us and closes our stdin: we end then. One sent to us alone
    # is ignored for the same reason. Writing a warning to the terminal from outside its
    # foreground group must not stop us either (``stty tostop``).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    give_back_large_blocks()
    keeper = _Keeper(Path(db_path), durability, expected)
    inbox = _Inbox(0)
    try:
        while inbox.fill():
            if not _take(inbox, keeper):
                break
        return 0
    finally:
        keeper.close()


def _take(inbox: _Inbox, keeper: _Keeper) -> bool:
    """Commit the jobs of every complete frame read (with their bodies); ``False`` when the
    pipe ended in the middle of a body. A function of its own so that nothing of a batch,
    large bodies included, is held while the next read waits."""
    batch: list[tuple[int, int, Job]] = []
    held = 0
    while (jobs := inbox.jobs()) is not None:
        for fields in jobs:
            if fields[1] == _STATUS:  # the parent's question, answered after the jobs before it
                _commit(keeper, batch)
                batch, held = [], 0
                _write_all(1, _frame(marshal.dumps([(fields[0], _STATUS, keeper.status(), None)])))
                continue
            size = out_of_band(fields) or 0
            if size and held and held + size > BATCH_BODIES:
                _commit(keeper, batch)
                batch, held = [], 0
            try:
                # Appended without a name of its own: once the batch is committed, nothing
                # holds this body while the next one is read.
                batch.append(decode_job(fields, inbox.body(size) if size else None))
            except EOFError:
                _commit(keeper, batch)  # every job before it came whole
                return False
            held += size
            if len(batch) == MAX_BATCH:
                _commit(keeper, batch)
                batch, held = [], 0
    _commit(keeper, batch)
    return True


def _commit(keeper: _Keeper, batch: list[tuple[int, int, Job]]) -> None:
    if not batch:
        return
    answers: list[tuple[int, int, Any, tuple[int, str, str] | None]] = []
    for (key, kind, _), (result, error) in zip(
        batch, keeper.commit([job for _, _, job in batch]), strict=True
    ):
        if error is None:
            answers.append((key, kind, encode_result(kind, result), None))
        else:
            answers.append((key, kind, None, _describe(error)))
    _write_all(1, _frame(marshal.dumps(answers)))


def _describe(error: StorageError) -> tuple[int, str, str]:
    if isinstance(error, StorageLostError):
        return _LOST, error.message, error.reason
    if isinstance(error, StorageUnavailableError):
        return _UNAVAILABLE, error.message, error.reason
    return _FAILED, error.message, ""


def _error(described: tuple[int, str, str]) -> StorageError:
    kind, message, reason = described
    if kind == _LOST:
        return StorageLostError(message, reason=reason)
    if kind == _UNAVAILABLE:
        return StorageUnavailableError(message, reason=reason)
    return StorageError(message)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- the parent ----------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Outgoing:
    """One frame on its way to the storage process: its parts not yet written."""

    parts: collections.deque[memoryview]
    size: int
    """Bytes not yet written."""
    deadline: float
    """When the last of its jobs stops being waited for (loop time)."""
    asks: bool
    """It carries the parent's question, whose answer is awaited."""
    started: bool = False


class _Outlet:
    """The parent's end of the storage process's stdin, written without blocking.

    A frame is queued as its parts (length, payload, the bodies that follow it), and written
    with ``os.writev`` from memoryviews of them as the pipe takes them: a body is neither
    joined to anything nor copied into a buffer (asyncio's pipe transport copies whatever the
    pipe does not take at once). A frame none of whose bytes went out is dropped once all its
    jobs are past their deadline (``drop``): their senders were answered 503 already.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.loop = asyncio.get_running_loop()
        self.frames: collections.deque[_Outgoing] = collections.deque()
        self.queued = 0
        """Bytes not yet written."""
        self.closed = False
        self._closing = False
        self._watching = False

    def send(self, parts: Sequence[bytes], deadline: float, asks: bool = False) -> None:
        """Write a frame's parts, at once as far as the pipe takes them, the rest as it makes
        room. ``deadline``: the last of its jobs' (loop time); ``asks``: it holds the
        parent's question."""
        if self.closed or self._closing:
            return
        size = sum(map(len, parts))
        written = 0
        if not self.frames:  # the usual case: the pipe takes all of it now
            try:
                written = os.writev(self.fd, parts[:_WRITEV_PARTS])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # the storage process is gone: process_exited tells the rest
                self.abort()
                return
            if written == size:
                return
        views: collections.deque[memoryview] = collections.deque()
        for part in parts:
            if written >= len(part):
                written -= len(part)
                continue
            views.append(memoryview(part)[written:] if written else memoryview(part))
            written = 0
        left = sum(map(len, views))
        self.frames.append(_Outgoing(views, left, deadline, asks, started=left < size))
        self.queued += left
        self._watch(True)  # _write goes on when the pipe has room

    def _write(self) -> None:
        frames = self.frames
        while frames:
            frame = frames[0]
            parts = frame.parts
            try:
                written = os.writev(self.fd, list(itertools.islice(parts, _WRITEV_PARTS)))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # the storage process is gone: process_exited tells the rest
                self.abort()
                return
            frame.started = True
            frame.size -= written
            self.queued -= written
            while written:
                first = parts[0]
                if written < len(first):
                    parts[0] = first[written:]
                    break
                written -= len(first)
                parts.popleft()
            if frame.size:
                break  # the pipe is full
            frames.popleft()
        self._watch(bool(frames))
        if not frames and self._closing:
            self._close()

    def _watch(self, watch: bool) -> None:
        if watch != self._watching:
            self._watching = watch
            if watch:
                self.loop.add_writer(self.fd, self._write)
            else:
                self.loop.remove_writer(self.fd)

    def drop(self, now: float) -> None:
        """Forget the frames not begun whose jobs are all past their deadline at ``now``."""
        kept = collections.deque(
            frame for frame in self.frames if frame.started or frame.asks or frame.deadline > now
        )
        if len(kept) != len(self.frames):
            self.queued = sum(frame.size for frame in kept)
            self.frames = kept

    def close(self) -> None:
        """Close once everything queued is written: the storage process reads end-of-file."""
        self._closing = True
        if not self.frames:
            self._close()

    def abort(self) -> None:
        """Close now, dropping what is queued (the storage process is gone)."""
        self.frames.clear()
        self.queued = 0
        self._close()

    def _close(self) -> None:
        if not self.closed:
            self._watch(False)
            self.closed = True
            os.close(self.fd)


class _Pipe(asyncio.SubprocessProtocol):
    def __init__(self, writer: ProcessWriter) -> None:
        self.writer = writer
        self.buffer = bytearray()
        self.exited = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        self.buffer += data
        for frame in _frames(self.buffer):
            self.writer._answered(marshal.loads(frame))  # noqa: S302 - our own child

    def process_exited(self) -> None:
        self.writer._gone()
        if not self.exited.done():
            self.exited.set_result(None)


class ProcessWriter:
    """A ``Writer`` whose group commits happen in a child process (see the module docstring)."""

    def __init__(
        self, db_path: Path, durability: Durability, backlog: int = DEFAULT_BACKLOG
    ) -> None:
        self.db_path = db_path
        self.durability = durability
        self.backlog = backlog
        """Bytes waiting to be written to the storage process above which a webhook is
        refused at once (503 with ``Retry-After``) rather than queued: when the storage
        process stalls, what its senders were answered 503 for does not pile up unbounded.
        A webhook alone is always let in."""
        self.health = HealthWatch()
        self._transport: asyncio.SubprocessTransport | None = None
        self._protocol: _Pipe | None = None
        self._outlet: _Outlet | None = None
        self._waiters: dict[int, tuple[asyncio.Future[Any], float]] = {}
        """Per job sent: its waiter and its deadline (loop time), oldest first."""
        self._keys = itertools.count(1)
        self._closing = False
        self._dead: str | None = None
        self._outbox: list[tuple[Any, ...]] = []
        self._outbox_bodies: dict[int, bytes] = {}
        """The bodies that follow the outbox's frame, by job key."""
        self._outbox_bytes = 0
        self._outbox_deadline = 0.0
        """The deadline of the outbox's last job, and so the latest (loop time)."""
        self._expected: FileId | None = None
        """The database file listen started on: a storage process started again refuses
        any other that has taken its place."""
        self._asked_at: float | None = None
        """When the question now awaiting its answer was sent (loop time)."""
        self._last_asked = 0.0
        self._answered_at = 0.0
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            self._expected = file_id(self.db_path)
        except OSError:
            self._expected = None
        await self._spawn()
        self._watcher = asyncio.create_task(self._watch())

    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        expected = [] if self._expected is None else ["{}:{}".format(*self._expected)]
        # The child's stdin is a pipe of our own, written by an _Outlet, not asyncio's.
        reading, writing = os.pipe()
        # In a process group of its own: a signal sent to listen's group (Ctrl-C, a SIGTERM
        # from `timeout` or a process manager) then never reaches it, not even while it is
        # still starting, before it can ignore one. listen stops it (``close``); if listen
        # dies (kill -9), its stdin ends and it exits.
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Pipe(self),
                sys.executable,
                "-m",
                "whrelay.storage.process",
                str(self.db_path),
                self.durability,
                *expected,
                stdin=reading,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,
                process_group=0,
            )
        except BaseException:
            os.close(writing)
            raise
        finally:
            os.close(reading)
        self._transport, self._protocol = transport, protocol
        self._outlet = _Outlet(writing)
        self._asked_at = None
        self._answered_at = loop.time()

    async def run(self, job: Job) -> Any:
        health = self.health.current
        if health.status == "lost":
            raise StorageLostError(health.detail or "", reason=health.reason)
        if self._dead is not None or self._transport is None:
            raise StorageUnavailableError(self._dead or "the storage process is not running")
        if self._closing:  # its input is closed: a job sent now would never be answered
            raise StorageUnavailableError("whrelay is stopping; nothing more is stored")
        if isinstance(job, InsertWebhook):
            if self._outbox_bytes or (self._outlet is not None and self._outlet.queued):
                self._make_room(self.queued, len(job.capture.body or b""))
            job = job.identified()
        key = next(self._keys)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, Any]] = loop.create_future()
        deadline = loop.time() + COMMIT_DEADLINE
        self._waiters[key] = (waiter, deadline)
        self._outbox_deadline = deadline
        if not self._outbox:
            loop.call_soon(self._flush)
        fields, body = encode_job(key, job)
        self._outbox.append(fields)
        if body is not None:
            self._outbox_bodies[key] = body
            self._outbox_bytes += len(body)
        if len(self._outbox) >= FLUSH_AT:
            self._flush()
        try:
            kind, result = await waiter
        finally:
            self._waiters.pop(key, None)
        return decode_result(job, kind, result)

    @property
    def queued(self) -> int:
        """Bytes waiting to be written to the storage process (bodies, mostly)."""
        outlet = self._outlet
        return self._outbox_bytes + (0 if outlet is None else outlet.queued)

    def _make_room(self, queued: int, size: int) -> None:
        """Refuse a webhook of ``size`` body bytes when what waits for the storage process,
        ``queued`` bytes, would grow over ``backlog`` with it."""
        if queued + size > self.backlog:
            raise StorageUnavailableError(
                f"{queued / (1 << 20):.1f} MiB wait to be written to the storage process "
                f"already (at most {size_text(self.backlog)}, --body-budget): it is behind",
                reason="the storage process is behind",
            )

    def _flush(self, asks: bool = False) -> None:
        """Send the jobs gathered since the last flush (at most ``FLUSH_AT``, or those of the
        rest of this turn of the event loop) as one frame: the child wakes once and commits
        them together, with any that reach it while it commits the last batch. ``asks``: the
        parent's question is among them.

        Tried and measured worse: holding jobs back while a batch is in flight. Batches grow,
        but the child then waits for this process between batches.
        """
        jobs, self._outbox = self._outbox, []
        self._outbox_bytes = 0
        outlet = self._outlet
        if not jobs or outlet is None or self._dead is not None:
            self._outbox_bodies = {}
            return
        payload, sent = self._dumps(jobs)
        parts = [_frame(payload)]  # small: the large bodies are not in it
        if self._outbox_bodies:
            bodies, self._outbox_bodies = self._outbox_bodies, {}
            parts += [bodies[fields[0]] for fields in sent if fields[0] in bodies]
        outlet.send(parts, self._outbox_deadline, asks)

    def _dumps(self, jobs: list[tuple[Any, ...]]) -> tuple[bytes, list[tuple[Any, ...]]]:
        """The frame's payload, and the jobs in it. A job marshal cannot encode (a value of
        an unexpected type) fails alone, with a ``StorageError``; the others go."""
        try:
            return marshal.dumps(jobs), jobs
        except ValueError:
            pass
        sendable = []
        for job in jobs:
            try:
                marshal.dumps(job)
            except ValueError as error:
                waiter, _ = self._waiters.pop(job[0], (None, 0.0))
                if waiter is not None and not waiter.done():
                    waiter.set_exception(StorageError(f"cannot send this job: {error}"))
            else:
                sendable.append(job)
        return marshal.dumps(sendable), sendable

    def _answered(self, answers: list[tuple[int, int, Any, tuple[int, str, str] | None]]) -> None:
        self._answered_at = asyncio.get_running_loop().time()
        errors: list[StorageError | None] = []
        for key, kind, result, error in answers:
            if kind == _STATUS:
                self._asked_at = None
                status, reason, detail = result
                self.health.set(StorageHealth(status, reason, detail))
                continue
            failure = None if error is None else _error(error)
            errors.append(failure)
            waiter, _ = self._waiters.pop(key, (None, 0.0))
            if waiter is None or waiter.done():
                continue  # past its deadline: its sender was told it is not stored
            if failure is None:
                waiter.set_result((kind, result))
            else:
                waiter.set_exception(failure)
        self.health.committed(errors)

    # --- keeping watch -----------------------------------------------------------------------

    async def _watch(self) -> None:
        """Until ``close``: fail writes past their deadline, ask the child how it is every
        ``STATUS_EVERY``, and count storage as degraded when the child stops answering."""
        loop = asyncio.get_running_loop()
        warned = False
        while True:
            now = loop.time()
            try:
                self._expire(now)
                if self._dead is None and self.health.current.status != "lost":
                    if self._asked_at is None and now - self._last_asked >= STATUS_EVERY:
                        self._ask(now)
                    self._check_stalled(now)
            except Exception as error:  # a bug: say so, and keep the deadlines
                if not warned:
                    warned = True
                    say(f"warning: watching the storage process failed: {error!r}")
            wait = STATUS_EVERY / 2
            if self._waiters:
                _, deadline = next(iter(self._waiters.values()))
                wait = max(0.0, min(wait, deadline - now))
            await asyncio.sleep(wait)

    def _expire(self, now: float) -> None:
        expired = []
        for key, (_, deadline) in self._waiters.items():
            if deadline > now:
                break  # the rest were sent later
            expired.append(key)
        for key in expired:
            waiter, _ = self._waiters.pop(key)
            if not waiter.done():
                waiter.set_exception(
                    StorageUnavailableError(
                        f"not committed within {COMMIT_DEADLINE:g} s (the storage process is "
                        "stalled, or waiting for the database)",
                        reason=f"not committed within {COMMIT_DEADLINE:g} s",
                    )
                )
        if expired and self._outlet is not None:
            self._outlet.drop(now)  # what is not sent yet of theirs never will be

    def _ask(self, now: float) -> None:
        self._asked_at = self._last_asked = now
        self._flush()  # the jobs gathered so far in a frame of their own, which may be dropped
        self._outbox.append((next(self._keys), _STATUS))
        self._flush(asks=True)

    def _check_stalled(self, now: float) -> None:
        sent = [self._asked_at] if self._asked_at is not None else []
        if self._waiters:
            _, deadline = next(iter(self._waiters.values()))
            sent.append(deadline - COMMIT_DEADLINE)
        if not sent:
            return
        silent = now - max(self._answered_at, min(sent))
        if silent >= STALL_AFTER and self.health.current.status == "ok":
            self.health.set(
                StorageHealth(
                    "degraded",
                    "the storage process is not answering",
                    f"the storage process has not answered for {silent:.0f} s",
                )
            )

    # --- the child's end ---------------------------------------------------------------------

    def _gone(self) -> None:
        if self._outlet is not None:
            # What was not written goes with the process (its waiters fail below); the next
            # process gets a pipe of its own, which no half-written frame begins.
            self._outlet.abort()
        if not self._closing:
            code = self._transport.get_returncode() if self._transport else None
            self._dead = f"the storage process exited unexpectedly (code {code}); restarting"
            self.health.set(StorageHealth("degraded", "the storage process exited", self._dead))
            if self.health.current.status != "lost":
                loop = asyncio.get_running_loop()
                loop.call_later(RESTART_DELAY, lambda: loop.create_task(self._restart()))
        for waiter, _ in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(
                    StorageUnavailableError(self._dead or "the storage process stopped")
                )
        self._waiters.clear()
        if not self._closing and self.health.current.status != "lost":
            say(f"warning: {self._dead}")  # last: nothing above may wait on stderr

    async def _restart(self) -> None:
        """Start a new child after one died; until then writes fail with 503s, not 2xx."""
        if self._closing:
            return
        self._outbox.clear()
        self._outbox_bodies.clear()
        self._outbox_bytes = 0
        try:
            await self._spawn()
        except OSError as error:
            self._dead = f"the storage process cannot be restarted: {error}"
            return
        self._dead = None

    async def close(self) -> None:
        """Let the child commit what it was sent, then wait for it to exit."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self._transport is None or self._protocol is None:
            return
        self._closing = True
        self._flush()
        if self._outlet is not None:
            self._outlet.close()
        exited = self._protocol.exited
        # asyncio.wait, not a timeout around the await: that would cancel ``exited`` itself,
        # and waiting for it again after the kill would raise CancelledError.
        await asyncio.wait({exited}, timeout=30)
        if not exited.done():
            self._transport.kill()
            await exited
        if self._outlet is not None:
            self._outlet.abort()
        self._transport.close()


def _file_id(text: str) -> FileId:
    device, inode = text.split(":")
    return int(device), int(inode)


if __name__ == "__main__":
    code = child_main(
        sys.argv[1],
        "normal" if sys.argv[2] == "normal" else "full",
        _file_id(sys.argv[3]) if len(sys.argv) > 3 else None,
    )
    sys.stderr.flush()
    # Not sys.exit: the interpreter's clean-up would close a lost store's connection (see
    # Store.close), and everything this process had to write it has written.
    os._exit(code)
