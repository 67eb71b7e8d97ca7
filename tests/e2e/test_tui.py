"""``whrelay tui`` and ``listen --tui`` in a real terminal (tmux), and their command lines."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.captures import older_database, schema_version
from tests.helpers.forwarding import https_target
from tests.helpers.processes import ROOT, run_whrelay, whrelay_cmd
from tests.helpers.targetserver import TargetServer, outward_address
from tests.helpers.tui import SeededTui, seed_tui
from tests.helpers.wait import wait_until
from whrelay.storage.migrations import SCHEMA_VERSION

TMUX = shutil.which("tmux")


class Terminal:
    """A tmux server of this test's own (its own socket), one 120x40 session."""

    def __init__(self, folder: Path) -> None:
        assert TMUX is not None
        self.tmux = [TMUX, "-u", "-S", str(folder / "tmux.sock")]  # -u: UTF-8, whatever the locale
        self.exit_file = folder / "exit-status"

    def start(self, *args: str, env: dict[str, str] | None = None) -> None:
        # The suite's COLUMNS=200 would size the app past the terminal: a terminal's own size.
        given = [f"{name}={value}" for name, value in (env or {}).items()]
        run = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", *given, *whrelay_cmd(*args)])
        command = f"{run}; echo $? > {shlex.quote(str(self.exit_file))}"
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-x", "120", "-y", "40", "-s", "t", command],
            check=True,
            cwd=ROOT,
            timeout=30,
        )

    def screen(self) -> str:
        result = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", "t"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        return result.stdout.decode(errors="replace")

    def tmux_command(self, *args: str) -> str:
        result = subprocess.run([*self.tmux, *args], capture_output=True, check=True, timeout=30)
        return result.stdout.decode()

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "t", *keys], check=True, timeout=30)

    def showing(self, text: str) -> str | None:
        """The screen, once it shows ``text``."""
        screen = self.screen()
        return screen if text in screen else None

    def exit_status(self, timeout: float = 30) -> int:
        def written() -> str | None:
            return self.exit_file.read_text().strip() or None if self.exit_file.exists() else None

        return int(wait_until(written, "whrelay to exit", timeout))

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, check=False, timeout=30)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if TMUX is None:
        pytest.skip("tmux is not installed (.ci/run installs it with apt-get)")
    opened = Terminal(tmp_path)
    yield opened
    opened.close()


@pytest.mark.slow
def test_whrelay_tui_in_a_real_terminal_shows_the_history_and_quits_on_q(
    seeded_tui: SeededTui, terminal: Terminal
) -> None:
    terminal.start("tui", "--db", str(seeded_tui.db))
    wait_until(lambda: terminal.showing("1 of 10 webhooks"), "the first screen", 60)
    screen = wait_until(lambda: terminal.showing("q quit"), "the keys at the bottom")
    lines = screen.splitlines()
    assert lines[1].split()[:4] == ["ID", "RECEIVED", "(UTC)", "METHOD"]
    assert lines[2].split()[:5] == ["10", "09-21", "14:23:30", "POST", "/hooks/standard"]
    assert "/hooks/[bold]x[/]/[@cl…" in screen
    assert "● following" in screen
    assert "q quit" in screen
    terminal.keys("j")
    wait_until(lambda: terminal.showing("2 of 10 webhooks"), "the cursor to move")
    # Typed at once, as a user types or pastes: what follows / goes into the search field.
    terminal.keys("/evt_1TuiTest")
    wait_until(lambda: terminal.showing("2 matches in the whole history"), "the search")
    terminal.keys("Escape")
    wait_until(lambda: terminal.showing("● following"), "the whole history again")
    terminal.keys("q")
    assert terminal.exit_status() == 0


def test_whrelay_tui_upgrades_an_older_database_and_shows_it(
    tmp_path: Path, terminal: Terminal
) -> None:
    """A database an older whrelay left, no listen running: the TUI upgrades it and opens,
    instead of refusing it until a listen runs once."""
    db = older_database(tmp_path / "old.db", 5)
    terminal.start("tui", "--db", str(db))
    screen = wait_until(lambda: terminal.showing("1 of 1 webhook"), "the first screen", 60)
    assert "/old" in screen
    terminal.keys("q")
    assert terminal.exit_status() == 0
    assert schema_version(db) == SCHEMA_VERSION


@pytest.mark.slow
def test_c_copies_through_the_terminal_and_ctrl_e_edits_the_body_in_the_editor(
    seeded_tui: SeededTui, terminal: Terminal, tmp_path: Path
) -> None:
    """In a real terminal: ``c`` writes OSC 52, which tmux (``set-clipboard on``) keeps as its
    buffer: the curl command ``export`` writes; ``ctrl+e`` in the edit screen hands the body
    to ``$EDITOR`` (here a script that changes it) with the app suspended, and reads it back."""
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/4200/7777/' \"$1\"\n")
    editor.chmod(0o755)
    terminal.start("tui", "--db", str(seeded_tui.db), env={"EDITOR": str(editor), "VISUAL": ""})
    terminal.tmux_command("set-option", "-g", "set-clipboard", "on")
    wait_until(lambda: terminal.showing("1 of 10 webhooks"), "the first screen", 60)
    terminal.keys("jjjjjjjj")  # #2, the Stripe webhook
    wait_until(lambda: terminal.showing("9 of 10 webhooks"), "the cursor on #2")
    terminal.keys("c")
    wait_until(lambda: terminal.showing("copied to the clipboard"), "the notification")
    exported = run_whrelay(
        "export", str(seeded_tui.stripe), "--format", "curl", "--db", str(seeded_tui.db)
    )
    buffer = wait_until(lambda: terminal.tmux_command("show-buffer") or None, "the buffer")
    assert buffer == exported.stdout.decode()
    terminal.keys("e")
    wait_until(lambda: terminal.showing("Edit #2 and send it again"), "the edit screen")
    terminal.keys("C-e")

    def edited() -> str | None:  # the body and its label are redrawn apart: both
        shown = terminal.showing("7777")
        return shown if shown is not None and "the body as" in shown else None

    screen = wait_until(edited, "the body back from the editor")
    assert "4200" not in screen
    assert "the body as" in screen
    terminal.keys("Escape")
    wait_until(lambda: terminal.showing("q quit"), "the list again")
    terminal.keys("q")
    assert terminal.exit_status() == 0


@pytest.mark.slow
def test_whrelay_tui_with_ca_file_replays_to_a_self_signed_https_target(
    tmp_path: Path, terminal: Terminal
) -> None:
    """``whrelay tui --ca-file CERT`` (which the fast start leaves to the CLI): ``r`` on a
    webhook once forwarded to a self-signed https target is delivered."""
    with https_target(tmp_path / "tls") as target:
        seeded = seed_tui(tmp_path / "tui.db", target=target.url)
        cert = str(tmp_path / "tls" / "cert.pem")
        terminal.start("tui", "--db", str(seeded.db), "--ca-file", cert)
        wait_until(lambda: terminal.showing("1 of 10 webhooks"), "the first screen", 60)
        terminal.keys("jjjjjjjj")  # #2, the Stripe webhook
        wait_until(lambda: terminal.showing("9 of 10 webhooks"), "the cursor on #2")
        terminal.keys("r")
        wait_until(lambda: target.requests, "the replay to reach the target")
        wait_until(lambda: terminal.showing("replayed"), "the notification")
        terminal.keys("q")
        assert terminal.exit_status() == 0
    assert [r.path_qs for r in target.requests] == ["/hooks/stripe"]


@pytest.mark.skipif(outward_address() is None, reason="this machine has no address but loopback")
def test_whrelay_tui_with_allow_remote_replays_to_a_target_on_another_machine(
    tmp_path: Path, terminal: Terminal
) -> None:
    """``whrelay tui --allow-remote``, as ``replay --allow-remote``: ``r`` on a webhook once
    forwarded to a target that is not loopback is delivered (without it, refused)."""
    address = outward_address()
    assert address is not None
    with TargetServer(host=address) as remote:
        seeded = seed_tui(tmp_path / "tui.db", target=remote.url)
        terminal.start("tui", "--db", str(seeded.db), "--allow-remote")
        wait_until(lambda: terminal.showing("1 of 10 webhooks"), "the first screen", 60)
        terminal.keys("jjjjjjjj")  # #2, the Stripe webhook
        wait_until(lambda: terminal.showing("9 of 10 webhooks"), "the cursor on #2")
        terminal.keys("r")
        wait_until(lambda: remote.requests, "the replay to reach the target")
        wait_until(lambda: terminal.showing("replayed"), "the notification")
        terminal.keys("q")
        assert terminal.exit_status() == 0
    assert [r.path_qs for r in remote.requests] == ["/hooks/stripe"]


def test_tui_insecure_and_ca_file_are_checked_as_replay_checks_them(
    seeded_tui: SeededTui, tmp_path: Path
) -> None:
    """A CA file that is not one is refused in one line, before the terminal is needed; the
    options parse (``--insecure`` then only lacks a terminal here)."""
    not_pem = tmp_path / "cert.pem"
    not_pem.write_text("not a certificate\n")
    db = ("--db", str(seeded_tui.db))
    for path, said in [
        (tmp_path / "none.pem", f"--ca-file {tmp_path / 'none.pem'}: no such file"),
        (not_pem, f"--ca-file {not_pem} holds no PEM certificate"),
        (tmp_path, f"--ca-file {tmp_path} is a folder, not a file of PEM certificates"),
    ]:
        result = run_whrelay("tui", *db, "--ca-file", str(path))
        assert result.returncode == 2, result
        assert result.stderr.decode().splitlines()[0] == f"whrelay: error: {said}"
        assert b"Traceback" not in result.stderr
    insecure = run_whrelay("tui", "--insecure", *db)
    assert insecure.returncode == 2
    assert insecure.stderr.startswith(b"whrelay: error: whrelay tui needs a terminal")


@pytest.mark.slow
def test_whrelay_tui_on_a_missing_database_says_so_before_drawing(
    tmp_path: Path, terminal: Terminal
) -> None:
    terminal.start("tui", "--db", str(tmp_path / "none.db"))
    assert terminal.exit_status() == 3
    assert not (tmp_path / "none.db").exists()


def test_the_tui_needs_a_terminal(seeded_tui: SeededTui) -> None:
    for args in (("tui",), ("listen", "--port", "0", "--tui")):
        result = run_whrelay(*args, "--db", str(seeded_tui.db))
        assert result.returncode == 2, result
        assert result.stderr.decode().splitlines()[0] == (
            f"whrelay: error: {'whrelay tui' if args[0] == 'tui' else 'listen --tui'} needs a "
            "terminal (stdin and stdout are not one)"
        )
        assert b"Traceback" not in result.stderr


def test_listen_tui_and_output_are_two_ways_of_showing(tmp_path: Path) -> None:
    result = run_whrelay("listen", "--tui", "--output", "json", "--db", str(tmp_path / "h.db"))
    assert result.returncode == 2
    assert b"--tui and --output are two ways of showing" in result.stderr
    assert not (tmp_path / "h.db").exists()


def test_tui_command_lines_the_cli_parses_get_its_errors(tmp_path: Path) -> None:
    folder = run_whrelay("tui", "--db", str(tmp_path))
    assert folder.returncode == 2
    assert b"is a directory" in folder.stderr
    unknown = run_whrelay("tui", "--no-such-option")
    assert unknown.returncode == 2
    assert unknown.stderr.decode().startswith("whrelay: error: No such option: --no-such-option")
    helped = run_whrelay("tui", "--help")
    assert helped.returncode == 0
    assert b"--db" in helped.stdout
