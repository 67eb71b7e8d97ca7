"""``whrelay prune``: what it deletes, what it keeps, the space it gives back."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.maintenance import seed
from tests.helpers.processes import ROOT, run_whrelay, start_listener, whrelay_cmd
from whrelay.storage import Store, WebhookFilter

DAY = 24 * 3600 * 1_000_000


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
