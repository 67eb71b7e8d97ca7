"""``whrelay cancel``: give up pending deliveries, so that nothing retries them."""

from __future__ import annotations

from typing import Annotated

import typer

from whrelay.cli import filters
from whrelay.cli.common import (
    DbOption,
    JsonOption,
    WebhookRefs,
    find_webhooks,
    resolve_db,
    stderr,
    stdout,
    write_json,
)
from whrelay.core.errors import ExitCode, UsageError

EXAMPLES = """
[bold]Examples[/bold]

  Stop retrying one webhook (every target it is still pending for):
    whrelay cancel 42
  Everything still pending for the app on port 3000:
    whrelay cancel --status pending --target 3000
  Stripe's pending invoice events:
    whrelay cancel --status pending --provider stripe --event 'invoice.*'
"""


@filters.selecting
def cancel_command(
    ids: WebhookRefs = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Only the deliveries to this target (3000, :4000/hooks, a URL).",
            metavar="TARGET",
        ),
    ] = None,
    selection: filters.Selection = filters.NONE_GIVEN,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> int:
    """Stop retrying pending deliveries.

    They are recorded as cancelled, and a running listen drops them at their next retry."""
    from rich.text import Text

    from whrelay.core.models import now_micros
    from whrelay.core.targets import parse_target
    from whrelay.storage import Store
    from whrelay.storage.store import cancel_deliveries

    status = selection.status
    if status is not None and status is not filters.StatusChoice.pending:
        raise UsageError(
            f"only pending deliveries can be cancelled, not {status.value} ones",
            hint="--status pending",
        )
    # Any pending delivery of a webhook is cancelled, whatever its others are: the filter
    # selects the webhooks, not by their status (a webhook with one delivery failed is not
    # 'pending' to list, yet may have another still pending).
    where = selection.webhook_filter(by_status=False)
    if not ids and where is None and status is None:
        raise UsageError(
            "name webhook ids, or select the deliveries with --status pending "
            "(and --target, or list's filters)"
        )
    if ids and (where is not None or status is not None):
        raise UsageError("name webhook ids or select them with filters, not both")
    to = parse_target(target).url if target else None
    with Store(resolve_db(db), create=False) as store:
        selected = find_webhooks(store, ids) if ids else None
        # The moment is taken inside the transaction: cancels commit in the order of their
        # moments, which a follower's look relies on (``read.changes_from``).
        cancelled = store.run(
            lambda connection: cancel_deliveries(
                connection, now_micros(), webhook_ids=selected, where=where, target=to
            )
        )
    if json_output:
        for delivery in cancelled:
            write_json(delivery.to_json())
    else:
        for delivery in cancelled:
            stdout().print(Text(f"cancelled  #{delivery.webhook_id} → {delivery.target}"))
        if not cancelled:
            stderr().print(Text("Nothing pending to cancel.", style="dim"))
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("cancel", epilog=EXAMPLES)(cancel_command)
