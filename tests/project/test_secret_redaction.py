"""Secrets never reach the database or any output, for every scheme, with ``--resign`` on.

A canary secret is given to ``listen`` (which re-signs what it forwards) and to every command
that takes one; then the database's files (main, ``-wal``, ``-shm``, the lock files) and
everything each command printed are searched for it, in every form it could take (as given,
base64, hex, the raw key bytes). GitLab's token is the one secret that travels in the request
itself: whrelay keeps the request as the sender made it (it must forward it again), but never
writes the token anywhere else and never shows it.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.processes import run_whrelay, start_listener
from tests.helpers.targetserver import Recorded, target_server
from whrelay.core.models import WebhookSummary, decode_header, pack_headers
from whrelay.identify.known import SECRET_HEADERS
from whrelay.signatures import REDACTED, REGISTRY, get_scheme
from whrelay.signatures.base import Check, Message
from whrelay.storage import Store
from whrelay.storage.migrations import migrate

MARK = b"wrCanaryMark-Q7ZxP4Lk"
assert len(MARK) % 3 == 0, "no base64 padding: the base64 text is one clean string"
PLAIN = "wrCanarySecret-" + MARK.hex()
WHSEC = "whsec_" + base64.b64encode(MARK).decode()
NEEDLES = (
    PLAIN.encode(),
    base64.b64encode(PLAIN.encode()),
    WHSEC.encode(),
    base64.b64encode(MARK),
    MARK,
    MARK.hex().encode(),
)
ASYMMETRIC = {"discord", "sendgrid"}
"""Schemes verified with a public key: nothing secret is configured, nothing can be re-signed."""
SYMMETRIC = sorted(set(REGISTRY) - ASYMMETRIC)


def canary_for(provider: str) -> str:
    return WHSEC if provider in ("standard-webhooks", "svix") else PLAIN


def leaks(data: bytes) -> list[bytes]:
    return [needle for needle in NEEDLES if needle in data]


def files_leaking(root: Path) -> dict[str, list[bytes]]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and (hit := leaks(path.read_bytes())):
            found[path.name] = hit
    return found


def verifies(provider: str, secret: str, request: Recorded) -> bool:
    headers = tuple((decode_header(k), decode_header(v)) for k, v in request.headers)
    host = next(v for k, v in headers if k.lower() == "host")
    message = Message(request.body, headers, f"http://{host}{request.path_qs}", request.method)
    return get_scheme(provider).verify(message, Check((secret,), time.time())).valid


@pytest.mark.slow
@pytest.mark.parametrize("provider", SYMMETRIC)
async def test_no_secret_is_stored_or_printed_with_resign_on(tmp_path: Path, provider: str) -> None:
    canary = canary_for(provider)
    other = "whsec_b3RoZXIgc2VjcmV0IGtleQ" if canary == WHSEC else "some-other-secret"
    db = tmp_path / "hooks.db"
    printed: list[bytes] = []

    def run(*args: str) -> bytes:
        done = run_whrelay(*args, timeout=60)
        printed.extend((done.stdout, done.stderr))
        assert b"Traceback" not in done.stderr, (args, done.stderr)
        return done.stdout

    with target_server() as target:
        listener = start_listener(
            db, "-f", str(target.port), "--provider", provider, "--secret", canary, "--resign"
        )
        try:
            if provider != "gitlab":  # GitLab's token would be the sender's request itself
                run("send", listener.url + "valid", "--provider", provider, "--secret", canary)
            run("send", listener.url + "forged", "--provider", provider, "--secret", other)
            async with (
                aiohttp.ClientSession() as session,
                session.post(listener.url + "unsigned", data=b'{"type":"x"}') as response,
            ):
                assert response.status == 200
            expected = 3 if provider != "gitlab" else 2
            listener.wait_for_events("attempt", expected)
            seen = {r.path_qs: r for r in target.wait_for(expected)}
        finally:
            listener.stop()
        printed.append(json.dumps(listener.events).encode())
        printed.append("\n".join(listener.stderr_lines).encode())

        for path in ("/forged", "/unsigned"):
            assert not verifies(provider, canary, seen[path]), path
        if provider != "gitlab":
            assert verifies(provider, canary, seen["/valid"])

        ids = [str(w.id) for w in _webhooks(db)]
        dbarg = ("--db", str(db))
        for webhook_id in ids:
            run("show", webhook_id, *dbarg)
            run("show", webhook_id, "--json", *dbarg)
            run("verify", webhook_id, "--secret", canary, "--json", *dbarg)
        run("list", "--json", *dbarg)
        resign = ("--to", target.url, "--resign", "--secret", canary, *dbarg)
        run("replay", *ids, *resign, "--dry-run", "--json")
        run("replay", *ids, *resign, "--json")
        target.wait_for(expected * 2)
    assert {leak for out in printed for leak in leaks(out)} == set()
    assert files_leaking(tmp_path) == {}


def _webhooks(db: Path) -> list[WebhookSummary]:
    with Store(db, readonly=True) as store:
        return list(reversed(store.list_webhooks()))


@pytest.mark.slow
async def test_gitlab_token_is_forwarded_but_never_recorded_or_shown(tmp_path: Path) -> None:
    """The token reaches the app (it checks it), but the attempt records, ``show`` (text,
    headers and JSON) and the replay output carry it redacted."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        listener = start_listener(
            db, "-f", str(target.port), "--provider", "gitlab", "--secret", PLAIN, "--resign"
        )
        try:
            sent = run_whrelay(
                "send", listener.url + "gl", "--provider", "gitlab", "--secret", PLAIN
            )
            assert sent.returncode == 0, sent.stderr
            listener.wait_for_events("attempt", 1)
            [seen] = target.wait_for(1)
        finally:
            listener.stop()
        assert seen.header("X-Gitlab-Token") == PLAIN
        [webhook] = _webhooks(db)
        replayed = run_whrelay(
            "replay", str(webhook.id), "--to", target.url, "--resign", "--secret", PLAIN,
            "--json", "--db", str(db),
        )  # fmt: skip
        assert target.wait_for(2)[1].header("X-Gitlab-Token") == PLAIN
    outputs = [
        replayed,
        *(
            run_whrelay("show", str(webhook.id), *view, "--db", str(db))
            for view in ((), ("--headers",), ("--json",))
        ),
    ]
    for done in outputs:
        assert done.returncode == 0, done.stderr
        assert leaks(done.stdout + done.stderr) == []
    assert REDACTED.encode() in outputs[-1].stdout
    assert leaks(json.dumps(listener.events).encode()) == []
    with sqlite3.connect(db) as raw:
        blobs = [row[0] for row in raw.execute("SELECT request_headers FROM attempts")]
    assert len(blobs) == 2
    assert all(REDACTED.encode() in blob and not leaks(blob) for blob in blobs)


def test_attempts_recorded_before_redaction_lose_the_token_on_upgrade(tmp_path: Path) -> None:
    """An attempt that an older whrelay recorded with GitLab's token in its headers is
    scrubbed by the migration that opens the database."""
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db, isolation_level=None)
    migrate(raw, 0, target=3)
    raw.execute(
        "INSERT INTO webhooks (received_at, method, path, size, http_version, headers)"
        " VALUES (1, 'POST', '/gl', 0, '1.1', X'')"
    )
    headers = pack_headers([(b"Host", b"t"), (b"X-Gitlab-Token", PLAIN.encode())])
    raw.execute(
        "INSERT INTO attempts (webhook_id, trigger, url, request_headers, started_at,"
        " duration_us) VALUES (1, 'first', 'http://t/', ?, 1, 1)",
        (headers,),
    )
    raw.close()
    with Store(db) as store:
        [attempt] = store.attempts(1)
    assert dict(attempt.request_headers)[b"X-Gitlab-Token"] == REDACTED.encode()
    assert dict(attempt.request_headers)[b"Host"] == b"t"


@pytest.mark.parametrize("provider", SYMMETRIC)
def test_every_header_that_carries_the_secret_itself_is_redacted(provider: str) -> None:
    """Sign with each scheme: a header whose value holds the secret (rather than a signature
    made with it) must be one whrelay redacts."""
    secret = canary_for(provider)
    scheme = get_scheme(provider)
    body = b'{"type":"x","data":{}}'
    signed = scheme.sign(Message(body, (), "http://127.0.0.1/x"), secret, int(time.time()))
    carrying = {k.lower() for k, v in signed.headers if leaks(v.encode())}
    assert carrying <= set(scheme.secret_headers) <= set(SECRET_HEADERS)
    assert leaks(signed.body) == []


def test_the_core_redacts_every_header_a_scheme_declares_secret() -> None:
    """The core's list (used where the registry cannot be reached: a webhook's own JSON) is
    the registry's."""
    from whrelay.core import models

    assert set(SECRET_HEADERS) == models.SECRET_HEADERS
