"""Import hygiene: the core stays free of network, terminal and CLI libraries, and the
read-only commands start without loading the receiver's or a TUI's dependencies.

Every check runs in a fresh interpreter, so nothing this test process imported leaks in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers.processes import ROOT
from whrelay.core.models import Capture
from whrelay.storage import Store


def _contract(contract_id: str) -> dict[str, object]:
    """An import-linter contract of ``pyproject.toml``: the architecture is written there once."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("id") == contract_id)


HEADLESS = [str(m) for m in _contract("headless")["source_modules"]]  # type: ignore[attr-defined]
"""The packages below the front ends and their Rich views: no terminal or CLI library."""
OFFLINE = [str(m) for m in _contract("offline")["source_modules"]]  # type: ignore[attr-defined]
"""The packages that need no socket: no network library either (the core among them)."""
UI_LIBRARIES = {"textual", "typer", "rich"}
NETWORK_LIBRARIES = {"aiohttp"}

IMPORT_AND_REPORT = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""

RUN_CLI_AND_REPORT = """
import json, sys
report, argv = sys.argv[1], sys.argv[2:]
from whrelay.cli.main import main
try:
    main(argv)
except SystemExit as done:
    code = done.code
else:
    code = None
with open(report, "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def _top_level(modules: list[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def imported_by(*modules: str) -> list[str]:
    """``sys.modules`` of a fresh interpreter after importing ``modules``."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_REPORT, *modules],
        capture_output=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.slow
@pytest.mark.parametrize("module", OFFLINE)
def test_core_module_imports_no_network_or_ui_library(module: str) -> None:
    loaded = imported_by(module)
    assert module in loaded
    assert not (_top_level(loaded) & (UI_LIBRARIES | NETWORK_LIBRARIES)), sorted(
        name for name in loaded if name.partition(".")[0] in UI_LIBRARIES | NETWORK_LIBRARIES
    )
    assert not [name for name in loaded if name.startswith(("whrelay.cli", "whrelay.receiver"))]


@pytest.mark.slow
def test_all_core_modules_together_import_no_network_or_ui_library() -> None:
    loaded = imported_by(*OFFLINE)
    assert not (_top_level(loaded) & (UI_LIBRARIES | NETWORK_LIBRARIES))
    assert not [name for name in loaded if name.startswith("whrelay.render.webhooks")]


def test_the_contracts_cover_every_package() -> None:
    """A package added to whrelay is placed in the layers (and so in the architecture)."""
    layers = " ".join(str(layer) for layer in _contract("layers")["layers"])  # type: ignore[attr-defined]
    packages = {p.name for p in (ROOT / "whrelay").iterdir() if (p / "__init__.py").exists()}
    assert {name for name in packages if f"whrelay.{name}" not in layers} == set()
    assert set(OFFLINE) <= set(HEADLESS)


@pytest.mark.slow
def test_receiver_imports_no_ui() -> None:
    loaded = imported_by("whrelay.receiver.app")
    assert "aiohttp" in loaded  # the check is meaningful: the receiver did load
    assert not (_top_level(loaded) & UI_LIBRARIES), sorted(
        name for name in loaded if name.partition(".")[0] in UI_LIBRARIES
    )
    assert not [
        name for name in loaded if name.startswith(("whrelay.cli", "whrelay.render.webhooks"))
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["list"],
        ["list", "--json"],
        ["show", "--help"],
        ["list", "--help"],
        ["show", "1"],
        ["tui", "--help"],
        ["listen", "--help"],
    ],
    ids=" ".join,
)
def test_read_only_commands_do_not_import_the_receiver_or_a_tui(
    tmp_path: Path, argv: list[str]
) -> None:
    report = tmp_path / "report.json"
    db: list[str] = []
    if argv[0] in ("list", "show") and "--help" not in argv:
        with Store(tmp_path / "hooks.db") as store:  # they exit 3 without one
            store.insert_webhooks([Capture("POST", "/", "", (), b"{}", "1.1", None, 1)])
        db = ["--db", str(tmp_path / "hooks.db")]
    result = subprocess.run(
        [sys.executable, "-c", RUN_CLI_AND_REPORT, str(report), *argv, *db],
        capture_output=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(report.read_text())
    assert data["code"] in (0, None), (data["code"], result.stderr.decode())
    loaded: list[str] = data["modules"]
    assert "whrelay.cli.main" in loaded  # the CLI really ran in that interpreter
    assert not (_top_level(loaded) & {"aiohttp", "textual"}), sorted(
        name for name in loaded if name.partition(".")[0] in {"aiohttp", "textual"}
    )
    assert not [name for name in loaded if name.startswith("whrelay.receiver")]


@pytest.mark.slow
def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), lint_imports
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        capture_output=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output
    assert "broken" in output.lower()  # the summary line: "N kept, 0 broken."
    assert " 0 broken" in output


@pytest.mark.slow
def test_verify_and_sign_import_neither_aiohttp_nor_textual(tmp_path: Path) -> None:
    """A real verify of a GitHub signature, and a real sign, in one fresh interpreter each.

    Nor msgspec: they detect senders from headers, and start faster without it."""
    import hashlib
    import hmac

    body = tmp_path / "body.json"
    body.write_bytes(b'{"zen":"hi"}')
    signature = "sha256=" + hmac.new(b"s3cret", body.read_bytes(), hashlib.sha256).hexdigest()
    commands = [
        [
            "verify",
            "--body-file",
            str(body),
            "-H",
            f"X-Hub-Signature-256: {signature}",
            "--provider",
            "github",
            "--secret",
            "s3cret",
        ],
        ["sign", "--provider", "stripe", "--secret", "whsec_x", "--data", "{}"],
    ]
    for argv in commands:
        report = tmp_path / "report.json"
        result = subprocess.run(
            [sys.executable, "-c", RUN_CLI_AND_REPORT, str(report), *argv],
            capture_output=True,
            check=False,
            cwd=ROOT,
            timeout=60,
        )
        data = json.loads(report.read_text())
        assert data["code"] in (0, None), (argv, result.stdout, result.stderr)
        loaded: list[str] = data["modules"]
        assert "whrelay.signatures.base" in loaded  # a scheme really ran
        assert not (_top_level(loaded) & {"aiohttp", "textual", "msgspec"}), argv


@pytest.mark.slow
def test_the_tui_package_loads_textual_only_when_run() -> None:
    """``whrelay.tui`` itself is light: the CLI imports it to launch the app."""
    loaded = imported_by("whrelay.tui")
    assert "whrelay.tui" in loaded
    assert "textual" not in _top_level(loaded)
    assert "textual" in _top_level(imported_by("whrelay.tui.app"))
