"""Completion scripts cannot drift from the app, and completion really completes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import ROOT
from whrelay.cli.common import COMPLETED_IDS
from whrelay.cli.completions import COMPLETE_VAR, SHELLS, render
from whrelay.core.models import Capture
from whrelay.storage import Store


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


@pytest.mark.slow
def test_commands_complete() -> None:
    offered = complete("whrelay li")
    assert "list" in offered
    assert "listen" in offered
    assert "show" not in offered


@pytest.mark.slow
def test_options_complete() -> None:
    assert "--durability" in complete("whrelay listen --dur")
    assert "--status" in complete("whrelay list --sta")


@pytest.mark.slow
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


# --- webhook ids, from the database ------------------------------------------------------------


def seed_webhooks(db: Path, count: int) -> None:
    """``count`` webhooks; the one with id 2 arrived last, the others in id order."""
    base = 1_750_000_000_000_000
    captures = [
        Capture("POST", f"/hooks/{n}", "", ((b"X-GitHub-Event", b"push"),), b"{}", "1.1", None,
                base + (10_000 if n == 2 else n))
        for n in range(1, count + 1)
    ]  # fmt: skip
    with Store(db) as store:
        store.insert_webhooks(captures)


def complete_as(shell: str, words: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run whrelay's completion for ``shell`` after ``words`` (a trailing space: a new word)."""
    protocol = (
        {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (not words.endswith(" ")))}
        if shell == "bash"
        else {"_TYPER_COMPLETE_ARGS": words}
    )
    return subprocess.run(
        [sys.executable, "-m", "whrelay"],
        env={**os.environ, COMPLETE_VAR: f"complete_{shell}", **protocol, **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


@pytest.mark.parametrize("command", ["show", "replay", "verify", "export", "cancel"])
def test_webhook_ids_complete_newest_first_from_the_database(tmp_path: Path, command: str) -> None:
    db = tmp_path / "hooks.db"
    seed_webhooks(db, 4)
    result = complete_as("bash", f"whrelay {command} --db {db} ")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == ["2", "4", "3", "1"]


@pytest.mark.slow
def test_ids_are_described_by_method_path_and_event(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    seed_webhooks(db, 2)
    result = complete_as("zsh", "whrelay show ", WHRELAY_DB=str(db))
    assert '"2":"POST /hooks/2 push"' in result.stdout
    assert '"1":"POST /hooks/1 push"' in result.stdout
    fish = complete_as(
        "fish", "whrelay replay ", WHRELAY_DB=str(db), _TYPER_COMPLETE_FISH_ACTION="get-args"
    )
    assert fish.stdout.splitlines()[:2] == ["2\tPOST /hooks/2 push", "1\tPOST /hooks/1 push"]


@pytest.mark.slow
def test_what_is_typed_narrows_the_ids_and_at_most_fifty_are_offered(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    seed_webhooks(db, 120)
    every = complete_as("bash", f"whrelay show --db {db} ").stdout.split()
    assert len(every) == COMPLETED_IDS
    assert every[:3] == ["2", "120", "119"]
    ones = complete_as("bash", f"whrelay show --db {db} 11").stdout.split()
    assert ones == ["119", "118", "117", "116", "115", "114", "113", "112", "111", "110", "11"]


@pytest.mark.slow
def test_no_database_completes_nothing_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "hooks.db"
    for words in (f"whrelay show --db {missing} ", "whrelay export "):
        result = complete_as("bash", words)
        assert (result.returncode, result.stdout.split(), result.stderr) == (0, [], "")
    assert not (tmp_path / "none").exists()
    assert not (tmp_path / "data").exists()  # WHRELAY_DATA_DIR, the default database's folder
