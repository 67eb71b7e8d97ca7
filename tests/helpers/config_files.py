"""Config files for the tests of ``whrelay.toml``."""

from __future__ import annotations

from pathlib import Path

import pytest


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``text`` as the config file in use (``WHRELAY_CONFIG``)."""
    path = tmp_path / "whrelay.toml"
    path.write_text(text)
    monkeypatch.setenv("WHRELAY_CONFIG", str(path))
    return path
