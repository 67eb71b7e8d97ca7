"""The storage process behind ``listen``: jobs in, committed results out; it survives its
own death (replaced, 503s meanwhile, nothing acknowledged lost) and never outlives listen."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Flood, assert_stored_exactly, start_listener
from whrelay.errors import StorageError
from whrelay.models import Attempt, Capture, Verdict
from whrelay.storage import Store
from whrelay.storage.jobs import InsertWebhook, RecordAttempt
from whrelay.storage.process import ProcessWriter


def capture(n: int) -> Capture:
    return Capture(
        method="POST",
        path=f"/p/{n}",
        query="a=1",
        headers=(
            (b"X-GitHub-Event", b"push"),
            (b"X-GitHub-Delivery", b"d-%d" % (n % 3)),
            (b"X-Bin", b"\xff\x00"),
        ),
        body=b"\x00\xff%d" % n,
        http_version="1.1",
        remote_addr="127.0.0.1",
        received_at=1_700_000_000_000_000 + n,
    )


async def test_jobs_are_committed_by_the_child_and_answered(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "full")
    await writer.start()
    try:
        results = await asyncio.gather(
            *(
                writer.run(InsertWebhook(capture(n), ("http://127.0.0.1:9",), Verdict("valid")))
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
            assert stored.body == capture(n).body
            assert stored.headers == capture(n).headers
            assert stored.summary.verdict == "valid"
            assert [d.id for d in store.deliveries(summary.id)] == [d.id for d in deliveries]
        # Delivery ids 0, 1, 2 repeat: all but the first of each are flagged as duplicates.
        duplicates = [s for s, _ in results if s.duplicate_of is not None]
        assert len(duplicates) == 197


async def test_an_attempt_is_recorded_and_comes_back_with_its_id(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "normal")
    await writer.start()
    try:
        _, [delivery] = await writer.run(InsertWebhook(capture(1), ("http://127.0.0.1:9/",)))
        sent = Attempt(
            webhook_id=delivery.webhook_id,
            delivery=delivery.id,
            trigger="first",
            url=delivery.target,
            request_headers=((b"Host", b"127.0.0.1:9"),),
            started_at=1_700_000_000_000_000,
            duration_us=1234,
            status=503,
            response_headers=((b"Retry-After", b"1"),),
            response_body=b"\x00busy\xff",
        )
        stored = await writer.run(RecordAttempt(sent, "pending", 1_700_000_001_000_000))
    finally:
        await writer.close()
    assert stored.id > 0
    assert stored == dataclasses.replace(sent, id=stored.id)
    with Store(db, readonly=True) as store:
        [row] = store.attempts(delivery.webhook_id)
        [after] = store.deliveries(delivery.webhook_id)
    assert row == stored
    assert (after.state, after.attempts, after.last_status) == ("pending", 1, 503)


async def test_the_storage_process_enforces_foreign_keys(tmp_path: Path) -> None:
    """An attempt for a webhook that does not exist is refused by the child's connection,
    which goes on committing the next jobs."""
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "normal")
    await writer.start()
    stray = Attempt(424242, None, "replay", "http://127.0.0.1:9/", (), 1, 1, 200)
    try:
        with pytest.raises(StorageError, match="FOREIGN KEY"):
            await writer.run(RecordAttempt(stray, "delivered"))
        stored, _ = await writer.run(InsertWebhook(capture(1)))
    finally:
        await writer.close()
    with Store(db, readonly=True) as store:
        assert store.get_webhook(stored.id).body == capture(1).body
        assert store.attempts(424242) == []


class Label(str):
    """A str subclass: marshal refuses it (it encodes exact built-in types only)."""


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
                writer.run(InsertWebhook(capture(1))),
                writer.run(InsertWebhook(odd)),
                writer.run(InsertWebhook(capture(2))),
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


async def test_a_failing_job_fails_alone_with_a_storage_error(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    Store(db).close()
    writer = ProcessWriter(db, "normal")
    await writer.start()
    bad = InsertWebhook(capture(1), (), Verdict("valid"))
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


def child_pid(parent: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["pgrep", "-P", str(parent), "-f", "whrelay.storage.process"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.05)
    raise AssertionError("no storage process found")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


async def test_a_killed_storage_process_is_replaced_and_nothing_acknowledged_is_lost(
    tmp_path: Path,
) -> None:
    listener = start_listener(tmp_path / "hooks.db")
    try:
        first_child = child_pid(listener.proc.pid)
        flood = Flood(listener.url, clients=16)
        running = asyncio.create_task(flood.run())
        await flood.wait_acked(200)
        os.kill(first_child, signal.SIGKILL)
        before = len(flood.acked)
        await flood.wait_acked(before + 300, timeout=60)
        flood.stop()
        await running
        second_child = child_pid(listener.proc.pid)
        assert second_child != first_child
        assert set(flood.statuses) <= {200, 503}, flood.statuses
    finally:
        code = listener.stop()
    assert code == 130
    assert any("storage process exited unexpectedly" in line for line in listener.stderr_lines)
    assert_stored_exactly(listener.db, flood.acked)


def test_the_storage_process_does_not_outlive_a_killed_listen(tmp_path: Path) -> None:
    listener = start_listener(tmp_path / "hooks.db")
    child = child_pid(listener.proc.pid)
    listener.proc.kill()
    listener.proc.wait(10)
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_storage_process_exits_with_listen(tmp_path: Path, sig: int) -> None:
    listener = start_listener(tmp_path / "hooks.db")
    child = child_pid(listener.proc.pid)
    listener.stop(sig)
    assert not alive(child)
