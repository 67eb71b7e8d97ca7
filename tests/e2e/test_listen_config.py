"""``whrelay listen`` run with a config file."""

from __future__ import annotations

import asyncio
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
