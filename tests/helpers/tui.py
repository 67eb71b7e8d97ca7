"""A history for the TUI (fixed ids, times, verdicts, deliveries and attempts), and what its
screen shows."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whrelay.core.models import (
    Attempt,
    Capture,
    DeliveryState,
    Trigger,
    Verdict,
)
from whrelay.storage import Store

if TYPE_CHECKING:
    from textual.app import App

TUI_T0 = 1_790_000_000_000_000
"""2026-09-21 14:13:20 UTC: when the seeded history begins (microseconds)."""
TUI_NOW = TUI_T0 + 3 * 3600 * 1_000_000
"""The TUI's fixed clock in tests: three hours after the first webhook."""
TUI_SECRET = "whsec_tui_test_secret"
"""The Stripe secret the seeded Stripe webhook is signed with (a test value)."""
TUI_TARGET = "http://127.0.0.1:9"
"""The target the seeded deliveries went to (the discard port: nothing answers)."""
HOSTILE_TEXT = (
    "[bold red]boom[/] [@click=app.quit]quit[/] \x1b]52;c;aGVsbG8=\x07 "
    "\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07 \x1b[2J\u202eevil "
)
"""Markup with actions, OSC 52 (clipboard) and OSC 8 (hyperlink) sequences, a CSI that clears
the screen and a bidi override: all must show as text and do nothing."""


@dataclass(frozen=True)
class SeededTui:
    """The ids of the seeded webhooks, by what each is."""

    db: Path
    plain: int
    stripe: int
    github: int
    gzip: int
    binary: int
    form: int
    hostile: int
    hostile_binary: int
    duplicate: int
    newest: int


def _tui_webhook(
    db: sqlite3.Connection,
    n: int,
    path: str,
    headers: Sequence[tuple[str | bytes, str | bytes]],
    body: bytes | None,
    *,
    query: str = "",
    verdict: Verdict | None = None,
    targets: tuple[str, ...] = (),
) -> int:
    from whrelay.storage.store import insert_webhook

    raw = tuple((_bytes(k), _bytes(v)) for k, v in headers)
    capture = Capture("POST", path, query, raw, body, "1.1", "127.0.0.1", TUI_T0 + n * 61_000_000)
    summary, _ = insert_webhook(db, capture, targets, verdict)
    return summary.id


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _tui_attempts(
    db: sqlite3.Connection,
    webhook_id: int,
    answers: list[tuple[int | None, bytes]],
    state: str,
) -> None:
    """Attempts of the webhook's first delivery, one a minute after it arrived, then its
    state."""
    from whrelay.storage.store import record_attempt

    [delivery] = _deliveries(db, webhook_id)
    received = db.execute("SELECT received_at FROM webhooks WHERE id = ?", (webhook_id,))
    at = int(received.fetchone()[0])
    target = db.execute("SELECT target FROM deliveries WHERE id = ?", (delivery,)).fetchone()[0]
    for n, (status, body) in enumerate(answers):
        started = at + (n + 1) * 60_000_000
        attempt = Attempt(
            webhook_id,
            delivery,
            Trigger.FIRST if n == 0 else Trigger.RETRY,
            f"{target}/hooks",
            ((b"Host", target.removeprefix("http://").encode()),),
            started,
            12_345,
            status,
            ((b"Content-Type", b"application/json"), (b"X-Request-Id", b"req-%d" % n))
            if status is not None
            else (),
            body if status is not None else None,
            error=None if status is not None else "refused",
            error_detail=None if status is not None else "connection refused",
        )
        last = n == len(answers) - 1
        record_attempt(
            db,
            attempt,
            state=DeliveryState(state) if last else DeliveryState.PENDING,
            next_attempt_at=TUI_T0 + 3600 * 1_000_000 if not last or state == "pending" else None,
            now_us=started,
        )


def _deliveries(db: sqlite3.Connection, webhook_id: int) -> list[int]:
    rows = db.execute("SELECT id FROM deliveries WHERE webhook_id = ? ORDER BY id", (webhook_id,))
    return [int(row[0]) for row in rows]


def seed_tui(path: Path, target: str = TUI_TARGET) -> SeededTui:
    """A small history with one webhook of every kind the TUI shows differently: no scheme, a
    valid Stripe signature (``TUI_SECRET``), an invalid GitHub one, a gzip body, a binary body,
    a form, hostile text, a duplicate; delivered, failed, pending and never forwarded."""
    import gzip as gzip_module

    from whrelay.signatures import Message, get_scheme

    stripe_body = b'{"id":"evt_1TuiTest","type":"invoice.paid","data":{"object":{"amount":4200}}}'
    at = (TUI_T0 + 2 * 61_000_000) // 1_000_000
    signed = get_scheme("stripe").sign(Message(stripe_body, ()), TUI_SECRET, at)
    stripe_headers = [
        ("Host", "127.0.0.1:8642"),
        ("Content-Type", "application/json"),
        *signed.headers,
    ]
    github_body = b'{"ref":"refs/heads/main","commits":[{"id":"abc123","message":"Fix"}]}'
    shopify_json = b'{"id":820982911946154508,"email":"jon@example.com","total_price":"42.00"}'
    ids: dict[str, int] = {}
    targets = (target,)

    def seed(db: sqlite3.Connection) -> None:
        ids["plain"] = _tui_webhook(
            db, 1, "/hooks/plain", [("Content-Type", "application/json")], b'{"ping":true}'
        )
        ids["stripe"] = _tui_webhook(
            db, 2, "/hooks/stripe", stripe_headers, stripe_body,
            verdict=Verdict("valid", "stripe", "ok", "signature matches"), targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["stripe"], [(200, b'{"received":true}')], "delivered")
        ids["github"] = _tui_webhook(
            db, 3, "/hooks/github",
            [("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
             ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
             ("X-Hub-Signature-256", "sha256=" + "0" * 64)],
            github_body,
            verdict=Verdict("invalid", "github", "bad_signature", "no signature matches"),
            targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["github"], [(500, b'{"error":"boom"}'), (None, b"")], "failed")
        ids["gzip"] = _tui_webhook(
            db, 4, "/hooks/shopify",
            [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
             ("X-Shopify-Topic", "orders/create"), ("X-Shopify-Hmac-Sha256", "c2lnbmF0dXJl")],
            gzip_module.compress(shopify_json, mtime=0),
            verdict=Verdict("unverified", "shopify", "no_secret", "no secret given to listen"),
            targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["gzip"], [(503, b"try later")], "pending")
        ids["binary"] = _tui_webhook(
            db, 5, "/hooks/upload", [("Content-Type", "application/octet-stream")],
            b"\x00\x01\x02\xff\xfe binary \x80\x81" + bytes(range(32)),
        )  # fmt: skip
        ids["form"] = _tui_webhook(
            db, 6, "/hooks/form", [("Content-Type", "application/x-www-form-urlencoded")],
            b"token=abc&text=hello+world&user_name=ada", query="team=T1",
        )  # fmt: skip
        ids["hostile"] = _tui_webhook(
            db, 7, "/hooks/[bold]x[/]/[@click=app.quit]", [
                ("Content-Type", "text/plain"),
                (b"X-Evil", b"[@click=app.quit]quit[/] \x1b]52;c;aGk=\x07"),
            ],
            (HOSTILE_TEXT + "x" * 5000 + "\n").encode(), query="q=[b]",
        )  # fmt: skip
        ids["hostile_binary"] = _tui_webhook(
            db, 8, "/hooks/nul", [("Content-Type", "text/plain")],
            b"[bold]nul\x00[/] \xff\xfe not utf-8 \x1b[31m",
        )  # fmt: skip
        ids["duplicate"] = _tui_webhook(
            db, 9, "/hooks/stripe", stripe_headers, stripe_body,
            verdict=Verdict("valid", "stripe", "ok", "signature matches"), targets=targets,
        )  # fmt: skip
        _tui_attempts(db, ids["duplicate"], [(200, b'{"received":true}')], "delivered")
        ids["newest"] = _tui_webhook(
            db, 10, "/hooks/standard",
            [("Content-Type", "application/json"), ("webhook-id", "msg_2KWPBgLlAfxdpx2AI5"),
             ("webhook-timestamp", "1790000610"), ("webhook-signature", "v1,AAAA")],
            b'{"type":"user.created","data":{"id":"u_1"}}',
        )  # fmt: skip

    with Store(path) as store:
        store.run(seed)
    return SeededTui(db=path, **ids)


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text (one line per row)."""
    from io import StringIO

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=StringIO(), force_terminal=True, record=True)
    console.print(app.screen._compositor.render_update(full=True, simplify=True))
    return console.export_text(styles=False)
