"""How the TUI looks: SVG snapshots of the list, each detail tab, the help screen and
``listen --tui``, on the seeded history (fixed ids and times), a fixed clock and a 120x40
terminal. They change with any change of layout, and with any Textual release (textual is
pinned to a minor range for that reason). After a deliberate change, look at the report, then
``pytest tests/unit/tui/test_app_snapshots.py --snapshot-update``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from textual.pilot import Pilot

from tests.helpers.tui import TUI_NOW, seed_tui
from tests.helpers.wait import pilot_until
from whrelay.core.config import ForwardSettings, ListenSettings
from whrelay.core.events import ListenStarted, TargetDown
from whrelay.core.targets import parse_target
from whrelay.tui.app import WhrelayApp
from whrelay.tui.listen import ListenLink

pytestmark = pytest.mark.slow

SIZE = (120, 40)


class SnapCompare(Protocol):
    def __call__(
        self,
        app: WhrelayApp,
        press: tuple[str, ...] = (),
        terminal_size: tuple[int, int] = (80, 24),
        run_before: Callable[[Pilot[Any]], Awaitable[None]] | None = None,
    ) -> bool: ...


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seeded history, named by a relative path: the title shows it, the same each run."""
    monkeypatch.chdir(tmp_path)
    seed_tui(Path("tui.db"), target="http://127.0.0.1:3000")
    return Path("tui.db")


def app_for(db: Path, listen: ListenLink | None = None) -> WhrelayApp:
    return WhrelayApp(db, clock=lambda: TUI_NOW, listen=listen, poll_interval=3600)


def after(*keys: str, tab: str | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the history and the selected webhook's tabs, press ``keys``, wait again."""

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, WhrelayApp)

        async def settled() -> None:
            await pilot_until(pilot, lambda: app.listing.model.counted, "the history")
            await pilot_until(
                pilot,
                lambda: (
                    app.detail.laid_out is not None
                    and app.detail.laid_out == getattr(app.listing.current(), "id", None)
                ),
                "the tabs laid out",
            )

        await settled()
        await pilot.press(*keys)
        await settled()

    return run


def write_readme_screenshot(path: Path) -> None:
    """The README's picture: the snapshots' history, in colour, the Stripe webhook selected.

    python -m tests.unit.tui.test_app_snapshots docs/tui.svg"""
    import asyncio
    import os
    import tempfile

    os.environ.pop("NO_COLOR", None)
    target = path.resolve()

    async def shoot() -> None:
        app = app_for(Path("tui.db"))
        async with app.run_test(size=SIZE) as pilot:
            await after(*("j",) * 8)(pilot)
            target.write_text(app.export_screenshot(title="whrelay tui"))

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        seed_tui(Path("tui.db"), target="http://127.0.0.1:3000")
        asyncio.run(shoot())


def test_the_list(db: Path, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=after())


def test_the_request_tab_of_a_gzip_body(db: Path, snap_compare: SnapCompare) -> None:
    keys = ("j",) * 6  # #4, the Shopify webhook sent gzipped
    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=after(*keys))


def test_the_deliveries_tab(db: Path, snap_compare: SnapCompare) -> None:
    keys = (*("j",) * 7, "2")  # #3, failed after a 500 and a refusal
    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=after(*keys))


def test_the_signature_tab(db: Path, snap_compare: SnapCompare) -> None:
    keys = (*("j",) * 8, "3")  # #2, a valid Stripe signature
    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=after(*keys))


def test_the_help_screen(db: Path, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=after("question_mark"))


def test_listen_tui(db: Path, snap_compare: SnapCompare) -> None:
    """The header of ``listen --tui``: the URL, a target up with what waits for it, a target
    down."""
    settings = ListenSettings(
        db_path=db,
        forward=ForwardSettings(targets=(parse_target("3000"), parse_target(":4000/hooks"))),
    )
    link = ListenLink(settings)
    link.emit(ListenStarted("http://127.0.0.1:8642/", str(db), "test"))
    link.emit(TargetDown("http://127.0.0.1:4000/hooks", "connection refused"))

    async def pending_counted(pilot: Pilot[Any]) -> None:
        await after()(pilot)
        await pilot_until(pilot, lambda: "1 pending" in str(app.header.render()), "pending")  # type: ignore[union-attr]

    app = app_for(db, link)
    assert snap_compare(app, terminal_size=SIZE, run_before=pending_counted)


if __name__ == "__main__":
    import sys

    write_readme_screenshot(Path(sys.argv[1]))


def test_the_edit_screen(db: Path, snap_compare: SnapCompare) -> None:
    """``e`` on #2, the Stripe webhook: its request line, headers and JSON body to edit."""

    async def editing(pilot: Pilot[Any]) -> None:
        from whrelay.tui.edit import EditScreen

        await after(*("j",) * 8)(pilot)
        await pilot.press("e")
        await pilot_until(pilot, lambda: isinstance(pilot.app.screen, EditScreen), "the editor")
        await pilot.pause()

    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=editing)


def test_the_diff_screen(db: Path, snap_compare: SnapCompare) -> None:
    """``m`` on #2 (Stripe), ``d`` on #3 (GitHub): unified, each change marked, GitHub's
    delivery id and signature shown as volatile (not counted)."""

    async def compared(pilot: Pilot[Any]) -> None:
        from whrelay.tui.compare import CompareScreen

        await after(*("j",) * 8, "m", "k")(pilot)
        await pilot.press("d")
        await pilot_until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), "d")
        await pilot_until(pilot, lambda: pilot.app.screen.laid_out, "laid out")  # type: ignore[attr-defined]

    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=compared)


def test_the_copy_menu(db: Path, snap_compare: SnapCompare) -> None:
    assert snap_compare(app_for(db), terminal_size=SIZE, run_before=after(*("j",) * 8, "C"))
