"""The list's rows, by position: which are loaded, which to fetch and from where.

The history can hold millions of webhooks; the list shows a screenful. ``History`` keeps the
rows around the viewport by index (0 is the newest), says which ranges are missing and how to
fetch each one with a keyset page from the nearest row whose position it knows (a loaded
row, a remembered anchor, or either end), and places what comes back. Rows far from the
viewport are dropped, so memory does not grow with the history or with how far the user
scrolls.

Narrowed by a ``Query`` (a search, a filter), the rows are the matches found so far by a scan
that goes through the history a bounded step at a time, newest first; the total is what has
been found.

New webhooks arrive at the top: every index shifts down by their number. Fetches under way
carry the shift they were planned at, so their rows land where they belong.

Pure: no Textual, no SQL. ``source.py`` runs the fetches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from whrelay.tui.adapter import Direction, Position, Query, Row

PAGE = 100
"""Rows fetched at a time around the viewport (and the margin kept loaded above and below)."""
KEEP = 1500
"""Rows kept loaded at the most (unnarrowed); those farthest from the viewport go first."""
ANCHOR_EVERY = 1000
"""One position in this many is remembered when its row is dropped: a later jump near it
counts from there rather than from an end."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """How to load rows ``first`` to ``last`` (exclusive): optionally step ``skip`` webhooks
    from ``skip_from`` first (a jump), then a keyset page from ``start`` in ``direction``."""

    first: int
    last: int
    start: Position | None
    direction: Direction
    skip: int = 0
    skip_from: Position | None = None
    skip_direction: Direction = "older"
    generation: int = 0
    shift: int = 0
    """The number of arrivals the indices were counted after."""

    @property
    def limit(self) -> int:
        return self.last - self.first


@dataclass
class History:
    """The rows of the list (see the module docstring)."""

    query: Query = field(default_factory=Query)
    generation: int = 0
    """Bumped on every change of query: results of an older one are dropped."""
    total: int = 0
    """Unnarrowed: the webhooks in the history (counted, then kept up by arrivals).
    Narrowed: the matches found so far."""
    counted: bool = False
    rows: dict[int, Row] = field(default_factory=dict)
    anchors: dict[int, Position] = field(default_factory=dict)
    shift: int = 0
    """Webhooks that arrived at the top since this generation began."""
    newest_id: int = 0
    """The newest webhook shown (or looked at): arrivals are those after it."""
    focus: int = 0
    """The index the user looks at: what eviction keeps closest."""
    in_flight: list[Fetch] = field(default_factory=list)
    # Narrowed by a query:
    scan_from: Position | None = None
    """Where the scan goes on (``None`` with ``scan_done``: it has looked at everything)."""
    scan_done: bool = False
    looked: int = 0
    """Webhooks the scan has looked at."""
    scanning: bool = False
    ids: set[int] = field(default_factory=set)

    @property
    def narrowed(self) -> bool:
        return not self.query.empty

    # --- starting over ----------------------------------------------------------------------------

    def reset(self, query: Query) -> None:
        """Start over for ``query``: nothing loaded, nothing counted, nothing found (the
        newest webhook seen stays what arrivals are counted after)."""
        self.query = query
        self.generation += 1
        self.rows, self.anchors, self.in_flight, self.ids = {}, {}, [], set()
        self.shift = self.focus = self.looked = 0
        self.scan_from, self.scan_done, self.scanning = None, False, False
        self.total, self.counted = 0, False

    def opened(self, rows: Sequence[Row], newest_id: int) -> None:
        """The newest rows, as the history was opened (unnarrowed)."""
        self.newest_id = newest_id
        self.total = max(self.total, len(rows))
        self._place(0, rows)

    def count_known(self, total: int, shift: int) -> None:
        """The history's size, counted when ``shift`` arrivals had been seen."""
        self.total = total + (self.shift - shift)
        self.counted = True

    # --- which rows to fetch ----------------------------------------------------------------------

    def row(self, index: int) -> Row | None:
        return self.rows.get(index)

    def missing(self, first: int, last: int) -> list[tuple[int, int]]:
        """The ranges of indices in ``[first, last)`` that are neither loaded nor being
        fetched (unnarrowed). Until the history is counted, it may go on past the rows known."""
        first, last = max(0, first), min(last, self.total) if self.counted else last
        ranges: list[tuple[int, int]] = []
        begin = None
        for index in range(first, last):
            absent = index not in self.rows and not self._coming(index)
            if absent and begin is None:
                begin = index
            elif not absent and begin is not None:
                ranges.append((begin, index))
                begin = None
        if begin is not None:
            ranges.append((begin, last))
        return ranges

    def _coming(self, index: int) -> bool:
        return any(
            f.first + self.shift - f.shift <= index < f.last + self.shift - f.shift
            for f in self.in_flight
        )

    def plan(self, first: int, last: int) -> Fetch:
        """How to fetch ``[first, last)`` (all missing): from a loaded neighbour, from an end,
        or by stepping from the nearest known position."""
        g, moved = self.generation, self.shift
        if first == 0:
            return Fetch(first, last, None, "older", generation=g, shift=moved)
        if (above := self.position_at(first - 1)) is not None:
            return Fetch(first, last, above, "older", generation=g, shift=moved)
        if last >= self.total:
            return Fetch(first, self.total, None, "newer", generation=g, shift=moved)
        if (below := self.position_at(last)) is not None:
            return Fetch(first, last, below, "newer", generation=g, shift=moved)
        # A jump: step from the nearest position known, above or below.
        known = self._known()
        above_index, above_pos = max(
            ((i, p) for i, p in known if i < first), default=(-1, None), key=lambda k: k[0]
        )
        below_index, below_pos = min(
            ((i, p) for i, p in known if i >= last),
            default=(self.total, None),
            key=lambda k: k[0],
        )
        if first - above_index <= below_index - last + 1:
            # The row just above ``first`` is the (first - above_index)-th after the anchor.
            return Fetch(
                first,
                last,
                None,
                "older",
                skip=first - 1 - above_index,
                skip_from=above_pos,
                generation=g,
                shift=moved,
            )
        return Fetch(
            first,
            last,
            None,
            "newer",
            skip=below_index - last,
            skip_from=below_pos,
            skip_direction="newer",
            generation=g,
            shift=moved,
        )

    def position_at(self, index: int) -> Position | None:
        row = self.rows.get(index)
        return row.position if row is not None else self.anchors.get(index)

    def _known(self) -> list[tuple[int, Position]]:
        known = [(i, r.position) for i, r in self.rows.items()]
        return known + list(self.anchors.items())

    def started(self, fetch: Fetch) -> None:
        self.in_flight.append(fetch)

    def fetched(self, fetch: Fetch, rows: Sequence[Row]) -> bool:
        """Place a fetch's rows (newest first); whether they were for this generation."""
        if fetch in self.in_flight:
            self.in_flight.remove(fetch)
        if fetch.generation != self.generation:
            return False
        moved = self.shift - fetch.shift
        if fetch.direction == "older":
            first = fetch.first + moved
            if len(rows) < fetch.limit:
                # The oldest was reached: the history ends here (webhooks pruned since the
                # count, or a count not made yet).
                self.total = first + len(rows)
        else:
            first = fetch.last + moved - len(rows)
            if first < 0:  # fewer above than counted: they were pruned
                rows, first = rows[-first:], 0
        self._place(first, rows)
        self.evict()
        return True

    def abandoned(self, fetch: Fetch) -> bool:
        """A fetch cancelled before it ran: its rows are to be asked for again."""
        if fetch in self.in_flight:
            self.in_flight.remove(fetch)
        return False

    def _place(self, first: int, rows: Sequence[Row]) -> None:
        for offset, row in enumerate(rows):
            self.rows[first + offset] = row
        if rows:
            self.total = max(self.total, first + len(rows))
            self.newest_id = max([self.newest_id, *(r.id for r in rows)])

    def evict(self) -> None:
        """Drop the rows farthest from the focus, beyond ``KEEP`` (unnarrowed only: matches
        cost a scan to find again)."""
        if self.narrowed or len(self.rows) <= KEEP:
            return
        by_distance = sorted(self.rows, key=lambda i: abs(i - self.focus), reverse=True)
        for index in by_distance[: len(self.rows) - KEEP]:
            row = self.rows.pop(index)
            if index % ANCHOR_EVERY == 0:
                self.anchors[index] = row.position

    # --- arrivals ---------------------------------------------------------------------------------

    def arrived(self, count: int, top: Sequence[Row], newest_id: int) -> None:
        """``count`` webhooks arrived at the top; ``top`` is the history's newest rows now
        (unnarrowed), or the new ones among them that match (narrowed)."""
        if self.narrowed:
            fresh = [row for row in top if row.id not in self.ids]
            self._shift(len(fresh))
            self.ids.update(row.id for row in fresh)
            self._place(0, fresh)
        else:
            self._shift(count)
            self._place(0, top)
        self.newest_id = max(self.newest_id, newest_id)

    def _shift(self, count: int) -> None:
        if not count:
            return
        self.rows = {i + count: row for i, row in self.rows.items()}
        self.anchors = {i + count: p for i, p in self.anchors.items()}
        self.shift += count
        self.total += count
        self.focus += count

    def changed(self, rows: Iterable[Row]) -> list[int]:
        """Fresh rows for webhooks already loaded (their deliveries moved on); the indices
        they are at."""
        fresh = {row.id: row for row in rows}
        touched = []
        for index, row in self.rows.items():
            if row.id in fresh:
                self.rows[index] = fresh[row.id]
                touched.append(index)
        return touched

    def loaded(self) -> list[Row]:
        return list(self.rows.values())

    # --- narrowed: the matches of a scan ----------------------------------------------------------

    def matches_found(
        self, generation: int, rows: Sequence[Row], next_start: Position | None, looked: int
    ) -> bool:
        """Append what one step of the scan found; whether it was for this generation."""
        if generation != self.generation:
            return False
        fresh = [row for row in rows if row.id not in self.ids]
        self.ids.update(row.id for row in fresh)
        self._place(self.total, fresh)
        self.scan_from = next_start
        self.scan_done = next_start is None
        self.looked += looked
        return True

    def wants_more(self, last_visible: int) -> bool:
        """Whether the scan should go on: the user is near the end of the matches found."""
        return (
            self.narrowed
            and not self.scan_done
            and not self.scanning
            and last_visible + PAGE >= self.total
        )
