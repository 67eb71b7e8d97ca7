"""History benchmark: ``list``, ``show`` and paging on 1,000 and 1,000,000 webhooks.

For each size (a database from ``bench/seed.py``, made once and cached), it measures:

* the read API in-process (``whrelay.storage.read``), on a fresh read-only connection: the
  first page, the first page with each filter, a page from the middle and the oldest (keyset),
  walking 20 pages down, ``count`` with and without filters, one webhook's full view;
* the commands a user types, as subprocesses (``whrelay list``, ``list --provider``,
  ``list --since``, ``show ID``), each against the same command on the 1,000-webhook database:
  the ratio is what a million webhooks cost over a thousand.

Times are medians of ``--repeat`` runs. Exit 0 whatever the figures; nonzero only when the
harness fails.

    python bench/history.py [--sizes 1000,1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from seed import START, seeded  # noqa: E402

from whrelay.storage import Store, WebhookFilter  # noqa: E402
from whrelay.storage.read import Position, count, page, webhook_view  # noqa: E402


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def api_figures(db: Path, repeat: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with Store(db, readonly=True) as store:
        newest = page(store, limit=1)[0]
        oldest = page(store, direction="newer", limit=1)[0]
        middle = Position((newest.received_at + oldest.received_at) // 2, 0)
        day = 24 * 3600 * 1_000_000
        cases: dict[str, Callable[[], object]] = {
            "page: newest 50": lambda: page(store),
            "page: oldest 50": lambda: page(store, direction="newer"),
            "page: 50 from the middle": lambda: page(store, start=middle),
            "page: --provider github": lambda: page(store, WebhookFilter(provider="github")),
            "page: --since (last day)": lambda: page(
                store, WebhookFilter(since=newest.received_at - day)
            ),
            "page: --status failed": lambda: page(store, WebhookFilter(status="failed")),
            "page: --verdict invalid": lambda: page(store, WebhookFilter(verdict="invalid")),
            "page: --path /hooks/slack": lambda: page(
                store, WebhookFilter(path_glob="/hooks/slack")
            ),
            "page: --search (recent hit)": lambda: page(store, WebhookFilter(search="evt_")),
            "10 pages down from the top": lambda: _walk(store, 10),
            "count: all": lambda: count(store),
            "count: --provider stripe": lambda: count(store, WebhookFilter(provider="stripe")),
            "count: --since (last day)": lambda: count(
                store, WebhookFilter(since=newest.received_at - day)
            ),
            "view: newest webhook": lambda: webhook_view(store, newest.id),
            "view: oldest webhook": lambda: webhook_view(store, oldest.id),
        }
        for name, action in cases.items():
            action()  # warm the page cache: the figures are for a database in use
            figures[name] = median_ms(action, repeat)
    return figures


def _walk(store: Store, pages: int) -> None:
    start = None
    for _ in range(pages):
        rows = page(store, start=start)
        if not rows:
            return
        start = Position.of(rows[-1])


def command_figures(db: Path, repeat: int) -> dict[str, float]:
    with Store(db, readonly=True) as store:
        newest = page(store, limit=1)[0]
    since = "2026-01-01T00:00"  # before the seeded month: a filter that matches everything
    commands = {
        "whrelay list": ["list"],
        "whrelay list --provider github": ["list", "--provider", "github"],
        "whrelay list --since ...": ["list", "--since", since],
        "whrelay list --status failed": ["list", "--status", "failed"],
        "whrelay show NEWEST": ["show", str(newest.id)],
    }
    figures = {}
    for name, args in commands.items():
        run = [sys.executable, "-m", "whrelay", *args, "--db", str(db)]

        def once(run: list[str] = run) -> None:
            subprocess.run(run, capture_output=True, check=True, cwd=ROOT)

        once()
        figures[name] = median_ms(once, repeat)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    databases = {size: seeded(size, args.cache) for size in sizes}
    api = {size: api_figures(db, args.repeat) for size, db in databases.items()}
    commands = {size: command_figures(db, args.repeat) for size, db in databases.items()}
    print(f"history benchmark: medians of {args.repeat} runs, milliseconds (seeded from {START})")
    header = "".join(f"{size:>14,}" for size in sizes)
    for title, table in (("read API, in-process", api), ("commands, as subprocesses", commands)):
        print(f"\n{title:<36}{header}   ratio")
        for name in table[sizes[0]]:
            cells = "".join(f"{table[size][name]:>14.2f}" for size in sizes)
            ratio = table[sizes[-1]][name] / max(table[sizes[0]][name], 1e-6)
            print(f"  {name:<34}{cells}   {ratio:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
