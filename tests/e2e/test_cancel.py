"""``whrelay cancel``: pending deliveries stop being retried, even by a running listen."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.helpers.forwarding import (
    attempts,
    deliveries,
    error_lines,
    post,
    stored_forwarded,
)
from tests.helpers.processes import (
    listening,
    run_whrelay,
)
from tests.helpers.targetserver import target_server
from tests.helpers.wait import until

FAST = ("--durability", "normal", "--retry-schedule", "0.2,0.5")
"""Options every listener here gets: quick commits and quick retries."""

# --- replay's output: the bar, the summary, Ctrl-C ------------------------------------------------

STRIPE_SECRET = "whsec_deliveryTestSecret"

# --- cancel: a delivery given up ----------------------------------------------------------------


async def test_cancel_from_another_process_stops_a_running_listen_retrying_it(
    tmp_path: Path,
) -> None:
    """A listen retries a webhook its target keeps answering 500; ``whrelay cancel ID`` in
    another process records it cancelled, and the listen makes no attempt after that, while
    it goes on retrying another webhook. ``list --status cancelled`` and ``show`` say so;
    ``cancel --status pending --target`` gives up the rest."""
    db = tmp_path / "hooks.db"
    with target_server() as target, listening(db, *FAST, "-f", str(target.port)) as listener:
        target.reply(500, body=b"broken")
        webhook = await post(listener.url, b'{"n":1}')
        await until(lambda: len(attempts(db, webhook)) >= 2, "the listen to retry")
        result = await asyncio.to_thread(run_whrelay, "cancel", str(webhook), "--db", str(db))
        cancelled_by = time.time_ns() // 1000
        assert result.returncode == 0, result.stderr
        assert f"cancelled  #{webhook} → {target.url}" in result.stdout.decode()
        other = await post(listener.url, b'{"n":2}')
        # Retried three times (past the 0.5 s retry) while the cancelled one was due again.
        await until(lambda: len(attempts(db, other)) >= 3, "the other webhook to be retried")
        tried = attempts(db, webhook)
        listed = await asyncio.to_thread(
            run_whrelay, "list", "--status", "cancelled", "--json", "--db", str(db)
        )
        shown = await asyncio.to_thread(
            run_whrelay, "show", str(webhook), "--json", "--db", str(db)
        )
        shown_text = await asyncio.to_thread(run_whrelay, "show", str(webhook), "--db", str(db))
        rest = await asyncio.to_thread(
            run_whrelay, "cancel", "--status", "pending", "--target", str(target.port),
            "--json", "--db", str(db),
        )  # fmt: skip
        await until(
            lambda: deliveries(db, other)[0].state == "cancelled", "the other to be cancelled"
        )
    assert all(attempt.started_at < cancelled_by for attempt in tried), tried
    assert [d.state for d in deliveries(db, webhook)] == ["cancelled"]
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [webhook]
    record = json.loads(shown.stdout)
    assert [d["state"] for d in record["deliveries"]] == ["cancelled"]
    assert record["attempts"][-1]["outcome"] == "failed, then cancelled"
    [last] = [line for line in shown_text.stdout.decode().splitlines() if " 500 " in line][-1:]
    assert last.endswith("  failed, then cancelled"), last  # the text says it too
    assert rest.returncode == 0, rest.stderr
    assert [json.loads(line)["webhook_id"] for line in rest.stdout.splitlines()] == [other]


def test_cancel_says_what_it_cannot_do(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    [webhook] = stored_forwarded(db, "http://127.0.0.1:9", 1)
    for argv, message in (
        (("cancel",), "name webhook ids, or select the deliveries with --status pending"),
        (("cancel", "--status", "failed"), "only pending deliveries can be cancelled"),
        (("cancel", str(webhook), "--status", "pending"), "not both"),
        (("cancel", "999"), "no webhook with id 999"),
    ):
        result = run_whrelay(*argv, "--db", str(db))
        assert result.returncode == 2, (argv, result.stderr)
        [line] = error_lines(result.stderr)
        assert message in line, line
    done = run_whrelay("cancel", str(webhook), "--db", str(db))
    again = run_whrelay("cancel", str(webhook), "--db", str(db))
    assert done.returncode == again.returncode == 0
    assert b"Nothing pending to cancel." in again.stderr
    assert [d.state for d in deliveries(db, webhook)] == ["cancelled"]
