"""``whrelay/storage/process.py``: the storage process, driven through ``ProcessWriter``."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest

from tests.helpers.captures import capture, stored_webhook
from tests.helpers.memory import memory_kib, random_body, reset_peak
from tests.helpers.storage_process import child_pid, nth_capture
from whrelay.core.errors import StorageError
from whrelay.core.models import Attempt, Capture, DeliveryState, Trigger, Verdict
from whrelay.storage import Store
from whrelay.storage.jobs import InsertWebhook, RecordAttempt
from whrelay.storage.process import OUT_OF_BAND, ProcessWriter


class Label(str):
    """A str subclass: marshal refuses it (it encodes exact built-in types only)."""


# --- large bodies: out of band to the storage process, one copy each, a bounded backlog -------

MiB = 1 << 20


def large_capture(n: int, body: bytes | None) -> Capture:
    headers = ((b"Content-Type", b"application/octet-stream"), (b"X-N", b"%d" % n))
    return capture(f"/b/{n}", headers=headers, body=body, received_at=1_700_000_000 + n)


def stored_blob(db: Path, webhook_id: int) -> tuple[str, int | None]:
    """SQLite's own view of a stored body: its type and length."""
    with Store(db, readonly=True) as store:
        typeof, length = store.db.execute(
            "SELECT typeof(body), length(body) FROM webhooks WHERE id = ?", (webhook_id,)
        ).fetchone()
    return typeof, length


BODY_SIZES = [None, 0, 1, 4096, OUT_OF_BAND - 1, OUT_OF_BAND, OUT_OF_BAND + 1, 3 * MiB + 7]
"""Around the size over which a body travels after its frame rather than inside it."""


@pytest.mark.slow
async def test_jobs_are_committed_by_the_child_and_answered(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "full")
    await writer.start()
    try:
        results = await asyncio.gather(
            *(
                writer.run(InsertWebhook(nth_capture(n), ("http://127.0.0.1:9",), Verdict("valid")))
                for n in range(200)
            )
        )
    finally:
        await writer.close()
    ids = [summary.id for summary, _ in results]
    assert sorted(ids) == list(range(1, 201))
    with Store(db, readonly=True) as store:
        for (summary, deliveries), n in zip(results, range(200), strict=True):
            stored = store.get_webhook(summary.id)
            # The child answers with ids only; what the parent rebuilt is what was stored.
            assert stored.summary == summary
            assert stored.body == nth_capture(n).body
            assert stored.headers == nth_capture(n).headers
            assert stored.summary.verdict == "valid"
            assert [d.id for d in store.deliveries(summary.id)] == [d.id for d in deliveries]
        # Delivery ids 0, 1, 2 repeat: all but the first of each are flagged as duplicates.
        duplicates = [s for s, _ in results if s.duplicate_of is not None]
        assert len(duplicates) == 197


@pytest.mark.slow
async def test_an_attempt_is_recorded_and_comes_back_with_its_id(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "normal")
    await writer.start()
    try:
        _, [delivery] = await writer.run(InsertWebhook(nth_capture(1), ("http://127.0.0.1:9/",)))
        sent = Attempt(
            webhook_id=delivery.webhook_id,
            delivery=delivery.id,
            trigger=Trigger.FIRST,
            url=delivery.target,
            request_headers=((b"Host", b"127.0.0.1:9"),),
            started_at=1_700_000_000_000_000,
            duration_us=1234,
            status=503,
            response_headers=((b"Retry-After", b"1"),),
            response_body=b"\x00busy\xff",
        )
        stored = await writer.run(RecordAttempt(sent, DeliveryState.PENDING, 1_700_000_001_000_000))
    finally:
        await writer.close()
    assert stored.id > 0
    assert stored == dataclasses.replace(sent, id=stored.id)
    with Store(db, readonly=True) as store:
        [row] = store.attempts(delivery.webhook_id)
        [after] = store.deliveries(delivery.webhook_id)
    assert row == stored
    assert (after.state, after.attempts, after.last_status) == ("pending", 1, 503)


@pytest.mark.slow
async def test_the_storage_process_enforces_foreign_keys(tmp_path: Path) -> None:
    """An attempt for a webhook that does not exist is refused by the child's connection,
    which goes on committing the next jobs."""
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "normal")
    await writer.start()
    stray = Attempt(424242, None, Trigger.REPLAY, "http://127.0.0.1:9/", (), 1, 1, 200)
    try:
        with pytest.raises(StorageError, match="FOREIGN KEY"):
            await writer.run(RecordAttempt(stray, DeliveryState.DELIVERED))
        stored, _ = await writer.run(InsertWebhook(nth_capture(1)))
    finally:
        await writer.close()
    with Store(db, readonly=True) as store:
        assert store.get_webhook(stored.id).body == nth_capture(1).body
        assert store.attempts(424242) == []


@pytest.mark.slow
async def test_a_job_that_cannot_be_sent_fails_alone(tmp_path: Path) -> None:
    """Sent in the same frame as good jobs, an unencodable one fails with a StorageError and
    the others are committed (nobody is left waiting)."""
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "normal")
    await writer.start()
    odd = Capture("POST", Label("/odd"), "", (), b"", "1.1", None, 1)
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                writer.run(InsertWebhook(nth_capture(1))),
                writer.run(InsertWebhook(odd)),
                writer.run(InsertWebhook(nth_capture(2))),
                return_exceptions=True,
            ),
            timeout=30,
        )
    finally:
        await writer.close()
    assert isinstance(outcomes[1], StorageError)
    assert "cannot send" in outcomes[1].message
    assert not isinstance(outcomes[0], BaseException)
    assert not isinstance(outcomes[2], BaseException)
    with Store(db, readonly=True) as store:
        assert store.count_webhooks() == 2


@pytest.mark.slow
async def test_a_failing_job_fails_alone_with_a_storage_error(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "normal")
    await writer.start()
    bad = InsertWebhook(nth_capture(1), (), Verdict("valid"))
    # A capture whose method is None violates NOT NULL: that one job fails, the rest commit.
    broken = InsertWebhook(
        Capture(None, "/x", "", (), b"", "1.1", None, 1),  # type: ignore[arg-type]
    )
    try:
        outcomes = await asyncio.gather(
            writer.run(bad), writer.run(broken), writer.run(bad), return_exceptions=True
        )
    finally:
        await writer.close()
    assert isinstance(outcomes[1], StorageError)
    assert not isinstance(outcomes[0], BaseException)
    assert not isinstance(outcomes[2], BaseException)
    with Store(db, readonly=True) as store:
        assert store.count_webhooks() == 2


@pytest.mark.slow
async def test_bodies_in_and_out_of_band_are_stored_as_the_exact_bytes(tmp_path: Path) -> None:
    """Sent at once (so that frames mix bodies inside them with bodies after them), each body
    is stored as a BLOB of its exact bytes, no body as NULL, and the records the parent
    rebuilds from the child's answer tell the size stored."""
    db = tmp_path / "p.db"
    Store(db).close()
    captures = [
        large_capture(n, None if size is None else random_body(size, n))
        for n, size in enumerate(BODY_SIZES * 2)
    ]
    writer = ProcessWriter(db, "full")
    await writer.start()
    try:
        results = await asyncio.gather(*(writer.run(InsertWebhook(c)) for c in captures))
    finally:
        await writer.close()
    assert len({summary.id for summary, _ in results}) == len(captures)
    for sent, (summary, _) in zip(captures, results, strict=True):
        stored = stored_webhook(db, summary.id)
        assert stored.summary == summary
        assert summary.size == len(sent.body or b"")
        assert stored.headers == sent.headers
        if sent.body is None:
            assert stored.body is None
            assert stored_blob(db, summary.id) == ("null", None)
        else:
            assert type(stored.body) is bytes
            assert stored.body == sent.body, f"{summary.path}: {len(sent.body)} bytes differ"
            assert stored_blob(db, summary.id) == ("blob", len(sent.body))


@pytest.mark.slow
async def test_the_storage_process_holds_a_large_body_once(tmp_path: Path) -> None:
    """The child reads a large body into one buffer and SQLite writes it from there into the
    database's pages: its memory grows by about the body, not by several copies of it
    (the frame buffer, slices of it, the unmarshalled bytes, SQLite's bound value and
    record, as before)."""
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "full")
    await writer.start()
    body = random_body(32 * MiB, 1)
    try:
        await writer.run(InsertWebhook(large_capture(0, b"warm-up")))
        child = child_pid(os.getpid())
        idle = reset_peak(child)
        summary, _ = await writer.run(InsertWebhook(large_capture(1, body)))
        grown = memory_kib(child, "VmHWM") - idle
    finally:
        await writer.close()
    assert stored_webhook(db, summary.id).body == body
    assert grown * 1024 < 1.5 * len(body), f"grew {grown / 1024:.0f} MiB for a 32 MiB body"
