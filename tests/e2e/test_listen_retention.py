"""``whrelay listen --retain``: pruning while listening, nothing pending or acknowledged lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers.flood import Flood, assert_stored_exactly
from tests.helpers.maintenance import seed
from tests.helpers.processes import run_whrelay, start_listener
from tests.helpers.rawhttp import request_bytes, send_raw
from tests.helpers.targetserver import TargetServer
from tests.helpers.wait import until, wait_until
from whrelay.core.models import Capture, now_micros
from whrelay.storage import Store, WebhookFilter

DAY = 24 * 3600 * 1_000_000


def old_left(db: Path, up_to: int) -> int:
    """How many of the webhooks with ids up to ``up_to`` are still stored."""
    with Store(db, readonly=True) as store:
        return int(store.query_all("SELECT count(*) FROM webhooks WHERE id <= ?", [up_to])[0][0])


def old_left_of(db: Path, ids: list[int]) -> int:
    """How many of ``ids`` are still stored."""
    with Store(db, readonly=True) as store:
        marks = ",".join("?" * len(ids))
        rows = store.query_all(f"SELECT count(*) FROM webhooks WHERE id IN ({marks})", ids)
        return int(rows[0][0])


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
