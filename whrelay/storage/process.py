"""The storage process: ``listen``'s writer, in a process of its own.

Storing costs CPU (detection, SQL, the blob copy) that, in the receiver's process, would hold
the same GIL as the HTTP handling. Running the group-commit writer in a child process lets
both use a core. The receiver sends jobs over the child's stdin and gets their
results back on its stdout, one frame per committed batch; a webhook is acknowledged only
after its result arrives, that is after its transaction is committed. When the receiver goes
away (even by ``kill -9``) the child reads end-of-file, commits what it has, and exits.

Run by ``ProcessWriter``; not meant to be started by hand:
``python -m whrelay.storage.process DB DURABILITY``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import marshal
import operator
import os
import pickle
import signal
import struct
import sys
from pathlib import Path
from typing import Any

from whrelay.errors import StorageError, StorageUnavailableError, say
from whrelay.models import Attempt, Capture, Identity, Verdict
from whrelay.storage.jobs import InsertWebhook, RecordAttempt
from whrelay.storage.store import Durability, Store
from whrelay.storage.writer import MAX_BATCH, Job, commit_batch

_FRAME = struct.Struct("!Q")
FLUSH_AT = 3
"""Jobs sent to the storage process as soon as this many wait, without waiting for the end of
the event loop's turn: it starts committing them while this process handles the rest of a
burst of requests. Measured with bench/ingest.py's load: 10–20% more webhooks a second than
sending once a turn, about the same for 1, 2, 3 and 6."""
RESTART_DELAY = 0.5
"""Seconds before a storage process that died is replaced."""
_READ = 1 << 20


def _frames(buffer: bytearray) -> list[bytes]:
    """Take every complete frame off the front of ``buffer``."""
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
# The two jobs sent for every webhook travel as plain tuples through ``marshal`` (several times
# faster than pickling dataclasses); any other job is pickled. Both ends are this module.

_WEBHOOK, _ATTEMPT, _PICKLED = 1, 2, 0
_capture_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Capture)))
_attempt_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Attempt)))
_identity_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Identity)))


def encode_job(key: int, job: Job) -> tuple[Any, ...]:
    """A job as a marshallable tuple. An ``InsertWebhook`` must be ``identified()``: the
    storage process then answers with the ids alone and the parent rebuilds the records."""
    if isinstance(job, InsertWebhook):
        verdict, identity = job.verdict, job.identity
        assert identity is not None, "ProcessWriter.run identifies the webhook first"
        return (
            key,
            _WEBHOOK,
            _capture_fields(job.capture),
            tuple(job.targets),
            None
            if verdict is None
            else (verdict.verdict, verdict.scheme, verdict.reason, verdict.detail),
            _identity_fields(identity),
        )
    if isinstance(job, RecordAttempt):
        return (key, _ATTEMPT, _attempt_fields(job.attempt), job.state, job.next_attempt_at)
    return (key, _PICKLED, pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))


def decode_job(fields: tuple[Any, ...]) -> tuple[int, int, Job]:
    """The job ``encode_job`` encoded, as the storage process runs it."""
    key, kind = fields[0], fields[1]
    if kind == _WEBHOOK:
        verdict = None if fields[4] is None else Verdict(*fields[4])
        job = InsertWebhook(Capture(*fields[2]), fields[3], verdict, Identity(*fields[5]))
        return key, kind, job.rows
    if kind == _ATTEMPT:
        return key, kind, RecordAttempt(Attempt(*fields[2]), fields[3], fields[4])
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


def child_main(db_path: str, durability: Durability) -> int:
    """Read jobs from stdin until end-of-file; commit them in batches; answer on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which drains us
    store = Store(db_path, durability=durability)
    buffer = bytearray()
    try:
        while True:
            chunk = os.read(0, _READ)
            if not chunk:
                return 0
            buffer += chunk
            pending = [
                decode_job(fields)
                for frame in _frames(buffer)
                for fields in marshal.loads(frame)  # noqa: S302 - written by our own parent
            ]
            while pending:
                batch, pending = pending[:MAX_BATCH], pending[MAX_BATCH:]
                jobs: list[Job] = [job for _, _, job in batch]
                answers: list[tuple[int, int, Any, tuple[bool, str] | None]] = []
                for (key, kind, _), (result, error) in zip(
                    batch, commit_batch(store, jobs), strict=True
                ):
                    if error is None:
                        answers.append((key, kind, encode_result(kind, result), None))
                    else:
                        answers.append((key, kind, None, _describe(error)))
                _write_all(1, _frame(marshal.dumps(answers)))
    finally:
        store.close()


def _describe(error: StorageError | None) -> tuple[bool, str] | None:
    if error is None:
        return None
    return isinstance(error, StorageUnavailableError), error.message


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- the parent ----------------------------------------------------------------------------


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

    def __init__(self, db_path: Path, durability: Durability) -> None:
        self.db_path = db_path
        self.durability = durability
        self._transport: asyncio.SubprocessTransport | None = None
        self._protocol: _Pipe | None = None
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._keys = itertools.count(1)
        self._closing = False
        self._dead: str | None = None
        self._outbox: list[tuple[Any, ...]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: _Pipe(self),
            sys.executable,
            "-m",
            "whrelay.storage.process",
            str(self.db_path),
            self.durability,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )
        self._transport, self._protocol = transport, protocol

    async def run(self, job: Job) -> Any:
        if self._dead is not None or self._transport is None:
            raise StorageUnavailableError(self._dead or "the storage process is not running")
        if self._closing:  # its input is closed: a job sent now would never be answered
            raise StorageUnavailableError("whrelay is stopping; nothing more is stored")
        if isinstance(job, InsertWebhook):
            job = job.identified()
        key = next(self._keys)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, Any]] = loop.create_future()
        self._waiters[key] = waiter
        if not self._outbox:
            loop.call_soon(self._flush)
        self._outbox.append(encode_job(key, job))
        if len(self._outbox) >= FLUSH_AT:
            self._flush()
        try:
            kind, result = await waiter
        finally:
            self._waiters.pop(key, None)
        return decode_result(job, kind, result)

    def _flush(self) -> None:
        """Send the jobs gathered since the last flush (at most ``FLUSH_AT``, or those of the
        rest of this turn of the event loop) as one frame: the child wakes once and commits
        them together, with any that reach it while it commits the last batch.

        Tried and measured worse: holding jobs back while a batch is in flight. Batches grow,
        but the child then waits for this process between batches.
        """
        jobs, self._outbox = self._outbox, []
        if not jobs or self._transport is None or self._dead is not None:
            return
        stdin = self._transport.get_pipe_transport(0)
        if isinstance(stdin, asyncio.WriteTransport) and not stdin.is_closing():
            stdin.write(_frame(self._dumps(jobs)))

    def _dumps(self, jobs: list[tuple[Any, ...]]) -> bytes:
        """The frame's payload. A job marshal cannot encode (a value of an unexpected type)
        fails alone, with a ``StorageError``; the others go."""
        try:
            return marshal.dumps(jobs)
        except ValueError:
            pass
        sendable = []
        for job in jobs:
            try:
                marshal.dumps(job)
            except ValueError as error:
                waiter = self._waiters.pop(job[0], None)
                if waiter is not None and not waiter.done():
                    waiter.set_exception(StorageError(f"cannot send this job: {error}"))
            else:
                sendable.append(job)
        return marshal.dumps(sendable)

    def _answered(self, answers: list[tuple[int, int, Any, tuple[bool, str] | None]]) -> None:
        for key, kind, result, error in answers:
            waiter = self._waiters.pop(key, None)
            if waiter is None or waiter.done():
                continue
            if error is None:
                waiter.set_result((kind, result))
            else:
                passing, message = error
                failure = StorageUnavailableError if passing else StorageError
                waiter.set_exception(failure(message))

    def _gone(self) -> None:
        if not self._closing:
            code = self._transport.get_returncode() if self._transport else None
            self._dead = f"the storage process exited unexpectedly (code {code}); restarting"
            loop = asyncio.get_running_loop()
            loop.call_later(RESTART_DELAY, lambda: loop.create_task(self._restart()))
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(
                    StorageUnavailableError(self._dead or "the storage process stopped")
                )
        self._waiters.clear()
        if not self._closing:
            say(f"warning: {self._dead}")  # last: nothing above may wait on stderr

    async def _restart(self) -> None:
        """Start a new child after one died; until then writes fail with 503s, not 2xx."""
        if self._closing:
            return
        self._outbox.clear()
        try:
            await self.start()
        except OSError as error:
            self._dead = f"the storage process cannot be restarted: {error}"
            return
        self._dead = None

    async def close(self) -> None:
        """Let the child commit what it was sent, then wait for it to exit."""
        if self._transport is None or self._protocol is None:
            return
        self._closing = True
        self._flush()
        stdin = self._transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        exited = self._protocol.exited
        # asyncio.wait, not a timeout around the await: that would cancel ``exited`` itself,
        # and waiting for it again after the kill would raise CancelledError.
        await asyncio.wait({exited}, timeout=30)
        if not exited.done():
            self._transport.kill()
            await exited
        self._transport.close()


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1], "normal" if sys.argv[2] == "normal" else "full"))
