"""``whrelay list`` and ``whrelay show``: read the stored history (read-only, any process;
they never create, upgrade or change a database)."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli import filters
from whrelay.cli.common import (
    DbOption,
    JsonOption,
    complete_webhook_ids,
    find_webhooks,
    parse_webhook_ref,
    resolve_db,
    stderr,
    stdout,
    write_json,
)
from whrelay.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console


LIST_EXAMPLES = """
[bold]Examples[/bold]

  The 50 newest webhooks:
    whrelay list
  Stripe's of the last two hours:
    whrelay list --since 2h --provider stripe
  Every webhook under /hooks/ whose path, query or body holds evt_123:
    whrelay list --path '/hooks/*' --search evt_123 --limit 0
  NDJSON, one webhook per line:
    whrelay list --json | jq .id
"""

SHOW_EXAMPLES = """
[bold]Examples[/bold]

  Request line, headers, the body laid out, deliveries and attempts:
    whrelay show 42
  The exact body bytes:
    whrelay show 42 --raw > body.bin
  The full record, the body in base64:
    whrelay show 42 --json
"""


@filters.selecting
def list_webhooks(
    selection: filters.Selection = filters.NONE_GIVEN,
    limit: Annotated[
        int, typer.Option(help="At most this many; 0 = all.", min=0, metavar="N")
    ] = 50,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List stored webhooks, newest first."""
    from rich.text import Text

    from whrelay.render.webhooks import webhook_table
    from whrelay.storage import Store, WebhookFilter
    from whrelay.storage.read import standings

    # One more than --limit: whether it cut anything off.
    shown = limit + 1 if limit else 0
    where = selection.webhook_filter(shown) or WebhookFilter(limit=shown)
    with Store(resolve_db(db), readonly=True) as store:
        rows = store.list_webhooks(where)
        more = bool(limit) and len(rows) > limit
        rows = rows[:limit] if more else rows
        standing = standings(store, [row.id for row in rows])
    if json_output:
        for row in rows:
            write_json({**row.to_json(), **standing[row.id].to_json()})
    elif rows:
        console = stdout()
        if console.is_terminal:
            console.print(webhook_table(rows, console.width, standing))
        else:  # a pipe or a file: every row whole, for grep and friends
            console.width = max(console.width, 1 << 16)  # past any request line (8190)
            console.print(webhook_table(rows, standings=standing))
        if more:
            stderr().print(Text(f"(the newest {limit}; --limit 0 lists them all)", style="dim"))
    else:
        stderr().print(Text("No webhooks match.", style="dim"))
        path = selection.path
        if path and not path.startswith(("/", "*", "?", "[")):
            stderr().print(Text(f"  hint: paths start with '/': --path '/{path}'", style="dim"))


_TERMINAL_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|\xc2[\x80-\x9f]")
"""Bytes a terminal acts on (escape sequences, backspace, a lone carriage return, the C1
controls such as CSI written in UTF-8); TAB, LF and CRLF are text."""


def show(
    webhook_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="The webhook's id, or its provider id (evt_…, msg_…, a GitHub delivery id).",
            parser=parse_webhook_ref,
            autocompletion=complete_webhook_ids,
        ),
    ],
    raw: Annotated[
        bool, typer.Option("--raw", metavar="", help="Write the exact body bytes to stdout.")
    ] = False,
    headers: Annotated[
        bool, typer.Option("--headers", metavar="", help="Show only the headers.")
    ] = False,
    body: Annotated[
        bool, typer.Option("--body", metavar="", help="Show only the (decoded) body.")
    ] = False,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show one stored webhook in full."""
    chosen = [flag for flag, on in (("--raw", raw), ("--headers", headers), ("--body", body),
                                    ("--json", json_output)) if on]  # fmt: skip
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} each choose what to show: give one")
    from whrelay.formats.export import json_record
    from whrelay.render.detail import deliveries_view
    from whrelay.render.webhooks import (
        body_view,
        header_lines,
        request_line,
        webhook_detail,
    )
    from whrelay.signatures import redact_headers
    from whrelay.storage import Store
    from whrelay.storage.read import webhook_view

    with Store(resolve_db(db), readonly=True) as store:
        [number] = find_webhooks(store, [webhook_id])
        view = webhook_view(store, number)
    webhook = view.webhook
    if raw:
        if sys.stdout.isatty() and _TERMINAL_CONTROL.search(webhook.body or b""):
            raise UsageError(
                "the body holds terminal control bytes (escape sequences or binary data), "
                "which --raw would hand to this terminal",
                hint="pipe it ('| xxd', '> body.bin') or read it with --body",
            )
        sys.stdout.buffer.write(webhook.body or b"")
        sys.stdout.buffer.flush()
    elif json_output:
        record = json_record(view)
        write_json(record)
    elif headers:  # as received, one "Name: value" a line, never folded
        console = unfolded(stdout())
        console.print(request_line(webhook))
        console.print(header_lines(redact_headers(webhook.decoded_headers())))
    elif body:
        console = unfolded(stdout())
        console.print(body_view(webhook, aligned=console.is_terminal))
    else:
        console = unfolded(stdout())
        console.print(
            webhook_detail(webhook, view.imported_from, view.edit_note, aligned=console.is_terminal)
        )
        if view.deliveries or view.attempts:
            console.print()
            console.print(deliveries_view(view))


def unfolded(console: Console) -> Console:
    """``console``, made never to fold a line when it is not a terminal (a pipe, a file):
    ``whrelay show 6 | grep Stripe-Signature`` gets the whole header."""
    if not console.is_terminal:
        console.width = max(console.width, 1 << 16)  # past any header line (8190)
    return console


def register(app: typer.Typer) -> None:
    app.command("list", epilog=LIST_EXAMPLES)(list_webhooks)
    app.command(epilog=SHOW_EXAMPLES)(show)
