"""Schema migrations: ordered functions, each recorded in ``schema_versions`` when applied.

Add a migration by appending a function to ``MIGRATIONS``; never edit or reorder one that
has shipped. ``PRAGMA user_version`` mirrors the newest applied version so that opening a
current database costs one cheap read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def _v1_webhooks(db: sqlite3.Connection) -> None:
    """Webhooks exactly as received. The columns ``list`` reads come before the big blobs."""
    db.execute(
        """
        CREATE TABLE webhooks (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at  INTEGER NOT NULL,  -- UTC, microseconds since the epoch
            method       TEXT    NOT NULL,
            path         TEXT    NOT NULL,
            query        TEXT    NOT NULL DEFAULT '',
            provider     TEXT,
            event_type   TEXT,
            delivery_id  TEXT,
            size         INTEGER NOT NULL,  -- body bytes; 0 for an empty or absent body
            content_type TEXT,
            http_version TEXT    NOT NULL,
            remote_addr  TEXT,
            headers      BLOB    NOT NULL,  -- 'Name: value' lines joined by CRLF, as received
            body         BLOB               -- NULL: no body at all; X'': an empty body
        )
        """
    )
    db.execute("CREATE INDEX webhooks_received_at ON webhooks (received_at)")
    db.execute("CREATE INDEX webhooks_provider ON webhooks (provider, id)")
    db.execute(
        "CREATE INDEX webhooks_delivery_id ON webhooks (delivery_id) WHERE delivery_id IS NOT NULL"
    )


def _v2_deliveries(db: sqlite3.Connection) -> None:
    """The durable delivery queue (one row per webhook and target) and every attempt."""
    db.execute(
        """
        CREATE TABLE deliveries (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
            target          TEXT    NOT NULL,
            state           TEXT    NOT NULL,  -- pending | delivered | failed
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,           -- UTC microseconds; NULL unless pending
            created_at      INTEGER NOT NULL,
            updated_at      INTEGER NOT NULL,
            last_status     INTEGER,
            last_error      TEXT
        )
        """
    )
    db.execute("CREATE INDEX deliveries_pending ON deliveries (target, id) WHERE state = 'pending'")
    db.execute("CREATE INDEX deliveries_webhook ON deliveries (webhook_id, state)")
    db.execute(
        """
        CREATE TABLE attempts (
            id                 INTEGER PRIMARY KEY AUTOINCREMENT,
            webhook_id         INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
            delivery           INTEGER REFERENCES deliveries (id) ON DELETE CASCADE,
            trigger            TEXT    NOT NULL,  -- first | retry | replay | proxy
            url                TEXT    NOT NULL,
            request_headers    BLOB    NOT NULL,
            started_at         INTEGER NOT NULL,
            duration_us        INTEGER NOT NULL,
            status             INTEGER,
            response_headers   BLOB    NOT NULL DEFAULT X'',
            response_body      BLOB,
            response_truncated INTEGER NOT NULL DEFAULT 0,
            error              TEXT,  -- refused | timeout | reset | blocked | error
            error_detail       TEXT
        )
        """
    )
    db.execute("CREATE INDEX attempts_webhook ON attempts (webhook_id, id)")


def _v3_verifications(db: sqlite3.Connection) -> None:
    """The signature verdict of each webhook and the earlier webhook it duplicates.

    A table of its own, not columns on ``webhooks``: columns after the body blob would sit in
    its overflow pages, and ``list`` would have to read through every large body.
    """
    db.execute(
        """
        CREATE TABLE verifications (
            webhook_id   INTEGER PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
            scheme       TEXT,           -- the scheme checked (given or detected), if any
            verdict      TEXT NOT NULL,  -- valid | invalid | unverified
            reason       TEXT,           -- ok, bad_signature, ..., no_secret
            detail       TEXT,
            duplicate_of INTEGER         -- an earlier webhook with the same provider delivery id
        )
        """
    )
    db.execute("CREATE INDEX verifications_verdict ON verifications (verdict, webhook_id)")


def _v4_foreign_keys(db: sqlite3.Connection) -> None:
    """Foreign keys are enforced from this version on (``PRAGMA foreign_keys`` on every
    connection), so deleting a webhook deletes its deliveries, attempts and verdict.

    Before, ``ON DELETE CASCADE`` was declared but not enforced: rows whose webhook (or whose
    delivery, for an attempt) had been deleted stayed behind. They belong to nothing that
    can be listed, shown or replayed, so they are deleted here. The index lets deleting a
    delivery find its attempts without a scan of them all.
    """
    db.execute("DELETE FROM verifications WHERE webhook_id NOT IN (SELECT id FROM webhooks)")
    db.execute("DELETE FROM deliveries WHERE webhook_id NOT IN (SELECT id FROM webhooks)")
    db.execute(
        "DELETE FROM attempts WHERE webhook_id NOT IN (SELECT id FROM webhooks)"
        " OR (delivery IS NOT NULL AND delivery NOT IN (SELECT id FROM deliveries))"
    )
    db.execute("CREATE INDEX attempts_delivery ON attempts (delivery) WHERE delivery IS NOT NULL")


def _v5_attempt_signing(db: sqlite3.Connection) -> None:
    """Whether an attempt was re-signed (``--resign``), and why not when it went out as
    received: whrelay re-signs only a webhook whose signature it verified. Attempts recorded
    before lose any header that held a secret itself (GitLab's token), which they had kept."""
    from whrelay.core.models import pack_headers, unpack_headers
    from whrelay.identify.known import SECRET_HEADERS
    from whrelay.signatures import REDACTED

    db.execute("ALTER TABLE attempts ADD COLUMN resigned INTEGER")  # NULL: not asked; 0 or 1
    db.execute("ALTER TABLE attempts ADD COLUMN resign_note TEXT")
    for name in SECRET_HEADERS:
        rows = db.execute(
            "SELECT id, request_headers FROM attempts WHERE CAST(request_headers AS TEXT) LIKE ?",
            (f"%{name}%",),
        ).fetchall()
        for attempt_id, blob in rows:
            scrubbed = [
                (k, REDACTED.encode() if k.lower() == name.encode() else v)
                for k, v in unpack_headers(blob)
            ]
            db.execute(
                "UPDATE attempts SET request_headers = ? WHERE id = ?",
                (pack_headers(scrubbed), attempt_id),
            )


def _v6_history_order(db: sqlite3.Connection) -> None:
    """Indexes for reading the history a page at a time in its one order (newest first by
    ``received_at``). ``webhooks_history`` holds every column a summary shows, so a page, a
    count or a filter on them reads the index alone, never the table, whose rows hold the
    bodies. By provider without sorting all of its webhooks; the deliveries that changed
    since a moment (a follower's refresh)."""
    db.execute("DROP INDEX IF EXISTS webhooks_received_at")
    db.execute(
        "CREATE INDEX webhooks_history ON webhooks (received_at, id, method, path, query, provider,"
        " event_type, delivery_id, size, content_type)"
    )
    db.execute("DROP INDEX IF EXISTS webhooks_provider")
    db.execute("CREATE INDEX webhooks_provider_received ON webhooks (provider, received_at, id)")
    db.execute("CREATE INDEX deliveries_updated ON deliveries (updated_at)")


def _v7_imports(db: sqlite3.Connection) -> None:
    """Where an imported webhook came from (``whrelay import``): a file and the line, entry or
    message in it. A webhook received by ``listen`` has no row here."""
    db.execute(
        """
        CREATE TABLE imports (
            webhook_id  INTEGER PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
            origin      TEXT    NOT NULL,  -- e.g. 'hooks.har, entry 3'
            imported_at INTEGER NOT NULL   -- UTC microseconds
        )
        """
    )


def _v8_provider_id(db: sqlite3.Connection) -> None:
    """The sender's own id of a webhook is ``provider_id``: ``delivery_id`` read as one of
    whrelay's deliveries, which are rows of their own. SQLite (3.25 and later) renames the
    column inside every index that names it; the index named after it is made again."""
    db.execute("ALTER TABLE webhooks RENAME COLUMN delivery_id TO provider_id")
    db.execute("DROP INDEX IF EXISTS webhooks_delivery_id")
    db.execute(
        "CREATE INDEX webhooks_provider_id ON webhooks (provider_id) WHERE provider_id IS NOT NULL"
    )


def _v9_attempt_edits(db: sqlite3.Connection) -> None:
    """What a replay changed of a webhook before sending it (another body, headers added or
    replaced): ``show`` marks such an attempt, which did not send what was received."""
    db.execute("ALTER TABLE attempts ADD COLUMN edited TEXT")  # NULL: sent as stored


def _v10_edits(db: sqlite3.Connection) -> None:
    """Which webhook an edited copy was made from (the TUI's edit and re-send): the copy is a
    webhook of its own, the original stays as received. A copy whose original is pruned keeps
    its row, with no original (``NULL``): it was edited, from a webhook no longer stored."""
    db.execute(
        """
        CREATE TABLE edits (
            webhook_id  INTEGER PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
            original_id INTEGER REFERENCES webhooks (id) ON DELETE SET NULL,
            edited_at   INTEGER NOT NULL   -- UTC microseconds
        )
        """
    )
    # Deleting a webhook looks here for the copies made from it.
    db.execute("CREATE INDEX edits_original ON edits (original_id)")


def _v11_changes_by_attempt(db: sqlite3.Connection) -> None:
    """A follower finds the deliveries that moved on from the attempts after the last one it
    saw (``read.changed_deliveries``), and the cancellations, the one change with no attempt,
    from an index of cancelled deliveries alone. ``deliveries_updated`` indexed every
    delivery by a time each attempt moves: two index writes on every webhook's path, about
    a tenth of a relayed webhook's storage work, for a reader that looks once a second."""
    db.execute("DROP INDEX IF EXISTS deliveries_updated")
    db.execute(
        "CREATE INDEX deliveries_cancelled ON deliveries (updated_at) WHERE state = 'cancelled'"
    )


MIGRATIONS: tuple[Migration, ...] = (
    _v1_webhooks,
    _v2_deliveries,
    _v3_verifications,
    _v4_foreign_keys,
    _v5_attempt_signing,
    _v6_history_order,
    _v7_imports,
    _v8_provider_id,
    _v9_attempt_edits,
    _v10_edits,
    _v11_changes_by_attempt,
)
"""Version N is ``MIGRATIONS[N - 1]``."""

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(db: sqlite3.Connection) -> int:
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: sqlite3.Connection, now_us: int, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply every migration after the current version up to ``target``, in one transaction.

    The caller holds the write lock. Returns the versions applied.
    """
    applied: list[int] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        version = current_version(db)
        for number in range(version + 1, target + 1):
            step = MIGRATIONS[number - 1]
            step(db)
            db.execute(
                "INSERT INTO schema_versions (version, name, applied_at) VALUES (?, ?, ?)",
                (number, step.__name__.lstrip("_"), now_us),
            )
            applied.append(number)
        if applied:
            db.execute(f"PRAGMA user_version = {int(applied[-1])}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied
