"""``whrelay/cli/entry.py``: the entry point before Typer."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "fast"),
    [
        (["tui"], (None,)),
        (["tui", "--db", "hooks.db"], (Path("hooks.db"),)),
        (["tui", "--db=hooks.db"], (Path("hooks.db"),)),
        (["tui", "--help"], None),
        (["tui", "--db"], None),
        (["tui", "--db", "hooks.db", "extra"], None),
        (["tui", "--db", "/"], None),  # a folder: the CLI says what is wrong with it
        (["tui", "--insecure"], None),  # the TLS options: the CLI parses and checks them
        (["tui", "--db", "hooks.db", "--ca-file", "cert.pem"], None),
        (["list"], None),
        ([], None),
    ],
)
def test_only_a_plain_tui_skips_the_cli_parser(
    args: list[str], fast: tuple[Path | None] | None
) -> None:
    from whrelay.cli.entry import plain_tui

    assert plain_tui(args) == fast
