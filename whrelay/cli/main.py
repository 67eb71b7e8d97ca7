"""The ``whrelay`` entry point and the one place that turns errors into exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

import typer

try:  # typer >= 0.29 vendors click; older ones raise the click package's exceptions
    from typer._click import core as click_core
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import core as click_core  # type: ignore[no-redef,unused-ignore]
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


def build() -> click_core.Command:
    """The CLI as Click runs it, with help that shows no type labels (``<str>``, ``<bool>``):
    every option that takes a value names it (``SECRET``, ``DURATION``, ``TARGET``), and those
    Typer adds (``--help``, the completion flags) are flags, which take none."""
    command = typer.main.get_command(app)
    names = (app.info.context_settings or {}).get("help_option_names", ["--help"])
    for each in _commands(command):
        # Click makes the help option once per command, on first use, and keeps it.
        help_option = each.get_help_option(click_core.Context(each, help_option_names=names))
        if help_option is not None:
            help_option.metavar = ""
        # A value missing after an option (``replay 3 --to``) is found while the command
        # line is taken apart, and Click raises it without the context it was found in:
        # given it, the hint names the command's own help, not the whole program's.
        each.parse_args = _with_context(each.parse_args)  # type: ignore[method-assign,assignment]
        for param in each.params:
            flag = param.param_type_name == "option" and getattr(param, "is_flag", False)
            if flag and param.metavar is None:
                param.metavar = ""
            elif param.param_type_name == "argument" and param.metavar:
                # Typer's help shows an argument's type beside its name (``ID <int>``), from
                # a method of its own parameter class (typer 0.29): the name says it all.
                param.display_type_rich = _no_type  # type: ignore[attr-defined]
    return command


def _with_context(
    parse: Callable[[click_core.Context, list[str]], list[str]],
) -> Callable[[click_core.Context, list[str]], list[str]]:
    """``parse`` (a command's ``parse_args``), its usage errors given the context."""

    def parse_args(ctx: click_core.Context, args: list[str]) -> list[str]:
        try:
            return parse(ctx, args)
        except click_errors.UsageError as error:
            if error.ctx is None:
                error.ctx = ctx
            raise

    return parse_args


def _no_type(ctx: object) -> None:
    return None


def _commands(command: click_core.Command) -> list[click_core.Command]:
    found = [command]
    for sub in getattr(command, "commands", {}).values():
        found += _commands(sub)
    return found


def usage_message(error: click_errors.UsageError) -> str:
    """One line for a command line the parser refused, in whrelay's words: the option (or
    argument) first, then what is wrong with the value as typed (``--port: 'abc' is not a whole
    number``), never the wording of the validation library Typer checks values with."""
    if isinstance(error, click_errors.MissingParameter):
        return f"{param_name(error.param) or 'an argument'} is missing"
    if isinstance(error, click_errors.BadParameter):
        detail = error.message
        errors = getattr(error.__cause__, "errors", None)  # pydantic's ValidationError
        if callable(errors):
            found = errors()
            if found:
                detail = value_problem(found[0])
        detail = detail.removeprefix("Value error, ").rstrip(".")
        name = param_name(error.param)
        return f"{name}: {detail}" if name else detail
    if isinstance(error, click_errors.BadOptionUsage) and "requires an argument" in error.message:
        return f"{error.option_name} needs a value"
    if isinstance(error, click_errors.BadOptionUsage) and "does not take a value" in error.message:
        return f"{error.option_name} takes no value"
    return error.format_message()


def param_name(param: object) -> str | None:
    """How an option or argument is named to the user: its long option (``--port``), or an
    argument's metavar (``ID``)."""
    opts = [o for o in getattr(param, "opts", ()) if isinstance(o, str)]
    if getattr(param, "param_type_name", None) == "argument":
        metavar = getattr(param, "metavar", None) or (opts[0] if opts else "")
        return metavar.strip("[].").upper() or None
    long = [o for o in opts if o.startswith("--")]
    return max(long, key=len) if long else (opts[0] if opts else None)


_WHOLE = {"int_parsing", "int_type", "int_from_float"}
_NUMBER = {"float_parsing", "float_type", "finite_number"}
_BOUNDS = {
    "greater_than_equal": ("ge", "less than {}, the smallest allowed"),
    "greater_than": ("gt", "not more than {}"),
    "less_than_equal": ("le", "more than {}, the largest allowed"),
    "less_than": ("lt", "not less than {}"),
}


def value_problem(found: dict[str, object]) -> str:
    """What is wrong with a value, from the first error Typer's validation found."""
    kind = str(found.get("type", ""))
    given = found.get("input")
    shown = repr(given) if isinstance(given, str) else str(given)
    if kind in _WHOLE:
        return f"{shown} is not a whole number"
    if kind in _NUMBER:
        return f"{shown} is not a number"
    if kind == "bool_parsing":
        return f"{shown} is not true or false"
    if kind in _BOUNDS:
        key, text = _BOUNDS[kind]
        context = found.get("ctx")
        bound = context.get(key) if isinstance(context, dict) else None
        return f"{shown} is {text.format(bound)}"
    message = str(found.get("msg", "not valid"))
    if message.startswith("Input should be "):
        return f"{shown} is not {message.removeprefix('Input should be ')}"
    return message


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; every error leaves as one line on stderr and an ``ExitCode``."""
    command = build()
    try:
        result = command.main(args=argv, prog_name="whrelay", standalone_mode=False)
    except WhrelayError as error:
        _fail(error.message, error.hint, error.exit_code)
    except click_errors.NoArgsIsHelpError:
        sys.exit(ExitCode.OK)  # the help has been printed
    except click_errors.UsageError as error:
        context = error.ctx.command_path if error.ctx else "whrelay"
        _fail(usage_message(error), f"see '{context} --help'", ExitCode.USAGE)
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
