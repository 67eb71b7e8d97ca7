"""``whrelay`` itself: help, version, exit codes, every reader's ``--db`` and database errors,
hostile text kept inert."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import whrelay
from tests.helpers.captures import (
    T0,
    capture,
    folder_state,
    older_database,
    schema_version,
    v1_row,
)
from tests.helpers.commands import (
    assert_clean_error,
    assert_inert,
    err,
    ok,
    out,
    seed,
)
from tests.helpers.processes import ROOT, run_whrelay, start_listener, whrelay_cmd
from tests.helpers.rawhttp import raw_request, request_bytes
from tests.helpers.targetserver import target_server
from whrelay.core.errors import ExitCode
from whrelay.core.models import RawHeaders, WebhookSummary
from whrelay.storage import Store
from whrelay.storage.migrations import SCHEMA_VERSION

# --- list ----------------------------------------------------------------------------------


READERS = [
    ("list",),
    ("list", "--json"),
    ("show", "1"),
    ("show", "1", "--json"),
    ("show", "1", "--raw"),
    ("verify", "1", "--secret", "s"),
]
"""The commands that only read the database, with arguments that read a stored webhook."""


def _newer(db: Path) -> None:
    Store(db).close()
    raw = sqlite3.connect(db)
    try:
        raw.execute("PRAGMA user_version = 999")
    finally:
        raw.close()


def _foreign(db: Path) -> None:
    raw = sqlite3.connect(db)
    try:
        raw.execute("CREATE TABLE notes (text TEXT)")
        raw.commit()
    finally:
        raw.close()


DATABASES_NOT_READ = {
    "missing": (None, "there is no database at {db}"),
    "empty": (Path.touch, "the database {db} is empty: no whrelay listen has used it yet"),
    "foreign": (_foreign, "{db} is a SQLite database, but not whrelay's"),
    "newer": (_newer, "the database {db} has schema version 999; this whrelay knows up to"),
}

STRIPE_JSON: RawHeaders = (
    (b"Content-Type", b"application/json"),
    (b"Stripe-Signature", b"t=1,v1=abc"),
)

NOT_UTF8 = os.fsdecode(b"\xff\xfe")
"""What ``$'\\xff\\xfe'`` on a command line arrives as: lone surrogates standing for the bytes."""

BEYOND_SQLITE = "99999999999999999999999"

# --- untrusted content is never markup and never reaches the terminal raw ---------------------

MARKUP = "[bold]B[/bold] [/x] [red]oops[/red]"

ESCAPES = "\x1b[31mRED \x1b]0;title\x07 \x9b2J"

# --- help and version ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "example"),
    [
        ((), "whrelay listen"),
        (("list",), "whrelay list --since 2h"),
        (("show",), "whrelay show 42 --raw"),
        (("listen",), "whrelay listen --port 0"),
    ],
    ids=["root", "list", "show", "listen"],
)
def test_help_exits_0_and_shows_examples(args: tuple[str, ...], example: str) -> None:
    result = ok(*args, "--help")
    text = out(result)
    assert "Usage: whrelay" in text
    assert example in text
    if args:
        assert "Examples" in text
    else:
        for command in ("listen", "list", "show"):
            assert re.search(rf"^\W*{command}\b", text, re.MULTILINE), command


def test_python_m_whrelay_version() -> None:
    result = ok("--version")
    assert out(result).strip() == f"whrelay {whrelay.__version__}"


def test_console_script_runs() -> None:
    """The installed ``whrelay`` entry point, beside this interpreter."""
    script = Path(sys.executable).parent / "whrelay"
    assert script.exists(), script
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, check=False, cwd=ROOT, timeout=60
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.decode().strip() == f"whrelay {whrelay.__version__}"
    helped = subprocess.run(
        [str(script), "list", "--help"], capture_output=True, check=False, cwd=ROOT, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    assert b"Examples" in helped.stdout


@pytest.mark.parametrize("kind", DATABASES_NOT_READ)
def test_every_reader_refuses_a_database_it_cannot_read_alike_and_changes_nothing(
    tmp_path: Path, kind: str
) -> None:
    """Missing, empty, another program's, older or newer: one line, exit 3, in every command
    that only reads, and the folder left as it was (no tables, -wal, -shm or lock file)."""
    make, message = DATABASES_NOT_READ[kind]
    db = tmp_path / "hooks.db"
    if make is not None:
        make(db)
    before = folder_state(tmp_path)
    for args in READERS:
        line = assert_clean_error(run_whrelay(*args, "--db", str(db)), (ExitCode.UNAVAILABLE,))
        assert line.startswith("whrelay: error: " + message.format(db=db)), (args, line)
        assert folder_state(tmp_path) == before, args
    replayed = run_whrelay("replay", "1", "--to", "9", "--db", str(db))
    line = assert_clean_error(replayed, (ExitCode.UNAVAILABLE,))
    assert line.startswith("whrelay: error: " + message.format(db=db))
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize("start", [2, SCHEMA_VERSION - 1])
def test_every_reader_upgrades_an_older_database_nothing_else_has_open(
    tmp_path: Path, start: int
) -> None:
    """A database an older whrelay left, no listen running: each command that only reads
    upgrades it first (as listen would, in one transaction) and reads it."""
    readers = [
        (("list",), "/old"),
        (("list", "--json"), '"path":"/old"'),
        (("show", "1"), "/old?a=1"),
        (("show", "1", "--headers"), "X-Old:yes"),
        (("verify", "1", "--provider", "github", "--secret", "s"), "missing_header"),
        (("export", "1", "--format", "curl"), "/old?a=1"),
        (("stats", "--json"), '"webhooks":1'),
    ]
    for n, (args, shown) in enumerate(readers):
        db = older_database(tmp_path / f"old-{n}.db", start)
        result = run_whrelay(*args, "--db", str(db))
        assert result.returncode in (ExitCode.OK, ExitCode.CHECK_FAILED), (args, err(result))
        assert shown in out(result).replace(" ", ""), (args, out(result))
        assert schema_version(db) == SCHEMA_VERSION, args


def _refused_beside_an_older_whrelay(result: subprocess.CompletedProcess[bytes], db: Path) -> None:
    """The one line (and hint) a command says, exit 3, when an older whrelay has open the
    older database it would upgrade."""
    line = assert_clean_error(result, (ExitCode.UNAVAILABLE,))
    assert line == (
        f"whrelay: error: the database {db} has schema version {SCHEMA_VERSION - 1}, older "
        f"than this whrelay's {SCHEMA_VERSION}, and another program has it open: an older "
        "whrelay (one of this version would have upgraded it)"
    )
    assert err(result).splitlines()[1] == (
        "  hint: stop it, then run this command again: it upgrades the database"
    )


def test_a_reader_leaves_an_older_database_another_program_has_open(tmp_path: Path) -> None:
    """What has it open can only be an older whrelay (listen upgrades it as it starts): its
    schema is not changed under it. One line says what to do; once it has let go, the next
    reader upgrades it."""
    db = older_database(tmp_path / "hooks.db", SCHEMA_VERSION - 1)
    holder = sqlite3.connect(db, isolation_level=None)  # as an older listen keeps it open
    try:
        assert holder.execute("SELECT path FROM webhooks").fetchall() == [("/old",)]
        for args in [("list",), ("show", "1")]:
            _refused_beside_an_older_whrelay(run_whrelay(*args, "--db", str(db)), db)
            assert schema_version(db) == SCHEMA_VERSION - 1
    finally:
        holder.close()
    assert "/old" in out(ok("list", "--db", str(db)))
    assert schema_version(db) == SCHEMA_VERSION


IMPORTED = {
    "method": "POST",
    "path": "/imported",
    "query": "",
    "headers": [["Content-Type", "application/json"]],
    "body_b64": "e30=",
    "received_at": "2026-11-30T10:00:00.000001Z",
}

WRITERS: dict[str, tuple[tuple[str, ...], bytes | None, str]] = {
    # name: (arguments, standard input, a query whose answer shows the command did its work)
    "replay": (
        ("replay", "1", "--to", "{target}"),
        None,
        "SELECT count(*) = 1 FROM attempts WHERE webhook_id = 1 AND status = 200",
    ),
    "cancel": (("cancel", "1"), None, "SELECT state = 'cancelled' FROM deliveries"),
    "cancel-pending": (
        ("cancel", "--status", "pending"),
        None,
        "SELECT state = 'cancelled' FROM deliveries",
    ),
    "prune": (
        ("prune", "--older-than", "1d", "--include-pending"),
        None,
        "SELECT count(*) = 0 FROM webhooks WHERE path = '/old'",
    ),
    "import": (
        ("import", "-"),
        json.dumps(IMPORTED).encode(),
        "SELECT count(*) = 1 FROM webhooks WHERE path = '/imported'",
    ),
}
"""Each command that writes the database, run on the older database of ``_older_in_use``."""


def _older_in_use(db: Path) -> sqlite3.Connection:
    """An older whrelay's database (one webhook, ``/old``, its delivery pending) and a
    connection that keeps it open and writes it, as an older ``whrelay listen`` does."""
    older_database(db, SCHEMA_VERSION - 1)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute(
        "INSERT INTO deliveries (webhook_id, target, state, created_at, updated_at)"
        " VALUES (1, 'http://127.0.0.1:9/', 'pending', ?, ?)",
        (T0, T0),
    )
    return holder


@pytest.mark.parametrize("writer", WRITERS)
def test_a_writer_leaves_an_older_database_an_older_whrelay_has_open(
    tmp_path: Path, writer: str
) -> None:
    """An older listen has it open: a command of this version that writes refuses it in one
    line (exit 3) and changes nothing, neither the schema nor a row; the older listen goes on
    writing as before. Once it has stopped, the same command upgrades the database and does
    its work."""
    args, stdin, done = WRITERS[writer]
    db = tmp_path / "hooks.db"
    holder = _older_in_use(db)
    with target_server() as target:
        command = [arg.format(target=target.url) for arg in args]
        try:
            before = list(holder.iterdump())
            _refused_beside_an_older_whrelay(
                run_whrelay(*command, "--db", str(db), input=stdin), db
            )
            assert list(holder.iterdump()) == before
            assert schema_version(db) == SCHEMA_VERSION - 1
            assert target.requests == []
            v1_row(holder)  # the older listen stores the next webhook as it did
            assert holder.execute("SELECT count(*) FROM webhooks").fetchone() == (2,)
        finally:
            holder.close()
        result = run_whrelay(*command, "--db", str(db), input=stdin)
        assert result.returncode == ExitCode.OK, err(result)
    assert schema_version(db) == SCHEMA_VERSION
    with contextlib.closing(sqlite3.connect(db)) as upgraded:
        assert upgraded.execute(done).fetchone() == (1,), writer


@pytest.mark.parametrize("older", ["listen", "tui"])
def test_listen_leaves_an_older_database_an_older_whrelay_has_open(
    tmp_path: Path, older: str
) -> None:
    """A listen of this version starting on an older database that an older listen or an
    older reader (a tui, read-only) has open refuses it as the other writers do, before it
    takes its port: an older reader would go on reading, and writing its replays, with its
    own queries (see ``upgrade_older``). Once that one has stopped, listen upgrades it."""
    db = tmp_path / "hooks.db"
    _older_in_use(db).close()
    uri = f"file:{db}?mode=ro" if older == "tui" else str(db)
    holder = sqlite3.connect(uri, uri=older == "tui", isolation_level=None)
    try:
        assert holder.execute("SELECT path FROM webhooks").fetchall() == [("/old",)]
        before = list(holder.iterdump())
        result = run_whrelay("listen", "--port", "0", "--db", str(db), timeout=30)
        _refused_beside_an_older_whrelay(result, db)
        assert list(holder.iterdump()) == before
        assert schema_version(db) == SCHEMA_VERSION - 1
    finally:
        holder.close()
    listener = start_listener(db)
    try:
        assert listener.proc.poll() is None
        assert schema_version(db) == SCHEMA_VERSION
    finally:
        assert listener.stop() == 130


def test_every_reader_leaves_a_database_as_it_found_it(tmp_path: Path) -> None:
    """No listen has it open: no -wal or -shm file appears, nothing is written."""
    db = tmp_path / "hooks.db"
    [stored] = seed(db, capture(body=b'{"ok": true}', headers=((b"Stripe-Signature", b"x"),)))
    before = folder_state(tmp_path)
    for args in READERS:
        result = run_whrelay(*args, "--db", str(db))
        assert result.returncode in (ExitCode.OK, ExitCode.CHECK_FAILED), (args, err(result))
        assert b"Traceback" not in result.stderr
        assert folder_state(tmp_path) == before, args
    assert json.loads(out(ok("show", str(stored.id), "--json", "--db", str(db))))["id"] == 1


def test_readers_read_while_listen_writes(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    listener = start_listener(db)
    try:
        for n in range(3):
            wire = request_bytes(
                "POST", f"/live/{n}", [("Host", "x"), ("Content-Length", "2")], b"{}"
            )
            sent = asyncio.run(raw_request(listener.url, wire))
            assert sent.status == 200
            rows = [
                json.loads(line) for line in out(ok("list", "--json", "--db", str(db))).splitlines()
            ]
            assert rows[0]["path"] == f"/live/{n}"
            shown = json.loads(out(ok("show", str(rows[0]["id"]), "--json", "--db", str(db))))
            assert shown["path"] == f"/live/{n}"
    finally:
        assert listener.stop() == 130


@pytest.mark.parametrize(
    "args",
    [
        ("list", "--since", "nonsense"),
        ("list", "--limit", "-1"),
        ("list", "--limit", "many"),
        ("list", "--no-such-option"),
        ("show", "1.5"),
        ("show",),
        ("no-such-command",),
        ("listen", "--port", "99999"),
        ("listen", "--max-body", "lots"),
        ("listen", "--idle-timeout", "forever"),
        ("listen", "--durability", "sometimes"),
    ],
    ids=" ".join,
)
def test_bad_usage_is_one_clean_error_line(args: tuple[str, ...]) -> None:
    assert_clean_error(run_whrelay(*args))


@pytest.mark.parametrize(
    "given", [BEYOND_SQLITE, str(2**63), "0", "+1", "1.0", "١", NOT_UTF8], ids=repr
)
@pytest.mark.parametrize(
    "command", [("show",), ("verify", "--secret", "s"), ("replay", "--to", "9")], ids=" ".join
)
def test_an_id_that_cannot_be_a_webhook_id_is_a_usage_error(
    history: Path, command: tuple[str, ...], given: str
) -> None:
    result = run_whrelay(command[0], given, *command[1:], "--db", str(history))
    line = assert_clean_error(result)
    assert f"{given!r} is not a webhook id (a whole number, 1 to {2**63 - 1})" in line, line


def test_the_largest_id_sqlite_stores_is_looked_up(history: Path) -> None:
    line = assert_clean_error(run_whrelay("show", str(2**63 - 1), "--db", str(history)))
    assert line == f"whrelay: error: no webhook with id {2**63 - 1}"


@pytest.mark.parametrize(
    "args",
    [
        ("--limit", BEYOND_SQLITE),
        ("--limit", str(2**63 - 1)),
        ("--since", BEYOND_SQLITE + "d"),
        ("--since", "9999999999999d"),
    ],
    ids=" ".join,
)
def test_bounds_beyond_what_sqlite_stores_select_everything(
    history: Path, args: tuple[str, ...]
) -> None:
    rows = out(ok("list", *args, "--json", "--db", str(history))).splitlines()
    assert [json.loads(row)["id"] for row in rows] == [5, 4, 3, 2, 1]
    assert b"--limit" not in ok("list", *args, "--db", str(history)).stderr


def test_db_that_is_a_directory(tmp_path: Path) -> None:
    for command in (("list",), ("show", "1")):
        assert_clean_error(
            run_whrelay(*command, "--db", str(tmp_path)),
            (ExitCode.USAGE, ExitCode.UNAVAILABLE),
        )


def test_db_under_a_regular_file(tmp_path: Path) -> None:
    """The database's folder cannot exist: its parent is a file."""
    parent = tmp_path / "a-file"
    parent.write_text("not a folder")
    for command in (("listen", "--port", "0"), ("show", "1"), ("replay", "1")):
        assert_clean_error(
            run_whrelay(*command, "--db", str(parent / "hooks.db")),
            (ExitCode.USAGE, ExitCode.UNAVAILABLE),
        )
    listed = run_whrelay("list", "--db", str(parent / "hooks.db"))
    assert listed.returncode == ExitCode.UNAVAILABLE
    assert b"there is no database at" in listed.stderr


def test_db_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("this is not SQLite\n" * 100)
    assert_clean_error(run_whrelay("list", "--db", str(db)), (ExitCode.UNAVAILABLE,))
    assert db.read_text() == "this is not SQLite\n" * 100


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_db_that_is_unreadable(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    Store(db).close()
    db.chmod(0)
    try:
        assert_clean_error(
            run_whrelay("list", "--db", str(db)), (ExitCode.USAGE, ExitCode.UNAVAILABLE)
        )
    finally:
        db.chmod(0o600)


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("show", "1"),
        ("show", "1", "--headers"),
        ("show", "1", "--body"),
        ("show", "2"),
        ("show", "2", "--body"),
    ],
    ids=" ".join,
)
def test_markup_and_escapes_are_shown_literally(hostile: Path, args: tuple[str, ...]) -> None:
    result = ok(*args, "--db", str(hostile))
    assert_inert(result.stdout)
    assert b"\x1b" not in result.stderr
    assert b"\x9b" not in result.stderr
    text = out(result)
    assert "[red]oops[/red]" in text
    assert "\\x1b" in text or "\\u001b" in text  # shown as a visible escape instead


@pytest.mark.parametrize("args", [("show", "1"), ("show", "1", "--headers")], ids=" ".join)
def test_non_utf8_header_bytes_never_reach_the_terminal_raw(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """A header value that is not UTF-8 (HTTP allows any obs-text byte) is shown escaped:
    a raw 0x9b byte is a C1 CSI to an 8-bit terminal."""
    db = tmp_path / "bytes.db"
    seed(db, capture("/b", headers=((b"X-Raw", b"raw\x9b2J\x1b[31m\x07\xff end"),), body=b"x"))
    result = ok(*args, "--db", str(db))
    assert b"\x9b" not in result.stdout
    assert b"\xff" not in result.stdout
    assert b"\x1b" not in result.stdout
    assert b"\x07" not in result.stdout
    assert re.search(r"^X-Raw: raw.*end$", out(result), re.MULTILINE)


# --- which database ---------------------------------------------------------------------------


def test_database_precedence(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--db > WHRELAY_DB > WHRELAY_DATA_DIR/whrelay.db."""
    from_data_dir = isolated_env / "whrelay.db"
    from_env = tmp_path / "env" / "env.db"
    from_flag = tmp_path / "flag" / "flag.db"
    seed(from_data_dir, capture("/from-data-dir"))
    seed(from_env, capture("/from-env"))
    seed(from_flag, capture("/from-flag"))

    def paths(*args: str) -> list[object]:
        result = ok("list", "--json", *args)
        return [json.loads(line)["path"] for line in result.stdout.splitlines()]

    assert paths() == ["/from-data-dir"]
    monkeypatch.setenv("WHRELAY_DB", str(from_env))
    assert paths() == ["/from-env"]
    assert paths("--db", str(from_flag)) == ["/from-flag"]
    monkeypatch.delenv("WHRELAY_DB")
    assert paths("--db", str(from_flag)) == ["/from-flag"]
    assert json.loads(out(ok("show", "1", "--json")))["path"] == "/from-data-dir"
    monkeypatch.setenv("WHRELAY_DB", str(from_env))
    assert json.loads(out(ok("show", "1", "--json")))["path"] == "/from-env"
    assert json.loads(out(ok("show", "1", "--json", "--db", str(from_flag))))["path"] == (
        "/from-flag"
    )


def test_data_dir_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "new-data-dir"
    monkeypatch.setenv("WHRELAY_DATA_DIR", str(data))
    listener = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "--output", "json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert listener.stdout is not None
        ready = json.loads(listener.stdout.readline())
        assert ready["event"] == "ready"
    finally:
        listener.send_signal(signal.SIGINT)
        listener.communicate(timeout=30)
    assert (data / "whrelay.db").is_file()
    assert (data / "whrelay.db").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "--json"),
        ("show", "1"),
        ("show", "1", "--json"),
        ("verify", "1", "--secret", "whsec_wrong"),  # an invalid signature: never 0
    ],
)
def test_a_reader_that_goes_away_is_its_own_exit_code(history: Path, args: tuple[str, ...]) -> None:
    """`whrelay list | head` exits 141, as for SIGPIPE: not 1 ("a check failed"), and not 0,
    which would pass off a check cut short (`verify ... | head`) as a success."""
    process = subprocess.Popen(
        whrelay_cmd(*args, "--db", str(history)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # gone before the first line
    assert process.wait(timeout=60) == ExitCode.READER_GONE
    assert int(ExitCode.READER_GONE) == 141
    assert process.stderr.read() == b""


def test_an_unreadable_database_is_exit_3_however_it_is_named() -> None:
    """``--db`` and ``WHRELAY_DB`` say the same: the database cannot be opened, and why."""
    import shutil
    import tempfile

    from whrelay.storage import Store

    folder = Path(tempfile.mkdtemp(prefix="whrelay-perm-"))  # pytest's own folders are 0700
    try:
        db = folder / "x.db"
        Store(db).close()
        prefix: list[str] = []
        if os.geteuid() == 0:  # root reads whatever the mode: become nobody
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv")
            prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
            folder.chmod(0o755)
            for part in (folder, *folder.parents, ROOT, *ROOT.parents):
                if part.stat().st_mode & 0o005 != 0o005:
                    pytest.skip(f"{part} is not open to other users")
        else:
            db.chmod(0)
        env = {k: v for k, v in os.environ.items() if k != "WHRELAY_DB"}
        for args, extra_env in ((["--db", str(db)], {}), ([], {"WHRELAY_DB": str(db)})):
            done = subprocess.run(
                [*prefix, *whrelay_cmd("list", *args)],
                capture_output=True,
                timeout=60,
                cwd=folder,
                env={**env, **extra_env},
                check=False,
            )
            assert done.returncode == ExitCode.UNAVAILABLE, done.stderr
            assert b"cannot open the database" in done.stderr
            assert b"permission denied" in done.stderr
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    "command", ["listen", "list", "show", "replay", "verify", "sign", "send", "paths", None]
)
def test_flags_do_not_look_as_if_they_took_a_value(command: str | None) -> None:
    """``--json <bool>`` read as if it wanted ``--json true``; only Typer's own --help (and
    its completion flags) keep the hint."""
    args = ([command] if command else []) + ["--help"]
    helped = subprocess.run(
        whrelay_cmd(*args),
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert helped.returncode == 0
    flagged = [
        line
        for line in helped.stdout.decode().splitlines()
        if "<bool>" in line and not re.search(r"--help|completion", line)
    ]
    assert flagged == []


def command_names() -> list[str]:
    """Every command of the CLI, subcommands as ``group sub``."""
    from whrelay.cli.main import build

    def walk(command: object, prefix: str) -> list[str]:
        found = [prefix.strip()] if prefix else []
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, f"{prefix} {name}")
        return found

    return walk(build(), "")


TYPE_LABEL = re.compile(r"<(?![^>]*\|)[^>]*>")
"""A type label in Typer's help (``<str>``, ``<int range>``, ``<list[str]>``, ``<bool>``): a
value named by its Python type. A list of choices (``<full|normal>``) is what it says."""


@pytest.mark.parametrize("command", ["", *command_names()])
def test_help_names_each_value_never_its_python_type(command: str) -> None:
    result = subprocess.run(
        whrelay_cmd(*command.split(), "--help"),
        capture_output=True, timeout=60, cwd=ROOT, check=False,
        env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    labelled = [line for line in out(result).splitlines() if TYPE_LABEL.search(line)]
    assert labelled == []


def test_list_at_80_columns_shortens_the_time_before_the_event() -> None:
    """On an 80-column terminal the event (the one column that says what happened) stays
    whole: the time loses its year and seconds, the verdicts become symbols, the size goes,
    the path is cut; the delivery state and its last answer stay."""
    from rich.console import Console

    from whrelay.render.webhooks import webhook_table
    from whrelay.storage.read import Standing

    rows = [
        WebhookSummary(1042, T0, "POST", "/hooks/github/acme", "", "github", "issues.opened",
                       "72d3162e-cc78", 9300, None, "valid", "ok", "github"),
        WebhookSummary(1041, T0, "POST", "/hooks/github/acme", "", "github",
                       "pull_request.closed", None, 12_400, None, "invalid", "bad_signature",
                       "github"),
    ]  # fmt: skip
    standing = {1042: Standing("delivered", "200", 1), 1041: Standing("pending", "refused", 1)}
    console = Console(width=80, color_system=None, highlight=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(webhook_table(rows, 80, standing))
    header, *lines = captured.get().splitlines()
    assert all(len(line.rstrip()) <= 80 for line in (header, *lines))
    assert header.split() == ["ID", "RECEIVED", "PATH", "EVENT", "SIG", "DELIVERY"]
    assert "github/issues.opened" in lines[0] and "github/pull_request.closed" in lines[1]
    assert "11-18 11:06 " in lines[0] and "2026" not in lines[0]
    assert lines[0].rstrip().endswith("delivered 200")
    assert lines[1].rstrip().endswith("pending refused")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("listen", "--port", "abc"), "--port: 'abc' is not a whole number"),
        (("listen", "--port", "70000"), "--port: '70000' is more than 65535"),
        (("list", "--limit", "-1"), "--limit: '-1' is less than 0"),
        (("verify", "--now", "soon"), "--now: 'soon' is not a number"),
        (("list", "--status", "lost"), "--status: 'lost' is not one of 'delivered'"),
        (("listen", "--port"), "--port needs a value"),
        (("send",), "URL is missing"),
        (("show", "1.5"), "ID: '1.5' is not a webhook id"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_a_bad_option_value_is_named_in_whrelays_words(args: tuple[str, ...], says: str) -> None:
    """The option first, then what is wrong with the value, without the wording of the
    validation library Typer checks values with."""
    line = assert_clean_error(run_whrelay(*args))
    assert line == f"whrelay: error: {says}" or line.startswith(f"whrelay: error: {says}"), line
    for foreign in ("Input should", "Value error", "Invalid value for", "Missing argument"):
        assert foreign not in line


@pytest.mark.parametrize(
    ("args", "says", "command"),
    [
        (("replay", "3", "--to"), "--to needs a value", "whrelay replay"),
        (("replay", "3", "-H"), "-H needs a value", "whrelay replay"),
        (("list", "--limit"), "--limit needs a value", "whrelay list"),
        (("tui", "--db"), "--db needs a value", "whrelay tui"),
        (("config", "show", "--json=yes"), "--json takes no value", "whrelay config show"),
        (("replay", "3", "--bogus"), "No such option: --bogus", "whrelay replay"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "-",
)  # fmt: skip
def test_an_option_used_wrongly_points_at_its_own_commands_help(
    args: tuple[str, ...], says: str, command: str
) -> None:
    """A missing value (or one given to a flag) is found while the command line is taken
    apart: the hint still names the help of the command it was given to, subcommands
    included, not the whole program's."""
    result = run_whrelay(*args)
    line = assert_clean_error(result)
    assert line.startswith(f"whrelay: error: {says}"), line
    assert err(result).splitlines()[1] == f"  hint: see '{command} --help'"


@pytest.mark.parametrize(
    ("target", "says", "hint"),
    [
        ("3000:", "target '3000:' has nothing where its port should be", "a port alone is 3000"),
        ("localhost", "target 'localhost' has no port", "localhost:3000"),
        ("localhost/hooks", "target 'localhost/hooks' has no port", "http://localhost for port 80"),
        ("localhost:", "target 'localhost:' has nothing where its port should be", ":3000/hooks"),
        (
            "localhost:http",
            "target 'localhost:http' has 'http' where its port should be",
            "localhost:3000",
        ),
    ],
)
def test_a_malformed_target_is_a_usage_error_naming_the_forms(
    tmp_path: Path, target: str, says: str, hint: str
) -> None:
    result = run_whrelay("listen", "-f", target, "--db", str(tmp_path / "hooks.db"))
    line = assert_clean_error(result)
    assert line == f"whrelay: error: {says}", line
    assert hint in err(result)
    assert not (tmp_path / "hooks.db").exists()
