"""The ``whrelay`` entry point and the one place that turns errors into exit codes."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

try:  # typer >= 0.29 vendors click; older ones raise the click package's exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef,unused-ignore]

from whrelay import __version__
from whrelay.cli.common import reader_gone
from whrelay.cli.entry import fail as _fail
from whrelay.cli.entry import internal
from whrelay.core.errors import ExitCode, WhrelayError, say

app = typer.Typer(
    name="whrelay",
    help="Receive, store, verify, forward and replay webhooks locally. Nothing lost, "
    "signatures never broken.\n\nStart with: whrelay listen",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        print(f"whrelay {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        metavar="",
        help="Print the version and exit.",
        callback=_version,
        is_eager=True,
    ),
) -> None:
    """Receive, store, verify, forward and replay webhooks locally."""


def _register() -> None:
    from whrelay.cli import (
        cancel,
        config,
        history,
        info,
        listen,
        maintenance,
        replay,
        signing,
        transfer,
        tui,
    )

    listen.register(app)
    history.register(app)
    replay.register(app)
    cancel.register(app)
    signing.register(app)
    transfer.register(app)
    maintenance.register(app)
    tui.register(app)
    info.register(app)
    config.register(app)


_register()


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; every error leaves as one line on stderr and an ``ExitCode``."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="whrelay", standalone_mode=False)
    except WhrelayError as error:
        _fail(error.message, error.hint, error.exit_code)
    except click_errors.NoArgsIsHelpError:
        sys.exit(ExitCode.OK)  # the help has been printed
    except click_errors.UsageError as error:
        context = error.ctx.command_path if error.ctx else "whrelay"
        _fail(error.format_message(), f"see '{context} --help'", ExitCode.USAGE)
    except click_errors.ClickException as error:
        _fail(error.format_message(), None, ExitCode.USAGE)
    except (typer.Abort, KeyboardInterrupt):
        say("interrupted", prefix="\nwhrelay: ")
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        reader_gone()
    except SystemExit as leaving:
        # Typer's own catch of a broken pipe exits 1, which here means "a check failed".
        if leaving.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            reader_gone()
        raise
    except Exception as error:  # the funnel: a bug still gets one line
        internal(error)
    sys.exit(int(result) if isinstance(result, int) else ExitCode.OK)
