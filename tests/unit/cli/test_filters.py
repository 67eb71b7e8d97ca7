"""``whrelay/cli/filters.py``: one set of selecting options for every command that selects."""

from __future__ import annotations


def test_list_replay_export_and_cancel_take_the_same_filters_meaning_the_same() -> None:
    """One definition: each option with the same name, type, choices and help everywhere."""
    import typer

    from whrelay.cli.filters import FILTER_OPTIONS
    from whrelay.cli.main import app

    root = typer.main.get_command(app)
    described = {}
    for name in ("list", "replay", "export", "cancel"):
        command = root.commands[name]  # type: ignore[attr-defined]
        options = {
            opt: (param.name, param.type_descriptor.annotation, param.help)
            for param in command.params
            for opt in param.opts
            if opt in FILTER_OPTIONS
        }
        assert sorted(options) == sorted(FILTER_OPTIONS), name
        described[name] = options
    assert described["replay"] == described["list"] == described["export"]
    assert described["cancel"] == described["list"]
