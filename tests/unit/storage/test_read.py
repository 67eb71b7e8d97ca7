"""The read API (``whrelay.storage.read``): one order, keyset pages both ways, counts, arrivals,
changed deliveries, and a webhook with what came of each attempt; every query on an index."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from tests.helpers.captures import capture
from tests.helpers.processes import run_whrelay
from whrelay.core.models import (
    Attempt,
    Capture,
    Delivery,
    DeliveryState,
    Trigger,
    WebhookSummary,
)
from whrelay.storage import Store, WebhookFilter
from whrelay.storage.read import (
    Outcome,
    Position,
    arrivals,
    changed_deliveries,
    changes_from,
    count,
    deliveries_of,
    first_originals,
    newest_id,
    outcomes,
    page,
    pending_by_target,
    scan,
    skip,
    webhook_view,
)
from whrelay.storage.store import cancel_deliveries, insert_attempt, record_attempt

STRIPE = ((b"Stripe-Signature", b"t=1,v1=ab"), (b"Content-Type", b"application/json"))
GITHUB = ((b"X-GitHub-Event", b"push"), (b"X-GitHub-Delivery", b"d"))


def arrived(
    received_at: int, path: str = "/p", headers: tuple[tuple[bytes, bytes], ...] = ()
) -> Capture:
    """A small JSON webhook that arrived at ``received_at``."""
    return capture(path, headers=headers, body=b'{"n":1}', received_at=received_at)


@pytest.fixture
def seeded(tmp_path: Path) -> Store:
    """300 webhooks, many sharing a microsecond, committed out of arrival order, from two
    providers, with deliveries in every state."""
    rng = random.Random(7)
    captures = [
        arrived(1_000_000 + rng.randrange(60), f"/p/{i % 5}", STRIPE if i % 3 else GITHUB)
        for i in range(300)
    ]
    store = Store(tmp_path / "seeded.db")
    store.insert_webhooks(captures, [["http://127.0.0.1:9"]] * len(captures))
    return store


def expected_order(store: Store, where: WebhookFilter) -> list[int]:
    rows = store.db.execute("SELECT id, received_at, provider, path FROM webhooks").fetchall()
    keep = [r for r in rows if where.provider in (None, r[2]) and where.path_glob in (None, r[3])]
    return [r[0] for r in sorted(keep, key=lambda r: (r[1], r[0]), reverse=True)]


def ids(rows: list[WebhookSummary]) -> list[int]:
    return [r.id for r in rows]


@pytest.mark.parametrize(
    "where",
    [
        WebhookFilter(limit=0),
        WebhookFilter(provider="stripe", limit=0),
        WebhookFilter(path_glob="/p/3", limit=0),
    ],
    ids=["all", "provider", "path"],
)
def test_pages_walk_the_history_both_ways_in_one_order(seeded: Store, where: WebhookFilter) -> None:
    want = expected_order(seeded, where)
    assert ids(page(seeded, where)) == want
    down: list[WebhookSummary] = []
    start = None
    while chunk := page(seeded, where, start=start, limit=7):
        down += chunk
        start = Position.of(chunk[-1])
    assert ids(down) == want
    up: list[WebhookSummary] = []
    start = None
    while chunk := page(seeded, where, start=start, direction="newer", limit=7):
        up = chunk + up
        start = Position.of(chunk[0])
    assert ids(up) == want
    assert count(seeded, where) == len(want)


@pytest.mark.slow
def test_list_orders_the_same_with_and_without_since(tmp_path: Path) -> None:
    """A slow body commits after a faster one that arrived later: ``list`` and ``list --since``
    both show the later arrival first."""
    db = tmp_path / "hooks.db"
    with Store(db) as store:
        store.insert_webhooks([arrived(2_000_000_000_000_000, "/fast")])
        store.insert_webhooks([arrived(1_999_999_999_000_000, "/slow")])  # arrived first
    plain = run_whrelay("list", "--json", "--db", str(db))
    since = run_whrelay("list", "--json", "--since", "2033-05-18T00:00", "--db", str(db))
    orders = [[json.loads(line)["path"] for line in r.stdout.splitlines()] for r in (plain, since)]
    assert orders == [["/fast", "/slow"], ["/fast", "/slow"]]


def test_count_follows_every_filter(seeded: Store) -> None:
    for where in (
        WebhookFilter(limit=0),
        WebhookFilter(provider="github", limit=0),
        WebhookFilter(since=1_000_030, limit=0),
        WebhookFilter(status="pending", limit=0),
        WebhookFilter(verdict="unverified", limit=0),
        WebhookFilter(search="/p/2", limit=0),
    ):
        assert count(seeded, where) == len(page(seeded, where)), where


def test_arrivals_are_what_was_committed_after_an_id(seeded: Store) -> None:
    newest = newest_id(seeded)
    assert ids(arrivals(seeded, newest - 5)) == list(range(newest - 4, newest + 1))
    assert arrivals(seeded, newest) == []
    [later] = seeded.insert_webhooks([arrived(5)])
    assert ids(arrivals(seeded, newest)) == [later.id]


def test_changed_deliveries_are_those_an_attempt_or_a_cancellation_moved_on(
    seeded: Store,
) -> None:
    """A follower's look: the deliveries an attempt moved on after the last look (listen's
    attempt, a replay's), the ones cancelled since, and nothing twice once seen."""
    [first, second, third] = seeded.deliveries(1) + seeded.deliveries(2) + seeded.deliveries(3)
    since = changes_from(seeded)
    assert changed_deliveries(seeded, since) == ([], since)

    failed = Attempt(2, second.id, Trigger.FIRST, second.target, (), 9_000_000_001, 1, 500)
    seeded.run(
        lambda db: record_attempt(
            db, failed, state=DeliveryState.FAILED, next_attempt_at=None, now_us=9_000_000_001
        )
    )
    moved, since = changed_deliveries(seeded, since)
    assert [(d.id, d.state) for d in moved] == [(second.id, DeliveryState.FAILED)]
    assert changed_deliveries(seeded, since) == ([], since)

    seeded.run(lambda db: cancel_deliveries(db, 9_000_000_002, webhook_ids=[3]))
    replayed = Attempt(1, first.id, Trigger.REPLAY, first.target, (), 9_000_000_003, 1, 200)
    seeded.run(
        lambda db: record_attempt(
            db,
            replayed,
            state=DeliveryState.DELIVERED,
            next_attempt_at=None,
            now_us=9_000_000_003,
            counted=False,
        )
    )
    moved, since = changed_deliveries(seeded, since)
    assert [(d.id, d.state) for d in moved] == [
        (first.id, DeliveryState.DELIVERED),
        (third.id, DeliveryState.CANCELLED),
    ]
    assert changed_deliveries(seeded, since) == ([], since)


def test_a_follower_starts_after_what_is_committed_not_at_a_clock(seeded: Store) -> None:
    """The start point is read from the database: a cancellation committed before it is not
    reported; one committed after it is, whatever moment its process's clock gave it."""
    [first] = seeded.deliveries(1)
    [second] = seeded.deliveries(2)
    seeded.run(lambda db: cancel_deliveries(db, 9_000_000_000, webhook_ids=[1]))
    since = changes_from(seeded)
    assert changed_deliveries(seeded, since)[0] == []
    seeded.run(lambda db: cancel_deliveries(db, 9_000_000_000, webhook_ids=[2]))
    moved, _ = changed_deliveries(seeded, since)
    assert [d.id for d in moved] == [second.id]
    assert first.id != second.id


def test_changed_deliveries_come_a_bounded_number_of_attempts_at_a_time(seeded: Store) -> None:
    since = changes_from(seeded)
    delivered = seeded.deliveries(1) + seeded.deliveries(2) + seeded.deliveries(3)

    def deliver(db: sqlite3.Connection) -> None:
        for d in delivered:
            tried = Attempt(d.webhook_id, d.id, Trigger.FIRST, d.target, (), 9_000_000_001, 1, 200)
            record_attempt(db, tried, state=DeliveryState.DELIVERED, next_attempt_at=None, now_us=1)

    seeded.run(deliver)
    looks = []
    while True:
        moved, since = changed_deliveries(seeded, since, limit=2)
        if not moved:
            break
        looks.append([d.id for d in moved])
    assert looks == [[delivered[0].id, delivered[1].id], [delivered[2].id]]


def test_changed_deliveries_come_a_bounded_number_of_cancellations_at_a_time(
    seeded: Store,
) -> None:
    """One cancel of more deliveries than a look takes (every one at the same microsecond):
    the looks that follow bring the rest, each once, then nothing."""
    since = changes_from(seeded)
    cancelled = seeded.run(lambda db: cancel_deliveries(db, 9_000_000_001))
    assert len(cancelled) == 300
    seen: list[int] = []
    for _ in range(10):
        moved, since = changed_deliveries(seeded, since, limit=100)
        if not moved:
            break
        seen += [d.id for d in moved]
    assert seen == [d.id for d in cancelled]


def test_skip_finds_the_nth_webhook_from_either_end_or_a_position(seeded: Store) -> None:
    want = expected_order(seeded, WebhookFilter(limit=0))
    every = page(seeded, limit=0)
    assert [skip(seeded, None, n) for n in (1, 7, 300)] == [
        Position.of(every[n - 1]) for n in (1, 7, 300)
    ]
    assert skip(seeded, None, 1, "newer") == Position.of(every[-1])
    assert skip(seeded, None, 10, "newer") == Position.of(every[-10])
    start = Position.of(every[100])
    assert skip(seeded, start, 5) == Position.of(every[105])
    assert skip(seeded, start, 5, "newer") == Position.of(every[95])
    assert skip(seeded, None, 301) is None
    assert skip(seeded, start, 200) is None
    assert [p.id for p in (skip(seeded, None, n) for n in range(1, 301)) if p] == want


def test_a_scan_looks_at_a_bounded_step_and_says_where_it_stands(seeded: Store) -> None:
    """Stepping through the whole history finds exactly what one unbounded page finds, in
    the same order, however many webhooks share a microsecond at a step's edge."""
    for where in (
        WebhookFilter(provider="github", limit=0),
        WebhookFilter(search="/p/3", limit=0),
        WebhookFilter(status="pending", limit=0),
        WebhookFilter(verdict="unverified", limit=0),
    ):
        for within in (1, 7, 64):
            found: list[WebhookSummary] = []
            start: Position | None = None
            steps = 0
            while True:
                rows, start = scan(seeded, where, start, within)
                steps += 1
                found += rows
                if start is None:
                    break
            assert ids(found) == ids(page(seeded, where)), (where, within)
            assert steps >= 300 // within, (where, within)


def test_a_scan_step_reads_no_more_than_it_is_given(seeded: Store) -> None:
    every = page(seeded, limit=0)
    rows, start = scan(seeded, WebhookFilter(path_glob="/p/*", limit=0), None, 10)
    assert ids(rows) == ids(every[:10])
    assert start == Position.of(every[9])
    rows, start = scan(seeded, WebhookFilter(path_glob="/nowhere", limit=0), start, 10)
    assert rows == []
    assert start == Position.of(every[19])


def test_deliveries_of_a_page_and_pending_by_target(tmp_path: Path) -> None:
    with Store(tmp_path / "hooks.db") as store:
        a, b, c = store.insert_webhooks(
            [arrived(1), arrived(2), arrived(3)],
            [["http://127.0.0.1:1", "http://127.0.0.1:2"], ["http://127.0.0.1:2"], []],
        )
        assert pending_by_target(store) == {"http://127.0.0.1:1": 1, "http://127.0.0.1:2": 2}
        found = deliveries_of(store, [a.id, b.id, c.id])
        assert [d.target for d in found[a.id]] == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        assert [d.target for d in found[b.id]] == ["http://127.0.0.1:2"]
        assert found[c.id] == []
        first = found[a.id][0]
        tried = Attempt(a.id, first.id, Trigger.FIRST, first.target, (), 9, 1, 200)
        store.run(
            lambda db: record_attempt(
                db, tried, state=DeliveryState.DELIVERED, next_attempt_at=None, now_us=9
            )
        )
        assert pending_by_target(store) == {"http://127.0.0.1:2": 2}
        many = deliveries_of(store, list(range(1, 1200)))  # past the bound on parameters
        assert len(many) == 1199
        assert [d.id for d in many[a.id]] == [d.id for d in found[a.id]]


# --- what came of each attempt -------------------------------------------------------------------


def attempt(
    delivery: int | None, trigger: str, status: int | None, error: str | None = None
) -> Attempt:
    return Attempt(1, delivery, Trigger(trigger), "http://t/", (), 1, 1, status, error=error)


def delivery(id: int, state: str) -> Delivery:
    return Delivery(id, 1, "http://t", DeliveryState(state), 0, None, 1, 1)


@pytest.mark.parametrize(
    ("state", "attempts", "expected"),
    [
        ("delivered", [(1, "first", 500), (1, "retry", 200)], ["retried", "delivered"]),
        ("pending", [(1, "first", 500), (1, "retry", None)], ["retried", "retry pending"]),
        ("failed", [(1, "first", 400)], ["failed, not retried"]),
        (
            "failed",
            [(1, "first", 500), (1, "retry", 503)],
            ["retried", "failed: retry window over"],
        ),
        ("delivered", [(1, "first", 500), (1, "replay", 200)], ["then replayed", "delivered"]),
        ("failed", [(1, "first", 400), (1, "replay", 400)], ["failed, not retried", "failed"]),
        ("failed", [(None, "replay", 500), (1, "proxy", 502)], ["failed", "failed"]),
    ],
)
def test_each_attempt_is_told_what_came_of_it(
    state: str, attempts: list[tuple[int | None, str, int | None]], expected: list[str]
) -> None:
    views = outcomes([delivery(1, state)], [attempt(*a) for a in attempts])
    assert [v.outcome.value for v in views] == expected


@pytest.mark.slow
def test_show_json_carries_each_attempts_outcome_and_number(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with Store(db) as store:
        [webhook] = store.insert_webhooks([arrived(10)], [["http://t"]])
        [queued] = store.deliveries(webhook.id)
        tries = [attempt(queued.id, "first", 500), attempt(queued.id, "retry", 502)]
        store.run(lambda db: [insert_attempt(db, a) for a in tries])
        view = webhook_view(store, webhook.id)
    assert [(a.number, a.outcome) for a in view.attempts] == [
        (1, Outcome.RETRIED),
        (2, Outcome.RETRY_PENDING),
    ]
    shown = run_whrelay("show", str(webhook.id), "--json", "--db", str(db))
    record = json.loads(shown.stdout)
    assert [(a["number"], a["outcome"]) for a in record["attempts"]] == [
        (1, "retried"),
        (2, "retry pending"),
    ]


# --- edited copies: where each comes from ------------------------------------------------------


def test_first_originals_follow_each_chain_in_one_query_by_primary_key(tmp_path: Path) -> None:
    """A copy of a copy goes back to the webhook received; a chain that ends at a pruned
    webhook, and a webhook that is no copy, are left out. One query for the lot, each step
    a look-up of the edits table by its primary key."""
    with Store(tmp_path / "copies.db") as store:
        ids = [s.id for s in store.insert_webhooks([arrived(1_000_000 + n) for n in range(6)])]
        received, copy, copy_of_copy, orphan, copy_of_orphan, plain = ids
        links = [(copy, received), (copy_of_copy, copy), (orphan, None), (copy_of_orphan, orphan)]
        store.run(
            lambda db: db.executemany(
                "INSERT INTO edits (webhook_id, original_id, edited_at) VALUES (?, ?, 0)", links
            )
        )
        made: list[str] = []
        store.db.set_trace_callback(made.append)
        found = first_originals(store, ids)
        store.db.set_trace_callback(None)
        [sql] = made
        plan = [str(row[3]) for row in store.db.execute("EXPLAIN QUERY PLAN " + sql)]
    assert found == {copy: received, copy_of_copy: received}
    assert plain not in found and orphan not in found and copy_of_orphan not in found
    tables = [step for step in plan if step.startswith(("SCAN", "SEARCH")) and "chain" not in step]
    assert tables and all("edits USING INTEGER PRIMARY KEY" in step for step in tables), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


# --- every query on an index ---------------------------------------------------------------------


def test_every_read_walks_an_index(seeded: Store) -> None:
    """Each query the read API makes, on a seeded database: no table scan, no sort of the
    matching rows (a page stops reading once full)."""
    made: list[str] = []
    seeded.db.set_trace_callback(made.append)
    start = Position(1_000_030, 150)
    for where in (
        WebhookFilter(),
        WebhookFilter(since=1_000_010),
        WebhookFilter(provider="stripe"),
        WebhookFilter(path_glob="/p/1"),
        WebhookFilter(method="POST"),
        WebhookFilter(status="failed"),
        WebhookFilter(verdict="valid"),
        WebhookFilter(verdict="unverified"),
        WebhookFilter(search="needle"),
    ):
        page(seeded, where)
        page(seeded, where, start=start)
        page(seeded, where, start=start, direction="newer")
        count(seeded, where)
    for where in (WebhookFilter(provider="stripe"), WebhookFilter(search="needle")):
        scan(seeded, where, start, 50)
    skip(seeded, start, 20)
    skip(seeded, None, 20, "newer")
    arrivals(seeded, 10)
    newest_id(seeded)
    changed_deliveries(seeded, changes_from(seeded))
    webhook_view(seeded, 7)
    deliveries_of(seeded, [1, 2, 3])
    pending_by_target(seeded)
    seeded.db.set_trace_callback(None)
    assert len(made) > 40
    # Counting the webhooks whose body holds a text reads every body: nothing else can.
    made = [sql for sql in made if not (sql.startswith("SELECT count(*)") and "instr(body" in sql)]
    for sql in made:
        plan = [row[3] for row in seeded.db.execute("EXPLAIN QUERY PLAN " + sql)]
        one_webhooks = "WHERE webhook_id = " in sql  # a handful of rows: sorting them is free
        for step in plan:
            assert "TEMP B-TREE" not in step or one_webhooks, (sql, plan)
            if step.startswith("SCAN"):
                assert "USING" in step, (sql, plan)
