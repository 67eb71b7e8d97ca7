"""``whrelay/cli/main.py``: the command tree as ``whrelay --help`` shows it."""

from __future__ import annotations

import typer


def _commands() -> dict[str, object]:
    from whrelay.cli.main import app

    root = typer.main.get_command(app)
    found: dict[str, object] = {}
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        found[name] = command
        for sub, inner in getattr(command, "commands", {}).items():
            found[f"{name} {sub}"] = inner
    return found


def test_each_command_is_summed_up_in_one_line_in_the_command_list() -> None:
    """``whrelay --help`` lists each command by its help's first paragraph, line breaks kept
    (rich markup): a first paragraph over two source lines is a summary broken mid-sentence."""
    for name, command in _commands().items():
        first = (getattr(command, "help", None) or "").split("\n\n")[0].strip()
        assert first, name
        assert "\n" not in first, (name, first)


def test_no_help_shows_notes_meant_for_the_code() -> None:
    """What follows a form feed is for the code's readers; nothing of it reaches ``--help``."""
    from typer.testing import CliRunner

    from whrelay.cli.main import app

    for name in _commands():
        shown = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=200).output
        assert "cli/" not in shown and ".py" not in shown, (name, shown)
