"""Config files for the tests of ``whrelay.toml``."""

from __future__ import annotations

from pathlib import Path

import pytest

BROKEN = """\
db = "hooks.db"
colour = "blue"

[listen]
prot = 9000
port = "9000"
max_body = "25 MB please"
forward = ["3000", ""]
durability = "fast"

[[listen.route]]
path = "/stripe/*"
target = "4000"
provder = "stripe"

[[listen.route]]
path = "/github/*"
provider = "nosuch"
"""
"""A config file with one problem of each kind (unknown keys, wrong types, bad values)."""


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``text`` as the config file in use (``WHRELAY_CONFIG``)."""
    path = tmp_path / "whrelay.toml"
    path.write_text(text)
    monkeypatch.setenv("WHRELAY_CONFIG", str(path))
    return path
