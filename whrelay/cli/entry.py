"""The ``whrelay`` command's entry point, and the error funnel every command line ends in.

``whrelay tui`` (with at most ``--db PATH``) starts without Typer: a terminal UI is judged by
how soon its first screen shows, and building the whole CLI costs about as much as drawing
it. Any other command line, including a ``tui`` with anything more, goes to the CLI
(``cli/main.py``), which parses and reports it as always.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from whrelay.core.errors import ExitCode, WhrelayError, say

_INTERNAL_HINT = "this is a bug in whrelay; run again with WHRELAY_DEBUG=1 for the traceback"


def fail(message: str, hint: str | None, code: int) -> NoReturn:
    """One ``whrelay: error:`` line (and a hint) on stderr, and exit with ``code``."""
    # Plain writes: an error message may quote user input and must not become markup. They
    # cannot fail: with stderr closed or gone, the exit code still tells what happened.
    say(f"error: {message}")
    if hint:
        say(f"hint: {hint}", prefix="  ")
    sys.exit(code)


def internal(error: Exception) -> NoReturn:
    """A bug: still one line (``WHRELAY_DEBUG=1`` lets the traceback through)."""
    if os.environ.get("WHRELAY_DEBUG"):
        raise error
    fail(f"internal error: {type(error).__name__}: {error}", _INTERNAL_HINT, ExitCode.INTERNAL)


def needs_a_terminal(what: str) -> None:
    """``UsageError`` unless stdin and stdout are a terminal (a TUI draws on it)."""
    from whrelay.core.errors import UsageError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            f"{what} needs a terminal (stdin and stdout are not one)",
            hint="run it in a terminal; 'whrelay list' and 'whrelay show' work in pipes",
        )


def plain_tui(args: Sequence[str]) -> tuple[Path | None] | None:
    """``(db,)`` when ``args`` is ``tui``, ``tui --db PATH`` or ``tui --db=PATH`` with a
    path that is not a folder (``None`` for the default); otherwise ``None``: the CLI parses
    it."""
    if not args or args[0] != "tui":
        return None
    rest = list(args[1:])
    if not rest:
        return (None,)
    if len(rest) == 2 and rest[0] == "--db":
        value = rest[1]
    elif len(rest) == 1 and rest[0].startswith("--db="):
        value = rest[0].removeprefix("--db=")
    else:
        return None
    if not value or value.startswith("-") or Path(value).is_dir():
        return None  # the CLI says what is wrong with it
    return (Path(value),)


def guarded(run: Callable[[], int]) -> NoReturn:
    """Run a command outside the CLI's parser, with the CLI's error funnel."""
    try:
        code = run()
    except WhrelayError as error:
        fail(error.message, error.hint, error.exit_code)
    except KeyboardInterrupt:
        say("interrupted", prefix="\nwhrelay: ")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as error:  # the funnel: a bug still gets one line
        internal(error)
    sys.exit(code)


def _tui(db: Path | None) -> int:
    from whrelay.core.paths import db_path
    from whrelay.tui import run

    needs_a_terminal("whrelay tui")
    run(db_path(db))
    return ExitCode.OK


def main(argv: list[str] | None = None) -> NoReturn:
    """``whrelay``: the TUI at once for a plain ``whrelay tui``, else the CLI."""
    fast = plain_tui(sys.argv[1:] if argv is None else argv)
    if fast is not None:
        guarded(lambda: _tui(fast[0]))
    from whrelay.cli.main import main as cli

    cli(argv)
