"""What every command shares: the consoles, the ``--db`` option, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay import paths

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite database file. Default: $WHRELAY_DB, else whrelay.db in $WHRELAY_DATA_DIR "
        "or the user data directory ('whrelay paths' would show it).",
        show_default=False,
        dir_okay=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Write NDJSON to stdout, one object per line, and nothing else."),
]


if TYPE_CHECKING:
    from rich.console import Console


def stdout() -> Console:
    """Data: tables, webhooks. Never markup-interpreted for webhook content (see render)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    """Diagnostics."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def resolve_db(db: Path | None) -> Path:
    return paths.db_path(db)


def write_json(obj: object) -> None:
    """One NDJSON line on stdout, flushed so that followers see it at once."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()
