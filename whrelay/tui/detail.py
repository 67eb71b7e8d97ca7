"""The selected webhook in detail, in tabs: Request, Deliveries, Signature.

A webhook's body may be 25 MiB: it is read in a worker (``source.py``), laid out by Rich in
another (``to_strips``) and cut for display with a note; the tab draws only the lines on
screen. The event loop never waits on either.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import ClassVar

from rich.console import Console, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Button, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from whrelay.core.models import now_micros
from whrelay.tui.adapter import WebhookView
from whrelay.tui.messages import ActionFailed, VerifyFinished, WebhookLoaded
from whrelay.tui.source import DataSource

TABS = ("request", "deliveries", "signature")


def to_strips(renderable: RenderableType, width: int) -> list[Strip]:
    """``renderable`` laid out at ``width`` cells as lines (in a worker: Rich is slow on
    big bodies, and a private console makes it safe off the loop)."""
    console = Console(
        width=width,
        file=io.StringIO(),
        color_system="truecolor",
        force_terminal=True,
        legacy_windows=False,
        highlight=False,
        markup=False,
        emoji=False,
    )
    lines = console.render_lines(renderable, console.options.update_width(width), pad=False)
    plain = Style()  # every segment styled: Textual's filters (NO_COLOR) read each one's style
    return [
        Strip([Segment(text, style or plain) for text, style, _ in Segment.simplify(line)])
        for line in lines
    ]


class RenderedLines(ScrollView, can_focus=True):
    """Lines laid out off the loop; only those on screen are drawn."""

    DEFAULT_CSS = "RenderedLines { height: 1fr; scrollbar-gutter: stable; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Strip] = []

    def show(self, lines: list[Strip], keep_scroll: bool = False) -> None:
        self.lines = lines
        width = max((line.cell_length for line in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if not keep_scroll:
            self.scroll_to(0, 0, animate=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if index >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        x = round(self.scroll_x)
        base = self.rich_style  # under every segment: the widget's colours where Rich set none
        return self.lines[index].crop_extend(x, x + width, base).apply_style(base)


class SignaturePane(Vertical):
    """The verdict on arrival, and ``verify`` again with a secret typed in (masked, kept in
    this screen only: never stored, logged or shown)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrival = Static(id="arrival")
        self.secret = Input(
            password=True,
            placeholder="secret: verify again (kept in memory, never stored)",
            id="secret",
        )
        self.verification = Static(id="verification")

    def compose(self) -> ComposeResult:
        yield self.arrival
        with Horizontal(id="verify-row"):
            yield self.secret
            yield Button("Verify again", id="verify")
        yield self.verification


class DetailView(Vertical):
    """The tabs of the selected webhook."""

    BINDINGS: ClassVar[list[BindingType]] = [("v", "toggle_raw", "raw/pretty")]

    def __init__(
        self,
        source: DataSource,
        clock: Callable[[], int] = now_micros,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.source = source
        self.clock = clock
        self.view: WebhookView | None = None
        self.raw = False
        self.webhook_id: int | None = None
        self.laid_out: int | None = None
        """The webhook whose Request and Deliveries tabs are laid out (tests wait on it)."""
        self._done: set[str] = set()
        self.secret_at_hand: str | None = None
        """The last secret typed in that verified this session's webhooks (for ``R``)."""
        # Held, not queried: messages may still come while the app is closing.
        self.title = Static(Text("No webhook selected.", style="dim"), id="detail-title")
        self.tabs = TabbedContent(id="tabs")
        self.request_lines = RenderedLines(id="request-lines")
        self.deliveries_lines = RenderedLines(id="deliveries-lines")
        self.signature = SignaturePane()

    def compose(self) -> ComposeResult:
        yield self.title
        with self.tabs:
            with TabPane("Request", id="request"):
                yield self.request_lines
            with TabPane("Deliveries", id="deliveries"):
                yield self.deliveries_lines
            with TabPane("Signature", id="signature"):
                yield self.signature

    # --- loading ----------------------------------------------------------------------------------

    def load(self, webhook_id: int | None) -> None:
        """Show webhook ``webhook_id`` (read in a worker); ``None``: nothing selected."""
        if webhook_id != self.webhook_id:
            self._done.clear()
            self.laid_out = None
        self.webhook_id = webhook_id
        if webhook_id is None:
            self.view = None
            self.title.update(Text("No webhook.", style="dim"))
            for lines in (self.request_lines, self.deliveries_lines):
                lines.show([])
            return
        if self.view is None or self.view.webhook.id != webhook_id:
            self.title.update(Text(f"#{webhook_id}  loading…", style="dim"))
        self.source.load_webhook(webhook_id, self)

    def reload(self) -> None:
        if self.webhook_id is not None:
            self.source.load_webhook(self.webhook_id, self)

    def on_webhook_loaded(self, message: WebhookLoaded) -> None:
        if message.view.webhook.id != self.webhook_id:
            return
        fresh = self.view is None or self.view.webhook.id != self.webhook_id
        self.view = message.view
        self._render_all(keep_scroll=not fresh)
        if fresh:
            self.signature.verification.update("")

    def on_action_failed(self, message: ActionFailed) -> None:
        failure = message.failure
        text = Text(failure.message, style="red")
        if failure.hint:
            text.append(f"\n  hint: {failure.hint}", style="yellow")
        (self.signature.verification if failure.what == "verify" else self.title).update(text)
        message.stop()  # said here; not again as a notification

    def on_resize(self) -> None:
        if self.view is not None:
            self._render_all(keep_scroll=True)

    def _width(self) -> int:
        """Cells a line of a tab takes: the pane's width less its padding and scrollbar."""
        return max(20, self.size.width - 4)

    def _render_all(self, keep_scroll: bool) -> None:
        from whrelay.render.detail import arrival_verdict, deliveries_view, title_line

        view = self.view
        if view is None:
            return
        webhook = view.webhook
        self.title.update(title_line(webhook, self.clock(), view.edit_note))
        self.signature.arrival.update(arrival_verdict(webhook))
        self._lay_out(self.request_lines, lambda: self._request(view), keep_scroll)
        self._lay_out(self.deliveries_lines, lambda: deliveries_view(view, full=True), keep_scroll)

    def _request(self, view: WebhookView) -> RenderableType:
        from whrelay.render.detail import request_view

        return request_view(view.webhook, raw=self.raw)

    def _lay_out(
        self, target: RenderedLines, build: Callable[[], RenderableType], keep_scroll: bool = False
    ) -> None:
        width = self._width()
        webhook_id = self.webhook_id

        def work() -> None:
            lines = to_strips(build(), width)
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._laid_out, target, webhook_id, lines, keep_scroll)

        group = f"lay-out-{target.id}"
        self.run_worker(work, thread=True, group=group, exclusive=True, exit_on_error=False)

    def _laid_out(
        self, target: RenderedLines, webhook_id: int | None, lines: list[Strip], keep: bool
    ) -> None:
        if webhook_id == self.webhook_id:
            target.show(lines, keep_scroll=keep)
            self._done.add(str(target.id))
            if self._done >= {"request-lines", "deliveries-lines"}:
                self.laid_out = webhook_id

    # --- keys -------------------------------------------------------------------------------------

    def action_toggle_raw(self) -> None:
        self.raw = not self.raw
        self.tabs.get_tab("request").label = "Request (raw)" if self.raw else "Request"
        if self.view is not None:
            view = self.view
            self._lay_out(self.request_lines, lambda: self._request(view))

    def show_tab(self, name: str) -> None:
        self.tabs.active = name

    def focus_tab(self) -> None:
        """Enter: into the tab shown (the secret field on the Signature tab)."""
        active = self.tabs.active
        if active == "signature":
            self.signature.secret.focus()
        else:
            (self.request_lines if active == "request" else self.deliveries_lines).focus()

    # --- verify again -----------------------------------------------------------------------------

    @on(Input.Submitted, "#secret")
    @on(Button.Pressed, "#verify")
    def verify_again(self) -> None:
        field = self.signature.secret
        secret = field.value
        out = self.signature.verification
        if self.view is None:
            return
        if not secret:
            out.update(Text("Type the signing secret first.", style="yellow"))
            return
        out.update(Text("verifying…", style="dim"))
        self.source.verify(self.view.webhook, secret, self)

    def on_verify_finished(self, message: VerifyFinished) -> None:
        from whrelay.render.detail import verification_view

        result = message.result
        field = self.signature.secret
        if result.valid:
            self.secret_at_hand = field.value
        field.value = ""  # not kept on screen once used
        text = verification_view(
            result.valid, result.reason.value, result.scheme, result.detail, result.hints
        )
        self.signature.verification.update(text)
