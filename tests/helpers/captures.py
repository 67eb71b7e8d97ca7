"""Webhooks in a database: a ``Capture`` to insert, what a listener stored, a folder's state."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from whrelay.core.models import (
    Capture,
    RawHeaders,
    Webhook,
    pack_headers,
)
from whrelay.storage import Store
from whrelay.storage.migrations import current_version, migrate

if TYPE_CHECKING:
    pass

T0 = 1_795_000_000_000_000
"""When a ``capture()`` arrived unless told otherwise (microseconds; 2026-11-17)."""
SECOND = 1_000_000
"""One second, in the microseconds ``received_at`` counts."""


def capture(
    path: str = "/hooks",
    *,
    method: str = "POST",
    query: str = "",
    headers: RawHeaders = (),
    body: bytes | None = None,
    received_at: int = T0,
    http_version: str = "1.1",
    remote_addr: str | None = "127.0.0.1",
) -> Capture:
    """A request as the receiver would have captured it, to insert into a ``Store``: by
    default a bodiless ``POST /hooks`` from 127.0.0.1 at ``T0``."""
    return Capture(
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        http_version=http_version,
        remote_addr=remote_addr,
        received_at=received_at,
    )


def stored_webhook(db: Path, webhook_id: int) -> Webhook:
    """Webhook ``webhook_id`` as a fresh read-only ``Store`` reads it from ``db``."""
    with Store(db, readonly=True) as store:
        return store.get_webhook(webhook_id)


def stored_count(db: Path) -> int:
    """How many webhooks ``db`` holds (0 when it does not exist yet)."""
    if not db.exists():
        return 0
    with Store(db, readonly=True) as store:
        return store.count_webhooks()


def folder_state(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file in ``folder``: its bytes, modification time and mode (what a command that
    only reads must leave as it found it)."""
    return {
        entry.name: (entry.read_bytes(), entry.stat().st_mtime_ns, entry.stat().st_mode)
        for entry in sorted(folder.iterdir())
    }


def v1_row(db: sqlite3.Connection) -> None:
    """A webhook written with only the columns schema version 1 had: ``POST /old?a=1`` with
    the header ``X-Old: yes`` and the body ``{}``."""
    db.execute(
        "INSERT INTO webhooks (received_at, method, path, query, size, http_version, headers,"
        " body) VALUES (?, 'POST', '/old', 'a=1', 2, '1.1', ?, ?)",
        (T0, pack_headers([(b"X-Old", b"yes")]), b"{}"),
    )


def older_database(path: Path, version: int) -> Path:
    """A database left at schema ``version`` by an earlier whrelay (in WAL mode, as listen
    leaves it), holding one webhook (``v1_row``) from version 1 on."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA journal_mode = WAL")
        assert migrate(raw, T0, target=version) == list(range(1, version + 1))
        assert current_version(raw) == version
        if version >= 1:
            v1_row(raw)
    finally:
        raw.close()
    return path


def schema_version(path: Path) -> int:
    """The schema version of the database at ``path``, read without changing it."""
    raw = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return current_version(raw)
    finally:
        raw.close()
