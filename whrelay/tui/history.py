"""The list of webhooks: a Line-API widget over the whole history, newest first.

Only the rows on screen are drawn, and only the rows around them are loaded (``model.py``
decides which, ``source.py`` fetches them): the scrollbar spans the whole history, whatever
its size. Everything shown from a webhook is made inert first (``one_line``): markup stays
text, control characters show as escapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from whrelay.core.models import format_time
from whrelay.tui.adapter import Query, Row
from whrelay.tui.messages import (
    ActionFailed,
    DeliveriesChanged,
    HistoryCounted,
    HistoryOpened,
    MatchesFound,
    RowsFetched,
    ScanStopped,
    WebhooksArrived,
)
from whrelay.tui.model import PAGE, History
from whrelay.tui.source import DataSource
from whrelay.views.safetext import one_line


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int
    right: bool = False


FIXED = {
    "id": Column("ID", 7, right=True),
    "time": Column("RECEIVED (UTC)", 14),
    "method": Column("METHOD", 6),
    "signature": Column("SIGNATURE", 10),
    "dup": Column("DUP", 3),
    "delivery": Column("DELIVERY", 15),  # "pending refused", "failed timeout"
    "size": Column("SIZE", 9, right=True),
}
ORDER = ("id", "time", "method", "path", "event", "signature", "dup", "delivery", "size")


def layout(width: int) -> list[tuple[str, Column]]:
    """The columns at ``width`` cells: the fixed ones whole, the path and the event sharing
    the rest (the path more), one space between columns."""
    fixed = sum(c.width for c in FIXED.values()) + len(ORDER) - 1
    spare = max(16, width - fixed)
    event = max(8, spare // 2)
    columns = {**FIXED, "path": Column("PATH", spare - event), "event": Column("EVENT", event)}
    return [(name, columns[name]) for name in ORDER]


GREEN, RED, YELLOW, DIM = (
    Style(color="green"),
    Style(color="red", bold=True),
    Style(color="yellow"),
    Style(dim=True),
)
CYAN, MAGENTA = Style(color="cyan"), Style(color="magenta")


def signature_cell(row: Row) -> tuple[str, Style | None]:
    """``valid``, ``invalid``, ``unverified`` (a scheme named, no check made), or ``-``
    (no scheme recognized)."""
    s = row.summary
    if s.verdict == "valid":
        return "valid", GREEN
    if s.verdict == "invalid":
        return "invalid", RED
    if s.scheme:
        return "unverified", DIM
    return "-", DIM


def delivery_cell(row: Row) -> tuple[str, Style | None]:
    """Where the deliveries stand, as ``list`` says it: ``delivered 200``, ``failed 500``,
    ``failed refused``, ``pending 503``; ``-`` when never forwarded."""
    state = row.standing.state
    if state is None:
        return "-", DIM
    style = {"delivered": GREEN, "failed": RED, "pending": YELLOW, "cancelled": DIM}.get(state)
    return str(row.standing), style


MARKED = Style(color="yellow", bold=True, reverse=True)


def cells(row: Row, marked: bool = False) -> dict[str, tuple[str, Style | None]]:
    """What each column shows for ``row``, made inert; a marked row's id has a ``✓`` (when it
    fits) and stands out."""
    from whrelay.render.webhooks import human_size, kind  # after the first screen

    s = row.summary
    shown = str(s.id)
    if marked and len(shown) <= FIXED["id"].width - 2:
        shown = f"✓ {shown}"
    return {
        "id": (shown, MARKED if marked else CYAN),
        "time": (format_time(s.received_at)[5:19].replace("T", " "), DIM),
        "method": (one_line(s.method), None),
        "path": (one_line(s.target), None),
        "event": (one_line(kind(s)), MAGENTA),
        "signature": signature_cell(row),
        "dup": ("dup", YELLOW) if s.duplicate_of else ("", None),
        "delivery": delivery_cell(row),
        "size": (human_size(s.size), DIM),
    }


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` in exactly ``width`` cells: cut with an ellipsis, or padded."""
    if cell_len(text) > width:
        return set_cell_size(text, max(0, width - 1)) + "…" if width else ""
    return text.rjust(width) if right else set_cell_size(text, width)


def line_segments(
    values: Mapping[str, tuple[str, Style | None]], width: int, base: Style
) -> list[Segment]:
    segments: list[Segment] = []
    for n, (name, column) in enumerate(layout(width)):
        if n:
            segments.append(Segment(" ", base))
        text, style = values[name]
        segments.append(
            Segment(fit(text, column.width, column.right), base + style if style else base)
        )
    used = sum(segment.cell_length for segment in segments)
    if used < width:
        segments.append(Segment(" " * (width - used), base))
    return segments


class ColumnHeader(Widget):
    """The titles above the list, laid out as its rows are."""

    DEFAULT_CSS = "ColumnHeader { height: 1; }"

    def __init__(self, listing: HistoryList, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.listing = listing

    def render_line(self, y: int) -> Strip:
        width = self.listing.row_width or self.size.width
        titles = {name: (column.title, None) for name, column in layout(width)}
        segments = line_segments(titles, width, self.rich_style + Style(bold=True))
        return Strip(segments).crop_extend(0, self.size.width, self.rich_style)


class HistoryList(ScrollView, can_focus=True):
    """The webhooks, newest first (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "down", show=False),
        Binding("k,up", "cursor_up", "up", show=False),
        Binding("g,home", "newest", "newest", show=False),
        Binding("G,end", "oldest", "oldest", show=False),
        Binding("pagedown", "page_down", "page down", show=False),
        Binding("pageup", "page_up", "page up", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"history-list--cursor", "history-list--placeholder"}
    DEFAULT_CSS = """
    HistoryList { overflow-x: hidden; scrollbar-gutter: stable; }
    HistoryList > .history-list--cursor { background: $primary 25%; text-style: bold; }
    HistoryList:focus > .history-list--cursor { background: $primary 55%; }
    HistoryList > .history-list--placeholder { color: $text-muted; }
    """

    class Highlighted(Message):
        """The cursor is on another webhook (``None``: on none: the list is empty)."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    class StatusChanged(Message):
        """Following or paused, how many rows, what a scan is doing."""

        def __init__(self, status: ListStatus) -> None:
            super().__init__()
            self.status = status

    def __init__(
        self,
        source: DataSource,
        *,
        id: str | None = None,
        first_page: tuple[Sequence[Row], int] | None = None,
    ) -> None:
        super().__init__(id=id)
        self.first_page = first_page
        """The newest rows, read before the app started: shown on the first frame."""
        self.source = source
        self.model = History()
        self.cursor = 0
        self.new_above = 0
        """Webhooks that arrived above while following was paused."""
        self.opened = False
        self._strips: LRUCache[tuple[int, int, bool, bool, Row], Strip] = LRUCache(256)
        self.marks: dict[int, None] = {}
        """The webhooks marked (``m``), in the order marked: ``d`` compares the last one with
        the selected one, ``E`` exports them."""
        self._check_scheduled = False
        self._highlighted: int | None = None

    # --- what the list is showing -----------------------------------------------------------------

    @property
    def following(self) -> bool:
        """On the newest row, at the top: new webhooks come into view and are selected."""
        return self.cursor == 0 and round(self.scroll_y) == 0

    def current(self) -> Row | None:
        return self.model.row(self.cursor)

    def status(self) -> ListStatus:
        m = self.model
        return ListStatus(
            total=m.total,
            counted=m.counted or m.narrowed,
            following=self.following,
            new_above=self.new_above,
            query=m.query,
            scanning=m.scanning,
            scan_done=m.scan_done,
            looked=m.looked,
            opened=self.opened,
            marked=len(self.marks),
        )

    def _status_changed(self) -> None:
        self.post_message(self.StatusChanged(self.status()))

    # --- opening, narrowing -----------------------------------------------------------------------

    def open(self, query: Query | None = None) -> None:
        """Show the whole history (or what ``query`` narrows it to) from the newest."""
        self.model.reset(query if query is not None else self.model.query)
        self.source.stop_scan()
        self.cursor = self.new_above = 0
        self._strips.clear()
        self.scroll_to(y=0, animate=False)
        self._sized()
        if self.model.narrowed:
            self._scan_more(PAGE * 2)
        elif self.first_page is not None:
            rows, newest = self.first_page
            self.first_page = None
            self.model.opened(rows, newest)
            self.opened = True
            self._changed()
            self._highlight()
            self.source.count_history(self.model.generation, self, newest)
        else:
            self.source.open_history(self.model.generation, self, top=PAGE + self.size.height)
        self._status_changed()

    def stop_scan(self) -> bool:
        """Stop a scan under way (``Esc``); whether one was."""
        if not self.model.scanning:
            return False
        self.source.stop_scan()
        self.model.scanning = False
        self._status_changed()
        return True

    def _scan_more(self, want: int) -> None:
        self.model.scanning = True
        self.source.scan(self.model.generation, self.model.query, self.model.scan_from, want, self)

    def poll(self) -> None:
        if not self.opened:
            return
        loaded = [row.summary for row in self.model.loaded()]
        self.source.poll(
            self.model.generation, self.model.newest_id, self.model.query, loaded, self
        )

    # --- results ----------------------------------------------------------------------------------

    def on_history_opened(self, message: HistoryOpened) -> None:
        if message.generation != self.model.generation:
            return
        self.model.opened(message.rows, message.newest_id)
        self.opened = True
        self._changed()
        self._highlight()

    def on_history_counted(self, message: HistoryCounted) -> None:
        if message.generation != self.model.generation:
            return
        self.model.count_known(message.total, message.shift)
        self._changed()

    def on_rows_fetched(self, message: RowsFetched) -> None:
        if message.complete:
            placed = self.model.fetched(message.fetch, message.rows)
        else:
            placed = self.model.abandoned(message.fetch)
        if placed:
            self._changed()
            self._highlight()
        else:
            self._schedule_check()

    def on_matches_found(self, message: MatchesFound) -> None:
        if not self.model.matches_found(
            message.generation, message.rows, message.next_start, message.looked
        ):
            return
        self.opened = True
        self._changed()
        self._highlight()

    def on_scan_stopped(self, message: ScanStopped) -> None:
        if message.generation == self.model.generation:
            self.model.scanning = False
            self._changed()

    def on_webhooks_arrived(self, message: WebhooksArrived) -> None:
        if message.generation != self.model.generation:
            return
        following = self.following
        before = self.model.total
        self.model.arrived(message.count, message.top, message.newest_id)
        added = self.model.total - before
        self._sized()
        if following or not added:
            self.model.focus = 0
        else:
            # Paused: the same rows stay under the cursor and on screen.
            self.new_above += added
            self.cursor += added
            self.scroll_to(y=self.scroll_y + added, animate=False)
        self._strips.clear()
        self._changed()
        self._highlight()

    def on_deliveries_changed(self, message: DeliveriesChanged) -> None:
        if self.model.changed(message.rows):
            self.refresh()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.model.scanning = False
        self.opened = True
        self._status_changed()

    def _changed(self) -> None:
        self._sized()
        self.refresh()
        self._schedule_check()
        self._status_changed()

    @property
    def row_width(self) -> int:
        """Cells a row takes: the width less the scrollbar's."""
        return self.scrollable_content_region.width

    def _sized(self) -> None:
        height = self.model.total
        if not self.model.narrowed and not self.model.counted:
            height = max(height, len(self.model.rows))
        self.virtual_size = Size(self.row_width, height)
        if self.cursor >= height:
            self.cursor = max(0, height - 1)

    # --- loading what the screen needs ------------------------------------------------------------

    def _schedule_check(self) -> None:
        if not self._check_scheduled:
            self._check_scheduled = True
            self.call_after_refresh(self._check_rows)

    def _check_rows(self) -> None:
        """Fetch what the viewport (and a page around it) lacks; go on with a scan when the
        user nears the end of its matches."""
        self._check_scheduled = False
        if not self.opened:
            return
        top = round(self.scroll_y)
        bottom = top + self.size.height
        model = self.model
        model.focus = self.cursor
        if model.narrowed:
            if model.wants_more(bottom):
                self._scan_more(PAGE * 2)
                self._status_changed()
            return
        ranges = model.missing(top - PAGE // 2, bottom + PAGE // 2)
        if not ranges:
            return
        # Rows on screen first; the margins after.
        ranges.sort(key=lambda r: 0 if r[0] < bottom and r[1] > top else 1)
        model.in_flight.clear()  # a newer round cancels the last one's fetches not begun
        fetches = [model.plan(first, last) for first, last in ranges]
        for fetch in fetches:
            model.started(fetch)
        self.source.fetch(fetches, self)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._schedule_check()
        if round(old) != round(new):
            self._status_changed()

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self._sized()
        self._schedule_check()
        self.screen.query(ColumnHeader).refresh()

    # --- drawing ----------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        width = self.row_width
        base = self.rich_style
        if index >= self.virtual_size.height:
            return Strip.blank(width, base)
        row = self.model.row(index)
        if row is None:
            self._schedule_check()
            style = self.get_component_rich_style("history-list--placeholder")
            return Strip([Segment(fit("      ·", width), base + style)], width)
        selected = index == self.cursor
        marked = row.id in self.marks
        key = (index, width, selected, marked, row)
        strip = self._strips.get(key)
        if strip is None:
            style = base
            if selected:
                style = base + self.get_component_rich_style("history-list--cursor")
            strip = Strip(line_segments(cells(row, marked), width, style), width)
            self._strips[key] = strip
        return strip

    # --- moving -----------------------------------------------------------------------------------

    def move_to(self, index: int) -> None:
        last = max(0, self.virtual_size.height - 1)
        index = max(0, min(index, last))
        previous = self.cursor
        self.cursor = index
        self.model.focus = index
        height = max(1, self.size.height)
        top = round(self.scroll_y)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)
        if self.following:
            self.new_above = 0
        self.refresh_line(previous)
        self.refresh_line(index)
        self._schedule_check()
        self._status_changed()
        self._highlight()

    def _highlight(self) -> None:
        row = self.current()
        key = row.id if row is not None else None
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.Highlighted(row))

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_page_down(self) -> None:
        height = max(1, self.size.height)
        self.scroll_to(y=self.scroll_y + height, animate=False)
        self.move_to(self.cursor + height)

    def action_page_up(self) -> None:
        height = max(1, self.size.height)
        self.scroll_to(y=max(0, self.scroll_y - height), animate=False)
        self.move_to(self.cursor - height)

    def action_newest(self) -> None:
        """``g``: the newest webhook, at the top; following resumes."""
        self.scroll_to(y=0, animate=False)
        self.move_to(0)

    def action_oldest(self) -> None:
        """``G``: the oldest webhook (narrowed: the last match found so far)."""
        self.move_to(self.virtual_size.height - 1)

    def toggle_mark(self) -> bool | None:
        """``m``: mark the selected webhook, or unmark it; whether it is marked now (``None``:
        none is selected)."""
        row = self.current()
        if row is None:
            return None
        if row.id in self.marks:
            del self.marks[row.id]
        else:
            self.marks[row.id] = None
        self.refresh_line(self.cursor)
        self._status_changed()
        return row.id in self.marks

    def on_click(self, event: events.Click) -> None:
        self.move_to(round(self.scroll_y) + event.y)


@dataclass(frozen=True, slots=True)
class ListStatus:
    total: int
    counted: bool
    following: bool
    new_above: int
    query: Query
    scanning: bool
    scan_done: bool
    looked: int
    opened: bool
    marked: int = 0
