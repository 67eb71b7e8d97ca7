"""``whrelay stats``: what the database holds."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.maintenance import seed
from tests.helpers.processes import run_whrelay
from whrelay.core.models import Capture, now_micros
from whrelay.storage import Store

DAY = 24 * 3600 * 1_000_000


def test_stats_counts_what_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    seed(db, [2, 1], ["delivered", "pending"])
    with Store(db) as store:
        store.insert_webhooks([Capture("GET", "/x", "", (), None, "1.1", None, now_micros())])
    found = json.loads(run_whrelay("stats", "--json", "--db", str(db)).stdout)
    assert found["webhooks"] == 3
    assert found["by_provider"] == {"stripe": 2, "-": 1}
    assert found["by_delivery_state"] == {"delivered": 1, "pending": 1}
    assert found["by_verdict"] == {"unverified": 3}
    assert found["database_bytes"] > 0
    text = run_whrelay("stats", "--db", str(db))
    assert text.returncode == 0
    assert b"By provider" in text.stdout and b"stripe" in text.stdout
    sizes = {
        line.split()[0]: line.split()[-1]
        for line in text.stdout.decode().splitlines()
        if line.startswith(("Database", "Write-ahead"))
    }
    # Both files in the same units, rounded, whatever their exact sizes.
    assert set(sizes.values()) <= {"B", "KiB", "MiB", "GiB"}, sizes
    assert sizes["Database"] == "KiB"
