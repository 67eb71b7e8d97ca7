"""``whrelay export`` and ``whrelay import`` (``whrelay.formats.export``, ``.imports``): every
format carries the stored bytes; curl and HTTPie scripts run by the real tools reach a target
byte for byte; what is exported is imported back the same; bad input names where it is bad and
stores nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from haralyzer import HarParser

from tests.conftest import ROOT, run_whrelay
from tests.targetserver import Recorded, target_server
from whrelay.core.models import Capture, RawHeaders, Webhook
from whrelay.signatures import REDACTED
from whrelay.storage import Store

SECRET_FILE = "/tmp/whrelay-export-injection-marker"
MARK = SECRET_FILE.encode()

CASES: dict[str, tuple[str, str, str, RawHeaders, bytes | None]] = {
    "json": (
        "POST", "/hooks/stripe", "a=1&b=two",
        ((b"Host", b"127.0.0.1:8642"), (b"Content-Type", b"application/json"),
         (b"Stripe-Signature", b"t=1,v1=abc"), (b"X-Dup", b"1"), (b"x-dup", b"2"),
         (b"X-MiXeD-Case", b"Value  with  spaces"), (b"Content-Length", b"42")),
        b'{"id":"evt_1","type":"invoice.paid","n":1}',
    ),
    "binary": (
        "PUT", "/bin", "",
        ((b"Host", b"h"), (b"Content-Type", b"application/octet-stream"),
         (b"X-Latin", b"caf\xe9"), (b"Content-Length", b"8")),
        b"\x00\x01\xff\xfe\r\n\x1b[",
    ),
    "no body": (
        "GET", "/ping", "x=%20y&z", ((b"Host", b"h"), (b"Accept", b"*/*")), None,
    ),
    "empty body": (
        "POST", "/empty", "", ((b"Host", b"h"), (b"Content-Length", b"0")), b"",
    ),
    "large": (
        "POST", "/large", "", ((b"Host", b"h"), (b"Content-Type", b"text/plain")),
        b"line of text \xe2\x98\x83 'quoted' \\ back\n" * 6000,
    ),
    "shell": (
        "POST", "/shell", "q=$(touch%20x)",
        ((b"Host", b"h"), (b"X-Evil", b"$(touch " + MARK + b") `id` 'x' \"y\" \\"),
         (b"Content-Type", b"text/plain")),
        b"$(touch " + MARK + b")\n'; touch " + MARK + b"; '\n`id`\n",
    ),
    "chunked": (
        "POST", "/chunked", "",
        ((b"Host", b"h"), (b"Transfer-Encoding", b"chunked"), (b"User-Agent", b"GitHub-Hookshot")),
        b'{"zen":"Keep it logically awesome."}',
    ),
}  # fmt: skip
FRAMING = {b"host", b"content-length", b"transfer-encoding"}
for _name, (_m, _p, _q, _h, _b) in list(CASES.items()):  # framed as a receiver stores them
    _framed = any(k.lower() in FRAMING - {b"host"} for k, _ in _h)
    if _b is not None and not _framed:
        CASES[_name] = (_m, _p, _q, (*_h, (b"Content-Length", b"%d" % len(_b))), _b)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    db = tmp_path_factory.mktemp("export") / "hooks.db"
    with Store(db) as store:
        stored = store.insert_webhooks(
            [
                Capture(m, p, q, h, b, "1.1", "127.0.0.1", 1_790_000_000_000_000 + n)
                for n, (m, p, q, h, b) in enumerate(CASES.values())
            ]
        )
    return db, {name: s.id for name, s in zip(CASES, stored, strict=True)}


def original(db: Path, webhook_id: int) -> Webhook:
    with Store(db, readonly=True) as store:
        return store.get_webhook(webhook_id)


def export(db: Path, fmt: str, *selection: str, out: Path) -> None:
    done = run_whrelay("export", *selection, "--format", fmt, "-o", str(out), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert out.exists()


def sent_headers(seen: Recorded) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in seen.headers if k.lower() not in FRAMING]


def stored_headers(webhook: Webhook) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in webhook.headers if k.lower() not in FRAMING]


@pytest.mark.parametrize("tool", ["curl", "httpie"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_script_run_by_the_real_tool_reaches_a_target_byte_exact(
    database: tuple[Path, dict[str, int]], tmp_path: Path, tool: str, case: str
) -> None:
    runner = "curl" if tool == "curl" else "http"
    if shutil.which(runner) is None and not (Path(ROOT) / ".venv/bin" / runner).exists():
        pytest.skip(f"{runner} is not installed")
    db, ids = database
    script = tmp_path / "send.sh"
    if tool == "httpie" and case == "binary":  # a header that is not UTF-8
        refused = run_whrelay("export", str(ids[case]), "--format", tool, "--db", str(db))
        assert refused.returncode == 2
        assert b"HTTPie cannot send as it came" in refused.stderr
        assert b"--format curl" in refused.stderr
        return
    export(db, tool, str(ids[case]), out=script)
    Path(SECRET_FILE).unlink(missing_ok=True)
    with target_server() as target:
        env = {"PATH": f"{Path(ROOT) / '.venv/bin'}:/usr/bin:/bin"}
        done = subprocess.run(
            ["bash", str(script), target.url], capture_output=True, timeout=60, env=env, check=False
        )
        assert done.returncode == 0, (done.stdout, done.stderr, script.read_text()[:2000])
        [seen] = target.wait_for(1)
    webhook = original(db, ids[case])
    assert not Path(SECRET_FILE).exists(), "the script ran what the webhook held"
    assert seen.method == webhook.summary.method
    assert seen.path_qs == webhook.summary.target
    assert seen.body == (webhook.body or b"")
    sent, stored = sent_headers(seen), stored_headers(webhook)
    assert sorted(sent) == sorted(stored)  # every header, duplicates included, nothing added
    if tool == "curl":
        assert sent == stored  # in order
    else:  # HTTPie sends the headers it has defaults for first, the others in order
        defaults = {b"user-agent", b"accept", b"accept-encoding", b"connection", b"content-type"}
        assert [h for h in sent if h[0].lower() not in defaults] == [
            h for h in stored if h[0].lower() not in defaults
        ]
    assert seen.header("Host") == target.url.removeprefix("http://")


@pytest.mark.parametrize("fmt", ["json", "http", "har"])
def test_what_is_exported_is_imported_back_the_same(
    database: tuple[Path, dict[str, int]], tmp_path: Path, fmt: str
) -> None:
    db, ids = database
    out = tmp_path / f"all.{fmt}"
    export(db, fmt, "--all", out=out)
    copy = tmp_path / "copy.db"
    done = run_whrelay("import", str(out), "--json", "--db", str(copy))
    assert done.returncode == 0, done.stderr
    imported = [json.loads(line)["id"] for line in done.stdout.splitlines()]
    assert len(imported) == len(CASES)
    for name, new_id in zip(CASES, imported, strict=True):
        before, after = original(db, ids[name]), original(copy, new_id)
        assert after.summary.method == before.summary.method, name
        assert after.summary.target == before.summary.target, name
        assert after.headers == before.headers, name
        assert after.body == before.body, name
        assert after.summary.provider == before.summary.provider, name
        if fmt != "http":  # a raw request carries no arrival time
            assert after.summary.received_at == before.summary.received_at, name
    shown = run_whrelay("show", str(imported[0]), "--db", str(copy))
    assert f"imported from all.{fmt}".encode() in shown.stdout
    with Store(copy, readonly=True) as store:
        assert all(store.deliveries(i) == [] for i in imported)  # never forwarded


def test_the_http_export_is_what_verify_request_reads(tmp_path: Path) -> None:
    import hashlib
    import hmac

    body = b'{"id":"evt_v","type":"charge.succeeded"}'
    secret = "whsec_exportverify"
    stamp = 1_790_000_000
    signature = hmac.new(secret.encode(), b"%d." % stamp + body, hashlib.sha256).hexdigest()
    headers = ((b"Host", b"h"), (b"Stripe-Signature", f"t={stamp},v1={signature}".encode()))
    db = tmp_path / "hooks.db"
    with Store(db) as store:
        [stored] = store.insert_webhooks(
            [Capture("POST", "/s", "", headers, body, "1.1", None, stamp * 1_000_000)]
        )
    out = tmp_path / "request.http"
    export(db, "http", str(stored.id), out=out)
    checked = run_whrelay(
        "verify", "--request", str(out), "--secret", secret, "--now", str(stamp), "--json"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["valid"] is True


def test_the_har_export_opens_in_a_har_library(
    database: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    db, _ = database
    out = tmp_path / "hooks.har"
    export(db, "har", "--all", out=out)
    parser = HarParser(json.loads(out.read_text()))
    entries = [entry for page in parser.pages for entry in page.entries] or [
        e for e in parser.har_data["entries"]
    ]
    assert len(entries) == len(CASES)
    data = json.loads(out.read_text())
    assert data["log"]["version"] == "1.2"
    first = data["log"]["entries"][0]["request"]
    assert first["url"] == "http://127.0.0.1:8642/hooks/stripe?a=1&b=two"
    assert first["queryString"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "two"}]
    assert [h["name"] for h in first["headers"]][3:5] == ["X-Dup", "x-dup"]


def test_gitlabs_token_is_the_one_header_export_redacts(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    headers = (
        (b"Host", b"h"),
        (b"X-Gitlab-Token", b"the-secret"),
        (b"X-Gitlab-Event", b"Push Hook"),
    )
    with Store(db) as store:
        [stored] = store.insert_webhooks(
            [Capture("POST", "/gl", "", headers, b"{}", "1.1", None, 1)]
        )
    for fmt in ("curl", "httpie", "http", "har", "json"):
        out = tmp_path / f"gl.{fmt}"
        export(db, fmt, str(stored.id), out=out)
        text = out.read_bytes()
        assert b"the-secret" not in text, fmt
        assert REDACTED.encode() in text or fmt in ("curl", "httpie"), fmt


WHOLE = b'{"method":"POST","path":"/a","headers":[],"body_b64":""}\n'
HAR_ENTRIES = [
    {"request": {"method": "POST", "url": "http://h/a", "headers": []}},
    {"request": {"method": "PO ST", "url": "http://h/b", "headers": []}},
]
HTTP_OK = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("hooks.ndjson", WHOLE + b"{oops\n", "line 2"),
        ("hooks.ndjson", WHOLE + b'{"method":"POST"}\n', "line 2"),
        ("hooks.har", json.dumps({"log": {"entries": HAR_ENTRIES}}).encode(), "entry 2"),
        ("req.http", HTTP_OK + b"POST /b HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort", "message 2"),
        ("req.http", b"POST /a HTTP/1.1\r\nHost h\r\n\r\n", "message 1"),
    ],
    ids=["not json", "not whole", "bad method", "cut body", "bad header"],
)
def test_bad_input_names_where_and_stores_nothing(
    tmp_path: Path, name: str, content: bytes, where: str
) -> None:
    db = tmp_path / "hooks.db"
    with Store(db):
        pass
    source = tmp_path / name
    source.write_bytes(content)
    done = run_whrelay("import", str(source), "--db", str(db))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith(f"whrelay: error: {name}, {where}".encode()), done.stderr
    assert b"Traceback" not in done.stderr
    with Store(db, readonly=True) as store:
        assert store.count_webhooks() == 0


def test_import_identifies_and_never_forwards(tmp_path: Path) -> None:
    record = {
        "method": "POST",
        "path": "/hooks/gh",
        "query": "",
        "headers": [["X-GitHub-Event", "issues"], ["X-GitHub-Delivery", "d-1"]],
        "body_b64": "eyJhY3Rpb24iOiJvcGVuZWQifQ==",
        "received_at": "2026-11-30T10:00:00.000001Z",
    }
    done = run_whrelay(
        "import", "-", "--json", "--db", str(tmp_path / "new.db"), input=json.dumps(record).encode()
    )
    assert done.returncode == 0, done.stderr
    [summary] = [json.loads(line) for line in done.stdout.splitlines()]
    assert (summary["provider"], summary["event_type"]) == ("github", "issues.opened")
    assert summary["received_at"] == "2026-11-30T10:00:00.000001Z"
    assert summary["verdict"] == "unverified"
    shown = json.loads(
        run_whrelay("show", str(summary["id"]), "--json", "--db", str(tmp_path / "new.db")).stdout
    )
    assert shown["imported_from"] == "stdin, the record"
    assert shown["deliveries"] == []


async def test_listen_json_output_imports_back_the_same(tmp_path: Path) -> None:
    """``listen -o json``'s webhook lines are whole records: its output imports elsewhere."""
    import aiohttp

    from tests.conftest import start_listener

    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    try:
        async with aiohttp.ClientSession() as session:
            for body in (b'{"type":"a"}', bytes(range(256))):
                headers = {"X-Dup": "1", "Stripe-Signature": "t=1,v1=ab"}
                async with session.post(listener.url + "p?q=1", data=body, headers=headers) as r:
                    assert r.status == 200
        listener.wait_for_events("webhook", 2)
    finally:
        listener.stop()
    output = tmp_path / "listen.ndjson"
    output.write_text("".join(json.dumps(event) + "\n" for event in listener.events))
    copy = tmp_path / "copy.db"
    done = run_whrelay("import", str(output), "--json", "--db", str(copy))
    assert done.returncode == 0, done.stderr
    imported = [json.loads(line)["id"] for line in done.stdout.splitlines()]
    assert len(imported) == 2
    for old_id, new_id in zip((1, 2), imported, strict=True):
        before, after = original(db, old_id), original(copy, new_id)
        assert (after.headers, after.body) == (before.headers, before.body)
        assert after.summary.received_at == before.summary.received_at
