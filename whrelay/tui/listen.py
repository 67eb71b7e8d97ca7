"""``whrelay listen --tui``: the receiver and the TUI on one event loop.

The receiver is passed in (``serve``), so this package imports no receiver: the CLI, which
owns ``listen``, hands it over. Its events reach the app as messages; the header shows the
URL and each target's health with its pending count, which the app refreshes from the
database as deliveries drain. Quitting the TUI stops the receiver as Ctrl-C does: requests
in flight are answered, what was acknowledged stays stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.message import Message
from textual.message_pump import MessagePump
from textual.widgets import Static

from whrelay.core.events import (
    ListenEvent,
    ListenStarted,
    ListenStopped,
    StorageDegraded,
    StorageLost,
    StorageRecovered,
    TargetDown,
    TargetPaused,
    TargetUp,
)
from whrelay.tui import adapter
from whrelay.tui.messages import PendingCounted
from whrelay.views.safetext import one_line

if TYPE_CHECKING:
    from whrelay.core.config import ListenSettings
    from whrelay.tui.app import WhrelayApp

Serve = Callable[
    ["ListenSettings", Callable[[ListenEvent], None], asyncio.Event],
    Coroutine[Any, Any, "str | None"],
]
"""``receiver.server.serve``: receive until the event is set (or a signal arrives)."""


class ListenEventReceived(Message):
    def __init__(self, event: ListenEvent) -> None:
        super().__init__()
        self.event = event


@dataclass
class ListenLink:
    """What joins a running receiver to the app: its settings, its secrets for ``R``, and
    its events (held until the app can take them)."""

    settings: ListenSettings
    resign: adapter.Resign | None = None
    app: MessagePump | None = None
    held: list[ListenEvent] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stored: int | None = None
    """Webhooks stored this run, once the receiver has stopped."""

    def emit(self, event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            self.started.set()
        if isinstance(event, ListenStopped):
            self.stored = event.stored
        if self.app is None:
            self.held.append(event)
        else:
            self.app.post_message(ListenEventReceived(event))

    def attach(self, app: MessagePump) -> None:
        self.app = app
        for event in self.held:
            app.post_message(ListenEventReceived(event))
        self.held.clear()


@dataclass
class TargetHealth:
    state: str = "up"
    """``up``, ``down`` or ``paused``: as the receiver last said (up until told otherwise)."""
    reason: str = ""
    pending: int = 0


class ListenHeader(Static):
    """The listen URL and each target's health (up, down, paused) with its pending count."""

    DEFAULT_CSS = "ListenHeader { height: auto; padding: 0 1; }"

    def __init__(self, link: ListenLink, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.link = link
        self.url = ""
        self.storage: tuple[str, str] | None = None
        self.targets = {t.url: TargetHealth() for t in link.settings.forward.all_targets}

    def on_mount(self) -> None:
        self._show()

    def listen_event(self, event: ListenEvent) -> None:
        if isinstance(event, ListenStarted):
            self.url = event.url
        elif isinstance(event, TargetDown):
            health = self.targets.setdefault(event.target, TargetHealth())
            health.state, health.reason = "down", event.reason
        elif isinstance(event, TargetUp):
            health = self.targets.setdefault(event.target, TargetHealth())
            health.state, health.reason = "up", ""
        elif isinstance(event, TargetPaused):
            health = self.targets.setdefault(event.target, TargetHealth())
            health.state, health.reason = "paused", "answered 410 Gone"
        elif isinstance(event, StorageDegraded | StorageLost):
            self.storage = ("lost" if isinstance(event, StorageLost) else "degraded", event.detail)
        elif isinstance(event, StorageRecovered):
            self.storage = None
        else:
            return
        self._show()

    def on_pending_counted(self, message: PendingCounted) -> None:
        for url, health in self.targets.items():
            health.pending = message.pending.get(url, 0)
        self._show()

    def _show(self) -> None:
        text = Text()
        text.append("Receiving on ", style="bold")
        text.append(self.url or "…", style="bold green")
        text.append(f"   db {one_line(str(self.link.settings.db_path))}", style="dim")
        if self.storage is not None:
            how, detail = self.storage
            text.append(
                f"\n✖ storage {how}: {one_line(detail)}; webhooks are answered 503",
                style="bold red",
            )
        if not self.targets:
            text.append("\nForwarding to nobody (store only; listen -f PORT forwards)", style="dim")
        for url, health in self.targets.items():
            mark, style = {
                "up": ("▲", "green"),
                "down": ("▼", "bold red"),
                "paused": ("■", "yellow"),
            }[health.state]
            text.append(f"\n{mark} ", style=style)
            text.append(one_line(url))
            text.append(f"  {health.state}", style=style)
            if health.reason:
                text.append(f" ({one_line(health.reason)})", style="dim")
            text.append(f"  {health.pending} pending", style="yellow" if health.pending else "dim")
        self.update(text)


RunApp = Callable[["WhrelayApp"], Coroutine[Any, Any, object]]
"""How the app is run: in the terminal (``App.run_async``), or under a test's pilot."""


async def listen_with_tui(
    settings: ListenSettings, serve: Serve, run_app: RunApp | None = None
) -> tuple[str | None, int | None]:
    """Run the receiver and the TUI on this loop until the user quits (or a signal stops the
    receiver). The TUI starts once the receiver listens: a port taken or a bad database
    fails as plain ``listen`` fails, before the terminal is taken over. Returns the signal's
    name (if one stopped it) and how many webhooks were stored."""
    from whrelay.tui.app import WhrelayApp

    keys = adapter.listen_keys(settings)
    link = ListenLink(settings, adapter.resign_with_listen(keys) if keys else None)
    stop = asyncio.Event()
    engine = asyncio.create_task(serve(settings, link.emit, stop))
    ready = asyncio.create_task(link.started.wait())
    await asyncio.wait((engine, ready), return_when=asyncio.FIRST_COMPLETED)
    if engine.done():
        ready.cancel()
        return engine.result(), link.stored  # it failed to start: its error, as listen's
    app = WhrelayApp(settings.db_path, listen=link)
    engine.add_done_callback(lambda _: _leave(app))
    try:
        await (run_app or WhrelayApp.run_async)(app)
    finally:
        stop.set()  # as Ctrl-C: answer what is in flight, keep what was acknowledged
        signal_name = await engine
    return signal_name, link.stored


def run_listen(settings: ListenSettings, serve: Serve) -> tuple[str | None, int | None]:
    """``listen --tui`` in the terminal (see ``listen_with_tui``)."""
    return asyncio.run(listen_with_tui(settings, serve))


def _leave(app: WhrelayApp) -> None:
    """The receiver stopped by itself (a signal): the TUI goes too."""
    if app.is_running:
        app.exit()
