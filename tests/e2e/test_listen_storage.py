"""``whrelay listen`` and its storage process: a lost, moved, locked or read-only database, a
killed or stalled storage process, large bodies; nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.captures import stored_webhook
from tests.helpers.flood import Flood, assert_stored_exactly
from tests.helpers.memory import memory_kib, random_body, reset_peak
from tests.helpers.processes import ROOT, Listener, run_in_terminal, start_listener, whrelay_cmd
from tests.helpers.storage_process import child_pid, nth_capture
from tests.helpers.targetserver import target_server
from whrelay import __version__
from whrelay.core.paths import lock_path
from whrelay.storage import Store, WebhookFilter
from whrelay.storage.lock import WriteLock
from whrelay.storage.process import OUT_OF_BAND


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


# --- the files under listen's feet, and stalls ------------------------------------------------

CLIENT_TIMEOUT = 30.0
"""How long these tests' senders wait for an answer: far past ``COMMIT_DEADLINE`` (a loaded
machine is slow), far below what a stalled storage made them wait before (40 s and more; for
ever when it was stopped)."""


@dataclass
class Answer:
    status: int
    retry_after: str | None
    body: bytes
    webhook_id: int | None


async def post(url: str, path: str, body: bytes = b"x") -> Answer:
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url.rstrip("/") + path, data=body) as response,
    ):
        webhook_id = response.headers.get("X-Whrelay-Id")
        return Answer(
            response.status,
            response.headers.get("Retry-After"),
            await response.read(),
            None if webhook_id is None else int(webhook_id),
        )


async def post_until_stored(url: str, path: str, body: bytes = b"x", within: float = 30) -> Answer:
    """POST (as a sender that retries) until the answer is 200."""
    deadline = time.monotonic() + within
    while True:
        answer = await post(url, path, body)
        if answer.status == 200 or time.monotonic() > deadline:
            assert answer.status == 200, answer
            return answer
        await asyncio.sleep(0.1)


async def health(url: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + "_whrelay/health") as response,
    ):
        return response.status, await response.json()


async def until_health(
    url: str, wanted: Callable[[dict[str, object]], bool], within: float = 30
) -> dict[str, object]:
    """Poll ``/_whrelay/health`` until ``wanted`` holds; its answer then."""
    deadline = time.monotonic() + within
    while True:
        status, answer = await health(url)
        if wanted(answer):
            assert status == (200 if answer["status"] == "ok" else 503)
            return answer
        assert time.monotonic() < deadline, f"health is still {answer}"
        await asyncio.sleep(0.05)


def degraded(reason: str) -> Callable[[dict[str, object]], bool]:
    expected = {"status": "degraded", "reason": reason, "version": __version__}
    return lambda answer: answer == expected


def ok(answer: dict[str, object]) -> bool:
    return answer == {"status": "ok", "version": __version__}


def sidecar(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def event_names(listener: Listener) -> list[object]:
    return [e["event"] for e in listener.events if str(e["event"]).startswith("storage")]


class ReadOnly:
    """Makes a file read-only for whrelay for real: ``chmod`` (or, as root, whom permissions
    do not stop, the immutable attribute, ``chattr +i``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = os.geteuid() == 0

    def on(self) -> None:
        if not self.root:
            self.path.chmod(0o400)
            return
        if shutil.which("chattr") is None:
            pytest.skip("running as root, which file permissions do not stop, without chattr")
        done = subprocess.run(["chattr", "+i", str(self.path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(
                "running as root, which file permissions do not stop, and 'chattr +i' fails "
                f"here: {done.stderr.decode(errors='replace').strip()}"
            )

    def off(self) -> None:
        if not self.root:
            self.path.chmod(0o600)
        else:
            subprocess.run(["chattr", "-i", str(self.path)], capture_output=True, check=False)


# --- large bodies: out of band to the storage process, one copy each, a bounded backlog -------

MiB = 1 << 20


def pipe_held(pid: int) -> tuple[int, int]:
    """Bytes waiting in the pipe that is ``pid``'s stdin, and how many it can hold."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        held = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        return held, fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(fd)


async def until_pipe_full(pid: int, within: float = 30) -> None:
    """Wait until listen has filled the pipe before the stopped storage process ``pid`` with
    the start of a body larger than the pipe: the rest of it waits in listen. (Nothing else
    is that large: while unanswered, listen's question to the storage process is one frame
    of a few bytes. A full pipe may hold somewhat less than its size: the kernel fills it
    page by page, and a small frame written before takes a page of its own.)"""
    deadline = time.monotonic() + within
    while True:
        held, size = pipe_held(pid)
        if held > size // 2:
            return
        assert time.monotonic() < deadline, f"{held} of {size} bytes in the pipe"
        await asyncio.sleep(0.02)


def stored_paths(db: Path) -> list[str]:
    with Store(db, readonly=True) as store:
        return [w.path for w in store.list_webhooks()]


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


async def test_a_deleted_database_is_noticed_idle_and_answered_503_from_then_on(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    try:
        assert [(await post(listener.url, f"/{n}")).status for n in range(3)] == [200] * 3
        db.unlink()
        # Nothing is sent: the storage process is asked how it is twice a second.
        await until_health(listener.url, degraded("the database file was deleted"))
        answers = [await post(listener.url, f"/after/{n}") for n in range(3)]
    finally:
        code = listener.stop()
    assert code == 130
    for answer in answers:
        assert (answer.status, answer.retry_after) == (503, "5")
        assert answer.body == b"not stored: the database file was deleted\n"  # no path
    [lost] = [e for e in listener.events if e["event"] == "storage_lost"]
    assert lost["reason"] == "the database file was deleted"
    assert lost["detail"] == f"the database file {db} was deleted"
    assert event_names(listener)[-1] == "storage_lost"
    said = [line for line in listener.stderr_lines if "storage lost" in line]
    assert len(said) == 1, listener.stderr_lines
    assert "503 until whrelay listen is restarted" in said[0]
    assert not db.exists(), "nothing was created in its place"


async def test_a_deleted_wal_loses_nothing_acknowledged_even_after_kill_9(tmp_path: Path) -> None:
    """Webhooks acknowledged before the log was deleted survive ``kill -9`` (they are saved
    into the database file); the next one, sent after the delete, is not acknowledged."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    try:
        before = await asyncio.gather(*(post(listener.url, f"/before/{n}") for n in range(20)))
        assert [answer.status for answer in before] == [200] * 20
        sidecar(db, "-wal").unlink()
        after = await post(listener.url, "/after")
        listener.wait_for_events("storage_lost", 1)
        child = child_pid(listener.proc.pid)
        os.kill(child, signal.SIGKILL)
        listener.proc.kill()
        listener.proc.wait(30)
    finally:
        listener.stop()
    assert (after.status, after.retry_after) == (503, "5")
    assert after.body == b"not stored: the database's write-ahead log was deleted\n"
    acked = {answer.webhook_id: n for n, answer in enumerate(before)}
    with Store(db, readonly=True) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for webhook_id, n in acked.items():
            assert webhook_id is not None
            assert store.get_webhook(webhook_id).summary.path == f"/before/{n}"
    again = start_listener(db)
    try:
        next_one = await post(again.url, "/next")
    finally:
        again.stop()
    assert next_one.status == 200
    assert next_one.webhook_id is not None
    assert next_one.webhook_id > max(webhook_id for webhook_id in acked if webhook_id)


async def test_in_proxy_mode_a_lost_database_sends_nothing_on(tmp_path: Path) -> None:
    """Once the database is known to be lost, the target does not get a webhook that cannot
    be recorded (its sender, answered 503, sends it again). One sent in the instant before
    that is known is sent on while it is committed, as proxy mode does, and answered 503."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        listener = start_listener(db, "--mode", "proxy", "-f", str(target.port))
        try:
            assert (await post(listener.url, "/before")).status == 200
            db.unlink()
            after = await post(listener.url, "/after")
            await until_health(listener.url, degraded("the database file was deleted"))
            later = await post(listener.url, "/later")
        finally:
            listener.stop()
        sent_on = [r.path_qs for r in target.requests]
    assert sent_on[0] == "/before"
    assert "/later" not in sent_on
    assert [(a.status, a.retry_after) for a in (after, later)] == [(503, "5")] * 2


async def test_a_database_moved_over_the_open_one_is_left_intact(tmp_path: Path) -> None:
    db, other = tmp_path / "hooks.db", tmp_path / "other.db"
    with Store(other) as theirs:
        theirs.insert_webhooks([nth_capture(1)])
    listener = start_listener(db)
    try:
        ours = [await post(listener.url, f"/ours/{n}", b"%d" % n * 512) for n in range(30)]
        assert [answer.status for answer in ours] == [200] * 30
        other.replace(db)
        after = await post(listener.url, "/after")
        answer = await until_health(listener.url, degraded("the database file was replaced"))
    finally:
        code = listener.stop()
    assert code == 130
    assert (after.status, answer["reason"]) == (503, "the database file was replaced")
    with Store(db, readonly=True) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert [w.path for w in store.list_webhooks()] == ["/p/1"]
    again = start_listener(db)
    try:
        assert (await post(again.url, "/next")).webhook_id == 2
    finally:
        again.stop()


async def test_a_storage_process_started_again_refuses_a_database_put_in_place(
    tmp_path: Path,
) -> None:
    """While the storage process is replaced (after it died), the database is replaced too:
    the new one is not the database this listen started on, and nothing goes into it.
    (What the killed process left in the log at the path is another matter: a database
    moved without its log, with nobody left to notice.)"""
    db, other = tmp_path / "hooks.db", tmp_path / "other.db"
    Store(other).close()
    listener = start_listener(db)
    try:
        assert (await post(listener.url, "/before")).status == 200
        os.kill(child_pid(listener.proc.pid), signal.SIGKILL)
        other.replace(db)  # well within the half second before the restart
        await until_health(listener.url, degraded("the database file was replaced"))
        after = await post(listener.url, "/after")
    finally:
        listener.stop()
    assert after.status == 503
    with Store(db, readonly=True) as store:
        assert "/after" not in [w.path for w in store.list_webhooks()]


@pytest.mark.slow
async def test_a_lock_held_elsewhere_answers_every_sender_503_in_bounded_time(
    tmp_path: Path,
) -> None:
    """Every sender waits ``COMMIT_DEADLINE`` at the most (not 10 s per webhook of a batch
    retried one by one); health says why; once the lock is free, webhooks are stored."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    holder = WriteLock(lock_path(db))
    try:
        assert (await post(listener.url, "/before")).status == 200
        holder.acquire()
        try:
            answers = await asyncio.gather(*(post(listener.url, f"/locked/{n}") for n in range(16)))
            await until_health(listener.url, degraded("the database is locked by another process"))
        finally:
            holder.release()
        await post_until_stored(listener.url, "/after")
        await until_health(listener.url, ok)
    finally:
        holder.close()
        listener.stop()
    assert [(a.status, a.retry_after) for a in answers] == [(503, "5")] * 16
    assert {a.body for a in answers} == {b"not stored: not committed within 8 s\n"}
    assert event_names(listener)[0] == "storage_degraded"
    assert event_names(listener)[-1] == "storage_ok"


@pytest.mark.slow
async def test_a_stopped_storage_process_answers_503_in_bounded_time_then_resumes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    try:
        assert (await post(listener.url, "/before")).status == 200
        child = child_pid(listener.proc.pid)
        os.kill(child, signal.SIGSTOP)
        try:
            stalled = await post(listener.url, "/while-stopped")
            await until_health(listener.url, degraded("the storage process is not answering"))
        finally:
            os.kill(child, signal.SIGCONT)
        await until_health(listener.url, ok)
        after = await post_until_stored(listener.url, "/after")
    finally:
        listener.stop()
    assert (stalled.status, stalled.retry_after) == (503, "5")
    assert stalled.body == b"not stored: not committed within 8 s\n"
    assert event_names(listener)[-2:] == ["storage_degraded", "storage_ok"]
    # Committed once the process went on, perhaps, but never reported stored to anyone.
    paths = [e["path"] for e in listener.events if e["event"] == "webhook"]
    assert paths == ["/before", "/after"]
    assert after.webhook_id is not None


async def test_writes_resume_once_a_read_only_database_is_writable_again(tmp_path: Path) -> None:
    """The storage process restarted while the file was read-only opens it read-only; it
    reopens it once the file is writable again, and health says how things are meanwhile."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    read_only = ReadOnly(db)
    try:
        assert (await post(listener.url, "/before")).status == 200
        read_only.on()
        try:
            os.kill(child_pid(listener.proc.pid), signal.SIGKILL)
            await until_health(listener.url, degraded("the database is read-only"))
            refused = await post(listener.url, "/while-read-only")
        finally:
            read_only.off()
        after = await post_until_stored(listener.url, "/after")
        await until_health(listener.url, ok)
    finally:
        read_only.off()
        listener.stop()
    assert (refused.status, refused.body) == (503, b"not stored: the database is read-only\n")
    assert after.webhook_id is not None
    assert stored_webhook(db, after.webhook_id).summary.path == "/after"


async def test_listen_holds_a_large_body_about_twice_at_most(tmp_path: Path) -> None:
    """In ``listen`` a large body is the bytes read (joined once) and nothing more on its way
    to the storage process: no marshalled copy, no framed copy, no copy in a pipe buffer."""
    listener = start_listener(tmp_path / "hooks.db")
    body = random_body(24 * MiB, 2)
    try:
        assert (await post(listener.url, "/warm-up")).status == 200
        idle = reset_peak(listener.proc.pid)
        answer = await post(listener.url, "/large", body)
        grown = memory_kib(listener.proc.pid, "VmHWM") - idle
    finally:
        listener.stop()
    assert answer.status == 200 and answer.webhook_id is not None
    assert stored_webhook(listener.db, answer.webhook_id).body == body
    assert grown * 1024 < 2.5 * len(body), f"grew {grown / 1024:.0f} MiB for a 24 MiB body"


async def test_many_large_bodies_at_once_are_each_stored_byte_exact(tmp_path: Path) -> None:
    listener = start_listener(tmp_path / "hooks.db")
    rng = random.Random(3)
    sizes = [rng.randint(OUT_OF_BAND + 1, 3 * MiB) for _ in range(16)] + [10, OUT_OF_BAND] * 4
    bodies = {f"/many/{n}": random_body(size, n) for n, size in enumerate(sizes)}
    try:
        answers = await asyncio.gather(
            *(post(listener.url, path, body) for path, body in bodies.items())
        )
    finally:
        listener.stop()
    assert [answer.status for answer in answers] == [200] * len(bodies)
    for (path, body), answer in zip(bodies.items(), answers, strict=True):
        assert answer.webhook_id is not None
        stored = stored_webhook(listener.db, answer.webhook_id)
        assert (stored.summary.path, stored.body) == (path, body)


async def test_a_storage_process_killed_in_the_middle_of_a_body_is_replaced_cleanly(
    tmp_path: Path,
) -> None:
    """Killed with part of a large body in its pipe: the sender gets 503, the new storage
    process starts on a pipe of its own (no half frame to read), and large and small bodies
    are stored byte-exact again; the cut one is not stored at all."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    cut_body, next_body = random_body(4 * MiB, 4), random_body(2 * MiB, 5)
    try:
        assert (await post(listener.url, "/before")).status == 200
        child = child_pid(listener.proc.pid)
        os.kill(child, signal.SIGSTOP)
        sending = asyncio.create_task(post(listener.url, "/cut", cut_body))
        await until_pipe_full(child)
        os.kill(child, signal.SIGKILL)
        cut = await sending
        large = await post_until_stored(listener.url, "/large-after", next_body)
        small = await post(listener.url, "/small-after", b"small")
        assert child_pid(listener.proc.pid) != child
    finally:
        code = listener.stop()
    assert code == 130
    assert (cut.status, cut.retry_after) == (503, "5")
    assert small.status == 200
    assert large.webhook_id is not None and small.webhook_id is not None
    assert stored_webhook(db, large.webhook_id).body == next_body
    assert stored_webhook(db, small.webhook_id).body == b"small"
    assert "/cut" not in stored_paths(db)
    with Store(db, readonly=True) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.slow
async def test_webhooks_refused_while_the_stalled_storage_process_has_a_backlog(
    tmp_path: Path,
) -> None:
    """A large body answered 503 (its commit deadline passed) while the stopped storage
    process had taken only the start of it still waits to be written: further webhooks that
    would take what waits over the bound (the in-flight body budget) are refused at once
    with 503 and Retry-After rather than queued behind it, and none is acknowledged later."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db, "--max-body", "1MiB", "--body-budget", "1MiB")
    try:
        assert (await post(listener.url, "/before")).status == 200
        child = child_pid(listener.proc.pid)
        os.kill(child, signal.SIGSTOP)
        try:
            sending = asyncio.create_task(post(listener.url, "/first", random_body(MiB - 1, 6)))
            await until_pipe_full(child)
            first = await sending
            second = await post(listener.url, "/second", random_body(256 * 1024, 7))
        finally:
            os.kill(child, signal.SIGCONT)
        after = await post_until_stored(listener.url, "/after")
    finally:
        listener.stop()
    assert (first.status, first.body) == (503, b"not stored: not committed within 8 s\n")
    assert (second.status, second.retry_after) == (503, "5")
    assert second.body == b"not stored: the storage process is behind\n"
    acknowledged = [e["path"] for e in listener.events if e["event"] == "webhook"]
    assert acknowledged == ["/before", "/after"]
    assert after.webhook_id is not None
    assert "/second" not in stored_paths(db)


@pytest.mark.slow
async def test_webhooks_answered_503_before_any_byte_was_sent_on_are_never_stored(
    tmp_path: Path,
) -> None:
    """Behind a large body the stopped storage process took only the start of, other
    webhooks wait to be written; once their senders are answered 503 they are dropped, not
    stored unacknowledged when the storage process goes on (their senders send them again)."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    try:
        assert (await post(listener.url, "/before")).status == 200
        child = child_pid(listener.proc.pid)
        os.kill(child, signal.SIGSTOP)
        try:
            sending = asyncio.create_task(post(listener.url, "/first", random_body(MiB, 8)))
            await until_pipe_full(child)
            queued = await asyncio.gather(
                post(listener.url, "/queued/large", random_body(300 * 1024, 9)),
                post(listener.url, "/queued/small", b"small"),
            )
            first = await sending
        finally:
            os.kill(child, signal.SIGCONT)
        await until_health(listener.url, ok)
        after = await post_until_stored(listener.url, "/after")
    finally:
        listener.stop()
    for answer in [first, *queued]:
        assert (answer.status, answer.retry_after) == (503, "5")
        assert answer.body == b"not stored: not committed within 8 s\n"
    acknowledged = [e["path"] for e in listener.events if e["event"] == "webhook"]
    assert acknowledged == ["/before", "/after"]
    assert after.webhook_id is not None
    stored = stored_paths(db)
    assert "/queued/large" not in stored
    assert "/queued/small" not in stored


async def test_sigterm_to_the_whole_process_group_stops_listen_cleanly(tmp_path: Path) -> None:
    """``timeout``, systemd and process managers signal the whole group: the storage process
    gets the SIGTERM too. It leaves the stopping to listen, which drains it: no warning that
    it exited unexpectedly, no restart, and what was acknowledged is stored."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db, own_group=True)
    child = child_pid(listener.proc.pid)
    assert (await post(listener.url, "/first", b"kept")).status == 200  # the child is at work
    os.kill(child, signal.SIGTERM)  # as the group's signal reaches it, maybe first
    assert (await post(listener.url, "/before-the-term", b"kept")).status == 200
    assert alive(child) and child_pid(listener.proc.pid) == child  # not killed, not replaced
    os.killpg(listener.proc.pid, signal.SIGTERM)
    assert listener.proc.wait(30) == 0
    listener.stop()  # joins its output readers
    assert not alive(child)
    assert not [line for line in listener.stderr_lines if "storage process" in line], (
        listener.stderr_lines
    )
    assert listener.events[-1] == {"event": "stopped", "stored": 2, "signal": "SIGTERM"}
    with Store(db, readonly=True) as store:
        stored = store.list_webhooks(WebhookFilter())
    assert [webhook.path for webhook in stored] == ["/before-the-term", "/first"]


def stop_while_storage_starts(db: Path) -> None:
    """Start listen on ``db``, SIGTERM its group as its storage process starts, check it
    stopped cleanly."""
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "--output", "json", "--db", str(db)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,  # a group of its own, which killpg signals whole
    )
    try:
        starting = storage_process_started(proc.pid)
        os.killpg(proc.pid, signal.SIGTERM)  # the moment it runs as the storage process
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert b"storage process" not in err, err.decode()
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1] == {"event": "stopped", "stored": 0, "signal": "SIGTERM"}
    assert not alive(starting)
    assert not storage_processes_of(db)


def storage_process_started(parent: int, timeout: float = 30) -> int:
    """The pid of ``parent``'s storage process as soon as it runs as one (its command line
    is the storage process's): polled without a pause, so that it is still starting."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in children.read_text().split():
            with contextlib.suppress(OSError):
                if b"whrelay.storage.process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
    raise AssertionError("no storage process started")


def storage_processes_of(db: Path, timeout: float = 10) -> list[int]:
    """The storage processes still running for ``db`` once ``timeout`` has passed (one that
    is exiting gets the time to finish)."""
    deadline = time.monotonic() + timeout
    while True:
        found = subprocess.run(
            ["pgrep", "-f", f"whrelay.storage.process {db} "],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        pids = [int(pid) for pid in found if alive(int(pid))]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def test_sigterm_to_the_whole_group_while_the_storage_process_starts_stops_listen_cleanly(
    tmp_path: Path,
) -> None:
    """The storage process takes a moment to start (Python's start-up, its imports) before
    it can set its own signal handling. A SIGTERM sent to the whole group in that moment, as
    ``timeout`` or a process manager stopping a listen just started sends it, must not kill
    it: only listen gets it, and stops it as always. Exit 0, no warning that the storage
    process exited unexpectedly, none left running. Three times, as the moment is short."""
    for run in range(3):
        stop_while_storage_starts(tmp_path / f"run{run}.db")


def test_ctrl_c_in_a_terminal_stops_listen_and_its_storage_process(tmp_path: Path) -> None:
    """Typed in a real terminal, Ctrl-C reaches the terminal's foreground group, which the
    storage process (in a group of its own) is not in: listen stops it, as it drains it on
    any stop. Exit 130, no warning, none left running."""
    db = tmp_path / "hooks.db"
    run = run_in_terminal(
        "listen", "--port", "0", "--db", str(db), columns=100,
        interrupt_when=lambda written: b"Ctrl-C stops" in written,
    )  # fmt: skip
    shown = "\n".join(run.screen)
    assert run.returncode == 130, shown
    assert "Stopped. 0 webhook(s) stored this run." in shown
    assert "storage process" not in shown and "Traceback" not in shown
    assert not storage_processes_of(db)
