"""What a new user ran into: the output reader going away, two listeners on one database,
``verify``'s time, targets and methods that could break a request line, and checks of what
``listen``, ``sign`` and ``send`` are given. Real subprocesses, sockets and files."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, raw_request, run_whrelay, start_listener, whrelay_cmd
from whrelay.errors import ExitCode
from whrelay.models import Attempt, Webhook, WebhookSummary
from whrelay.render import attempt_line, decoded_body

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


def test_a_second_listen_on_the_same_database_is_refused(tmp_path: Path) -> None:
    """Each listen resumes the pending deliveries it finds: two would deliver them twice."""
    db = tmp_path / "hooks.db"
    first = start_listener(db)
    try:
        link = tmp_path / "link.db"
        link.symlink_to(db)
        for path in (db, link):
            second = run_whrelay("listen", "--port", "0", "--db", str(path), timeout=30)
            assert second.returncode == ExitCode.UNAVAILABLE, second.stderr
            message = second.stderr.decode()
            assert f"another whrelay listen (pid {first.proc.pid})" in message
            assert "Traceback" not in message
    finally:
        first.stop()
    again = start_listener(db)  # the lock goes with the process
    again.stop()


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
    from tests.targetserver import target_server

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
        ({"status": None, "error": "error", "duration_us": 0}, "failed, not retried"),
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
    from tests.targetserver import target_server

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
    from whrelay.models import Capture
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
    from tests.test_listen_signatures import start_text_listener

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


def test_replay_resign_names_the_webhook_with_no_scheme(tmp_path: Path) -> None:
    from whrelay.models import Capture
    from whrelay.storage import Store

    db = tmp_path / "hooks.db"
    with Store(db) as store:
        [plain] = store.insert_webhooks([Capture("POST", "/p", "", (), b"x", "1.1", None, 1)])
    done = run_whrelay(
        "replay", str(plain.id), "--to", "9", "--resign", "--secret", "s", "--db", str(db)
    )
    assert done.returncode == ExitCode.USAGE
    assert f"no signature scheme was recognized for webhook #{plain.id}".encode() in done.stderr
    assert b"--provider" in done.stderr


@pytest.mark.slow
async def test_a_delivery_replayed_elsewhere_is_not_sent_again_by_listen(tmp_path: Path) -> None:
    """``whrelay replay`` delivers a webhook that ``listen`` is retrying: listen drops it
    rather than send it again, and does not overwrite ``delivered``."""
    from tests.targetserver import target_server
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


def test_delivered_is_final(tmp_path: Path) -> None:
    """An attempt that ends after another process delivered the webhook keeps it delivered."""
    from whrelay.models import Capture
    from whrelay.storage import Store
    from whrelay.storage.store import update_delivery

    with Store(tmp_path / "hooks.db") as store:
        [webhook] = store.insert_webhooks(
            [Capture("POST", "/p", "", (), b"x", "1.1", None, 1)], [["http://127.0.0.1:9"]]
        )
        [delivery] = store.deliveries(webhook.id)
        for state in ("delivered", "failed", "pending"):

            def move(db: sqlite3.Connection, state: str = state) -> None:
                update_delivery(
                    db, delivery.id, state=state, next_attempt_at=5, attempt=None, now_us=2
                )

            store.run(move)
        [after] = store.deliveries(webhook.id)
    assert (after.state, after.next_attempt_at) == ("delivered", None)


async def test_replay_with_another_body_warns_that_the_signature_no_longer_matches(
    tmp_path: Path,
) -> None:
    from tests.targetserver import target_server

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
