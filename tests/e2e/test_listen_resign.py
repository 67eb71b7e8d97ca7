"""Re-signing (``listen --resign``, ``replay --resign``): whrelay signs afresh only a webhook whose
own signature it verified, with the secret that verified it; anything else reaches the target
exactly as it arrived. A relay that signed whatever reached it would be a signing oracle for
anyone who can reach its port (behind a tunnel: anyone).

Every check of what the target received is made by the provider's official library where
there is one (Stripe, Standard Webhooks), else by whrelay's own scheme with the real secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import standardwebhooks
import stripe

from tests.helpers.captures import stored_count
from tests.helpers.forwarding import attempts_made, post_bytes
from tests.helpers.processes import Listener, listening, run_whrelay, start_listener
from tests.helpers.rawhttp import raw_request, send_raw
from tests.helpers.rawserver import RawServer, Seen
from tests.helpers.targetserver import Recorded, TargetServer, target_server
from tests.helpers.wait import until
from whrelay.core.models import Capture
from whrelay.storage import Store

pytestmark = pytest.mark.slow

STRIPE_SECRET = "whsec_resignStripeSecret0123456789"
GH_SECRET = "gh-resign-secret"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PAYMENT = b'{"id":"evt_forged","type":"payment_intent.succeeded","data":{"object":{"amount":1}}}'


def stripe_signed(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), b"%d." % stamp + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def github_signed(body: bytes, secret: str = GH_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_accepts(request: Recorded) -> bool:
    """Whether Stripe's own library accepts what the target received, now."""
    try:
        stripe.Webhook.construct_event(
            request.body, request.header("Stripe-Signature"), STRIPE_SECRET
        )
    except stripe.SignatureVerificationError:
        return False
    return True


async def post(url: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url.rstrip("/") + path, data=body, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        return int(response.headers["X-Whrelay-Id"])


async def post_each(
    listener: Listener, *requests: tuple[str, bytes, dict[str, str]]
) -> dict[str, int]:
    """POST each (path, body, headers) in turn; the stored webhook id by path."""
    return {path: await post(listener.url, path, body, headers) for path, body, headers in requests}


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with target_server() as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
    monkeypatch.setenv("GITHUB_SECRET", GH_SECRET)


def by_path(requests: list[Recorded]) -> dict[str, Recorded]:
    return {r.path_qs: r for r in requests}


def attempt_events(listener: Listener, count: int) -> dict[int, dict[str, object]]:
    return {int(e["webhook_id"]): e for e in listener.wait_for_events("attempt", count)}  # type: ignore[call-overload]


# --- listen --resign ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["store", "proxy"])
async def test_listen_resign_passes_forged_unsigned_and_wrongly_signed_webhooks_on_as_received(
    tmp_path: Path, target: TargetServer, env: None, mode: str
) -> None:
    listener = start_listener(
        tmp_path / "hooks.db",
        *("-f", str(target.port), "--mode", mode),
        *("--provider", "stripe", "--secret-env", "STRIPE_WEBHOOK_SECRET", "--resign"),
    )
    try:
        old = int(time.time()) - 120
        wrong = stripe_signed(PAYMENT, "whsec_other")
        ids = await post_each(
            listener,
            ("/unsigned", PAYMENT, {"Content-Type": "text/plain"}),
            ("/fake", PAYMENT, {"Stripe-Signature": "t=1,v1=deadbeef"}),
            ("/wrong", PAYMENT, {"Stripe-Signature": wrong}),
            ("/valid", PAYMENT, {"Stripe-Signature": stripe_signed(PAYMENT, at=old)}),
        )
        events = attempt_events(listener, 4)
    finally:
        listener.stop()
    seen = by_path(target.wait_for(4))
    assert seen["/unsigned"].header("Stripe-Signature") is None
    assert seen["/fake"].header_all("Stripe-Signature") == ["t=1,v1=deadbeef"]
    assert seen["/wrong"].header_all("Stripe-Signature") == [wrong]
    for path in ("/unsigned", "/fake", "/wrong"):
        assert not stripe_accepts(seen[path]), path
        event = events[ids[path]]
        assert event["resigned"] is False
        assert str(event["resign_note"]).startswith(
            "not re-signed: its stripe signature is not valid"
        )
    assert "missing_header" in str(events[ids["/unsigned"]]["resign_note"])
    assert "bad_signature" in str(events[ids["/fake"]]["resign_note"])
    assert stripe_accepts(seen["/valid"])
    assert int(seen["/valid"].header("Stripe-Signature").split(",")[0][2:]) > old  # type: ignore[union-attr]
    assert events[ids["/valid"]]["resigned"] is True

    shown = run_whrelay("show", str(ids["/fake"]), "--db", str(tmp_path / "hooks.db"))
    assert b"not re-signed: its stripe signature is not valid (bad_signature" in shown.stdout
    shown = run_whrelay("show", str(ids["/valid"]), "--db", str(tmp_path / "hooks.db"))
    assert b"re-signed" in shown.stdout and b"not re-signed" not in shown.stdout


async def test_a_plain_curl_post_is_not_signed_by_listen_resign(
    tmp_path: Path, target: TargetServer, env: None
) -> None:
    """The request a web page can send without a preflight, sent by the real curl."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    listener = start_listener(
        tmp_path / "hooks.db",
        *("-f", str(target.port), "--provider", "stripe"),
        *("--secret-env", "STRIPE_WEBHOOK_SECRET", "--resign"),
    )
    try:
        sent = subprocess.run(
            ["curl", "-sS", "-X", "POST", listener.url + "stripe", "-H", "Content-Type: text/plain",
             "--data-binary", PAYMENT.decode()],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        [seen] = target.wait_for(1)
    finally:
        listener.stop()
    assert seen.body == PAYMENT
    assert seen.header("Stripe-Signature") is None
    assert not stripe_accepts(seen)


async def test_routes_resign_with_their_own_provider_and_secret(
    tmp_path: Path, target: TargetServer, env: None
) -> None:
    """A GitHub route under a global ``--provider stripe``: its webhooks are checked, and
    signed, as GitHub's with the route's secret, and never get a ``Stripe-Signature``; a route
    with its own secret needs no global one."""
    listener = start_listener(
        tmp_path / "hooks.db",
        "-f", str(target.port),
        "--route", f"/gh/*={target.port},provider=github,secret-env=GITHUB_SECRET",
        "--route", f"/st/*={target.port},provider=stripe,secret-env=STRIPE_WEBHOOK_SECRET",
        "--provider", "stripe", "--secret-env", "STRIPE_WEBHOOK_SECRET", "--resign",
    )  # fmt: skip
    body = b'{"action":"opened","issue":{"number":1}}'
    try:
        ids = await post_each(
            listener,
            ("/gh/ok", body, {"X-Hub-Signature-256": github_signed(body)}),
            ("/gh/forged", body, {"X-Hub-Signature-256": github_signed(body, "nope")}),
            ("/st/forged", PAYMENT, {"Content-Type": "text/plain"}),
            ("/st/ok", PAYMENT, {"Stripe-Signature": stripe_signed(PAYMENT)}),
            ("/other", PAYMENT, {"Content-Type": "text/plain"}),
        )
        events = attempt_events(listener, 5)
    finally:
        listener.stop()
    seen = by_path(target.wait_for(5))
    for path in ("/gh/ok", "/gh/forged"):
        assert seen[path].header("Stripe-Signature") is None, path
    assert seen["/gh/ok"].header_all("X-Hub-Signature-256") == [github_signed(body)]
    assert events[ids["/gh/ok"]]["resigned"] is True
    assert seen["/gh/forged"].header_all("X-Hub-Signature-256") == [github_signed(body, "nope")]
    assert events[ids["/gh/forged"]]["resigned"] is False
    assert stripe_accepts(seen["/st/ok"])
    assert not stripe_accepts(seen["/st/forged"])
    assert not stripe_accepts(seen["/other"])
    assert [events[ids[p]]["resigned"] for p in ("/st/ok", "/st/forged", "/other")] == [
        True,
        False,
        False,
    ]


async def test_listen_resign_with_only_route_secrets_starts_and_re_signs(
    tmp_path: Path, target: TargetServer, env: None
) -> None:
    listener = start_listener(
        tmp_path / "hooks.db",
        "--route", f"/st/*={target.port},provider=stripe,secret-env=STRIPE_WEBHOOK_SECRET",
        "--resign",
    )  # fmt: skip
    old = int(time.time()) - 100
    try:
        await post(
            listener.url, "/st/1", PAYMENT, {"Stripe-Signature": stripe_signed(PAYMENT, at=old)}
        )
        [seen] = target.wait_for(1)
    finally:
        listener.stop()
    assert stripe_accepts(seen)
    assert seen.header("Stripe-Signature") != stripe_signed(PAYMENT, at=old)


def test_listen_resign_without_any_secret_is_refused(tmp_path: Path) -> None:
    done = run_whrelay(
        "listen", "--port", "0", "-f", "9", "--resign", "--db", str(tmp_path / "x.db")
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(b"whrelay: error: --resign needs a secret")


# --- replay --resign ---------------------------------------------------------------------------


def stored_stripe(db: Path, *signatures: str | None) -> list[int]:
    """Webhooks as listen stores them, received a minute ago, each with its signature header
    (``None``: none) and a failed delivery to port 9."""
    arrived = (int(time.time()) - 60) * 1_000_000
    captures = [
        Capture(
            "POST", "/stripe", "",
            ((b"Host", b"127.0.0.1:8642"), (b"Content-Type", b"application/json"))
            + (((b"Stripe-Signature", sig.encode()),) if sig else ()),
            PAYMENT, "1.1", "127.0.0.1", arrived + i,
        )
        for i, sig in enumerate(signatures)
    ]  # fmt: skip
    with Store(db) as store:
        return [w.id for w in store.insert_webhooks(captures)]


def test_replay_resign_sends_stored_forgeries_as_received_and_dry_run_shows_why(
    tmp_path: Path, target: TargetServer, env: None
) -> None:
    db = tmp_path / "hooks.db"
    signed_at = int(time.time()) - 61
    forged, unsigned, valid = stored_stripe(
        db, "t=1,v1=deadbeef", None, stripe_signed(PAYMENT, at=signed_at)
    )
    common = (
        "--to",
        target.url,
        "--resign",
        "--secret-env",
        "STRIPE_WEBHOOK_SECRET",
        "--db",
        str(db),
    )
    dry = run_whrelay("replay", str(forged), str(unsigned), str(valid), *common, "--dry-run")
    dry_json = run_whrelay(
        "replay", str(forged), str(unsigned), str(valid), *common, "--dry-run", "--json"
    )
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.decode().splitlines()
    assert (
        "not re-signed, would go as received: with the secret given, its stripe signature is "
        "not valid (bad_signature" in lines[0]
    )
    assert "not re-signed, would go as received: no signature scheme was recognized" in lines[1]
    assert "would be re-signed (stripe)" in lines[2]
    records = [json.loads(line) for line in dry_json.stdout.splitlines()]
    assert [(r["id"], r["resign"]) for r in records] == [
        (forged, False),
        (unsigned, False),
        (valid, True),
    ]
    assert target.requests == []

    done = run_whrelay("replay", str(forged), str(unsigned), str(valid), *common)
    assert done.returncode == 0, done.stderr
    sent = target.wait_for(3)
    assert [stripe_accepts(r) for r in sent] == [False, False, True]
    assert sent[0].header_all("Stripe-Signature") == ["t=1,v1=deadbeef"]
    assert sent[1].header("Stripe-Signature") is None
    assert b"warning" not in done.stderr


def test_replay_resign_unverified_signs_forgeries_only_when_named_and_warns_for_each(
    tmp_path: Path, target: TargetServer, env: None
) -> None:
    db = tmp_path / "hooks.db"
    forged, unsigned = stored_stripe(db, "t=1,v1=deadbeef", None)
    done = run_whrelay(
        "replay", str(forged), str(unsigned), "--to", target.url, "--resign", "--resign-unverified",
        "--sign-as", "stripe", "--secret-env", "STRIPE_WEBHOOK_SECRET", "--db", str(db),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.decode().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert f"#{forged} is re-signed although" in warnings[0]
    assert f"#{unsigned} is re-signed although" in warnings[1]
    assert [stripe_accepts(r) for r in target.wait_for(2)] == [True, True]
    with Store(db, readonly=True) as store:
        notes = [a.resign_note for i in (forged, unsigned) for a in store.attempts(i)]
    assert all(n and n.startswith("re-signed although its stripe signature") for n in notes)


async def test_replay_resign_selected_by_status_never_signs_a_stored_forgery(
    tmp_path: Path, env: None
) -> None:
    """``replay --resign --status failed``: what listen stored and failed to deliver, forged
    or not, goes back out; only the valid one is signed afresh."""
    db = tmp_path / "hooks.db"
    with target_server() as picky:
        picky.reply(400, body=b"no")
        listener = start_listener(db, "-f", str(picky.port))
        try:
            for headers in (
                {"Content-Type": "text/plain"},
                {"Stripe-Signature": stripe_signed(PAYMENT)},
            ):
                await post(listener.url, "/stripe", PAYMENT, headers)
            listener.wait_for_events("attempt", 2)
        finally:
            listener.stop()
    with target_server() as fixed:
        done = run_whrelay(
            "replay", "--status", "failed", "--to", fixed.url, "--resign",
            "--secret-env", "STRIPE_WEBHOOK_SECRET", "--db", str(db),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert [stripe_accepts(r) for r in fixed.wait_for(2)] == [False, True]


def test_replay_resign_checks_a_standard_webhook_with_the_secret_that_verifies_it(
    tmp_path: Path, target: TargetServer
) -> None:
    """Several secrets: the one that verifies the webhook is the one that signs it (the official
    library accepts it), whatever its position."""
    db = tmp_path / "hooks.db"
    body = b'{"type":"user.created"}'
    signed_at = int(time.time()) - 3600
    headers = standardwebhooks.Webhook(SW_SECRET).sign(
        "msg_resign_sw", _dt(signed_at), body.decode()
    )
    capture = Capture(
        "POST", "/sw", "",
        ((b"Host", b"x"), (b"webhook-id", b"msg_resign_sw"),
         (b"webhook-timestamp", str(signed_at).encode()), (b"webhook-signature", headers.encode())),
        body, "1.1", "127.0.0.1", signed_at * 1_000_000 + 5,
    )  # fmt: skip
    with Store(db) as store:
        [stored] = store.insert_webhooks([capture])
    done = run_whrelay(
        "replay", str(stored.id), "--to", target.url, "--resign",
        "--secret", "whsec_c29tZW9uZSBlbHNlJ3Mga2V5", "--secret", SW_SECRET, "--db", str(db),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [seen] = target.wait_for(1)
    standardwebhooks.Webhook(SW_SECRET).verify(
        seen.body, {k.decode(): v.decode() for k, v in seen.headers}
    )
    assert int(seen.header("webhook-timestamp") or 0) > signed_at


def _dt(unix: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix, UTC)


def test_replay_provider_is_a_filter_and_sign_as_names_the_scheme(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    stored_stripe(db, None)
    mixed = run_whrelay("replay", "1", "--provider", "stripe", "--db", str(db))
    assert mixed.returncode == 2
    assert b"--sign-as names the scheme to re-sign with" in mixed.stderr
    alone = run_whrelay("replay", "1", "--sign-as", "stripe", "--to", "9", "--db", str(db))
    assert alone.returncode == 2
    assert b"--sign-as and --resign-unverified go with --resign" in alone.stderr


QUICK_ONE_RETRY = ("--durability", "normal", "--retry-schedule", "0.2")
"""Options most listeners here get: quick commits and a quick retry."""

# --- 3. --resign on what the sender sent ---------------------------------------------------------

SW_ID = b"msg_\xff\xfe"
"""A standard-webhooks id that is not UTF-8."""


def sw_signature(stamp: bytes, body: bytes) -> bytes:
    """A real standard-webhooks signature by ``SW_SECRET`` over the id's exact bytes."""
    key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, SW_ID + b"." + stamp + b"." + body, hashlib.sha256).digest()
    return b"v1," + base64.b64encode(digest)


def sw_request(body: bytes) -> bytes:
    stamp = b"%d" % (int(time.time()) - 120)  # signed a while ago, so re-signing shows
    return post_bytes(
        b"/sw",
        body,
        b"webhook-id: " + SW_ID,
        b"webhook-timestamp: " + stamp,
        b"webhook-signature: " + sw_signature(stamp, body),
        b"Content-Type: application/json",
    )


def resign_args(mode: str) -> tuple[str, ...]:
    return ("--mode", mode, "--provider", "standard-webhooks", "--secret", SW_SECRET, "--resign")


def assert_resigned(seen: Seen, body: bytes) -> None:
    """``seen`` carries ``body`` and the id ``SW_ID`` byte for byte, with a fresh timestamp
    and a standard-webhooks signature over ``id.timestamp.body`` made with ``SW_SECRET``."""
    assert seen.body == body
    assert seen.header(b"webhook-id") == SW_ID
    stamp = seen.header(b"webhook-timestamp")
    signature = seen.header(b"webhook-signature")
    assert stamp is not None and signature is not None
    assert abs(int(stamp) - time.time()) < 60
    key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    expected = hmac.new(key, SW_ID + b"." + stamp + b"." + body, hashlib.sha256).digest()
    assert b"v1," + base64.b64encode(expected) in signature.split(b" ")


def twilio_md5_request() -> bytes:
    return post_bytes(
        b"/tw",
        b"From=%2B15550001111&Body=hi",
        b"Content-Type: application/x-www-form-urlencoded",
        b"X-Twilio-Signature: bm90IGEgcmVhbCBzaWduYXR1cmU=",
        b"X-Twilio-Webhooks-Signature-Settings: algorithm=MD5",
    )


@pytest.mark.slow
async def test_resign_keeps_a_webhook_id_that_is_not_utf8(tmp_path: Path) -> None:
    """Store mode, --resign, standard-webhooks: a ``webhook-id`` that is not UTF-8 reaches
    the target as the very same bytes, signed afresh over ``id.timestamp.body``."""
    body = b'{"type":"ping"}'
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *QUICK_ONE_RETRY, "-f", str(target.port), *resign_args("store")) as listener,
    ):
        await send_raw(listener.url, sw_request(body))
        [seen] = await target.wait_for(1)
    assert_resigned(seen, body)


@pytest.mark.slow
async def test_replay_resign_keeps_a_webhook_id_that_is_not_utf8(tmp_path: Path) -> None:
    """``replay ID --resign`` of a stored standard-webhooks webhook whose id is not UTF-8:
    the target gets the id's exact bytes, signed afresh (no crash in the signer)."""
    body = b'{"type":"ping"}'
    headers = (
        (b"Host", b"x"),
        (b"webhook-id", SW_ID),
        (b"webhook-timestamp", b"1700000000"),
        (b"webhook-signature", sw_signature(b"1700000000", body)),
        (b"Content-Type", b"application/json"),
    )
    db = tmp_path / "hooks.db"
    arrived = 1_700_000_001_000_000  # a second after it was signed
    with Store(db) as store:
        [summary] = store.insert_webhooks(
            [Capture("POST", "/sw", "", headers, body, "1.1", "127.0.0.1", arrived)]
        )
    async with RawServer() as target:
        proc = await asyncio.to_thread(
            run_whrelay,
            "replay",
            str(summary.id),
            "--to",
            target.url,
            "--resign",
            "--sign-as",
            "standard-webhooks",
            "--secret",
            SW_SECRET,
            "--db",
            str(db),
        )
        assert proc.returncode == 0, proc.stderr.decode()
        [seen] = await target.wait_for(1)
    assert_resigned(seen, body)


@pytest.mark.slow
async def test_resign_in_proxy_mode_stores_and_answers_a_non_utf8_webhook_id(
    tmp_path: Path,
) -> None:
    """Proxy mode, --resign, a ``webhook-id`` that is not UTF-8: the webhook is stored and
    the sender is not told 500 (which it would retry, storing it again)."""
    db = tmp_path / "hooks.db"
    async with (
        RawServer() as target,
        listening(db, *QUICK_ONE_RETRY, "-f", str(target.port), *resign_args("proxy")) as listener,
    ):
        response = await raw_request(listener.url, sw_request(b"{}"))
    assert response.status != 500, response
    assert stored_count(db) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["store", "proxy"])
async def test_resign_sends_what_it_cannot_check_as_received_and_records_why(
    tmp_path: Path, mode: str
) -> None:
    """Twilio with ``algorithm=MD5`` (which the scheme can neither check nor sign) under
    --resign: the webhook is stored, the sender is not told 500, the target gets the request
    as received (the sender's signature untouched), and the attempt says why it was not
    re-signed."""
    db = tmp_path / "hooks.db"
    args = ("--mode", mode, "--provider", "twilio", "--secret", "secret123", "--resign")
    async with (
        RawServer() as target,
        listening(db, *QUICK_ONE_RETRY, "-f", str(target.port), *args) as listener,
    ):
        response = await raw_request(listener.url, twilio_md5_request())
        assert response.status != 500, response
        await until(lambda: stored_count(db) == 1, "the webhook to be stored")
        with Store(db, readonly=True) as store:
            [webhook_id] = [w.id for w in store.list_webhooks()]
        await attempts_made(db, webhook_id, 1)
        [seen] = await target.wait_for(1)
    assert seen.header(b"X-Twilio-Signature") == b"bm90IGEgcmVhbCBzaWduYXR1cmU="
    shown = run_whrelay("show", str(webhook_id), "--json", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    [attempt] = json.loads(shown.stdout)["attempts"]
    assert attempt["status"] == 200
    assert attempt["resigned"] is False
    assert attempt["resign_note"].startswith("not re-signed: its twilio signature is not valid")
    assert "MD5" in attempt["resign_note"]
