"""``whrelay export`` and ``whrelay import``: webhooks out to a file (curl, HTTPie, raw HTTP, HAR,
whrelay JSON) and in from one."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli import filters
from whrelay.cli.common import (
    DbOption,
    JsonOption,
    WebhookRefs,
    find_webhooks,
    resolve_db,
    stderr,
    write_json,
)
from whrelay.core.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from whrelay.storage.read import WebhookView


class FormatChoice(StrEnum):
    curl = "curl"
    httpie = "httpie"
    http = "http"
    har = "har"
    json = "json"


EXPORT_EXAMPLES = """
[bold]Examples[/bold]

  One webhook as a curl script, then send it to port 3000:
    whrelay export 42 --format curl -o hook42.sh && bash hook42.sh http://127.0.0.1:3000
  Today's Stripe webhooks for the browser's devtools (HAR):
    whrelay export --since 1d --provider stripe --format har -o stripe.har
  Everything, to move to another machine (then 'whrelay import all.ndjson' there):
    whrelay export --all --format json -o all.ndjson
"""

IMPORT_EXAMPLES = """
[bold]Examples[/bold]

  A capture a colleague exported:
    whrelay import hooks.ndjson
  A HAR file, or raw HTTP requests (what 'nc -l' captures):
    whrelay import session.har
    whrelay import request.http
  From a pipe:
    whrelay show 42 --json | whrelay import - --db other.db
"""


@filters.selecting
def export_command(
    ids: WebhookRefs = None,
    fmt: Annotated[
        FormatChoice,
        typer.Option("--format", "-F", help="curl, httpie, http (raw request), har or json."),
    ] = FormatChoice.json,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file instead of stdout.",
            dir_okay=False,
            metavar="FILE",
        ),
    ] = None,
    selection: filters.Selection = filters.NONE_GIVEN,
    everything: Annotated[
        bool, typer.Option("--all", metavar="", help="Select every stored webhook.")
    ] = False,
    db: DbOption = None,
) -> int:
    """Write stored webhooks out: runnable curl or HTTPie scripts, raw HTTP, HAR or NDJSON."""
    from whrelay.formats.export import Sink, render, selected_views
    from whrelay.storage import Store

    where = selection.webhook_filter()
    if not ids and where is None and not everything:
        raise UsageError(
            f"name webhook ids, or select them with {'/'.join(filters.FILTER_OPTIONS)} or --all"
        )
    if ids and (where is not None or everything):
        raise UsageError("name webhook ids or select them with filters, not both")
    with Store(resolve_db(db), readonly=True) as store:
        numbers = find_webhooks(store, ids or ())
        views = selected_views(store, numbers, where)
        with Sink(output) as out:
            for chunk in render(_counted(views, fmt, output), fmt.value):
                out.write(chunk)
    return ExitCode.OK


def _counted(
    views: Iterator[WebhookView], fmt: FormatChoice, output: Path | None
) -> Iterator[WebhookView]:
    """``views``, refusing raw HTTP with terminal control bytes on a terminal, and counting
    them on stderr as they go when the export is large and stderr a terminal."""
    err = stderr()
    shown = err.is_terminal
    count = 0
    for view in views:
        if fmt is FormatChoice.http and output is None and sys.stdout.isatty():
            from whrelay.cli.history import _TERMINAL_CONTROL

            if _TERMINAL_CONTROL.search(view.webhook.body or b""):
                raise UsageError(
                    f"webhook #{view.webhook.id}'s body holds terminal control bytes, which "
                    "raw HTTP would hand to this terminal",
                    hint="write it to a file with -o, or pipe it",
                )
        count += 1
        if shown and count % 500 == 0:
            err.print(f"exported {count:,} webhooks…", end="\r", highlight=False)
        yield view
    if shown and count >= 500:
        err.print(f"exported {count:,} webhooks.   ", highlight=False)
    if count == 0:
        err.print("No webhooks match: nothing exported.", style="dim", highlight=False)


def import_command(
    source: Annotated[str, typer.Argument(metavar="FILE", help="A file to read, or - for stdin.")],
    json_output: JsonOption = False,
    db: DbOption = None,
) -> int:
    """Store the webhooks of a file: whrelay JSON/NDJSON, HAR 1.2, or raw HTTP requests.

    Each is marked as imported, identified as on arrival, and never forwarded."""
    from rich.text import Text

    from whrelay.formats.imports import import_webhooks, read_webhooks
    from whrelay.storage import Store

    if source == "-":
        data, name = sys.stdin.buffer.read(), "stdin"
    else:
        try:
            data, name = Path(source).read_bytes(), Path(source).name
        except OSError as error:
            raise UsageError(f"cannot read {source}: {error.strerror or error}") from None
    incoming = read_webhooks(data, name)
    if not incoming:
        raise UsageError(f"{name} holds no webhook to import")
    with Store(resolve_db(db)) as store:
        stored = import_webhooks(store, incoming)
    if json_output:
        for summary in stored:
            write_json(summary.to_json())
    else:
        ids = f"#{stored[0].id}" if len(stored) == 1 else f"#{stored[0].id}–#{stored[-1].id}"
        stderr().print(Text(f"Imported {len(stored)} webhook(s) from {name}: {ids}."))
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("export", epilog=EXPORT_EXAMPLES)(export_command)
    app.command("import", epilog=IMPORT_EXAMPLES)(import_command)
