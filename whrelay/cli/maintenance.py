"""``whrelay prune`` and ``whrelay stats``: keep a database that has grown for months in check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli.common import DbOption, JsonOption, resolve_db, stderr, stdout, write_json
from whrelay.core.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.progress import TaskID

    from whrelay.storage.maintenance import PruneResult, Stats

PRUNE_EXAMPLES = """
[bold]Examples[/bold]

  What a week's retention would delete, then do it:
    whrelay prune --older-than 7d --dry-run
    whrelay prune --older-than 7d
  Keep the newest 10,000, and only delete what was delivered:
    whrelay prune --keep 10000 --status delivered
  Give the space back to the disk (rewrites the file):
    whrelay prune --older-than 30d --vacuum
"""

STATS_EXAMPLES = """
[bold]Examples[/bold]

    whrelay stats
    whrelay stats --json | jq .by_provider
"""


def prune_command(
    older_than: Annotated[
        str | None,
        typer.Option(
            help="Delete webhooks received longer ago than this: 7d, 12h, 30m.", metavar="DURATION"
        ),
    ] = None,
    keep: Annotated[
        int | None, typer.Option(help="Keep the newest N webhooks whatever their age.", metavar="N")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="'delivered': only webhooks whose every delivery was delivered.",
            metavar="delivered",
        ),
    ] = None,
    include_pending: Annotated[
        bool,
        typer.Option(
            "--include-pending",
            metavar="",
            help="Also delete webhooks with a delivery still pending (kept otherwise).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="Count what would go; delete nothing.")
    ] = False,
    full_vacuum: Annotated[
        bool,
        typer.Option(
            "--vacuum",
            metavar="",
            help="Then rewrite the file to give all free space back (slow on a big database; "
            "listen's commits wait meanwhile).",
        ),
    ] = False,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> int:
    """Delete old webhooks with their deliveries and attempts, and free the space."""
    from whrelay.core.models import now_micros
    from whrelay.core.timeparse import parse_duration
    from whrelay.storage import Store
    from whrelay.storage.maintenance import PruneRule, prune, vacuum

    cutoff = None if older_than is None else now_micros() - int(parse_duration(older_than) * 1e6)
    if status not in (None, "delivered"):
        raise UsageError(
            f"prune --status takes 'delivered' only, not {status!r}",
            hint="webhooks with a pending delivery are kept unless --include-pending",
        )
    rule = PruneRule(cutoff, keep, status == "delivered", include_pending)
    with Store(resolve_db(db), create=False) as store:
        with _progress(json_output or dry_run) as progress:
            result = prune(store, rule, dry_run=dry_run, progress=progress)
        if full_vacuum and not dry_run:
            result.freed_bytes += vacuum(store)
    _report(result, dry_run, json_output)
    return ExitCode.OK


class _progress:
    """A bar on stderr while batches are deleted, on a terminal and for more than one batch."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("pruning"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr(),
            transient=True,
            disable=quiet,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("prune", total=total)
        self.bar.update(self.task, completed=done)


def _report(result: PruneResult, dry_run: bool, json_output: bool) -> None:
    from rich.text import Text

    from whrelay.core.timeparse import size_text

    if json_output:
        write_json(
            {
                "deleted": 0 if dry_run else result.webhooks,
                "would_delete": result.webhooks if dry_run else 0,
                "kept_pending": result.kept_pending,
                "freed_bytes": result.freed_bytes,
                "dry_run": dry_run,
            }
        )
        return
    verb = "Would delete" if dry_run else "Deleted"
    line = f"{verb} {result.webhooks:,} webhook(s), with their deliveries and attempts"
    if not dry_run and result.webhooks:
        line += f"; {size_text(result.freed_bytes)} freed"
    out = stdout()
    out.print(Text(line + "."))
    if result.kept_pending:
        out.print(
            Text(
                f"Kept {result.kept_pending:,} with a delivery still pending "
                "(--include-pending deletes them too).",
                style="yellow",
            )
        )


def stats_command(json_output: JsonOption = False, db: DbOption = None) -> None:
    """What the database holds, by provider, event, verdict and delivery state.

    Also the oldest and newest webhook, and the sizes of the database and its log."""
    from whrelay.storage import Store
    from whrelay.storage.maintenance import stats

    with Store(resolve_db(db), readonly=True) as store:
        found = stats(store)
    if json_output:
        write_json(found.to_json())
    else:
        stdout().print(_stats_view(found))


def _stats_view(found: Stats) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from whrelay.core.models import format_time
    from whrelay.render.webhooks import human_size

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("Webhooks", f"{found.webhooks:,}")
    if found.oldest is not None and found.newest is not None:
        head.add_row("Oldest", format_time(found.oldest))
        head.add_row("Newest", format_time(found.newest))
    head.add_row("Database", human_size(found.database_bytes))
    head.add_row("Write-ahead log", human_size(found.wal_bytes))
    parts: list[RenderableType] = [head]
    for title, counts in (
        ("By provider", found.by_provider),
        ("By event", found.by_event),
        ("By verdict", found.by_verdict),
        ("Deliveries by state", found.by_delivery_state),
    ):
        if not counts:
            continue
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        table.add_column()
        table.add_column(justify="right")
        for key, count in list(counts.items())[:20]:
            table.add_row(Text(key), f"{count:,}")
        if len(counts) > 20:
            table.add_row(Text(f"… {len(counts) - 20} more", style="dim"), "")
        parts += [Text(), table]
    return Group(*parts)


def register(app: typer.Typer) -> None:
    app.command("prune", epilog=PRUNE_EXAMPLES)(prune_command)
    app.command("stats", epilog=STATS_EXAMPLES)(stats_command)
