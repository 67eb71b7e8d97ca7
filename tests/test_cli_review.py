"""What a new user ran into: the output reader going away, two listeners on one database,
``verify``'s time, targets and methods that could break a request line, and checks of what
``listen``, ``sign`` and ``send`` are given. Real subprocesses, sockets and files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
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

from tests.helpers.processes import ROOT, run_whrelay, start_listener, whrelay_cmd
from tests.helpers.rawhttp import raw_request
from tests.helpers.wait import wait_until
from whrelay.core.errors import ExitCode
from whrelay.core.models import Attempt, Webhook, WebhookSummary
from whrelay.render.webhooks import attempt_line, decoded_body

GITHUB_SECRET = "review-secret"


def github_request(body: bytes, secret: str = GITHUB_SECRET) -> bytes:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = (
        "POST /gh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


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


def test_a_second_listen_forwarding_to_the_same_target_is_refused(tmp_path: Path) -> None:
    """Each listen resumes the pending deliveries of its targets: two forwarding to one
    target from one database would deliver them twice. Others are not in the way."""
    db = tmp_path / "hooks.db"
    first = start_listener(db, "-f", "3001")
    try:
        link = tmp_path / "link.db"
        link.symlink_to(db)
        for path in (db, link):
            second = run_whrelay(
                "listen", "--port", "0", "-f", "3002", "-f", "3001", "--db", str(path),
                timeout=30,
            )  # fmt: skip
            assert second.returncode == ExitCode.UNAVAILABLE, second.stderr
            message = second.stderr.decode()
            assert "another whrelay listen forwards to http://127.0.0.1:3001" in message
            assert "Traceback" not in message
        for others in ((), ("-f", "3002")):  # storing only, or forwarding elsewhere
            start_listener(db, *others).stop()
    finally:
        first.stop()
    start_listener(db, "-f", "3001").stop()  # the lock goes with the process


@pytest.fixture
def stored_github(tmp_path: Path) -> tuple[Path, int]:
    """A database holding one signed GitHub webhook (received now)."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    try:
        import asyncio

        answer = asyncio.run(raw_request(listener.url, github_request(b'{"zen":"x"}')))
        assert answer.status == 200
        webhook_id = int(json.loads(answer.body)["id"])
    finally:
        listener.stop()
    return db, webhook_id


def test_verify_judges_at_now_0_when_asked(stored_github: tuple[Path, int]) -> None:
    """``--now 0`` is a time like any other, not "not given"."""
    db, webhook_id = stored_github
    args = ("verify", str(webhook_id), "--secret", GITHUB_SECRET, "--db", str(db), "--json")
    at_zero = json.loads(run_whrelay(*args, "--now", "0").stdout)
    at_arrival = json.loads(run_whrelay(*args).stdout)
    # GitHub's signature has no timestamp: both are valid, and each says when it judged.
    assert at_zero["valid"] and at_arrival["valid"]
    zoned = "standard-webhooks"
    stamp = str(int(time.time()))
    key = b"0123456789abcdef"
    body = b'{"type":"x"}'
    mac = base64.b64encode(hmac.new(key, f"msg_1.{stamp}.".encode() + body, "sha256").digest())
    request = (
        f"POST /sw HTTP/1.1\r\nHost: x\r\nwebhook-id: msg_1\r\nwebhook-timestamp: {stamp}\r\n"
        f"webhook-signature: v1,{mac.decode()}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    secret = "whsec_" + base64.b64encode(key).decode()
    checked = run_whrelay(
        "verify", "--request", "-", "--provider", zoned, "--secret", secret, "--now", "0",
        "--json", input=request,
    )  # fmt: skip
    verdict = json.loads(checked.stdout)
    assert verdict["reason"] == "timestamp_in_future", verdict  # judged at 1970, not now


def test_verify_judges_a_json_record_at_its_arrival(tmp_path: Path) -> None:
    """``show --json`` then ``verify --request``: the same verdict as ``verify ID``."""
    db = tmp_path / "hooks.db"
    key = b"fedcba9876543210"
    secret = "whsec_" + base64.b64encode(key).decode()
    arrived = int(time.time()) - 3600  # signed and received an hour ago
    body = b'{"type":"invoice.paid"}'
    mac = base64.b64encode(hmac.new(key, f"msg_2.{arrived}.".encode() + body, "sha256").digest())
    record = {
        "id": 1,
        "received_at": arrived * 1_000_000,
        "method": "POST",
        "path": "/sw",
        "query": "",
        "headers": [
            ["webhook-id", "msg_2"],
            ["webhook-timestamp", str(arrived)],
            ["webhook-signature", "v1," + mac.decode()],
        ],
        "body_b64": base64.b64encode(body).decode(),
    }
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    checked = run_whrelay("verify", "--request", str(path), "--secret", secret, "--db", str(db))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    late = run_whrelay(
        "verify", "--request", str(path), "--secret", secret, "--now", str(arrived + 3600)
    )
    assert late.returncode == ExitCode.CHECK_FAILED
    assert b"timestamp_too_old" in late.stdout


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


@pytest.mark.parametrize("method", ["BAD METHOD", "POST /evil HTTP/1.1\r\nX-Inj: 1\r\nFoo:", ""])
def test_send_refuses_a_method_that_is_not_a_token(method: str) -> None:
    done = run_whrelay(
        "send", "9", "-X", method, "--provider", "github", "--secret", "s", "--data", "x"
    )
    assert done.returncode == ExitCode.USAGE
    assert b"is not an HTTP method" in done.stderr


async def test_send_json_has_no_made_up_ids(tmp_path: Path) -> None:
    """A test send is stored nowhere: its ids are null, not 0."""
    from tests.helpers.targetserver import target_server

    with target_server() as target:
        done = run_whrelay(
            "send", str(target.port), "--provider", "github", "--secret", "s", "--json"
        )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["id"] is None and record["webhook_id"] is None
    assert record["status"] == 200


def test_sign_with_an_unknown_provider_says_only_that() -> None:
    done = run_whrelay("sign", "--provider", "bogus", "--secret", "x")
    assert done.returncode == ExitCode.USAGE
    assert b"unknown provider 'bogus'" in done.stderr
    assert b"note:" not in done.stderr  # no "signed an example bogus event" first


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


def attempt(**fields: object) -> Attempt:
    base: dict[str, object] = {
        "webhook_id": 7,
        "delivery": 3,
        "trigger": "retry",
        "url": "http://127.0.0.1:3000/h",
        "request_headers": (),
        "started_at": 1_700_000_000_000_000,
        "duration_us": 1500,
        "status": 500,
    }
    return Attempt(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "ending"),
    [
        ({"status": 500}, "failed: retry window over"),
        ({"status": None, "error": "refused", "error_detail": "connection refused"}, "over"),
        ({"status": 404, "trigger": "first"}, "failed, not retried"),
        ({"status": None, "error": "blocked", "error_detail": "10.0.0.1"}, "not retried"),
        ({"status": None, "error": "unsent", "duration_us": 0}, "failed, not retried"),
        ({"status": 500, "trigger": "replay"}, "failed"),
    ],
)
def test_a_failed_attempt_says_why_it_ended(fields: dict[str, object], ending: str) -> None:
    line = attempt_line(attempt(**fields), "failed").plain
    assert line.endswith(ending), line
    if fields.get("error_detail"):
        assert f"({fields['error_detail']})" in line  # the reason, not only its kind


def _webhook(body: bytes, encoding: str) -> Webhook:
    summary = WebhookSummary(1, 1, "POST", "/x", "", None, None, None, len(body), None)
    headers = ((b"Content-Encoding", encoding.encode()),)
    return Webhook(
        summary=summary, headers=headers, body=body, http_version="1.1", remote_addr=None
    )


@pytest.mark.parametrize(
    ("body", "shown", "note"),
    [
        (b"x", b"x", "could not decompress (gzip): the stream is cut short"),
        (gzip.compress(b'{"a":1}', mtime=0)[:-5], b'{"a":1}', "the stream is cut short"),
        (
            gzip.compress(b'{"a":1}', mtime=0) + b"junk",
            b'{"a":1}',
            "4 B after the end of the stream",
        ),
        (
            gzip.compress(b'{"a":1}', mtime=0),
            b'{"a":1}',
            "decompressed from gzip (27 B as received)",
        ),
    ],
)
def test_show_says_when_gzip_does_not_decompress_cleanly(
    body: bytes, shown: bytes, note: str
) -> None:
    """A cut or corrupt stream is never passed off as a clean decompression."""
    out, said = decoded_body(_webhook(body, "gzip"))
    assert out == shown
    assert said is not None and note in said, said


async def test_recorded_attempt_headers_include_host_and_content_length(tmp_path: Path) -> None:
    """The headers sent, as sent: the client's Host first and Content-Length last."""
    from tests.helpers.targetserver import target_server

    db = tmp_path / "hooks.db"
    with target_server() as target:
        listener = start_listener(db, "-f", str(target.port))
        try:
            answer = await raw_request(listener.url, github_request(b"{}"))
            listener.wait_for_events("attempt", 1)
        finally:
            listener.stop()
    shown = json.loads(run_whrelay("show", str(json.loads(answer.body)["id"]), "--json",
                                   "--db", str(db)).stdout)  # fmt: skip
    sent = shown["attempts"][0]["request_headers"]
    assert sent[0] == ["Host", f"127.0.0.1:{target.port}"]
    assert sent[-1] == ["Content-Length", "2"]
    wire = target.requests[0].headers
    assert [name.decode().lower() for name, _ in wire] == [name.lower() for name, _ in sent]


def test_list_notes_the_limit_only_when_it_cut_something_off(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    from whrelay.core.models import Capture
    from whrelay.storage import Store

    with Store(db) as store:
        store.insert_webhooks(
            [
                Capture("POST", f"/p{i}", "q=%1b", (), b"body", "1.1", None, 1_700_000_000 + i)
                for i in range(3)
            ]
        )
    exactly = run_whrelay("list", "--limit", "3", "--db", str(db))
    assert b"--limit 0" not in exactly.stderr
    fewer = run_whrelay("list", "--limit", "2", "--db", str(db))
    assert b"(the newest 2; --limit 0 lists them all)" in fewer.stderr
    found = run_whrelay("list", "--search", "q=%1b", "--json", "--db", str(db))
    assert len(found.stdout.splitlines()) == 3  # the query is searched too


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


def test_replay_resign_sends_a_webhook_with_no_scheme_as_received_and_says_why(
    tmp_path: Path,
) -> None:
    from tests.helpers.targetserver import target_server
    from whrelay.core.models import Capture
    from whrelay.storage import Store

    db = tmp_path / "hooks.db"
    with Store(db) as store:
        [plain] = store.insert_webhooks(
            [Capture("POST", "/p", "", ((b"X-Mine", b"1"),), b"x", "1.1", None, 1)]
        )
    with target_server() as target:
        dry = run_whrelay(
            "replay", str(plain.id), "--to", target.url, "--resign", "--secret", "s",
            "--dry-run", "--db", str(db),
        )  # fmt: skip
        done = run_whrelay(
            "replay", str(plain.id), "--to", target.url, "--resign", "--secret", "s",
            "--db", str(db),
        )  # fmt: skip
        [seen] = target.wait_for(1)
    assert dry.returncode == 0, dry.stderr
    assert b"not re-signed: no signature scheme was recognized" in dry.stdout
    assert done.returncode == 0, done.stderr
    assert b"not re-signed: no signature scheme was recognized" in done.stdout
    assert seen.body == b"x"
    assert [name for name, _ in seen.headers if name.lower().startswith(b"x-")] == [
        b"X-Mine",
        b"X-Forwarded-Proto",
    ]
    with Store(db, readonly=True) as store:
        [attempt] = store.attempts(plain.id)
    assert attempt.resigned is False
    assert attempt.resign_note == "not re-signed: no signature scheme was recognized"


@pytest.mark.slow
async def test_a_delivery_replayed_elsewhere_is_not_sent_again_by_listen(tmp_path: Path) -> None:
    """``whrelay replay`` delivers a webhook that ``listen`` is retrying: listen drops it
    rather than send it again, and does not overwrite ``delivered``."""
    from tests.helpers.targetserver import target_server
    from whrelay.storage import Store

    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(status=500)
        listener = start_listener(db, "-f", str(target.port), "--retry-schedule", "3")
        try:
            answer = await raw_request(listener.url, github_request(b"{}"))
            webhook_id = int(json.loads(answer.body)["id"])
            target.wait_for(1)
            target.reply(status=200)
            replayed = run_whrelay("replay", str(webhook_id), "--db", str(db))
            assert replayed.returncode == 0, replayed.stderr
            time.sleep(4.5)  # past listen's retry, due 3 s after its first attempt
            assert len(target.requests) == 2  # the first attempt and the replay only
        finally:
            listener.stop()
    with Store(db, readonly=True) as store:
        [delivery] = store.deliveries(webhook_id)
    assert delivery.state == "delivered"
    # The replay is not one of the delivery's attempts (they drive its backoff), and the
    # failed one is not said to have run out of retries.
    shown = run_whrelay("show", str(webhook_id), "--db", str(db)).stdout.decode()
    assert "1 attempt(s) + 1 replay(s)" in shown, shown
    assert "then replayed" in shown and "retry window over" not in shown, shown


def test_delivered_is_final(tmp_path: Path) -> None:
    """An attempt that ends after another process delivered the webhook keeps it delivered."""
    from whrelay.core.models import Capture, DeliveryState
    from whrelay.storage import Store
    from whrelay.storage.store import update_delivery

    with Store(tmp_path / "hooks.db") as store:
        [webhook] = store.insert_webhooks(
            [Capture("POST", "/p", "", (), b"x", "1.1", None, 1)], [["http://127.0.0.1:9"]]
        )
        [delivery] = store.deliveries(webhook.id)
        for state in (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.PENDING):

            def move(db: sqlite3.Connection, state: DeliveryState = state) -> None:
                update_delivery(
                    db, delivery.id, state=state, next_attempt_at=5, attempt=None, now_us=2
                )

            store.run(move)
        [after] = store.deliveries(webhook.id)
    assert (after.state, after.next_attempt_at) == ("delivered", None)


async def test_replay_with_another_body_warns_that_the_signature_no_longer_matches(
    tmp_path: Path,
) -> None:
    from tests.helpers.targetserver import target_server

    db = tmp_path / "hooks.db"
    edited = tmp_path / "edited.json"
    edited.write_bytes(b'{"edited":true}')
    listener = start_listener(db)
    try:
        signed = await raw_request(listener.url, github_request(b"{}"))
        mailgun = json.dumps(
            {"signature": {"timestamp": "1", "token": "t", "signature": "a" * 64}}
        ).encode()
        unsigned = await raw_request(
            listener.url,
            b"POST /mg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(mailgun) + mailgun,
        )
    finally:
        listener.stop()
    with target_server() as target:
        for answer, warned in ((signed, True), (unsigned, False)):
            webhook_id = str(json.loads(answer.body)["id"])
            done = run_whrelay(
                "replay", webhook_id, "--to", str(target.port), "--body-file", str(edited),
                "--db", str(db),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert (b"github signature sent with it no longer matches" in done.stderr) is warned
            assert (b"no longer matches" in done.stderr) is warned  # Mailgun's: not the body
        assert target.bodies == [b'{"edited":true}', b'{"edited":true}']


# --- the third round: a diff review and a delivery-under-adversity run ---------------------


async def test_a_request_lost_on_a_kept_alive_connection_is_not_sent_again_silently() -> None:
    """The target reads the second request on a kept-alive connection, then drops it: that
    is an attempt that failed (the app may have run), not something to resend unrecorded."""
    from whrelay.relay.http1 import Http1Client

    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number in (1, 2):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            received.append(await reader.readexactly(length))
            if number == 1:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        writer.close()  # the app crashed on the second

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/h"
    http = Http1Client(allow=lambda address: True, response_cap=1 << 20)
    try:
        assert (await http.request("POST", url, (), b"first")).status == 200
        with pytest.raises(asyncio.IncompleteReadError):
            await http.request("POST", url, (), b"second")
    finally:
        await http.close()
        server.close()
        await server.wait_closed()
    assert received == [b"first", b"second"]  # the second went out once


async def bare_lf_exchange(answer: bytes) -> object:
    """What ``Http1Client`` makes of ``answer`` from a target that then closes: the
    response, or the exception it raised."""
    from whrelay.relay.http1 import Http1Client

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/h"
    http = Http1Client(allow=lambda address: True, response_cap=1 << 20)
    try:
        return await http.request("GET", url, (), None)
    except Exception as error:
        return error
    finally:
        await http.close()
        server.close()
        await server.wait_closed()


async def test_an_answer_with_bare_lf_lines_is_read() -> None:
    """RFC 9112 lets a recipient take LF for CRLF; a small server that writes LF and closes
    answered, and is not to be retried as 'reset' for a day."""
    from whrelay.relay.http1 import ProtocolError, Response

    answer = await bare_lf_exchange(b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nokEXTRA")
    assert isinstance(answer, Response)
    assert (answer.status, answer.body) == (200, b"ok")
    assert answer.headers == ((b"Content-Length", b"2"), (b"X-A", b"b"))
    after_continue = await bare_lf_exchange(
        b"HTTP/1.1 100 Continue\n\nHTTP/1.1 500 Oops\nContent-Length: 0\n\n"
    )
    assert isinstance(after_continue, Response) and after_continue.status == 500
    short = await bare_lf_exchange(b"HTTP/1.1 200 OK\nContent-Length: 100\n\nok")
    assert isinstance(short, asyncio.IncompleteReadError)  # recorded as reset, retried
    chunked = await bare_lf_exchange(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n")
    assert isinstance(chunked, ProtocolError)


def test_verify_reads_the_arrival_time_show_json_writes(tmp_path: Path) -> None:
    """``show --json`` writes ``received_at`` as ISO 8601; a record is judged at it."""
    from whrelay.formats.httpfile import read_request

    record = {"received_at": "2026-11-27T01:59:14.894855Z", "method": "POST", "path": "/"}
    parsed = read_request(json.dumps(record).encode())
    assert parsed.received_at == 1795744754894855


def test_verify_without_a_provider_takes_a_header_that_is_not_utf8(tmp_path: Path) -> None:
    request = b"POST /x HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\n{}"
    done = run_whrelay("verify", "--request", "-", "--secret", "s", input=request)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert b"cannot tell the provider" in done.stderr


def test_several_gzip_members_are_one_body() -> None:
    body = gzip.compress(b"ab", mtime=0) + gzip.compress(b"cd", mtime=0)
    out, note = decoded_body(_webhook(body, "gzip"))
    assert out == b"abcd"
    assert note == "decompressed from gzip (44 B as received)"


async def test_proxy_mode_says_when_it_passes_on_part_of_an_answer(
    tmp_path: Path,
) -> None:
    from tests.helpers.targetserver import target_server

    with target_server() as target:
        target.reply(status=200, body=b"x" * (2 << 20))
        listener = start_listener(tmp_path / "hooks.db", "-f", str(target.port), "--mode", "proxy")
        try:
            answer = await raw_request(listener.url, github_request(b"{}"))
        finally:
            listener.stop()
    assert answer.status == 200  # what the target answered: it ran the webhook
    assert answer.body == b"x" * (1 << 20)
    assert answer.header("X-Whrelay-Truncated") == b"the first 1048576 bytes of a longer body"


async def test_a_paused_target_is_said_once_and_then_per_new_webhook(tmp_path: Path) -> None:
    from tests.helpers.targetserver import target_server

    with target_server() as target:
        target.reply(status=410)
        listener = start_listener(tmp_path / "hooks.db", "-f", str(target.port))
        try:
            await asyncio.gather(
                *(raw_request(listener.url, github_request(b"{}")) for _ in range(4))
            )
            listener.wait_for_events("target_paused", 1)

            def settled() -> bool:
                """Every attempt that was in flight when the target went has ended."""
                answered = len(target.requests)
                return answered == sum(e["event"] == "attempt" for e in list(listener.events))

            wait_until(settled, "the attempts in flight to end")
            first = [e for e in listener.events if e["event"] == "target_paused"]
            await raw_request(listener.url, github_request(b"{}"))
            later = listener.wait_for_events("target_paused", len(first) + 1)
        finally:
            listener.stop()
    attempts = [e for e in listener.events if e["event"] == "attempt"]
    assert len(first) == 1, first  # however many attempts were in flight
    assert later[-1]["pending"] == 4 - len(attempts) + 1


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


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "state"), [("store", "pending"), ("proxy", "failed")])
async def test_ctrl_c_during_an_attempt_records_it_as_interrupted(
    tmp_path: Path, mode: str, state: str
) -> None:
    """The target has the webhook and no answer came: ``show`` says so, rather than claim
    nothing was sent. Store mode keeps the delivery pending for the next listen; in proxy
    mode the sender (who got no answer) sends it again itself, so it is settled."""
    from tests.helpers.targetserver import target_server

    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(stall=10)
        listener = start_listener(db, "-f", str(target.port), "--mode", mode)
        sending = asyncio.ensure_future(raw_request(listener.url, github_request(b"{}")))
        await asyncio.to_thread(target.wait_for, 1)
        assert await asyncio.to_thread(listener.stop) == ExitCode.INTERRUPTED
        with contextlib.suppress(asyncio.IncompleteReadError):  # proxy: no answer came
            await sending
    [row] = [
        json.loads(line)
        for line in run_whrelay("list", "--json", "--db", str(db)).stdout.splitlines()
    ]
    webhook_id = str(row["id"])
    shown = json.loads(run_whrelay("show", webhook_id, "--json", "--db", str(db)).stdout)
    [attempt] = shown["attempts"]
    assert (attempt["status"], attempt["error"]) == (None, "interrupted")
    assert attempt["error_detail"].startswith("whrelay stopped before the answer came")
    assert attempt["duration_ms"] > 0  # it was under way, not never sent
    assert [d["state"] for d in shown["deliveries"]] == [state]
    seen = [e["event"] for e in listener.events]
    assert seen.index("webhook") < seen.index("attempt")  # shown before its attempt


def test_forwarding_locks_within_one_process(tmp_path: Path) -> None:
    """POSIX record locks belong to the process: a second holder in the same process is
    refused too, and one leaving does not drop the other's locks."""
    from whrelay.core.errors import UnavailableError
    from whrelay.storage.lock import sole_forwarder

    db = tmp_path / "hooks.db"
    probe = (
        "import sys; from pathlib import Path; from whrelay.storage.lock import sole_forwarder\n"
        "try:\n    sole_forwarder(Path(sys.argv[1]), [sys.argv[2]]).__enter__()\n"
        "except Exception:\n    sys.exit(3)\n"
    )

    def other_process_can_take(url: str) -> bool:
        done = subprocess.run(
            [sys.executable, "-c", probe, str(db), url], cwd=ROOT, check=False, timeout=60
        )
        return done.returncode == 0

    with sole_forwarder(db, ["http://127.0.0.1:1"]):
        with pytest.raises(UnavailableError), sole_forwarder(db, ["http://127.0.0.1:1"]):
            pass
        with sole_forwarder(db, ["http://127.0.0.1:2"]):
            assert not other_process_can_take("http://127.0.0.1:2")
        assert not other_process_can_take("http://127.0.0.1:1")  # still held
        assert other_process_can_take("http://127.0.0.1:2")
    assert other_process_can_take("http://127.0.0.1:1")


async def test_a_refused_attempt_announces_no_retry_time(tmp_path: Path) -> None:
    """A target found down is probed every second and the retry comes when it is back: the
    backoff's time (kept for a restart) would be a wrong promise."""
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    listener = start_listener(tmp_path / "hooks.db", "-f", str(port))
    try:
        await raw_request(listener.url, github_request(b"{}"))
        [event] = listener.wait_for_events("attempt", 1)
    finally:
        listener.stop()
    assert (event["error"], event["state"], event["retry_in"]) == ("refused", "pending", None)
    line = attempt_line(attempt(status=None, error="refused", trigger="first"), "pending").plain
    assert line.endswith("retry when the target is back"), line


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


def test_say_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine diagnostics with stderr closed at start (``2>&-``: ``sys.stderr`` is None) or
    gone: the line is lost, nothing else (a restart of the storage process must go on)."""
    from whrelay.core.errors import say

    monkeypatch.setattr(sys, "stderr", None)
    say("warning: nobody reads this")

    class Gone:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stderr", Gone())
    say("warning: nobody reads this either")


def test_gzip_members_are_shown_up_to_a_bound() -> None:
    """Each member costs a copy of the rest of the body: past 1000 members the rest is
    counted, not decompressed (400,000 empty members took minutes)."""
    member = gzip.compress(b"x", mtime=0)
    out, note = decoded_body(_webhook(member * 1500, "gzip"))
    assert out == b"x" * 1000
    assert note is not None and "the first 1000 members;" in note


def test_stderr_closed_at_start_changes_nothing_but_the_messages(tmp_path: Path) -> None:
    """``2>&-``: Python's ``sys.stderr`` is None. A start warning in json mode used to stop
    listen with exit 1; an error's exit code used to become 1."""
    from whrelay.core.models import Capture
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
