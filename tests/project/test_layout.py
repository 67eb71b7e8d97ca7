"""The tests mirror the code (tests/README.md): every test file maps to a module of ``whrelay/``
or to a command of the CLI, and no test file imports from another one.

- ``tests/unit/<package>/test_<module>[_<aspect>].py`` <-> ``whrelay/<package>/<module>.py``
- ``tests/e2e/test_<command>[_<aspect>].py`` <-> ``whrelay <command>`` (``test_whrelay.py``:
  the program itself: help, version, exit codes, what every command shares)
- ``tests/project/``: the few checks of the project as a whole, each listed in ``CROSS_CUTTING``
  with the reason it has no single module or command.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import typer

from tests.helpers.processes import ROOT
from whrelay.cli.main import app

TESTS = ROOT / "tests"
PACKAGE = ROOT / "whrelay"

CROSS_CUTTING = {
    "test_imports.py": "the layers contract (pyproject.toml): every package, through subprocesses",
    "test_readme.py": "README.md and CHANGELOG.md against the app: every command documented",
    "test_completions.py": "the committed shell completion scripts and completing every command",
    "test_secret_redaction.py": "no secret stored or shown, by listen, replay, show or the core",
    "test_layout.py": "this check: the tests' own layout",
}
"""tests/project/ files, each with why it maps to no one module or command."""


def commands() -> set[str]:
    """The CLI's commands, as ``whrelay --help`` lists them."""
    root: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    return set(root)


def aspect_of(stem: str, names: set[str]) -> str | None:
    """The longest name in ``names`` that ``stem`` (``test_`` removed) is, or starts with
    followed by ``_``."""
    rest = stem.removeprefix("test_")
    found = [name for name in names if rest == name or rest.startswith(name + "_")]
    return max(found, key=len, default=None)


def where_it_maps(path: Path) -> str | None:
    """What the test file at ``path`` tests: ``whrelay/<package>/<module>.py``, ``whrelay
    <command>``, or the reason it is cross-cutting; ``None`` when it maps to nothing."""
    relative = path.relative_to(TESTS)
    parts = relative.parts
    if parts[0] == "unit" and len(parts) == 3:
        package = PACKAGE / parts[1]
        modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
        module = aspect_of(path.stem, modules) if package.is_dir() else None
        return None if module is None else f"whrelay/{parts[1]}/{module}.py"
    if parts[0] == "e2e" and len(parts) == 2:
        command = aspect_of(path.stem, commands() | {"whrelay"})
        return (
            None if command is None else f"whrelay {command}".replace("whrelay whrelay", "whrelay")
        )
    if parts[0] == "project" and len(parts) == 2:
        return CROSS_CUTTING.get(path.name)
    return None


def all_test_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def test_every_test_file_maps_to_a_module_or_a_command() -> None:
    unmapped = [str(p.relative_to(ROOT)) for p in all_test_files() if where_it_maps(p) is None]
    assert unmapped == [], (
        "each test file belongs beside the module or command it tests (tests/README.md): "
        "tests/unit/<package>/test_<module>.py or tests/e2e/test_<command>.py"
    )


def test_the_mapping_names_real_modules_and_commands() -> None:
    """The check itself: what is mapped exists, and what does not exist is not mapped."""
    assert where_it_maps(TESTS / "unit/storage/test_read.py") == "whrelay/storage/read.py"
    assert where_it_maps(TESTS / "unit/signatures/test_base_contract_hmac.py") == (
        "whrelay/signatures/base.py"
    )
    assert where_it_maps(TESTS / "e2e/test_replay.py") == "whrelay replay"
    assert where_it_maps(TESTS / "e2e/test_listen_forwarding.py") == "whrelay listen"
    assert where_it_maps(TESTS / "e2e/test_whrelay.py") == "whrelay"
    assert where_it_maps(TESTS / "unit/storage/test_nothing.py") is None
    assert where_it_maps(TESTS / "unit/nowhere/test_read.py") is None
    assert where_it_maps(TESTS / "e2e/test_listening.py") is None  # not "listen_..."
    assert where_it_maps(TESTS / "e2e/test_cli_review.py") is None
    assert where_it_maps(TESTS / "test_cli.py") is None
    assert where_it_maps(TESTS / "project/test_misc.py") is None


def test_every_cross_cutting_file_exists() -> None:
    present = {p.name for p in (TESTS / "project").glob("test_*.py")}
    assert set(CROSS_CUTTING) == present


def test_no_test_file_imports_from_another_test_file() -> None:
    """Helpers come from tests/helpers/, fixtures from conftest.py files."""
    found = []
    for path in all_test_files() + sorted((TESTS / "helpers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.startswith("tests.") and not module.startswith("tests.helpers."):
                    found.append(f"{path.relative_to(ROOT)}: {module}")
    assert found == []
