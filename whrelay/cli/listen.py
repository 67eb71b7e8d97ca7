"""``whrelay listen``: run the receiver and show what arrives."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from whrelay import config
from whrelay.cli.common import DbOption, resolve_db, stderr, stdout, write_json
from whrelay.errors import ExitCode
from whrelay.events import (
    ListenEvent,
    ListenStarted,
    ListenStopped,
    RequestRefused,
    WebhookReceived,
)
from whrelay.render import one_line, webhook_line
from whrelay.storage.store import Durability
from whrelay.timeparse import parse_duration, parse_size


class Output(StrEnum):
    pretty = "pretty"
    compact = "compact"
    json = "json"
    quiet = "quiet"


class DurabilityChoice(StrEnum):
    full = "full"
    normal = "normal"


EXAMPLES = """
[bold]Examples[/bold]

  whrelay listen                         receive on http://127.0.0.1:8642/
  whrelay listen --port 0 --output json  any free port; NDJSON events on stdout
  whrelay listen --durability normal     faster; survives crashes, not power loss
"""


def make_renderer(output: Output) -> Callable[[ListenEvent], None]:
    """A function that shows one ``ListenEvent`` in the chosen output style."""
    out, err = stdout(), stderr()

    def pretty(event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column()
            grid.add_row("Receiving on", Text(event.url, style="bold green"))
            grid.add_row("Database", Text(event.db_path))
            for name, value in event.options.items():
                grid.add_row(name.capitalize(), Text(value))
            out.print(Panel(grid, title=f"whrelay {event.version}", expand=False))
            for warning in event.warnings:
                err.print(Text(f"warning: {warning}", style="yellow"))
            out.print(Text("Waiting for webhooks. Ctrl-C stops.", style="dim"))
        elif isinstance(event, WebhookReceived):
            out.print(webhook_line(event.webhook))
        elif isinstance(event, RequestRefused):
            err.print(_refused_line(event))
        elif isinstance(event, ListenStopped):
            err.print(Text(f"Stopped. {event.stored} webhook(s) stored this run.", style="dim"))

    def compact(event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            err.print(
                Text(f"whrelay {event.version} receiving on {event.url} (db {event.db_path})")
            )
            for warning in event.warnings:
                err.print(Text(f"warning: {warning}", style="yellow"))
        elif isinstance(event, WebhookReceived):
            s = event.webhook
            out.print(
                Text(f"#{s.id} {one_line(s.method)} {one_line(s.target)} {s.size}B"),
                soft_wrap=True,
            )
        elif isinstance(event, RequestRefused):
            err.print(_refused_line(event))

    def quiet(event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            for warning in event.warnings:
                err.print(Text(f"warning: {warning}", style="yellow"))

    def as_json(event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            write_json(
                {"event": "ready", "url": event.url, "db": event.db_path, "version": event.version}
            )
            for warning in event.warnings:
                sys.stderr.write(f"warning: {warning}\n")
        elif isinstance(event, WebhookReceived):
            write_json({"event": "webhook", **event.webhook.to_json()})
        elif isinstance(event, RequestRefused):
            write_json(
                {
                    "event": "refused",
                    "status": event.status,
                    "reason": event.reason,
                    "method": event.method,
                    "path": event.path,
                }
            )
        elif isinstance(event, ListenStopped):
            write_json({"event": "stopped", "stored": event.stored, "signal": event.signal})

    return {Output.pretty: pretty, Output.compact: compact, Output.quiet: quiet}.get(
        output, as_json
    )


def _refused_line(event: RequestRefused) -> Text:
    return Text(
        f"refused {event.status} {one_line(event.method)} {one_line(event.path)}: {event.reason}",
        style="yellow",
    )


def listen(
    port: Annotated[
        int, typer.Option("--port", "-p", help="TCP port; 0 picks a free one.", min=0, max=65535)
    ] = config.DEFAULT_PORT,
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but loopback is reachable by others.")
    ] = config.DEFAULT_HOST,
    output: Annotated[
        Output | None,
        typer.Option(
            "--output",
            "-o",
            help="pretty (default on a terminal), compact (default otherwise), json (NDJSON "
            "events on stdout), quiet.",
            show_default=False,
        ),
    ] = None,
    durability: Annotated[
        DurabilityChoice,
        typer.Option(
            help="full: fsync each group commit, survives power loss. normal: faster, survives "
            "a crash of whrelay but not of the machine.",
        ),
    ] = DurabilityChoice.full,
    max_body: Annotated[
        str, typer.Option(help="Largest body stored; larger ones get 413. E.g. 1MiB, 25MiB.")
    ] = "25MiB",
    idle_timeout: Annotated[
        str,
        typer.Option(help="Close a connection idle (or sending headers) this long."),
    ] = f"{config.DEFAULT_IDLE_TIMEOUT:g}s",
    read_timeout: Annotated[
        str,
        typer.Option(help="Answer 408 when a body takes longer than this to arrive; 0 = no limit."),
    ] = f"{config.DEFAULT_READ_TIMEOUT:g}s",
    db: DbOption = None,
) -> int:
    """Receive webhooks: store each one byte-exact, then acknowledge it."""
    settings = config.ListenSettings(
        db_path=resolve_db(db),
        host=host,
        port=port,
        durability=_durability(durability),
        max_body=parse_size(max_body),
        idle_timeout=parse_duration(idle_timeout),
        read_timeout=parse_duration(read_timeout),
    )
    chosen = output or (Output.pretty if sys.stdout.isatty() else Output.compact)
    from whrelay.receiver.server import serve

    signal_name = asyncio.run(serve(settings, make_renderer(chosen)))
    return ExitCode.INTERRUPTED if signal_name == "SIGINT" else ExitCode.OK


def _durability(choice: DurabilityChoice) -> Durability:
    return "normal" if choice is DurabilityChoice.normal else "full"


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(listen)
