"""``whrelay tui``: the terminal UI over the history."""

from __future__ import annotations

import typer

from whrelay.cli.common import (
    AllowRemoteOption,
    CaFileOption,
    DbOption,
    InsecureOption,
    resolve_db,
)
from whrelay.cli.entry import needs_a_terminal
from whrelay.core.errors import ExitCode

EXAMPLES = """
[bold]Examples[/bold]

  Browse, search, verify and replay the history (while listen runs elsewhere):
    whrelay tui
  Another database:
    whrelay tui --db ./hooks.db
  Replays to an https app whose certificate is self-signed:
    whrelay tui --ca-file cert.pem
  Replays to targets on other machines too (as 'replay --allow-remote'):
    whrelay tui --allow-remote
  Receive and browse in one terminal:
    whrelay listen -f 3000 --tui
"""


def tui(
    allow_remote: AllowRemoteOption = False,
    insecure: InsecureOption = False,
    ca_file: CaFileOption = None,
    db: DbOption = None,
) -> int:
    """Browse, search, verify and replay the stored webhooks in a terminal UI.

    Keys: j/k move, / searches, f filters, r replays, F forwards, R re-signs, ? all, q quits.
    \f
    (A plain ``whrelay tui [--db PATH]`` starts in ``cli/entry.py``, without building the
    CLI.)"""
    from whrelay.core.tls import check_ca_file
    from whrelay.tui.adapter import ReplayTls

    trusted = None if ca_file is None else check_ca_file(ca_file)
    tls = ReplayTls(allow_remote, insecure=insecure, ca_file=trusted)
    needs_a_terminal("whrelay tui")
    from whrelay.tui import run

    run(resolve_db(db), tls)
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(tui)
