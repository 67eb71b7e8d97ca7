"""The SQLite store: the single source of truth and the only channel between whrelay processes.

One file, WAL mode. A ``Store`` opened for writing takes the cross-process ``WriteLock``
around every write transaction (``BEGIN IMMEDIATE``) and checkpoint; one opened read-only
never writes, checkpoints or creates a file, so ``list``, ``show`` and the TUI can read while
``listen`` writes, and leave a database they read as they found it. Either upgrades a
database an older whrelay made, and only when nothing else has it open (``upgrade_older``).

A writing ``Store`` also makes sure that what it commits lands in the files at its path: after
every commit it checks that the database file, its write-ahead log and its shared-memory index
at the path are still the ones it opened (device and inode). Once one was deleted or replaced,
the store is *lost*: it saves what it can (a checkpoint into the database file it has open,
which also empties the log at the path, so that a file moved in its place is not overwritten
with this one's pages) and refuses every write after that (``StorageLostError``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from whrelay.core.config import Durability as Durability
from whrelay.core.errors import (
    CANNOT_OPEN,
    DISK_FULL,
    IO_ERROR,
    LOCKED,
    READ_ONLY,
    NoDatabaseError,
    NotFoundError,
    StorageError,
    StorageLostError,
    StorageUnavailableError,
)
from whrelay.core.models import (
    Attempt,
    Capture,
    Delivery,
    DeliveryState,
    Identity,
    Trigger,
    Verdict,
    Webhook,
    WebhookSummary,
    now_micros,
    pack_headers,
    unpack_headers,
)
from whrelay.core.paths import lock_path
from whrelay.identify.detect import identify
from whrelay.storage.lock import ReadLock, WriteLock
from whrelay.storage.migrations import SCHEMA_VERSION, current_version, migrate

BUSY_TIMEOUT = 10.0
"""Seconds a statement waits for another process's lock before failing."""

_DELIVERY_COLUMNS = (
    "id, webhook_id, target, state, attempts, next_attempt_at, created_at, updated_at,"
    " last_status, last_error"
)
_ATTEMPT_COLUMNS = (
    "webhook_id, delivery, trigger, url, request_headers, started_at, duration_us, status,"
    " response_headers, response_body, response_truncated, error, error_detail, id, resigned,"
    " resign_note, edited"
)
_SUMMARY_COLUMNS = (
    "webhooks.id, received_at, method, path, query, provider, event_type, provider_id, size,"
    " content_type, verdict, reason, scheme, duplicate_of"
)
_SUMMARY_FROM = "webhooks LEFT JOIN verifications ON verifications.webhook_id = webhooks.id"

# SQLite result codes that mean "cannot write now", as opposed to a bug or a corrupt file,
# with what a sender or a health check is told of each. Such an error hits every write alike.
_UNAVAILABLE = {
    "SQLITE_FULL": DISK_FULL,
    "SQLITE_IOERR": IO_ERROR,
    "SQLITE_READONLY": READ_ONLY,
    "SQLITE_BUSY": LOCKED,
    "SQLITE_LOCKED": LOCKED,
    "SQLITE_CANTOPEN": CANNOT_OPEN,
    "SQLITE_PERM": CANNOT_OPEN,
}


def unavailable(error: sqlite3.Error, reason: str | None = None) -> StorageUnavailableError:
    """A ``StorageUnavailableError`` naming what SQLite said."""
    return StorageUnavailableError(f"cannot write the database: {error}", reason=reason)


def storage_error_from(error: sqlite3.Error) -> StorageError:
    name = getattr(error, "sqlite_errorname", "") or ""
    for code, reason in _UNAVAILABLE.items():
        if name.startswith(code):
            return unavailable(error, reason)
    return StorageError(f"database error: {error}")


FileId = tuple[int, int]
"""A file's device and inode: which file a path names."""


def file_id(path: str | os.PathLike[str]) -> FileId | None:
    """The device and inode of the file at ``path`` (through symlinks), or ``None`` when
    there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


_DATABASE_FILE = "the database file"
_PUBLIC = {
    _DATABASE_FILE: _DATABASE_FILE,
    "the write-ahead log": "the database's write-ahead log",
    "the shared-memory index": "the database's shared-memory index",
}
"""How each file a store watches is named where no path may be shown."""

_ABANDONED: list[sqlite3.Connection] = []
"""The connections of lost stores, never closed: see ``Store.close``."""


STATUS_ORDER: tuple[DeliveryState, ...] = (
    DeliveryState.FAILED,
    DeliveryState.PENDING,
    DeliveryState.CANCELLED,
    DeliveryState.DELIVERED,
)
"""A webhook's status, the one order every front end says it in: the first of these states
that one of its deliveries is in (what needs attention first, ``delivered`` last).
``list --status`` selects by it, and ``read.standing`` (``list``'s DELIVERY column, the
TUI's list) words it."""


def _has(state: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM deliveries d"
        f" WHERE d.webhook_id = webhooks.id AND d.state = '{state}')"
    )


_STATUS_CLAUSES = {
    str(state): " AND ".join([_has(state), *(f"NOT {_has(before)}" for before in STATUS_ORDER[:n])])
    for n, state in enumerate(STATUS_ORDER)
}
"""Each status as SQL: a delivery in that state, and none in a state before it."""


def filter_clauses(where: WebhookFilter, *, paged: bool = True) -> tuple[list[str], list[object]]:
    """The SQL conditions (over ``webhooks`` joined with ``verifications``) and their
    parameters that select what ``where`` selects; ``paged`` when rows are read in the
    history's order (not counted). Only constant SQL fragments are joined; every value is a
    bound parameter."""
    clauses: list[str] = []
    params: list[object] = []
    if where.since is not None:
        clauses.append("received_at >= ?")
        params.append(_int64(where.since))  # 1000000d ago, or in a million years
    if where.path_glob:
        clauses.append("path GLOB CAST(? AS TEXT)")  # bytes, should it be: as they are
        params.append(_bindable(where.path_glob))
    if where.method:
        clauses.append("method = ?")
        params.append(_bindable(where.method.upper()))
    if where.provider:
        clauses.append("provider = ?")
        params.append(_bindable(where.provider))
    if where.event:
        if where.event.endswith("*"):  # 'invoice.*': every event type that starts so
            prefix = where.event[:-1]
            clauses.append("substr(event_type, 1, ?) = ?")
            params.extend([len(prefix), _bindable(prefix)])
        else:
            clauses.append("event_type = ?")
            params.append(_bindable(where.event))
    if where.search:
        # Bytes against bytes: the body is stored as received, and text from a command line
        # that is not UTF-8 (lone surrogates) stands for the bytes that were typed.
        needle = where.search.encode("utf-8", "surrogateescape")
        clauses.append(
            "(instr(CAST(path AS BLOB), ?) > 0 OR instr(CAST(query AS BLOB), ?) > 0"
            " OR instr(body, ?) > 0)"
        )
        params.extend([needle, needle, needle])
    if where.status:
        clauses.append(_STATUS_CLAUSES[where.status])
    # Paged, the unary + keeps SQLite from reading every webhook of a verdict through its
    # index and sorting them all: it walks the history's order and stops when a page is full.
    verdict = "+verdict" if paged else "verdict"
    if where.verdict == "unverified":
        clauses.append(f"({verdict} IS NULL OR {verdict} = 'unverified')")
    elif where.verdict:
        clauses.append(f"{verdict} = ?")
        params.append(where.verdict)
    return clauses, params


@dataclass(frozen=True, slots=True)
class WebhookFilter:
    """What ``list`` selects. Every field narrows; the defaults select everything."""

    since: int | None = None
    """UTC microseconds; only webhooks received at or after it."""
    path_glob: str | None = None
    method: str | None = None
    provider: str | None = None
    event: str | None = None
    """An event type, exactly; ending with ``*``, every event type that starts with what
    comes before it (``invoice.*``)."""
    search: str | None = None
    """A substring of the path, the query or the body (bytes, case-sensitive)."""
    status: str | None = None
    """``failed`` (any delivery failed), ``pending`` (any pending, none failed),
    ``cancelled`` (any cancelled, none pending or failed) or ``delivered`` (every delivery
    delivered)."""
    verdict: str | None = None
    """``valid``, ``invalid`` or ``unverified``."""
    limit: int = 50
    """0 means no limit."""


class OlderSchemaError(StorageError):
    """A database of an older schema ``version``, found by a reader (or by a writer, before
    it upgrades it)."""

    def __init__(self, message: str, hint: str | None = None, *, version: int) -> None:
        super().__init__(message, hint)
        self.version = version


UPGRADE_WAIT = 1.0
"""Seconds a command waits for the database to itself before it leaves an older one as it is
(another reader may be opening it that moment; a listen keeps it open for good)."""


def upgrade_older(path: Path, older: OlderSchemaError, lock: WriteLock) -> None:
    """Upgrade the database at ``path``, of an older schema (``older``): every migration in
    one transaction, under the writers' lock, but only when nothing else has it open. Every
    command that opens a database, reader or writer, ``listen`` too, upgrades one this way.

    Whatever has an older database open is an older whrelay (or another program): a whrelay
    of this version upgrades it as it opens it, or refuses it and lets go. An older
    ``listen`` keeps running with its own idea of the schema, and what it writes after it
    acknowledged a sender must not fail or be lost because a migration (a renamed column, a
    rebuilt table) changed the schema under it. An older reader is not told apart from it:
    both merely have the file open. Nor would it be right to upgrade under one: an older
    ``tui`` that has it open keeps reading with its own queries, and writes too (the attempts
    of its replays, its edits, its cancellations), so a migration its queries do not expect
    would make those fail or read the wrong thing. So a ``listen`` of this version too
    leaves an older database that something has open as it is, before it takes a port, so
    that no sender has been acknowledged: stopping the older program and starting it again
    costs a moment and loses nothing. (An older reader that reads the file as immutable,
    without a connection kept open, has nothing open to see; it notices the file changed on
    its next read, opens it again and refuses the newer schema in its own words.)

    SQLite grants a connection in exclusive locking mode its lock only when no other
    connection has the database open; holding it, nothing else opens it until the upgrade is
    done. ``StorageError`` (``older``'s message, saying why and what to do; exit 3) when it
    cannot be upgraded now, the database left as it was."""
    try:
        with lock:  # no whrelay writes, checkpoints or reads it as immutable meanwhile
            if _version_at(path) >= SCHEMA_VERSION:  # a listen starting meanwhile upgraded it
                return
            db = sqlite3.connect(path, isolation_level=None, timeout=UPGRADE_WAIT)
            try:
                db.execute("PRAGMA locking_mode = EXCLUSIVE")
                db.execute("BEGIN EXCLUSIVE")
                db.execute("COMMIT")  # the lock stays, in exclusive locking mode
                _enforce_foreign_keys(db)
                if current_version(db) < SCHEMA_VERSION:
                    migrate(db, now_micros())
            finally:
                db.close()
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise _cannot_upgrade(older, str(error)) from None
        raise StorageError(
            f"{older.message}, and another program has it open: an older whrelay (one of "
            "this version would have upgraded it)",
            hint="stop it, then run this command again: it upgrades the database",
        ) from None
    except sqlite3.Error as error:
        raise _cannot_upgrade(older, str(error)) from None
    except StorageError as error:  # the writers' lock cannot be taken
        raise _cannot_upgrade(older, error.message) from None


def _version_at(path: Path) -> int:
    """The schema version of the database at ``path``, read through SQLite's read-only mode
    (under the writers' lock: no writer is changing it)."""
    db = sqlite3.connect(
        f"file:{quote(os.fsencode(path.resolve()))}?mode=ro", uri=True, timeout=UPGRADE_WAIT
    )
    try:
        return current_version(db)
    finally:
        db.close()


def _cannot_upgrade(older: OlderSchemaError, why: str) -> StorageError:
    return StorageError(
        f"{older.message}, and it cannot be upgraded here: {why}",
        hint="run this whrelay's 'whrelay listen' on it once, as a user who may write it",
    )


def _create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 (and its folder with 0700) if it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(fd)


_NO_DATABASE_HINT = (
    "'whrelay listen' creates it; --db, WHRELAY_DB or WHRELAY_DATA_DIR name another "
    "('whrelay paths' shows which is in use)"
)


@dataclass(frozen=True, slots=True)
class _FileState:
    """What tells whether a database file was changed: checked before each read of a reader
    that reads it as immutable."""

    inode: int
    size: int
    mtime_ns: int
    in_use: bool
    """Whether its ``-wal`` and ``-shm`` files exist: a writer has it open (or crashed)."""


def _file_state(real: Path) -> _FileState:
    st = os.stat(real)
    in_use = os.path.exists(f"{real}-wal") and os.path.exists(f"{real}-shm")
    return _FileState(st.st_ino, st.st_size, st.st_mtime_ns, in_use)


class Store:
    """A whrelay database. ``Store(path)`` writes; ``Store(path, readonly=True)`` only reads.

    ``path`` may be ``":memory:"`` (tests). Not thread-safe: one thread uses one ``Store``.

    A reader never changes the database or creates a file beside it. SQLite's read-only mode
    creates the ``-wal`` and ``-shm`` files of a WAL database when they are missing (it needs
    the shared memory to read), so a database without them (no writer has it open) is read
    as ``immutable``, under a shared lock of the writers' lock file (no writer writes or
    checkpoints meanwhile), and opened again through SQLite's read-only mode as soon as a
    writer has created them. A reader refuses a database that is missing, empty, not
    whrelay's, or of a newer schema version. One of an older version it upgrades first, as a
    writer would, when nothing else has it open (``upgrade_older``); else it refuses it,
    saying what to do (``upgrade=False``: refuses it without trying). Only a writer creates
    one. A writer upgrades an older one the same way, only when nothing else has it open,
    and otherwise refuses it alike, having changed nothing. ``create=False`` makes a writer
    refuse a missing or empty database as a reader does.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        durability: Durability = "full",
        create: bool = True,
        upgrade: bool = True,
    ) -> None:
        self.memory = str(path) == ":memory:"
        self.path = Path(path) if not self.memory else None
        self.readonly = readonly and not self.memory
        self.durability: Durability = durability
        self.create = create
        self.upgrade = upgrade
        lock_file = None if self.path is None else lock_path(self.path)
        self.lock = WriteLock(lock_file, BUSY_TIMEOUT)
        self.read_lock = ReadLock(lock_file if self.readonly else None, BUSY_TIMEOUT)
        self._immutable: _FileState | None = None
        """A reader's: the file as it was opened as immutable; ``None`` in read-only mode."""
        self._generation = 0
        """How many times a reader opened the file again (see ``data_version``)."""
        self.lost: StorageLostError | None = None
        """Why nothing more is written, once a file at the path is no longer the one open."""
        self._files: tuple[tuple[str, str, FileId], ...] = ()
        try:
            self.db = self._connect()
        except sqlite3.Error as error:
            self.lock.close()
            why = str(error)
            if self.path is not None and self.path.exists():
                wanted = os.R_OK if self.readonly else os.R_OK | os.W_OK
                if not os.access(self.path, wanted):
                    why = "permission denied"
            raise StorageError(f"cannot open the database {self.path}: {why}") from None
        except OSError as error:
            self.lock.close()
            raise StorageError(
                f"cannot open the database {self.path}: {error.strerror or error}"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        if self.path is None:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            _enforce_foreign_keys(db)
            migrate(db, now_micros())
            return db
        if not self.path.exists() and (self.readonly or not self.create):
            raise NoDatabaseError(f"there is no database at {self.path}", hint=_NO_DATABASE_HINT)
        if self.readonly:
            try:
                with self.read_lock:
                    db, self._immutable = self._open_reader()
                    return db
            except OlderSchemaError as older:
                if not self.upgrade:
                    raise
                try:
                    upgrade_older(self.path, older, self.lock)
                except BaseException:
                    self.lock.close()
                    raise
            with self.read_lock:
                db, self._immutable = self._open_reader()
                return db
        if not self.create:  # refused as a reader refuses it, before anything is created
            with ReadLock(lock_path(self.path), BUSY_TIMEOUT):
                self._open_reader()[0].close()
        _create_private_file(self.path)
        db = self._connect_writer()
        try:
            with self.lock:
                version = self._check_schema(db)
                if 0 < version < SCHEMA_VERSION:
                    # An older whrelay's: upgraded only when nothing else has it open, by a
                    # connection of its own (this one, having read it, has it open too).
                    db.close()
                    upgrade_older(self.path, self._older(version), self.lock)
                    db = self._connect_writer()
                    version = self._check_schema(db)
                if version == 0:  # a new database: pruning returns its pages to the disk
                    db.execute("PRAGMA auto_vacuum = INCREMENTAL")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute(f"PRAGMA synchronous = {self.durability.upper()}")
                if version < SCHEMA_VERSION:
                    migrate(db, now_micros())
        except BaseException:
            db.close()
            raise
        self._files = self._open_files()
        return db

    def _connect_writer(self) -> sqlite3.Connection:
        assert self.path is not None
        db = sqlite3.connect(
            self.path, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False
        )
        try:
            _enforce_foreign_keys(db)
        except BaseException:
            db.close()
            raise
        return db

    def _older(self, version: int) -> OlderSchemaError:
        return OlderSchemaError(
            f"the database {self.path} has schema version {version}, older than this "
            f"whrelay's {SCHEMA_VERSION}",
            hint="run this whrelay's 'whrelay listen' on it once to upgrade it",
            version=version,
        )

    def _open_files(self) -> tuple[tuple[str, str, FileId], ...]:
        """The files this connection has open, each with its path and its identity now.

        SQLite names the log and the index after the database's real path (symlinks
        resolved); both exist from the first read in WAL mode until the last connection
        closes."""
        assert self.path is not None
        real = str(self.path.resolve())
        named = (
            (_DATABASE_FILE, str(self.path)),
            ("the write-ahead log", real + "-wal"),
            ("the shared-memory index", real + "-shm"),
        )
        return tuple(
            (what, path, identity)
            for what, path in named
            if (identity := file_id(path)) is not None
        )

    def _open_reader(self) -> tuple[sqlite3.Connection, _FileState | None]:
        """A read-only connection (call under ``read_lock``): through SQLite's read-only mode
        when a writer has the database open, else as immutable (see the class), with the
        state of the file it reads as immutable."""
        assert self.path is not None
        real = self.path.resolve()
        state = _file_state(real)
        query = "mode=ro" if state.in_use else "mode=ro&immutable=1"
        db = sqlite3.connect(
            f"file:{quote(os.fsencode(real))}?{query}",
            uri=True,
            isolation_level=None,
            timeout=BUSY_TIMEOUT,
            check_same_thread=False,
        )
        try:
            _enforce_foreign_keys(db)
            self._check_schema(db)
        except BaseException:
            db.close()
            raise
        return db, None if state.in_use else state

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection to read with. A reader reading the file as immutable holds the
        shared lock meanwhile, and first opens the file again if it changed since."""
        if self._immutable is None:
            yield self.db
            return
        assert self.path is not None
        with self.read_lock:
            try:
                changed = _file_state(self.path.resolve()) != self._immutable
            except OSError as error:  # deleted or moved away since
                raise StorageError(
                    f"cannot read the database {self.path}: {error.strerror or error}"
                ) from None
            if changed:
                self.db.close()
                self.db, self._immutable = self._open_reader()
                self._generation += 1
            yield self.db

    def _check_schema(self, db: sqlite3.Connection) -> int:
        """The schema version, once the database is known to be one this store can use."""
        assert self.path is not None
        version = current_version(db)
        tables = {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master")}
        if not tables and version == 0:
            if self.readonly or not self.create:
                raise NoDatabaseError(
                    f"the database {self.path} is empty: no whrelay listen has used it yet",
                    hint=_NO_DATABASE_HINT,
                )
            return 0
        if "schema_versions" not in tables:
            raise StorageError(
                f"{self.path} is a SQLite database, but not whrelay's",
                hint="--db, WHRELAY_DB or WHRELAY_DATA_DIR name whrelay's "
                "('whrelay paths' shows which is in use)",
            )
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the database {self.path} has schema version {version}; this whrelay knows "
                f"up to {SCHEMA_VERSION}",
                hint="upgrade whrelay, or use another --db",
            )
        if version < SCHEMA_VERSION and self.readonly:
            raise self._older(version)
        return version

    def close(self) -> None:
        """Close the connection. A writer closes under the lock: closing may checkpoint.

        A lost store's connection is never closed: SQLite, closing the last connection to a
        database, deletes its ``-wal`` and ``-shm`` *by name*, and those at the path may now
        belong to another database (or to other connections that opened it since)."""
        if self.lost is not None:
            _ABANDONED.append(self.db)
            self.lock.close()
            return
        if self.readonly:
            self.db.close()
        else:
            try:
                with self.lock:
                    self.db.close()
            except StorageError:
                self.db.close()
        self.lock.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the cross-process lock; commits on success.

        Raises ``StorageLostError`` after the commit when the files at the path are no
        longer the ones open: what was committed went into a file that is gone."""
        if self.readonly:
            raise StorageError("this store was opened read-only")
        with self.lock:
            if self.lost is not None:
                raise self.lost
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self._check_files()

    def check_files(self) -> None:
        """Raise ``StorageLostError`` if a file at the path is no longer the one open (see
        the module docstring); cheap (a ``stat`` per file), so run it as often as needed."""
        if self.lost is not None:
            raise self.lost
        self._check_files()

    def _check_files(self) -> None:
        for what, path, identity in self._files:
            try:
                now = file_id(path)
            except OSError as error:
                raise StorageUnavailableError(
                    f"cannot check {what} {path}: {error.strerror or error}", reason=IO_ERROR
                ) from None
            if now != identity:
                self._lose(what, path, "deleted" if now is None else "replaced by another file")

    def _lose(self, what: str, path: str, how: str) -> None:
        """Mark the store lost, save what can be saved, and raise ``StorageLostError``."""
        assert self.path is not None
        message = f"{what} {path} was {how}"
        # Everything committed is moved into the database file this connection has open,
        # and the log is emptied: at the path, too, if it is still there, so that whatever
        # database is at the path now is not overwritten with this one's pages.
        saved = False
        try:
            with self.lock:
                busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            saved = busy == 0
        except (sqlite3.Error, StorageError):
            pass
        if saved and what != _DATABASE_FILE:
            with contextlib.suppress(OSError):
                if file_id(self.path) == self._files[0][2]:
                    message += f"; everything committed before was saved into {self.path}"
        self.lost = StorageLostError(message, reason=f"{_PUBLIC[what]} was {how.split()[0]}")
        raise self.lost

    def probe(self) -> None:
        """Commit a transaction that writes one page (the schema version, rewritten as it
        is): raises ``StorageUnavailableError`` unless the database can be written now."""
        self.run(_rewrite_version)

    def insert_webhooks(
        self, captures: Sequence[Capture], targets: Sequence[Sequence[str]] | None = None
    ) -> list[WebhookSummary]:
        """Store ``captures`` in one transaction (one fsync) and return them with their ids.

        ``targets[i]`` lists the target URLs capture ``i`` is to be delivered to; a pending
        delivery is queued for each in the same transaction.
        """
        try:
            with self.write() as db:
                return [
                    insert_webhook(db, capture, targets[i] if targets else ())[0]
                    for i, capture in enumerate(captures)
                ]
        except sqlite3.Error as error:
            raise storage_error_from(error) from None

    def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` in one write transaction under the lock."""
        try:
            with self.write() as db:
                return job(db)
        except sqlite3.Error as error:
            raise storage_error_from(error) from None

    def run_outside_transaction(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` under the lock but outside a transaction (``VACUUM`` and some pragmas
        cannot run inside one)."""
        if self.readonly:
            raise StorageError("this store was opened read-only")
        try:
            with self.lock:
                if self.lost is not None:
                    raise self.lost
                result = job(self.db)
                self._check_files()
                return result
        except sqlite3.Error as error:
            raise storage_error_from(error) from None

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database file and empty it, under the lock."""
        self.run_outside_transaction(lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))

    # --- reading ---------------------------------------------------------------------------

    def get_webhook(self, webhook_id: int) -> Webhook:
        """The stored webhook ``webhook_id``, or ``NotFoundError``."""
        row = self._query_one(
            f"SELECT {_SUMMARY_COLUMNS}, headers, body, http_version, remote_addr"
            f" FROM {_SUMMARY_FROM} WHERE webhooks.id = ?",
            (webhook_id,),
        )
        if row is None:
            raise no_webhook(webhook_id)
        return Webhook(
            summary=_summary(row),
            headers=unpack_headers(row[14]),
            body=row[15],
            http_version=row[16],
            remote_addr=row[17],
        )

    def list_webhooks(self, where: WebhookFilter = WebhookFilter()) -> list[WebhookSummary]:
        """Webhooks matching ``where``, newest first (``where.limit`` of them; 0: all). Uses
        indexes; never loads bodies. ``whrelay.storage.read`` pages on from there."""
        from whrelay.storage.read import page

        return page(self, where, limit=where.limit)

    def deliveries(self, webhook_id: int) -> list[Delivery]:
        """The deliveries of one webhook, oldest first."""
        return [
            _delivery(row)
            for row in self._query_all(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = ? ORDER BY id",
                (webhook_id,),
            )
        ]

    def pending_deliveries(self) -> list[Delivery]:
        """Every pending delivery, in arrival order: what a restarted forwarder resumes."""
        return [
            _delivery(row)
            for row in self._query_all(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state = 'pending' ORDER BY id",
                (),
            )
        ]

    def attempts(self, webhook_id: int) -> list[Attempt]:
        """Every attempt made for one webhook, oldest first."""
        return [
            _attempt(row)
            for row in self._query_all(
                f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE webhook_id = ? ORDER BY id",
                (webhook_id,),
            )
        ]

    def query_all(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """The rows of a read (``whrelay.storage.read`` builds them), through this store's
        reading connection."""
        return self._query_all(sql, params)

    def _query_all(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        try:
            with self._reading() as db:
                return list(db.execute(sql, params))
        except sqlite3.Error as error:
            raise storage_error_from(error) from None

    def count_webhooks(self) -> int:
        row = self._query_one("SELECT count(*) FROM webhooks", ())
        return int(row[0]) if row else 0

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap poll for new arrivals. (A
        reader that opened the file again counts that as a change.)"""
        row = self._query_one("PRAGMA data_version", ())
        return (self._generation << 32) + (int(row[0]) if row else 0)

    def _query_one(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        try:
            with self._reading() as db:
                row: tuple[Any, ...] | None = db.execute(sql, params).fetchone()
        except sqlite3.Error as error:
            raise storage_error_from(error) from None
        return row


def _rewrite_version(db: sqlite3.Connection) -> None:
    db.execute(f"PRAGMA user_version = {current_version(db)}")


_INT64 = (-(2**63), 2**63 - 1)


def _int64(value: int) -> int:
    """``value`` within SQLite's integers: a bound past them selects what the bound means."""
    return min(max(value, _INT64[0]), _INT64[1])


def _bindable(text: str) -> str | bytes:
    """``text`` as SQLite can take it: text that holds lone surrogates (bytes that were not
    UTF-8 on a command line) goes as those bytes, which match the same bytes stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def _enforce_foreign_keys(db: sqlite3.Connection) -> None:
    """Turn on what the schema declares (``ON DELETE CASCADE``): SQLite enforces foreign keys
    only on connections that ask, one at a time, outside any transaction."""
    db.execute("PRAGMA foreign_keys = ON")


def _delivery(row: Sequence[Any]) -> Delivery:
    values = list(row)
    values[3] = DeliveryState(values[3])
    return Delivery(*values)


def _attempt(row: Sequence[Any]) -> Attempt:
    values = list(row)
    values[2] = Trigger(values[2])
    values[4] = unpack_headers(values[4])
    values[8] = unpack_headers(values[8])
    values[10] = bool(values[10])
    values[14] = None if values[14] is None else bool(values[14])
    return Attempt(*values)  # edited (16) as stored


def _summary(row: Sequence[Any]) -> WebhookSummary:
    values = list(row[:14])
    if values[10] is None:  # no verification row: nothing was checked (see insert_webhook)
        values[10] = "unverified"
        if values[5] is not None:
            values[11], values[12] = "no_secret", values[5]
    return WebhookSummary(*values)


T = TypeVar("T")


def _text(value: str | None) -> str | None:
    """Header-derived text fit for a TEXT column: bytes that were not UTF-8 become U+FFFD
    (the exact bytes stay in the headers blob)."""
    if value is None or value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape (a "\\ud800" type)
        raw = value.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


_INSERT_WEBHOOK = (
    "INSERT INTO webhooks (received_at, method, path, query, provider, event_type,"
    " provider_id, size, content_type, http_version, remote_addr, headers, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_WEBHOOK_ZEROS = (
    "INSERT INTO webhooks (received_at, method, path, query, provider, event_type,"
    " provider_id, size, content_type, http_version, remote_addr, headers, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, zeroblob(?))"
)
WRITTEN_IN_PLACE = 64 * 1024
"""Bodies over this many bytes are not bound to the INSERT, which would copy them twice (the
bound value, then the record built from it, the first kept with the cached statement until
the next INSERT): the row is inserted with zeros in their place, which SQLite stores
without building them, then the body is written over them through ``blobopen``, straight
into the database's pages."""


DUPLICATE_OF = (
    "SELECT min(id) FROM webhooks WHERE provider_id = ? AND provider IS ?"
    " AND NOT EXISTS (SELECT 1 FROM edits WHERE edits.webhook_id = webhooks.id)"
)
"""The first webhook received with a provider id (the sender's own) and provider: what a
webhook with the same ones is a duplicate of. An edited copy keeps its original's provider
id, but its sender never sent it: it is never what a webhook received duplicates."""


def insert_webhook(
    db: sqlite3.Connection,
    capture: Capture,
    targets: Sequence[str] = (),
    verdict: Verdict | None = None,
    identity: Identity | None = None,
    *,
    duplicate_check: bool = True,
) -> tuple[WebhookSummary, list[Delivery]]:
    """Insert one webhook, its verdict, and a pending delivery per target. Call inside a write
    transaction. A webhook whose provider id (the sender's own) was received before is marked
    as a duplicate of the first one, unless ``duplicate_check`` is off (an edited copy, which
    the sender did not send again). (On every webhook's path: kept lean.)"""
    who = identity or identify(capture.headers, capture.body)
    webhook_id, duplicate_of, delivery_ids = insert_webhook_rows(
        db, capture, targets, verdict, who, duplicate_check=duplicate_check
    )
    return stored_webhook(capture, targets, verdict, who, webhook_id, duplicate_of, delivery_ids)


def insert_webhook_rows(
    db: sqlite3.Connection,
    capture: Capture,
    targets: Sequence[str],
    verdict: Verdict | None,
    identity: Identity,
    *,
    duplicate_check: bool = True,
) -> tuple[int, int | None, list[int]]:
    """``insert_webhook``'s SQL: the ids it assigns (webhook, duplicated webhook, deliveries),
    from which ``stored_webhook`` rebuilds the records. The storage process answers with
    these few integers rather than the records."""
    provider = identity.provider
    provider_id = _text(identity.provider_id)
    duplicate_of = None
    if provider_id and duplicate_check:
        duplicate_of = db.execute(DUPLICATE_OF, (provider_id, provider)).fetchone()[0]
    body = capture.body
    in_place = body is not None and len(body) > WRITTEN_IN_PLACE
    webhook_id = db.execute(
        _INSERT_WEBHOOK_ZEROS if in_place else _INSERT_WEBHOOK,
        (
            capture.received_at,
            capture.method,
            capture.path,
            capture.query,
            provider,
            _text(identity.event_type),
            provider_id,
            len(body or b""),
            _text(identity.content_type),
            capture.http_version,
            capture.remote_addr,
            pack_headers(capture.headers),
            len(body or b"") if in_place else body,
        ),
    ).lastrowid
    assert webhook_id is not None
    if in_place:
        assert body is not None
        with db.blobopen("webhooks", "body", webhook_id) as blob:
            blob.write(body)
    verdict = verdict or _default_verdict(provider)
    # The common case, nothing checked and no duplicate, needs no row: readers derive it.
    if not (
        verdict.verdict == "unverified"
        and duplicate_of is None
        and verdict.scheme in (None, provider)
    ):
        db.execute(
            "INSERT INTO verifications (webhook_id, scheme, verdict, reason, detail, duplicate_of)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                webhook_id,
                verdict.scheme,
                verdict.verdict,
                verdict.reason,
                verdict.detail,
                duplicate_of,
            ),
        )
    delivery_ids = [
        insert_delivery(db, webhook_id, target, capture.received_at).id for target in targets
    ]
    return webhook_id, duplicate_of, delivery_ids


def _default_verdict(provider: str | None) -> Verdict:
    return Verdict("unverified", provider, "no_secret" if provider else None)


def stored_webhook(
    capture: Capture,
    targets: Sequence[str],
    verdict: Verdict | None,
    identity: Identity,
    webhook_id: int,
    duplicate_of: int | None,
    delivery_ids: Sequence[int],
) -> tuple[WebhookSummary, list[Delivery]]:
    """The records ``insert_webhook`` stored, from what went in and the ids that came out."""
    verdict = verdict or _default_verdict(identity.provider)
    stored = WebhookSummary(
        webhook_id,
        capture.received_at,
        capture.method,
        capture.path,
        capture.query,
        identity.provider,
        _text(identity.event_type),
        _text(identity.provider_id),
        len(capture.body or b""),
        _text(identity.content_type),
        verdict.verdict,
        verdict.reason,
        verdict.scheme,
        duplicate_of,
    )
    deliveries = [
        _pending(delivery_id, webhook_id, target, capture.received_at)
        for delivery_id, target in zip(delivery_ids, targets, strict=True)
    ]
    return stored, deliveries


def insert_delivery(db: sqlite3.Connection, webhook_id: int, target: str, now_us: int) -> Delivery:
    """Queue ``webhook_id`` for ``target``, due at once. Call inside a write transaction."""
    cursor = db.execute(
        "INSERT INTO deliveries (webhook_id, target, state, attempts, next_attempt_at,"
        " created_at, updated_at) VALUES (?, ?, 'pending', 0, ?, ?, ?)",
        (webhook_id, target, now_us, now_us, now_us),
    )
    assert cursor.lastrowid is not None
    return _pending(cursor.lastrowid, webhook_id, target, now_us)


def _pending(delivery_id: int, webhook_id: int, target: str, now_us: int) -> Delivery:
    return Delivery(
        id=delivery_id,
        webhook_id=webhook_id,
        target=target,
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=now_us,
        created_at=now_us,
        updated_at=now_us,
    )


def insert_attempt(db: sqlite3.Connection, attempt: Attempt) -> Attempt:
    """Record one attempt. Call inside a write transaction."""
    cursor = db.execute(
        "INSERT INTO attempts (webhook_id, delivery, trigger, url, request_headers, started_at,"
        " duration_us, status, response_headers, response_body, response_truncated, error,"
        " error_detail, resigned, resign_note, edited)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            attempt.webhook_id,
            attempt.delivery,
            attempt.trigger,
            attempt.url,
            pack_headers(attempt.request_headers),
            attempt.started_at,
            attempt.duration_us,
            attempt.status,
            pack_headers(attempt.response_headers),
            attempt.response_body,
            int(attempt.response_truncated),
            attempt.error,
            attempt.error_detail,
            None if attempt.resigned is None else int(attempt.resigned),
            attempt.resign_note,
            attempt.edited,
        ),
    )
    assert cursor.lastrowid is not None
    return dataclasses.replace(attempt, id=cursor.lastrowid)


def record_attempt(
    db: sqlite3.Connection,
    attempt: Attempt,
    *,
    state: DeliveryState,
    next_attempt_at: int | None,
    now_us: int,
    counted: bool = True,
) -> Attempt:
    """Record one attempt and move its delivery (if it has one) on to ``state``, in the
    caller's write transaction. The stored attempt, with its id.

    The only way a delivery's state changes, a cancellation aside (``cancel_deliveries``): so
    the attempts after an id are the deliveries that moved on since (``read.changes``), with
    no index on the deliveries' times to keep up on every write.

    ``delivered`` is final: a delivery another process delivered (``whrelay replay``) while
    an attempt of ``listen``'s was under way keeps that state, whatever the attempt got.
    ``cancelled`` (``whrelay cancel``) stays too, unless the attempt delivered it.
    ``counted=False`` (a replay's attempt) leaves the delivery's attempt count, which drives
    its backoff, alone."""
    stored = insert_attempt(db, attempt)
    if attempt.delivery is None:
        return stored
    db.execute(
        "UPDATE deliveries SET"
        " state = CASE WHEN state = 'delivered' THEN state"
        "  WHEN state = 'cancelled' AND ? != 'delivered' THEN state ELSE ? END,"
        " next_attempt_at = CASE WHEN state IN ('delivered', 'cancelled') THEN NULL ELSE ? END,"
        " updated_at = ?,"
        " attempts = attempts + ?, last_status = coalesce(?, last_status),"
        " last_error = ? WHERE id = ?",
        (
            state,
            state,
            next_attempt_at,
            now_us,
            1 if counted else 0,
            attempt.status,
            attempt.error,
            attempt.delivery,
        ),
    )
    return stored


def cancel_deliveries(
    db: sqlite3.Connection,
    now_us: int,
    *,
    webhook_ids: Sequence[int] | None = None,
    where: WebhookFilter | None = None,
    target: str | None = None,
) -> list[Delivery]:
    """Cancel pending deliveries: those of ``webhook_ids`` (``NotFoundError`` for one not
    stored), or of the webhooks ``where`` selects, or every pending one; to ``target`` only
    when given. They become ``cancelled``, with no next attempt; a ``listen`` retrying one
    reads its state before the next attempt and drops it. Call inside a write transaction:
    the webhooks are selected in it, so one that arrives meanwhile is either in or after.
    ``where``'s status is not looked at (the deliveries cancelled are the pending ones). The
    deliveries cancelled, oldest first."""
    chunks: list[list[int] | None] = [None]
    if webhook_ids is not None:  # SQLite's bound on parameters: 500 at a time
        chunks = [list(webhook_ids[i : i + 500]) for i in range(0, len(webhook_ids), 500)]
        for chunk in chunks:
            assert chunk is not None
            _check_stored(db, chunk)
    selecting: tuple[list[str], list[object]] = ([], [])
    if where is not None:
        selecting = filter_clauses(dataclasses.replace(where, status=None), paged=False)
    cancelled: list[Delivery] = []
    for chunk in chunks:
        sql = (
            "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, updated_at = ?"
            " WHERE state = 'pending'"
        )
        args: list[object] = [now_us]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if chunk is not None:
            sql += f" AND webhook_id IN ({', '.join('?' * len(chunk))})"
            args += chunk
        clauses, params = selecting
        if clauses:  # each pending delivery's webhook, found by its id
            sql += (
                f" AND EXISTS (SELECT 1 FROM {_SUMMARY_FROM}"
                f" WHERE webhooks.id = deliveries.webhook_id AND {' AND '.join(clauses)})"
            )
            args += params
        rows = db.execute(f"{sql} RETURNING {_DELIVERY_COLUMNS}", args).fetchall()
        cancelled += [_delivery(row) for row in rows]
    return sorted(cancelled, key=lambda delivery: delivery.id)


def _check_stored(db: sqlite3.Connection, webhook_ids: Sequence[int]) -> None:
    """``NotFoundError`` for the first of ``webhook_ids`` not stored (its id alone is read)."""
    marks = ", ".join("?" * len(webhook_ids))
    sql = f"SELECT id FROM webhooks WHERE id IN ({marks})"
    stored = {int(row[0]) for row in db.execute(sql, list(webhook_ids))}
    for webhook_id in webhook_ids:
        if webhook_id not in stored:
            raise no_webhook(webhook_id)


def no_webhook(webhook_id: int) -> NotFoundError:
    """What reading a webhook that is not stored says."""
    return NotFoundError(
        f"no webhook with id {webhook_id}", hint="'whrelay list' shows the stored ids"
    )
