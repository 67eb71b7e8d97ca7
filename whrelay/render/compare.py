"""A comparison (``views/compare.py``) as Rich renderables: unified (``-``/``+`` lines) or side
by side. Differences in ids, timestamps and signatures are marked ``~`` and dimmed while they
are not counted. The lines are inert already; they go into ``Text`` objects, never markup."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from whrelay.views.compare import Comparison, DiffRow, RowKind, Section

REMOVED, ADDED, VOLATILE, SAME = "red", "green", "yellow dim", ""


def comparison_view(
    comparison: Comparison, ignore_volatile: bool = True, side_by_side: bool = False
) -> RenderableType:
    """The titles of both sides, what the comparison comes to, then each section."""
    head = Text()
    head.append("- ", style=REMOVED)
    head.append(comparison.left_title, style="bold")
    head.append("\n+ ", style=ADDED)
    head.append(comparison.right_title, style="bold")
    summary = Text(comparison.summary(ignore_volatile), style="bold")
    parts: list[RenderableType] = [head, summary]
    for section in comparison.sections:
        parts.append(Text())
        title = Text(section.title, style="bold underline")
        differences = section.differences(ignore_volatile)
        if differences:
            title.append(f"  {differences} changed", style="dim")
        parts.append(title)
        if section.note:
            parts.append(Text(section.note, style="dim italic"))
        parts.append(
            _side_by_side(section, ignore_volatile)
            if side_by_side
            else _unified(section, ignore_volatile)
        )
    return Group(*parts)


def _marks(row: DiffRow, ignore_volatile: bool) -> tuple[str, str, str, str]:
    """The left and right marks and styles of a row."""
    if row.kind is RowKind.SAME:
        return " ", " ", SAME, SAME
    if row.volatile and ignore_volatile:
        return "~", "~", VOLATILE, VOLATILE
    return "-", "+", REMOVED, ADDED


def _unified(section: Section, ignore_volatile: bool) -> Text:
    text = Text()
    for n, row in enumerate(section.rows):
        left_mark, right_mark, left_style, right_style = _marks(row, ignore_volatile)
        lines: list[tuple[str, str, str]] = []
        if row.kind is RowKind.SAME:
            lines.append((" ", row.left or "", SAME))
        else:
            if row.left is not None:
                lines.append((left_mark, row.left, left_style))
            if row.right is not None:
                lines.append((right_mark, row.right, right_style))
        for m, (mark, line, style) in enumerate(lines):
            if n or m:
                text.append("\n")
            text.append(f"{mark} {line}", style=style)
    return text


def _side_by_side(section: Section, ignore_volatile: bool) -> Table:
    table = Table(box=None, show_header=False, expand=True, pad_edge=False, padding=(0, 1))
    table.add_column("left", ratio=1, overflow="fold")
    table.add_column("right", ratio=1, overflow="fold")
    for row in section.rows:
        left_mark, right_mark, left_style, right_style = _marks(row, ignore_volatile)
        left = Text() if row.left is None else Text(f"{left_mark} {row.left}", style=left_style)
        right = (
            Text() if row.right is None else Text(f"{right_mark} {row.right}", style=right_style)
        )
        table.add_row(left, right)
    return table
