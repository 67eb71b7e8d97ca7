"""``whrelay/core/configfile.py``: the config file's model, read in process."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
from pathlib import Path

import pytest

from tests.helpers.config_files import BROKEN
from whrelay.core import configfile
from whrelay.core.configfile import ListenTable, key_lines, load
from whrelay.core.errors import UsageError
from whrelay.receiver.settings import ListenOptions, config_problems, resolve_listen


def _documented_fields(cls: type) -> set[str]:
    """The fields of a dataclass followed by a docstring in its source."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    return {
        node.target.id
        for node, after in itertools.pairwise(body)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    }


def test_precedence_is_flag_then_environment_then_file_then_default(tmp_path: Path) -> None:
    path = tmp_path / "whrelay.toml"
    path.write_text(
        'db = "from-file.db"\n[listen]\nport = 1111\nhost = "::1"\nmode = "proxy"\n'
        'forward = ["3000", "3001"]\n'
    )
    config = load(path)
    resolved = resolve_listen(
        {"port": 3333, "forward": ("4000",)},
        config,
        {"WHRELAY_PORT": "2222", "WHRELAY_HOST": "localhost", "WHRELAY_TIMEOUT": "5s"},
    )
    options = resolved.options
    assert (options.port, options.host, options.mode) == (3333, "localhost", "proxy")
    assert options.forward == ("4000",)  # a list on the command line replaces the file's
    assert (options.timeout, options.durability) == ("5s", ListenOptions().durability)
    assert resolved.sources["port"] == "command line"
    assert resolved.sources["forward"] == "command line"
    assert resolved.sources["host"] == "environment (WHRELAY_HOST)"
    assert resolved.sources["timeout"] == "environment (WHRELAY_TIMEOUT)"
    assert resolved.sources["mode"] == f"{path}:5"
    assert resolved.sources["durability"] == "default"
    assert resolved.values["host"] == "localhost"
    without_flags = resolve_listen({}, config, {})
    assert (without_flags.options.port, without_flags.options.forward) == (1111, ("3000", "3001"))
    assert without_flags.sources["port"] == f"{path}:3"


def test_a_bad_environment_variable_is_bad_input_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="WHRELAY_PORT: expected a whole number"):
        resolve_listen({}, None, {"WHRELAY_PORT": "eighty"})
    with pytest.raises(UsageError, match="WHRELAY_ORDERED: expected true or false"):
        resolve_listen({}, None, {"WHRELAY_ORDERED": "maybe"})
    resolved = resolve_listen({}, None, {"WHRELAY_ORDERED": "yes", "WHRELAY_FORWARD": "3000 :4000"})
    assert resolved.options.ordered is True
    assert resolved.options.forward == ("3000", ":4000")


def test_every_listen_option_has_a_documented_key_in_the_file_model() -> None:
    """A new ``listen`` option fails here until the file (and the environment) can set it."""
    keys = set(configfile.listen_fields())
    renamed = {"routes": "route", "secret_envs": "secret_env"}
    options = {f.name for f in dataclasses.fields(ListenOptions)} - {"db", "secrets"}
    assert {renamed.get(name, name) for name in options} == keys - {"output"}
    assert set(configfile.LISTEN_KEYS) == keys - {"route"}
    documented = _documented_fields(ListenTable) | _documented_fields(configfile.ConfigFile)
    undocumented = [f.name for f in dataclasses.fields(ListenTable) if f.name not in documented]
    assert undocumented == []
    assert set(configfile.ENV_VARS) == keys - {"route", "headers"}


def test_key_lines_are_found_within_their_tables() -> None:
    text = (
        "# a comment\n"
        "db = 'x.db'\n"
        "[listen]\n"
        "port = 1  # port = 2\n"
        '"max_body" = "1k"\n'
        "[[listen.route]]\n"
        "path = '/a'\n"
        "[[ listen.route ]]\n"
        "path = '/b'\n"
    )
    assert key_lines(text) == {
        "db": 2,
        "listen": 3,
        "listen.port": 4,
        "listen.max_body": 5,
        "listen.route[0]": 6,
        "listen.route[0].path": 7,
        "listen.route[1]": 8,
        "listen.route[1].path": 9,
    }


def test_config_problems_of_a_file_read_in_process_match_the_command(tmp_path: Path) -> None:
    path = tmp_path / "whrelay.toml"
    path.write_text(BROKEN)
    problems = config_problems(load(path))
    assert len(problems) == 9
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)
