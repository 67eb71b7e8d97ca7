"""``whrelay paths``: where whrelay keeps things."""

from __future__ import annotations

import typer

from whrelay.cli.common import DbOption, JsonOption, write_json
from whrelay.core import paths

EXAMPLES = """
[bold]Examples[/bold]

  The data folder, the database and its locks in use:
    whrelay paths
  Where a variable puts them:
    WHRELAY_DATA_DIR=/tmp/w whrelay paths
"""


def show_paths(json_output: JsonOption = False, db: DbOption = None) -> None:
    """Print where whrelay keeps its data (after --db and the environment are applied)."""
    database = paths.db_path(db)
    found = {
        "data_dir": str(paths.data_dir()),
        "db": str(database),
        "lock": str(paths.lock_path(database)),
        "listen_lock": str(paths.listen_lock_path(database)),
    }
    if json_output:
        write_json(found)
    else:
        width = max(map(len, found))
        for name, value in found.items():
            print(f"{name:<{width}}  {value}")


def register(app: typer.Typer) -> None:
    app.command("paths", epilog=EXAMPLES)(show_paths)
