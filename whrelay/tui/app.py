"""The terminal UI: the history on top, the selected webhook's tabs below, keys at the bottom."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.containers import Vertical
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from whrelay.core.models import now_micros
from whrelay.tui import adapter
from whrelay.tui.commands import LIST_ACTIONS, WhrelayCommands, bindings
from whrelay.tui.detail import DetailView
from whrelay.tui.history import ColumnHeader, HistoryList, ListStatus
from whrelay.tui.messages import (
    ActionFailed,
    Compared,
    Copied,
    EditOpened,
    EditSent,
    ExportFinished,
    ReplayFinished,
)
from whrelay.tui.source import DataSource
from whrelay.views.safetext import one_line

if TYPE_CHECKING:
    from whrelay.core.models import Attempt
    from whrelay.tui.adapter import Row
    from whrelay.tui.listen import ListenEventReceived, ListenHeader, ListenLink

# The dialogs, and what listen --tui needs, are imported when first used: the first screen
# waits for nothing it does not show.

POLL_INTERVAL = 0.5
"""Seconds between two looks at ``PRAGMA data_version`` (new arrivals, changed deliveries)."""
DETAIL_DELAY = 0.06
"""Seconds the cursor rests on a webhook before its detail is read (holding j reads none)."""


class WhrelayApp(App[None]):
    """``whrelay tui`` (and, with a ``ListenLink``, ``whrelay listen --tui``)."""

    CSS_PATH = "whrelay.tcss"
    TITLE = "whrelay"
    COMMANDS = App.COMMANDS | {WhrelayCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings(),
        Binding("enter", "enter_detail", "open", show=False),
        Binding("escape", "go_back", "back", show=False),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        db: Path,
        *,
        clock: Callable[[], int] = now_micros,
        listen: ListenLink | None = None,
        poll_interval: float = POLL_INTERVAL,
        first_page: tuple[Sequence[Row], int] | None = None,
        tls: adapter.ReplayTls | None = None,
    ) -> None:
        """``first_page``: the newest rows and the newest id, read before the app started
        (``run``), shown on the first frame. ``tls``: how replays dial https targets
        (``whrelay tui --insecure --ca-file``); with ``listen``, as listen forwards."""
        super().__init__()
        self.db = db
        self.clock = clock
        self.link = listen
        self.poll_interval = poll_interval
        self.source = DataSource(self, db)  # type: ignore[arg-type]
        self._detail_timer: Timer | None = None
        # Held, not queried: a query looks in the screen on top (a dialog, the help).
        self.listing = HistoryList(self.source, id="history", first_page=first_page)
        self.detail = DetailView(self.source, self.clock, id="detail")
        self.status_bar = Static(id="status")
        self.search_bar = Input(placeholder="search the path, the query and the body", id="search")
        self.header: ListenHeader | None = None
        if listen is not None:
            from whrelay.tui.listen import ListenHeader

            self.header = ListenHeader(listen, id="listen-header")
        self.source.pending_to = self.header
        if listen is not None:
            self.source.tls = adapter.listen_tls(listen.settings)
        elif tls is not None:
            self.source.tls = tls

    # --- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        if self.header is not None:
            yield self.header
        else:
            title = Text()
            title.append("whrelay", style="bold")
            title.append(f"  {one_line(str(self.db))}", style="dim")
            yield Static(title, id="title-bar")
        with Vertical(id="top"):
            yield ColumnHeader(self.listing, id="columns")
            yield self.listing
        yield self.detail
        yield self.search_bar
        yield self.status_bar
        yield Footer()

    def on_mount(self) -> None:
        self.listing.focus()
        if self.link is not None:
            self.link.attach(self)
        else:
            self.listing.open()
        self.set_interval(self.poll_interval, self.poll)

    def on_unmount(self) -> None:
        self.source.close()

    def poll(self) -> None:
        self.listing.poll()

    # --- what the widgets say ---------------------------------------------------------------------

    def on_history_list_highlighted(self, message: HistoryList.Highlighted) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        webhook_id = message.row.id if message.row is not None else None

        def load() -> None:
            if self.detail.is_mounted:
                self.detail.load(webhook_id)

        self._detail_timer = self.set_timer(DETAIL_DELAY, load)

    def on_history_list_status_changed(self, message: HistoryList.StatusChanged) -> None:
        self.status_bar.update(status_text(message.status, self.listing.cursor))

    def on_action_failed(self, message: ActionFailed) -> None:
        failure = message.failure
        text = f"{failure.what}: {failure.message}"
        if failure.hint:
            text += f"\nhint: {failure.hint}"
        self.notify(text, severity="error", timeout=8, markup=False)

    def on_replay_finished(self, message: ReplayFinished) -> None:
        result = message.result
        lines = []
        for attempt in result.attempts:
            line = f"#{attempt.webhook_id} → {one_line(attempt.url)}  {outcome(attempt)}"
            line += f"  {attempt.duration_us / 1000:.1f} ms"
            if attempt.resigned:
                line += "  re-signed"
            elif attempt.resign_note:
                line += f"  {one_line(attempt.resign_note)}"
            lines.append(line)
        lines += self._hints(result.attempts)
        ok = bool(result.attempts) and all(a.ok for a in result.attempts)
        self.notify(
            "\n".join(lines) or "nothing was sent",
            title="replayed" if ok else "replay failed",
            severity="information" if ok else "warning",
            markup=False,
        )
        if self.detail.webhook_id == result.webhook_id:
            self.detail.reload()
        self.poll()

    def _hints(self, attempts: Sequence[Attempt]) -> list[str]:
        """Under a replay's lines: what to do about a certificate that did not verify."""
        if any(attempt.certificate_rejected for attempt in attempts):
            return [f"hint: {self.source.tls.certificate_hint}"]
        return []

    def on_listen_event_received(self, message: ListenEventReceived) -> None:
        from whrelay.core.events import (
            DeliveryAttempted,
            ListenStarted,
            RequestRefused,
            StorageDegraded,
            StorageLost,
            StorageRecovered,
            TargetDown,
            TargetPaused,
            WebhookReceived,
        )

        event = message.event
        if self.header is not None:
            self.header.listen_event(event)
        if isinstance(event, ListenStarted):
            self.listing.open()
            for warning in event.warnings:
                self.notify(one_line(warning), severity="warning", timeout=10, markup=False)
        elif isinstance(event, WebhookReceived | DeliveryAttempted):
            self.poll()
        elif isinstance(event, TargetDown):
            self.notify(
                f"{one_line(event.target)} is down ({one_line(event.reason)}); "
                "probing every second",
                severity="warning",
                markup=False,
            )
        elif isinstance(event, TargetPaused):
            self.notify(
                f"{one_line(event.target)} answered 410 Gone: paused until listen restarts",
                severity="warning",
                markup=False,
            )
        elif isinstance(event, StorageDegraded | StorageLost):
            self.notify(
                f"storage: {one_line(event.detail)}; webhooks are answered 503",
                severity="error",
                timeout=15,
                markup=False,
            )
        elif isinstance(event, StorageRecovered):
            self.notify("storage commits again", markup=False)
        elif isinstance(event, RequestRefused):
            request = " ".join(one_line(p) for p in (event.method, event.path) if p)
            self.notify(
                f"refused {event.status} {request}: {one_line(event.reason)}",
                severity="warning",
                timeout=4,
                markup=False,
            )

    # --- search and filters -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The list's actions act on the list's screen: over a dialog, the edit screen or a
        # comparison, their keys are that screen's (a slash typed in a body is a slash).
        if action in LIST_ACTIONS and self.screen is not self.screen_stack[0]:
            return isinstance(self.screen, CommandPalette)
        # In a field, a slash is a slash (a secret may hold one).
        return not (action == "search" and isinstance(self.focused, Input))

    def action_search(self) -> None:
        """``/`` (a priority binding: it acts as it arrives, so that what is typed right
        after it goes into the field)."""
        self.search_bar.display = True
        self._focus(self.search_bar)

    def _focus(self, widget: Widget) -> None:
        """Focus ``widget`` now, not after the keys already queued (``Widget.focus`` waits
        for them): what is typed right after ``/`` goes into the search field."""
        self.screen.set_focus(widget)

    @on(Input.Changed, "#search")
    def search_changed(self, event: Input.Changed) -> None:
        query = self.listing.model.query.with_search(event.value)
        if query != self.listing.model.query:
            self.listing.open(query)

    @on(Input.Submitted, "#search")
    def search_submitted(self) -> None:
        self._focus(self.listing)

    def action_filter(self) -> None:
        from whrelay.tui.screens import FilterScreen

        def chosen(query: adapter.Query | None) -> None:
            if query is not None and query != self.listing.model.query:
                self.listing.open(query)

        self.push_screen(FilterScreen(self.listing.model.query, adapter.known_providers()), chosen)

    def action_go_back(self) -> None:
        """Esc: out of the search field (clearing the search), out of the tabs, then stop a
        scan, then clear the search and filters."""
        bar = self.search_bar
        focused = self.focused
        if focused is bar:
            bar.value = ""
            bar.display = False
            self._focus(self.listing)
            return
        if focused is not None and focused is not self.listing:
            self._focus(self.listing)
            return
        if self.listing.stop_scan():
            return
        if not self.listing.model.query.empty:
            bar.value = ""
            bar.display = False
            self.listing.open(adapter.Query())

    # --- the selected webhook ---------------------------------------------------------------------

    def _selected(self) -> int | None:
        row = self.listing.current()
        if row is None:
            self.notify("No webhook selected.", severity="warning")
            return None
        return row.id

    def action_enter_detail(self) -> None:
        self.detail.focus_tab()

    def action_show_tab(self, name: str) -> None:
        self.detail.show_tab(name)

    def action_toggle_raw(self) -> None:
        self.detail.action_toggle_raw()

    def action_replay(self) -> None:
        webhook_id = self._selected()
        if webhook_id is not None:
            self.notify(f"replaying #{webhook_id} to its targets…", timeout=2)
            self.source.replay(webhook_id, self)

    def action_forward(self) -> None:
        from whrelay.tui.screens import TargetPrompt

        webhook_id = self._selected()
        if webhook_id is None:
            return

        def chosen(target: str | None) -> None:
            if target:
                self.notify(f"forwarding #{webhook_id}…", timeout=2)
                self.source.replay(webhook_id, self, to=target)

        prompt = TargetPrompt(webhook_id, self._check_target, self.source.tls.allow_remote)
        self.push_screen(prompt, chosen)

    def _check_target(self, text: str, done: Callable[[Text | None], None]) -> None:
        from whrelay.tui.screens import error_text

        self.source.check_target(
            text, lambda error: done(None if error is None else error_text(error))
        )

    def action_replay_resigned(self) -> None:
        from whrelay.tui.screens import ResignPrompt

        webhook_id = self._selected()
        if webhook_id is None:
            return
        listen = self.link.resign if self.link is not None else None

        def chosen(resign: adapter.Resign | None) -> None:
            if resign is not None:
                self.notify(f"replaying #{webhook_id} re-signed…", timeout=2)
                self.source.replay(webhook_id, self, resign=resign)

        row = self.listing.current()
        provider = row.summary.provider if row is not None else None
        prompt = ResignPrompt(webhook_id, listen, self.detail.secret_at_hand, provider)
        self.push_screen(prompt, chosen)

    # --- copy, export, mark, compare, edit ------------------------------------------------------

    def action_copy(self, what: str = "curl") -> None:
        """``c``: the selected webhook as a curl command, to the clipboard (OSC 52)."""
        webhook_id = self._selected()
        if webhook_id is not None:
            self.source.copy(webhook_id, what, self)

    def action_copy_as(self) -> None:
        """``C``: a menu of what to copy it as."""
        from whrelay.tui.transfer import CopyMenu

        webhook_id = self._selected()
        if webhook_id is None:
            return

        def chosen(what: str | None) -> None:
            if what:
                self.source.copy(webhook_id, what, self)

        self.push_screen(CopyMenu(webhook_id), chosen)

    def on_copied(self, message: Copied) -> None:
        self.copy_to_clipboard(message.text)
        self.notify(
            f"#{message.webhook_id} copied as {message.what} ({len(message.text):,} characters)",
            title="copied to the clipboard",
            timeout=4,
            markup=False,
        )

    def action_export(self) -> None:
        """``E``: the selected, the marked or the listed webhooks, to a file."""
        from whrelay.tui.transfer import ExportScreen

        row = self.listing.current()

        def done(finished: ExportFinished | None) -> None:
            if finished is not None:
                self.notify(
                    f"{finished.count:,} webhook(s) written to {one_line(str(finished.path))}",
                    title="exported",
                    markup=False,
                )

        screen = ExportScreen(
            self.source,
            row.id if row is not None else None,
            list(self.listing.marks),
            self.listing.model.query,
        )
        self.push_screen(screen, done)

    def action_mark(self) -> None:
        """``m``: mark the selected webhook (or unmark it)."""
        if self.listing.toggle_mark() is None:
            self.notify("No webhook selected.", severity="warning")

    def action_diff(self) -> None:
        """``d``: the marked webhook against the selected one; on the Deliveries tab, what the
        app answered two of the selected webhook's attempts."""
        if self.detail.tabs.active == "deliveries":
            self._diff_answers()
            return
        webhook_id = self._selected()
        if webhook_id is None:
            return
        others = [marked for marked in self.listing.marks if marked != webhook_id]
        if not others:
            self.notify(
                "Mark a webhook with m first, then select another and press d.",
                severity="warning",
                markup=False,
            )
            return
        self.source.compare(others[-1], webhook_id, self)

    def _diff_answers(self) -> None:
        from whrelay.tui.compare import CompareScreen

        view = self.detail.view
        row = self.listing.current()
        if view is None or row is None or view.webhook.id != row.id:
            self.notify("Its detail is still loading.", severity="warning")
            return
        if len(view.attempts) < 2:
            self.notify(
                f"#{view.webhook.id} has {len(view.attempts)} attempt(s): two are compared "
                "(r replays it, to make another).",
                severity="warning",
                markup=False,
            )
            return
        self.push_screen(CompareScreen(source=self.source, answers=view))

    def on_compared(self, message: Compared) -> None:
        from whrelay.tui.compare import CompareScreen

        self.push_screen(CompareScreen(message.comparison))

    def action_edit(self) -> None:
        """``e``: the selected webhook in the edit screen."""
        webhook_id = self._selected()
        if webhook_id is not None:
            self.source.open_edit(webhook_id, self)

    def on_edit_opened(self, message: EditOpened) -> None:
        from whrelay.tui.edit import EditScreen, SendOrder

        listen = self.link.resign if self.link is not None else None

        def send(order: SendOrder | None) -> None:
            if order is not None:
                review, unverified = order
                self.notify(f"storing and sending the edit of #{review.original_id}…", timeout=2)
                self.source.send_edited(review, unverified, self)

        screen = EditScreen(message.start, self.source, listen, self.detail.secret_at_hand)
        self.push_screen(screen, send)

    def on_edit_sent(self, message: EditSent) -> None:
        result = message.result
        lines = [f"stored as #{result.copy_id}, edited from #{result.original_id}"]
        for attempt in result.attempts:
            line = f"→ {one_line(attempt.url)}  {outcome(attempt)}"
            if attempt.resigned:
                line += "  re-signed"
            elif attempt.resign_note:
                line += f"  {one_line(attempt.resign_note)}"
            lines.append(line)
        lines += self._hints(result.attempts)
        ok = bool(result.attempts) and all(a.ok for a in result.attempts)
        self.notify(
            "\n".join(lines),
            title="edit sent" if ok else "edit stored; sending failed",
            severity="information" if ok else "warning",
            timeout=8,
            markup=False,
        )
        self.poll()

    def action_help(self) -> None:
        from whrelay.tui.screens import HelpScreen

        self.push_screen(HelpScreen())


def outcome(attempt: Attempt) -> str:
    """What came of a replay's attempt: the status answered, or the error and its detail."""
    if attempt.status is not None:
        return str(attempt.status)
    said = attempt.error or "error"
    if attempt.error_detail:
        detail = one_line(attempt.error_detail)
        said += f" ({detail[:77] + '…' if len(detail) > 80 else detail})"
    return said


def status_text(status: ListStatus, cursor: int) -> Text:
    """The line above the keys: following or paused, where the cursor is, what a search is
    doing."""
    text = Text()
    if not status.opened:
        text.append("reading the history…", style="dim")
        return text
    if status.query.empty:
        if status.following:
            text.append("● following", style="bold green")
        else:
            text.append("❚❚ paused", style="bold yellow")
            if status.new_above:
                text.append(f" · {status.new_above:,} new above", style="yellow")
            text.append(" · g: back to the newest", style="dim")
        total = f"{status.total:,}" if status.counted else f"{status.total:,}+"
        text.append(f"   {min(cursor + 1, status.total):,} of {total} webhooks", style="")
        return _marked(text, status)
    text.append(one_line(status.query.describe()), style="bold")
    text.append(f"   {status.total:,} match" + ("" if status.total == 1 else "es"))
    if status.scanning:
        text.append(f" · searching… (looked at {status.looked:,}) · Esc stops", style="yellow")
    elif status.scan_done:
        text.append(" in the whole history", style="dim")
    else:
        text.append(
            f" among the newest {status.looked:,}; scroll on to search further", style="dim"
        )
    if status.total:
        text.append(f" · {min(cursor + 1, status.total):,} of {status.total:,}", style="dim")
    text.append(" · Esc clears", style="dim")
    return _marked(text, status)


def _marked(text: Text, status: ListStatus) -> Text:
    if status.marked:
        text.append(f"   ✓ {status.marked:,} marked", style="bold yellow")
    return text
