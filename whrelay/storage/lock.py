"""One cross-process lock that every writer holds around its write transactions and checkpoints.

SQLite before 3.51.3 has a WAL-reset race: two connections writing or checkpointing at about
the same time can corrupt the database. Holding this lock around every write transaction and
every checkpoint, in every process, means that never happens; readers open the database
read-only and so never write or checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from whrelay.core.errors import CANNOT_OPEN, LOCKED, StorageUnavailableError, UnavailableError


class WriteLock:
    """An exclusive ``flock`` on a file beside the database, re-entrant within one thread."""

    def __init__(self, path: Path | None, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None
        self._depth = 0
        self._owner: int | None = None
        self._local = threading.Lock()

    def _open(self) -> int:
        if self._fd is None:
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def acquire(self) -> None:
        if self.path is None:
            return
        if self._owner == threading.get_ident():
            self._depth += 1
            return
        if not self._local.acquire(timeout=self.timeout):
            raise StorageUnavailableError(
                "timed out waiting for the database write lock", reason=LOCKED
            )
        try:
            self._lock_file()
        except BaseException:
            self._local.release()
            raise
        self._depth = 1
        self._owner = threading.get_ident()

    def _lock_file(self) -> None:
        try:
            fd = self._open()
        except OSError as error:
            raise StorageUnavailableError(
                f"cannot open the write lock {self.path}: {error.strerror or error}",
                reason=CANNOT_OPEN,
            ) from None
        deadline = time.monotonic() + self.timeout
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageUnavailableError(
                        f"another process has held the write lock {self.path} "
                        f"for more than {self.timeout:g} s",
                        reason=LOCKED,
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
            except OSError as error:
                raise StorageUnavailableError(
                    f"cannot take the write lock {self.path}: {error.strerror or error}",
                    reason=CANNOT_OPEN,
                ) from None

    def release(self) -> None:
        if self.path is None:
            return
        self._depth -= 1
        if self._depth == 0:
            assert self._fd is not None
            self._owner = None
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._local.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class ReadLock:
    """A shared ``flock`` on the writers' lock file, for a reader that reads the database file
    without SQLite's own locking (as immutable): while it is held, no writer writes or
    checkpoints. It never creates the file: without one, no whrelay writer has used the
    database, and there is no one to wait for. Not re-entrant."""

    def __init__(self, path: Path | None, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> ReadLock:
        if self.path is None:
            return self
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, PermissionError):
            return self  # no writer has used it, or one this user cannot coordinate with
        except OSError as error:
            raise StorageUnavailableError(
                f"cannot open the write lock {self.path}: {error.strerror or error}"
            ) from None
        deadline = time.monotonic() + self.timeout
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StorageUnavailableError(
                        f"another process has held the write lock {self.path} "
                        f"for more than {self.timeout:g} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
            except OSError as error:
                os.close(fd)
                raise StorageUnavailableError(
                    f"cannot take the write lock {self.path}: {error.strerror or error}"
                ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # which releases the lock
            self._fd = None


_FORWARDING: dict[Path, tuple[int, set[str]]] = {}
"""This process's forwarding locks: per lock file, its one descriptor and the targets held.
POSIX record locks belong to the process, and closing any descriptor of the file drops
them all: so one descriptor per file, closed when its last holder leaves."""


@contextlib.contextmanager
def sole_forwarder(database: Path, targets: Sequence[str]) -> Iterator[None]:
    """Hold, for the block, a lock per target in ``paths.listen_lock_path(database)`` (a
    byte-range lock at an offset from the target's URL), or raise ``UnavailableError`` when
    another ``whrelay listen`` on this database (in this process or another) forwards to one
    of ``targets``: each resumes the pending deliveries of its targets, and two would
    deliver them twice. A listen that forwards nowhere, or elsewhere, is not in the way. The
    locks go with the process, ``kill -9`` included: a stale file never blocks anyone."""
    from whrelay.core.paths import listen_lock_path

    wanted = sorted(set(targets))
    if not wanted:
        yield
        return
    path = listen_lock_path(database)
    if path not in _FORWARDING:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise UnavailableError(
                f"cannot open {path}: {error.strerror or error}",
                hint="the folder of the database must be writable",
            ) from None
        _FORWARDING[path] = (fd, set())
    fd, held = _FORWARDING[path]
    taken: list[str] = []
    try:
        for url in wanted:
            if url in held:
                raise _busy(url, database)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _offset(url))
            except OSError as error:
                if error.errno not in (errno.EACCES, errno.EAGAIN):
                    raise UnavailableError(
                        f"cannot lock {path}: {error.strerror or error}"
                    ) from None
                raise _busy(url, database) from None
            held.add(url)
            taken.append(url)
        yield
    finally:
        for url in taken:
            held.discard(url)
            with contextlib.suppress(OSError):
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, _offset(url))
        if not held:
            del _FORWARDING[path]
            os.close(fd)


def _offset(url: str) -> int:
    return int.from_bytes(hashlib.sha256(url.encode()).digest()[:6], "big")


def _busy(url: str, database: Path) -> UnavailableError:
    return UnavailableError(
        f"another whrelay listen forwards to {url} from the database {database}",
        hint="two would each deliver its pending webhooks; stop that one, or give this one "
        "another --db",
    )
