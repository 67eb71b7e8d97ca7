"""What every command shares: the consoles, the ``--db`` option, JSON output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from whrelay import paths
from whrelay.errors import ExitCode

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite database file. Default: $WHRELAY_DB, else whrelay.db in $WHRELAY_DATA_DIR "
        "or the user data directory ('whrelay paths' would show it).",
        show_default=False,
        dir_okay=False,
        readable=False,  # the database says what is wrong with it, with its exit code (3)
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", metavar="", help="Write NDJSON to stdout, one object per line, and nothing else."
    ),
]


if TYPE_CHECKING:
    from rich.console import Console


def stdout() -> Console:
    """Data: tables, webhooks. Never markup-interpreted for webhook content (see render)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    # Rich's own answer to a broken pipe is exit 1, which here means "a check failed".
    console.on_broken_pipe = reader_gone  # type: ignore[method-assign]
    return console


def reader_gone() -> NoReturn:
    """The reader of stdout went away (``whrelay list | head``): stop writing, say nothing,
    and leave with ``READER_GONE``: not a success either, as a check may have been cut short."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    raise SystemExit(ExitCode.READER_GONE)


def stderr() -> Console:
    """Diagnostics. When their reader has gone away they are dropped: Rich's default would
    point stdout at /dev/null and exit 1, stopping a ``listen`` mid-request."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.on_broken_pipe = _mute(console)  # type: ignore[method-assign]
    return console


def _mute(console: Console) -> Callable[[], None]:
    def mute() -> None:
        console.quiet = True

    return mute


def resolve_db(db: Path | None) -> Path:
    return paths.db_path(db)


def write_json(obj: object) -> None:
    """One NDJSON line on stdout, flushed so that followers see it at once."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()
