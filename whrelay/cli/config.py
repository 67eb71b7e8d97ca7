"""``whrelay config show|path|validate``: the config file, and the settings in force."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from whrelay.cli.common import JsonOption, stdout, write_json
from whrelay.core.errors import ExitCode, say

EXAMPLES = """
[bold]Examples[/bold]

  Which file is in use, then check it (every problem, with its line):
    whrelay config path
    whrelay config validate
  What listen would run with, and where each value comes from:
    whrelay config show
    WHRELAY_PORT=9000 whrelay config show --json | jq .settings.port
"""

config_app = typer.Typer(
    name="config",
    help="The config file (whrelay.toml) and the settings in force.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXAMPLES,
)


@config_app.command("path", epilog=EXAMPLES)
def config_path() -> None:
    """Print the config file in use ($WHRELAY_CONFIG, ./whrelay.toml, or the user's)."""
    from whrelay.core import paths

    found = paths.config_path()
    if found is not None:
        print(found)
        return
    places = " then ".join(str(p) for p in paths.config_candidates())
    say(f"no config file: whrelay looks for {places} (WHRELAY_CONFIG names another)")


@config_app.command("validate", epilog=EXAMPLES)
def config_validate(
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[FILE]",
            help="The file to check (default: the one in use, as 'config path' says).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
) -> int:
    """Check the config file and WHRELAY_* variables: every problem, exit 2 if any."""
    from whrelay.core import configfile, paths
    from whrelay.receiver.settings import config_problems

    path = file or paths.config_path()
    problems = configfile.from_environment(os.environ)[1]
    if path is not None:
        problems = config_problems(configfile.load(path)) + problems
    for problem in problems:
        say(f"error: {problem}")
        if problem.hint:
            say(f"hint: {problem.hint}", prefix="  ")
    if problems:
        say(f"{len(problems)} problem(s)")
        return ExitCode.USAGE
    if path is None:
        say("no config file to check (whrelay config path says where one goes)")
    else:
        print(f"{path}: ok")
    return ExitCode.OK


@config_app.command("show", epilog=EXAMPLES)
def config_show(json_output: JsonOption = False) -> None:
    """Print the settings listen would run with, and where each comes from."""
    from whrelay.core.configfile import find
    from whrelay.receiver.settings import resolve_listen

    config = find()
    resolved = resolve_listen({}, config, os.environ)
    shown = {key: _plain(value) for key, value in resolved.values.items()}
    if json_output:
        write_json(
            {
                "config": None if config is None else str(config.path),
                "settings": {
                    key: {"value": value, "source": resolved.sources[key]}
                    for key, value in shown.items()
                },
            }
        )
        return
    _show_table(None if config is None else str(config.path), shown, resolved.sources)


def _plain(value: Any) -> Any:
    """A value as JSON shows it: tuples as lists, paths and routes as text."""
    from whrelay.core.targets import RouteSpec

    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, RouteSpec):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _show_table(config: str | None, shown: dict[str, Any], sources: dict[str, str]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = stdout()
    out.print(Text(f"config file: {config or 'none'}"))
    table = Table(box=None, pad_edge=False)
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("from", overflow="fold")
    for key, value in shown.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value)) if value else "-"
        text = "-" if value is None else str(value).lower() if isinstance(value, bool) else value
        source = sources[key]
        table.add_row(
            key, Text(str(text)), Text(source, style="dim" if source == "default" else "")
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app)
