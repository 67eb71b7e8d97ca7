"""kill -9 under load loses nothing that was acknowledged, and leaves a sound database.

A ``whrelay listen`` subprocess takes concurrent POSTs until it is SIGKILLed mid-stream. Every
request it answered 200 must then be in the SQLite file byte for byte; the file must pass
``PRAGMA integrity_check``; and a new ``listen`` on the same file must come up and carry on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from tests.helpers.captures import stored_webhook
from tests.helpers.flood import Flood, assert_stored_exactly
from tests.helpers.processes import start_listener
from whrelay.core.models import header_value
from whrelay.storage import Store, WebhookFilter

ACKED_BEFORE_KILL = 1000


def read_only(db: Path) -> sqlite3.Connection:
    """A fresh connection that cannot write (and so cannot repair anything behind our back)."""
    return sqlite3.connect(f"file:{quote(str(db.resolve()))}?mode=ro", uri=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "durability", [(), ("--durability", "normal")], ids=["default-full", "normal"]
)
async def test_sigkill_under_load_loses_nothing_acknowledged(
    tmp_path: Path, durability: tuple[str, ...]
) -> None:
    db = tmp_path / "hooks.db"
    running = start_listener(db, *durability)
    flood = Flood(running.url, clients=32)
    flooding = asyncio.create_task(flood.run())
    try:
        await flood.wait_acked(ACKED_BEFORE_KILL)
        os.kill(running.proc.pid, signal.SIGKILL)
        code = await asyncio.to_thread(running.proc.wait, 30)
    finally:
        flood.stop()
        await flooding
        running.stop()
    assert code == -signal.SIGKILL
    assert len(flood.acked) >= ACKED_BEFORE_KILL
    assert set(flood.statuses) == {200}

    with read_only(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = check.execute("SELECT id, headers, body FROM webhooks").fetchall()
    check.close()
    assert_stored_exactly(db, flood.acked)

    # Nothing stored that was not sent: every row is one of the requests, intact.
    with Store(db, readonly=True) as store:
        summaries = store.list_webhooks(WebhookFilter(limit=0))
        assert len(summaries) == len(rows) >= len(flood.acked)
        for summary in summaries:
            webhook = store.get_webhook(summary.id)
            seq = header_value(webhook.headers, "X-Seq")
            assert seq is not None
            assert webhook.body == flood.sent[int(seq)].body
    last_id = max(summary.id for summary in summaries)

    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for sidecar in (db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-whrelay.lock")):
        if sidecar.exists():
            assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600, sidecar

    again = start_listener(db, *durability)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(again.url + "after-restart", data=b"again") as response,
        ):
            assert response.status == 200
            new_id = int(response.headers["X-Whrelay-Id"])
    finally:
        assert again.stop(signal.SIGTERM) == 0
    assert new_id > last_id
    assert new_id > max(flood.acked)
    assert stored_webhook(db, new_id).body == b"again"
    assert_stored_exactly(db, flood.acked)
    with read_only(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    check.close()
