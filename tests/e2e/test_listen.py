"""``whrelay listen``: its options and checks, its output and the streams it writes to."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.commands import assert_clean_error, assert_inert, github_request
from tests.helpers.processes import ROOT, run_whrelay, start_listener, whrelay_cmd
from tests.helpers.rawhttp import raw_request, read_response, request_bytes, url_port
from whrelay.core.errors import ExitCode
from whrelay.core.models import Capture
from whrelay.storage import Store

NOT_UTF8 = os.fsdecode(b"\xff\xfe")
"""What ``$'\\xff\\xfe'`` on a command line arrives as: lone surrogates standing for the bytes."""

# --- untrusted content is never markup and never reaches the terminal raw ---------------------

MARKUP = "[bold]B[/bold] [/x] [red]oops[/red]"

ESCAPES = "\x1b[31mRED \x1b]0;title\x07 \x9b2J"

GITHUB_SECRET = "review-secret"


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


def test_listen_on_a_taken_port_or_a_foreign_address_is_unavailable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_whrelay("listen", "--port", str(port), "--db", str(tmp_path / "a.db"))
    assert busy.returncode == ExitCode.UNAVAILABLE, busy.stderr
    lines = busy.stderr.decode().splitlines()
    assert lines[0] == f"whrelay: error: cannot listen on 127.0.0.1:{port}: address already in use"
    assert "another --port" in lines[1]
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails, nothing is sent.
    foreign = run_whrelay("listen", "--host", "192.0.2.1", "--db", str(tmp_path / "b.db"))
    assert foreign.returncode == ExitCode.UNAVAILABLE, foreign.stderr
    assert "--host must be an address of this machine" in foreign.stderr.decode()
    assert "Traceback" not in busy.stderr.decode() + foreign.stderr.decode()


@pytest.mark.parametrize("schedule", ["0", "1,0.05", "0,0"])
def test_listen_refuses_a_repeating_retry_delay_under_a_tenth_of_a_second(
    tmp_path: Path, schedule: str
) -> None:
    result = run_whrelay("listen", "--retry-schedule", schedule, "--db", str(tmp_path / "r.db"))
    assert result.returncode == ExitCode.USAGE
    assert b"must be at least 0.1 s" in result.stderr
    assert not (tmp_path / "r.db").exists()  # refused before anything started


@pytest.mark.slow
async def test_listen_stops_with_141_when_its_output_reader_goes_away(tmp_path: Path) -> None:
    """``listen -o json | head -1``: the webhook that finds the reader gone is stored and
    acknowledged (never a 500 for a committed row), then listen stops cleanly with 141."""
    db = tmp_path / "hooks.db"
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "--output", "json", "--db", str(db)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        proc.stdout.close()  # what `head -1` does after its line
        answer = await raw_request(ready["url"], github_request(b'{"n":1}'))
        assert answer.status == 200, answer.body
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    errors = proc.stderr.read()
    assert code == ExitCode.READER_GONE, errors
    assert b"Traceback" not in errors and b"internal error" not in errors, errors
    listed = run_whrelay("list", "--json", "--db", str(db))
    assert [json.loads(line)["path"] for line in listed.stdout.splitlines()] == ["/gh"]


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("http://[::1", b"is not a valid URL"),
        ("http://127.0.0.1:3000/a b", b"space"),
        ("http://127.0.0.1:3000/a\r\nX-Injected: 1", b"control character"),
        ("http://127.0.0.1:3000/caf\u00e9", b"non-ASCII"),
        ("http://127.0.0.1:3000/#frag", b"fragment"),
        ("http://127.0.0.1:notaport/", b"is not a valid URL"),
    ],
)
def test_a_target_that_would_break_the_request_line_is_a_usage_error(
    tmp_path: Path, target: str, says: bytes
) -> None:
    for args in (("listen", "--port", "0", "-f", target), ("replay", "1", "--to", target)):
        done = run_whrelay(*args, "--db", str(tmp_path / "x.db"), timeout=30)
        assert done.returncode == ExitCode.USAGE, done.stderr
        assert says in done.stderr and b"Traceback" not in done.stderr, done.stderr


def test_empty_secrets_are_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    empty = run_whrelay("listen", "--port", "0", "--secret", "", "--db", db, timeout=30)
    assert empty.returncode == ExitCode.USAGE and b"--secret is empty" in empty.stderr
    env = {**os.environ, "WHRELAY_EMPTY_SECRET": ""}
    from_env = subprocess.run(
        whrelay_cmd("listen", "--port", "0", "--secret-env", "WHRELAY_EMPTY_SECRET", "--db", db),
        capture_output=True,
        timeout=30,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert from_env.returncode == ExitCode.USAGE
    assert b"WHRELAY_EMPTY_SECRET is empty" in from_env.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--public-url", "notaurl"), b"is not an http(s) URL"),
        (("--public-url", "ftp://x.example/"), b"is not an http(s) URL"),
        (("--max-body", "0"), b"at least 1 byte"),
    ],
)
def test_listen_checks_its_values(tmp_path: Path, args: tuple[str, str], says: bytes) -> None:
    done = run_whrelay("listen", "--port", "0", *args, "--db", str(tmp_path / "x.db"), timeout=30)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert says in done.stderr


async def test_compact_lines_have_the_time_and_the_kind(tmp_path: Path) -> None:
    """Like the pretty lines, compact ones say when and what (provider/event)."""
    from tests.helpers.processes import start_text_listener

    listener = start_text_listener(tmp_path, tmp_path / "hooks.db", output="compact")
    try:
        answer = await raw_request(listener.url, github_request(b"{}"))
        assert answer.status == 200
        deadline = time.monotonic() + 20
        while b"#1 " not in listener.output and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
    line = next(x for x in listener.output.decode().splitlines() if "#1 " in x)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} #1 POST /gh github/push 2B.*", line), line


@pytest.mark.slow
async def test_listen_goes_on_when_the_reader_of_its_diagnostics_goes_away(
    tmp_path: Path,
) -> None:
    """``listen -o compact 2>&1 | head -1``: diagnostics are dropped, not the listener."""
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "-o", "compact", "--db", str(tmp_path / "h.db")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline().decode()
        url = re.search(r"http://127\.0\.0\.1:\d+/", banner)
        assert url is not None, banner
        proc.stderr.close()
        refused = await raw_request(
            url.group(), b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )  # fmt: skip
        assert refused.status == 400
        stored = await raw_request(url.group(), github_request(b"{}"))
        assert stored.status == 200
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(20)
    assert code == ExitCode.INTERRUPTED


def test_listen_does_not_make_up_the_folder_of_a_named_database(tmp_path: Path) -> None:
    """A typo in --db (or WHRELAY_DB) is not quietly made into a new folder and database;
    whrelay's own data folder is created as before."""
    typo = tmp_path / "no-such-folder" / "hooks.db"
    done = run_whrelay("listen", "--port", "0", "--db", str(typo), timeout=30)
    assert done.returncode == ExitCode.USAGE
    assert b"does not exist" in done.stderr and b"mkdir -p" in done.stderr
    assert not typo.parent.exists()
    env = {**os.environ, "WHRELAY_DATA_DIR": str(tmp_path / "fresh" / "data")}
    env.pop("WHRELAY_DB", None)
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "-o", "json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    assert ready["db"] == str(tmp_path / "fresh" / "data" / "whrelay.db")


def test_stderr_closed_at_start_changes_nothing_but_the_messages(tmp_path: Path) -> None:
    """``2>&-``: Python's ``sys.stderr`` is None. A start warning in json mode used to stop
    listen with exit 1; an error's exit code used to become 1."""
    from whrelay.storage import Store

    def closed_stderr(*args: str) -> list[str]:
        return ["sh", "-c", 'exec "$@" 2>&-', "sh", *whrelay_cmd(*args)]

    db = tmp_path / "hooks.db"
    with Store(db) as store:  # a delivery for a target not named below: a start warning
        store.insert_webhooks(
            [Capture("POST", "/p", "", (), b"x", "1.1", None, 1)], [["http://127.0.0.1:9"]]
        )
    proc = subprocess.Popen(
        closed_stderr("listen", "--port", "0", "-o", "json", "--db", str(db)),
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready"
        # Still receiving after its start warning: a webhook sent now is stored.
        answer = asyncio.run(raw_request(ready["url"], github_request(b"{}")))
        assert answer.status == 200, answer
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(20)
    assert code == ExitCode.INTERRUPTED
    typo = subprocess.run(
        closed_stderr("listen", "--db", str(tmp_path / "nope" / "x.db")),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert typo.returncode == ExitCode.USAGE


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
