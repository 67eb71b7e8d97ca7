"""The Rich lines for a running receiver's events (``whrelay.render.live``), as the CLI's
``--output pretty|compact|quiet`` and a TUI show them: what each style shows, which lines are
diagnostics (stderr in the CLI), and that what a sender wrote cannot drive the terminal."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from tests.helpers.rawserver import self_signed
from whrelay.core.events import (
    DeliveryAttempted,
    ListenEvent,
    ListenStarted,
    ListenStopped,
    PruneFailed,
    RequestRefused,
    StorageDegraded,
    StorageLost,
    StorageRecovered,
    TargetDown,
    TargetPaused,
    TargetUp,
    WebhookReceived,
    WebhooksPruned,
)
from whrelay.core.models import Attempt, DeliveryState, StaleSignature, Trigger, WebhookSummary
from whrelay.render import live

SUMMARY = WebhookSummary(7, 1_735_689_600_000_000, "POST", "/hooks", "", "stripe",
                         "charge.succeeded", "evt_1", 12, "application/json", "valid", "ok",
                         "stripe")  # fmt: skip
ATTEMPT = Attempt(7, 3, Trigger.FIRST, "http://127.0.0.1:3000/hooks", (), 0, 2_000, 200)
TARGET = "http://127.0.0.1:3000"

STARTED = ListenStarted("http://127.0.0.1:8642/", "/tmp/h.db", "1.0", {"forward": TARGET},
                        ("--allow-remote: targets may be anywhere",))  # fmt: skip
EVERY_EVENT: list[ListenEvent] = [
    STARTED,
    WebhookReceived(SUMMARY),
    RequestRefused(413, "body too large", "POST", "/big"),
    DeliveryAttempted(ATTEMPT, TARGET, DeliveryState.DELIVERED),
    TargetDown(TARGET, "refused"),
    TargetUp(TARGET, 2),
    TargetPaused(TARGET, 2),
    StorageDegraded("the disk is full", "no space left"),
    StorageLost("the database file was deleted", "gone"),
    StorageRecovered(),
    WebhooksPruned(120, 1_735_689_600_000_000),
    PruneFailed("the database is locked by another process"),
    ListenStopped(4, "SIGINT"),
]


def shown(lines: list[live.Line]) -> list[tuple[str, bool]]:
    """Each line as a terminal 300 columns wide shows it, and whether it is a diagnostic."""
    out = []
    for line in lines:
        console = Console(file=io.StringIO(), width=300, color_system=None)
        console.print(line.renderable)
        out.append((console.file.getvalue().rstrip("\n"), line.diagnostic))  # type: ignore[attr-defined]
    return out


def test_pretty_shows_a_banner_then_webhooks_and_attempts_on_stdout() -> None:
    [banner, warning, waiting] = shown(live.pretty(STARTED))
    assert "Receiving on" in banner[0] and "http://127.0.0.1:8642/" in banner[0]
    assert "Forward" in banner[0] and not banner[1]
    assert warning == ("warning: --allow-remote: targets may be anywhere", True)
    assert waiting == ("Waiting for webhooks. Ctrl-C stops.", False)
    [(webhook, diagnostic)] = shown(live.pretty(WebhookReceived(SUMMARY)))
    assert "#7" in webhook and not diagnostic
    [(stopped, diagnostic)] = shown(live.pretty(ListenStopped(4, "SIGINT")))
    assert stopped == "Stopped. 4 webhook(s) stored this run." and diagnostic


@pytest.mark.parametrize("event", [e for e in EVERY_EVENT if not isinstance(e, ListenStarted)])
def test_each_style_sends_a_target_or_storage_event_where_it_always_went(
    event: ListenEvent,
) -> None:
    """Compact keeps stdout for webhooks and attempts; pretty shows targets there too; quiet
    shows only what needs attention, always as a diagnostic."""
    on_stdout = {
        "pretty": (WebhookReceived, DeliveryAttempted, TargetDown, TargetUp, TargetPaused),
        "compact": (WebhookReceived, DeliveryAttempted),
        "quiet": (),
    }
    quiet_kinds = (
        TargetDown, TargetPaused, StorageDegraded, StorageLost, StorageRecovered, PruneFailed,
    )  # fmt: skip
    for style, render in (("pretty", live.pretty), ("compact", live.compact)):
        lines = render(event)
        if style == "compact" and isinstance(event, ListenStopped):
            assert lines == []
            continue
        assert len(lines) == 1, style
        assert lines[0].diagnostic is not isinstance(event, on_stdout[style]), style
    quiet = live.quiet(event)
    assert len(quiet) == (1 if isinstance(event, quiet_kinds) else 0)
    assert all(line.diagnostic for line in quiet)


def test_the_banner_and_the_start_line_name_the_config_file() -> None:
    with_config = ListenStarted(
        "http://127.0.0.1:8642/", "/tmp/h.db", "1.0", config_path="/etc/w/whrelay.toml"
    )
    [banner, _] = shown(live.pretty(with_config))
    assert "Config" in banner[0] and "/etc/w/whrelay.toml" in banner[0]
    [started] = shown(live.compact(with_config))
    assert started[0].endswith("(db /tmp/h.db, config /etc/w/whrelay.toml)")
    [banner, _, _] = shown(live.pretty(STARTED))
    assert "none (whrelay config path)" in banner[0]


def test_pruning_while_listening_is_reported_with_its_count_and_cutoff() -> None:
    [(line, diagnostic)] = shown(live.compact(WebhooksPruned(1200, 1_735_689_600_000_000)))
    assert line == "pruned 1,200 webhook(s) received before 2025-01-01T00:00:00.000000Z (--retain)"
    assert diagnostic


def test_compact_writes_the_start_to_stderr_and_one_line_per_webhook() -> None:
    [started, warning] = shown(live.compact(STARTED))
    assert started == ("whrelay 1.0 receiving on http://127.0.0.1:8642/ (db /tmp/h.db)", True)
    assert warning[1]
    [(line, diagnostic)] = shown(live.compact(WebhookReceived(SUMMARY)))
    assert "#7 POST /hooks" in line and "12B" in line and not diagnostic


def test_what_a_sender_wrote_is_shown_inert() -> None:
    """A refused request's path and a target's error come from outside: escape sequences
    are shown as text, and Rich markup in them is not interpreted."""
    refused = RequestRefused(400, "bad [bold]header[/bold]\x1b[2J", "POST", "/x\x1b]0;pwned\x07")
    [(line, _)] = shown(live.pretty(refused))
    assert "\x1b" not in line and "\x07" not in line
    assert "/x\\x1b]0;pwned\\x07" in line
    assert "bad [bold]header[/bold]\\x1b[2J" in line
    [(down, _)] = shown(live.pretty(TargetDown(TARGET, "reset\x1b[31m")))
    assert "reset\\x1b[31m" in down


def test_a_webhook_line_shows_the_senders_own_id_made_inert_and_cut() -> None:
    """``evt_…`` is what the user copies into ``show``, ``replay`` and ``verify``."""
    [(pretty, _)] = shown(live.pretty(WebhookReceived(SUMMARY)))
    [(compact, _)] = shown(live.compact(WebhookReceived(SUMMARY)))
    assert "stripe/charge.succeeded  evt_1  " in pretty
    assert "stripe/charge.succeeded evt_1 12B" in compact
    hostile = dataclasses.replace(SUMMARY, provider_id="evt_\x1b[2J" + "x" * 100)
    [(line, _)] = shown(live.pretty(WebhookReceived(hostile)))
    assert "\x1b" not in line
    assert "evt_\\x1b[2J" in line and "x" * 30 + "…" in line and "x" * 60 not in line


def test_the_banner_says_how_many_pending_deliveries_it_resumes() -> None:
    from whrelay.receiver.server import _options
    from whrelay.receiver.settings import ListenOptions, listen_settings

    settings = listen_settings(ListenOptions(forward=("3000",)))
    resumed = ListenStarted(
        "http://127.0.0.1:8642/", "/tmp/h.db", "1.0", _options(settings, 3), (), resumed=3
    )
    banner = "\n".join(text for text, _ in shown(live.pretty(resumed)))
    assert "Resuming" in banner and "3 pending deliveries from an earlier run" in banner
    [(started, _), *_] = shown(live.compact(resumed))
    assert started.endswith("; resuming 3 pending from an earlier run")
    fresh = "\n".join(t for t, _ in shown(live.pretty(STARTED)))
    assert "Resuming" not in fresh


def test_the_banner_names_the_routes_that_verify_with_their_own_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No listen-wide secret, a route with its own: the banner says that route verifies (and
    with what), and that only the others are stored unverified."""
    from whrelay.receiver.server import _options
    from whrelay.receiver.settings import ListenOptions, listen_settings

    monkeypatch.setenv("GH_SECRET", "gh-test-secret")
    settings = listen_settings(
        ListenOptions(routes=("/gh/*=3000,provider=github,secret-env=GH_SECRET",))
    )
    verify = _options(settings)["verify"]
    assert verify.startswith("on routes /gh/* (github, 1 secret(s) of its own)"), verify
    assert "outside those routes are stored as unverified" in verify
    assert "gh-test-secret" not in verify
    with_secret = listen_settings(
        ListenOptions(routes=("/gh/*=3000,provider=github,secret-env=GH_SECRET",), secrets=("s1",))
    )
    assert _options(with_secret)["verify"] == (
        "detected per request, 1 secret(s); on routes /gh/* (github, 1 secret(s) of its own)"
    )


def test_the_banner_says_which_targets_certificates_are_not_verified(tmp_path: Path) -> None:
    from whrelay.receiver.server import _options
    from whrelay.receiver.settings import ListenOptions, listen_settings

    self_signed(tmp_path)
    settings = listen_settings(
        ListenOptions(
            forward=("https://127.0.0.1:3443,insecure", "https://localhost:4443"),
            routes=("/r/*=https://127.0.0.1:5443,insecure", "/v/*=https://localhost:6443"),
            ca_file=str(tmp_path / "cert.pem"),
        )
    )
    options = _options(settings)
    assert options["forward to"] == (
        "https://127.0.0.1:3443 (certificate not verified), https://localhost:4443"
    )
    assert options["route /r/*"] == "https://127.0.0.1:5443 (certificate not verified)"
    assert options["route /v/*"] == "https://localhost:6443"
    assert str(tmp_path / "cert.pem") in options["CA file"]
    assert "CA file" not in _options(listen_settings(ListenOptions(forward=("3000",))))


@pytest.mark.parametrize("style", [live.pretty, live.compact])
@pytest.mark.parametrize(
    ("detail", "hinted"),
    [
        ("certificate verify failed: self-signed certificate", True),
        ("certificate verify failed: Hostname mismatch, certificate is not valid for 'x'", True),
        ("wrong version number", False),  # plain HTTP on an https port: no certificate at all
    ],
)
def test_only_a_certificate_that_did_not_verify_suggests_ca_file_and_insecure(
    style: object, detail: str, hinted: bool
) -> None:
    failed = dataclasses.replace(ATTEMPT, status=None, error="tls", error_detail=detail)
    event = DeliveryAttempted(failed, TARGET, DeliveryState.PENDING, retry_in=60.0)
    [(line, _)] = shown(style(event))  # type: ignore[operator]
    assert detail[:40] in line
    assert ("--ca-file" in line and "--insecure" in line) == hinted, line


@pytest.mark.parametrize("style", [live.pretty, live.compact])
def test_an_attempt_refused_for_a_stale_signature_names_the_fix_on_its_line(style: object) -> None:
    refused = dataclasses.replace(ATTEMPT, status=401, trigger=Trigger.RETRY)
    stale = StaleSignature("stripe", 2_400.0, 300.0, ("STRIPE_WEBHOOK_SECRET",))
    event = DeliveryAttempted(refused, TARGET, DeliveryState.FAILED, number=9, stale=stale)
    [(line, diagnostic)] = shown(style(event))  # type: ignore[operator]
    assert " 401 " in line and not diagnostic
    assert line.endswith(
        "stale signature (40 min after arrival, stripe allows 5 min):"
        " whrelay replay 7 --resign --secret-env STRIPE_WEBHOOK_SECRET"
    )
    [(plain, _)] = shown(style(DeliveryAttempted(refused, TARGET, DeliveryState.FAILED)))  # type: ignore[operator]
    assert "stale" not in plain and "--resign" not in plain


@pytest.mark.parametrize("style", [live.pretty, live.compact])
@pytest.mark.parametrize(
    ("envs", "typed", "fix"),
    [
        (("OLD", "NEW"), False, "--resign --secret-env OLD --secret-env NEW"),
        ((), True, "--resign --secret SECRET (listen's --secret)"),
        (("NEW",), True, "--resign --secret-env NEW --secret SECRET (listen's --secret)"),
        ((), False, "--resign --secret-env VAR"),  # not known (show, replay)
    ],
)
def test_a_stale_signatures_fix_gives_each_secret_as_listen_was_given_it(
    style: object, envs: tuple[str, ...], typed: bool, fix: str
) -> None:
    """Each variable the webhook's secrets were read from is named (replay tries each); a
    secret typed on listen's command line has no variable to name, so the fix says to give
    it with ``--secret``; when neither is known, ``--secret-env VAR``."""
    refused = dataclasses.replace(ATTEMPT, status=401, trigger=Trigger.RETRY)
    stale = StaleSignature("stripe", 2_400.0, 300.0, envs, typed)
    event = DeliveryAttempted(refused, TARGET, DeliveryState.FAILED, number=9, stale=stale)
    [(line, _)] = shown(style(event))  # type: ignore[operator]
    assert line.endswith(f": whrelay replay 7 {fix}"), line
