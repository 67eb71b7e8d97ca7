"""Signatures on arrival: real ``whrelay listen`` subprocesses, real aiohttp clients, a
recording target, and the stored verdicts read back through ``list``, ``show`` and ``replay``.

Webhooks are signed by hand (``hmac``) or by the official libraries (``twilio``); what a target
receives is checked with the official libraries (``standardwebhooks``) at the real time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import standardwebhooks
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.helpers.processes import (
    ROOT,
    Listener,
    TextListener,
    run_whrelay,
    start_listener,
    start_text_listener,
    whrelay_cmd,
)
from tests.helpers.rawhttp import raw_request
from tests.helpers.targetserver import Recorded, TargetServer, target_server
from whrelay.core.models import Capture
from whrelay.storage import Store

STRIPE_SECRET = "whsec_listenSignaturesStripe01"
GH_SECRET = "gh-listen-signatures-s3cret"
SW_KEY = b"listen-signatures-sw-key-0123456"
SW_SECRET = "whsec_" + base64.b64encode(SW_KEY).decode()
TWILIO_TOKEN = "twilio-listen-auth-token-000001"

_counter = itertools.count()


# --- independent signers ----------------------------------------------------------------------


def hmac_hex(key: bytes, content: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def stripe_headers(
    body: bytes, secret: str = STRIPE_SECRET, at: int | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    signature = hmac_hex(secret.encode(), f"{stamp}.".encode() + body)
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={signature}"}


def github_headers(
    body: bytes, secret: str = GH_SECRET, delivery: str | None = None
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": "sha256=" + hmac_hex(secret.encode(), body),
    }
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return headers


def sw_headers(
    body: bytes, key: bytes = SW_KEY, at: int | None = None, msg_id: str = "msg_listen_1"
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def event_body(name: str) -> bytes:
    return json.dumps({"id": f"evt_{name}", "type": "invoice.paid", "n": name}).encode()


# --- clients and listeners ----------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def webhook_id(self) -> int:
        return int(self.headers["X-Whrelay-Id"])


async def post(
    base: str, path: str, body: bytes, headers: Mapping[str, str] | None = None
) -> Answer:
    """POST ``body`` with ``headers`` to a listener with a real aiohttp client."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(base.rstrip("/") + path, data=body, headers=dict(headers or {})) as response,
    ):
        return Answer(response.status, dict(response.headers), await response.read())


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[Callable[..., Listener]]:
    """Start ``whrelay listen`` subprocesses (JSON output); every one is stopped afterwards."""
    started: list[Listener] = []

    def start(*extra: str, db: Path | None = None) -> Listener:
        listener = start_listener(db or tmp_path / f"hooks-{next(_counter)}.db", *extra)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with target_server() as server:
        yield server


@pytest.fixture
def text_listeners(tmp_path: Path) -> Iterator[Callable[..., TextListener]]:
    started: list[TextListener] = []

    def start(db: Path, *extra: str, output: str = "pretty") -> TextListener:
        listener = start_text_listener(tmp_path, db, *extra, output=output)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def cli(*args: str) -> str:
    """``whrelay ARGS`` that must succeed; its stdout as text."""
    proc = run_whrelay(*args, timeout=30)
    assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout.decode()


def cli_json(*args: str) -> list[dict[str, Any]]:
    """``whrelay ARGS --json``: one object per line."""
    return [json.loads(line) for line in cli(*args, "--json").splitlines()]


def table_rows(db: Path, *args: str) -> dict[int, str]:
    """``whrelay list``'s table rows by id (the header row is checked)."""
    lines = cli("list", "--db", str(db), *args).splitlines()
    assert "SIGNATURE" in lines[0], lines
    rows: dict[int, str] = {}
    for line in lines[1:]:
        first = line.split(maxsplit=1)
        if first and first[0].isdigit():
            rows[int(first[0])] = line
    return rows


def webhook_events(listener: Listener, count: int) -> dict[int, dict[str, object]]:
    events = listener.wait_for_events("webhook", count)
    return {int(str(e["id"])): e for e in events}


def headers_of(request: Recorded) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}


# --- verdicts --------------------------------------------------------------------------------


async def test_stripe_verdicts_in_events_list_and_show(
    listeners: Callable[..., Listener], tmp_path: Path
) -> None:
    db = tmp_path / "hooks.db"
    listener = listeners("--provider", "stripe", "--secret", STRIPE_SECRET, db=db)
    now = int(time.time())
    good, wrong, stale = event_body("good"), event_body("wrong"), event_body("stale")
    ids = {
        "good": (await post(listener.url, "/stripe", good, stripe_headers(good))).webhook_id,
        "wrong": (
            await post(listener.url, "/stripe", wrong, stripe_headers(wrong, "whsec_not_it"))
        ).webhook_id,
        "stale": (
            await post(listener.url, "/stripe", stale, stripe_headers(stale, at=now - 600))
        ).webhook_id,
    }
    # Stripe sends an event again with the same evt_ id: the copy is valid, and a duplicate.
    again = (await post(listener.url, "/stripe", good, stripe_headers(good))).webhook_id

    events = webhook_events(listener, 4)
    expected = {
        ids["good"]: ("valid", "ok"),
        ids["wrong"]: ("invalid", "bad_signature"),
        ids["stale"]: ("invalid", "timestamp_too_old"),
        again: ("valid", "ok"),
    }
    for webhook_id, (verdict, reason) in expected.items():
        event = events[webhook_id]
        assert (event["verdict"], event["verdict_reason"]) == (verdict, reason), event
        assert event["scheme"] == "stripe"
    assert events[again]["duplicate_of"] == ids["good"]
    assert events[ids["good"]]["duplicate_of"] is None

    listed = {int(r["id"]): r for r in cli_json("list", "--db", str(db))}
    for webhook_id, (verdict, reason) in expected.items():
        assert (listed[webhook_id]["verdict"], listed[webhook_id]["verdict_reason"]) == (
            verdict,
            reason,
        )
    invalid = cli_json("list", "--verdict", "invalid", "--db", str(db))
    assert {int(r["id"]) for r in invalid} == {ids["wrong"], ids["stale"]}
    valid = cli_json("list", "--verdict", "valid", "--db", str(db))
    assert {int(r["id"]) for r in valid} == {ids["good"], again}
    assert cli_json("list", "--verdict", "unverified", "--db", str(db)) == []

    rows = table_rows(db)
    assert "✓" in rows[ids["good"]] and "✗" not in rows[ids["good"]]
    assert "✗ bad_signature" in rows[ids["wrong"]]
    assert "✗ timestamp_too_old" in rows[ids["stale"]]

    shown = cli("show", str(ids["good"]), "--db", str(db))
    assert "✓ valid" in shown
    shown = cli("show", str(ids["wrong"]), "--db", str(db))
    assert "✗ invalid (bad_signature)" in shown and "stripe" in shown
    shown = cli("show", str(ids["stale"]), "--db", str(db))
    assert "invalid (timestamp_too_old)" in shown
    [record] = cli_json("show", str(ids["stale"]), "--db", str(db))
    assert record["verdict"] == "invalid" and record["verdict_reason"] == "timestamp_too_old"


async def test_scheme_is_detected_per_request_without_provider(
    listeners: Callable[..., Listener], tmp_path: Path
) -> None:
    """One secret (a ``whsec_`` one, which all three schemes can use), no --provider."""
    db = tmp_path / "hooks.db"
    listener = listeners("--secret", SW_SECRET, db=db)
    body = event_body("detect")
    sent = {
        "stripe": await post(listener.url, "/a", body, stripe_headers(body, SW_SECRET)),
        "github": await post(listener.url, "/b", body, github_headers(body, SW_SECRET)),
        "github-wrong": await post(listener.url, "/c", body, github_headers(body, "nope")),
        "sw": await post(listener.url, "/d", body, sw_headers(body)),
        "plain": await post(listener.url, "/e", body, {"Content-Type": "application/json"}),
    }
    assert all(answer.status == 200 for answer in sent.values())
    events = webhook_events(listener, len(sent))
    seen = {
        name: (
            events[a.webhook_id]["scheme"],
            events[a.webhook_id]["verdict"],
            events[a.webhook_id]["verdict_reason"],
        )
        for name, a in sent.items()
    }
    assert seen["stripe"] == ("stripe", "valid", "ok")
    assert seen["github"] == ("github", "valid", "ok")
    assert seen["github-wrong"] == ("github", "invalid", "bad_signature")
    assert seen["sw"] == ("standard-webhooks", "valid", "ok")
    assert seen["plain"][0] is None and seen["plain"][1] == "unverified"


async def test_mailgun_is_told_by_its_body_and_verified(
    listeners: Callable[..., Listener], tmp_path: Path
) -> None:
    """Mailgun signs in the body and names itself in no header: the body tells it, on arrival
    (provider, event, id, verdict) and for ``verify ID`` without --provider."""
    db = tmp_path / "hooks.db"
    key = "key-mailgun-test"
    listener = listeners("--secret", key, db=db)

    def mailgun_body(token: str, signing_key: str) -> bytes:
        stamp = str(int(time.time()))
        signature = hmac_hex(signing_key.encode(), (stamp + token).encode())
        return json.dumps(
            {
                "signature": {"timestamp": stamp, "token": token, "signature": signature},
                "event-data": {"event": "delivered", "id": f"id-{token[:4]}"},
            }
        ).encode()

    json_type = {"Content-Type": "application/json"}
    good = await post(listener.url, "/mg", mailgun_body("a" * 50, key), json_type)
    bad = await post(listener.url, "/mg", mailgun_body("b" * 50, "another-key"), json_type)
    events = webhook_events(listener, 2)
    assert (events[good.webhook_id]["provider"], events[good.webhook_id]["verdict"]) == (
        "mailgun",
        "valid",
    )
    assert events[good.webhook_id]["event_type"] == "delivered"
    assert events[bad.webhook_id]["verdict_reason"] == "bad_signature"
    rows = cli_json("list", "--provider", "mailgun", "--db", str(db))
    assert sorted(row["id"] for row in rows) == sorted([good.webhook_id, bad.webhook_id])
    assert {row["provider_id"] for row in rows} == {"id-aaaa", "id-bbbb"}
    checked = run_whrelay("verify", str(good.webhook_id), "--secret", key, "--db", str(db))
    assert checked.returncode == 0, checked.stderr
    assert b"mailgun" in checked.stdout


async def test_a_standard_webhooks_id_that_is_not_utf8_is_stored_and_verified(
    listeners: Callable[..., Listener], tmp_path: Path
) -> None:
    """The id's raw bytes are what the sender signed: checking them must not fail (it used to
    raise, and the request got a 500 and was not stored)."""
    db = tmp_path / "hooks.db"
    listener = listeners("--secret", SW_SECRET, db=db)
    body = b'{"type":"ping"}'
    stamp = str(int(time.time())).encode()
    msg_id = b"msg_\xff\xfe"
    good = base64.b64encode(
        hmac.new(SW_KEY, msg_id + b"." + stamp + b"." + body, "sha256").digest()
    )
    answers = []
    for signature in (b"v1," + good, b"v1,AAAA"):
        head = b"POST /sw HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += b"webhook-id: " + msg_id + b"\r\nwebhook-timestamp: " + stamp + b"\r\n"
        head += b"webhook-signature: " + signature + b"\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        answers.append(await raw_request(listener.url, head + body))
    assert [a.status for a in answers] == [200, 200]
    events = listener.wait_for_events("webhook", 2)
    assert [(e["verdict"], e["verdict_reason"]) for e in events] == [
        ("valid", "ok"),
        ("invalid", "bad_signature"),
    ]


async def test_without_a_secret_the_verdict_is_unverified(
    listeners: Callable[..., Listener], tmp_path: Path
) -> None:
    db = tmp_path / "hooks.db"
    listener = listeners(db=db)
    body = event_body("nosecret")
    answer = await post(listener.url, "/stripe", body, stripe_headers(body))
    assert answer.status == 200
    event = webhook_events(listener, 1)[answer.webhook_id]
    assert event["verdict"] == "unverified"
    assert event["scheme"] == "stripe" and event["verdict_reason"] == "no_secret"
    [row] = cli_json("list", "--verdict", "unverified", "--db", str(db))
    assert row["id"] == answer.webhook_id
    assert cli_json("list", "--verdict", "invalid", "--db", str(db)) == []


async def test_reject_invalid_answers_401_stores_and_does_not_forward(
    listeners: Callable[..., Listener], target: TargetServer, tmp_path: Path
) -> None:
    db = tmp_path / "hooks.db"
    listener = listeners(
        "-f",
        str(target.port),
        "--provider",
        "stripe",
        "--secret",
        STRIPE_SECRET,
        "--reject-invalid",
        db=db,
    )
    first, bad, stale, plain, last = (
        event_body(n) for n in ("first", "bad", "stale", "plain", "last")
    )
    ok1 = await post(listener.url, "/hooks", first, stripe_headers(first))
    rejected = await post(listener.url, "/hooks", bad, stripe_headers(bad, "whsec_forged"))
    too_old = await post(
        listener.url, "/hooks", stale, stripe_headers(stale, at=int(time.time()) - 3600)
    )
    unsigned = await post(listener.url, "/hooks", plain, {"Content-Type": "application/json"})
    ok2 = await post(listener.url, "/hooks", last, stripe_headers(last))

    assert ok1.status == 200 and ok2.status == 200
    for answer, reason in (
        (rejected, "bad_signature"),
        (too_old, "timestamp_too_old"),
        (unsigned, "missing_header"),
    ):
        assert answer.status == 401, answer
        assert reason in answer.body.decode()
        assert f"#{answer.webhook_id}" in answer.body.decode()

    target.wait_for(2, timeout=15)
    listener.wait_for_events("attempt", 2)
    assert sorted(r.body for r in target.requests) == sorted([first, last])

    with Store(db, readonly=True) as store:
        assert store.count_webhooks() == 5
        for answer in (rejected, too_old, unsigned):
            assert store.get_webhook(answer.webhook_id).summary.verdict == "invalid"
            # Stored without a delivery: nothing is queued for it, now or after a restart.
            assert store.deliveries(answer.webhook_id) == []
        for answer in (ok1, ok2):
            [delivery] = store.deliveries(answer.webhook_id)
            assert delivery.state == "delivered"


def test_reject_invalid_needs_a_secret() -> None:
    proc = run_whrelay("listen", "--port", "0", "--reject-invalid", timeout=20)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.decode().startswith("whrelay: error: ")


async def test_secret_env_is_read(
    listeners: Callable[..., Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHRELAY_TEST_GH_SECRET", GH_SECRET)
    listener = listeners("--provider", "github", "--secret-env", "WHRELAY_TEST_GH_SECRET")
    body = b'{"ref":"refs/heads/main"}'
    good = await post(listener.url, "/gh", body, github_headers(body))
    bad = await post(listener.url, "/gh", body, github_headers(body, "other"))
    events = webhook_events(listener, 2)
    assert events[good.webhook_id]["verdict"] == "valid"
    assert events[bad.webhook_id]["verdict"] == "invalid"


@pytest.mark.parametrize(
    "args",
    [
        ["--secret-env", "WHRELAY_TEST_NOT_SET"],
        ["--route", "/gh/*=3000,provider=github,secret-env=WHRELAY_TEST_NOT_SET"],
    ],
    ids=["secret-env", "route"],
)
def test_missing_secret_env_is_a_clean_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.delenv("WHRELAY_TEST_NOT_SET", raising=False)
    proc = run_whrelay("listen", "--port", "0", "--db", str(tmp_path / "x.db"), *args, timeout=20)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.decode().splitlines()
    assert lines[0].startswith("whrelay: error: ") and "WHRELAY_TEST_NOT_SET" in lines[0]
    assert len(lines) <= 2 and "Traceback" not in proc.stderr.decode()
    assert not (tmp_path / "x.db").exists(), "nothing is started before the options are checked"


async def test_per_route_provider_and_secret(
    listeners: Callable[..., Listener],
    target: TargetServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRIPE_S", STRIPE_SECRET)
    monkeypatch.setenv("GH_S", GH_SECRET)
    port = str(target.port)
    listener = listeners(
        "--route",
        f"/stripe/*={port},provider=stripe,secret-env=STRIPE_S",
        "--route",
        f"/gh/*={port},provider=github,secret-env=GH_S",
    )
    body = event_body("route")
    sent = {
        "stripe-ok": await post(listener.url, "/stripe/a", body, stripe_headers(body)),
        "gh-ok": await post(listener.url, "/gh/a", body, github_headers(body)),
        # Each route's own secret: the other route's secret does not verify.
        "stripe-gh-secret": await post(
            listener.url, "/stripe/b", body, stripe_headers(body, GH_SECRET)
        ),
        "gh-stripe-secret": await post(
            listener.url, "/gh/b", body, github_headers(body, STRIPE_SECRET)
        ),
        # Each route's own scheme: GitHub's headers on the Stripe route are no Stripe signature.
        "gh-on-stripe": await post(listener.url, "/stripe/c", body, github_headers(body)),
    }
    events = webhook_events(listener, len(sent))
    seen = {
        n: (events[a.webhook_id]["scheme"], events[a.webhook_id]["verdict_reason"])
        for n, a in sent.items()
    }
    assert seen == {
        "stripe-ok": ("stripe", "ok"),
        "gh-ok": ("github", "ok"),
        "stripe-gh-secret": ("stripe", "bad_signature"),
        "gh-stripe-secret": ("github", "bad_signature"),
        "gh-on-stripe": ("stripe", "missing_header"),
    }
    target.wait_for(len(sent), timeout=15)  # no --reject-invalid: every one is forwarded


async def test_several_secret_envs_each_tried_on_its_own_with_reject_invalid(
    listeners: Callable[..., Listener], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The issue's example: ``--secret-env A --secret-env B --reject-invalid``, A a GitHub
    secret (not base64), B a ``whsec_``. A GitHub secret cannot be a Standard Webhooks key,
    so it is skipped for that scheme; it must not turn a good Standard Webhooks event into a
    401, in either order."""
    monkeypatch.setenv("WHRELAY_TEST_A", "gh_secret")
    monkeypatch.setenv("WHRELAY_TEST_B", SW_SECRET)
    body = event_body("several")
    for order in (("WHRELAY_TEST_A", "WHRELAY_TEST_B"), ("WHRELAY_TEST_B", "WHRELAY_TEST_A")):
        listener = listeners("--secret-env", order[0], "--secret-env", order[1], "--reject-invalid")
        sw = await post(listener.url, "/sw", body, sw_headers(body))
        gh = await post(listener.url, "/gh", body, github_headers(body, "gh_secret"))
        forged = await post(listener.url, "/gh", body, github_headers(body, "not-it"))
        assert (sw.status, gh.status, forged.status) == (200, 200, 401), order
        events = webhook_events(listener, 3)
        assert (events[sw.webhook_id]["scheme"], events[sw.webhook_id]["verdict"]) == (
            "standard-webhooks",
            "valid",
        )
        assert events[gh.webhook_id]["verdict"] == "valid"
        assert events[forged.webhook_id]["verdict_reason"] == "bad_signature"


UNUSABLE = "gh_not_a_whsec_key"
"""A secret that cannot be a Standard Webhooks/Svix key (``_`` is not base64)."""


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (
            ["--provider", "standard-webhooks", "--secret", SW_SECRET, "--secret", UNUSABLE],
            {},
            "--secret #2 cannot be a standard-webhooks key",
        ),
        (
            ["--provider", "svix", "--secret-env", "WHRELAY_TEST_SW"],
            {"WHRELAY_TEST_SW": UNUSABLE},
            "--secret-env WHRELAY_TEST_SW cannot be a svix key",
        ),
        (
            ["--route", "/gh/*=3000,provider=standard-webhooks,secret-env=WHRELAY_TEST_GH"],
            {"WHRELAY_TEST_GH": UNUSABLE},
            "route /gh/*: secret-env WHRELAY_TEST_GH cannot be a standard-webhooks key",
        ),
        (
            # a route without a provider is checked with listen's --provider
            ["--provider", "svix", "--route", "/a/*=3000,secret-env=WHRELAY_TEST_GH"],
            {"WHRELAY_TEST_GH": UNUSABLE},
            "route /a/*: secret-env WHRELAY_TEST_GH cannot be a svix key",
        ),
        (
            # listen's own secrets, used by a route of a provider none of them fits
            ["--secret", UNUSABLE, "--route", "/sw/*=3000,provider=standard-webhooks"],
            {},
            "--secret #1 cannot be a standard-webhooks key (route /sw/*",
        ),
    ],
    ids=["secret", "secret-env", "route", "route-inherits-provider", "route-inherits-secrets"],
)
def test_a_secret_that_cannot_work_for_the_provider_is_refused_at_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    named: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "x.db"
    proc = run_whrelay("listen", "--port", "0", "--db", str(db), *args, timeout=20)
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.stdout, err)
    lines = err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("whrelay: error: ") and named in lines[0], lines
    assert lines[1].startswith("  hint: ") and "whsec_ followed by base64" in lines[1], lines
    assert UNUSABLE not in err and "Traceback" not in err
    assert not db.exists(), "nothing is started before the secrets are checked"


async def test_listens_own_secrets_need_only_one_that_fits_a_routes_provider(
    listeners: Callable[..., Listener], target: TargetServer
) -> None:
    """Without a provider of their own, listen's secrets serve every scheme: one that fits
    a route's provider is enough, and the others are skipped for it."""
    listener = listeners(
        "--secret",
        UNUSABLE,
        "--secret",
        SW_SECRET,
        "--route",
        f"/sw/*={target.port},provider=standard-webhooks",
    )
    body = event_body("route-pool")
    answer = await post(listener.url, "/sw/x", body, sw_headers(body))
    event = webhook_events(listener, 1)[answer.webhook_id]
    assert (event["scheme"], event["verdict"]) == ("standard-webhooks", "valid")


async def test_public_url_for_twilio(listeners: Callable[..., Listener]) -> None:
    params = {"MessageSid": "SM123", "From": "+14158675309", "Body": "Hej d\u00e5"}
    body = b"MessageSid=SM123&From=%2B14158675309&Body=Hej+d%C3%A5"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://example.test/sms", params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    common = ("--provider", "twilio", "--secret", TWILIO_TOKEN)

    public = listeners(*common, "--public-url", "https://example.test")
    local = listeners(*common)
    on_public = await post(public.url, "/sms", body, headers)
    on_local = await post(local.url, "/sms", body, headers)

    event = webhook_events(public, 1)[on_public.webhook_id]
    assert (event["verdict"], event["verdict_reason"]) == ("valid", "ok")
    event = webhook_events(local, 1)[on_local.webhook_id]
    assert (event["verdict"], event["verdict_reason"]) == ("invalid", "bad_signature")


# --- duplicates ----------------------------------------------------------------------------------


async def test_a_repeated_provider_id_is_flagged_as_a_duplicate(
    text_listeners: Callable[..., TextListener], tmp_path: Path
) -> None:
    db = tmp_path / "hooks.db"
    listener = text_listeners(db, "--secret", GH_SECRET, output="pretty")
    delivery = "8d3f2a40-1c1e-11ef-9f4a-0123456789ab"
    body = b'{"zen":"Avoid administrative distraction."}'
    first = await post(listener.url, "/gh", body, github_headers(body, delivery=delivery))
    other = await post(
        listener.url, "/gh", body, github_headers(body, delivery="00000000-aaaa-bbbb-cccc-1")
    )
    second = await post(listener.url, "/gh", body, github_headers(body, delivery=delivery))
    assert first.status == other.status == second.status == 200

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and f"#{second.webhook_id}".encode() not in listener.output:
        time.sleep(0.05)
    assert listener.stop() == 130
    pretty = listener.output.decode()
    assert f"duplicate of #{first.webhook_id}" in pretty
    assert pretty.count("duplicate of #") == 1

    listed = {int(r["id"]): r for r in cli_json("list", "--db", str(db))}
    assert listed[second.webhook_id]["duplicate_of"] == first.webhook_id
    assert listed[first.webhook_id]["duplicate_of"] is None
    assert listed[other.webhook_id]["duplicate_of"] is None
    assert listed[second.webhook_id]["verdict"] == "valid"

    rows = table_rows(db)
    # The table's narrow SIGNATURE column abbreviates it ("dup of #N").
    assert re.search(rf"dup(licate)? of #{first.webhook_id}\b", rows[second.webhook_id])
    assert " of #" not in rows[first.webhook_id] and " of #" not in rows[other.webhook_id]
    shown = cli("show", str(second.webhook_id), "--db", str(db))
    assert f"duplicate of #{first.webhook_id}" in shown
    assert "duplicate of" not in cli("show", str(first.webhook_id), "--db", str(db))


# --- re-signing ----------------------------------------------------------------------------------


def assert_library_accepts_now(request: Recorded) -> None:
    standardwebhooks.Webhook(SW_SECRET).verify(request.body, headers_of(request))


async def test_listen_resign_gives_the_target_a_fresh_signature(
    listeners: Callable[..., Listener], target: TargetServer
) -> None:
    listener = listeners(
        "-f",
        str(target.port),
        "--provider",
        "standard-webhooks",
        "--secret",
        SW_SECRET,
        "--resign",
    )
    body = b'{"type":"invoice.created","data":{"id":"in_1"}}'
    old = int(time.time()) - 200  # within the tolerance on arrival: valid, then signed afresh
    answer = await post(listener.url, "/sw", body, sw_headers(body, at=old, msg_id="msg_resign"))
    assert answer.status == 200
    event = webhook_events(listener, 1)[answer.webhook_id]
    assert event["verdict"] == "valid"

    [request] = target.wait_for(1, timeout=15)
    assert request.body == body
    assert request.header("webhook-id") == "msg_resign"
    assert request.header("webhook-timestamp") != str(old)
    assert len(request.header_all("webhook-signature")) == 1
    assert_library_accepts_now(request)


async def test_replay_resign_refreshes_an_old_signature(
    listeners: Callable[..., Listener], target: TargetServer, tmp_path: Path
) -> None:
    db = tmp_path / "hooks.db"
    body = '{"type":"user.deleted","data":{"id":"u_42"}}'
    old = int(time.time()) - 3600
    signed = cli(
        "sign",
        "--provider",
        "standard-webhooks",
        "--secret",
        SW_SECRET,
        "--data",
        body,
        "--now",
        str(old),
    )
    headers = dict(line.split(": ", 1) for line in signed.splitlines())
    assert headers["webhook-timestamp"] == str(old)
    msg_id = headers["webhook-id"]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SW_SECRET).verify(body, headers)  # too old as it stands

    # It arrived an hour ago, signed then: valid on arrival, too old now.
    capture = Capture(
        method="POST",
        path="/hooks/sw",
        query="x=1",
        headers=tuple(
            (k.encode(), v.encode())
            for k, v in {"Host": "x", **headers, "Content-Type": "application/json"}.items()
        ),
        body=body.encode(),
        http_version="1.1",
        remote_addr="127.0.0.1",
        received_at=old * 1_000_000 + 250_000,
    )
    with Store(db) as store:
        [stored] = store.insert_webhooks([capture])

    replayed = cli_json(
        "replay",
        str(stored.id),
        "--to",
        target.url,
        "--resign",
        "--secret",
        SW_SECRET,
        "--db",
        str(db),
    )
    assert [a["status"] for a in replayed] == [200]
    [fresh] = target.wait_for(1, timeout=10)
    assert fresh.path_qs == "/hooks/sw?x=1"
    assert fresh.body == body.encode()
    assert fresh.header("webhook-id") == msg_id
    assert int(fresh.header("webhook-timestamp") or 0) >= int(time.time()) - 60
    assert_library_accepts_now(fresh)

    plain = run_whrelay("replay", str(stored.id), "--to", target.url, "--db", str(db), timeout=30)
    assert plain.returncode == 0, plain.stderr
    copy = target.wait_for(2, timeout=10)[1]
    assert copy.header("webhook-signature") == headers["webhook-signature"]
    assert copy.header("webhook-timestamp") == str(old)
    assert copy.header("webhook-id") == msg_id
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
        assert_library_accepts_now(copy)


def test_replay_resign_needs_a_secret(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with Store(db):
        pass
    proc = run_whrelay("replay", "1", "--resign", "--db", str(db), timeout=30)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.decode().startswith("whrelay: error: ")


def test_listen_resign_with_an_unusable_secret_is_refused_at_start(tmp_path: Path) -> None:
    """A ``whsec_`` secret that is not base64 cannot sign: listen must say so at once (exit 2),
    not start and then fail (or skip re-signing) on every forward."""
    args = ["-f", "9", "--provider", "standard-webhooks", "--secret", "whsec_not*base64!"]
    db = str(tmp_path / "x.db")
    proc = subprocess.Popen(
        whrelay_cmd("listen", "--port", "0", "--output", "json", "--db", db, *args, "--resign"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    if proc.stdout.readline():  # the ready line: it started
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        raise AssertionError("listen started with a secret it cannot sign with")
    code = proc.wait(10)
    err = proc.stderr.read().decode()
    assert code == 2, (code, err)
    assert err.startswith("whrelay: error: ") and "Traceback" not in err


def test_replay_resign_with_an_unusable_secret_is_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    headers = sw_headers(b"{}", at=1_700_000_000, msg_id="msg_unusable")
    capture = Capture(
        method="POST",
        path="/sw",
        query="",
        headers=tuple((k.encode(), v.encode()) for k, v in headers.items()),
        body=b"{}",
        http_version="1.1",
        remote_addr="127.0.0.1",
        received_at=1_700_000_000_000_000,
    )
    with Store(db) as store:
        [stored] = store.insert_webhooks([capture])
    with target_server() as target:
        proc = run_whrelay(
            "replay",
            str(stored.id),
            "--to",
            target.url,
            "--resign",
            "--secret",
            "whsec_not*base64!",
            "--db",
            str(db),
            timeout=30,
        )
        assert target.requests == []
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.decode().startswith("whrelay: error: ")


# --- secrets never leak --------------------------------------------------------------------------

CANARY_MARK = b"wrCanaryMark-Q7ZxP4Lk"
assert len(CANARY_MARK) % 3 == 0, "no base64 padding, so the base64 text is one clean string"
CANARY_B64 = base64.b64encode(CANARY_MARK).decode()
CANARY = "whsec_" + CANARY_B64
NEEDLES = (CANARY.encode(), CANARY_B64.encode(), CANARY_MARK, CANARY_MARK.hex().encode())


def leaks(data: bytes) -> list[bytes]:
    return [needle for needle in NEEDLES if needle in data]


def files_leaking(root: Path) -> dict[str, list[bytes]]:
    """Every file under ``root`` (database, -wal, -shm, lock, captured output) that holds
    the canary in any form."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            hit = leaks(path.read_bytes())
            if hit:
                found[str(path)] = hit
    return found


async def test_secrets_never_leak(
    listeners: Callable[..., Listener],
    text_listeners: Callable[..., TextListener],
    target: TargetServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WHRELAY_TEST_CANARY", CANARY)
    db = tmp_path / "hooks.db"
    captured: list[bytes] = []

    def run(*args: str, ok: bool | None = True) -> subprocess.CompletedProcess[bytes]:
        proc = run_whrelay(*args, timeout=30)
        captured.extend((proc.stdout, proc.stderr))
        if ok is True:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        elif ok is False:
            assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
            assert proc.stderr.decode().startswith("whrelay: error: "), proc.stderr
            assert "Traceback" not in proc.stderr.decode()
        return proc

    # listen --secret CANARY, re-signing what it forwards: valid, invalid and stale webhooks.
    first = listeners(
        "-f",
        str(target.port),
        "--provider",
        "standard-webhooks",
        "--secret",
        CANARY,
        "--resign",
        db=db,
    )
    body = b'{"type":"canary.test","data":{"n":1}}'
    answers = [
        await post(first.url, "/sw", body, sw_headers(body, CANARY_MARK, msg_id="msg_c1")),
        await post(first.url, "/sw", body, sw_headers(body, b"other key", msg_id="msg_c2")),
        await post(
            first.url,
            "/sw",
            body,
            sw_headers(body, CANARY_MARK, int(time.time()) - 900, msg_id="msg_c3"),
        ),
    ]
    captured.extend(a.body for a in answers)
    first.wait_for_events("attempt", 3)
    target.wait_for(3)
    assert files_leaking(tmp_path) == {}, "while listen runs (the WAL is live)"
    first.stop()
    captured.append("\n".join(json.dumps(e) for e in first.events).encode())
    captured.append("\n".join(first.stderr_lines).encode())

    # listen --secret-env, pretty output, rejecting the invalid: Stripe keys with the whole text.
    second = text_listeners(
        db, "--provider", "stripe", "--secret-env", "WHRELAY_TEST_CANARY", "--reject-invalid"
    )
    stripe_body = event_body("canary")
    answers = [
        await post(second.url, "/st", stripe_body, stripe_headers(stripe_body, CANARY)),
        await post(second.url, "/st", stripe_body, stripe_headers(stripe_body, CANARY_B64)),
    ]
    assert [a.status for a in answers] == [200, 401]
    captured.extend(a.body for a in answers)
    stripe_ok, stripe_bad = (a.webhook_id for a in answers)
    second.stop()

    ids = [str(i) for i in range(1, stripe_bad + 1)]
    dbarg = ("--db", str(db))
    run("verify", ids[0], "--secret", CANARY, *dbarg)
    run("verify", ids[0], "--secret", CANARY, "--json", *dbarg)
    run("verify", ids[1], "--secret-env", "WHRELAY_TEST_CANARY", "--json", *dbarg, ok=None)
    run("verify", ids[2], "--secret", CANARY, *dbarg, ok=None)
    run("verify", str(stripe_ok), "--secret", CANARY, "--json", *dbarg)
    # Wrong forms of the secret: the hints name the cause, never the secret.
    hinted = run("verify", str(stripe_bad), "--secret", CANARY, "--json", *dbarg, ok=None)
    assert "whsec_ prefix is removed" in hinted.stdout.decode()
    run("verify", str(stripe_ok), "--secret", CANARY_B64, *dbarg, ok=None)
    run("sign", "--provider", "standard-webhooks", "--secret", CANARY, "-d", "{}")
    run("sign", "--provider", "stripe", "--secret-env", "WHRELAY_TEST_CANARY", "--json")
    run("send", target.url + "/sent", "--provider", "stripe", "--secret", CANARY)
    run(
        "send",
        target.url + "/sent",
        "--provider",
        "standard-webhooks",
        "--secret",
        CANARY,
        "--json",
    )
    for webhook_id in ids:
        run("show", webhook_id, *dbarg)
        run("show", webhook_id, "--json", *dbarg)
    run("list", *dbarg)
    run("list", "--json", *dbarg)
    run("replay", ids[0], ids[2], "--to", target.url, "--resign", "--secret", CANARY, *dbarg)
    run(
        "replay",
        ids[0],
        "--to",
        target.url,
        "--resign",
        "--sign-as",
        "standard-webhooks",
        "--secret-env",
        "WHRELAY_TEST_CANARY",
        "--json",
        *dbarg,
    )

    # Error paths, with the secret on the command line.
    run("verify", ids[0], "--provider", "bogus", "--secret", CANARY, *dbarg, ok=False)
    run("listen", "--port", "0", "--provider", "bogus", "--secret", CANARY, *dbarg, ok=False)
    run("verify", "--request", str(tmp_path / "missing"), "--secret", CANARY, ok=False)
    # An internal error (exit 4 today) must not quote the secret either.
    broken = "whsec_!" + CANARY_B64
    run("sign", "--provider", "standard-webhooks", "--secret", broken, "-d", "{}", ok=False)
    run("send", target.url, "--provider", "standard-webhooks", "--secret", broken, ok=False)

    for index, output in enumerate(captured):
        assert leaks(output) == [], (index, output[:2000])
    assert files_leaking(tmp_path) == {}
    for request in target.requests:
        assert leaks(b"".join(k + b": " + v for k, v in request.headers) + request.body) == []


def test_helpers_see_a_leak(tmp_path: Path) -> None:
    """The leak check itself: a file with the secret in any of its forms is caught."""
    for form in NEEDLES:
        (tmp_path / "probe.bin").write_bytes(b"prefix " + form + b" suffix")
        assert files_leaking(tmp_path) != {}
    assert leaks(b"nothing here") == []
