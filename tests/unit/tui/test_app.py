"""The terminal UI, driven by keys through Textual's pilot: what the list shows, following
another process's writes, search and filters, the detail tabs, replaying and verifying, and
webhook content that must stay text. Real databases, a real ``listen`` subprocess, a real
loopback target."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from pathlib import Path

import pytest
import stripe
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, RadioButton, RadioSet, Select, Switch, TextArea

from tests.helpers.forwarding import https_target
from tests.helpers.processes import run_whrelay, start_listener
from tests.helpers.rawhttp import request_bytes, send_raw
from tests.helpers.targetserver import TargetServer, outward_address
from tests.helpers.tui import TUI_NOW, TUI_SECRET, TUI_T0, SeededTui, screen_text, seed_tui
from tests.helpers.wait import pilot_until
from whrelay.core.models import Capture
from whrelay.signatures import Message, get_scheme
from whrelay.signatures.base import Check
from whrelay.storage import Store
from whrelay.tui.adapter import ReplayTls
from whrelay.tui.app import WhrelayApp
from whrelay.tui.compare import CompareScreen
from whrelay.tui.detail import RenderedLines
from whrelay.tui.edit import ConfirmUnverified, EditScreen, ReviewScreen
from whrelay.tui.screens import FilterScreen, HelpScreen, ResignPrompt, TargetPrompt
from whrelay.tui.transfer import CopyMenu, ExportScreen

SIZE = (120, 40)
OUTWARD = outward_address()
"""This machine's address that is not loopback: a target on another machine, as whrelay sees it."""


def make_app(db: Path) -> WhrelayApp:
    return WhrelayApp(db, clock=lambda: TUI_NOW, poll_interval=0.1)


async def opened(pilot: Pilot[None], app: WhrelayApp) -> None:
    await pilot_until(pilot, lambda: app.listing.model.counted, "the history counted")


def notifications(app: WhrelayApp, severity: str) -> list[str]:
    """The messages of the notifications of ``severity`` on screen."""
    return [n.message for n in app._notifications if n.severity == severity]


def replays_shown(app: WhrelayApp) -> list[str]:
    """The messages of the notifications that say what came of a replay, oldest first."""
    return [n.message for n in app._notifications if n.title in ("replayed", "replay failed")]


def shown_ids(app: WhrelayApp) -> list[int]:
    model = app.listing.model
    return [model.rows[i].id for i in range(model.total) if i in model.rows]


def row_line(app: WhrelayApp, webhook_id: int) -> str:
    return next(
        line for line in screen_text(app).splitlines() if line.split()[:1] == [str(webhook_id)]
    )


def lines_of(app: WhrelayApp, tab: str) -> str:
    return "\n".join(strip.text for strip in app.query_one(f"#{tab}-lines", RenderedLines).lines)


async def select(pilot: Pilot[None], app: WhrelayApp, webhook_id: int) -> None:
    """Move the cursor to ``webhook_id`` with the keys, and wait for its detail."""
    listing = app.listing
    listing.focus()
    [index] = [i for i, row in listing.model.rows.items() if row.id == webhook_id]
    while listing.cursor != index:
        before = listing.cursor
        await pilot.press("j" if listing.cursor < index else "k")
        assert listing.cursor != before
    await pilot_until(
        pilot,
        lambda: app.detail.view is not None and app.detail.view.webhook.id == webhook_id,
        f"#{webhook_id}'s detail",
    )
    await pilot_until(pilot, lambda: app.detail.laid_out == webhook_id, "its tabs laid out")


# --- the list -----------------------------------------------------------------------------------


async def test_the_list_shows_every_column_newest_first(seeded_tui: SeededTui) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot_until(pilot, lambda: str(seeded_tui.plain) in screen_text(app), "row 1")
        assert shown_ids(app) == list(range(10, 0, -1))
        header = next(line for line in screen_text(app).splitlines() if "RECEIVED" in line)
        assert header.split() == [
            "ID", "RECEIVED", "(UTC)", "METHOD", "PATH", "EVENT", "SIGNATURE", "DUP", "DELIVERY",
            "SIZE",
        ]  # fmt: skip
        stripe = row_line(app, seeded_tui.stripe).split()
        assert stripe == [
            "2", "09-21", "14:15:22", "POST", "/hooks/stripe", "stripe/invoice.paid", "valid",
            "delivered", "200", "77", "B",
        ]  # fmt: skip
        assert "invalid" in row_line(app, seeded_tui.github)
        assert "failed refused" in row_line(app, seeded_tui.github)  # as list says it
        assert "unverified" in row_line(app, seeded_tui.gzip)
        assert "pending 503" in row_line(app, seeded_tui.gzip)
        assert " dup " in row_line(app, seeded_tui.duplicate)
        plain = row_line(app, seeded_tui.plain).split()
        assert plain[5:8] == ["-", "-", "-"]  # no event, no scheme, never forwarded
        await pilot_until(pilot, lambda: "● following" in screen_text(app), "the status")
        assert "1 of 10 webhooks" in screen_text(app)


async def test_following_picks_up_rows_another_process_writes(seeded_tui: SeededTui) -> None:
    """A ``whrelay listen`` in another process stores webhooks; the list shows them at the top
    while following, keeps the selected row while paused (and counts what came), and follows
    again from ``g``."""
    app = make_app(seeded_tui.db)
    listener = start_listener(seeded_tui.db)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            listing = app.listing

            async def post(path: str) -> int:
                headers = [("Host", "127.0.0.1"), ("Content-Length", "2")]
                return await send_raw(listener.url, request_bytes("POST", path, headers, b"{}"))

            first = await post("/new/1")
            await pilot_until(pilot, lambda: shown_ids(app)[:1] == [first], "the arrival")
            assert listing.cursor == 0
            assert listing.current().id == first  # type: ignore[union-attr]
            assert "/new/1" in screen_text(app)

            await pilot.press("j", "j")
            paused_on = listing.current().id  # type: ignore[union-attr]
            await pilot_until(pilot, lambda: "paused" in screen_text(app), "the footer: paused")
            second = await post("/new/2")
            third = await post("/new/3")
            await pilot_until(pilot, lambda: listing.new_above == 2, "two arrivals counted")
            assert listing.current().id == paused_on  # type: ignore[union-attr]
            await pilot_until(pilot, lambda: "2 new above" in screen_text(app), "the count shown")

            await pilot.press("g")
            assert listing.following
            assert listing.current().id == third  # type: ignore[union-attr]
            assert shown_ids(app)[:3] == [third, second, first]
            await pilot_until(pilot, lambda: "● following" in screen_text(app), "following shown")
    finally:
        listener.stop()


async def test_following_shows_deliveries_move_on_as_listen_retries_and_cancel_cancels(
    tmp_path: Path,
) -> None:
    """Rows already on screen change as their deliveries do in other processes: a ``listen``
    delivering once its target is back, a ``whrelay cancel``."""
    db = tmp_path / "hooks.db"
    with TargetServer() as target:
        target.down()
        listener = start_listener(db, "-f", target.url)
        try:
            ids = []
            for path in ("/one", "/two"):
                headers = [("Host", "127.0.0.1"), ("Content-Length", "2")]
                assert await send_raw(listener.url, request_bytes("POST", path, headers, b"{}"))
                with Store(db, readonly=True) as reader:
                    ids.append(reader.count_webhooks())
            retried, cancelled = ids
            app = make_app(db)
            async with app.run_test(size=SIZE) as pilot:
                await opened(pilot, app)
                await pilot_until(
                    pilot,
                    lambda: all("pending" in row_line(app, i) for i in (retried, cancelled)),
                    "pending while the target is down",
                )
                assert run_whrelay("cancel", str(cancelled), "--db", str(db)).returncode == 0
                await pilot_until(
                    pilot, lambda: "cancelled" in row_line(app, cancelled), "the cancellation"
                )
                target.up()
                await pilot_until(
                    pilot, lambda: "delivered 200" in row_line(app, retried), "the delivery"
                )
                assert "cancelled" in row_line(app, cancelled)
        finally:
            listener.stop()


async def test_g_and_G_go_to_the_newest_and_the_oldest(seeded_tui: SeededTui) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot.press("G")
        assert app.listing.current().id == seeded_tui.plain  # type: ignore[union-attr]
        assert not app.listing.following
        await pilot.press("k", "pageup")
        assert app.listing.cursor == 0
        await pilot.press("end", "home")
        assert app.listing.current().id == seeded_tui.newest  # type: ignore[union-attr]


# --- search and filters -------------------------------------------------------------------------


async def test_search_narrows_the_list_and_esc_clears_it(seeded_tui: SeededTui) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot.press("slash", *"evt_1TuiTest")
        await pilot_until(pilot, lambda: app.listing.model.scan_done, "the search to end")
        assert shown_ids(app) == [seeded_tui.duplicate, seeded_tui.stripe]
        assert "2 matches in the whole history" in screen_text(app)
        await pilot.press("backspace", "enter")  # a new keystroke starts the search again
        await pilot_until(pilot, lambda: app.listing.model.scan_done, "the search to end")
        assert shown_ids(app) == [seeded_tui.duplicate, seeded_tui.stripe]
        assert app.focused is app.listing
        # In the path and the query too; bytes as stored.
        await pilot.press("slash", *("backspace",) * 20, *"team=T1")
        await pilot_until(pilot, lambda: app.listing.model.scan_done, "the search to end")
        assert shown_ids(app) == [seeded_tui.form]
        await pilot.press("escape")
        await pilot_until(pilot, lambda: app.listing.model.counted, "the whole history")
        assert shown_ids(app) == list(range(10, 0, -1))


async def test_the_filter_screen_narrows_by_state_verdict_provider_and_method(
    seeded_tui: SeededTui,
) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        for field, value, expected in (
            ("state", "failed", [seeded_tui.github]),
            ("state", "pending", [seeded_tui.gzip]),
            ("verdict", "valid", [seeded_tui.duplicate, seeded_tui.stripe]),
            ("provider", "shopify", [seeded_tui.gzip]),
        ):
            await pilot.press("f")
            screen = app.screen
            assert isinstance(screen, FilterScreen)
            screen.query_one("#filter-state", Select).clear()
            screen.query_one(f"#filter-{field}", Select).value = value
            await pilot.click("#apply")
            await pilot_until(pilot, lambda: app.listing.model.scan_done, f"{field}={value}")
            assert shown_ids(app) == expected, (field, value)
            await pilot.press("f")
            await pilot.click("#clear")
        await pilot_until(pilot, lambda: app.listing.model.counted, "the whole history")
        assert len(shown_ids(app)) == 10


# --- the detail tabs ----------------------------------------------------------------------------


async def test_the_request_tab_pretty_prints_json_and_shows_raw_on_v(
    seeded_tui: SeededTui,
) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded_tui.stripe)
        await pilot_until(pilot, lambda: '"amount": 4200' in lines_of(app, "request"), "JSON")
        request = lines_of(app, "request").splitlines()
        assert request[0].strip() == "POST /hooks/stripe HTTP/1.1"
        assert any(line.split()[:1] == ["Stripe-Signature"] for line in request)
        assert '  "type": "invoice.paid",' in request
        await pilot.press("v")
        await pilot_until(pilot, lambda: "Request (raw)" in screen_text(app), "raw")
        await pilot_until(
            pilot, lambda: '{"id":"evt_1TuiTest","type"' in lines_of(app, "request"), "raw body"
        )
        assert "Content-Type: application/json" in lines_of(app, "request")


async def test_the_request_tab_decompresses_gzip_and_dumps_binary_as_hex(
    seeded_tui: SeededTui,
) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded_tui.binary)
        await pilot_until(pilot, lambda: "00000000" in lines_of(app, "request"), "hex dump")
        assert "00000000  00 01 02 ff fe 20 62 69" in lines_of(app, "request")
        await select(pilot, app, seeded_tui.gzip)
        await pilot_until(pilot, lambda: "decompressed" in lines_of(app, "request"), "gunzip")
        text = lines_of(app, "request")
        assert "decompressed from gzip (92 B as received)" in text
        assert '"email": "jon@example.com"' in text
        await select(pilot, app, seeded_tui.form)
        await pilot_until(pilot, lambda: "user_name" in lines_of(app, "request"), "form")
        assert any(
            line.split() == ["text", "hello", "world"]
            for line in lines_of(app, "request").splitlines()
        )


async def test_the_deliveries_tab_shows_each_attempt_with_the_answer(
    seeded_tui: SeededTui,
) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded_tui.github)
        await pilot.press("2")
        await pilot_until(pilot, lambda: "Attempts (2)" in lines_of(app, "deliveries"), "tab")
        text = lines_of(app, "deliveries")
        assert "failed    http://127.0.0.1:9  2 attempt(s)  last error refused" in text
        assert "http://127.0.0.1:9/hooks  500  12.3 ms" in text
        assert "refused" in text
        assert "connection refused" in text
        assert "X-Request-Id  req-0" in text
        assert '"error": "boom"' in text


async def test_verify_again_with_a_secret_typed_in(seeded_tui: SeededTui) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded_tui.stripe)
        await pilot.press("3")
        assert "On arrival: valid  stripe  ok" in screen_text(app)
        field = app.query_one("#secret", Input)
        assert field.password
        field.focus()
        await pilot.press(*"whsec/wrong")
        assert field.value == "whsec/wrong"  # in a field, / is a slash, not the search key
        assert "whsec/wrong" not in screen_text(app)  # masked
        await pilot.press("enter")
        await pilot_until(pilot, lambda: "bad_signature" in screen_text(app), "the verdict")
        assert field.value == ""  # not kept on screen once used
        field.focus()
        await pilot.press(*TUI_SECRET, "enter")
        await pilot_until(pilot, lambda: "✓ valid  stripe" in screen_text(app), "valid")
        assert TUI_SECRET not in screen_text(app)


# --- actions ------------------------------------------------------------------------------------


async def test_replay_to_a_loopback_target_records_an_attempt(tmp_path: Path) -> None:
    with TargetServer() as target:
        seeded = seed_tui(tmp_path / "tui.db", target=target.url)
        app = make_app(seeded.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            await select(pilot, app, seeded.stripe)
            await pilot.press("2", "r")
            await pilot_until(pilot, lambda: target.requests, "the target to be sent to")
            await pilot_until(pilot, lambda: "(replay)" in lines_of(app, "deliveries"), "shown")
            assert "+ 1 replay(s)" in lines_of(app, "deliveries")
        [sent] = target.requests
        assert sent.path_qs == "/hooks/stripe"
        assert sent.body == Store(seeded.db, readonly=True).get_webhook(seeded.stripe).body
        with Store(seeded.db, readonly=True) as store:
            replays = [a for a in store.attempts(seeded.stripe) if a.trigger == "replay"]
        assert [(a.status, a.url) for a in replays] == [(200, target.url + "/hooks/stripe")]


async def test_forward_to_a_typed_target_and_the_loopback_guard(seeded_tui: SeededTui) -> None:
    with TargetServer() as target:
        app = make_app(seeded_tui.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            await select(pilot, app, seeded_tui.binary)
            await pilot.press("F")
            assert isinstance(app.screen, TargetPrompt)
            await pilot.press(*"http://192.0.2.1:80/x", "enter")
            await pilot_until(pilot, lambda: "not on this machine" in screen_text(app), "guard")
            assert "--allow-remote" in screen_text(app)
            prompt = app.screen.query_one("#target", Input)
            prompt.value = str(target.port) + "/in"
            await pilot.press("enter")
            await pilot_until(pilot, lambda: target.requests, "the target to be sent to")
            await pilot.press("2")
            await pilot_until(pilot, lambda: "/in  200" in lines_of(app, "deliveries"), "shown")
        [sent] = target.requests
        assert sent.path_qs == "/in"
        assert sent.body == Store(seeded_tui.db, readonly=True).get_webhook(seeded_tui.binary).body


@pytest.mark.parametrize(
    ("tls", "hint"),
    [
        (ReplayTls(), "replays go to this machine only: start 'whrelay tui --allow-remote'"),
        (
            ReplayTls(listening=True),
            "replays go where listen may forward: start listen with --allow-remote",
        ),
    ],
    ids=["whrelay tui", "listen --tui"],
)
async def test_F_refuses_a_target_on_another_machine_naming_the_option_where_the_tui_started(
    seeded_tui: SeededTui, tls: ReplayTls, hint: str
) -> None:
    """The guard's hint names what lifts it from where the user is: the TUI takes no option
    once started, and ``listen --tui``'s replays go where listen may forward."""
    app = WhrelayApp(seeded_tui.db, clock=lambda: TUI_NOW, poll_interval=0.1, tls=tls)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded_tui.binary)
        await pilot.press("F")
        assert "Loopback targets only" in " ".join(screen_text(app).split())
        app.screen.query_one("#target", Input).value = "http://192.0.2.1:80/x"
        await pilot.press("enter")
        await pilot_until(pilot, lambda: "not on this machine" in screen_text(app), "guard")
        shown = " ".join(screen_text(app).replace("│", " ").split())
        assert isinstance(app.screen, TargetPrompt)
    assert f"hint: {hint}" in shown, shown


async def test_r_to_a_target_on_another_machine_is_refused_naming_whrelay_tui_allow_remote(
    tmp_path: Path,
) -> None:
    """A webhook ``listen --allow-remote`` forwarded to another machine: ``r`` from a plain
    ``whrelay tui`` is refused before anything is sent, with the option that allows it."""
    seeded = seed_tui(tmp_path / "tui.db", target="http://192.0.2.1:80")
    app = make_app(seeded.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded.stripe)
        await pilot.press("r")
        [failed] = await pilot_until(
            pilot, lambda: [n.message for n in app._notifications if n.severity == "error"], "it"
        )
    assert "is not on this machine" in failed, failed
    assert failed.endswith(
        "hint: replays go to this machine only: start 'whrelay tui --allow-remote'"
    )


@pytest.mark.skipif(OUTWARD is None, reason="this machine has no address but loopback")
@pytest.mark.parametrize("listening", [False, True], ids=["whrelay tui", "listen --tui"])
async def test_with_allow_remote_F_and_r_reach_a_target_on_another_machine(
    tmp_path: Path, listening: bool
) -> None:
    """Remote targets allowed (``whrelay tui --allow-remote``, or listen's): ``F`` to one
    typed in, and ``r`` to the one the webhook was forwarded to, are sent."""
    assert OUTWARD is not None
    with TargetServer(host=OUTWARD) as remote:
        seeded = seed_tui(tmp_path / "tui.db", target=remote.url)
        tls = ReplayTls(allow_remote=True, listening=listening)
        app = WhrelayApp(seeded.db, clock=lambda: TUI_NOW, poll_interval=0.1, tls=tls)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            await select(pilot, app, seeded.binary)
            await pilot.press("F")
            note = " ".join(screen_text(app).split())
            assert "Targets on this machine or another (--allow-remote)" in note, note
            app.screen.query_one("#target", Input).value = f"{remote.url}/typed"
            await pilot.press("enter")
            await pilot_until(pilot, lambda: remote.requests, "F's replay")
            await select(pilot, app, seeded.stripe)
            await pilot.press("r")
            await pilot_until(pilot, lambda: len(remote.requests) == 2, "r's replay")
            await pilot_until(pilot, lambda: len(replays_shown(app)) == 2, "both shown")
            shown = replays_shown(app)
    assert sorted(r.path_qs for r in remote.requests) == ["/hooks/stripe", "/typed"]
    assert all("  200" in line for line in shown), shown


async def test_r_to_a_self_signed_https_target_fails_until_the_tui_trusts_its_ca_file(
    tmp_path: Path,
) -> None:
    """By default a replay to an https target checks its certificate: a self-signed one fails
    with the certificate error, and the hint names what 'whrelay tui' takes; started with
    ``--ca-file`` (its ``ReplayTls``), the same ``r`` is delivered."""
    cert = tmp_path / "tls" / "cert.pem"
    with https_target(tmp_path / "tls") as target:
        seeded = seed_tui(tmp_path / "tui.db", target=target.url)
        refused = WhrelayApp(seeded.db, clock=lambda: TUI_NOW, poll_interval=0.1)
        async with refused.run_test(size=SIZE) as pilot:
            await opened(pilot, refused)
            await select(pilot, refused, seeded.stripe)
            await pilot.press("r")
            [failed] = await pilot_until(pilot, lambda: replays_shown(refused), "the failure")
        assert "tls (certificate verify failed: self-signed certificate)" in failed, failed
        assert "hint: self-signed? start 'whrelay tui --ca-file CERT.pem'" in failed, failed
        assert "F takes 'URL,insecure'" in failed
        assert target.requests == []
        trusted = WhrelayApp(
            seeded.db, clock=lambda: TUI_NOW, poll_interval=0.1, tls=ReplayTls(ca_file=cert)
        )
        async with trusted.run_test(size=SIZE) as pilot:
            await opened(pilot, trusted)
            await select(pilot, trusted, seeded.stripe)
            await pilot.press("r")
            [done] = await pilot_until(pilot, lambda: replays_shown(trusted), "the replay")
        assert f"{target.url}/hooks/stripe  200" in done, done
    [sent] = target.requests
    assert sent.path_qs == "/hooks/stripe"
    with Store(seeded.db, readonly=True) as store:
        replays = [a for a in store.attempts(seeded.stripe) if a.trigger == "replay"]
    assert [(a.status, a.error) for a in replays] == [(None, "tls"), (200, None)]


async def test_F_to_an_https_target_typed_with_insecure_is_delivered(tmp_path: Path) -> None:
    """``F`` takes ``URL,insecure`` as ``replay --to`` does: that target's certificate is not
    checked; typed without it, the self-signed certificate is refused."""
    with https_target(tmp_path / "tls") as target:
        seeded = seed_tui(tmp_path / "tui.db")
        app = make_app(seeded.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            await select(pilot, app, seeded.binary)
            for typed in (f"{target.url}/checked", f"{target.url}/unchecked,insecure"):
                await pilot.press("F")
                assert isinstance(app.screen, TargetPrompt)
                app.screen.query_one("#target", Input).value = typed
                await pilot.press("enter")
                await pilot_until(pilot, lambda: not isinstance(app.screen, TargetPrompt), "sent")
            await pilot_until(pilot, lambda: len(replays_shown(app)) == 2, "both replays")
            [failed] = [shown for shown in replays_shown(app) if "/checked" in shown]
        assert f"{target.url}/checked  tls (certificate verify failed" in failed, failed
    [sent] = target.requests
    assert sent.path_qs == "/unchecked"
    assert sent.body == Store(seeded.db, readonly=True).get_webhook(seeded.binary).body


async def test_replay_resigned_with_a_typed_secret_signs_afresh(tmp_path: Path) -> None:
    with TargetServer() as target:
        seeded = seed_tui(tmp_path / "tui.db", target=target.url)
        app = make_app(seeded.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            await select(pilot, app, seeded.stripe)
            await pilot.press("R")
            assert isinstance(app.screen, ResignPrompt)
            await pilot.press(*TUI_SECRET, "enter")
            await pilot_until(pilot, lambda: target.requests, "the target to be sent to")
        [sent] = target.requests
        header = sent.header("Stripe-Signature")
        assert header is not None
        stored = Store(seeded.db, readonly=True).get_webhook(seeded.stripe)
        assert header != stored.header("Stripe-Signature")  # a fresh timestamp and signature
        message = Message(sent.body, (("Stripe-Signature", header),))
        now = float(header.split(",")[0].removeprefix("t="))
        assert get_scheme("stripe").verify(message, Check((TUI_SECRET,), now)).valid
        with Store(seeded.db, readonly=True) as store:
            [replay] = [a for a in store.attempts(seeded.stripe) if a.trigger == "replay"]
        assert replay.resigned is True
        for written in (seeded.db, Path(f"{seeded.db}-wal")):  # the secret went nowhere
            assert not written.exists() or TUI_SECRET.encode() not in written.read_bytes()


async def test_the_re_sign_prompt_gives_a_variable_named_after_the_webhooks_sender(
    seeded_tui: SeededTui,
) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        for webhook_id, example in (
            (seeded_tui.github, "GITHUB_WEBHOOK_SECRET"),
            (seeded_tui.stripe, "STRIPE_WEBHOOK_SECRET"),
            (seeded_tui.plain, "WEBHOOK_SECRET"),
        ):
            await select(pilot, app, webhook_id)
            await pilot.press("R")
            assert isinstance(app.screen, ResignPrompt)
            placeholder = app.screen.query_one("#env", Input).placeholder
            assert placeholder == f"or an environment variable, e.g. {example}"
            await pilot.press("escape")
            await pilot_until(pilot, lambda: not isinstance(app.screen, ResignPrompt), "closed")


async def test_an_unforwarded_webhook_says_what_r_cannot_do(seeded_tui: SeededTui) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded_tui.newest)
        await pilot.press("r")
        [refusal] = await pilot_until(pilot, lambda: notifications(app, "error"), "the refusal")
        assert "#10 was never forwarded" in refusal
        assert "F forwards it to a target you type" in refusal


# --- listen --tui --------------------------------------------------------------------------------


async def test_listen_tui_shows_webhooks_as_stored_and_pending_counts_drain(
    tmp_path: Path,
) -> None:
    """The receiver and the TUI on one loop: webhooks appear as they are stored; the header
    shows the target down with its pending count, which drains to 0 once it comes back;
    quitting stops listen as Ctrl-C does, with every acknowledged webhook stored."""
    from whrelay.core.config import ForwardSettings, ListenSettings
    from whrelay.core.targets import parse_target
    from whrelay.receiver.server import serve
    from whrelay.tui.listen import listen_with_tui

    with TargetServer() as target:
        target.down()
        settings = ListenSettings(
            db_path=tmp_path / "hooks.db",
            port=0,
            forward=ForwardSettings(targets=(parse_target(target.url),), probe_interval=0.1),
        )
        acked: list[int] = []

        async def drive(app: WhrelayApp) -> None:
            async with app.run_test(size=SIZE) as pilot:
                header = app.header
                assert header is not None
                url = await pilot_until(pilot, lambda: header.url, "the listen URL")
                await opened(pilot, app)
                for n in range(3):
                    headers = [("Host", "127.0.0.1"), ("Content-Length", "2")]
                    acked.append(
                        await send_raw(url, request_bytes("POST", f"/in/{n}", headers, b"{}"))
                    )
                await pilot_until(pilot, lambda: shown_ids(app)[:3] == acked[::-1], "the rows")
                assert app.listing.current().id == acked[-1]  # type: ignore[union-attr]
                await pilot_until(pilot, lambda: "3 pending" in screen_text(app), "3 pending")
                assert f"▼ {target.url}  down" in screen_text(app)
                target.up()
                await pilot_until(pilot, lambda: "0 pending" in screen_text(app), "drained")
                assert f"▲ {target.url}  up" in screen_text(app)
                await pilot_until(
                    pilot, lambda: all("delivered 200" in row_line(app, i) for i in acked), "rows"
                )
                await pilot.press("q")

        signal_name, stored = await listen_with_tui(settings, serve, run_app=drive)
    assert (signal_name, stored) == (None, 3)
    assert sorted(r.path_qs for r in target.requests) == ["/in/0", "/in/1", "/in/2"]
    with Store(settings.db_path, readonly=True) as store:
        assert [store.get_webhook(i).summary.path for i in acked] == ["/in/0", "/in/1", "/in/2"]


@pytest.mark.parametrize(
    ("how", "typed_ok"),
    [("--ca-file", True), ("TARGET,insecure", False), ("--insecure", True)],
)
async def test_listen_tui_replays_to_an_https_target_as_listen_forwards_to_it(
    tmp_path: Path, how: str, typed_ok: bool
) -> None:
    """``listen --tui``'s replays take listen's own settings: its ``--ca-file`` (for every
    target), a target's own ``,insecure`` (for that target alone), its ``--insecure`` (for
    every https target, one typed in with ``F`` too)."""
    from whrelay.receiver.server import serve
    from whrelay.receiver.settings import ListenOptions, listen_settings
    from whrelay.tui.listen import listen_with_tui

    with https_target(tmp_path / "tls") as target:
        given = {
            "--ca-file": ListenOptions(
                forward=(target.url,), ca_file=str(tmp_path / "tls/cert.pem")
            ),
            "TARGET,insecure": ListenOptions(forward=(f"{target.url},insecure",)),
            "--insecure": ListenOptions(forward=(target.url,), insecure=True),
        }[how]
        settings = listen_settings(
            dataclasses.replace(given, db=tmp_path / "hooks.db", port=0, timeout="10s")
        )
        replayed: list[str] = []

        async def drive(app: WhrelayApp) -> None:
            async with app.run_test(size=SIZE) as pilot:
                header = app.header
                assert header is not None
                url = await pilot_until(pilot, lambda: header.url, "the listen URL")
                await opened(pilot, app)
                headers = [("Host", "127.0.0.1"), ("Content-Length", "2")]
                webhook_id = await send_raw(url, request_bytes("POST", "/in", headers, b"{}"))
                await pilot_until(pilot, lambda: shown_ids(app)[:1] == [webhook_id], "its row")
                await pilot_until(pilot, lambda: target.requests, "forwarded by listen")
                await select(pilot, app, webhook_id)
                await pilot.press("r")
                await pilot_until(pilot, lambda: replays_shown(app), "the replay")
                await pilot.press("F")
                app.screen.query_one("#target", Input).value = f"{target.url}/typed"
                await pilot.press("enter")
                replayed.extend(
                    await pilot_until(pilot, lambda: replays_shown(app)[1:], "the forward")
                )
                await pilot.press("q")

        await listen_with_tui(settings, serve, run_app=drive)
    assert [r.path_qs for r in target.requests] == ["/in", "/in"] + ["/typed"] * typed_ok
    with Store(settings.db_path, readonly=True) as store:
        [webhook] = store.list_webhooks()
        attempts = store.attempts(webhook.id)
    assert [(a.trigger, a.status) for a in attempts] == [
        ("first", 200),
        ("replay", 200),
        ("replay", 200 if typed_ok else None),
    ]
    [typed] = replayed
    assert ("/typed  200" in typed) is typed_ok, typed
    if not typed_ok:
        assert "start listen with --ca-file CERT.pem" in typed, typed


async def test_listen_tui_that_cannot_listen_fails_before_taking_the_terminal(
    tmp_path: Path,
) -> None:
    from whrelay.core.config import ListenSettings
    from whrelay.core.errors import UnavailableError
    from whrelay.receiver.server import serve
    from whrelay.tui.listen import listen_with_tui

    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    ran: list[WhrelayApp] = []

    async def drive(app: WhrelayApp) -> None:
        ran.append(app)

    try:
        with pytest.raises(UnavailableError, match=f"cannot listen on 127.0.0.1:{port}"):
            await listen_with_tui(
                ListenSettings(db_path=tmp_path / "hooks.db", port=port), serve, run_app=drive
            )
    finally:
        blocker.close()
    assert ran == []


# --- safety -------------------------------------------------------------------------------------


async def test_markup_and_terminal_escapes_show_literally_and_run_nothing(
    seeded_tui: SeededTui,
) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        line = row_line(app, seeded_tui.hostile)
        assert "/hooks/[bold]x[/]/[@cl…" in line
        await select(pilot, app, seeded_tui.hostile)
        await pilot_until(pilot, lambda: "[bold red]boom[/]" in lines_of(app, "request"), "body")
        text = lines_of(app, "request")
        assert "[@click=app.quit]quit[/]" in text
        assert "\\x1b]52;c;aGVsbG8=\\x07" in text  # OSC 52, as text
        assert "\\x1b]8;;http://evil.example/\\x07link" in text  # OSC 8, as text
        assert "\\x1b[2J" in text
        assert "\\u202eevil" in text
        assert "X-Evil" in text
        assert "[@click=app.quit]quit[/] \\x1b]52;c;aGk=\\x07" in text
        # No control character reaches the screen: every strip is printable text.
        strips = app.query_one("#request-lines", RenderedLines).lines
        assert not [
            s.text for s in strips if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in s.text)
        ]
        # The very long line is wrapped, not lost.
        assert text.replace("\n", "").count("x" * 200) >= 1
        # Clicking on the markup runs no action: the app is still there.
        await pilot.click("#history", offset=(40, app.listing.cursor))  # on its path
        await pilot.click("#request-lines", offset=(10, 8))
        assert app.is_running
        # Raw, as received: the same bytes, as text, still inert.
        await pilot.press("v")
        await pilot_until(pilot, lambda: "X-Evil: [@click" in lines_of(app, "request"), "raw")
        raw = lines_of(app, "request")
        assert "[bold red]boom[/] [@click=app.quit]quit[/] \\x1b]52;c;aGVsbG8=\\x07" in raw
        assert "\\x1b[2J\\u202eevil" in raw
        # NUL and bytes that are not UTF-8: a hex dump, raw or pretty.
        await select(pilot, app, seeded_tui.hostile_binary)
        await pilot_until(pilot, lambda: "00000000" in lines_of(app, "request"), "hex")
        dump = "5b 62 6f 6c 64 5d 6e 75 6c 00 5b 2f 5d 20 ff fe  [bold]nul.[/] .."
        assert dump in lines_of(app, "request")
        await pilot.press("v")
        await pilot_until(pilot, lambda: "Request (raw)" not in screen_text(app), "pretty")
        await pilot_until(pilot, lambda: dump in lines_of(app, "request"), "pretty hex")
        assert app.is_running


async def test_a_25_mib_body_loads_in_a_worker_and_is_cut_for_display(tmp_path: Path) -> None:
    from tests.helpers.tui import TUI_T0
    from whrelay.core.models import Capture

    body = json.dumps({"items": ["x" * 100] * 250_000}).encode()
    assert len(body) > 25_000_000
    db = tmp_path / "big.db"
    with Store(db) as store:
        store.insert_webhooks(
            [
                Capture(
                    "POST",
                    "/big",
                    "",
                    ((b"Content-Type", b"application/json"),),
                    body,
                    "1.1",
                    None,
                    TUI_T0,
                )
            ]
        )
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot_until(pilot, lambda: "more bytes" in lines_of(app, "request"), "the note", 60)
        lines = app.query_one("#request-lines", RenderedLines).lines
        assert len(lines) < 5_000  # cut, not 25 MiB of text laid out
        assert '{"items": ["xxx' in lines_of(app, "request")


# --- keys, help, palette, quitting ----------------------------------------------------------------


async def test_the_help_screen_and_the_palette_list_every_action(seeded_tui: SeededTui) -> None:
    from whrelay.tui.commands import ACTIONS

    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot_until(
            pilot, lambda: "quit" in screen_text(app).rstrip().splitlines()[-1], "keys"
        )
        footer = screen_text(app).rstrip().splitlines()[-1]
        for word in ("replay", "forward", "re-sign", "search", "filter", "help", "quit"):
            assert word in footer
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = screen_text(app)
        for action in ACTIONS:
            assert action.help[:40] in help_text.replace("\n", " ") or action.display in help_text
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"forward")
        await pilot_until(pilot, lambda: "forward (F)" in screen_text(app), "the palette")
        await pilot.press("escape")
        await pilot.press("q")
    assert not app.is_running


async def test_quitting_leaves_the_database_as_it_was(seeded_tui: SeededTui) -> None:
    before = seeded_tui.db.read_bytes()
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot.press("G", "slash", *"x", "escape", "2", "3")
        await asyncio.sleep(0)
        await pilot.press("q")
    assert seeded_tui.db.read_bytes() == before
    assert not Path(f"{seeded_tui.db}-wal").exists()


pytestmark = pytest.mark.slow

# --- edit and re-send, copy, export, compare -----------------------------------------------------


async def open_edit(pilot: Pilot[None], app: WhrelayApp, webhook_id: int) -> EditScreen:
    await select(pilot, app, webhook_id)
    await pilot.press("e")
    screen = await pilot_until(
        pilot, lambda: app.screen if isinstance(app.screen, EditScreen) else None, "the editor"
    )
    assert screen.original_id == webhook_id
    return screen


async def review(pilot: Pilot[None], app: WhrelayApp) -> ReviewScreen:
    await pilot.press("ctrl+s")
    screen = await pilot_until(
        pilot, lambda: app.screen if isinstance(app.screen, ReviewScreen) else None, "the review"
    )
    await pilot_until(pilot, lambda: screen.laid_out, "the changes laid out")
    return screen


def row_line_marked(app: WhrelayApp, webhook_id: int) -> str:
    return next(
        line for line in screen_text(app).splitlines() if line.split()[:2] == ["✓", str(webhook_id)]
    )


async def test_edit_and_resend_stores_a_linked_copy_that_reaches_the_target_re_signed(
    tmp_path: Path,
) -> None:
    """``e``: the body edited in the editor, re-signed with a typed secret; the review shows
    the changed field; the edit is stored as a new webhook linked to its original (which
    stays byte-exact) and reaches the original target with a signature Stripe's own library
    accepts. Its attempt is its own: the original's deliveries are as they were."""
    with TargetServer() as target:
        seeded = seed_tui(tmp_path / "tui.db", target=target.url)
        with Store(seeded.db, readonly=True) as store:
            original = store.get_webhook(seeded.stripe)
            deliveries_before = store.deliveries(seeded.stripe)
        app = make_app(seeded.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            editor = await open_edit(pilot, app, seeded.stripe)
            body = editor.query_one("#edit-body", TextArea)
            assert body.language == "json"  # highlighted
            assert body.text == original.body.decode()  # type: ignore[union-attr]
            body.load_text(body.text.replace("4200", "9900"))
            await pilot.click("#edit-resign-on")
            editor.query_one("#edit-secret", Input).focus()
            await pilot.press(*TUI_SECRET)
            assert TUI_SECRET not in screen_text(app)  # masked
            shown = await review(pilot, app)
            assert "Re-signed for stripe with a fresh timestamp" in screen_text(app)
            changes = shown.shown_text()
            assert changes.splitlines()[:2] == [
                f"- #{seeded.stripe}  2026-09-21 14:15:22 UTC  stripe/invoice.paid",
                "+ the edit (a new webhook once sent)  stripe/invoice.paid",
            ]
            assert '-       "amount": 4200' in changes
            assert '+       "amount": 9900' in changes
            assert "1 difference" in changes
            await pilot.click("#review-send")
            await pilot_until(pilot, lambda: target.requests, "the target to be sent to")
            [done] = await pilot_until(
                pilot,
                lambda: [n for n in notifications(app, "information") if "stored as" in n],
                "the notification",
            )
            assert f"stored as #{seeded.newest + 1}, edited from #{seeded.stripe}" in done
        [sent] = target.requests
        assert sent.path_qs == "/hooks/stripe"
        assert sent.body == original.body.replace(b"4200", b"9900")  # type: ignore[union-attr]
        event = stripe.Webhook.construct_event(
            sent.body, sent.header("Stripe-Signature"), TUI_SECRET
        )
        assert event["data"]["object"]["amount"] == 9900
        with Store(seeded.db, readonly=True) as store:
            copy = store.get_webhook(seeded.newest + 1)
            [attempt] = store.attempts(copy.id)
            assert store.get_webhook(seeded.stripe) == original  # byte-exact
            assert store.deliveries(seeded.stripe) == deliveries_before
            assert [a.trigger for a in store.attempts(seeded.stripe)] == ["first"]
        from whrelay.storage.read import webhook_view

        with Store(seeded.db, readonly=True) as store:
            assert webhook_view(store, copy.id).edited_from == seeded.stripe
        assert copy.body == sent.body
        assert copy.header("Stripe-Signature") == original.header("Stripe-Signature")  # as edited
        assert (attempt.status, attempt.resigned, attempt.delivery) == (200, True, None)
        for written in (seeded.db, Path(f"{seeded.db}-wal")):  # the secret went nowhere
            assert not written.exists() or TUI_SECRET.encode() not in written.read_bytes()


async def test_an_edit_sent_as_it_is_warns_that_the_senders_signature_will_not_match(
    seeded_tui: SeededTui,
) -> None:
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        editor = await open_edit(pilot, app, seeded_tui.stripe)
        body = editor.query_one("#edit-body", TextArea)
        body.load_text(body.text.replace("invoice.paid", "invoice.voided"))
        await review(pilot, app)
        assert "The sender's stripe signature will no longer match the edited body" in (
            screen_text(app).replace("\n", " ")
        )
        await pilot.press("escape")
        assert isinstance(app.screen, EditScreen)  # back to editing, the edit kept
        assert "invoice.voided" in editor.query_one("#edit-body", TextArea).text
        await pilot.press("escape")
        assert not isinstance(app.screen, EditScreen)
    with Store(seeded_tui.db, readonly=True) as store:
        assert store.count_webhooks() == 10  # nothing stored


async def test_q_on_the_edit_review_and_copy_screens_never_quits_nor_drops_the_edit(
    seeded_tui: SeededTui,
) -> None:
    """``q`` quits from the list; on a screen above it, with the focus off any text field,
    it never quits the app (with ``listen --tui``, stopping the listen) nor drops an edit:
    the editor stays, the review goes back to the edit, the copy menu closes."""
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        editor = await open_edit(pilot, app, seeded_tui.stripe)
        body = editor.query_one("#edit-body", TextArea)
        body.load_text(body.text.replace("invoice.paid", "invoice.voided"))
        editor.query_one("#edit-resign-on", Switch).focus()
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen is editor
        assert any("esc leaves the edit" in n for n in notifications(app, "information"))
        await review(pilot, app)
        await pilot.press("q")
        await pilot_until(pilot, lambda: app.screen is editor, "back to the edit")
        assert "invoice.voided" in editor.query_one("#edit-body", TextArea).text
        await pilot.press("escape")
        await pilot.press("C")
        await pilot_until(pilot, lambda: isinstance(app.screen, CopyMenu), "the menu")
        await pilot.press("q")
        await pilot_until(pilot, lambda: not isinstance(app.screen, CopyMenu), "the menu closed")
        assert app.is_running
        await pilot.press("q")  # from the list, q quits
        await pilot_until(pilot, lambda: not app.is_running, "the app to quit")


async def test_re_signing_an_edit_of_a_webhook_that_did_not_verify_needs_a_second_yes(
    tmp_path: Path,
) -> None:
    secret = "gh-tui-secret"
    with TargetServer() as target:
        seeded = seed_tui(tmp_path / "tui.db", target=target.url)
        app = make_app(seeded.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            editor = await open_edit(pilot, app, seeded.github)
            body = editor.query_one("#edit-body", TextArea)
            body.load_text(body.text.replace("Fix", "Fix it"))
            await pilot.click("#edit-resign-on")
            editor.query_one("#edit-secret", Input).value = secret
            await review(pilot, app)
            assert "signature did not verify" in screen_text(app)
            await pilot.click("#review-send")
            confirm = await pilot_until(
                pilot,
                lambda: app.screen if isinstance(app.screen, ConfirmUnverified) else None,
                "the second confirmation",
            )
            await pilot.click("#confirm-no")
            assert isinstance(app.screen, ReviewScreen)
            assert not target.requests
            await pilot.click("#review-send")
            again = await pilot_until(
                pilot,
                lambda: app.screen if isinstance(app.screen, ConfirmUnverified) else None,
                "the second confirmation, again",
            )
            assert again is not confirm  # asked anew
            await pilot.click("#confirm-yes")
            await pilot_until(pilot, lambda: target.requests, "the target to be sent to")
        [sent] = target.requests
        mac = hmac.new(secret.encode(), sent.body, hashlib.sha256).hexdigest()
        assert sent.header("X-Hub-Signature-256") == f"sha256={mac}"
        assert b"Fix it" in sent.body


async def test_a_binary_body_is_not_opened_in_the_text_editor_and_goes_as_stored(
    seeded_tui: SeededTui,
) -> None:
    with TargetServer() as target:
        app = make_app(seeded_tui.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            editor = await open_edit(pilot, app, seeded_tui.binary)
            assert not editor.query("#edit-body")  # no text editor for it
            text = screen_text(app)
            assert "the body is binary (not UTF-8 text): it is not opened in the text editor" in (
                text
            )
            assert "00000000  00 01 02 ff fe 20 62 69" in text
            headers = editor.query_one("#edit-headers", TextArea)
            headers.load_text(headers.text + "\nX-Edited: yes")
            editor.query_one("#edit-to", Input).value = f"{target.port}/in"
            await review(pilot, app)
            await pilot.click("#review-send")
            await pilot_until(pilot, lambda: target.requests, "the target to be sent to")
        [sent] = target.requests
        original = Store(seeded_tui.db, readonly=True).get_webhook(seeded_tui.binary)
        assert sent.body == original.body
        assert sent.header("X-Edited") == "yes"
        assert sent.path_qs == "/in"


async def test_the_edit_review_and_compare_screens_show_hostile_text_literally(
    seeded_tui: SeededTui,
) -> None:
    """Markup and terminal escapes in a path, a header and a body are text on the edit
    screen, in the review of the changes and in a comparison: shown, never run."""
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        editor = await open_edit(pilot, app, seeded_tui.hostile)
        assert editor.query_one("#edit-target", Input).value == (
            "/hooks/[bold]x[/]/[@click=app.quit]?q=[b]"
        )
        headers = editor.query_one("#edit-headers", TextArea).text
        assert "X-Evil: [@click=app.quit]quit[/] \\x1b]52;c;aGk=\\x07" in headers
        assert "the body holds NUL or terminal control bytes" in screen_text(app)
        editor.query_one("#edit-method", Input).value = "PUT"
        editor.query_one("#edit-to", Input).value = "3000"  # never forwarded; nothing is sent
        shown = await review(pilot, app)
        changes = shown.shown_text()
        assert "- POST /hooks/[bold]x[/]/[@click=app.quit]?q=[b] HTTP/1.1" in changes
        assert "+ PUT /hooks/[bold]x[/]/[@click=app.quit]?q=[b] HTTP/1.1" in changes
        assert "X-Evil: [@click=app.quit]quit[/] \\x1b]52;c;aGk=\\x07" in changes
        assert "[bold red]boom[/]" in changes
        await pilot.press("escape", "escape")
        await pilot_until(pilot, lambda: app.screen is app.screen_stack[0], "the list")
        await select(pilot, app, seeded_tui.hostile)
        await pilot.press("m")
        await select(pilot, app, seeded_tui.hostile_binary)
        await pilot.press("d")
        screen = await pilot_until(
            pilot, lambda: app.screen if isinstance(app.screen, CompareScreen) else None, "d"
        )
        await pilot_until(pilot, lambda: screen.laid_out, "the comparison laid out")
        compared = screen.shown_text()
        assert "[bold red]boom[/] [@click=app.quit]quit[/] \\x1b]52;c;aGVsbG8=\\x07" in compared
        assert "[bold]nul.[/]" in compared  # the other body, as hex
        assert not [line for line in compared.splitlines() if any(ord(c) < 32 for c in line)]
        assert app.is_running


async def test_c_copies_the_same_curl_command_as_export_and_C_offers_the_others(
    seeded_tui: SeededTui,
) -> None:
    exported = run_whrelay("export", str(seeded_tui.stripe), "--format", "curl", "--db",
                           str(seeded_tui.db))  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded_tui.stripe)
        await pilot.press("c")
        await pilot_until(pilot, lambda: app.clipboard, "the clipboard")
        assert app.clipboard == exported.stdout.decode()
        assert any("copied as curl" in n for n in notifications(app, "information"))
        await pilot.press("C")
        menu = await pilot_until(
            pilot, lambda: app.screen if isinstance(app.screen, CopyMenu) else None, "the menu"
        )
        menu.query_one("#copy-formats", OptionList).highlighted = 4  # the body alone
        await pilot.press("enter")
        stripe_body = Store(seeded_tui.db, readonly=True).get_webhook(seeded_tui.stripe).body
        await pilot_until(pilot, lambda: app.clipboard == stripe_body.decode(), "the body")  # type: ignore[union-attr]
        # A body that is not UTF-8 cannot be the clipboard's text: said, and curl offered.
        await select(pilot, app, seeded_tui.binary)
        await pilot.press("C")
        await pilot_until(pilot, lambda: isinstance(app.screen, CopyMenu), "the menu")
        app.screen.query_one("#copy-formats", OptionList).highlighted = 4
        await pilot.press("enter")
        [refusal] = await pilot_until(pilot, lambda: notifications(app, "error"), "the refusal")
        assert "is not UTF-8 text" in refusal and "c copies it as a curl command" in refusal


async def test_E_exports_the_marked_webhooks_and_the_file_imports_back_byte_exact(
    seeded_tui: SeededTui, tmp_path: Path
) -> None:
    marked = [seeded_tui.stripe, seeded_tui.binary, seeded_tui.form]
    out = tmp_path / "marked.ndjson"
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        for webhook_id in marked:
            await select(pilot, app, webhook_id)
            await pilot.press("m")
        assert list(app.listing.marks) == marked
        assert "✓ 3 marked" in screen_text(app)
        assert f"✓ {seeded_tui.form}" in row_line_marked(app, seeded_tui.form)
        await pilot.press("E")
        screen = await pilot_until(
            pilot, lambda: app.screen if isinstance(app.screen, ExportScreen) else None, "E"
        )
        assert screen.query_one("#export-what", RadioSet).pressed_index == 1  # the marked
        screen.query_one("#export-file", Input).value = str(out)
        out.write_text("an earlier export\n")
        await pilot.click("#export-start")
        await pilot_until(pilot, lambda: "exists: Enter again replaces it" in screen_text(app), "")
        assert out.read_text() == "an earlier export\n"  # not replaced unasked
        screen.query_one("#export-file", Input).focus()
        await pilot.press("enter")  # again: replace it
        [done] = await pilot_until(pilot, lambda: notifications(app, "information"), "done")
        assert f"3 webhook(s) written to {out}" in done
    other = tmp_path / "other.db"
    imported = run_whrelay("import", str(out), "--db", str(other))
    assert imported.returncode == 0, imported.stderr
    with Store(seeded_tui.db, readonly=True) as source, Store(other, readonly=True) as copies:
        for n, webhook_id in enumerate(marked, 1):
            before, after = source.get_webhook(webhook_id), copies.get_webhook(n)
            assert (after.summary.method, after.summary.target) == (
                before.summary.method,
                before.summary.target,
            )
            assert after.headers == before.headers
            assert after.body == before.body


async def test_E_offers_the_list_as_searched_with_the_search_shown_as_typed(
    seeded_tui: SeededTui, tmp_path: Path
) -> None:
    """A search is text the user typed (maybe pasted from a body): the export dialog names it
    as it is, never as markup, and the listed webhooks are what it writes."""
    out = tmp_path / "searched.ndjson"
    app = make_app(seeded_tui.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot.press("slash", *"[/]", "enter")
        await pilot_until(pilot, lambda: app.listing.model.scan_done, "the search to end")
        listed = [seeded_tui.hostile_binary, seeded_tui.hostile]
        assert shown_ids(app) == listed
        await pilot.press("E")
        screen = await pilot_until(
            pilot, lambda: app.screen if isinstance(app.screen, ExportScreen) else None, "E"
        )
        assert 'the list as filtered (search "[/]")' in screen_text(app)
        screen.query_one("#export-what", RadioSet).query(RadioButton)[2].value = True
        screen.query_one("#export-file", Input).value = str(out)
        await pilot.click("#export-start")
        [done] = await pilot_until(pilot, lambda: notifications(app, "information"), "done")
        assert f"2 webhook(s) written to {out}" in done
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [record["id"] for record in records] == sorted(listed)  # oldest first, as export


async def test_E_shows_its_progress_through_a_large_history(tmp_path: Path) -> None:
    """The whole history, 450 webhooks: the bar is told how far the export got as it goes,
    up to all of them, in order, and the file holds each one. Each progress message is
    handled once, by the export dialog: one bubbling on to the app would reach the hook
    again, after later ones when the loop is slow."""
    from whrelay.tui.messages import ExportProgressed

    db = tmp_path / "many.db"
    headers = ((b"Content-Type", b"application/json"),)
    at = [TUI_T0 + n * 1_000_000 for n in range(450)]
    with Store(db) as store:
        store.insert_webhooks(
            [Capture("POST", "/hooks/n", "", headers, b"{}", "1.1", "127.0.0.1", t) for t in at]
        )
    out = tmp_path / "all.ndjson"
    seen: list[ExportProgressed] = []

    def hook(message: object) -> None:
        if isinstance(message, ExportProgressed):
            seen.append(message)

    app = make_app(db)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await opened(pilot, app)
        await pilot.press("E")
        screen = await pilot_until(
            pilot, lambda: app.screen if isinstance(app.screen, ExportScreen) else None, "E"
        )
        assert "the whole history" in screen_text(app)
        screen.query_one("#export-what", RadioSet).query(RadioButton)[2].value = True
        screen.query_one("#export-file", Input).value = str(out)
        await pilot.click("#export-start")
        [done] = await pilot_until(pilot, lambda: notifications(app, "information"), "done")
        assert f"450 webhook(s) written to {out}" in done
    assert len({id(message) for message in seen}) == len(seen)  # each dispatched once
    progressed = [(message.done, message.total) for message in seen]
    assert progressed[-1] == (450, 450)
    assert len(progressed) >= 9  # every 50 webhooks, not only at the end
    assert [d for d, _ in progressed] == sorted(d for d, _ in progressed)
    assert {total for _, total in progressed} == {450}
    assert len(out.read_text().splitlines()) == 450


async def test_d_compares_the_marked_webhook_with_the_selected_one(tmp_path: Path) -> None:
    from whrelay.signatures import Message, get_scheme

    seeded = seed_tui(tmp_path / "tui.db")
    body = b'{"id":"evt_2TuiTest","type":"invoice.paid","data":{"object":{"amount":9900}}}'
    at = (TUI_T0 + 11 * 61_000_000) // 1_000_000
    signed = get_scheme("stripe").sign(Message(body, ()), TUI_SECRET, at)
    headers = [("Host", "127.0.0.1:8642"), ("Content-Type", "application/json"), *signed.headers]
    with Store(seeded.db) as store:
        raw = tuple((k.encode(), v.encode()) for k, v in headers)
        [again] = store.insert_webhooks(
            [Capture("POST", "/hooks/stripe", "", raw, body, "1.1", "127.0.0.1", at * 1_000_000)]
        )
    app = make_app(seeded.db)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await select(pilot, app, seeded.stripe)
        await pilot.press("d")
        [hint] = await pilot_until(pilot, lambda: notifications(app, "warning"), "the hint")
        assert "Mark a webhook with m first" in hint
        await pilot.press("m")
        await select(pilot, app, again.id)
        await pilot.press("d")
        screen = await pilot_until(
            pilot, lambda: app.screen if isinstance(app.screen, CompareScreen) else None, "d"
        )
        await pilot_until(pilot, lambda: screen.laid_out, "the comparison laid out")
        text = screen.shown_text()
        assert (
            text.splitlines()[0]
            == f"- #{seeded.stripe}  2026-09-21 14:15:22 UTC  stripe/invoice.paid"
        )
        assert "1 difference; 2 in ids, timestamps or signatures, not counted" in text
        assert '-       "amount": 4200' in text and '+       "amount": 9900' in text
        assert '~   "id": "evt_1TuiTest",' in text
        await pilot.press("i")
        await pilot_until(pilot, lambda: "3 differences (2 in" in screen.shown_text(), "i")
        await pilot.press("s")
        await pilot_until(pilot, lambda: "side by side" in screen_text(app), "s")
        await pilot_until(pilot, lambda: screen.laid_out, "laid out again")
        [line] = [line for line in screen.shown_text().splitlines() if "4200" in line]
        assert line.index("4200") < 60 < line.index("9900")
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


async def test_d_on_the_deliveries_tab_compares_what_the_app_answered_two_attempts(
    tmp_path: Path,
) -> None:
    with TargetServer() as target:
        seeded = seed_tui(tmp_path / "tui.db", target=target.url)
        app = make_app(seeded.db)
        async with app.run_test(size=SIZE) as pilot:
            await opened(pilot, app)
            await select(pilot, app, seeded.github)
            await pilot.press("2", "r")  # after the fix: the app answers 200
            await pilot_until(pilot, lambda: "(replay)" in lines_of(app, "deliveries"), "replay")
            await pilot.press("d")
            screen = await pilot_until(
                pilot, lambda: app.screen if isinstance(app.screen, CompareScreen) else None, "d"
            )
            await pilot_until(pilot, lambda: screen.laid_out, "the comparison laid out")
            text = screen.shown_text()
            assert "- HTTP 500" in text and "+ HTTP 200" in text
            assert '-   "error": "boom"' in text
            assert "+ ok" in text
