"""``whrelay listen``: run the receiver and show what arrives."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli.common import (
    AllowRemoteOption,
    CaFileOption,
    DbOption,
    InsecureOption,
    complete_scheme,
    stderr,
    stdout,
    write_json,
)
from whrelay.core import defaults
from whrelay.core.errors import ExitCode, UsageError, say

if TYPE_CHECKING:
    from whrelay.core import config
    from whrelay.core.events import ListenEvent
    from whrelay.tui.listen import Serve


class Output(StrEnum):
    pretty = "pretty"
    compact = "compact"
    json = "json"
    quiet = "quiet"


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
  To an app on https://localhost:3443 with a self-signed certificate:
    whrelay listen -f https://localhost:3443 --ca-file cert.pem
    whrelay listen -f 'https://localhost:3443,insecure'
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
  Keep a week of history, pruning as it runs:
    whrelay listen -f 3000 --retain 7d
  Defaults from whrelay.toml and WHRELAY_* variables (a flag wins):
    whrelay config show
    WHRELAY_PORT=9000 whrelay listen
"""


def make_renderer(output: Output) -> Callable[[ListenEvent], None]:
    """A function that shows one ``ListenEvent`` in the chosen output style: NDJSON on stdout
    with diagnostics as plain lines on stderr, or Rich lines (``whrelay.render.live``)."""
    if output is Output.json:
        return _as_json
    from whrelay.render import live

    lines = {Output.pretty: live.pretty, Output.compact: live.compact}.get(output, live.quiet)
    out, err = stdout(), stderr()

    def render(event: ListenEvent) -> None:
        for line in lines(event):
            (err if line.diagnostic else out).print(line.renderable)

    return render


def _as_json(event: ListenEvent) -> None:
    from whrelay.core.events import (
        ListenStarted,
        PruneFailed,
        StorageDegraded,
        StorageLost,
        StorageRecovered,
    )

    write_json(event.to_json())
    if isinstance(event, ListenStarted):
        for warning in event.warnings:
            say(f"warning: {warning}", prefix="")
    elif isinstance(event, PruneFailed):
        from whrelay.render.live import prune_line

        say(prune_line(event).plain, prefix="")
    elif isinstance(event, StorageDegraded | StorageLost | StorageRecovered):
        from whrelay.render.live import storage_line

        say(storage_line(event).plain, prefix="")


def listen(
    ctx: typer.Context,
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", help="TCP port; 0 picks a free one.", min=0, max=65535, metavar="PORT"
        ),
    ] = defaults.DEFAULT_PORT,
    host: Annotated[
        str,
        typer.Option(
            help="Address to bind. Anything but loopback is reachable by others; localhost "
            "binds 127.0.0.1 and ::1.",
            metavar="ADDRESS",
        ),
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
        str,
        typer.Option(
            help="Largest body stored; larger ones get 413. E.g. 1MiB, 25MiB.", metavar="SIZE"
        ),
    ] = "25MiB",
    body_budget: Annotated[
        str | None,
        typer.Option(
            help="Bytes of bodies held at once across senders; more wait, then get 503. "
            "Also bounds what waits for a stalled storage process. "
            "Default: 4 x --max-body (at least 16MiB).",
            metavar="SIZE",
            show_default=False,
        ),
    ] = None,
    idle_timeout: Annotated[
        str,
        typer.Option(
            help="Close a connection idle (or sending headers) this long.", metavar="DURATION"
        ),
    ] = f"{defaults.DEFAULT_IDLE_TIMEOUT:g}s",
    read_timeout: Annotated[
        str,
        typer.Option(
            help="Answer 408 when a body takes longer than this to arrive; 0 = no limit.",
            metavar="DURATION",
        ),
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
        str,
        typer.Option(
            help="Forwarding timeout per attempt; 0 = none (debugger breakpoints).",
            metavar="DURATION",
        ),
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
            metavar="'NAME: VALUE'",
            show_default=False,
        ),
    ] = None,
    allow_remote: AllowRemoteOption = False,
    insecure: InsecureOption = False,
    ca_file: CaFileOption = None,
    retry_schedule: Annotated[
        str,
        typer.Option(
            help="Seconds between retries, comma-separated; the last repeats (±20% jitter).",
            metavar="DELAYS",
        ),
    ] = defaults.DEFAULT_SCHEDULE_TEXT,
    retry_window: Annotated[
        str,
        typer.Option(
            help="Stop retrying a delivery this long after it arrived.", metavar="DURATION"
        ),
    ] = f"{defaults.DEFAULT_WINDOW / 3600:g}h",
    provider: Annotated[
        str | None,
        typer.Option(
            help="Verify every webhook with this scheme (default: detect it from the headers).",
            metavar="PROVIDER",
            autocompletion=complete_scheme,
            show_default=False,
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            help="Signing secret to verify with (repeatable). Prefer --secret-env.",
            metavar="SECRET",
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
            help="The URL senders call (a tunnel's); Twilio and Square sign it.",
            metavar="URL",
            show_default=False,
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
    retain: Annotated[
        str | None,
        typer.Option(
            help="Delete webhooks older than this while listening (7d, 12h), in the "
            "background, once at start and then periodically; pending ones are kept.",
            metavar="DURATION",
            show_default=False,
        ),
    ] = None,
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
    """Receive webhooks: store each one byte-exact, verify it, acknowledge it, forward it.

    Defaults come from the config file (whrelay.toml) and WHRELAY_* variables; a flag wins
    ('whrelay config show' shows each setting and where it comes from)."""
    import asyncio
    import os

    from whrelay.core.configfile import find
    from whrelay.receiver.settings import resolve_listen

    typed = {
        "host": host, "port": port, "output": output.value if output else None,
        "durability": durability.value, "max_body": max_body, "body_budget": body_budget,
        "idle_timeout": idle_timeout, "read_timeout": read_timeout,
        "forward": tuple(forward or ()), "route": tuple(routes or ()), "mode": mode.value,
        "timeout": timeout, "ordered": ordered, "headers": tuple(header or ()),
        "allow_remote": allow_remote, "insecure": insecure,
        "ca_file": None if ca_file is None else str(ca_file), "retry_schedule": retry_schedule,
        "retry_window": retry_window, "provider": provider, "secret": tuple(secret or ()),
        "secret_env": tuple(secret_env or ()), "public_url": public_url,
        "reject_invalid": reject_invalid, "resign": resign, "retain": retain, "db": db,
    }  # fmt: skip
    parameter = {"route": "routes", "headers": "header"}
    given = {key: value for key, value in typed.items() if _typed(ctx, parameter.get(key, key))}
    resolved = resolve_listen(given, find(), os.environ)
    settings = resolved.settings()
    if tui and "output" in given:
        raise UsageError("--tui and --output are two ways of showing: choose one")
    if tui:
        from whrelay.cli.entry import needs_a_terminal

        needs_a_terminal("listen --tui")
    picked = Output(resolved.output) if resolved.output else None
    chosen = picked or (Output.pretty if sys.stdout.isatty() else Output.compact)
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


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


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


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(listen)
