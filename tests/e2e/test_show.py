"""``whrelay show``: one webhook in full, as JSON, raw bytes, headers or body; inert on a
terminal."""

from __future__ import annotations

import base64
import gzip
import hmac
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.captures import SECOND, T0, capture
from tests.helpers.commands import assert_clean_error, err, ok, out, seed
from tests.helpers.processes import ROOT, run_whrelay, start_listener, whrelay_cmd
from tests.helpers.rawhttp import request_bytes, send_raw
from whrelay.core.errors import ExitCode
from whrelay.core.models import Capture, RawHeaders
from whrelay.storage import Store

STRIPE_JSON: RawHeaders = (
    (b"Content-Type", b"application/json"),
    (b"Stripe-Signature", b"t=1,v1=abc"),
)

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


# --- untrusted content is never markup and never reaches the terminal raw ---------------------

MARKUP = "[bold]B[/bold] [/x] [red]oops[/red]"

ESCAPES = "\x1b[31mRED \x1b]0;title\x07 \x9b2J"


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


def test_show_verify_replay_and_export_take_the_senders_id(tmp_path: Path) -> None:
    """``evt_…`` names its webhook wherever an id is taken; one the sender sent twice names
    the newest, and stderr says which others have it."""
    from tests.helpers.targetserver import target_server

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


@pytest.mark.parametrize(
    "flags", [("--raw", "--json"), ("--headers", "--body"), ("--body", "--json", "--raw")]
)
def test_show_takes_one_view(history: Path, flags: tuple[str, ...]) -> None:
    result = run_whrelay("show", "1", *flags, "--db", str(history))
    assert result.returncode == ExitCode.USAGE
    assert "each choose what to show: give one" in err(result)


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
    from tests.helpers.targetserver import target_server

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
