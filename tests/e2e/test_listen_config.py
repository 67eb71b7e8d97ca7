"""``whrelay listen`` run with a config file."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.config_files import write_config
from tests.helpers.processes import ROOT, start_listener, whrelay_cmd
from tests.helpers.rawhttp import request_bytes, send_raw
from tests.helpers.targetserver import target_server


def test_listen_runs_with_the_file_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with target_server() as target:
        path = write_config(
            tmp_path,
            f'[listen]\nforward = ["{target.url}"]\nheaders = ["X-From-Config: yes"]\n'
            'output = "pretty"\n',
            monkeypatch,
        )
        listener = start_listener(tmp_path / "hooks.db")  # --output json on its command line
        try:
            assert listener.events[0]["config"] == str(path)
            webhook_id = asyncio.run(
                send_raw(
                    listener.url,
                    request_bytes(
                        "POST", "/hooks", [("Host", "x"), ("Content-Length", "2")], b"{}"
                    ),
                )
            )
            [arrived] = target.wait_for(1)
            assert arrived.header("X-From-Config") == "yes"
            assert arrived.body == b"{}"
            assert webhook_id == 1
        finally:
            assert listener.stop() == 130


def test_the_banner_names_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, "[listen]\nport = 0\n", monkeypatch)
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--output", "compact", "--db", str(tmp_path / "h.db")),
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()
        assert f", config {path})" in first, first
    finally:
        proc.terminate()
        proc.wait(20)


def _refused(tmp_path: Path, *args: str, **env: str) -> tuple[str, str]:
    """``whrelay listen ARGS`` with the variables ``env`` set: its error and its hint (empty
    when it has none)."""
    result = subprocess.run(
        whrelay_cmd("listen", "--port", "0", *args),
        capture_output=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    assert result.returncode == 2, result.stderr
    error, *hint = result.stderr.decode().splitlines()
    assert len(hint) <= 1, hint
    assert not (tmp_path / "hooks.db").exists()
    return error, "".join(hint)


REMOTE = "http://192.0.2.1:3000"
"""A target not on this machine (an address for documentation: nothing is sent to it)."""


def test_a_bad_target_on_the_command_line_hints_at_no_variable(tmp_path: Path) -> None:
    error, hint = _refused(tmp_path, "-f", "ftp://x", WHRELAY_DB=str(tmp_path / "hooks.db"))
    assert error == "whrelay: error: target 'ftp://x': only http and https targets are supported"
    assert hint == "", hint


def test_a_target_from_the_environment_names_its_variable_only(tmp_path: Path) -> None:
    error, hint = _refused(
        tmp_path,
        WHRELAY_FORWARD=REMOTE,
        WHRELAY_DB=str(tmp_path / "hooks.db"),
        WHRELAY_TIMEOUT="5s",
    )
    assert error.startswith(f"whrelay: error: target {REMOTE} is not on this machine"), error
    assert hint.endswith("; set by WHRELAY_FORWARD"), hint
    assert "WHRELAY_DB" not in hint and "WHRELAY_TIMEOUT" not in hint, hint


def test_a_target_from_the_config_file_names_its_key_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, f'[listen]\nport = 0\nforward = ["{REMOTE}"]\n', monkeypatch)
    error, hint = _refused(tmp_path, WHRELAY_DB=str(tmp_path / "hooks.db"))
    assert error.startswith(f"whrelay: error: target {REMOTE} is not on this machine"), error
    assert hint.endswith(f"; set by listen.forward in {path}:3"), hint
    assert "WHRELAY_DB" not in hint and ":2" not in hint, hint


def test_a_route_target_from_the_config_file_names_the_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        tmp_path, f'[[listen.route]]\npath = "/a/*"\ntarget = "{REMOTE}"\n', monkeypatch
    )
    error, hint = _refused(tmp_path, "-f", "3000", WHRELAY_DB=str(tmp_path / "hooks.db"))
    assert error.startswith(f"whrelay: error: target {REMOTE} is not on this machine"), error
    assert hint.endswith(f"; set by listen.route in {path}:1"), hint


def test_a_database_folder_missing_names_the_variable_that_named_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "hooks.db"
    error, hint = _refused(tmp_path, "-f", "3000", WHRELAY_DB=str(missing), WHRELAY_TIMEOUT="5s")
    assert error == f"whrelay: error: the folder of the database {missing} does not exist"
    assert hint.endswith("; set by WHRELAY_DB"), hint
    assert "WHRELAY_TIMEOUT" not in hint
