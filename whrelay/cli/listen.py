"""``whrelay listen``: run the receiver and show what arrives."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli.common import DbOption, resolve_db, stderr, stdout, write_json
from whrelay.core import defaults
from whrelay.core.errors import ExitCode, UsageError, say

if TYPE_CHECKING:
    from pathlib import Path

    from rich.text import Text

    from whrelay.core import config
    from whrelay.core.events import (
        ListenEvent,
        RequestRefused,
        StorageDegraded,
        StorageLost,
        StorageRecovered,
        TargetDown,
        TargetPaused,
        TargetUp,
    )
    from whrelay.core.targets import Route
    from whrelay.storage.store import Durability
    from whrelay.tui.listen import Serve


class Output(StrEnum):
    pretty = "pretty"
    compact = "compact"
    json = "json"
    quiet = "quiet"


_DEFAULT_SCHEDULE_TEXT = ",".join(f"{delay:g}" for delay in defaults.DEFAULT_SCHEDULE)


class ModeChoice(StrEnum):
    store = "store"
    proxy = "proxy"


class DurabilityChoice(StrEnum):
    full = "full"
    normal = "normal"


EXAMPLES = """
[bold]Examples[/bold]

  Receive on http://127.0.0.1:8642/ and store only:
    whrelay listen
  Forward to http://127.0.0.1:3000 (same path), or fan out to two apps:
    whrelay listen -f 3000
    whrelay listen -f 3000 -f :4000/hooks
  Send each path to its own app:
    whrelay listen --route '/stripe/*=3000' --route '/github/*=4000'
  Make the sender wait for your app's answer:
    whrelay listen -f 3000 --mode proxy
  No forwarding timeout (sit at a breakpoint):
    whrelay listen -f 3000 --timeout 0
  Check Stripe signatures; answer 401 to a bad one and do not forward it:
    whrelay listen -f 3000 --provider stripe \\
      --secret-env STRIPE_WEBHOOK_SECRET --reject-invalid
  Per route:
    whrelay listen --route '/stripe/*=3000,provider=stripe,secret-env=S'
  Any free port, NDJSON events on stdout:
    whrelay listen --port 0 --output json
  Faster; survives crashes, not power loss:
    whrelay listen --durability normal
"""


def make_renderer(output: Output) -> Callable[[ListenEvent], None]:
    """A function that shows one ``ListenEvent`` in the chosen output style."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from whrelay.core.events import (
        DeliveryAttempted,
        ListenStarted,
        ListenStopped,
        RequestRefused,
        StorageDegraded,
        StorageLost,
        StorageRecovered,
        TargetDown,
        TargetPaused,
        TargetUp,
        WebhookReceived,
    )
    from whrelay.render.webhooks import (
        attempt_line,
        kind,
        one_line,
        short_time,
        verdict_text,
        webhook_line,
    )

    out, err = stdout(), stderr()

    def pretty(event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column()
            grid.add_row("Receiving on", Text(event.url, style="bold green"))
            grid.add_row("Database", Text(event.db_path))
            for name, value in event.options.items():
                grid.add_row(name[:1].upper() + name[1:], Text(value))
            out.print(Panel(grid, title=f"whrelay {event.version}", expand=False))
            for warning in event.warnings:
                err.print(Text(f"warning: {warning}", style="yellow"))
            out.print(Text("Waiting for webhooks. Ctrl-C stops.", style="dim"))
        elif isinstance(event, WebhookReceived):
            out.print(webhook_line(event.webhook))
        elif isinstance(event, RequestRefused):
            err.print(_refused_line(event))
        elif isinstance(event, DeliveryAttempted):
            out.print(attempt_line(event.attempt, event.state, event.retry_in, event.number))
        elif isinstance(event, TargetDown | TargetUp | TargetPaused):
            out.print(_target_line(event))
        elif isinstance(event, StorageDegraded | StorageLost | StorageRecovered):
            err.print(_storage_line(event))
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
            line = Text(
                f"{short_time(s.received_at)} #{s.id} {one_line(s.method)} {one_line(s.target)} "
                f"{one_line(kind(s))} {s.size}B"
            )
            out.print(line.append_text(verdict_text(s, leading=" ")), soft_wrap=True)
        elif isinstance(event, RequestRefused):
            err.print(_refused_line(event))
        elif isinstance(event, DeliveryAttempted):
            out.print(
                attempt_line(event.attempt, event.state, event.retry_in, event.number),
                soft_wrap=True,
            )
        elif isinstance(event, TargetDown | TargetUp | TargetPaused):
            err.print(_target_line(event))
        elif isinstance(event, StorageDegraded | StorageLost | StorageRecovered):
            err.print(_storage_line(event))

    def quiet(event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            for warning in event.warnings:
                err.print(Text(f"warning: {warning}", style="yellow"))
        elif isinstance(event, TargetDown | TargetPaused):  # warnings too: nothing arrives
            err.print(_target_line(event))
        elif isinstance(event, StorageDegraded | StorageLost | StorageRecovered):
            err.print(_storage_line(event))

    def as_json(event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            write_json(
                {"event": "ready", "url": event.url, "db": event.db_path, "version": event.version}
            )
            for warning in event.warnings:
                say(f"warning: {warning}", prefix="")
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
        elif isinstance(event, DeliveryAttempted):
            a = event.attempt
            write_json(
                {
                    "event": "attempt",
                    "webhook_id": a.webhook_id,
                    "delivery": a.delivery,
                    "target": event.target,
                    "url": a.url,
                    "trigger": a.trigger,
                    "status": a.status,
                    "error": a.error,
                    "error_detail": a.error_detail,
                    "duration_ms": round(a.duration_us / 1000, 3),
                    "state": event.state,
                    "attempt": event.number,
                    "retry_in": event.retry_in,
                    "resigned": a.resigned,
                    "resign_note": a.resign_note,
                }
            )
        elif isinstance(event, TargetDown):
            write_json({"event": "target_down", "target": event.target, "reason": event.reason})
        elif isinstance(event, TargetUp):
            write_json({"event": "target_up", "target": event.target, "pending": event.pending})
        elif isinstance(event, TargetPaused):
            write_json({"event": "target_paused", "target": event.target, "pending": event.pending})
        elif isinstance(event, StorageDegraded | StorageLost):
            name = "storage_lost" if isinstance(event, StorageLost) else "storage_degraded"
            write_json({"event": name, "reason": event.reason, "detail": event.detail})
            say(_storage_line(event).plain, prefix="")
        elif isinstance(event, StorageRecovered):
            write_json({"event": "storage_ok"})
            say(_storage_line(event).plain, prefix="")
        elif isinstance(event, ListenStopped):
            write_json({"event": "stopped", "stored": event.stored, "signal": event.signal})

    return {Output.pretty: pretty, Output.compact: compact, Output.quiet: quiet}.get(
        output, as_json
    )


def _target_line(event: TargetDown | TargetUp | TargetPaused) -> Text:
    from rich.text import Text

    from whrelay.core.events import TargetDown, TargetUp
    from whrelay.render.webhooks import one_line

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


def _storage_line(event: StorageDegraded | StorageLost | StorageRecovered) -> Text:
    from rich.text import Text

    from whrelay.core.events import StorageLost, StorageRecovered
    from whrelay.render.webhooks import one_line

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


def _refused_line(event: RequestRefused) -> Text:
    from rich.text import Text

    from whrelay.render.webhooks import one_line

    request = " ".join(one_line(part) for part in (event.method, event.path) if part)
    request = f" {request}" if request else ""  # a malformed request may have neither
    return Text(f"refused {event.status}{request}: {one_line(event.reason)}", style="yellow")


def listen(
    port: Annotated[
        int, typer.Option("--port", "-p", help="TCP port; 0 picks a free one.", min=0, max=65535)
    ] = defaults.DEFAULT_PORT,
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but loopback is reachable by others.")
    ] = defaults.DEFAULT_HOST,
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
    body_budget: Annotated[
        str | None,
        typer.Option(
            help="Bytes of bodies held at once across senders; more wait, then get 503. "
            "Default: 4 x --max-body (at least 16MiB).",
            show_default=False,
        ),
    ] = None,
    idle_timeout: Annotated[
        str,
        typer.Option(help="Close a connection idle (or sending headers) this long."),
    ] = f"{defaults.DEFAULT_IDLE_TIMEOUT:g}s",
    read_timeout: Annotated[
        str,
        typer.Option(help="Answer 408 when a body takes longer than this to arrive; 0 = no limit."),
    ] = f"{defaults.DEFAULT_READ_TIMEOUT:g}s",
    forward: Annotated[
        list[str] | None,
        typer.Option(
            "--forward",
            "-f",
            help="Forward every webhook to TARGET: 3000, :3000/hooks, /hooks (port 3000) or a "
            "URL. Repeat to fan out.",
            metavar="TARGET",
            show_default=False,
        ),
    ] = None,
    routes: Annotated[
        list[str] | None,
        typer.Option(
            "--route",
            help="GLOB=TARGET: webhooks whose path matches GLOB go to TARGET instead (first "
            "match wins).",
            metavar="GLOB=TARGET",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        ModeChoice,
        typer.Option(
            help="store: acknowledge once stored, forward in the background with retries. "
            "proxy: the sender waits for the first target's answer.",
        ),
    ] = ModeChoice.store,
    timeout: Annotated[
        str, typer.Option(help="Forwarding timeout per attempt; 0 = none (debugger breakpoints).")
    ] = f"{defaults.DEFAULT_FORWARD_TIMEOUT:g}s",
    ordered: Annotated[
        bool,
        typer.Option(
            "--ordered",
            metavar="",
            help="Deliver to each target strictly in arrival order: a failing webhook holds up "
            "the ones behind it (head-of-line blocking).",
        ),
    ] = False,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="'Name: value' added to every forwarded request (replaces a same-named one).",
            show_default=False,
        ),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", metavar="", help="Allow targets that are not on this machine."
        ),
    ] = False,
    retry_schedule: Annotated[
        str,
        typer.Option(
            help="Seconds between retries, comma-separated; the last repeats (±20% jitter).",
        ),
    ] = _DEFAULT_SCHEDULE_TEXT,
    retry_window: Annotated[
        str, typer.Option(help="Stop retrying a delivery this long after it arrived.")
    ] = f"{defaults.DEFAULT_WINDOW / 3600:g}h",
    provider: Annotated[
        str | None,
        typer.Option(
            help="Verify every webhook with this scheme (default: detect it from the headers).",
            show_default=False,
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            help="Signing secret to verify with (repeatable). Prefer --secret-env.",
            show_default=False,
        ),
    ] = None,
    secret_env: Annotated[
        list[str] | None,
        typer.Option(
            help="Read a secret from this environment variable.", metavar="VAR", show_default=False
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The URL senders call (a tunnel's); Twilio and Square sign it.", show_default=False
        ),
    ] = None,
    reject_invalid: Annotated[
        bool,
        typer.Option(
            "--reject-invalid",
            metavar="",
            help="Answer 401 to a bad signature and do not forward it (still stored).",
        ),
    ] = False,
    resign: Annotated[
        bool,
        typer.Option(
            "--resign",
            metavar="",
            help="Re-sign each forwarded attempt with a fresh timestamp, so late retries pass "
            "the app's check. Only webhooks whose signature verified are re-signed (needs a "
            "secret); others go out as received.",
        ),
    ] = False,
    tui: Annotated[
        bool,
        typer.Option(
            "--tui",
            metavar="",
            help="Show what arrives in the terminal UI (as 'whrelay tui'); quitting it stops "
            "listen as Ctrl-C does.",
        ),
    ] = False,
    db: DbOption = None,
) -> int:
    """Receive webhooks: store each one byte-exact, verify it, acknowledge it, forward it."""
    import asyncio

    from whrelay.core import config
    from whrelay.core.models import parse_header_option
    from whrelay.core.retry import RetryPolicy
    from whrelay.core.targets import parse_target
    from whrelay.core.timeparse import parse_duration
    from whrelay.signatures.verification import (
        check_listen_secrets,
        check_resign_secrets,
        given_secrets,
    )

    given = given_secrets(secret or (), secret_env or ())
    secrets = tuple(s.value for s in given)
    parsed_routes = _routes(routes)
    if provider:
        from whrelay.signatures import get_scheme

        provider = get_scheme(provider).name
    check_listen_secrets(provider, given, parsed_routes)
    if resign:
        check_resign_secrets(provider, given, parsed_routes)
    if reject_invalid and not (secrets or any(r.secrets for r in parsed_routes)):
        raise UsageError("--reject-invalid needs a secret to verify with (--secret)")
    forward_settings = config.ForwardSettings(
        targets=tuple(parse_target(t) for t in forward or ()),
        routes=parsed_routes,
        extra_headers=tuple(parse_header_option(h) for h in header or ()),
        ordered=ordered,
        policy=RetryPolicy(
            schedule=tuple(parse_duration(d) for d in retry_schedule.split(",") if d.strip()),
            window=parse_duration(retry_window),
        ),
    )
    settings = config.ListenSettings(
        db_path=_creatable(db),
        host=_host(host),
        port=port,
        durability=_durability(durability),
        max_body=_max_body(max_body),
        body_budget=_body_budget(body_budget, _max_body(max_body)),
        idle_timeout=parse_duration(idle_timeout),
        read_timeout=parse_duration(read_timeout),
        forward=forward_settings,
        mode="proxy" if mode is ModeChoice.proxy else "store",
        forward_timeout=parse_duration(timeout),
        allow_remote=allow_remote,
        verify=config.VerifySettings(
            provider, secrets, _public_url(public_url), reject_invalid, resign
        ),
    )
    if settings.mode == "proxy" and not forward_settings.all_targets:
        raise UsageError("--mode proxy needs a target", hint="add -f PORT")
    from whrelay.core.retry import MIN_REPEATED_DELAY

    schedule = forward_settings.policy.schedule
    if not schedule:
        raise UsageError("--retry-schedule needs at least one delay")
    if schedule[-1] < MIN_REPEATED_DELAY:
        raise UsageError(
            f"--retry-schedule: the last delay repeats until --retry-window ends, so it must "
            f"be at least {MIN_REPEATED_DELAY:g} s (got {schedule[-1]:g})",
            hint="e.g. --retry-schedule 0,1,5",
        )
    if tui and output is not None:
        raise UsageError("--tui and --output are two ways of showing: choose one")
    if tui:
        from whrelay.cli.entry import needs_a_terminal

        needs_a_terminal("listen --tui")
    chosen = output or (Output.pretty if sys.stdout.isatty() else Output.compact)
    from whrelay.receiver.aiohttp_internals import check_aiohttp

    check_aiohttp()  # before the receiver is imported, the database opened, the port bound
    from whrelay.receiver.server import serve

    if tui:
        return _with_tui(settings, serve)

    stop = asyncio.Event()
    emit, reader_left = guarded(make_renderer(chosen), stop.set)
    signal_name = asyncio.run(serve(settings, emit, stop))
    if reader_left():
        return ExitCode.READER_GONE
    return ExitCode.INTERRUPTED if signal_name == "SIGINT" else ExitCode.OK


def _with_tui(settings: config.ListenSettings, serve: Serve) -> int:
    """``listen --tui``: the receiver and the TUI on one loop; the run's tally once the
    terminal is given back."""
    from rich.text import Text

    from whrelay.tui.listen import run_listen

    signal_name, stored = run_listen(settings, serve)
    if stored is not None:
        stderr().print(Text(f"Stopped. {stored} webhook(s) stored this run.", style="dim"))
    return ExitCode.INTERRUPTED if signal_name == "SIGINT" else ExitCode.OK


def guarded(
    render: Callable[[ListenEvent], None], stop: Callable[[], None]
) -> tuple[Callable[[ListenEvent], None], Callable[[], bool]]:
    """``render`` made safe to call while requests are answered: when the reader of stdout
    goes away (``whrelay listen | head``), output stops and ``listen`` is asked to ``stop``
    as on Ctrl-C (what arrived is stored and answered; nothing is refused for it), then exits
    with ``READER_GONE``. Also, whether that happened."""
    import os

    gone: list[bool] = []

    def emit(event: ListenEvent) -> None:
        if gone:
            return
        try:
            render(event)
        except SystemExit as leaving:  # the Rich hook's way of saying the same
            if leaving.code != ExitCode.READER_GONE:
                raise
        except (BrokenPipeError, ConnectionResetError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
            os.close(devnull)
        else:
            return
        gone.append(True)
        stop()

    return emit, lambda: bool(gone)


def _routes(routes: list[str] | None) -> tuple[Route, ...]:
    """Parsed routes, their provider names checked and normalized."""
    from dataclasses import replace

    from whrelay.core.targets import parse_route
    from whrelay.signatures import get_scheme

    parsed = []
    for text in routes or ():
        route = parse_route(text)
        if route.provider:
            route = replace(route, provider=get_scheme(route.provider).name)
        parsed.append(route)
    return tuple(parsed)


def _creatable(db: Path | None) -> Path:
    """The database ``listen`` writes. Its own data folder is created when missing; the
    folder of a file named by ``--db`` or ``WHRELAY_DB`` must exist (a typo in the path is
    not quietly made into a new folder and database)."""
    import os
    import shlex

    path = resolve_db(db)
    named = db is not None or bool(os.environ.get("WHRELAY_DB"))
    if named and not path.parent.is_dir():
        raise UsageError(
            f"the folder of the database {path} does not exist",
            hint=f"create it first (mkdir -p {shlex.quote(str(path.parent))}), or check the path",
        )
    return path


def _host(text: str) -> str:
    """``--host`` as the resolver can take it: a name that cannot be put into ASCII (bytes
    that were not UTF-8, a label over 63 characters) is bad input, not a failure to bind."""
    try:
        text.encode("idna")
    except UnicodeError as error:
        raise UsageError(
            f"--host {text!r} is not a host name or address ({error.__cause__ or error})",
            hint="e.g. 127.0.0.1, ::1, localhost or 0.0.0.0",
        ) from None
    return text


def _max_body(text: str) -> int:
    from whrelay.core.timeparse import parse_size

    size = parse_size(text)
    if size < 1:
        raise UsageError("--max-body must be at least 1 byte", hint="the default is 25MiB")
    return size


def _body_budget(text: str | None, max_body: int) -> int:
    """``--body-budget``: 0 (the default) or at least ``--max-body``, which one body may use."""
    if text is None:
        return 0
    from whrelay.core.timeparse import parse_size, size_text

    size = parse_size(text)
    if size < max_body:
        raise UsageError(
            f"--body-budget must be at least --max-body ({size_text(max_body)}): "
            "one body of the largest size must fit"
        )
    return size


def _public_url(text: str | None) -> str | None:
    """``--public-url``, checked: the scheme and host the provider called."""
    if text is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--public-url {text!r} is not an http(s) URL",
            hint="the URL the provider calls, e.g. https://abc.ngrok.app",
        )
    return text


def _durability(choice: DurabilityChoice) -> Durability:
    return "normal" if choice is DurabilityChoice.normal else "full"


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(listen)
