"""The SQLite store: the single source of truth and the only channel between whrelay processes.

One file, WAL mode. A ``Store`` opened for writing takes the cross-process ``WriteLock``
around every write transaction (``BEGIN IMMEDIATE``) and checkpoint; one opened read-only
(``mode=ro``) never writes or checkpoints, so ``list``, ``show`` and the TUI can read while
``listen`` writes.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from whrelay.detect import identify
from whrelay.errors import NotFoundError, StorageError, StorageUnavailableError
from whrelay.models import (
    Capture,
    Webhook,
    WebhookSummary,
    header_value,
    now_micros,
    pack_headers,
    unpack_headers,
)
from whrelay.paths import lock_path
from whrelay.storage.lock import WriteLock
from whrelay.storage.migrations import SCHEMA_VERSION, current_version, migrate

Durability = Literal["full", "normal"]

BUSY_TIMEOUT = 10.0
"""Seconds a statement waits for another process's lock before failing."""

_SUMMARY_COLUMNS = (
    "id, received_at, method, path, query, provider, event_type, delivery_id, size, content_type"
)

# SQLite result codes that mean "cannot write now", as opposed to a bug or a corrupt file.
_UNAVAILABLE = {
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_READONLY",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_PERM",
}


def unavailable(error: sqlite3.Error) -> StorageUnavailableError:
    """A ``StorageUnavailableError`` naming what SQLite said."""
    return StorageUnavailableError(f"cannot write the database: {error}")


def classify(error: sqlite3.Error) -> StorageError:
    name = getattr(error, "sqlite_errorname", "") or ""
    if any(name.startswith(code) for code in _UNAVAILABLE):
        return unavailable(error)
    return StorageError(f"database error: {error}")


@dataclass(frozen=True, slots=True)
class WebhookFilter:
    """What ``list`` selects. Every field narrows; the defaults select everything."""

    since: int | None = None
    """UTC microseconds; only webhooks received at or after it."""
    path_glob: str | None = None
    method: str | None = None
    provider: str | None = None
    search: str | None = None
    """A substring of the path or the body (bytes, case-sensitive)."""
    limit: int = 50
    """0 means no limit."""


def _create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 (and its folder with 0700) if it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class Store:
    """A whrelay database. ``Store(path)`` writes; ``Store(path, readonly=True)`` only reads.

    ``path`` may be ``":memory:"`` (tests). Not thread-safe: one thread uses one ``Store``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        durability: Durability = "full",
    ) -> None:
        self.memory = str(path) == ":memory:"
        self.path = Path(path) if not self.memory else None
        self.readonly = readonly and not self.memory
        self.durability: Durability = durability
        self.lock = WriteLock(None if self.path is None else lock_path(self.path), BUSY_TIMEOUT)
        try:
            self.db = self._connect()
        except sqlite3.Error as error:
            self.lock.close()
            raise StorageError(f"cannot open the database {self.path}: {error}") from None

    def _connect(self) -> sqlite3.Connection:
        if self.path is None:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            migrate(db, now_micros())
            return db
        if self.readonly:
            if not self.path.exists() or self._needs_migration():
                Store(self.path, durability=self.durability).close()
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            db = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False
            )
            self._check_version(db)
            return db
        _create_private_file(self.path)
        db = sqlite3.connect(
            self.path, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False
        )
        with self.lock:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {self.durability.upper()}")
            if current_version(db) < SCHEMA_VERSION:
                migrate(db, now_micros())
        self._check_version(db)
        return db

    def _needs_migration(self) -> bool:
        assert self.path is not None
        probe = sqlite3.connect(
            f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT
        )
        try:
            return current_version(probe) < SCHEMA_VERSION
        finally:
            probe.close()

    def _check_version(self, db: sqlite3.Connection) -> None:
        version = current_version(db)
        if version > SCHEMA_VERSION:
            db.close()
            raise StorageError(
                f"the database {self.path} has schema version {version}; this whrelay knows "
                f"up to {SCHEMA_VERSION}",
                hint="upgrade whrelay, or use another --db",
            )

    def close(self) -> None:
        """Close the connection. A writer closes under the lock: closing may checkpoint."""
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
        """A write transaction under the cross-process lock; commits on success."""
        if self.readonly:
            raise StorageError("this store was opened read-only")
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def insert_webhooks(self, captures: Sequence[Capture]) -> list[WebhookSummary]:
        """Store ``captures`` in one transaction (one fsync) and return them with their ids."""
        rows = []
        for capture in captures:
            who = identify(capture.headers, capture.body)
            rows.append(
                WebhookSummary(
                    id=0,
                    received_at=capture.received_at,
                    method=capture.method,
                    path=capture.path,
                    query=capture.query,
                    provider=who.provider,
                    event_type=who.event_type,
                    delivery_id=who.delivery_id,
                    size=len(capture.body or b""),
                    content_type=header_value(capture.headers, "content-type"),
                )
            )
        stored = []
        try:
            with self.write() as db:
                for capture, row in zip(captures, rows, strict=True):
                    cursor = db.execute(
                        "INSERT INTO webhooks (received_at, method, path, query, provider,"
                        " event_type, delivery_id, size, content_type, http_version,"
                        " remote_addr, headers, body)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            row.received_at,
                            row.method,
                            row.path,
                            row.query,
                            row.provider,
                            row.event_type,
                            row.delivery_id,
                            row.size,
                            row.content_type,
                            capture.http_version,
                            capture.remote_addr,
                            pack_headers(capture.headers),
                            capture.body,
                        ),
                    )
                    assert cursor.lastrowid is not None
                    stored.append(_with_id(row, cursor.lastrowid))
        except sqlite3.Error as error:
            raise classify(error) from None
        return stored

    # --- reading ---------------------------------------------------------------------------

    def get_webhook(self, webhook_id: int) -> Webhook:
        """The stored webhook ``webhook_id``, or ``NotFoundError``."""
        row = self._query_one(
            f"SELECT {_SUMMARY_COLUMNS}, headers, body, http_version, remote_addr"  # noqa: S608
            " FROM webhooks WHERE id = ?",
            (webhook_id,),
        )
        if row is None:
            raise NotFoundError(
                f"no webhook with id {webhook_id}", hint="'whrelay list' shows the stored ids"
            )
        return Webhook(
            summary=_summary(row),
            headers=unpack_headers(row[10]),
            body=row[11],
            http_version=row[12],
            remote_addr=row[13],
        )

    def list_webhooks(self, where: WebhookFilter = WebhookFilter()) -> list[WebhookSummary]:
        """Webhooks matching ``where``, newest first. Uses indexes; never loads bodies."""
        clauses: list[str] = []
        params: list[object] = []
        if where.since is not None:
            clauses.append("received_at >= ?")
            params.append(where.since)
        if where.path_glob:
            clauses.append("path GLOB ?")
            params.append(where.path_glob)
        if where.method:
            clauses.append("method = ?")
            params.append(where.method.upper())
        if where.provider:
            clauses.append("provider = ?")
            params.append(where.provider)
        if where.search:
            clauses.append("(instr(path, ?) > 0 OR instr(body, ?) > 0)")
            params.extend([where.search, where.search.encode()])
        # Only constant SQL fragments are joined; every value is a bound parameter.
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM webhooks"  # noqa: S608
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC"
        if where.limit > 0:
            sql += " LIMIT ?"
            params.append(where.limit)
        try:
            return [_summary(row) for row in self.db.execute(sql, params)]
        except sqlite3.Error as error:
            raise classify(error) from None

    def count_webhooks(self) -> int:
        row = self._query_one("SELECT count(*) FROM webhooks", ())
        return int(row[0]) if row else 0

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap poll for new arrivals."""
        row = self._query_one("PRAGMA data_version", ())
        return int(row[0]) if row else 0

    def _query_one(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self.db.execute(sql, params).fetchone()
        except sqlite3.Error as error:
            raise classify(error) from None
        return row


def _summary(row: Sequence[object]) -> WebhookSummary:
    return WebhookSummary(*row[:10])  # type: ignore[arg-type]


def _with_id(row: WebhookSummary, webhook_id: int) -> WebhookSummary:
    return dataclasses.replace(row, id=webhook_id)
