"""``d``: two webhooks compared (the marked one and the selected one), or, on the Deliveries
tab, what the app answered two attempts (before and after a fix). Unified or side by side;
ids, timestamps and signatures shown but not counted while "ignore volatile fields" is on.
The comparison is worked out and laid out in workers; the screen draws the lines on it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Footer, Select, Static
from textual.worker import get_current_worker

from whrelay.core.models import format_time
from whrelay.tui.adapter import WebhookView
from whrelay.tui.detail import RenderedLines, to_strips
from whrelay.tui.messages import ActionFailed, Compared
from whrelay.tui.source import DataSource
from whrelay.views.compare import Comparison
from whrelay.views.safetext import one_line


class CompareScreen(Screen[None]):
    """A comparison, unified or side by side (``s``), volatile fields counted or not (``i``).
    With ``answers``, two selects above it choose the attempts whose answers are compared."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "close"),
        Binding("s", "side_by_side", "side by side / unified"),
        Binding("i", "ignore_volatile", "count ids, timestamps, signatures or not"),
    ]

    def __init__(
        self,
        comparison: Comparison | None = None,
        *,
        source: DataSource | None = None,
        answers: WebhookView | None = None,
    ) -> None:
        super().__init__()
        self.comparison = comparison
        self.source = source
        self.answers = answers
        self.side_by_side = False
        self.ignore_volatile = True
        self.laid_out = False
        """Whether the comparison shown is laid out (tests wait on it)."""
        self.lines = RenderedLines(id="compare-lines")

    def compose(self) -> ComposeResult:
        with Vertical(id="compare"):
            if self.answers is not None:
                yield Static(Text(self._answers_title(), style="bold"), id="compare-title")
                options = [
                    (f"{one_line(self._label(a.attempt.id))}", a.attempt.id)
                    for a in self.answers.attempts
                ]
                ids = [a.attempt.id for a in self.answers.attempts]
                with Horizontal(id="compare-choice"):
                    yield Select(options, value=ids[0], allow_blank=False, id="compare-left")
                    yield Select(options, value=ids[-1], allow_blank=False, id="compare-right")
            yield Static(id="compare-mode")
            yield self.lines
        yield Footer()

    def _answers_title(self) -> str:
        assert self.answers is not None
        return f"#{self.answers.webhook.id}: what the app answered two attempts"

    def _label(self, attempt_id: int | None) -> str:
        assert self.answers is not None
        for shown in self.answers.attempts:
            if shown.attempt.id == attempt_id:
                a = shown.attempt
                answer = str(a.status) if a.status is not None else (a.error or "error")
                when = format_time(a.started_at)[5:19].replace("T", " ")
                return f"{when}  attempt {shown.number} ({a.trigger})  {answer}"
        return "?"

    def on_mount(self) -> None:
        self._show_mode()
        if self.comparison is not None:
            self._lay_out()
        else:
            self._compare_answers()
        self.lines.focus()

    def _show_mode(self) -> None:
        mode = Text()
        mode.append("side by side" if self.side_by_side else "unified", style="bold")
        mode.append(" (s)  ·  ", style="dim")
        mode.append(
            "ids, timestamps and signatures: shown, not counted"
            if self.ignore_volatile
            else "ids, timestamps and signatures: counted",
            style="bold",
        )
        mode.append(" (i)  ·  Esc closes", style="dim")
        self.query_one("#compare-mode", Static).update(mode)

    # --- what is compared -------------------------------------------------------------------------

    @on(Select.Changed, "#compare-left")
    @on(Select.Changed, "#compare-right")
    def _compare_answers(self) -> None:
        if self.answers is None or self.source is None:
            return
        left = self.query_one("#compare-left", Select).value
        right = self.query_one("#compare-right", Select).value
        if not isinstance(left, int) or not isinstance(right, int):
            return
        self.laid_out = False
        self.source.compare_answers(self.answers, left, right, self)

    def on_compared(self, message: Compared) -> None:
        message.stop()
        self.comparison = message.comparison
        self._lay_out()

    def on_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        self.query_one("#compare-mode", Static).update(Text(message.failure.message, style="red"))

    # --- keys -------------------------------------------------------------------------------------

    def action_side_by_side(self) -> None:
        self.side_by_side = not self.side_by_side
        self._show_mode()
        self._lay_out()

    def action_ignore_volatile(self) -> None:
        self.ignore_volatile = not self.ignore_volatile
        self._show_mode()
        self._lay_out()

    # --- laying out -------------------------------------------------------------------------------

    def _lay_out(self) -> None:
        from whrelay.render.compare import comparison_view

        comparison = self.comparison
        if comparison is None:
            return
        self.laid_out = False
        width = max(40, self.size.width - 2)
        ignore, side = self.ignore_volatile, self.side_by_side

        def work() -> None:
            lines = to_strips(comparison_view(comparison, ignore, side), width)
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._laid_out, lines)

        self.run_worker(work, thread=True, group="compare-lay-out", exclusive=True)

    def _laid_out(self, lines: list[Strip]) -> None:
        self.lines.show(lines)
        self.laid_out = True

    def on_resize(self) -> None:
        self._lay_out()

    def shown_text(self) -> str:
        """The comparison's lines as plain text (what a test reads)."""
        return "\n".join(strip.text for strip in self.lines.lines)
