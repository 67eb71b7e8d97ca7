"""``whrelay replay``: identical bytes again, bulk replay, exit codes, its summary and Ctrl-C."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.captures import capture
from tests.helpers.commands import github_request
from tests.helpers.forwarding import (
    attempts,
    deliveries,
    down_target,
    error_lines,
    events,
    https_target,
    post,
    post_all,
    run_concurrently,
    settled,
    stored_attempts,
    stored_forwarded,
)
from tests.helpers.processes import (
    listening,
    run_in_terminal,
    run_whrelay,
    start_listener,
)
from tests.helpers.rawhttp import raw_request, request_bytes, send_raw
from tests.helpers.targetserver import Reply, TargetServer, target_server
from tests.helpers.wait import until
from whrelay.core.models import (
    now_micros,
)
from whrelay.storage import Store

FAST = ("--durability", "normal", "--retry-schedule", "0.2,0.5")
"""Options every listener here gets: quick commits and quick retries."""

# --- replay, list and show ---------------------------------------------------------------------


async def delivered_history(db: Path, target: TargetServer, count: int) -> list[int]:
    """Forward ``count`` webhooks to ``target`` with a short-lived listener; their ids."""
    with listening(db, *FAST, "-f", str(target.port)) as listener:
        ids = await post_all(
            listener.url, [b"payload %d \x00\xff" % i for i in range(count)], "/h?x=1"
        )
        await settled(db, ids)
    return ids


# --- replay's output: the bar, the summary, Ctrl-C ------------------------------------------------

STRIPE_SECRET = "whsec_deliveryTestSecret"

GITHUB_SECRET = "review-secret"


async def test_replay_sends_identical_bytes_again(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with (
        target_server() as target,
        target_server() as other,
        listening(db, *FAST, "-f", str(target.port)) as listener,
    ):
        ids = await post_all(listener.url, [b"payload %d \x00\xff" % i for i in range(3)], "/h?x=1")
        await settled(db, ids)
        # While that listener is running, replay from another process.
        result = await asyncio.to_thread(run_whrelay, "replay", str(ids[0]), "--db", str(db))
        assert result.returncode == 0, result.stderr
        # (Forwarded by concurrent attempts, the first three may reach the target in any order.)
        original = next(r for r in target.requests[:3] if r.body.startswith(b"payload 0 "))
        replayed = target.requests[-1]
        assert len(target.requests) == 4
        assert replayed.method == original.method == "POST"
        assert replayed.path_qs == original.path_qs == "/h?x=1"
        assert replayed.body == original.body == b"payload 0 \x00\xff"
        assert replayed.headers == original.headers
        last = attempts(db, ids[0])[-1]
        assert (last.trigger, last.status, last.delivery) == (
            "replay",
            200,
            deliveries(db, ids[0])[0].id,
        )

        # Elsewhere, with an extra header and another body.
        body_file = tmp_path / "edited.bin"
        body_file.write_bytes(b"\x00edited\xff")
        result = await asyncio.to_thread(
            run_whrelay,
            "replay",
            str(ids[1]),
            "--to",
            str(other.port),
            "-H",
            "X-Replayed: 1",
            "--body-file",
            str(body_file),
            "--db",
            str(db),
        )
        assert result.returncode == 0, result.stderr
        [moved] = other.requests
        assert moved.body == b"\x00edited\xff"
        assert moved.header("Content-Length") == "8"
        assert moved.header_all("X-Replayed") == ["1"]
        assert moved.path_qs == "/h?x=1"
        last = attempts(db, ids[1])[-1]
        assert (last.trigger, last.url, last.delivery) == (
            "replay",
            other.url + "/h?x=1",
            None,
        )

        # Several at once, as JSON.
        result = await asyncio.to_thread(
            run_whrelay, "replay", *map(str, ids), "--json", "--db", str(db)
        )
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(r["webhook_id"], r["status"], r["trigger"]) for r in lines] == [
            (i, 200, "replay") for i in ids
        ]
    assert target.bodies[-3:] == [b"payload %d \x00\xff" % i for i in range(3)]


async def test_replay_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        [webhook_id] = await delivered_history(db, target, 1)
        target.reply(500, body=b"broken")
        failing = await asyncio.to_thread(run_whrelay, "replay", str(webhook_id), "--db", str(db))
        target.down()
        down = await asyncio.to_thread(run_whrelay, "replay", str(webhook_id), "--db", str(db))
        unknown = await asyncio.to_thread(run_whrelay, "replay", "999", "--db", str(db))
    assert failing.returncode == 1, failing.stderr
    assert down.returncode == 1, down.stderr
    tries = attempts(db, webhook_id)
    assert [(a.trigger, a.status, a.error) for a in tries[-2:]] == [
        ("replay", 500, None),
        ("replay", None, "refused"),
    ]
    assert deliveries(db, webhook_id)[0].state == "delivered"  # a failed replay changes nothing
    assert unknown.returncode == 2
    [line] = error_lines(unknown.stderr)
    assert "999" in line
    assert len(tries) == 3


async def test_list_status_show_and_dry_run(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        unreachable = down_target()
        try:
            target.queue(Reply(200), Reply(400, body=b"bad"))
            with listening(
                db, *FAST, "-f", str(target.port), "--route", f"/later/*={unreachable.port}"
            ) as listener:
                delivered = await post(listener.url, b"fine", "/ok")
                await settled(db, [delivered])
                failed = await post(listener.url, b"bad", "/bad")
                await settled(db, [failed], "failed")
                pending = await post(listener.url, b"wait", "/later/x")
                await events(listener, "target_down")
        finally:
            unreachable.close()
        before = len(target.requests)
        base = ("--db", str(db))
        results = run_concurrently(
            ("list", "--status", "delivered", "--json", *base),
            ("list", "--status", "pending", "--json", *base),
            ("list", "--status", "failed", "--json", *base),
            ("replay", "--since", "1h", "--status", "failed", "--dry-run", *base),
            ("replay", "--since", "1h", "--status", "failed", "--dry-run", "--json", *base),
            ("show", str(failed), *base),
            ("show", str(failed), "--json", *base),
        )
        # They have exited, and a request is recorded before it is answered: had a dry run
        # sent one, it would be in target.requests by now.
        assert len(target.requests) == before  # the dry runs sent nothing
    for result in results:
        assert result.returncode == 0, (result.args, result.stderr)
    listed = [[json.loads(line)["id"] for line in r.stdout.splitlines()] for r in results[:3]]
    assert listed == [[delivered], [pending], [failed]]

    dry, dry_json, show_text, show_json = results[3:]
    assert f"#{failed}".encode() in dry.stdout
    assert f"{target.url}/bad".encode() in dry.stdout
    assert f"#{delivered}".encode() not in dry.stdout
    assert [json.loads(line) for line in dry_json.stdout.splitlines()] == [
        {
            "id": failed,
            "target": target.url,
            "dry_run": True,
            "verdict": "unverified",
            "scheme": None,
        }
    ]
    assert len(attempts(db, failed)) == 1  # nothing recorded either

    text = show_text.stdout.decode()
    assert "Deliveries" in text
    assert "Attempts" in text
    assert target.url in text
    assert "failed" in text
    assert "400" in text
    record = json.loads(show_json.stdout)
    assert [(d["target"], d["state"], d["attempts"]) for d in record["deliveries"]] == [
        (target.url, "failed", 1)
    ]
    assert [(a["trigger"], a["status"]) for a in record["attempts"]] == [("first", 400)]


async def test_bulk_replay_of_failed_sends_only_the_failed_deliveries(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as fine, target_server() as picky:
        picky.reply(400, body=b"no")
        with listening(db, *FAST, "-f", str(fine.port), "-f", str(picky.port)) as listener:
            both = await post(listener.url, b"to both", "/two")
            await until(
                lambda: len([d for d in deliveries(db, both) if d.state != "pending"]) == 2 or None,
                "both deliveries settled",
            )
        assert sorted(d.state for d in deliveries(db, both)) == ["delivered", "failed"]
        dry = run_whrelay(
            "replay", "--since", "1h", "--status", "failed", "--dry-run", "--json", "--db", str(db)
        )
        mixed = run_whrelay("replay", str(both), "--status", "failed", "--db", str(db))
        again = run_whrelay("replay", "--since", "1h", "--status", "failed", "--db", str(db))
        shown = run_whrelay("show", str(both), "--db", str(db))
    assert again.returncode == 1, again.stderr  # the picky target still answers 400
    assert [r.path_qs for r in picky.requests] == ["/two", "/two"]
    assert [r.path_qs for r in fine.requests] == ["/two"]  # not sent again
    lines = shown.stdout.decode().splitlines()
    [picky_line] = [line for line in lines if line.startswith("failed") and picky.url in line]
    assert "1 attempt(s) + 1 replay(s)" in picky_line
    assert dry.returncode == 0, dry.stderr
    assert [json.loads(line) for line in dry.stdout.splitlines()] == [
        {"id": both, "target": picky.url, "dry_run": True, "verdict": "unverified", "scheme": None}
    ]
    assert mixed.returncode == 2
    assert b"not both" in mixed.stderr


def test_bulk_replay_on_a_narrow_terminal_clears_its_bar_and_ends_with_a_summary(
    tmp_path: Path,
) -> None:
    """The lines wrap on a 40-column terminal; no trace of the bar is left between them or
    after them, and the summary counts what was sent."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.reply(200, stall=0.05)
        stored_forwarded(db, target.url, 5)
        run = run_in_terminal("replay", "--since", "1h", "--db", str(db), columns=40)
    shown = "\n".join(run.screen)
    assert run.returncode == 0, shown
    assert len(target.requests) == 5
    assert "replaying" not in shown
    assert "━" not in shown
    assert shown.count("(replay)") == 5
    assert "Replayed: 5 sent, 5 answered 2xx." in shown.replace("\n", "")


def test_bulk_replay_summary_counts_failures_by_kind_and_hints_at_resign_for_stale_ones(
    tmp_path: Path,
) -> None:
    """Stripe-signed webhooks an hour old, answered 400 (as a Stripe library answers a
    timestamp too old), one answered 500, and one never forwarded (skipped)."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        target.queue(Reply(400), Reply(400), Reply(500))
        stored_forwarded(db, target.url, 3, age_s=3600, stripe=True)
        with Store(db) as store:  # never forwarded: skipped by a filter
            from whrelay.core.models import Capture
            from whrelay.storage.store import insert_webhook

            alone = Capture("POST", "/alone", "", (), b"{}", "1.1", None, int(time.time() * 1e6))
            store.run(lambda db: insert_webhook(db, alone))
        result = run_whrelay("replay", "--since", "2h", "--db", str(db))
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Replayed: 3 sent, 0 answered 2xx, 3 failed (2 × 400, 1 × 500), 1 skipped." in err
    [hint] = [line for line in err.splitlines() if line.startswith("hint:")]
    assert "2 of the failures" in hint and "stripe" in hint and "--resign" in hint


def test_ctrl_c_during_a_bulk_replay_says_what_was_done_and_exits_130(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with target_server() as target:
        # The first answered at once, the rest held: Ctrl-C comes during the second, however
        # slowly the machine lets the terminal be read.
        target.queue(Reply(200))
        target.reply(200, stall=30)
        stored_forwarded(db, target.url, 8)
        run = run_in_terminal(
            "replay", "--since", "1h", "--db", str(db), columns=60,
            interrupt_when=lambda written: b"(replay)" in written,
        )  # fmt: skip
    shown = "\n".join(run.screen)
    assert run.returncode == 130, shown
    assert "replaying" not in shown
    summary = next(line for line in run.screen if line.startswith("Interrupted:"))
    sent = shown.count("(replay)")
    assert sent >= 1
    assert summary.startswith(f"Interrupted: {sent} sent, {sent} answered 2xx, ")
    assert f"{8 - sent} not sent." in shown.replace("\n", "")
    assert "Traceback" not in shown
    with Store(db, readonly=True) as store:
        replays = [a for i in range(1, 9) for a in store.attempts(i) if a.trigger == "replay"]
    assert len(replays) == sent


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
    assert b"not re-signed, would go as received: no signature scheme was recognized" in dry.stdout
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


# --- 7. Bulk replay over webhooks some of which were never forwarded ------------------------------


@pytest.mark.slow
def test_bulk_replay_skips_webhooks_never_forwarded(tmp_path: Path) -> None:
    """``replay --since 1h`` (no --to) over a stored-only webhook and a forwarded one: the
    forwarded one goes to its original target, the other is skipped with a note naming it,
    and the exit code is 0 as the one replayed got a 2xx."""
    db = tmp_path / "hooks.db"
    with target_server() as target:
        with Store(db) as store:
            [never] = store.insert_webhooks(
                [
                    capture(
                        "/never", headers=((b"Host", b"x"),), body=b"{}", received_at=now_micros()
                    )
                ],
                [[]],
            )
            [forwarded] = store.insert_webhooks(
                [
                    capture(
                        "/forwarded",
                        headers=((b"Host", b"x"),),
                        body=b"{}",
                        received_at=now_micros(),
                    )
                ],
                [[target.url]],
            )
        proc = run_whrelay("replay", "--since", "1h", "--db", str(db))
        stderr = proc.stderr.decode()
        assert proc.returncode == 0, stderr
        # replay has exited, so what it sent was answered, and recorded before that.
        [request] = target.requests
    assert request.path_qs == "/forwarded"
    assert f"#{never.id}" in stderr, stderr
    assert [a.trigger for a in stored_attempts(db, forwarded.id)] == ["replay"]
    assert stored_attempts(db, never.id) == []


async def test_replay_and_send_take_insecure_and_ca_file(tmp_path: Path) -> None:
    """``replay`` of a delivery to a self-signed https target fails as ``listen``'s did until
    told ``--insecure`` or ``--ca-file``, or sent ``--to 'URL,insecure'``; ``send`` the same."""
    db = tmp_path / "hooks.db"
    cert = str(tmp_path / "cert.pem")
    with https_target(tmp_path) as target:
        with listening(db, *FAST, "-f", target.url, "--insecure") as listener:
            webhook_id = await post(listener.url, b"{}")
            await settled(db, [webhook_id])

        def replay(*args: str) -> subprocess.CompletedProcess[bytes]:
            return run_whrelay("replay", str(webhook_id), "--db", str(db), *args)

        refused = await asyncio.to_thread(replay)
        insecure = await asyncio.to_thread(replay, "--insecure")
        trusted = await asyncio.to_thread(replay, "--ca-file", cert)
        marked = await asyncio.to_thread(replay, "--to", f"{target.url},insecure")

        def send(*args: str) -> subprocess.CompletedProcess[bytes]:
            return run_whrelay("send", target.url + "/sent", "--provider", "none", *args)

        send_refused = await asyncio.to_thread(send)
        send_insecure = await asyncio.to_thread(send, "--insecure")
        send_trusted = await asyncio.to_thread(send, "--ca-file", cert)
    assert refused.returncode == 1, refused.stderr
    assert send_refused.returncode == 1, send_refused.stderr
    for failed in (refused, send_refused):
        line = failed.stdout.decode()
        assert "certificate verify failed" in line and "--ca-file" in line, line
    for result in (insecure, trusted, marked, send_insecure, send_trusted):
        assert result.returncode == 0, (result.stdout, result.stderr)
    assert [r.path_qs for r in target.requests] == ["/hook"] * 4 + ["/sent"] * 2
    assert [(a.trigger, a.status) for a in attempts(db, webhook_id)][1:] == [
        ("replay", None),
        ("replay", 200),
        ("replay", 200),
        ("replay", 200),
    ]


# --- replay --dry-run --resign: what would be re-signed, and why not ------------------------------

DRY_STRIPE_SECRET = "whsec_dryRunStripeSecret0123456789"
GITLAB_TOKEN = "dry-run-gitlab-token"


def _stripe_signed(body: bytes) -> str:
    stamp = int(time.time())
    mac = hmac.new(DRY_STRIPE_SECRET.encode(), b"%d." % stamp + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


async def _signed_history(db: Path) -> tuple[int, int, int, int]:
    """As a listen checking Stripe's signatures stores them: a Stripe webhook (valid on
    arrival), a GitHub one and a GitLab one (invalid on arrival: no Stripe signature), and
    an unsigned one."""
    body = b'{"id":"evt_dry","type":"invoice.paid"}'
    json_type = ("Content-Type", "application/json")
    requests = [
        request_bytes(
            "POST", "/stripe",
            [("Host", "x"), json_type, ("Stripe-Signature", _stripe_signed(body)),
             ("Content-Length", str(len(body)))],
            body,
        ),
        github_request(b'{"action":"opened"}'),
        request_bytes(
            "POST", "/gitlab",
            [("Host", "x"), json_type, ("X-Gitlab-Event", "Push Hook"),
             ("X-Gitlab-Token", GITLAB_TOKEN), ("Content-Length", "2")],
            b"{}",
        ),
        request_bytes("POST", "/plain", [("Host", "x"), ("Content-Length", "2")], b"{}"),
    ]  # fmt: skip
    async with listening(db, "--provider", "stripe", "--secret", DRY_STRIPE_SECRET) as listener:
        stripe_id, github_id, gitlab_id, plain_id = [
            await send_raw(listener.url, request) for request in requests
        ]
    return stripe_id, github_id, gitlab_id, plain_id


async def test_a_dry_run_with_resign_says_plainly_what_it_would_re_sign_and_why_not(
    tmp_path: Path,
) -> None:
    """Judged with the secret given, which is not the one listen judged them with: a line per
    webhook that says whether it would be re-signed and why not, its verdict on arrival
    labelled as such (never a bare "valid" beside "not valid"), and on stderr how many would
    be re-signed and sent as received."""
    db = tmp_path / "hooks.db"
    stripe_id, github_id, gitlab_id, plain_id = await _signed_history(db)
    ids = [str(i) for i in (stripe_id, github_id, gitlab_id, plain_id)]
    common = ("--to", "9", "--dry-run", "--resign", "--db", str(db))

    # A GitHub secret: only the GitHub webhook verifies with it.
    dry = run_whrelay("replay", *ids, *common, "--secret", GITHUB_SECRET)
    assert dry.returncode == 0, dry.stderr
    stripe_line, github_line, gitlab_line, plain_line = dry.stdout.decode().splitlines()
    assert stripe_line.endswith(
        "  not re-signed, would go as received: with the secret given, its stripe signature is "
        "not valid (bad_signature: no signature matches); on arrival: valid"
    ), stripe_line
    assert github_line.endswith(
        "  would be re-signed (github): its signature verifies with the secret given; "
        "on arrival: invalid (missing_header)"
    ), github_line
    assert "  not re-signed, would go as received: with the secret given, its gitlab signature " \
        "is not valid (bad_signature: " in gitlab_line  # fmt: skip
    assert plain_line.endswith(
        "  not re-signed, would go as received: no signature scheme was recognized; "
        "on arrival: invalid (missing_header)"
    ), plain_line
    assert err_lines(dry) == [
        f"Would re-sign 1 webhook(s) (#{github_id}): their signatures verify with the secret "
        "given.",
        f"Would send 3 webhook(s) as received, not re-signed (#{stripe_id}, #{gitlab_id}, "
        f"#{plain_id}): --resign signs only what verifies with the secret given.",
        f"hint: #{stripe_id} verified on arrival, but not with the secret given: give the secret "
        "of the provider that signed it",
    ]

    # Stripe's secret and GitLab's token: a token covers no body, and the dry run says so.
    dry = run_whrelay(
        "replay", *ids, *common, "--secret", DRY_STRIPE_SECRET, "--secret", GITLAB_TOKEN
    )
    assert dry.returncode == 0, dry.stderr
    stripe_line, github_line, gitlab_line, plain_line = dry.stdout.decode().splitlines()
    assert stripe_line.endswith(
        "  would be re-signed (stripe): its signature verifies with the secret given; "
        "on arrival: valid"
    ), stripe_line
    assert github_line.endswith(
        "  not re-signed, would go as received: with the secret given, its github signature is "
        "not valid (bad_signature: no signature matches); on arrival: invalid (missing_header)"
    ), github_line
    assert gitlab_line.endswith(
        "  would be re-signed (gitlab): its signature verifies with the secret given (a gitlab "
        "signature does not cover the body); on arrival: invalid (missing_header)"
    ), gitlab_line
    assert err_lines(dry)[0] == (
        f"Would re-sign 2 webhook(s) (#{stripe_id}, #{gitlab_id}): their signatures verify with "
        "the secret given."
    )

    # --resign-unverified: loud on the line and in the count.
    dry = run_whrelay(
        "replay", str(plain_id), *common, "--secret", DRY_STRIPE_SECRET, "--sign-as", "stripe",
        "--resign-unverified",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    forced = (
        "  WOULD BE RE-SIGNED (stripe) although, with the secret given, its stripe signature "
        "is not valid (missing_header: no Stripe-Signature header) (--resign-unverified); "
        "on arrival: invalid (missing_header)"
    )
    assert dry.stdout.decode().rstrip().endswith(forced), dry.stdout
    assert err_lines(dry) == [
        "Would re-sign none: no signature verifies with the secret given.",
        f"Would re-sign 1 webhook(s) although their signatures do not verify (#{plain_id}): "
        "--resign-unverified.",
    ]
    for line in (*dry.stdout.decode().splitlines(), *err_lines(dry)):
        assert "  valid" not in line.split("on arrival")[0], line

    # Another body, not re-signed: the note a replay gives, before anything is sent.
    edited = tmp_path / "edited.json"
    edited.write_bytes(b'{"id":"evt_dry","type":"invoice.void"}')
    dry = run_whrelay("replay", ids[0], "--to", "9", "--dry-run", "--body-file", str(edited),
                      "--db", str(db))  # fmt: skip
    assert err_lines(dry) == [
        "note: with another body, the stripe signature sent with it no longer matches; "
        "--resign --secret S signs it afresh"
    ]

    # --json: the scheme and verdict it is judged with now, beside the verdict on arrival.
    listed = run_whrelay("replay", ids[0], *common, "--secret", GITHUB_SECRET, "--json")
    [record] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["verdict"] == "valid" and record["scheme"] == "stripe"
    assert (record["resign"], record["resign_scheme"], record["resign_verdict"]) == (
        False, "stripe", "invalid",
    )  # fmt: skip


def err_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return result.stderr.decode().splitlines()
