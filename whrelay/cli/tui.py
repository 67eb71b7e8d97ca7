"""``whrelay tui``: the terminal UI over the history."""

from __future__ import annotations

import sys

import typer

from whrelay.cli.common import DbOption, resolve_db
from whrelay.core.errors import ExitCode, UsageError

EXAMPLES = """
[bold]Examples[/bold]

  Browse, search, verify and replay the history (while listen runs elsewhere):
    whrelay tui
  Another database:
    whrelay tui --db ./hooks.db
  Receive and browse in one terminal:
    whrelay listen -f 3000 --tui
"""


def needs_a_terminal(what: str) -> None:
    """``UsageError`` unless stdin and stdout are a terminal (the TUI draws on it)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            f"{what} needs a terminal (stdin and stdout are not one)",
            hint="run it in a terminal; 'whrelay list' and 'whrelay show' work in pipes",
        )


def tui(db: DbOption = None) -> int:
    """Browse, search, verify and replay the stored webhooks in a terminal UI. Keys: j/k
    move, / searches, f filters, r replays, F forwards, R re-signs, ? shows them all, q quits."""
    needs_a_terminal("whrelay tui")
    from whrelay.tui import run

    run(resolve_db(db))
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(tui)
