"""Rich renderables for what a running receiver reports (``whrelay.core.events``), in the
styles of ``listen --output``: ``pretty`` (a banner, then a line per webhook and attempt),
``compact`` (one plain line each) and ``quiet`` (only what needs attention). Each style maps
an event to the lines to show; a ``Line`` says whether it is a diagnostic (the CLI writes
those to stderr), so the CLI and a TUI show the same events the same way."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

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
from whrelay.core.models import format_time
from whrelay.render.webhooks import (
    attempt_line,
    kind,
    one_line,
    provider_id_text,
    short_time,
    verdict_text,
    webhook_line,
)


@dataclass(frozen=True, slots=True)
class Line:
    """One thing to show for an event."""

    renderable: RenderableType
    diagnostic: bool = False
    """About whrelay rather than the webhooks (start-up warnings, refusals, storage): the
    CLI writes it to stderr, so stdout stays what arrived."""


def pretty(event: ListenEvent) -> list[Line]:
    """The terminal style: a banner, then a line for each webhook and attempt."""
    if isinstance(event, ListenStarted):
        return [
            Line(banner(event)),
            *(Line(warning_line(w), diagnostic=True) for w in event.warnings),
            Line(Text("Waiting for webhooks. Ctrl-C stops.", style="dim")),
        ]
    if isinstance(event, WebhookReceived):
        return [Line(webhook_line(event.webhook))]
    if isinstance(event, RequestRefused):
        return [Line(refused_line(event), diagnostic=True)]
    if isinstance(event, DeliveryAttempted):
        return [
            Line(
                attempt_line(event.attempt, event.state, event.retry_in, event.number, event.stale)
            )
        ]
    if isinstance(event, TargetDown | TargetUp | TargetPaused):
        return [Line(target_line(event))]
    if isinstance(event, StorageDegraded | StorageLost | StorageRecovered):
        return [Line(storage_line(event), diagnostic=True)]
    if isinstance(event, WebhooksPruned | PruneFailed):
        return [Line(prune_line(event), diagnostic=True)]
    return [Line(stopped_line(event), diagnostic=True)]


def compact(event: ListenEvent) -> list[Line]:
    """One line per webhook and attempt, for a log or a pipe."""
    if isinstance(event, ListenStarted):
        started = f"whrelay {event.version} receiving on {event.url} (db {event.db_path}"
        started += f", config {event.config_path})" if event.config_path else ")"
        if event.resumed:
            started += f"; resuming {event.resumed} pending from an earlier run"
        return [
            Line(Text(started), diagnostic=True),
            *(Line(warning_line(w), diagnostic=True) for w in event.warnings),
        ]
    if isinstance(event, WebhookReceived):
        return [Line(compact_webhook_line(event))]
    if isinstance(event, RequestRefused):
        return [Line(refused_line(event), diagnostic=True)]
    if isinstance(event, DeliveryAttempted):
        return [
            Line(
                attempt_line(event.attempt, event.state, event.retry_in, event.number, event.stale)
            )
        ]
    if isinstance(event, TargetDown | TargetUp | TargetPaused):
        return [Line(target_line(event), diagnostic=True)]
    if isinstance(event, StorageDegraded | StorageLost | StorageRecovered):
        return [Line(storage_line(event), diagnostic=True)]
    if isinstance(event, WebhooksPruned | PruneFailed):
        return [Line(prune_line(event), diagnostic=True)]
    return []


def quiet(event: ListenEvent) -> list[Line]:
    """Only warnings: start-up ones, a target down or paused (nothing arrives), storage."""
    if isinstance(event, ListenStarted):
        return [Line(warning_line(w), diagnostic=True) for w in event.warnings]
    if isinstance(event, TargetDown | TargetPaused):
        return [Line(target_line(event), diagnostic=True)]
    if isinstance(event, StorageDegraded | StorageLost | StorageRecovered):
        return [Line(storage_line(event), diagnostic=True)]
    if isinstance(event, PruneFailed):
        return [Line(prune_line(event), diagnostic=True)]
    return []


def banner(event: ListenStarted) -> Panel:
    """Where it receives, the database, and the options that matter."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Receiving on", Text(event.url, style="bold green"))
    grid.add_row("Database", Text(event.db_path))
    grid.add_row("Config", Text(event.config_path or "none (whrelay config path)"))
    for name, value in event.options.items():
        grid.add_row(name[:1].upper() + name[1:], Text(value))
    return Panel(grid, title=f"whrelay {event.version}", expand=False)


def warning_line(warning: str) -> Text:
    return Text(f"warning: {warning}", style="yellow")


def compact_webhook_line(event: WebhookReceived) -> Text:
    s = event.webhook
    line = Text(
        f"{short_time(s.received_at)} #{s.id} {one_line(s.method)} {one_line(s.target)} "
        f"{one_line(kind(s))}"
        + (f" {provider_id_text(s.provider_id)}" if s.provider_id else "")
        + f" {s.size}B"
    )
    return line.append_text(verdict_text(s, leading=" "))


def target_line(event: TargetDown | TargetUp | TargetPaused) -> Text:
    if isinstance(event, TargetDown):
        return Text(
            f"▼ {event.target} is down ({one_line(event.reason)}); probing every second",
            style="bold red",
        )
    if isinstance(event, TargetUp):
        return Text(
            f"▲ {event.target} is back; delivering {event.pending} pending", style="bold green"
        )
    return Text(
        f"■ {event.target} answered 410 Gone: paused, {event.pending} pending kept for the "
        "next run",
        style="bold yellow",
    )


def storage_line(event: StorageDegraded | StorageLost | StorageRecovered) -> Text:
    if isinstance(event, StorageRecovered):
        return Text("▲ storage commits again; webhooks are stored and answered", style="bold green")
    if isinstance(event, StorageLost):
        return Text(
            f"✖ storage lost: {one_line(event.detail)}. Nothing more is stored: webhooks are "
            "answered 503 until whrelay listen is restarted",
            style="bold red",
        )
    return Text(
        f"▼ storage cannot commit ({one_line(event.detail)}); webhooks are answered 503 meanwhile",
        style="bold red",
    )


def prune_line(event: WebhooksPruned | PruneFailed) -> Text:
    if isinstance(event, PruneFailed):
        return Text(f"--retain: could not prune ({one_line(event.detail)}); trying again later",
                    style="yellow")  # fmt: skip
    return Text(
        f"pruned {event.deleted:,} webhook(s) received before {format_time(event.before)} "
        "(--retain)",
        style="dim",
    )


def refused_line(event: RequestRefused) -> Text:
    request = " ".join(one_line(part) for part in (event.method, event.path) if part)
    request = f" {request}" if request else ""  # a malformed request may have neither
    return Text(f"refused {event.status}{request}: {one_line(event.reason)}", style="yellow")


def stopped_line(event: ListenStopped) -> Text:
    return Text(f"Stopped. {event.stored} webhook(s) stored this run.", style="dim")
