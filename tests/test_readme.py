"""The README tours every command, with examples, and the CHANGELOG stays in keep-a-changelog
form: both are read against the Typer app itself, so a new command without docs fails here."""

from __future__ import annotations

import re
from typing import Any

import typer

from tests.conftest import ROOT
from whrelay.cli.main import app

README = (ROOT / "README.md").read_text()
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()


def commands() -> list[str]:
    """Every command of the app, a group's subcommands as ``config show``."""
    found: list[str] = []
    root: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    for name, command in sorted(root.items()):
        found.append(name)
        found += [f"{name} {sub}" for sub in sorted(getattr(command, "commands", {}))]
    return found


def code_lines(markdown: str) -> list[str]:
    """The lines inside fenced code blocks."""
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def test_the_app_has_the_commands_the_design_names() -> None:
    """So that the two tests below cannot pass by walking nothing."""
    assert {"listen", "list", "show", "replay", "verify", "config", "config show"} <= set(
        commands()
    )


def test_every_command_has_a_readme_section() -> None:
    headings = [line for line in README.splitlines() if line.startswith("#")]
    top = {name.split()[0] for name in commands()}
    missing = [name for name in sorted(top) if not any(f"`whrelay {name}" in h for h in headings)]
    assert missing == [], f"no README heading names these commands: {missing}"


def test_every_command_has_an_example_in_the_readme() -> None:
    examples = code_lines(README)
    missing = [
        name
        for name in commands()
        if not any(
            re.search(rf"(^|[\s/=])whrelay {re.escape(name)}(\s|$)", line) for line in examples
        )
    ]
    assert missing == [], f"no example in the README runs these commands: {missing}"


def test_the_readme_has_the_recipes() -> None:
    recipes = README[README.index("## Recipes") :]
    recipes = recipes[: recipes.index("\n## ", 1)]
    for needed in ("Stripe", "GitHub", "Slack", "Twilio", "ngrok", "cloudflared", "--public-url"):
        assert needed in recipes, needed
    assert "listen --port 0 -o json" in recipes and "list --json" in recipes  # a test's sink
    assert "whrelay export" in recipes and "whrelay import" in recipes  # between machines


def test_the_changelog_keeps_the_keep_a_changelog_form() -> None:
    lines = CHANGELOG.splitlines()
    assert lines[0] == "# Changelog"
    releases = [line for line in lines if line.startswith("## ")]
    assert releases and releases[0] in ("## Unreleased", "## [Unreleased]")
    kinds = {line[4:] for line in lines if line.startswith("### ")}
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kinds
    assert not [line for line in lines if line.startswith("#### ")]
