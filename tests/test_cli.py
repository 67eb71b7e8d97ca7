"""The ``whrelay`` command line, run as real subprocesses against real databases."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hmac
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import whrelay
from tests.conftest import (
    ROOT,
    folder_state,
    raw_request,
    read_response,
    request_bytes,
    run_whrelay,
    send_raw,
    start_listener,
    url_port,
    whrelay_cmd,
)
from whrelay.core.errors import ExitCode
from whrelay.core.models import Capture, RawHeaders, WebhookSummary
from whrelay.storage import Store

T0 = 1_795_000_000_000_000
"""2026-11-18T11:06:40Z in microseconds."""
SECOND = 1_000_000


def capture(
    path: str = "/hooks",
    *,
    method: str = "POST",
    query: str = "",
    headers: RawHeaders = (),
    body: bytes | None = None,
    received_at: int = T0,
) -> Capture:
    return Capture(
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        http_version="1.1",
        remote_addr="127.0.0.1",
        received_at=received_at,
    )


def seed(db: Path, *captures: Capture) -> list[WebhookSummary]:
    with Store(db) as store:
        return store.insert_webhooks(list(captures))


def out(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode("utf-8", "surrogateescape")


def err(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode("utf-8", "surrogateescape")


def ok(*args: str) -> subprocess.CompletedProcess[bytes]:
    result = run_whrelay(*args)
    assert result.returncode == 0, (result.returncode, err(result))
    assert b"Traceback" not in result.stderr
    return result


def assert_clean_error(
    result: subprocess.CompletedProcess[bytes], codes: tuple[int, ...] = (ExitCode.USAGE,)
) -> str:
    """Exit ``codes``; stderr is one ``whrelay: error:`` line and at most one hint line."""
    text = err(result)
    assert result.returncode in codes, (result.returncode, text)
    assert "Traceback" not in text
    lines = text.splitlines()
    assert lines, "no error message"
    assert lines[0].startswith("whrelay: error: "), lines
    assert "internal error" not in lines[0], lines
    assert len(lines) <= 2, lines
    if len(lines) == 2:
        assert lines[1].startswith("  hint: "), lines
    assert result.stdout == b""
    return lines[0]


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


def test_list_before_any_database_says_so_and_creates_nothing(isolated_env: Path) -> None:
    result = run_whrelay("list")
    line = assert_clean_error(result, (ExitCode.UNAVAILABLE,))
    assert line == f"whrelay: error: there is no database at {isolated_env / 'whrelay.db'}"
    assert "whrelay listen' creates it" in err(result)
    assert not isolated_env.exists()  # a reader never creates a database (or its folder)


def _older(db: Path) -> None:
    from whrelay.storage.migrations import migrate

    raw = sqlite3.connect(db, isolation_level=None)
    try:
        migrate(raw, T0, target=2)
    finally:
        raw.close()


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
    "older": (_older, "the database {db} has schema version 2, older than this whrelay's"),
    "newer": (_newer, "the database {db} has schema version 999; this whrelay knows up to"),
}


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
    if kind == "older":  # replay writes (its attempts), so it upgrades as listen does
        assert replayed.returncode == ExitCode.USAGE, err(replayed)
        assert "no webhook with id 1" in err(replayed)
    else:
        line = assert_clean_error(replayed, (ExitCode.UNAVAILABLE,))
        assert line.startswith("whrelay: error: " + message.format(db=db))
        assert folder_state(tmp_path) == before


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


def test_list_on_an_empty_database_says_nothing_matches(tmp_path: Path) -> None:
    Store(tmp_path / "empty.db").close()
    result = ok("list", "--db", str(tmp_path / "empty.db"))
    assert result.stdout == b""
    assert "No webhooks match" in err(result)


def test_list_json_on_an_empty_database_prints_nothing(isolated_env: Path) -> None:
    Store(isolated_env / "whrelay.db").close()
    result = ok("list", "--json")
    assert result.stdout == b""


STRIPE_JSON: RawHeaders = (
    (b"Content-Type", b"application/json"),
    (b"Stripe-Signature", b"t=1,v1=abc"),
)


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A database with five webhooks, ids 1..5, one second apart."""
    db = tmp_path / "history.db"
    seed(
        db,
        capture(
            "/hooks/stripe",
            query="acct=1",
            headers=STRIPE_JSON,
            body=b'{"id": "evt_1", "type": "charge.succeeded"}',
            received_at=T0,
        ),
        capture(
            "/hooks/github",
            headers=((b"X-GitHub-Event", b"push"), (b"X-GitHub-Delivery", b"d-2")),
            body=b'{"ref": "main"}',
            received_at=T0 + SECOND,
        ),
        capture("/health", method="GET", received_at=T0 + 2 * SECOND),
        capture(
            "/hooks/other",
            method="PUT",
            body=b"\x00needle\xff",
            received_at=T0 + 3 * SECOND,
        ),
        capture(
            "/hooks/stripe",
            headers=STRIPE_JSON,
            body=b'{"id": "evt_2", "type": "invoice.paid"}',
            received_at=T0 + 4 * SECOND,
        ),
    )
    return db


def list_json(db: Path, *args: str) -> list[dict[str, object]]:
    result = ok("list", "--json", "--db", str(db), *args)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_json_is_ndjson_with_the_summary_fields(history: Path) -> None:
    rows = list_json(history)
    assert [r["id"] for r in rows] == [5, 4, 3, 2, 1]
    required = {
        "id",
        "received_at",
        "method",
        "path",
        "query",
        "provider",
        "event_type",
        "provider_id",
        "size",
    }
    for row in rows:
        assert required <= row.keys()
    oldest = rows[-1]
    assert oldest["received_at"] == "2026-11-18T11:06:40.000000Z"
    assert (oldest["method"], oldest["path"], oldest["query"]) == (
        "POST",
        "/hooks/stripe",
        "acct=1",
    )
    assert (oldest["provider"], oldest["event_type"], oldest["provider_id"]) == (
        "stripe",
        "charge.succeeded",
        "evt_1",
    )
    assert oldest["size"] == len(b'{"id": "evt_1", "type": "charge.succeeded"}')
    assert rows[2]["size"] == 0
    assert rows[2]["provider"] is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--provider", "stripe"), [5, 1]),
        (("--method", "post"), [5, 2, 1]),
        (("--method", "GET"), [3]),
        (("--path", "/hooks/*"), [5, 4, 2, 1]),
        (("--search", "evt_2"), [5]),
        (("--search", "needle"), [4]),
        (("--search", "github"), [2]),
        (("--since", "2026-11-18T11:06:42Z"), [5, 4, 3]),
        (("--since", "2026-11-18T11:06:42"), [5, 4, 3]),
        (("--since", "2026-11-18T12:06:42+01:00"), [5, 4, 3]),
        (("--since", "1h"), []),
        (("--limit", "2"), [5, 4]),
        (("--limit", "0"), [5, 4, 3, 2, 1]),
        (("--provider", "stripe", "--since", "2026-11-18T11:06:41Z"), [5]),
        (("--event", "invoice.paid"), [5]),
        (("--event", "invoice"), []),
        (("--event", "charge.*"), [1]),
        (("--event", "push"), [2]),
        (("--event", "*"), [5, 2, 1]),
    ],
)
def test_list_filters_through_the_cli(
    history: Path, args: tuple[str, ...], expected: list[int]
) -> None:
    assert [r["id"] for r in list_json(history, *args)] == expected


def test_list_replay_export_and_cancel_take_the_same_filters_meaning_the_same() -> None:
    """One definition: each option with the same name, type, choices and help everywhere."""
    import typer

    from whrelay.cli.filters import FILTER_OPTIONS
    from whrelay.cli.main import app

    root = typer.main.get_command(app)
    described = {}
    for name in ("list", "replay", "export", "cancel"):
        command = root.commands[name]  # type: ignore[attr-defined]
        options = {
            opt: (param.name, param.type_descriptor.annotation, param.help)
            for param in command.params
            for opt in param.opts
            if opt in FILTER_OPTIONS
        }
        assert sorted(options) == sorted(FILTER_OPTIONS), name
        described[name] = options
    assert described["replay"] == described["list"] == described["export"]
    assert described["cancel"] == described["list"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--event", "charge.*"), [1]),
        (("--event", "invoice.paid", "--provider", "stripe"), [5]),
        (("--search", "needle", "--method", "put"), [4]),
        (("--method", "GET"), [3]),
    ],
)
def test_replay_and_export_select_as_list_does(
    history: Path, args: tuple[str, ...], expected: list[int]
) -> None:
    from tests.targetserver import target_server

    with target_server() as target:
        replayed = run_whrelay("replay", *args, "--to", str(target.port), "--db", str(history))
        assert len(target.requests) == len(expected)
    assert replayed.returncode == 0, err(replayed)
    sent = [json.loads(line)["id"] for line in out(
        ok("replay", *args, "--to", "9", "--dry-run", "--json", "--db", str(history))
    ).splitlines()]  # fmt: skip
    assert sent == expected[::-1]  # oldest first
    exported = ok("export", *args, "--db", str(history))
    assert [json.loads(line)["id"] for line in out(exported).splitlines()] == expected[::-1]
    assert sent == [row["id"] for row in list_json(history, *args)][::-1]


def test_list_table(history: Path) -> None:
    result = ok("list", "--db", str(history))
    lines = out(result).splitlines()
    assert lines[0].split()[:3] == ["ID", "RECEIVED", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == ["5", "4", "3", "2", "1"]
    assert "/hooks/stripe?acct=1" in lines[-1]
    assert "charge.succeeded" in lines[-1]
    assert "2026-11-18 11:06:40" in lines[-1]


LONG_PATH = "/webhooks/stripe/account/acct_1234567890/events/" + "very/long/" * 6 + "end"


def test_list_piped_keeps_every_row_whole(tmp_path: Path) -> None:
    db = tmp_path / "long.db"
    seed(db, capture(LONG_PATH, headers=STRIPE_JSON, body=b'{"type": "payment_intent.ok"}'))
    lines = out(ok("list", "--db", str(db))).splitlines()
    assert lines[0].split() == [
        "ID", "RECEIVED", "(UTC)", "METHOD", "PATH", "EVENT", "SIZE", "SIGNATURE", "DELIVERY"
    ]  # fmt: skip
    assert lines[1].split()[0] == "1"
    assert LONG_PATH in lines[1]
    assert "stripe/payment_intent.ok" in lines[1]


@pytest.mark.parametrize("width", [80, 100, 140])
def test_list_on_a_terminal_cuts_the_path_never_the_id(width: int) -> None:
    from rich.console import Console

    from whrelay.render.webhooks import webhook_table

    rows = [
        WebhookSummary(118, T0, "POST", LONG_PATH, "", "stripe", "payment_intent.succeeded",
                       None, 1, None, "unverified", "no_secret", "stripe"),
        WebhookSummary(7, T0, "DELETE", "/form", "", None, None, None, 1234, None),
    ]  # fmt: skip
    console = Console(width=width, color_system=None, highlight=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(webhook_table(rows, width))
    lines = captured.get().splitlines()
    header = lines[0].split()
    assert header[0] == "ID" and {"PATH", "EVENT"} <= set(header)
    assert [line.split()[0] for line in lines[1:]] == ["118", "7"]
    assert "POST" in lines[1] and "DELETE" in lines[2]  # not all POST: the column stays
    assert all(len(line.rstrip()) <= width for line in lines)
    assert "…" in lines[1]  # the long path, cut short
    assert "1.2 KiB" in lines[2] or width < 100  # the size goes before the event is cut


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


# --- show ----------------------------------------------------------------------------------

FORM = b"AccountSid=AC123&Body=hello+world&Empty=&Emoji=%E2%9C%93"
BINARY = bytes(range(32)) + b"\xff\xfe\r\n\x00"


@pytest.fixture
def shows(tmp_path: Path) -> Path:
    """1: JSON (stripe), 2: form, 3: binary, 4: gzip JSON, 5: no body, 6: empty body."""
    db = tmp_path / "show.db"
    seed(
        db,
        capture(
            "/hooks/stripe",
            query="x=1",
            headers=(
                (b"Host", b"127.0.0.1:8642"),
                (b"Stripe-Signature", b"t=1,v1=abc"),
                (b"Content-Type", b"application/json"),
                (b"X-Dup", b"first"),
                (b"x-dup", b"second"),
            ),
            body=b'{"id":"evt_1","type":"charge.succeeded","data":{"amount":100}}',
        ),
        capture(
            "/sms",
            headers=((b"Content-Type", b"application/x-www-form-urlencoded"),),
            body=FORM,
        ),
        capture("/bin", headers=((b"Content-Type", b"application/octet-stream"),), body=BINARY),
        capture(
            "/zipped",
            headers=((b"Content-Type", b"application/json"), (b"Content-Encoding", b"gzip")),
            body=gzip.compress(b'{"zipped": true, "n": [1, 2]}'),
        ),
        capture("/nobody", method="GET", headers=((b"Host", b"x"),), body=None),
        capture("/empty", headers=((b"Content-Length", b"0"),), body=b""),
    )
    return db


def show(db: Path, *args: str) -> str:
    return out(ok("show", "--db", str(db), *args))


def test_show_json_webhook(shows: Path) -> None:
    text = show(shows, "1")
    lines = text.splitlines()
    assert lines[0].startswith("#1  2026-11-18T11:06:40.000000Z  from 127.0.0.1")
    assert "stripe/charge.succeeded" in lines[0]
    assert "provider id evt_1" in lines[0]
    assert "POST /hooks/stripe?x=1 HTTP/1.1" in lines
    assert re.search(r"^Stripe-Signature: t=1,v1=abc$", text, re.MULTILINE)
    assert re.search(r"^X-Dup: first\nx-dup: second$", text, re.MULTILINE)
    assert '  "id": "evt_1",' in lines
    assert '  "data": {' in lines
    assert '    "amount": 100' in lines


def test_show_form_body_field_by_field(shows: Path) -> None:
    text = show(shows, "2")  # piped: "name: value" lines
    assert re.search(r"^AccountSid: AC123$", text, re.MULTILINE)
    assert re.search(r"^Body: hello world$", text, re.MULTILINE)
    assert re.search(r"^Empty: $", text, re.MULTILINE)
    assert re.search(r"^Emoji: ✓$", text, re.MULTILINE)
    assert FORM.decode() not in text


def test_show_piped_never_folds_a_header_or_a_field(tmp_path: Path) -> None:
    """``whrelay show 6 | grep Stripe-Signature`` gets the whole signature, however long, as
    does a form field; on a pipe nothing is laid out to a terminal's width."""
    signature = "t=1795000000,v1=" + "a" * 64 + ",v0=" + "b" * 64
    long_field = "x" * 300
    db = tmp_path / "long.db"
    seed(
        db,
        capture(headers=((b"Stripe-Signature", signature.encode()),), body=b"{}"),
        capture(headers=((b"Content-Type", b"application/x-www-form-urlencoded"),),
                body=f"Body={long_field}&To=%2B1".encode()),
    )  # fmt: skip
    for args in (("1",), ("1", "--headers")):
        lines = show(db, *args).splitlines()
        assert f"Stripe-Signature: {signature}" in lines, lines
    assert f"Body: {long_field}" in show(db, "2").splitlines()


async def test_show_gives_each_answers_headers_and_marks_edited_and_re_signed_replays(
    tmp_path: Path,
) -> None:
    """A 307's Location is in ``show``, under the attempt it answered; a replay that sent
    another body or headers says ``edited`` (and what), one signed afresh ``re-signed``."""
    from tests.targetserver import target_server

    db = tmp_path / "hooks.db"
    secret = "whsec_show_edits"
    body = b'{"id":"evt_show_1","type":"invoice.paid"}'
    with target_server() as target:
        target.reply(307, {"Location": "http://127.0.0.1:9/moved-here"}, b"")
        listener = start_listener(db, "-f", str(target.port), "--secret", secret)
        try:
            stamp = int(time.time())
            mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, "sha256").hexdigest()
            headers = [("Host", "127.0.0.1"), ("Content-Type", "application/json"),
                       ("Stripe-Signature", f"t={stamp},v1={mac}"),
                       ("Content-Length", str(len(body)))]  # fmt: skip
            webhook_id = await send_raw(listener.url, request_bytes("POST", "/st", headers, body))
            listener.wait_for_events("attempt", 1)
        finally:
            listener.stop()
        target.reply(200, {}, b"ok")
        edited = tmp_path / "edited.json"
        edited.write_bytes(b'{"id":"evt_show_1","type":"invoice.paid","edited":true}')
        replays = [
            ("--body-file", str(edited), "-H", "X-Debug: 1"),
            ("--resign", "--secret", secret),
        ]
        for args in replays:
            done = run_whrelay("replay", str(webhook_id), *args, "--db", str(db))
            assert done.returncode == 0, done.stderr
    text = show(db, str(webhook_id))
    first, edit, resign = [line for line in text.splitlines() if "→ http://127.0.0.1" in line]
    assert " 307 " in first and "then replayed" in first  # a 3xx is the answer, kept
    assert "    Location: http://127.0.0.1:9/moved-here" in text.splitlines()
    assert f"edited: another body ({edited.stat().st_size} B), -H X-Debug" in edit
    assert "re-signed" in resign and "edited" not in resign
    record = json.loads(show(db, str(webhook_id), "--json"))
    assert [a["edited"] for a in record["attempts"]] == [
        None, f"another body ({edited.stat().st_size} B), -H X-Debug", None
    ]  # fmt: skip
    assert ["Location", "http://127.0.0.1:9/moved-here"] in record["attempts"][0][
        "response_headers"
    ]


def test_show_binary_body_as_a_hex_dump(shows: Path) -> None:
    text = show(shows, "3")
    assert "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  ................" in text
    assert "00000020  ff fe 0d 0a 00" in text


def test_show_gzip_body_is_decompressed_for_display(shows: Path) -> None:
    text = show(shows, "4")
    assert "decompressed from gzip" in text
    assert '  "zipped": true,' in text.splitlines()


@pytest.mark.parametrize(("webhook_id", "note"), [("5", "(no body)"), ("6", "(empty body)")])
def test_show_absent_and_empty_bodies(shows: Path, webhook_id: str, note: str) -> None:
    assert note in show(shows, webhook_id)


@pytest.mark.parametrize(
    ("webhook_id", "expected"),
    [
        ("3", BINARY),
        ("1", b'{"id":"evt_1","type":"charge.succeeded","data":{"amount":100}}'),
        ("4", None),  # the gzip bytes as received, not decompressed
        ("5", b""),
        ("6", b""),
    ],
)
def test_show_raw_writes_the_exact_body_bytes(
    shows: Path, webhook_id: str, expected: bytes | None
) -> None:
    result = ok("show", webhook_id, "--raw", "--db", str(shows))
    if expected is None:
        with Store(shows, readonly=True) as store:
            expected = store.get_webhook(int(webhook_id)).body
    assert result.stdout == expected


def test_show_headers_only(shows: Path) -> None:
    text = show(shows, "1", "--headers")
    assert text.splitlines() == [
        "POST /hooks/stripe?x=1 HTTP/1.1",
        "Host: 127.0.0.1:8642",
        "Stripe-Signature: t=1,v1=abc",
        "Content-Type: application/json",
        "X-Dup: first",
        "x-dup: second",
    ]
    assert "amount" not in text
    assert "evt_1" not in text


def test_show_body_only(shows: Path) -> None:
    text = show(shows, "1", "--body")
    assert '    "amount": 100' in text.splitlines()
    assert "Stripe-Signature" not in text
    assert "HTTP/1.1" not in text


def test_show_json_full_record(shows: Path) -> None:
    record = json.loads(show(shows, "1", "--json"))
    assert record["headers"] == [
        ["Host", "127.0.0.1:8642"],
        ["Stripe-Signature", "t=1,v1=abc"],
        ["Content-Type", "application/json"],
        ["X-Dup", "first"],
        ["x-dup", "second"],
    ]
    body = b'{"id":"evt_1","type":"charge.succeeded","data":{"amount":100}}'
    assert record["body_b64"] == base64.b64encode(body).decode()
    assert (record["id"], record["method"], record["path"], record["query"]) == (
        1,
        "POST",
        "/hooks/stripe",
        "x=1",
    )
    assert record["http_version"] == "1.1"
    assert record["provider"] == "stripe"


@pytest.mark.parametrize(
    ("webhook_id", "body_b64"),
    [("5", None), ("6", ""), ("3", base64.b64encode(BINARY).decode())],
    ids=["no-body-null", "empty-body-empty-string", "binary"],
)
def test_show_json_body_b64(shows: Path, webhook_id: str, body_b64: str | None) -> None:
    record = json.loads(show(shows, webhook_id, "--json"))
    assert record["body_b64"] == body_b64


# --- errors --------------------------------------------------------------------------------


def test_show_unknown_id(history: Path) -> None:
    line = assert_clean_error(run_whrelay("show", "999", "--db", str(history)))
    assert "999" in line


# --- a webhook named by its sender's own id ---------------------------------------------------

PROVIDER_SECRET = "whsec_providerIdTestSecret"


def stripe_capture(event_id: str, at: int) -> Capture:
    """A Stripe webhook with a signature made at its arrival with ``PROVIDER_SECRET``."""
    from whrelay.signatures import Message, get_scheme

    body = json.dumps({"id": event_id, "type": "invoice.paid"}).encode()
    signed = get_scheme("stripe").sign(
        Message(body, (("Content-Type", "application/json"),)), PROVIDER_SECRET, at // SECOND
    )
    headers = tuple((k.encode(), v.encode()) for k, v in signed.headers)
    return capture("/hooks/stripe", headers=headers, body=body, received_at=at)


def test_show_verify_replay_and_export_take_the_senders_id(tmp_path: Path) -> None:
    """``evt_…`` names its webhook wherever an id is taken; one the sender sent twice names
    the newest, and stderr says which others have it."""
    from tests.targetserver import target_server

    db = tmp_path / "hooks.db"
    first, dup_old, dup_new = seed(
        db,
        stripe_capture("evt_once", T0),
        stripe_capture("evt_twice", T0 + SECOND),
        stripe_capture("evt_twice", T0 + 2 * SECOND),
    )
    shown = json.loads(ok("show", "evt_once", "--json", "--db", str(db)).stdout)
    assert (shown["id"], shown["provider_id"]) == (first.id, "evt_once")
    checked = ok("verify", "evt_once", "--secret", PROVIDER_SECRET, "--json", "--db", str(db))
    assert json.loads(checked.stdout)["valid"] is True
    exported = ok("export", "evt_once", "--db", str(db))
    assert json.loads(exported.stdout)["id"] == first.id

    twice = ok("show", "evt_twice", "--json", "--db", str(db))
    assert json.loads(twice.stdout)["id"] == dup_new.id
    assert f"using the newest, #{dup_new.id}" in err(twice)
    assert f"#{dup_old.id}" in err(twice)

    with target_server() as target:
        replayed = ok("replay", "evt_once", "evt_twice", "--to", str(target.port), "--db", str(db))
    assert [json.loads(r.body)["id"] for r in target.requests] == ["evt_once", "evt_twice"]
    assert f"#{first.id} " in out(replayed) and f"#{dup_new.id} " in out(replayed)

    line = assert_clean_error(run_whrelay("show", "evt_nope", "--db", str(db)))
    assert "no webhook with id or provider id 'evt_nope'" in line


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


NOT_UTF8 = os.fsdecode(b"\xff\xfe")
"""What ``$'\\xff\\xfe'`` on a command line arrives as: lone surrogates standing for the bytes."""
BEYOND_SQLITE = "99999999999999999999999"


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


def test_list_search_for_bytes_that_are_not_utf8_finds_them_in_bodies(tmp_path: Path) -> None:
    """The store is byte-exact, so a search is too: what was typed (here not UTF-8) is
    looked for as the bytes it is, in the body as received."""
    db = tmp_path / "bytes.db"
    seed(
        db,
        capture("/a", body=b"\x00\xff\xfe\x01"),
        capture("/b", body=b"\xff \xfe"),
        capture("/c", body="ÿþ".encode()),  # the same characters, as UTF-8
    )
    found = out(ok("list", "--search", NOT_UTF8, "--json", "--db", str(db))).splitlines()
    assert [json.loads(row)["path"] for row in found] == ["/a"]
    utf8 = out(ok("list", "--search", "ÿþ", "--json", "--db", str(db))).splitlines()
    assert [json.loads(row)["path"] for row in utf8] == ["/c"]


def test_list_path_and_method_that_are_not_utf8(history: Path) -> None:
    """A path glob of other bytes matches none (received paths are ASCII); a method that is
    not an HTTP token is bad input."""
    result = ok("list", "--path", "/" + NOT_UTF8 + "*", "--db", str(history))
    assert result.stdout == b""
    assert b"No webhooks match" in result.stderr
    line = assert_clean_error(run_whrelay("list", "--method", NOT_UTF8, "--db", str(history)))
    assert line == "whrelay: error: --method '\\udcff\\udcfe' is not an HTTP method"
    line = assert_clean_error(run_whrelay("list", "--method", "PO ST", "--db", str(history)))
    assert "is not an HTTP method" in line
    replayed = run_whrelay("replay", "--since", "1h", "--path", NOT_UTF8, "--db", str(history))
    assert replayed.returncode == ExitCode.OK, err(replayed)
    assert b"No webhooks match" in replayed.stderr


@pytest.mark.parametrize(
    ("host", "why"),
    [(NOT_UTF8, "Invalid character '\\udcff'"), ("a" * 64, "label too long")],
    ids=["not-utf8", "long-label"],
)
def test_listen_on_a_host_that_cannot_be_a_name_is_a_usage_error(
    tmp_path: Path, host: str, why: str
) -> None:
    result = run_whrelay("listen", "--port", "0", "--host", host, "--db", str(tmp_path / "h.db"))
    line = assert_clean_error(result)
    assert line == f"whrelay: error: --host {host!r} is not a host name or address ({why})"


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


# --- untrusted content is never markup and never reaches the terminal raw ---------------------

MARKUP = "[bold]B[/bold] [/x] [red]oops[/red]"
ESCAPES = "\x1b[31mRED \x1b]0;title\x07 \x9b2J"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A webhook whose path, header values and body carry Rich markup and terminal escapes."""
    db = tmp_path / "hostile.db"
    body = json.dumps({"type": f"{MARKUP} {ESCAPES}", "note": MARKUP, "esc": ESCAPES})
    seed(
        db,
        capture(
            f"/hooks/{MARKUP}/{ESCAPES}",
            query="q=[bold]",
            headers=(
                (b"Content-Type", b"application/json"),
                (b"X-Markup", MARKUP.encode()),
                (b"X-Escapes", ESCAPES.encode()),
                (b"[bold]", b"[/x]"),
            ),
            body=body.encode(),
        ),
        capture(
            "/text",
            headers=((b"Content-Type", b"text/plain"),),
            body=f"{MARKUP}\n{ESCAPES}\n".encode(),
        ),
    )
    return db


def assert_inert(data: bytes) -> None:
    """The markup is there literally; no terminal control byte is."""
    text = data.decode("utf-8", "surrogateescape")
    assert "[bold]" in text
    assert "[/x]" in text
    assert "MarkupError" not in text
    assert b"\x1b" not in data
    assert b"\x07" not in data
    assert b"\x9b" not in data
    assert "\x9b" not in text


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


async def test_listen_pretty_output_is_inert(tmp_path: Path) -> None:
    """A live ``whrelay listen --output pretty`` shows hostile webhooks literally and inertly."""
    db = tmp_path / "listen.db"
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "--output", "pretty", "--db", str(db)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        banner = b""
        while b"Waiting for webhooks" not in banner:
            line = proc.stdout.readline()
            assert line, (
                f"listen exited: {proc.wait(10)} {proc.stderr.read() if proc.stderr else ''!r}"
            )
            banner += line
        found = re.search(rb"http://127\.0\.0\.1:\d+/", banner)
        assert found, banner
        url = found.group().decode()

        path = b"/hooks/[bold]B[/bold]/[/x]/[red]oops[/red]?q=[bold]"
        body = json.dumps(
            {"id": "evt_[bold]1[/x]", "type": f"{MARKUP} {ESCAPES}", "data": {"x": ESCAPES}}
        ).encode()
        request = (
            b"POST " + path + b" HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\n"
            b"Stripe-Signature: t=1,v1=[bold]sig[/x]\r\n"
            b"X-Markup: [red]oops[/red] \x9b obs-text\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body)
        ) + body
        response = await raw_request(url, request)
        assert response.status == 200, response
        webhook_id = int(response.header("X-Whrelay-Id") or b"0")
        assert webhook_id == 1

        # The webhook line is printed before the response is sent; it is in the pipe already.
        line = proc.stdout.readline()
        assert b"#1" in line, line

        # Refusals are printed on stderr, as inert as webhooks.
        unmet = b"POST /r HTTP/1.1\r\nHost: h\r\nExpect: [bold]\x9b2J\r\nContent-Length: 1\r\n\r\n"
        assert (await raw_request(url, unmet)).status == 417
        malformed = b"GET /[red]m HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n"
        assert (await raw_request(url, malformed)).status == 400
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED
    stdout = banner + line + rest
    assert_inert(stdout)
    text = stdout.decode("utf-8", "surrogateescape")
    assert "[bold]B[/bold]/[/x]/[red]oops[/red]?q=[bold]" in text
    assert "stripe/[bold]B[/bold] [/x] [red]oops[/red] \\x1b[31mRED" in text
    assert b"\x1b" not in errors
    assert b"\x9b" not in errors
    assert b"Traceback" not in errors
    refusals = errors.decode("utf-8", "surrogateescape")
    assert "refused 417 POST /r: unsupported Expect: '[bold]\\udc9b2J'; not stored" in refusals
    assert "refused 400: malformed request: Invalid header value char; not stored" in refusals


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


async def test_listen_on_localhost_answers_on_both_loopback_addresses(tmp_path: Path) -> None:
    """Clients differ in which address of ``localhost`` they try first (Node.js 17 and later
    take ::1): bound to ``localhost``, listen answers on 127.0.0.1 and on [::1], one port."""
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    listener = start_listener(tmp_path / "hooks.db", "--host", "localhost")
    try:
        assert listener.url.startswith("http://localhost:"), listener.url
        port = url_port(listener.url)
        for address in ("127.0.0.1", "::1"):
            reader, writer = await asyncio.open_connection(address, port)
            request = request_bytes("POST", "/both", [("Host", "localhost"),
                                    ("Content-Length", "2")], b"{}")  # fmt: skip
            writer.write(request)
            response = await read_response(reader)
            writer.close()
            assert response.status == 200, (address, response)
    finally:
        assert listener.stop() == ExitCode.INTERRUPTED
    with Store(tmp_path / "hooks.db", readonly=True) as store:
        assert store.count_webhooks() == 2


def test_listen_on_a_taken_port_or_a_foreign_address_is_unavailable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_whrelay("listen", "--port", str(port), "--db", str(tmp_path / "a.db"))
    assert busy.returncode == ExitCode.UNAVAILABLE, busy.stderr
    lines = busy.stderr.decode().splitlines()
    assert lines[0].startswith(f"whrelay: error: cannot listen on 127.0.0.1:{port}")
    assert "another --port" in lines[1]
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails, nothing is sent.
    foreign = run_whrelay("listen", "--host", "192.0.2.1", "--db", str(tmp_path / "b.db"))
    assert foreign.returncode == ExitCode.UNAVAILABLE, foreign.stderr
    assert "--host must be an address of this machine" in foreign.stderr.decode()
    assert "Traceback" not in busy.stderr.decode() + foreign.stderr.decode()


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


@pytest.mark.parametrize("schedule", ["0", "1,0.05", "0,0"])
def test_listen_refuses_a_repeating_retry_delay_under_a_tenth_of_a_second(
    tmp_path: Path, schedule: str
) -> None:
    result = run_whrelay("listen", "--retry-schedule", schedule, "--db", str(tmp_path / "r.db"))
    assert result.returncode == ExitCode.USAGE
    assert b"must be at least 0.1 s" in result.stderr
    assert not (tmp_path / "r.db").exists()  # refused before anything started


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=json_values, spaced=st.booleans(), ascii_only=st.booleans())
def test_reindent_json_keeps_every_token_and_lays_out_like_json_dumps(
    value: object, spaced: bool, ascii_only: bool
) -> None:
    from whrelay.render.webhooks import reindent_json

    separators = (", ", ": ") if spaced else (",", ":")
    sent = json.dumps(value, separators=separators, ensure_ascii=ascii_only)
    shown = reindent_json(sent)
    assert shown == json.dumps(value, indent=2, ensure_ascii=ascii_only)
    assert json.loads(shown) == json.loads(sent)


def test_show_keeps_json_as_sent_and_cuts_long_text(tmp_path: Path) -> None:
    db = tmp_path / "tokens.db"
    sent = b'{"amount": 1.10, "f": 1e400, "a": 1, "a": 2, "u": "\\u00e9"}'
    lines = b"line\n" * 100_000  # 500 kB of short lines: over what is shown
    seed(
        db,
        capture("/json", headers=((b"Content-Type", b"application/json"),), body=sent),
        capture("/text", headers=((b"Content-Type", b"text/plain"),), body=lines),
    )
    shown = out(ok("show", "1", "--body", "--db", str(db)))
    for token in ('"amount": 1.10', '"f": 1e400', '"a": 1,', '"a": 2,', '"u": "\\u00e9"'):
        assert token in shown, token
    text = out(ok("show", "2", "--body", "--db", str(db)))
    assert text.startswith(lines[: 256 * 1024].decode() + "\n…")
    assert f"… {len(lines) - 256 * 1024} more bytes (use --raw)" in text
    assert ok("show", "2", "--raw", "--db", str(db)).stdout == lines


def test_list_says_when_it_stopped_at_the_limit(history: Path) -> None:
    cut = ok("list", "--limit", "2", "--db", str(history))
    assert [line.split()[0] for line in out(cut).splitlines()[1:]] == ["5", "4"]
    assert "(the newest 2; --limit 0 lists them all)" in err(cut)
    whole = ok("list", "--limit", "0", "--db", str(history))
    assert "--limit 0" not in err(whole)
    assert ok("list", "--limit", "5", "--json", "--db", str(history)).stderr == b""


@pytest.mark.parametrize(
    ("option", "value"), [("--now", "nan"), ("--now", "inf"), ("--tolerance", "-5")]
)
def test_verify_refuses_a_clock_or_tolerance_that_means_nothing(
    tmp_path: Path, option: str, value: str
) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b"{}")
    signature = "X-Hub-Signature-256: sha256=00"
    result = run_whrelay(
        "verify", "--provider", "github", "--secret", "s", "--body-file", str(body),
        "-H", signature, option, value,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert f"whrelay: error: {option} must be" in err(result)


def _show_raw_on_a_terminal(db: Path, webhook_id: int) -> tuple[int, bytes, bytes]:
    """``show --raw`` with its stdout on a pseudo-terminal: exit code, what reached the
    terminal, stderr."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            whrelay_cmd("show", str(webhook_id), "--raw", "--db", str(db)),
            stdout=follower,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal has nothing more
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    return proc.returncode, seen, proc.stderr


def test_show_raw_keeps_terminal_controls_off_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "raw.db"
    hostile = b"\x1b]0;owned\x07\x1b[2J\x1b[31mred\r" + bytes(range(8))
    seed(db, capture("/esc", body=hostile), capture("/crlf", body=b'{"a": 1}\r\n\tok\n'))
    code, seen, error = _show_raw_on_a_terminal(db, 1)
    assert code == ExitCode.USAGE
    assert seen == b""
    assert b"terminal control bytes" in error
    code, seen, error = _show_raw_on_a_terminal(db, 2)
    assert code == ExitCode.OK, error
    assert b'{"a": 1}' in seen and b"ok" in seen  # the tty may turn LF into CRLF
    assert ok("show", "1", "--raw", "--db", str(db)).stdout == hostile  # a pipe gets it all


def test_show_raw_keeps_c1_controls_off_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "c1.db"
    seed(db, capture("/csi", body="x\u009b31mred".encode()), capture("/ok", body="é ě".encode()))
    code, seen, _ = _show_raw_on_a_terminal(db, 1)
    assert (code, seen) == (ExitCode.USAGE, b"")
    code, seen, _ = _show_raw_on_a_terminal(db, 2)  # 0x9b inside "ě" is not a control
    assert code == ExitCode.OK and "é ě".encode() in seen


@pytest.mark.parametrize("depth", [500, 5000])
def test_show_deeply_nested_json_quickly_and_whole(tmp_path: Path, depth: int) -> None:
    """500 levels: laid out and cut (the layout grows with the square of the depth); 5000:
    past what Python parses, shown as text. Neither is an internal error."""
    db = tmp_path / "deep.db"
    body = b"[" * depth + b"]" * depth
    seed(db, capture("/deep", headers=((b"Content-Type", b"application/json"),), body=body))
    shown = ok("show", "1", "--body", "--db", str(db))
    text = out(shown)
    assert len(text) < 300 * 1024
    if depth == 500:
        assert text.startswith("[\n  [\n    [")
        assert "… (cut here; --raw gives the whole body)" in text
    else:
        assert text.strip() == body.decode()


def test_list_piped_keeps_the_id_beside_a_path_of_8_kb(tmp_path: Path) -> None:
    db = tmp_path / "huge.db"
    path = "/" + "p" * 8000
    seed(db, capture(path, headers=STRIPE_JSON, body=b'{"type": "x.y"}'), capture("/short"))
    lines = out(ok("list", "--db", str(db))).splitlines()
    assert lines[0].split()[:1] == ["ID"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]
    assert path in lines[2]


@pytest.mark.parametrize(
    "flags", [("--raw", "--json"), ("--headers", "--body"), ("--body", "--json", "--raw")]
)
def test_show_takes_one_view(history: Path, flags: tuple[str, ...]) -> None:
    result = run_whrelay("show", "1", *flags, "--db", str(history))
    assert result.returncode == ExitCode.USAGE
    assert "each choose what to show: give one" in err(result)


def test_sign_with_several_secrets_or_at_time_zero() -> None:
    several = run_whrelay("sign", "--provider", "github", "--secret", "a", "--secret", "b",
                          "--data", "{}")  # fmt: skip
    assert several.returncode == ExitCode.USAGE
    assert "sign with one secret (2 were given)" in err(several)
    at_zero = run_whrelay("sign", "--provider", "stripe", "--secret", "whsec_x", "--data", "{}",
                          "--now", "0")  # fmt: skip
    assert at_zero.returncode == 0, at_zero.stderr
    assert at_zero.stdout.decode().startswith("Stripe-Signature: t=0,")


def test_list_checks_the_provider_and_hints_at_a_path_without_slash(history: Path) -> None:
    unknown = run_whrelay("list", "--provider", "nonsense", "--db", str(history))
    assert unknown.returncode == ExitCode.USAGE
    assert "unknown provider 'nonsense'" in err(unknown)
    assert "stripe" in err(unknown)
    upper = ok("list", "--provider", "Stripe", "--json", "--db", str(history))
    assert [json.loads(line)["id"] for line in upper.stdout.splitlines()] == [5, 1]
    slashless = ok("list", "--path", "hooks/*", "--db", str(history))
    assert "hint: paths start with '/': --path '/hooks/*'" in err(slashless)


@pytest.mark.parametrize(
    ("width", "time_shown"), [(120, "2026-11-18 11:06:40"), (72, "11-18 11:06"), (40, None)]
)
def test_list_shortens_the_time_before_dropping_it(width: int, time_shown: str | None) -> None:
    """Where the event would not show whole, the year goes first, then the seconds; only on
    a narrow terminal the time."""
    from rich.console import Console

    from whrelay.render.webhooks import webhook_table

    rows = [
        WebhookSummary(118, T0, "POST", "/hooks/x", "", "github", "pull_request.opened",
                       None, 1, None, "invalid", "bad_signature", "github"),
    ]  # fmt: skip
    console = Console(width=width, color_system=None, highlight=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(webhook_table(rows, width))
    header, row = captured.get().splitlines()
    assert all(len(line.rstrip()) <= width for line in (header, row))
    if time_shown is None:
        assert "RECEIVED" not in header and "11:06" not in row
    else:
        assert time_shown in row
        assert ("(UTC)" in header) == time_shown.startswith("2026")
