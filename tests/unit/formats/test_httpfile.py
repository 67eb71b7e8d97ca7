"""``whrelay/formats/httpfile.py``: raw HTTP request files and whrelay's JSON records."""

from __future__ import annotations

import json
from pathlib import Path


def test_verify_reads_the_arrival_time_show_json_writes(tmp_path: Path) -> None:
    """``show --json`` writes ``received_at`` as ISO 8601; a record is judged at it."""
    from whrelay.formats.httpfile import read_request

    record = {"received_at": "2026-11-27T01:59:14.894855Z", "method": "POST", "path": "/"}
    parsed = read_request(json.dumps(record).encode())
    assert parsed.received_at == 1795744754894855
