"""Keeping a database that has grown for months in check: ``prune`` deletes old webhooks (with
their deliveries, attempts, verdicts and import records) and frees the space; ``stats`` says
what is stored.

Pruning goes a batch at a time, each batch its own short write transaction under the
cross-process lock, so a ``listen`` writing the same database keeps acknowledging webhooks
meanwhile (a single transaction over a million rows would hold its commits back past the
bound senders wait). A webhook with a pending delivery is kept unless asked otherwise: it is
still on its way.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from whrelay.core.errors import UsageError
from whrelay.storage.store import Store

BATCH = 500
"""Webhooks deleted per write transaction."""


@dataclass(frozen=True, slots=True)
class PruneRule:
    """Which webhooks go. At least one of ``older_than`` and ``keep`` is given."""

    older_than: int | None = None
    """UTC microseconds: webhooks received before it go."""
    keep: int | None = None
    """The newest ``keep`` webhooks stay, whatever their age."""
    delivered_only: bool = False
    """Only webhooks whose every delivery was delivered (or that were never forwarded)."""
    include_pending: bool = False
    """Also webhooks with a delivery still pending (they are kept otherwise)."""

    def __post_init__(self) -> None:
        if self.older_than is None and self.keep is None:
            raise UsageError("say what to prune: --older-than DURATION, --keep N, or both")
        if self.keep is not None and self.keep < 0:
            raise UsageError("--keep must be 0 or more")


@dataclass(slots=True)
class PruneResult:
    webhooks: int = 0
    """Webhooks deleted (or that would be, in a dry run)."""
    kept_pending: int = 0
    """Webhooks that matched but were kept: a delivery is still pending."""
    freed_bytes: int = 0
    """What the database file shrank by."""


def _candidates(rule: PruneRule) -> tuple[str, list[object]]:
    """The SQL selecting the ids to prune (oldest first), and its parameters."""
    clauses: list[str] = []
    params: list[object] = []
    if rule.older_than is not None:
        clauses.append("received_at < ?")
        params.append(rule.older_than)
    if rule.keep is not None:
        clauses.append(
            "id NOT IN (SELECT id FROM webhooks ORDER BY received_at DESC, id DESC LIMIT ?)"
        )
        params.append(rule.keep)
    if rule.delivered_only:
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = webhooks.id"
            " AND d.state != 'delivered')"
        )
    sql = "SELECT id FROM webhooks"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return sql + " ORDER BY received_at, id", params


_PENDING = "SELECT DISTINCT webhook_id FROM deliveries WHERE state = 'pending'"


def prune(
    store: Store,
    rule: PruneRule,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    stopping: Callable[[], bool] | None = None,
) -> PruneResult:
    """Delete what ``rule`` selects, a batch at a time; ``progress(done, total)`` after each,
    and no more batches once ``stopping()`` says so. Then give the freed pages back to the
    disk (``incremental_vacuum``) where the database allows it."""
    select, params = _candidates(rule)
    matched = [int(row[0]) for row in store.query_all(select, params)]
    pending = {int(row[0]) for row in store.query_all(_PENDING, [])}
    result = PruneResult()
    chosen = [i for i in matched if rule.include_pending or i not in pending]
    result.kept_pending = len(matched) - len(chosen)
    if dry_run:
        result.webhooks = len(chosen)
        return result
    size_before = _file_size(store)
    for start in range(0, len(chosen), BATCH):
        if stopping is not None and stopping():
            break
        batch = chosen[start : start + BATCH]

        def delete(db: sqlite3.Connection, batch: Sequence[int] = batch) -> None:
            marks = ",".join("?" * len(batch))
            db.execute(f"DELETE FROM webhooks WHERE id IN ({marks})", batch)  # cascades

        store.run(delete)
        result.webhooks += len(batch)
        if progress is not None:
            progress(result.webhooks, len(chosen))
    if result.webhooks:
        _give_back(store)
    result.freed_bytes = max(0, size_before - _file_size(store))
    return result


def _give_back(store: Store) -> None:
    """Return free pages to the disk when the database was made with incremental vacuum, and
    checkpoint, so the file itself shrinks (the pages are reused by new webhooks otherwise)."""

    def vacuum(db: sqlite3.Connection) -> None:
        if int(db.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2:
            db.executescript("PRAGMA incremental_vacuum;")  # run to the end, not one step

    store.run_outside_transaction(vacuum)
    store.checkpoint()


def vacuum(store: Store) -> int:
    """A full ``VACUUM`` (it rewrites the file: as long as the database is large, with
    ``listen``'s commits waiting), switching it to incremental vacuum for next time; the bytes
    freed."""
    before = _file_size(store)

    def run(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")

    store.run_outside_transaction(run)
    store.checkpoint()
    return max(0, before - _file_size(store))


def _file_size(store: Store) -> int:
    if store.path is None:
        return 0
    return sum(
        os.path.getsize(f"{store.path}{suffix}")
        for suffix in ("", "-wal")
        if os.path.exists(f"{store.path}{suffix}")
    )


# --- stats -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Stats:
    webhooks: int = 0
    oldest: int | None = None
    """UTC microseconds of the oldest webhook."""
    newest: int | None = None
    by_provider: dict[str, int] = field(default_factory=dict)
    by_event: dict[str, int] = field(default_factory=dict)
    by_verdict: dict[str, int] = field(default_factory=dict)
    by_delivery_state: dict[str, int] = field(default_factory=dict)
    database_bytes: int = 0
    wal_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        from whrelay.core.models import format_time

        return {
            "webhooks": self.webhooks,
            "oldest": None if self.oldest is None else format_time(self.oldest),
            "newest": None if self.newest is None else format_time(self.newest),
            "by_provider": self.by_provider,
            "by_event": self.by_event,
            "by_verdict": self.by_verdict,
            "by_delivery_state": self.by_delivery_state,
            "database_bytes": self.database_bytes,
            "wal_bytes": self.wal_bytes,
        }


def stats(store: Store) -> Stats:
    """What the database holds, counted over indexes (no body is read)."""

    def grouped(sql: str) -> dict[str, int]:
        return {str(key): int(n) for key, n in store.query_all(sql, []) if n}

    found = Stats()
    row = store.query_all("SELECT count(*), min(received_at), max(received_at) FROM webhooks", [])
    found.webhooks, found.oldest, found.newest = int(row[0][0]), row[0][1], row[0][2]
    found.by_provider = grouped(
        "SELECT coalesce(provider, '-'), count(*) FROM webhooks GROUP BY 1 ORDER BY 2 DESC"
    )
    found.by_event = grouped(
        "SELECT coalesce(provider, '-') || ' ' || coalesce(event_type, '-'), count(*)"
        " FROM webhooks GROUP BY 1 ORDER BY 2 DESC"
    )
    found.by_verdict = grouped(
        "SELECT coalesce(v.verdict, 'unverified'), count(*) FROM webhooks"
        " LEFT JOIN verifications v ON v.webhook_id = webhooks.id GROUP BY 1 ORDER BY 2 DESC"
    )
    found.by_delivery_state = grouped(
        "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY 2 DESC"
    )
    if store.path is not None:
        found.database_bytes = os.path.getsize(store.path)
        wal = f"{store.path}-wal"
        found.wal_bytes = os.path.getsize(wal) if os.path.exists(wal) else 0
    return found
