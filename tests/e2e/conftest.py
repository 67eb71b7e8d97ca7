"""Fixtures of the tests that run ``whrelay`` as a subprocess. Every test here is ``slow``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.captures import SECOND, T0, capture
from tests.helpers.commands import ESCAPES, MARKUP, STRIPE_JSON, seed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ starts processes: out of the fast loop (``-m "not slow"``)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A database with five webhooks, ids 1..5, one second apart."""
    db = tmp_path / "history.db"
    seed(
        db,
        capture(
            "/hooks/stripe",
            query="acct=1",
            headers=STRIPE_JSON,
            body=b'{"id": "evt_1", "type": "charge.succeeded"}',
            received_at=T0,
        ),
        capture(
            "/hooks/github",
            headers=((b"X-GitHub-Event", b"push"), (b"X-GitHub-Delivery", b"d-2")),
            body=b'{"ref": "main"}',
            received_at=T0 + SECOND,
        ),
        capture("/health", method="GET", received_at=T0 + 2 * SECOND),
        capture(
            "/hooks/other",
            method="PUT",
            body=b"\x00needle\xff",
            received_at=T0 + 3 * SECOND,
        ),
        capture(
            "/hooks/stripe",
            headers=STRIPE_JSON,
            body=b'{"id": "evt_2", "type": "invoice.paid"}',
            received_at=T0 + 4 * SECOND,
        ),
    )
    return db


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A webhook whose path, header values and body carry Rich markup and terminal escapes."""
    db = tmp_path / "hostile.db"
    body = json.dumps({"type": f"{MARKUP} {ESCAPES}", "note": MARKUP, "esc": ESCAPES})
    seed(
        db,
        capture(
            f"/hooks/{MARKUP}/{ESCAPES}",
            query="q=[bold]",
            headers=(
                (b"Content-Type", b"application/json"),
                (b"X-Markup", MARKUP.encode()),
                (b"X-Escapes", ESCAPES.encode()),
                (b"[bold]", b"[/x]"),
            ),
            body=body.encode(),
        ),
        capture(
            "/text",
            headers=((b"Content-Type", b"text/plain"),),
            body=f"{MARKUP}\n{ESCAPES}\n".encode(),
        ),
    )
    return db
