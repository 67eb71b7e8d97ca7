"""The list's model (``whrelay.tui.model``): which rows to fetch and from where, where the rows
that come back go, how arrivals shift them, and how little it keeps.

The fetches it plans are run against a real database here, as the data source runs them,
and the rows it ends up with are compared with the history's own order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from whrelay.core.models import Capture
from whrelay.storage import Store
from whrelay.storage.read import page
from whrelay.tui import adapter
from whrelay.tui.adapter import Query
from whrelay.tui.model import ANCHOR_EVERY, KEEP, PAGE, Fetch, History


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """5,000 webhooks, many sharing a microsecond (committed out of arrival order)."""
    rng = random.Random(3)
    captures = [
        Capture("POST", f"/p/{i}", "", (), b"{}", "1.1", None, 1_000_000 + rng.randrange(2500))
        for i in range(5000)
    ]
    db = Store(tmp_path / "hooks.db")
    db.insert_webhooks(captures)
    return db


def run(store: Store, fetch: Fetch) -> list[adapter.Row]:
    """What the data source does with a fetch."""
    start = fetch.start
    if fetch.skip:
        start = adapter.skip(store, fetch.skip_from, fetch.skip, fetch.skip_direction)
        assert start is not None
    return adapter.rows(store, start, fetch.direction, fetch.limit)


def opened(store: Store) -> History:
    model = History()
    model.opened(adapter.rows(store, None, "older", PAGE), adapter.newest_id(store))
    model.count_known(adapter.total(store), 0)
    return model


def load(model: History, store: Store, first: int, last: int) -> list[Fetch]:
    plans = [model.plan(a, b) for a, b in model.missing(first, last)]
    for fetch in plans:
        model.started(fetch)
        assert model.fetched(fetch, run(store, fetch))
    return plans


def order(store: Store) -> list[int]:
    return [s.id for s in page(store, limit=0)]


def test_rows_land_at_their_index_whichever_way_they_were_fetched(store: Store) -> None:
    truth = order(store)
    model = opened(store)
    # A page down from the rows above, the oldest from the bottom, the middle by a jump, and
    # pages up from below the jump.
    for first, last in ((100, 200), (4950, 5000), (2500, 2540), (2400, 2500), (3990, 4100)):
        load(model, store, first, last)
        assert [model.rows[i].id for i in range(first, last)] == truth[first:last]
    assert model.missing(0, 200) == []


def test_a_jump_steps_from_the_nearest_known_position(store: Store) -> None:
    model = opened(store)
    [from_top] = load(model, store, 1000, 1040)
    assert (from_top.skip_from, from_top.skip) == (model.rows[PAGE - 1].position, 1000 - PAGE)
    [from_bottom] = load(model, store, 4500, 4540)
    assert from_bottom.skip_from is None  # the oldest end, counting up
    assert (from_bottom.skip_direction, from_bottom.skip) == ("newer", 5000 - 4540)
    [from_loaded] = load(model, store, 1100, 1140)
    assert from_loaded.skip_from == model.rows[1039].position
    assert from_loaded.skip == 1100 - 1 - 1039


def test_the_keys_never_jump(store: Store) -> None:
    """``G`` is a page from the oldest end, ``PgDn`` and ``PgUp`` pages from a loaded
    neighbour: none of them steps through the index."""
    model = opened(store)
    assert [f.skip for f in load(model, store, 4960, 5000)] == [0]  # G
    assert [f.skip for f in load(model, store, 4920, 4960)] == [0]  # PgUp from there
    assert [f.skip for f in load(model, store, 100, 140)] == [0]  # PgDn from the top


def test_arrivals_shift_every_row_and_fetches_under_way(store: Store) -> None:
    model = opened(store)
    load(model, store, 3000, 3040)
    [under_way] = [model.plan(a, b) for a, b in model.missing(3040, 3080)]
    model.started(under_way)
    rows_before = {i: r.id for i, r in model.rows.items()}
    newer = [
        Capture("POST", f"/new/{i}", "", (), b"{}", "1.1", None, 9_000_000 + i) for i in range(3)
    ]
    store.insert_webhooks(newer)
    top = adapter.rows(store, None, "older", PAGE)
    model.arrived(3, top, adapter.newest_id(store))
    assert model.total == 5003
    assert {i - 3: r.id for i, r in model.rows.items() if i >= 3 + PAGE} == {
        i: v for i, v in rows_before.items() if i >= PAGE
    }
    # The fetch planned before the arrivals lands three rows lower.
    assert model.fetched(under_way, run(store, under_way))
    assert [model.rows[i].id for i in range(3003, 3083)] == order(store)[3003:3083]


def test_results_of_an_older_query_are_dropped(store: Store) -> None:
    model = opened(store)
    [fetch] = [model.plan(a, b) for a, b in model.missing(200, 240)]
    model.reset(Query(search="/p/1"))
    assert not model.fetched(fetch, run(store, fetch))
    assert model.rows == {}


def test_memory_is_bounded_however_far_one_scrolls(store: Store) -> None:
    model = opened(store)
    for first in range(0, 5000, 40):
        model.focus = first
        load(model, store, first, first + 40)
        assert len(model.rows) <= KEEP
    assert model.focus in model.rows
    assert set(model.anchors) <= set(range(0, 5000, ANCHOR_EVERY))
    # Back at the top, the rows come again, in order.
    model.focus = 0
    load(model, store, 0, 40)
    assert [model.rows[i].id for i in range(40)] == order(store)[:40]


def test_matches_accumulate_and_the_scan_goes_on_only_when_wanted(store: Store) -> None:
    model = History()
    model.reset(Query(search="/p/4"))
    start = None
    for _ in range(3):
        rows, start = adapter.scan(store, model.query, start, 100)
        assert model.matches_found(model.generation, rows, start, 100)
    found = [model.rows[i].id for i in range(model.total)]
    assert found == [s.id for s in page(store, limit=300) if s.path.startswith("/p/4")]
    assert model.wants_more(model.total - 1)
    model.scanning = True
    assert not model.wants_more(model.total - 1)
