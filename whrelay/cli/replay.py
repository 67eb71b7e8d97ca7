"""``whrelay replay``: send stored webhooks again, now."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli import filters
from whrelay.cli.common import (
    AllowRemoteOption,
    CaFileOption,
    DbOption,
    InsecureOption,
    JsonOption,
    WebhookRefs,
    complete_scheme,
    find_webhooks,
    resolve_db,
    stderr,
    stdout,
    write_json,
)
from whrelay.core.defaults import DEFAULT_RESPONSE_CAP
from whrelay.core.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from whrelay.relay.client import Sender
    from whrelay.relay.replay import ReplayPlan, ReplayRequest, ReplayTally
    from whrelay.storage import Store, WebhookFilter

EXAMPLES = """
[bold]Examples[/bold]

  To the targets it was forwarded to, or somewhere else:
    whrelay replay 42
    whrelay replay 42 --to 3001
  To an https app whose certificate is self-signed:
    whrelay replay 42 --ca-file cert.pem
    whrelay replay 42 --to 'https://localhost:3443,insecure'
  With a header added and another body:
    whrelay replay 42 -H 'X-Debug: 1' --body-file edited.json
  What failed in the last hour (--dry-run lists it first):
    whrelay replay --since 1h --status failed --dry-run
  Re-signed with a fresh timestamp (only if its signature verifies):
    whrelay replay 42 --resign --secret-env STRIPE_WEBHOOK_SECRET
"""


@filters.selecting
def replay_command(
    ids: WebhookRefs = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Send here instead of the original targets.", metavar="TARGET"),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="'Name: value' to add or replace.",
            metavar="'NAME: VALUE'",
            show_default=False,
        ),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(
            help="Send this file's bytes as the body.", exists=True, dir_okay=False, metavar="FILE"
        ),
    ] = None,
    selection: filters.Selection = filters.NONE_GIVEN,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="Show what would be sent, send nothing.")
    ] = False,
    timeout: Annotated[
        str, typer.Option(help="Per-request timeout; 0 = none.", metavar="DURATION")
    ] = "30s",
    allow_remote: AllowRemoteOption = False,
    insecure: InsecureOption = False,
    ca_file: CaFileOption = None,
    resign: Annotated[
        bool,
        typer.Option(
            "--resign",
            metavar="",
            help="Sign afresh with the current time, so a capture older than the sender's "
            "tolerance still passes the app's check. Only a webhook whose signature verifies "
            "with the secret (as at its arrival) is re-signed; others go as received.",
        ),
    ] = False,
    sign_as: Annotated[
        str | None,
        typer.Option(
            "--sign-as",
            help="Scheme to check and re-sign with (default: the one the webhook's headers name).",
            metavar="PROVIDER",
            autocompletion=complete_scheme,
        ),
    ] = None,
    resign_unverified: Annotated[
        bool,
        typer.Option(
            "--resign-unverified",
            metavar="",
            help="DANGEROUS: re-sign even webhooks whose signature did not verify (forged or "
            "unsigned ones included), each with a warning.",
        ),
    ] = False,
    secret: Annotated[
        list[str] | None,
        typer.Option(help="Secret for --resign.", metavar="SECRET", show_default=False),
    ] = None,
    secret_env: Annotated[
        list[str] | None,
        typer.Option(
            help="Read the --resign secret from this variable.", metavar="VAR", show_default=False
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> int:
    """Send stored webhooks again, now. Exit 0 when every answer was 2xx, else 1."""
    import asyncio
    import dataclasses

    from whrelay.core.timeparse import parse_duration
    from whrelay.core.tls import check_ca_file
    from whrelay.relay import replay
    from whrelay.relay.client import Sender
    from whrelay.render.replay import warning_line
    from whrelay.storage import Store

    where = selection.webhook_filter()
    request = _request(
        where, bool(ids), to, header, body_file, allow_remote, resign, sign_as,
        resign_unverified, secret, secret_env,
    )  # fmt: skip
    request = dataclasses.replace(request, insecure=insecure)
    trusted = None if ca_file is None else check_ca_file(ca_file)
    # It records its attempts, so it writes (and upgrades an older database, as listen
    # does); a missing or empty database is refused as the readers refuse it.
    with Store(resolve_db(db), create=False) as store:
        if ids:
            request = dataclasses.replace(request, select=tuple(find_webhooks(store, ids)))
        planned = replay.plan(store, request)
        if not _say_what_is_left_out(planned):
            return ExitCode.OK
        if dry_run:
            _dry_run(planned, json_output)
            return ExitCode.OK
        for warning in planned.warnings:
            stderr().print(warning_line(warning))
        sender = Sender(allow_remote, parse_duration(timeout), DEFAULT_RESPONSE_CAP, trusted)
        tally = planned.tally()
        try:
            asyncio.run(_send(planned, store, sender, tally, json_output))
        except KeyboardInterrupt:
            _summarize(planned, tally, interrupted=True)
            raise
        _summarize(planned, tally)
    return ExitCode.OK if tally.ok == tally.sent else ExitCode.CHECK_FAILED


def _request(
    where: WebhookFilter | None,
    named: bool,
    to: str | None,
    header: list[str] | None,
    body_file: Path | None,
    allow_remote: bool,
    resign: bool,
    sign_as: str | None,
    resign_unverified: bool,
    secret: list[str] | None,
    secret_env: list[str] | None,
) -> ReplayRequest:
    """The options as a ``ReplayRequest``: the filter, or (``named``) the ids, which are
    put in once looked up; the rest as typed."""
    from whrelay.core.models import header_options
    from whrelay.core.targets import parse_target
    from whrelay.relay.replay import ReplayRequest, Resign
    from whrelay.signatures.verification import given_secrets

    if not named and where is None:
        raise UsageError(
            "name webhook ids, or select them with filters (--since, --status, --event, ...)",
            hint="'whrelay replay --help' lists the filters, the same as 'whrelay list' takes",
        )
    if named and where is not None:
        raise UsageError(
            "name webhook ids or select them with filters, not both",
            hint="the ids alone replay exactly those webhooks; --sign-as names the scheme "
            "to re-sign with",
        )
    if (sign_as or resign_unverified) and not resign:
        raise UsageError("--sign-as and --resign-unverified go with --resign")
    target = parse_target(to) if to else None
    extra = header_options(header or ())
    body = body_file.read_bytes() if body_file else None
    given = given_secrets(secret or (), secret_env or ())
    signing = Resign(given, sign_as, resign_unverified) if resign else None
    return ReplayRequest(
        select=() if where is None else where,
        to=target,
        state=where.status if where is not None else None,
        extra_headers=extra,
        body=body,
        resign=signing,
        allow_remote=allow_remote,
    )


def _say_what_is_left_out(planned: ReplayPlan) -> bool:
    """On stderr: that nothing matched, the webhooks skipped, or that nothing is left to
    replay. Whether anything is."""
    from rich.text import Text

    from whrelay.render.replay import skipped_lines

    err = stderr()
    if not planned.selected:
        err.print(Text("No webhooks match.", style="dim"))
        return False
    for line in skipped_lines(planned.skips):
        err.print(line)
    if not planned.items:
        err.print(Text("Nothing to replay.", style="dim"))
        return False
    return True


def _dry_run(planned: ReplayPlan, json_output: bool) -> None:
    """Each planned send with the webhook's verdict on arrival and, with ``--resign``,
    whether it would be re-signed and why not; on stderr, the notes a replay would give
    and, with ``--resign``, how many it would re-sign and send as received."""
    from whrelay.relay.replay import ResignedUnverified
    from whrelay.render.replay import planned_line, resign_outlook_lines, warning_line

    out = stdout()
    for item in planned.items:
        if json_output:
            write_json(item.to_json())
        else:
            out.print(planned_line(item))
    err = stderr()
    for warning in planned.warnings:
        if not isinstance(warning, ResignedUnverified):  # said on the webhook's own line
            err.print(warning_line(warning))
    outlook = planned.resign_outlook()
    if outlook is not None:
        for line in resign_outlook_lines(outlook):
            err.print(line)


async def _send(
    planned: ReplayPlan, store: Store, sender: Sender, tally: ReplayTally, json_output: bool
) -> None:
    """Send the plan, with a line per attempt as it completes and, for bulk on a terminal, a
    progress bar, cleared before each line and when done. On a terminal the bar goes where
    the lines go, so that the lines are printed through it (Rich clears it first); with
    stdout elsewhere it goes to stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from whrelay.relay import replay
    from whrelay.render.replay import replayed_line

    out = stdout()
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        console=out if out.is_terminal else stderr(),
        transient=True,
        disable=json_output or len(planned.items) < 2,
    )
    with progress:
        task = progress.add_task("replay", total=len(planned.items))
        async with sender:
            async for attempt in replay.run_counted(planned, store, sender, tally):
                if json_output:
                    write_json(attempt.to_json())
                else:
                    out.print(replayed_line(attempt))
                progress.advance(task)


def _summarize(planned: ReplayPlan, tally: ReplayTally, interrupted: bool = False) -> None:
    """On stderr, after a bulk replay (or one cut short): what was sent, what came of it."""
    from whrelay.render.replay import summary_lines

    if interrupted or len(planned.items) > 1 or planned.skips:
        for line in summary_lines(tally, interrupted):
            stderr().print(line)


def register(app: typer.Typer) -> None:
    app.command("replay", epilog=EXAMPLES)(replay_command)
