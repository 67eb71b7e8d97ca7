"""Run the receiver until a signal stops it: ``whrelay listen``'s engine, without any UI."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable

from whrelay import __version__
from whrelay.core.allocator import give_back_large_blocks
from whrelay.core.config import ListenSettings
from whrelay.core.defaults import body_budget
from whrelay.core.errors import UnavailableError
from whrelay.core.events import ListenEvent, ListenStarted, ListenStopped
from whrelay.core.targets import check_target
from whrelay.core.timeparse import size_text
from whrelay.receiver.app import make_receiver
from whrelay.receiver.http import HttpServer
from whrelay.receiver.retention import Pruner
from whrelay.storage import Store
from whrelay.storage.lock import sole_forwarder
from whrelay.storage.process import ProcessWriter

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def environment_warnings(host: str) -> list[str]:
    """Things about this process the user should know before trusting it with webhooks."""
    warnings = []
    if host not in LOOPBACK_HOSTS:
        warnings.append(
            f"listening on {host}: anyone who can reach this machine can send webhooks here"
        )
    from aiohttp import http_parser

    from whrelay.receiver.aiohttp_internals import installed_version, range_warning

    untested = range_warning(installed_version())
    if untested:
        warnings.append(untested)
    if http_parser.HttpRequestParser is http_parser.HttpRequestParserPy:
        warnings.append(
            "aiohttp's C HTTP parser is not in use (AIOHTTP_NO_EXTENSIONS?); the pure-Python "
            "parser has had request-smuggling bugs"
        )
    if sys.flags.optimize:
        warnings.append("running under python -O: aiohttp's assertions are stripped")
    return warnings


def _options(settings: ListenSettings, resumed: int = 0) -> dict[str, str]:
    forward = settings.forward
    options: dict[str, str] = {}
    if forward.targets:
        options["forward to"] = ", ".join(target.shown for target in forward.targets)
    for r in forward.routes:
        options[f"route {r.pattern}"] = r.target.shown
    if settings.ca_file is not None:
        options["CA file"] = f"{settings.ca_file} (trusted for https targets, besides the system's)"
    if resumed:
        options["resuming"] = (
            f"{resumed} pending deliver{'y' if resumed == 1 else 'ies'} from an earlier run"
        )
    if forward.all_targets:
        options["mode"] = settings.mode + (" (ordered)" if forward.ordered else "")
        timeout = f"{settings.forward_timeout:g} s" if settings.forward_timeout else "none"
        options["forward timeout"] = timeout
    else:
        options["forward to"] = "nobody (store only; add -f PORT to forward)"
    verify = settings.verify
    scheme = verify.provider or "detected per request"
    keyed = [r for r in forward.routes if r.secrets]
    if verify.secrets or keyed:
        # Which routes verify, with what: a route's own secret (and provider), else listen's.
        own = [
            f"{r.pattern} ({r.provider or 'detected'}, {len(r.secrets)} secret(s) of its own)"
            for r in keyed
        ]
        if verify.secrets:
            options["verify"] = f"{scheme}, {len(verify.secrets)} secret(s)"
            if own:
                options["verify"] += f"; on routes {', '.join(own)}"
        else:
            options["verify"] = (
                f"on routes {', '.join(own)}; elsewhere no secret, so webhooks outside those "
                "routes are stored as unverified"
            )
        if verify.reject_invalid:
            options["verify"] += "; invalid ones answered 401 and not forwarded"
        if verify.resign:
            options["verify"] += "; forwards re-signed when their signature verifies"
    else:
        options["verify"] = f"{scheme}; no secret, so webhooks are stored as unverified"
    if settings.retain is not None:
        from whrelay.receiver.retention import prune_interval

        options["retain"] = (
            f"{_seconds_text(settings.retain)}: older webhooks (not pending ones) are pruned "
            f"every {_seconds_text(prune_interval(settings.retain))}"
        )
    options["durability"] = settings.durability
    options["max body"] = size_text(settings.max_body)
    budget = body_budget(settings.max_body, settings.body_budget)
    options["bodies in flight"] = f"at most {size_text(budget)} (--body-budget)"
    options["SQLite"] = sqlite3.sqlite_version
    return options


def _seconds_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _orphan_warning(targets: tuple[str, ...]) -> tuple[str, ...]:
    """A word on deliveries left pending by earlier runs for targets not given now."""
    if not targets:
        return ()
    count = len(targets)
    named = sorted(set(targets))
    shown = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
    waiting = (
        "1 delivery from an earlier run waits for a target"
        if count == 1
        else f"{count} deliveries from earlier runs wait for targets"
    )
    return (
        f"{waiting} not given now ({shown}); "
        "name them with -f to deliver ('whrelay list --status pending' lists them)",
    )


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _url(host: str, port: int) -> str:
    return f"http://{_netloc(host)}:{port}/"


async def serve(
    settings: ListenSettings,
    emit: Callable[[ListenEvent], None],
    stop: asyncio.Event | None = None,
) -> str | None:
    """Receive until ``stop`` is set or SIGINT/SIGTERM arrives; return the signal's name."""
    for target in settings.forward.all_targets:
        check_target(target, settings.allow_remote)
    give_back_large_blocks()  # bodies of up to --max-body come and go
    # Create (or migrate) the database here, so that a bad --db fails with a clear error
    # before anything listens; the storage process then does the writing.
    Store(settings.db_path, durability=settings.durability).close()
    with sole_forwarder(settings.db_path, [t.url for t in settings.forward.all_targets]):
        return await _listen(settings, emit, stop)


async def _listen(
    settings: ListenSettings,
    emit: Callable[[ListenEvent], None],
    stop: asyncio.Event | None,
) -> str | None:
    backlog = body_budget(settings.max_body, settings.body_budget)
    writer = ProcessWriter(settings.db_path, settings.durability, backlog)
    receiver = make_receiver(settings, None, emit, writer)
    stop = stop or asyncio.Event()
    stopped_by: list[str] = []
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):

        def on_signal(signum: int = signum) -> None:
            stopped_by.append(signal.Signals(signum).name)
            stop.set()

        loop.add_signal_handler(signum, on_signal)

    def default_signals() -> None:
        """From here a second Ctrl-C or SIGTERM interrupts the shutdown, as it does any
        program (what is committed stays committed)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    try:
        async with receiver.running():
            http = receiver.http_server()
            try:
                await _serve(http, settings, receiver.orphans, receiver.resumed, emit, stop)
            finally:
                default_signals()
                # In-flight requests are answered (or refused) before the engine stops.
                await http.stop(settings.shutdown_timeout)
    finally:
        default_signals()
    emit(ListenStopped(stored=receiver.stored, signal=stopped_by[0] if stopped_by else None))
    return stopped_by[0] if stopped_by else None


_BIND_HINTS = {
    errno.EADDRNOTAVAIL: "--host must be an address of this machine (127.0.0.1, ::1, 0.0.0.0)",
    errno.EACCES: "ports below 1024 need privileges: pick a higher --port",
}


async def _serve(
    http: HttpServer,
    settings: ListenSettings,
    orphans: tuple[str, ...],
    resumed: int,
    emit: Callable[[ListenEvent], None],
    stop: asyncio.Event,
) -> None:
    try:
        await http.start(settings.host, settings.port, backlog=1024)
    except OSError as error:
        number = errno.EADDRNOTAVAIL if isinstance(error, socket.gaierror) else error.errno
        # asyncio's own message repeats the address: the system's words alone
        if isinstance(error, socket.gaierror) or not error.errno:
            why = (error.strerror or str(error)).lower()
        else:
            why = os.strerror(error.errno).lower()
        raise UnavailableError(
            f"cannot listen on {settings.host}:{settings.port}: {why}",
            hint=_BIND_HINTS.get(number or 0, "pick another --port, or 0 for any free port"),
        ) from None
    port = http.port
    options = _options(settings, resumed)
    warnings = tuple(environment_warnings(settings.host)) + _orphan_warning(orphans)
    if settings.host == "localhost":
        bound = [address for address in ("127.0.0.1", "::1") if address not in http.unbound]
        options = {"addresses": " and ".join(_netloc(a) for a in bound), **options}
        warnings += tuple(
            f"localhost: not listening on {_netloc(address)} ({why}); a client that tries it "
            f"first cannot connect: give it {_url('127.0.0.1', port)}"
            for address, why in http.unbound.items()
        )
    emit(
        ListenStarted(
            url=_url(settings.host, port),
            db_path=str(settings.db_path),
            version=__version__,
            options=options,
            warnings=warnings,
            config_path=None if settings.config_file is None else str(settings.config_file),
            resumed=resumed,
        )
    )
    if settings.retain is None:
        await stop.wait()
        return
    loop = asyncio.get_running_loop()

    def report(event: ListenEvent) -> None:  # from the pruner's thread
        loop.call_soon_threadsafe(emit, event)

    pruner = Pruner(settings.db_path, settings.retain, settings.durability, report)
    pruner.start()
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(pruner.stop)
