"""``whrelay config`` and the config file (``whrelay.toml``) as every command reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.config_files import BROKEN, write_config
from tests.helpers.processes import ROOT, run_whrelay, whrelay_cmd
from tests.helpers.rawserver import self_signed
from whrelay.core import paths
from whrelay.core.configfile import load
from whrelay.receiver.settings import resolve_listen

SECRET_VALUE = "whsec_c2VjcmV0LW5ldmVyLWluLXRoZS1maWxl"


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_validate_reports_every_problem_with_file_line_key_and_nearest_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, BROKEN, monkeypatch)
    result = run_whrelay("config", "validate")
    assert result.returncode == 2
    err = result.stderr.decode()
    expected = [
        f"{path}:2: colour: unknown key",
        f"{path}:5: listen.prot: unknown key",
        "hint: did you mean 'port'?",
        f"{path}:6: listen.port: expected a whole number, got a string",
        f"{path}:7: listen.max_body: not a size: '25 MB please'",
        f"{path}:8: listen.forward: empty target",
        f"{path}:9: listen.durability: 'fast' is not one of the choices",
        "hint: one of: full, normal",
        f"{path}:14: listen.route[0].provder: unknown key",
        "hint: did you mean 'provider'?",
        f"{path}:16: listen.route[1]: a route needs 'target'",
        f"{path}:18: listen.route[1].provider: unknown provider 'nosuch'",
        "9 problem(s)",
    ]
    for line in expected:
        assert line in err, (line, err)
    assert "Traceback" not in err
    assert result.stdout == b""


def test_listen_stops_at_the_first_problem_before_opening_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, BROKEN, monkeypatch)
    result = run_whrelay("listen", "--port", "0")
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert lines[0] == f"whrelay: error: {path}:2: colour: unknown key"
    assert "more: whrelay config validate" in lines[1]
    assert not (tmp_path / "hooks.db").exists()


def test_a_valid_file_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(
        tmp_path,
        '[listen]\nport = 0\nforward = "3000"\nretry_schedule = [0, 1, 5]\n'
        '[[listen.route]]\npath = "/gh/*"\ntarget = ":4000/hooks"\nprovider = "GitHub"\n'
        'secret_env = "GITHUB_WEBHOOK_SECRET"\n',
        monkeypatch,
    )
    result = run_whrelay("config", "validate")
    assert (result.returncode, result.stdout.decode()) == (0, f"{path}: ok\n"), result.stderr


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f'[listen]\nsecret = "{SECRET_VALUE}"\n', "listen.secret"),
        (f'[listen]\nstripe_signing_secret = "{SECRET_VALUE}"\n', "listen.stripe_signing_secret"),
        (f'[listen]\nsecret_env = "{SECRET_VALUE}"\n', "listen.secret_env"),
        (f'[listen]\nsecret_env = ["OK_NAME", "{SECRET_VALUE}"]\n', "listen.secret_env"),
        (
            f'[[listen.route]]\npath = "/x"\ntarget = "3000"\nsecret_env = "{SECRET_VALUE}"\n',
            "listen.route[0].secret_env",
        ),
        (f'token = "{SECRET_VALUE}"\n', "token"),
    ],
)
def test_a_secret_in_the_file_is_refused_with_a_hint_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, key: str
) -> None:
    path = write_config(tmp_path, text, monkeypatch)
    for command in (("config", "validate"), ("listen", "--port", "0"), ("config", "show")):
        result = run_whrelay(*command)
        assert result.returncode == 2, (command, result.stderr)
        output = result.stdout + result.stderr
        assert SECRET_VALUE.encode() not in output
        assert SECRET_VALUE[6:].encode() not in output
        assert f"{path}:".encode() in result.stderr and key.encode() in result.stderr
        assert b"secret_env = " in result.stderr  # the hint: name a variable instead


def test_the_value_a_named_variable_holds_never_reaches_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET_VALUE)
    write_config(
        tmp_path,
        '[listen]\nprovider = "stripe"\nsecret_env = "STRIPE_WEBHOOK_SECRET"\n',
        monkeypatch,
    )
    for command in (("config", "show"), ("config", "show", "--json"), ("config", "validate")):
        result = run_whrelay(*command)
        assert result.returncode == 0, result.stderr
        assert SECRET_VALUE.encode() not in result.stdout + result.stderr
    shown = json.loads(run_whrelay("config", "show", "--json").stdout)
    assert shown["settings"]["secret_env"]["value"] == ["STRIPE_WEBHOOK_SECRET"]


def test_config_show_says_where_each_value_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        tmp_path,
        'db = "h.db"\n[listen]\nport = 9001\nretain = "7d"\n\n'
        '[[listen.route]]\npath = "/gh/*"\ntarget = "4000"\nsecret_env = "GH_SECRET"\n',
        monkeypatch,
    )
    monkeypatch.setenv("WHRELAY_DURABILITY", "normal")
    shown = json.loads(run_whrelay("config", "show", "--json").stdout)
    assert shown["config"] == str(path)
    settings = shown["settings"]
    assert settings["port"] == {"value": 9001, "source": f"{path}:3"}
    assert settings["retain"] == {"value": "7d", "source": f"{path}:4"}
    assert settings["db"] == {"value": str(tmp_path / "h.db"), "source": f"{path}:1"}
    assert settings["durability"] == {
        "value": "normal",
        "source": "environment (WHRELAY_DURABILITY)",
    }
    assert settings["mode"] == {"value": "store", "source": "default"}
    assert settings["route"] == {
        "value": ["/gh/*=4000,secret-env=GH_SECRET"],
        "source": f"{path}:6",
    }
    table = run_whrelay("config", "show").stdout.decode()
    assert f"config file: {path}" in table
    assert any(line.split()[:2] == ["port", "9001"] for line in table.splitlines())


def test_config_path_prefers_the_variable_then_the_working_directory_then_the_user_folder(
    tmp_path: Path,
) -> None:
    """As a user runs it: from a folder, with the user config folder of their platform."""
    user = tmp_path / "user-config" / "whrelay"
    user.mkdir(parents=True)
    (user / "whrelay.toml").write_text("[listen]\n")
    work = tmp_path / "project"
    work.mkdir()

    def config_path(**env: str) -> str:
        result = subprocess.run(
            whrelay_cmd("config", "path"),
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
            env={**_env(), "PYTHONPATH": str(ROOT), **env},
        )
        return result.stdout.strip()

    assert config_path() == str(user / "whrelay.toml")
    (work / "whrelay.toml").write_text("[listen]\n")
    assert config_path() == str(work / "whrelay.toml")
    assert config_path(WHRELAY_CONFIG=str(tmp_path / "other.toml")) == str(tmp_path / "other.toml")
    (work / "whrelay.toml").unlink()
    (user / "whrelay.toml").unlink()
    none = subprocess.run(
        whrelay_cmd("config", "path"),
        cwd=work,
        capture_output=True,
        text=True,
        env={**_env(), "PYTHONPATH": str(ROOT)},
    )
    assert (none.returncode, none.stdout) == (0, "")
    assert "no config file" in none.stderr and str(work / "whrelay.toml") in none.stderr


def test_a_missing_named_file_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHRELAY_CONFIG", str(tmp_path / "nope.toml"))
    result = run_whrelay("list")
    assert result.returncode == 2
    assert f"{tmp_path / 'nope.toml'}: no such file" in result.stderr.decode()


def test_not_toml_is_reported_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        tmp_path, "[listen]\nport = 1\nforward = [3000,,]\nhost = 'x'\n", monkeypatch
    )
    result = run_whrelay("config", "validate")
    assert result.returncode == 2
    assert f"{path}:3: not TOML: " in result.stderr.decode()


def test_the_files_db_is_every_commands_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative to the file's folder; ``--db`` and ``WHRELAY_DB`` still win."""
    write_config(tmp_path, 'db = "captures/hooks.db"\n', monkeypatch)
    (tmp_path / "captures").mkdir()
    record = {"method": "POST", "path": "/from-file", "headers": [], "body_b64": ""}
    imported = run_whrelay("import", "-", input=json.dumps(record).encode())
    assert imported.returncode == 0, imported.stderr
    assert (tmp_path / "captures" / "hooks.db").exists()
    listed = run_whrelay("list", "--json")
    assert [json.loads(line)["path"] for line in listed.stdout.splitlines()] == ["/from-file"]
    where = json.loads(run_whrelay("paths", "--json").stdout)
    assert where["db"] == str(tmp_path / "captures" / "hooks.db")
    monkeypatch.setenv("WHRELAY_DB", str(tmp_path / "env.db"))
    assert json.loads(run_whrelay("paths", "--json").stdout)["db"] == str(tmp_path / "env.db")
    assert paths.db_choice(tmp_path / "flag.db") == (tmp_path / "flag.db", "command line")


def test_a_mistake_in_a_value_from_the_file_hints_at_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, '[listen]\nmode = "proxy"\n', monkeypatch)
    result = run_whrelay("listen", "--port", "0")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "--mode proxy needs a target" in err
    assert f"hint: add -f PORT; set by listen.mode in {path}:2" in err


def test_the_core_reads_the_file_without_a_cli_library() -> None:
    code = (
        "import sys; from whrelay.core import configfile; "
        "assert not {'typer', 'rich', 'aiohttp'} & set(sys.modules), sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_file_leaves_certificates_unverified_per_route_and_names_a_ca_file_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``insecure = true`` in a route table, ``,insecure`` after a ``forward`` target, and a
    ``ca_file`` relative to the file's folder; ``config show`` shows them; ``WHRELAY_INSECURE``
    turns verification off for every https target; a CA file that is not there is a problem
    ``config validate`` names with its line, and ``listen`` stops at start."""
    (tmp_path / "certs").mkdir()
    self_signed(tmp_path / "certs")
    path = write_config(
        tmp_path,
        '[listen]\nforward = ["https://127.0.0.1:3443,insecure", "https://localhost:4443"]\n'
        'ca_file = "certs/cert.pem"\n\n'
        '[[listen.route]]\npath = "/r/*"\ntarget = "https://127.0.0.1:5443"\ninsecure = true\n',
        monkeypatch,
    )
    settings = resolve_listen({}, load(path), {}).settings()
    assert [(t.url, t.insecure) for t in settings.forward.all_targets] == [
        ("https://127.0.0.1:3443", True),
        ("https://localhost:4443", False),
        ("https://127.0.0.1:5443", True),
    ]
    assert settings.ca_file == tmp_path / "certs" / "cert.pem"
    everywhere = resolve_listen({}, load(path), {"WHRELAY_INSECURE": "1"}).settings()
    assert all(t.insecure for t in everywhere.forward.all_targets)
    shown = json.loads(run_whrelay("config", "show", "--json").stdout)["settings"]
    assert shown["ca_file"] == {
        "value": str(tmp_path / "certs" / "cert.pem"),
        "source": f"{path}:3",
    }
    assert shown["route"]["value"] == ["/r/*=https://127.0.0.1:5443,insecure"]
    assert shown["insecure"] == {"value": False, "source": "default"}
    assert run_whrelay("config", "validate").returncode == 0

    (tmp_path / "certs" / "cert.pem").unlink()
    validated = run_whrelay("config", "validate")
    assert validated.returncode == 2
    missing = tmp_path / "certs" / "cert.pem"
    assert f"{path}:3: listen.ca_file: {missing}: no such file" in validated.stderr.decode()
    listened = run_whrelay("listen", "--port", "0", "--db", str(tmp_path / "h.db"))
    assert listened.returncode == 2
    assert listened.stderr.decode().startswith(f"whrelay: error: --ca-file {missing}: no such file")
    assert not (tmp_path / "h.db").exists()
