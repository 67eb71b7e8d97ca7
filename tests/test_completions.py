"""Completion scripts cannot drift from the app, and completion really completes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from whrelay.cli.completions import COMPLETE_VAR, SHELLS, render


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_committed_completion_script_matches_a_fresh_one(shell: str) -> None:
    committed = (ROOT / "completions" / SHELLS[shell]).read_text()
    assert committed == render(shell), (
        f"completions/{SHELLS[shell]} is stale: run python -m whrelay.cli.completions"
    )


def complete(words: str) -> list[str]:
    """What bash completion offers after ``words`` (the last word is the one completed)."""
    env = {
        **os.environ,
        COMPLETE_VAR: "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-m", "whrelay"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_commands_complete() -> None:
    offered = complete("whrelay li")
    assert "list" in offered
    assert "listen" in offered
    assert "show" not in offered


def test_options_complete() -> None:
    assert "--durability" in complete("whrelay listen --dur")
    assert "--status" in complete("whrelay list --sta")


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        ("whrelay listen --provider st", ["standard-webhooks", "stripe"]),
        ("whrelay verify --provider gi", ["github", "gitlab"]),
        ("whrelay list --provider s", ["sendgrid", "shopify", "slack", "square",
                                       "standard-webhooks", "stripe", "svix"]),
        ("whrelay send 3000 --provider n", ["none"]),
        ("whrelay replay --sign-as pad", ["paddle"]),
    ],
)  # fmt: skip
def test_provider_completes_provider_names(words: str, offered: list[str]) -> None:
    assert sorted(complete(words)) == offered
