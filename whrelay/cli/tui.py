"""``whrelay tui``: the terminal UI over the history."""

from __future__ import annotations

import typer

from whrelay.cli.common import DbOption, resolve_db
from whrelay.cli.entry import needs_a_terminal
from whrelay.core.errors import ExitCode

EXAMPLES = """
[bold]Examples[/bold]

  Browse, search, verify and replay the history (while listen runs elsewhere):
    whrelay tui
  Another database:
    whrelay tui --db ./hooks.db
  Receive and browse in one terminal:
    whrelay listen -f 3000 --tui
"""


def tui(db: DbOption = None) -> int:
    """Browse, search, verify and replay the stored webhooks in a terminal UI. Keys: j/k
    move, / searches, f filters, r replays, F forwards, R re-signs, ? shows them all, q quits.
    (A plain 'whrelay tui [--db PATH]' starts in cli/entry.py, without building the CLI.)"""
    needs_a_terminal("whrelay tui")
    from whrelay.tui import run

    run(resolve_db(db))
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(tui)
