"""``whrelay/receiver/app.py``: the receiver in process."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

from tests.helpers.captures import stored_count, stored_webhook
from tests.helpers.receiving import post_many
from whrelay.core.config import ListenSettings
from whrelay.core.events import ListenEvent, RequestRefused, WebhookReceived
from whrelay.receiver.app import make_receiver
from whrelay.storage import Store

# --- the database cannot be written ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def in_process_receiver(
    settings: ListenSettings, store: Store, events: list[ListenEvent]
) -> AsyncIterator[str]:
    """A receiver served on 127.0.0.1, a free port, as ``serve`` runs it; yields its URL."""
    receiver = make_receiver(settings, store, events.append)
    async with receiver.running():
        http = receiver.http_server()
        try:
            await http.start("127.0.0.1", 0)
            yield f"http://127.0.0.1:{http.port}/"
        finally:
            await http.stop(settings.shutdown_timeout)


async def test_full_database_gets_503_then_recovers(tmp_path: Path) -> None:
    """SQLITE_FULL (max_page_count reached): 503, never 2xx; once there is room, 200 again."""
    db = tmp_path / "hooks.db"
    store = Store(db)
    events: list[ListenEvent] = []
    bodies = [b"%d:" % i + random.Random(i).randbytes(16 * 1024) for i in range(45)]
    try:
        async with in_process_receiver(ListenSettings(db_path=db, port=0), store, events) as url:
            before = await post_many(url, bodies[:5])
            assert [status for status, _ in before] == [200] * 5

            pages = store.db.execute("PRAGMA page_count").fetchone()[0]
            store.db.execute(f"PRAGMA max_page_count = {pages}")
            failed = await post_many(url, bodies[5:25])
            assert [status for status, _ in failed] == [503] * 20
            assert all(webhook_id is None for _, webhook_id in failed)

            store.db.execute("PRAGMA max_page_count = 1073741823")
            after = await post_many(url, bodies[25:])
            assert [status for status, _ in after] == [200] * 20
    finally:
        store.close()

    acked = {
        webhook_id: body
        for (_, webhook_id), body in zip(before + after, bodies[:5] + bodies[25:], strict=True)
        if webhook_id is not None
    }
    assert stored_count(db) == 25
    for webhook_id, body in acked.items():
        assert stored_webhook(db, webhook_id).body == body
    statuses = [e.status for e in events if isinstance(e, RequestRefused)]
    assert statuses == [503] * 20
    assert sum(isinstance(e, WebhookReceived) for e in events) == 25
