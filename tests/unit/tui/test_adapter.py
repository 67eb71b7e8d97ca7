"""The TUI's calls into the core (whrelay.tui.adapter), without a screen."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from tests.helpers.captures import capture
from tests.helpers.targetserver import TargetServer, outward_address
from whrelay.core.errors import UsageError
from whrelay.core.models import Capture
from whrelay.core.targets import parse_target
from whrelay.formats.edit import editable
from whrelay.storage import Store
from whrelay.storage.store import cancel_deliveries, insert_webhook
from whrelay.tui.adapter import (
    EditDraft,
    ReplayTls,
    changed_webhooks,
    changes_from,
    listen_tls,
    review_edit,
    send_edited,
)

REMOTE = "http://192.0.2.10:8080/hooks"  # TEST-NET-1: not this machine, no DNS needed
OUTWARD = outward_address()
"""This machine's address that is not loopback: a target on another machine, as whrelay sees it."""


def stored(db: Path, target: str) -> int:
    capture = Capture(
        "POST", "/hooks", "", ((b"Host", b"h"), (b"Content-Type", b"application/json")),
        b'{"n":1}', "1.1", "127.0.0.1", int(time.time() * 1_000_000),
    )  # fmt: skip
    with Store(db) as store:
        summary, _ = store.run(lambda c: insert_webhook(c, capture, (target,), None))
    return summary.id


def draft_of(store: Store, webhook_id: int, to: str = "") -> EditDraft:
    text = editable(store.get_webhook(webhook_id))
    return EditDraft(text.method, text.target, text.headers, b'{"n":2}', to=to)


def test_an_edit_whose_targets_are_not_on_this_machine_is_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    """A webhook once forwarded to a remote target (``listen --allow-remote``): the review
    refuses the edit, and sending a review that names such a target stores no copy."""
    db = tmp_path / "hooks.db"
    original = stored(db, REMOTE)
    with Store(db) as store:
        with pytest.raises(UsageError, match="is not on this machine"):
            review_edit(store, original, draft_of(store, original))
        review = review_edit(store, original, draft_of(store, original, to="3000"))
    remote = dataclasses.replace(review, targets=(parse_target(REMOTE),))
    with pytest.raises(UsageError):
        asyncio.run(send_edited(db, remote))
    with Store(db, readonly=True) as store:
        assert store.count_webhooks() == 1  # no copy left behind


@pytest.mark.parametrize("allow_remote", [False, True])
def test_listen_tui_replays_go_where_listen_may_forward(allow_remote: bool) -> None:
    """``listen --tui``: the TUI's replays take listen's ``--allow-remote`` with its TLS."""
    from whrelay.receiver.settings import ListenOptions, listen_settings

    settings = listen_settings(ListenOptions(forward=("3000",), allow_remote=allow_remote))
    tls = listen_tls(settings)
    assert (tls.allow_remote, tls.listening) == (allow_remote, True)


@pytest.mark.skipif(OUTWARD is None, reason="this machine has no address but loopback")
def test_an_edit_reaches_a_target_on_another_machine_when_remote_targets_are_allowed(
    tmp_path: Path,
) -> None:
    """With remote targets allowed (``ReplayTls.allow_remote``), the review takes the
    webhook's remote target and the copy is sent there."""
    assert OUTWARD is not None
    allowed = ReplayTls(allow_remote=True)
    db = tmp_path / "hooks.db"
    with TargetServer(host=OUTWARD) as remote:
        original = stored(db, f"{remote.url}/hooks")
        with Store(db) as store:
            review = review_edit(store, original, draft_of(store, original), allowed)
        result = asyncio.run(send_edited(db, review, tls=allowed))
        [sent] = remote.requests
    assert [(a.url, a.status) for a in result.attempts] == [(f"{remote.url}/hooks", 200)]
    assert sent.body == b'{"n":2}'


def test_a_body_too_large_for_the_clipboard_is_refused_before_it_is_laid_out(
    tmp_path: Path,
) -> None:
    """A 8 MiB body is never made into a curl command (a third larger again), a JSON record
    or text just to be refused: what copying it costs is the body read, no more."""
    import tracemalloc

    from tests.helpers.memory import random_body
    from whrelay.tui.adapter import MAX_CLIPBOARD, copy_text

    body = random_body(8 * 1024 * 1024, seed=5)
    capture = Capture("POST", "/big", "", ((b"Content-Type", b"application/json"),), body,
                      "1.1", "127.0.0.1", 1_795_000_000_000_000)  # fmt: skip
    with Store(tmp_path / "big.db") as store:
        [summary] = store.insert_webhooks([capture])
        for what in ("curl", "httpie", "json", "http", "body"):
            tracemalloc.start()
            try:
                with pytest.raises(UsageError) as refused:
                    copy_text(store, summary.id, what)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert refused.value.message == (
                f"#{summary.id} as {what} is more than {MAX_CLIPBOARD:,} characters, too many "
                "for the terminal's clipboard"
            )
            assert refused.value.hint == "E exports it to a file"
            assert peak < 1.5 * len(body), (what, peak)  # the body, read once


def test_a_follower_look_finds_every_webhook_a_large_cancel_moved_on(tmp_path: Path) -> None:
    """A poll looks once per commit seen: a cancel of more deliveries than a query reads at a
    time comes whole in that one look, not the rest only once something else commits."""
    store = Store(tmp_path / "whrelay.db")
    many = 5_001
    captures = [capture(f"/p/{i}", received_at=1_000_000 + i) for i in range(many)]
    store.insert_webhooks(captures, [["http://127.0.0.1:9"]] * many)
    since = changes_from(store)
    store.run(lambda db: cancel_deliveries(db, 9_000_000_001))
    changed, after = changed_webhooks(store, since)
    assert len(changed) == many
    assert changed_webhooks(store, after) == (set(), after)
    store.close()
