"""``whrelay prune`` and ``whrelay stats`` (``whrelay.storage.maintenance``) on real database
files, also while a ``listen`` writes the same one."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import (
    ROOT,
    Flood,
    assert_stored_exactly,
    request_bytes,
    run_whrelay,
    send_raw,
    start_listener,
    until,
    wait_until,
    whrelay_cmd,
)
from tests.targetserver import TargetServer
from whrelay.core.models import Attempt, Capture, DeliveryState, Trigger, now_micros
from whrelay.receiver.retention import prune_interval
from whrelay.storage import Store, WebhookFilter
from whrelay.storage.store import insert_attempt, update_delivery

DAY = 24 * 3600 * 1_000_000


def seed(db: Path, ages_days: list[float], states: list[str]) -> list[int]:
    """A webhook per age (days before now), each with a delivery in the state given and one
    attempt; their ids."""
    now = now_micros()
    captures = [
        Capture("POST", f"/h/{n}", "", ((b"Stripe-Signature", b"t=1,v1=a"),), b"x" * 2000, "1.1",
                None, now - int(age * DAY))
        for n, age in enumerate(ages_days)
    ]  # fmt: skip
    with Store(db) as store:
        stored = store.insert_webhooks(captures, [["http://127.0.0.1:9"]] * len(captures))

        def settle(con: sqlite3.Connection) -> None:
            for summary, state in zip(stored, states, strict=True):
                [delivery] = [
                    d
                    for d in con.execute(
                        "SELECT id FROM deliveries WHERE webhook_id = ?", (summary.id,)
                    )
                ]
                attempt = Attempt(
                    summary.id, delivery[0], Trigger.FIRST, "http://t/", (), 1, 1, 500
                )
                insert_attempt(con, attempt)
                if state != "pending":
                    update_delivery(con, delivery[0], state=DeliveryState(state),
                                    next_attempt_at=None, attempt=attempt, now_us=now)  # fmt: skip

        store.run(settle)
    return [s.id for s in stored]


def remaining(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        return {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("webhooks", "deliveries", "attempts", "verifications")
        }


def test_prune_older_than_deletes_deliveries_and_attempts_too_and_keeps_pending(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hooks.db"
    ids = seed(db, [10, 9, 8, 1], ["delivered", "failed", "pending", "delivered"])
    dry = run_whrelay("prune", "--older-than", "7d", "--dry-run", "--json", "--db", str(db))
    assert json.loads(dry.stdout) == {
        "deleted": 0, "would_delete": 2, "kept_pending": 1, "freed_bytes": 0, "dry_run": True,
    }  # fmt: skip
    assert remaining(db)["webhooks"] == 4
    done = run_whrelay("prune", "--older-than", "7d", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert b"Deleted 2 webhook(s)" in done.stdout
    assert b"Kept 1 with a delivery still pending" in done.stdout
    with Store(db, readonly=True) as store:
        assert [w.id for w in store.list_webhooks()] == [ids[3], ids[2]]
    assert remaining(db) == {"webhooks": 2, "deliveries": 2, "attempts": 2, "verifications": 0}
    run_whrelay("prune", "--older-than", "7d", "--include-pending", "--db", str(db))
    assert remaining(db)["webhooks"] == 1


def test_prune_keep_and_status_delivered(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    ids = seed(db, [5, 4, 3, 2, 1], ["delivered", "failed", "delivered", "delivered", "delivered"])
    run_whrelay("prune", "--keep", "2", "--status", "delivered", "--db", str(db))
    with Store(db, readonly=True) as store:
        assert sorted(w.id for w in store.list_webhooks()) == [ids[1], ids[3], ids[4]]
    refused = run_whrelay("prune", "--status", "failed", "--keep", "1", "--db", str(db))
    assert refused.returncode == 2
    assert refused.stderr.startswith(b"whrelay: error: prune --status takes 'delivered' only")
    nothing = run_whrelay("prune", "--db", str(db))
    assert nothing.returncode == 2
    assert b"--older-than" in nothing.stderr


def test_prune_gives_the_space_back_to_the_disk(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    seed(db, [30.0 - n / 100 for n in range(600)], ["delivered"] * 600)
    before = db.stat().st_size
    done = run_whrelay("prune", "--keep", "10", "--json", "--db", str(db))
    freed = json.loads(done.stdout)["freed_bytes"]
    assert freed > before // 2
    assert db.stat().st_size < before // 2


def test_vacuum_converts_a_database_made_without_incremental_vacuum(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    seed(db, [3.0 - n / 1000 for n in range(300)], ["delivered"] * 300)
    with sqlite3.connect(db, isolation_level=None) as con:  # as an older whrelay made it
        con.execute("PRAGMA auto_vacuum = NONE")
        con.execute("VACUUM")
    run_whrelay("prune", "--keep", "5", "--vacuum", "--db", str(db))
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert con.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert remaining(db)["webhooks"] == 5


@pytest.mark.slow
async def test_prune_while_listen_writes_the_same_database(tmp_path: Path) -> None:
    """A large prune goes in batches: the listen on the same database acknowledges every
    webhook sent meanwhile, and stores each one."""
    db = tmp_path / "hooks.db"
    seed(db, [40.0 - n / 10_000 for n in range(6000)], ["delivered"] * 6000)
    listener = start_listener(db)
    try:
        pruning = subprocess.Popen(
            whrelay_cmd("prune", "--older-than", "7d", "--db", str(db)),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        acked: list[int] = []
        async with aiohttp.ClientSession() as session:
            while pruning.poll() is None or len(acked) < 20:
                async with session.post(listener.url + "during", data=b"{}") as response:
                    assert response.status == 200, await response.text()
                    acked.append(int(response.headers["X-Whrelay-Id"]))
                await asyncio.sleep(0.01)
        out, err = pruning.communicate(timeout=60)
        assert pruning.returncode == 0, err
        assert b"Deleted 6,000 webhook(s)" in out
    finally:
        listener.stop()
    with Store(db, readonly=True) as store:
        assert sorted(w.id for w in store.list_webhooks(WebhookFilter(limit=0))) == sorted(acked)


def test_stats_counts_what_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    seed(db, [2, 1], ["delivered", "pending"])
    with Store(db) as store:
        store.insert_webhooks([Capture("GET", "/x", "", (), None, "1.1", None, now_micros())])
    found = json.loads(run_whrelay("stats", "--json", "--db", str(db)).stdout)
    assert found["webhooks"] == 3
    assert found["by_provider"] == {"stripe": 2, "-": 1}
    assert found["by_delivery_state"] == {"delivered": 1, "pending": 1}
    assert found["by_verdict"] == {"unverified": 3}
    assert found["database_bytes"] > 0
    text = run_whrelay("stats", "--db", str(db))
    assert text.returncode == 0
    assert b"By provider" in text.stdout and b"stripe" in text.stdout


# --- listen --retain: pruning while listening -------------------------------------------------


@pytest.mark.parametrize(
    ("retain", "interval"),
    [(7 * 86400, 60), (600, 60), (300, 30), (10, 1), (2, 1), (1, 1)],
)
def test_retain_prunes_every_tenth_of_its_period_between_a_second_and_a_minute(
    retain: float, interval: float
) -> None:
    assert prune_interval(retain) == interval


def old_left(db: Path, up_to: int) -> int:
    """How many of the webhooks with ids up to ``up_to`` are still stored."""
    with Store(db, readonly=True) as store:
        return int(store.query_all("SELECT count(*) FROM webhooks WHERE id <= ?", [up_to])[0][0])


@pytest.mark.slow
def test_listen_retain_prunes_at_start_and_keeps_what_is_pending(tmp_path: Path) -> None:
    """``listen --retain 7d`` prunes what is older as it starts; an old webhook with a
    delivery still pending stays, as does a recent one."""
    db = tmp_path / "hooks.db"
    old = 1200
    ids = seed(db, [10.0] * old + [10.0, 1.0], ["delivered"] * old + ["pending", "delivered"])
    listener = start_listener(db, "--retain", "7d")
    try:
        [pruned] = listener.wait_for_events("pruned", 1)
        assert pruned["deleted"] == old
    finally:
        assert listener.stop() == 130
    with Store(db, readonly=True) as store:
        assert {w.id for w in store.list_webhooks(WebhookFilter(limit=0))} == set(ids[-2:])
    assert [e["event"] for e in listener.events].count("pruned") == 1


@pytest.mark.slow
async def test_listen_retain_prunes_under_load_and_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    """Old webhooks that appear while senders flood ``listen --retain`` go at its next pass,
    in batches beside the storage process: every webhook acknowledged before, during and
    after is stored exactly. (The flood's own webhooks wait for a target that is down, so
    they stay pending, which retention never deletes, however short.)"""
    db = tmp_path / "hooks.db"
    target = TargetServer().start()
    target.down()
    listener = start_listener(db, "--retain", "2s", "-f", target.url)
    flood = Flood(listener.url, clients=16)
    running = asyncio.create_task(flood.run())
    try:
        await flood.wait_acked(100, timeout=120)
        old = 3000
        long_ago = now_micros() - 10 * DAY
        captures = [
            Capture("POST", f"/old/{n}", "", (), b"x" * 2000, "1.1", None, long_ago + n)
            for n in range(old)
        ]
        with Store(db) as store:
            old_ids = [s.id for s in store.insert_webhooks(captures)]
        await until(lambda: old_left_of(db, old_ids) == 0, "the old webhooks to be pruned", 120)
        await flood.wait_acked(len(flood.acked) + 100, timeout=120)
    finally:
        flood.stop()
        await running
        assert listener.stop() == 130
        target.close()
    assert_stored_exactly(db, flood.acked)
    with Store(db, readonly=True) as store:
        kept = {w.id for w in store.list_webhooks(WebhookFilter(limit=0))}
    assert kept == set(flood.acked)
    kinds = [e["event"] for e in listener.events]
    pruned = [e for e in listener.events if e["event"] == "pruned"]
    assert sum(int(str(e["deleted"])) for e in pruned) == old
    first, last = kinds.index("pruned"), len(kinds) - 1 - kinds[::-1].index("pruned")
    assert "webhook" in kinds[:first] and "webhook" in kinds[last:]


def old_left_of(db: Path, ids: list[int]) -> int:
    """How many of ``ids`` are still stored."""
    with Store(db, readonly=True) as store:
        marks = ",".join("?" * len(ids))
        rows = store.query_all(f"SELECT count(*) FROM webhooks WHERE id IN ({marks})", ids)
        return int(rows[0][0])


@pytest.mark.slow
def test_listen_retain_prunes_periodically_what_ages_while_it_runs(tmp_path: Path) -> None:
    """A webhook that arrives after the first pass goes at a later one."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db, "--retain", "2s")
    try:
        webhook_id = asyncio.run(
            send_raw(listener.url, request_bytes("POST", "/aging", [("Host", "x")], b""))
        )
        wait_until(lambda: old_left(db, webhook_id) == 0, "the webhook to age out", 60)
        [pruned] = listener.wait_for_events("pruned", 1)
        assert pruned["deleted"] == 1
    finally:
        assert listener.stop() == 130


def test_retain_is_checked_before_anything_is_opened(tmp_path: Path) -> None:
    for value, message in (("soon", b"not a duration: 'soon'"), ("0", b"--retain must be at")):
        result = run_whrelay("listen", "--retain", value, "--db", str(tmp_path / "h.db"))
        assert result.returncode == 2
        assert message in result.stderr
        assert not (tmp_path / "h.db").exists()
