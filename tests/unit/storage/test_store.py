"""The SQLite store on real files: durability settings, migrations, round trips, filters,
readers beside a writer in another process, the cross-process write lock, group commit and
the query plans that keep ``list`` fast on a large database."""

from __future__ import annotations

import functools
import select
import sqlite3
import string
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.captures import (
    SECOND,
    T0,
    capture,
    folder_state,
    older_database,
    schema_version,
    v1_row,
)
from tests.helpers.processes import ROOT
from whrelay.core.errors import (
    DISK_FULL,
    ExitCode,
    NoDatabaseError,
    NotFoundError,
    StorageError,
    StorageLostError,
    StorageUnavailableError,
)
from whrelay.core.models import (
    Attempt,
    Capture,
    RawHeaders,
    WebhookSummary,
    pack_headers,
    unpack_headers,
)
from whrelay.core.paths import lock_path
from whrelay.storage import GroupCommitWriter, Outcome, Store, WebhookFilter
from whrelay.storage.lock import ReadLock, WriteLock
from whrelay.storage.migrations import MIGRATIONS, SCHEMA_VERSION, current_version, migrate
from whrelay.storage.store import DUPLICATE_OF, insert_webhook
from whrelay.storage.writer import commit_batch

json_capture = functools.partial(
    capture, headers=((b"Content-Type", b"application/json"),), body=b"{}"
)
"""``capture()`` with a JSON body: what most webhooks here are."""


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def pragma(db: sqlite3.Connection, name: str) -> object:
    row = db.execute(f"PRAGMA {name}").fetchone()
    assert row is not None
    return row[0]


def schema(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """Every table and index with its SQL, comparable across databases."""
    rows = db.execute(
        "SELECT type, name, coalesce(sql, '') FROM sqlite_master"
        " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
    ).fetchall()
    return [(str(t), str(n), " ".join(str(s).split())) for t, n, s in rows]


# --- the file, its mode, journal and durability --------------------------------------------


def test_new_database_is_private_wal_and_fully_synchronous(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    db = folder / "hooks.db"
    with Store(db) as store:
        assert mode(folder) == 0o700
        assert mode(db) == 0o600
        assert pragma(store.db, "journal_mode") == "wal"
        assert pragma(store.db, "synchronous") == 2
        store.insert_webhooks([json_capture()])
        # SQLite gives the WAL and shared-memory files the database file's mode.
        for sidecar in (Path(f"{db}-wal"), Path(f"{db}-shm"), lock_path(db)):
            assert sidecar.exists(), sidecar
            assert mode(sidecar) == 0o600, sidecar
    raw = sqlite3.connect(db)
    try:
        assert pragma(raw, "journal_mode") == "wal"  # persistent, not per connection
    finally:
        raw.close()


def test_normal_durability_sets_synchronous_normal(tmp_path: Path) -> None:
    with Store(tmp_path / "n.db", durability="normal") as store:
        assert pragma(store.db, "synchronous") == 1
        assert pragma(store.db, "journal_mode") == "wal"


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    Store(db).close()
    db.chmod(0o640)
    Store(db).close()
    assert mode(db) == 0o640


# --- schema versions and migrations --------------------------------------------------------


def test_fresh_database_records_every_schema_version(tmp_path: Path) -> None:
    with Store(tmp_path / "v.db") as store:
        rows = store.db.execute("SELECT version, name FROM schema_versions ORDER BY version")
        assert [tuple(r) for r in rows] == [
            (number, step.__name__.lstrip("_")) for number, step in enumerate(MIGRATIONS, 1)
        ]
        assert current_version(store.db) == SCHEMA_VERSION == len(MIGRATIONS)


def test_memory_store_has_the_current_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "file.db") as on_disk, Store(":memory:") as in_memory:
        assert current_version(in_memory.db) == SCHEMA_VERSION
        assert schema(in_memory.db) == schema(on_disk.db)


@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_migrates_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    """A database left at any earlier version is brought to the current schema by a writer."""
    with Store(tmp_path / "reference.db") as reference:
        expected_schema = schema(reference.db)
    old = older_database(tmp_path / "old.db", start)
    with Store(old) as store:
        assert current_version(store.db) == SCHEMA_VERSION
        versions = [r[0] for r in store.db.execute("SELECT version FROM schema_versions")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        assert schema(store.db) == expected_schema
        if start >= 1:
            kept = store.get_webhook(1)
            assert (kept.summary.path, kept.summary.query, kept.body) == ("/old", "a=1", b"{}")
            assert kept.headers == ((b"X-Old", b"yes"),)


@pytest.mark.parametrize("start", range(1, SCHEMA_VERSION))
def test_a_reader_upgrades_an_older_database_nothing_else_has_open(
    tmp_path: Path, start: int
) -> None:
    """As a writer would: every migration after its version, in one transaction; then it
    reads it, and leaves no -wal file behind."""
    old = older_database(tmp_path / "old.db", start)
    with Store(old, readonly=True) as reader:
        kept = reader.get_webhook(1)
        assert (kept.summary.path, kept.summary.query, kept.body) == ("/old", "a=1", b"{}")
    assert schema_version(old) == SCHEMA_VERSION
    with Store(tmp_path / "reference.db") as reference, Store(old) as upgraded:
        assert schema(upgraded.db) == schema(reference.db)
    assert not (tmp_path / "old.db-wal").exists()


OPENERS: dict[str, Callable[[Path], Store]] = {
    "reader": lambda path: Store(path, readonly=True),
    "writer": Store,
    "writer that creates nothing": lambda path: Store(path, create=False),
}
"""How each command opens a database: ``list``, ``show``, the TUI; ``listen`` and ``import``;
``replay``, ``cancel``, ``prune``."""


@pytest.mark.parametrize("opener", OPENERS)
def test_an_older_database_another_connection_has_open_is_left_as_it_was(
    tmp_path: Path, opener: str
) -> None:
    """What has it open can only be an older whrelay (one of this version upgrades it as it
    opens it): neither a reader nor a writer changes its schema or a row under it, and each
    says what to do. Once it has let go, the same store upgrades it."""
    old = older_database(tmp_path / "old.db", 7)
    holder = sqlite3.connect(old, isolation_level=None)  # as an older listen keeps it open
    try:
        assert holder.execute("SELECT count(*) FROM webhooks").fetchone() == (1,)
        before = list(holder.iterdump())
        with pytest.raises(StorageError) as caught:
            OPENERS[opener](old)
        assert caught.value.exit_code == ExitCode.UNAVAILABLE
        assert caught.value.message == (
            f"the database {old} has schema version 7, older than this whrelay's "
            f"{SCHEMA_VERSION}, and another program has it open: an older whrelay (one of "
            "this version would have upgraded it)"
        )
        assert caught.value.hint == (
            "stop it, then run this command again: it upgrades the database"
        )
        assert list(holder.iterdump()) == before
        assert schema_version(old) == 7
        v1_row(holder)  # it goes on writing as it did
    finally:
        holder.close()
    with OPENERS[opener](old) as store:  # once it has let go
        assert [store.get_webhook(n).summary.path for n in (1, 2)] == ["/old", "/old"]
    assert schema_version(old) == SCHEMA_VERSION


def test_a_reader_reads_an_older_database_a_starting_listen_upgraded_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listen of this version that starts between the reader's look at the version and its
    upgrade has upgraded the database, and keeps it open: the reader reads it, not refuses it
    as held by an older whrelay."""
    from whrelay.storage import store as store_module

    old = older_database(tmp_path / "old.db", 10)
    upgrade = store_module.upgrade_older
    listening: list[Store] = []

    def listen_starts_first(path: Path, older: StorageError, lock: WriteLock) -> None:
        monkeypatch.setattr(store_module, "upgrade_older", upgrade)  # listen's is the real one
        listening.append(Store(path))  # upgrades it as it opens, and keeps it open
        upgrade(path, older, lock)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "upgrade_older", listen_starts_first)
    try:
        with Store(old, readonly=True) as reader:
            assert reader.get_webhook(1).summary.path == "/old"
        assert listening
    finally:
        for store in listening:
            store.close()
    assert schema_version(old) == SCHEMA_VERSION


def test_a_reader_told_not_to_upgrade_leaves_an_older_database_as_it_was(
    tmp_path: Path,
) -> None:
    """``upgrade=False`` (shell completion): refused, nothing changed or created."""
    old = older_database(tmp_path / "old.db", 2)
    before = folder_state(tmp_path)
    with pytest.raises(StorageError) as caught:
        Store(old, readonly=True, upgrade=False)
    assert caught.value.message == (
        f"the database {old} has schema version 2, older than this whrelay's {SCHEMA_VERSION}"
    )
    assert caught.value.hint is not None and "whrelay listen" in caught.value.hint
    assert folder_state(tmp_path) == before


def test_the_senders_ids_stored_before_the_rename_are_provider_ids(tmp_path: Path) -> None:
    """Version 7 renames ``webhooks.delivery_id`` (the sender's own id, easily read as one of
    whrelay's deliveries) to ``provider_id``: the ids stored before it are kept, a later
    webhook with the same id is still flagged a duplicate, and the look-up uses the index."""
    db = tmp_path / "before.db"
    raw = sqlite3.connect(db, isolation_level=None)
    try:
        migrate(raw, T0, target=6)
        raw.execute(
            "INSERT INTO webhooks (received_at, method, path, provider, delivery_id, size,"
            " http_version, headers) VALUES (?, 'POST', '/gh', 'github', 'guid-1', 0, '1.1', X'')",
            (T0,),
        )
    finally:
        raw.close()
    github = ((b"X-GitHub-Event", b"push"), (b"X-GitHub-Delivery", b"guid-1"))
    with Store(db) as store:
        assert store.get_webhook(1).summary.provider_id == "guid-1"
        [again] = store.insert_webhooks([json_capture("/gh", headers=github)])
        assert (again.provider_id, again.duplicate_of) == ("guid-1", 1)
        columns = [row[1] for row in store.db.execute("PRAGMA table_info(webhooks)")]
        assert "provider_id" in columns
        assert "delivery_id" not in columns
        plan = store.db.execute(
            "EXPLAIN QUERY PLAN " + DUPLICATE_OF, ("guid-1", "github")
        ).fetchall()
        assert any("webhooks_provider_id" in row[3] for row in plan), plan
        # Whether one is an edited copy: looked up by the copy's id, never a scan of edits.
        assert any("edits USING INTEGER PRIMARY KEY" in row[3] for row in plan), plan
        assert not any(str(row[3]).startswith("SCAN") for row in plan), plan


def test_states_and_triggers_are_enums_stored_as_their_plain_values(tmp_path: Path) -> None:
    import json

    from whrelay.core.models import Attempt, DeliveryState, Trigger
    from whrelay.storage.store import record_attempt

    with Store(tmp_path / "enums.db") as store:
        [webhook] = store.insert_webhooks([json_capture()], [["http://127.0.0.1:3000/"]])
        [queued] = store.deliveries(webhook.id)
        tried = Attempt(webhook.id, queued.id, Trigger.RETRY, queued.target, (), T0, 1, 200)

        def record(db: sqlite3.Connection) -> None:
            record_attempt(
                db, tried, state=DeliveryState.DELIVERED, next_attempt_at=None, now_us=T0
            )

        store.run(record)
        stored = store.db.execute(
            "SELECT d.state, typeof(d.state), a.trigger, typeof(a.trigger)"
            " FROM deliveries d JOIN attempts a ON a.delivery = d.id"
        ).fetchall()
        assert stored == [("delivered", "text", "retry", "text")]
        [delivery] = store.deliveries(webhook.id)
        [attempt] = store.attempts(webhook.id)
    assert delivery.state is DeliveryState.DELIVERED
    assert attempt.trigger is Trigger.RETRY
    printed = json.loads(json.dumps([delivery.to_json(), attempt.to_json()]))
    assert (printed[0]["state"], printed[1]["trigger"]) == ("delivered", "retry")


def test_a_cancelled_delivery_stays_cancelled_unless_an_attempt_in_flight_delivered_it(
    tmp_path: Path,
) -> None:
    """``whrelay cancel`` commits while an attempt of listen's is under way: its record
    leaves the delivery cancelled (no retry scheduled), unless the target took it. The
    filter's statuses each hold for one webhook only."""
    from whrelay.core.models import Attempt, DeliveryState, Trigger
    from whrelay.storage.store import cancel_deliveries, record_attempt

    targets = ["http://127.0.0.1:3000", "http://127.0.0.1:3001"]
    with Store(tmp_path / "cancel.db") as store:
        failed, got, other = store.insert_webhooks(
            [json_capture()] * 3, [targets[:1]] * 2 + [targets]
        )
        done = store.run(lambda db: cancel_deliveries(db, T0, webhook_ids=[failed.id, got.id]))
        assert [(d.webhook_id, d.state) for d in done] == [
            (failed.id, DeliveryState.CANCELLED),
            (got.id, DeliveryState.CANCELLED),
        ]
        for webhook, status, state in (
            (failed, 500, DeliveryState.PENDING),
            (got, 200, DeliveryState.DELIVERED),
        ):
            [delivery] = store.deliveries(webhook.id)
            tried = Attempt(webhook.id, delivery.id, Trigger.RETRY, delivery.target, (), T0, 1,
                            status)  # fmt: skip

            def record(
                db: sqlite3.Connection, a: Attempt = tried, s: DeliveryState = state
            ) -> None:
                record_attempt(db, a, state=s, next_attempt_at=T0, now_us=T0)

            store.run(record)
        [stays] = store.deliveries(failed.id)
        assert (stays.state, stays.next_attempt_at) == (DeliveryState.CANCELLED, None)
        assert store.deliveries(got.id)[0].state is DeliveryState.DELIVERED
        to_one = store.run(lambda db: cancel_deliveries(db, T0, target=targets[1]))
        assert [(d.webhook_id, d.target) for d in to_one] == [(other.id, targets[1])]
        by_status = {
            status: [s.id for s in store.list_webhooks(WebhookFilter(status=status))]
            for status in ("cancelled", "pending", "delivered", "failed")
        }
    assert by_status == {
        "cancelled": [failed.id],
        "pending": [other.id],  # its delivery to 3000 still goes
        "delivered": [got.id],
        "failed": [],
    }


def test_cancel_selects_by_filter_in_its_own_transaction(tmp_path: Path) -> None:
    """A webhook that arrives after ``whrelay cancel`` starts but before its transaction is
    selected with the rest: the filter is read in the transaction that cancels, never
    before it (a selection made earlier would leave such a webhook pending)."""
    from whrelay.core.models import DeliveryState
    from whrelay.storage.store import cancel_deliveries

    db = tmp_path / "cancel.db"
    target = ["http://127.0.0.1:3000"]
    stripe = ((b"Stripe-Signature", b"t=1,v1=ab"),)
    arriving = sqlite3.connect(db, isolation_level=None)
    with Store(db) as store:
        [before, other] = store.insert_webhooks(
            [json_capture("/s", headers=stripe), json_capture("/o")], [target, target]
        )

        def arrive_at_begin(sql: str) -> None:  # another writer commits just before it begins
            if sql == "BEGIN IMMEDIATE" and not arrived:
                arriving.execute("BEGIN IMMEDIATE")
                arrived.append(insert_webhook(arriving, json_capture("/s", headers=stripe), target))
                arriving.execute("COMMIT")

        arrived: list[object] = []
        store.db.set_trace_callback(arrive_at_begin)
        done = store.run(
            lambda c: cancel_deliveries(c, T0, where=WebhookFilter(provider="stripe", limit=0))
        )
        store.db.set_trace_callback(None)
        assert arrived
        cancelled = sorted(d.webhook_id for d in done)
        states = {s.id: store.deliveries(s.id)[0].state for s in store.list_webhooks()}
    arriving.close()
    late = max(states)
    assert cancelled == [before.id, late]
    assert states == {
        before.id: DeliveryState.CANCELLED,
        other.id: DeliveryState.PENDING,
        late: DeliveryState.CANCELLED,
    }


def test_cancel_by_ids_reads_ids_alone_and_cancels_nothing_when_one_is_not_stored(
    tmp_path: Path,
) -> None:
    from whrelay.core.models import DeliveryState
    from whrelay.storage.store import cancel_deliveries

    with Store(tmp_path / "cancel.db") as store:
        [one] = store.insert_webhooks([json_capture(body=b"x" * 100_000)], [["http://t"]])
        made: list[str] = []
        store.db.set_trace_callback(made.append)
        with pytest.raises(NotFoundError) as missing:
            store.run(lambda c: cancel_deliveries(c, T0, webhook_ids=[one.id, 99]))
        store.db.set_trace_callback(None)
        assert store.deliveries(one.id)[0].state is DeliveryState.PENDING
    assert missing.value.message == "no webhook with id 99"
    assert not any("body" in sql for sql in made), made  # never a body read to check an id


def _attempt_row(db: sqlite3.Connection, webhook_id: int, delivery: int | None) -> None:
    db.execute(
        "INSERT INTO attempts (webhook_id, delivery, trigger, url, request_headers, started_at,"
        " duration_us) VALUES (?, ?, 'first', 'http://127.0.0.1:3000/', X'', ?, 1)",
        (webhook_id, delivery, T0),
    )


def _rows(db: sqlite3.Connection, table: str, column: str = "webhook_id") -> list[int | None]:
    return [r[0] for r in db.execute(f"SELECT {column} FROM {table} ORDER BY rowid")]


def test_the_foreign_keys_migration_deletes_what_deleted_webhooks_left_behind(
    tmp_path: Path,
) -> None:
    """Before foreign keys were enforced, deleting a webhook kept its deliveries, attempts and
    verdict: upgrading deletes those rows, and only those."""
    db = tmp_path / "orphans.db"
    raw = sqlite3.connect(db, isolation_level=None)  # foreign keys off, as every version had
    try:
        migrate(raw, T0, target=3)
        raw.execute("BEGIN")
        for _ in range(2):  # a webhook with one delivery, as version 3 stored them
            v1_row(raw)
            raw.execute(
                "INSERT INTO deliveries (webhook_id, target, state, created_at, updated_at)"
                " VALUES (last_insert_rowid(), 'http://127.0.0.1:3000/', 'pending', 1, 1)"
            )
        raw.execute(
            "INSERT INTO verifications (webhook_id, verdict) VALUES (1, 'valid'), (2, 'valid')"
        )
        _attempt_row(raw, 1, 1)
        _attempt_row(raw, 2, 2)
        _attempt_row(raw, 2, None)  # a replay to --to: no delivery
        raw.execute("INSERT INTO deliveries (webhook_id, target, state, created_at, updated_at)"
                    " VALUES (2, 'http://127.0.0.1:4000/', 'failed', 1, 1)")  # fmt: skip
        _attempt_row(raw, 2, 3)
        raw.execute("DELETE FROM webhooks WHERE id = 1")
        raw.execute("DELETE FROM deliveries WHERE id = 3")
        raw.execute("COMMIT")
        assert _rows(raw, "deliveries") == [1, 2]  # what a deleted webhook left behind
    finally:
        raw.close()
    with Store(db) as store:
        assert _rows(store.db, "verifications", "webhook_id") == [2]
        assert _rows(store.db, "deliveries") == [2]
        assert _rows(store.db, "attempts", "delivery") == [2, None]
        assert [d.id for d in store.deliveries(2)] == [2]
        assert len(store.attempts(2)) == 2


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_every_connection_enforces_foreign_keys(tmp_path: Path, readonly: bool) -> None:
    db = tmp_path / "fk.db"
    Store(db).close()
    with Store(db, readonly=readonly) as store:
        assert pragma(store.db, "foreign_keys") == 1
    with Store(":memory:") as memory:
        assert pragma(memory.db, "foreign_keys") == 1


def test_deleting_a_webhook_deletes_its_deliveries_attempts_and_verdict(tmp_path: Path) -> None:
    from whrelay.core.models import Attempt, Trigger, Verdict
    from whrelay.storage.store import insert_attempt

    with Store(tmp_path / "cascade.db") as store:

        def seed(db: sqlite3.Connection) -> list[int]:
            ids = []
            for n in range(2):
                stored, [delivery] = insert_webhook(
                    db,
                    json_capture(f"/{n}"),
                    ["http://127.0.0.1:3000/"],
                    Verdict("valid", "stripe"),
                )
                insert_attempt(db, Attempt(stored.id, delivery.id, Trigger.FIRST, delivery.target,
                                           (), T0, 1, 200))  # fmt: skip
                ids.append(stored.id)
            return ids

        kept, deleted = store.run(seed)
        store.run(lambda db: db.execute("DELETE FROM webhooks WHERE id = ?", (deleted,)))
        for table in ("deliveries", "attempts", "verifications"):
            assert _rows(store.db, table) == [kept], table
        assert store.get_webhook(kept).summary.verdict == "valid"
        assert len(store.attempts(kept)) == 1


def test_an_attempt_for_a_webhook_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "refused.db") as store, pytest.raises(StorageError, match="FOREIGN KEY"):
        store.run(lambda db: _attempt_row(db, 42, None))


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    with Store(tmp_path / "i.db") as store, store.lock:
        assert migrate(store.db, T0) == []
        assert current_version(store.db) == SCHEMA_VERSION


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_newer_schema_is_refused(tmp_path: Path, readonly: bool) -> None:
    db = tmp_path / "future.db"
    Store(db).close()
    raw = sqlite3.connect(db)
    try:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    finally:
        raw.close()
    with pytest.raises(StorageError) as caught:
        Store(db, readonly=readonly)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert str(SCHEMA_VERSION + 1) in caught.value.message
    assert caught.value.hint
    raw = sqlite3.connect(db)
    try:
        assert current_version(raw) == SCHEMA_VERSION + 1  # left untouched
    finally:
        raw.close()


# --- round trips -----------------------------------------------------------------------------

MESSY_HEADERS: RawHeaders = (
    (b"Host", b"127.0.0.1:8642"),
    (b"X-Dup", b"one"),
    (b"x-dup", b"two"),
    (b"X-DUP", b""),
    (b"X-Bytes", b"\xff\xfe\x80 caf\xc3\xa9 \x1b[31m"),
    (b"content-TYPE", b"application/octet-stream"),
    (b"X-Colon", b"a: b: c"),
    (b"X-Spaces", b"  padded  "),
)


@pytest.mark.parametrize(
    "body",
    [None, b"", b"\x00\x01\xff\xfe\x80binary\r\n\r\n", b'{"a": 1}', bytes(range(256)) * 300],
    ids=["none", "empty", "binary", "json", "large"],
)
def test_insert_get_round_trip(tmp_path: Path, body: bytes | None) -> None:
    db = tmp_path / "rt.db"
    sent = json_capture(
        "/hooks/a%20b",
        method="PATCH",
        query="x=1&y=%FF",
        headers=MESSY_HEADERS,
        body=body,
        http_version="1.0",
        remote_addr="::1",
    )
    with Store(db) as writer:
        [stored] = writer.insert_webhooks([sent])
    with Store(db, readonly=True) as reader:
        got = reader.get_webhook(stored.id)
    assert got.summary == stored
    assert got.headers == MESSY_HEADERS
    assert got.body == body
    assert type(got.body) is type(body)  # None stays None, b"" stays b""
    assert (got.http_version, got.remote_addr) == ("1.0", "::1")
    assert (got.summary.method, got.summary.path, got.summary.query) == (
        "PATCH",
        "/hooks/a%20b",
        "x=1&y=%FF",
    )
    assert got.summary.size == len(body or b"")
    assert got.summary.content_type == "application/octet-stream"
    assert got.header("X-DUP") == "one"
    assert got.header("missing") is None


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(((b"Content-Type", b"text/plain; charset=\xff"),), id="content-type"),
        pytest.param(
            ((b"X-GitHub-Event", b"pu\xffsh"), (b"X-GitHub-Delivery", b"d\xfe")), id="github"
        ),
        pytest.param(((b"Stripe-Signature", b"t=1"), (b"webhook-id", b"msg_\x80")), id="delivery"),
    ],
)
def test_non_utf8_bytes_in_identifying_headers_are_stored(
    tmp_path: Path, headers: RawHeaders
) -> None:
    """Headers the summary is computed from may carry any obs-text byte; the webhook is kept."""
    with Store(tmp_path / "bytes.db") as store:
        [stored] = store.insert_webhooks([json_capture(headers=headers, body=b"x")])
        got = store.get_webhook(stored.id)
    assert got.headers == headers
    assert got.body == b"x"


def test_ids_increase_and_are_returned_in_order(tmp_path: Path) -> None:
    with Store(tmp_path / "ids.db") as store:
        first = store.insert_webhooks([json_capture(f"/{i}") for i in range(5)])
        second = store.insert_webhooks([json_capture("/next")])
        ids = [s.id for s in first + second]
        assert ids == sorted(ids)
        assert len(set(ids)) == 6
        assert [store.get_webhook(s.id).summary.path for s in first] == [f"/{i}" for i in range(5)]
        assert store.count_webhooks() == 6


def test_unknown_id_is_not_found(tmp_path: Path) -> None:
    with Store(tmp_path / "nf.db") as store:
        store.insert_webhooks([json_capture()])
        with pytest.raises(NotFoundError) as caught:
            store.get_webhook(999)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "999" in caught.value.message


TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
header_names = st.text(alphabet=TOKEN, min_size=1, max_size=24).map(str.encode)
header_values = st.binary(max_size=48).map(lambda raw: raw.translate(None, b"\r\n\x00"))
header_lists = st.lists(st.tuples(header_names, header_values), max_size=12)


@settings(database=None)
@given(header_lists)
def test_pack_unpack_headers_round_trip(headers: list[tuple[bytes, bytes]]) -> None:
    assert unpack_headers(pack_headers(headers)) == tuple(headers)


@settings(max_examples=40, deadline=None, database=None)
@given(header_lists, st.none() | st.binary(max_size=200))
def test_store_round_trips_any_headers_and_body(
    headers: list[tuple[bytes, bytes]], body: bytes | None
) -> None:
    with Store(":memory:") as store:
        [stored] = store.insert_webhooks([json_capture(headers=tuple(headers), body=body)])
        got = store.get_webhook(stored.id)
    assert got.headers == tuple(headers)
    assert got.body == body


# --- list filters ----------------------------------------------------------------------------

STRIPE_SIG = (b"Stripe-Signature", b"t=1,v1=abc")
JSON_CT = (b"Content-Type", b"application/json")


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Store, list[WebhookSummary]]]:
    """Five webhooks one second apart; ids 1..5 oldest first."""
    with Store(tmp_path / "seeded.db") as store:
        rows = store.insert_webhooks(
            [
                json_capture(
                    "/hooks/stripe",
                    headers=(STRIPE_SIG, JSON_CT),
                    body=b'{"id": "evt_1", "type": "charge.succeeded"}',
                    received_at=T0,
                ),
                json_capture(
                    "/hooks/github",
                    headers=((b"X-GitHub-Event", b"push"), JSON_CT),
                    body=b'{"ref": "main"}',
                    received_at=T0 + SECOND,
                ),
                json_capture(
                    "/health/check",
                    method="GET",
                    headers=(),
                    body=None,
                    received_at=T0 + 2 * SECOND,
                ),
                json_capture(
                    "/hooks/other",
                    method="PUT",
                    headers=((b"Content-Type", b"application/octet-stream"),),
                    body=b"\x00\xffneedle\x80",
                    received_at=T0 + 3 * SECOND,
                ),
                json_capture(
                    "/hooks/stripe",
                    headers=(STRIPE_SIG, JSON_CT),
                    body=b'{"id": "evt_2", "type": "invoice.paid"}',
                    received_at=T0 + 4 * SECOND,
                ),
            ]
        )
        assert [r.id for r in rows] == [1, 2, 3, 4, 5]
        yield store, rows


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param(WebhookFilter(), [5, 4, 3, 2, 1], id="all-newest-first"),
        pytest.param(WebhookFilter(since=T0 + 2 * SECOND), [5, 4, 3], id="since-inclusive"),
        pytest.param(WebhookFilter(since=T0 + 2 * SECOND + 1), [5, 4], id="since-exclusive"),
        pytest.param(WebhookFilter(since=T0 + 10 * SECOND), [], id="since-future"),
        pytest.param(WebhookFilter(path_glob="/hooks/*"), [5, 4, 2, 1], id="glob"),
        pytest.param(WebhookFilter(path_glob="/hooks/stripe"), [5, 1], id="glob-exact"),
        pytest.param(WebhookFilter(path_glob="/HOOKS/*"), [], id="glob-case-sensitive"),
        pytest.param(WebhookFilter(method="post"), [5, 2, 1], id="method-lower"),
        pytest.param(WebhookFilter(method="Put"), [4], id="method-mixed"),
        pytest.param(WebhookFilter(method="GET"), [3], id="method-upper"),
        pytest.param(WebhookFilter(provider="stripe"), [5, 1], id="provider"),
        pytest.param(WebhookFilter(provider="github"), [2], id="provider-github"),
        pytest.param(WebhookFilter(provider="shopify"), [], id="provider-none-match"),
        pytest.param(WebhookFilter(search="github"), [2], id="search-path"),
        pytest.param(WebhookFilter(search="health"), [3], id="search-path-no-body"),
        pytest.param(WebhookFilter(search="evt_2"), [5], id="search-body"),
        pytest.param(WebhookFilter(search="needle"), [4], id="search-binary-body"),
        pytest.param(WebhookFilter(search="EVT_2"), [], id="search-case-sensitive"),
        pytest.param(WebhookFilter(limit=2), [5, 4], id="limit"),
        pytest.param(WebhookFilter(limit=0), [5, 4, 3, 2, 1], id="limit-0-is-all"),
        pytest.param(
            WebhookFilter(provider="stripe", since=T0 + SECOND), [5], id="provider-and-since"
        ),
        pytest.param(
            WebhookFilter(method="POST", path_glob="/hooks/*", search="main"),
            [2],
            id="combined",
        ),
        pytest.param(WebhookFilter(provider="stripe", limit=1), [5], id="provider-limit"),
    ],
)
def test_list_filters(
    seeded: tuple[Store, list[WebhookSummary]], where: WebhookFilter, expected: list[int]
) -> None:
    store, _ = seeded
    assert [row.id for row in store.list_webhooks(where)] == expected


def test_list_returns_full_summaries(seeded: tuple[Store, list[WebhookSummary]]) -> None:
    store, rows = seeded
    assert store.list_webhooks() == rows[::-1]
    first = rows[0]
    assert (first.provider, first.event_type, first.provider_id) == (
        "stripe",
        "charge.succeeded",
        "evt_1",
    )


def test_default_limit_is_50_and_limit_0_lists_all(tmp_path: Path) -> None:
    with Store(tmp_path / "many.db") as store:
        store.insert_webhooks([json_capture(f"/{i}", received_at=T0 + i) for i in range(60)])
        default = store.list_webhooks()
        assert len(default) == 50
        assert default[0].path == "/59"
        assert len(store.list_webhooks(WebhookFilter(limit=0))) == 60


# --- readers and writers ---------------------------------------------------------------------


def test_reader_on_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "not" / "yet" / "there.db"
    with pytest.raises(NoDatabaseError, match="there is no database at"):
        Store(db, readonly=True)
    assert not (tmp_path / "not").exists()


def test_reader_of_a_new_database_sees_it_empty(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    Store(db).close()
    with Store(db, readonly=True) as reader:
        assert reader.list_webhooks() == []
        assert reader.count_webhooks() == 0
        assert current_version(reader.db) == SCHEMA_VERSION
    assert mode(db) == 0o600


def test_reader_refuses_to_write(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    Store(db).close()
    with Store(db, readonly=True) as reader:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.db.execute(
                "INSERT INTO webhooks (received_at, method, path, size, http_version, headers)"
                " VALUES (1, 'POST', '/', 0, '1.1', X'')"
            )
        with pytest.raises(StorageError):
            reader.insert_webhooks([json_capture()])
        assert reader.count_webhooks() == 0


def _foreign(path: Path) -> Path:
    """Another program's SQLite database (rollback journal, as SQLite makes by default)."""
    raw = sqlite3.connect(path)
    try:
        raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        raw.execute("INSERT INTO notes (text) VALUES ('mine')")
        raw.commit()
    finally:
        raw.close()
    return path


def _newer(path: Path) -> Path:
    Store(path).close()
    raw = sqlite3.connect(path)
    try:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    finally:
        raw.close()
    return path


def _not_sqlite(path: Path) -> Path:
    path.write_bytes(b"this is not SQLite\n" * 100)
    return path


def _empty(path: Path) -> Path:
    path.touch()
    return path


def test_a_reader_leaves_the_database_and_its_folder_as_they_were(tmp_path: Path) -> None:
    """SQLite's read-only mode would create the -wal and -shm files of a WAL database no
    writer has open (and leave them): a reader reads it as immutable instead."""
    db = tmp_path / "quiet.db"
    with Store(db) as writer:
        [stored] = writer.insert_webhooks([json_capture(body=b"kept")], [["http://127.0.0.1:9/"]])
    before = folder_state(tmp_path)
    assert sorted(before) == ["quiet.db", lock_path(db).name]
    assert db.read_bytes()[18:20] == b"\x02\x02"  # the header of a database in WAL mode
    with Store(db, readonly=True) as reader:
        assert [w.id for w in reader.list_webhooks()] == [stored.id]
        assert reader.get_webhook(stored.id).body == b"kept"
        assert len(reader.deliveries(stored.id)) == 1
        assert reader.attempts(stored.id) == []
        assert reader.count_webhooks() == 1
        reader.data_version()
        assert folder_state(tmp_path) == before
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_empty, "the database {db} is empty: no whrelay listen has used it yet"),
        (_foreign, "{db} is a SQLite database, but not whrelay's"),
        (_not_sqlite, "cannot open the database {db}: file is not a database"),
        (_newer, "the database {db} has schema version {newer}; this whrelay knows up to {known}"),
    ],
    ids=["empty", "foreign", "not-sqlite", "newer"],
)
def test_a_reader_refuses_a_database_it_cannot_read_and_leaves_it_as_it_was(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    db = make(tmp_path / "odd.db")
    before = folder_state(tmp_path)
    with pytest.raises(StorageError) as caught:
        Store(db, readonly=True)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    expected = message.format(db=db, newer=SCHEMA_VERSION + 1, known=SCHEMA_VERSION)
    assert caught.value.message == expected
    assert folder_state(tmp_path) == before


def test_a_writer_refuses_another_programs_database_and_leaves_it_as_it_was(
    tmp_path: Path,
) -> None:
    db = _foreign(tmp_path / "app.sqlite")
    before = folder_state(tmp_path)
    with pytest.raises(StorageError, match="a SQLite database, but not whrelay's"):
        Store(db)
    after = folder_state(tmp_path)
    after.pop(lock_path(db).name)  # the writer's lock, taken to look
    assert after == before


@pytest.mark.parametrize("make", [None, _empty], ids=["missing", "empty"])
def test_a_writer_told_not_to_create_refuses_a_missing_or_empty_database(
    tmp_path: Path, make: Callable[[Path], Path] | None
) -> None:
    db = tmp_path / "none.db"
    if make is not None:
        make(db)
    with pytest.raises(NoDatabaseError):
        Store(db, create=False)
    assert db.exists() == (make is not None)
    assert db.stat().st_size == 0 if make else True
    with Store(db) as created:  # what listen does with it
        assert current_version(created.db) == SCHEMA_VERSION


def test_a_reader_sees_rows_a_writer_committed_after_it_was_opened_in_this_process(
    tmp_path: Path,
) -> None:
    """Opened as immutable (no writer had it open), it opens the file again when a writer
    changed it in between (and checkpointed on closing), or has it open."""
    db = tmp_path / "later.db"
    Store(db).close()
    with Store(db, readonly=True) as reader:
        assert reader.count_webhooks() == 0
        first = reader.data_version()
        with Store(db) as writer:
            writer.insert_webhooks([json_capture("/a")])
        assert not Path(f"{db}-wal").exists()  # checkpointed into the file and removed
        assert [w.path for w in reader.list_webhooks()] == ["/a"]
        second = reader.data_version()
        assert second != first
        with Store(db) as writer:
            writer.insert_webhooks([json_capture("/b")])
            assert [w.path for w in reader.list_webhooks()] == ["/b", "/a"]  # from the WAL
            assert reader.data_version() != second
            writer.insert_webhooks([json_capture("/c")])
            assert reader.count_webhooks() == 3


def test_a_reader_reading_as_immutable_keeps_writers_out_meanwhile(tmp_path: Path) -> None:
    """Its shared lock on the writers' lock file: a writer's transaction (and checkpoint)
    waits, so the file does not change under an immutable read; readers share it."""
    db = tmp_path / "held.db"
    Store(db).close()
    reader = Store(db, readonly=True)
    other = Store(db, readonly=True)
    try:
        with (
            reader.read_lock,
            other.read_lock,
            pytest.raises(StorageUnavailableError, match="held the write lock"),
        ):
            WriteLock(lock_path(db), timeout=0.05).acquire()
        with (
            WriteLock(lock_path(db), timeout=0.05),
            pytest.raises(StorageUnavailableError, match="held the write lock"),
            ReadLock(lock_path(db), timeout=0.05),
        ):
            pass
    finally:
        reader.close()
        other.close()


def test_a_read_lock_without_a_lock_file_creates_none(tmp_path: Path) -> None:
    with ReadLock(tmp_path / "absent.db-whrelay.lock"):
        pass
    assert list(tmp_path.iterdir()) == []


WRITER_SCRIPT = """
import sys
from whrelay.core.models import Capture
from whrelay.storage import Store

store = Store(sys.argv[1])
print("open", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "quit":
        break
    [row] = store.insert_webhooks([Capture(
        method="POST", path="/from-" + command, query="", headers=((b"X-N", command.encode()),),
        body=command.encode(), http_version="1.1", remote_addr=None, received_at=1,
    )])
    print(row.id, flush=True)
store.close()
print("closed", flush=True)
"""


def _readline(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"child exited: {proc.wait(5)}"
    return line.strip()


@pytest.mark.slow
def test_reader_sees_rows_committed_by_a_writer_in_another_process(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    Store(db).close()
    with Store(db, readonly=True) as reader:  # opened before the writer process starts
        before = reader.data_version()
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert proc.stdin is not None
            assert _readline(proc) == "open"
            seen: list[int] = []
            for name in ("a", "b", "c"):
                proc.stdin.write(name + "\n")
                proc.stdin.flush()
                seen.append(int(_readline(proc)))
                assert proc.poll() is None  # the writer still has the file open
                rows = reader.list_webhooks()
                assert [r.id for r in rows] == seen[::-1]
                assert reader.get_webhook(seen[-1]).body == name.encode()
            assert reader.data_version() != before
            with Store(db, readonly=True) as late_reader:
                assert late_reader.count_webhooks() == 3
            proc.stdin.write("quit\n")
            proc.stdin.flush()
            assert _readline(proc) == "closed"
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert [r.path for r in reader.list_webhooks()] == ["/from-c", "/from-b", "/from-a"]


# --- the cross-process write lock ------------------------------------------------------------

LOCK_SCRIPT = """
import sys
from whrelay.core.errors import StorageUnavailableError
from whrelay.storage.lock import ReadLock, WriteLock

lock = WriteLock(__import__("pathlib").Path(sys.argv[1]), timeout=float(sys.argv[2]))
print("trying", flush=True)
try:
    lock.acquire()
except StorageUnavailableError as error:
    print("unavailable", error, flush=True)
    sys.exit(3)
print("acquired", flush=True)
lock.release()
lock.close()
"""


def _lock_child(path: Path, timeout: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LOCK_SCRIPT, str(path), str(timeout)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_write_lock_makes_another_process_wait_until_released(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "l.db")
    held = WriteLock(path)
    held.acquire()
    proc = _lock_child(path, 60)
    try:
        assert _readline(proc) == "trying"
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        assert not ready, "the second process got the lock while the first held it"
        assert proc.poll() is None
        held.release()
        assert _readline(proc) == "acquired"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        held.close()


@pytest.mark.slow
def test_write_lock_times_out_with_storage_unavailable(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "l.db")
    with WriteLock(path):
        proc = _lock_child(path, 0.2)
        try:
            assert _readline(proc) == "trying"
            line = _readline(proc)
            assert line.startswith("unavailable"), line
            assert proc.wait(30) == 3
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # Released: the same child now gets it.
    proc = _lock_child(path, 30)
    assert proc.communicate(timeout=30)[0].split() == ["trying", "acquired"]


def test_write_lock_times_out_in_process(tmp_path: Path) -> None:
    """Two ``WriteLock`` objects on one file exclude each other (flock per open file)."""
    path = lock_path(tmp_path / "l.db")
    first, second = WriteLock(path), WriteLock(path, timeout=0.1)
    try:
        with first, pytest.raises(StorageUnavailableError):
            second.acquire()
        with second:
            pass  # free again once the first let go
    finally:
        first.close()
        second.close()


def test_write_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(
    tmp_path: Path,
) -> None:
    """The docstring's promise: re-entrant within one thread, so not across threads."""
    lock = WriteLock(lock_path(tmp_path / "l.db"), timeout=0.3)
    outcome: list[str] = []

    def other_thread() -> None:
        try:
            lock.acquire()
        except StorageUnavailableError:
            outcome.append("waited and timed out")
        else:
            outcome.append("acquired while another thread held it")
            lock.release()

    try:
        with lock, lock:  # re-entrant in this thread
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join(30)
        assert outcome == ["waited and timed out"]
    finally:
        lock.close()


def test_store_writes_wait_for_the_lock_and_give_up_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with Store(db) as store:
        store.lock.timeout = 0.2
        holder = WriteLock(lock_path(db))
        try:
            with holder, pytest.raises(StorageUnavailableError):
                store.insert_webhooks([json_capture()])
        finally:
            holder.close()
        [row] = store.insert_webhooks([json_capture("/after")])
        assert store.get_webhook(row.id).summary.path == "/after"
        assert store.count_webhooks() == 1


# --- group commit ----------------------------------------------------------------------------


def _insert(item: Capture, db: sqlite3.Connection) -> WebhookSummary:
    return insert_webhook(db, item)[0]


def test_group_commit_from_many_threads(tmp_path: Path) -> None:
    db = tmp_path / "group.db"
    threads_n, per_thread = 8, 40
    total = threads_n * per_thread
    outcomes: list[Outcome[tuple[int, int]]] = []
    calls: list[int] = []
    guard = threading.Lock()

    def on_done(batch: Sequence[Outcome[tuple[int, int]]]) -> None:
        with guard:
            outcomes.extend(batch)
            calls.append(len(batch))

    store = Store(db)
    writer: GroupCommitWriter[tuple[int, int]] = GroupCommitWriter(store, on_done)
    writer.start()
    # Another holder of the cross-process lock keeps the writer's first commit waiting while
    # every thread submits, so captures must pile up and be committed together.
    blocker = WriteLock(lock_path(db))
    blocker.acquire()
    barrier = threading.Barrier(threads_n)

    def submit_all(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            job = functools.partial(_insert, json_capture(f"/t{t}/{i}", body=f"{t}:{i}".encode()))
            writer.submit(job, (t, i))

    try:
        workers = [threading.Thread(target=submit_all, args=(t,)) for t in range(threads_n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
    finally:
        blocker.release()
        blocker.close()
    writer.close(timeout=60)
    store.close()

    assert sum(calls) == len(outcomes) == total
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes if o.error]
    assert sorted(o.token for o in outcomes) == [
        (t, i) for t in range(threads_n) for i in range(per_thread)
    ]
    ids = {o.token: o.result.id for o in outcomes}
    assert len(set(ids.values())) == total
    assert writer.written == total
    assert 1 <= writer.batches < total
    assert len(calls) < total
    with Store(db, readonly=True) as reader:
        assert reader.count_webhooks() == total
        for (t, i), webhook_id in ids.items():
            got = reader.get_webhook(webhook_id)
            assert (got.summary.path, got.body) == (f"/t{t}/{i}", f"{t}:{i}".encode())


def _fail(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO no_such_table VALUES (1)")


def test_group_commit_a_bad_job_fails_only_itself(tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    results: list[Outcome[str]] = []
    store = Store(db)
    writer: GroupCommitWriter[str] = GroupCommitWriter(store, results.extend)
    blocker = WriteLock(lock_path(db))
    blocker.acquire()
    try:
        writer.start()
        writer.submit(functools.partial(_insert, json_capture("/good-1")), "good-1")
        writer.submit(_fail, "bad")
        writer.submit(functools.partial(_insert, json_capture("/good-2")), "good-2")
    finally:
        blocker.release()
        blocker.close()
    writer.close(timeout=60)
    by_token = {o.token: o for o in results}
    assert set(by_token) == {"good-1", "bad", "good-2"}
    assert by_token["good-1"].error is None
    assert by_token["good-2"].error is None
    assert isinstance(by_token["bad"].error, StorageError)
    assert store.count_webhooks() == 2
    store.close()


def test_an_error_that_hits_every_job_fails_the_batch_at_once(tmp_path: Path) -> None:
    """SQLITE_FULL fails the batch, and the jobs are not then retried one by one (each would
    only meet the same full disk, or wait out the same lock, again)."""
    store = Store(tmp_path / "full.db")
    runs: list[int] = []

    def job(number: int, db: sqlite3.Connection) -> None:
        runs.append(number)
        db.execute(
            "INSERT INTO webhooks (received_at, method, path, size, http_version, headers, body)"
            " VALUES (0, 'POST', '/full', 0, '1.1', X'', randomblob(16384))"
        )

    try:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        outcomes = commit_batch(store, [functools.partial(job, n) for n in range(20)])
    finally:
        store.close()
    errors = [error for _, error in outcomes]
    assert len(errors) == 20
    assert all(isinstance(e, StorageUnavailableError) and e.reason == DISK_FULL for e in errors)
    # The first job met the full disk; no job was then tried again alone.
    assert runs == [0]


# --- the files at the path are the ones open ---------------------------------------------------


def wal_and_shm(db: Path) -> tuple[Path, Path]:
    return db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")


def test_a_write_into_a_deleted_database_is_refused_and_so_is_every_later_one(
    tmp_path: Path,
) -> None:
    db = tmp_path / "gone.db"
    store = Store(db)
    try:
        [first] = store.insert_webhooks([json_capture("/before")])
        db.unlink()
        with pytest.raises(StorageLostError) as lost:
            store.insert_webhooks([json_capture("/after")])
        assert lost.value.reason == "the database file was deleted"
        assert str(db) in lost.value.message
        with pytest.raises(StorageLostError):
            store.insert_webhooks([json_capture("/later")])
        with pytest.raises(StorageLostError):
            store.check_files()
    finally:
        store.close()
    assert first.id == 1
    assert not db.exists(), "nothing created in its place"


def test_a_deleted_wal_is_saved_into_the_database_file(tmp_path: Path) -> None:
    """What was committed only into the log is moved into the database file (which stays),
    so nothing committed is lost when the log is deleted."""
    db = tmp_path / "wal.db"
    wal, _ = wal_and_shm(db)
    store = Store(db)
    try:
        store.insert_webhooks([json_capture(f"/{n}") for n in range(20)])
        assert wal.stat().st_size > 0
        wal.unlink()
        with pytest.raises(StorageLostError) as lost:
            store.check_files()
        assert lost.value.reason == "the database's write-ahead log was deleted"
        assert f"everything committed before was saved into {db}" in lost.value.message
        # Read by another connection that never saw the deleted log: all 20 are in the file.
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as check:
            assert check.execute("SELECT count(*) FROM webhooks").fetchone() == (20,)
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        check.close()
    finally:
        store.close()


def test_a_database_moved_in_place_of_the_open_one_is_not_overwritten(tmp_path: Path) -> None:
    db, other = tmp_path / "w.db", tmp_path / "other.db"
    with Store(other) as theirs:
        theirs.insert_webhooks([json_capture("/theirs")])
    store = Store(db)
    try:
        store.insert_webhooks([json_capture(f"/ours/{n}") for n in range(200)])
        other.replace(db)
        with pytest.raises(StorageLostError) as lost:
            store.insert_webhooks([json_capture("/ours/after")])
        assert lost.value.reason == "the database file was replaced"
    finally:
        store.close()
    # The log at the path held this store's pages; emptied, it no longer overwrites theirs.
    with Store(db, readonly=True) as reader:
        assert [w.path for w in reader.list_webhooks()] == ["/theirs"]
        assert reader.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# --- query plans: list stays fast on a million webhooks --------------------------------------


def _plan(store: Store, where: WebhookFilter) -> list[str]:
    """The EXPLAIN QUERY PLAN of the exact SELECT ``list_webhooks(where)`` runs."""
    traced: list[str] = []
    store.db.set_trace_callback(traced.append)
    try:
        store.list_webhooks(where)
    finally:
        store.db.set_trace_callback(None)
    [sql] = [s for s in traced if s.lstrip().upper().startswith("SELECT")]
    return [str(row[3]) for row in store.db.execute("EXPLAIN QUERY PLAN " + sql)]


@pytest.mark.parametrize(
    ("where", "needs_index"),
    [
        pytest.param(WebhookFilter(), False, id="none"),
        pytest.param(WebhookFilter(limit=0), False, id="none-unlimited"),
        pytest.param(WebhookFilter(since=T0), True, id="since"),
        pytest.param(WebhookFilter(since=T0, limit=0), True, id="since-unlimited"),
        pytest.param(WebhookFilter(provider="stripe"), True, id="provider"),
        pytest.param(WebhookFilter(provider="stripe", limit=0), True, id="provider-unlimited"),
        pytest.param(WebhookFilter(provider="stripe", since=T0), True, id="provider-since"),
    ],
)
def test_list_query_plans_use_an_index_or_rowid_order(
    tmp_path: Path, where: WebhookFilter, needs_index: bool
) -> None:
    """No sort of the whole result, and no full-table scan when a selective filter is given.

    A plain ``list`` may walk the table in rowid order (newest first, stops at the limit);
    ``--since`` and ``--provider`` must be answered from an index, or a million-row database
    is read end to end when few rows match.
    """
    with Store(tmp_path / "plan.db") as store:
        plan = _plan(store, where)
    assert plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
    if needs_index:
        assert not any(step.startswith("SCAN") for step in plan), plan
        assert any(step.startswith("SEARCH") and "INDEX" in step for step in plan), plan
    else:
        assert all(
            step.startswith("SCAN webhooks") or "INDEX" in step or "PRIMARY KEY" in step
            for step in plan
        ), plan


def test_a_write_lock_that_cannot_be_opened_fails_cleanly_and_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet"
    lock = WriteLock(folder / "db-whrelay.lock", timeout=0.5)
    with pytest.raises(StorageUnavailableError, match="cannot open the write lock"):
        lock.acquire()
    folder.mkdir()
    lock.acquire()  # the failed attempt left nothing held in this process
    lock.release()
    lock.close()


def test_delivered_is_final(tmp_path: Path) -> None:
    """An attempt that ends after another process delivered the webhook keeps it delivered."""
    from whrelay.core.models import Attempt, Capture, DeliveryState, Trigger
    from whrelay.storage import Store
    from whrelay.storage.store import record_attempt

    with Store(tmp_path / "hooks.db") as store:
        [webhook] = store.insert_webhooks(
            [Capture("POST", "/p", "", (), b"x", "1.1", None, 1)], [["http://127.0.0.1:9"]]
        )
        [delivery] = store.deliveries(webhook.id)
        for state in (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.PENDING):

            def move(db: sqlite3.Connection, state: DeliveryState = state) -> None:
                tried = Attempt(webhook.id, delivery.id, Trigger.RETRY, delivery.target, (), 2, 1,
                                200 if state is DeliveryState.DELIVERED else 500)  # fmt: skip
                record_attempt(db, tried, state=state, next_attempt_at=5, now_us=2)

            store.run(move)
        [after] = store.deliveries(webhook.id)
    assert (after.state, after.next_attempt_at) == ("delivered", None)
