"""``whrelay replay``: send stored webhooks again, now."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli.common import (
    DbOption,
    JsonOption,
    parse_webhook_id,
    resolve_db,
    stderr,
    stdout,
    write_json,
)
from whrelay.cli.history import StatusChoice
from whrelay.defaults import DEFAULT_RESPONSE_CAP
from whrelay.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from whrelay.models import Attempt
    from whrelay.relay.client import Resigner
    from whrelay.relay.replay import ReplayPlan

EXAMPLES = """
[bold]Examples[/bold]

  To the targets it was forwarded to, or somewhere else:
    whrelay replay 42
    whrelay replay 42 --to 3001
  With a header added and another body:
    whrelay replay 42 -H 'X-Debug: 1' --body-file edited.json
  What failed in the last hour (--dry-run lists it first):
    whrelay replay --since 1h --status failed --dry-run
"""


def replay_command(
    ids: Annotated[
        list[int] | None,
        typer.Argument(
            metavar="[ID]...", help="Webhook ids.", show_default=False, parser=parse_webhook_id
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Send here instead of the original targets.", metavar="TARGET"),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="'Name: value' to add or replace.", show_default=False),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(help="Send this file's bytes as the body.", exists=True, dir_okay=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Select webhooks newer than this: 10m, 1h30m, or an ISO time (UTC)."),
    ] = None,
    status: Annotated[
        StatusChoice | None, typer.Option(help="Select webhooks by delivery status.")
    ] = None,
    path: Annotated[str | None, typer.Option("--path", help="Select by path glob.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="Show what would be sent, send nothing.")
    ] = False,
    timeout: Annotated[str, typer.Option(help="Per-request timeout; 0 = none.")] = "30s",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", metavar="", help="Allow targets that are not on this machine."
        ),
    ] = False,
    resign: Annotated[
        bool,
        typer.Option(
            "--resign",
            metavar="",
            help="Sign afresh with the current time (needs a secret), so a "
            "capture older than the sender's tolerance still passes the app's check.",
        ),
    ] = False,
    provider: Annotated[
        str | None,
        typer.Option(help="Scheme for --resign (default: the one detected on arrival)."),
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option(help="Secret for --resign.", show_default=False)
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

    from rich.text import Text

    from whrelay.models import now_micros, parse_header_option
    from whrelay.relay.client import Sender
    from whrelay.relay.replay import plan_replay, replay
    from whrelay.render import one_line
    from whrelay.storage import Store, WebhookFilter
    from whrelay.targets import check_target, parse_target
    from whrelay.timeparse import parse_duration, parse_since

    if not ids and not (since or status or path):
        raise UsageError("name webhook ids, or select them with --since/--status/--path")
    if ids and (since or status or path):
        raise UsageError(
            "name webhook ids or select them with --since/--status/--path, not both",
            hint="the ids alone replay exactly those webhooks",
        )
    target = parse_target(to) if to else None
    extra = tuple(parse_header_option(h) for h in header or ())
    body = body_file.read_bytes() if body_file else None
    named = bool(ids)
    # It records its attempts, so it writes (and upgrades an older database, as listen
    # does); a missing or empty database is refused as the readers refuse it.
    with Store(resolve_db(db), create=False) as store:
        if not ids:
            where = WebhookFilter(
                since=parse_since(since, now_micros()) if since else None,
                path_glob=path,
                status=status.value if status else None,
                limit=0,
            )
            ids = [w.id for w in reversed(store.list_webhooks(where))]
            if not ids:
                stderr().print(Text("No webhooks match.", style="dim"))
                return ExitCode.OK
        selected = not named
        plans = plan_replay(
            store, ids, target, status.value if status else None, skip_unforwarded=selected
        )
        planned = {plan.webhook.id for plan in plans}
        never = [webhook_id for webhook_id in ids if webhook_id not in planned]
        if selected and never:
            shown = ", ".join(f"#{i}" for i in never[:5]) + (" …" if len(never) > 5 else "")
            stderr().print(
                Text(
                    f"Skipped {len(never)} webhook(s) never forwarded, with no target to "
                    f"replay to ({shown}); --to names one.",
                    style="yellow",
                )
            )
        if not plans:
            stderr().print(Text("Nothing to replay.", style="dim"))
            return ExitCode.OK
        for unique in {plan.target.url: plan.target for plan in plans}.values():
            check_target(unique, allow_remote)
        if dry_run:
            for plan in plans:
                line = f"#{plan.webhook.id} {plan.webhook.summary.method} → "
                line += plan.target.url_for(plan.webhook.summary.path, plan.webhook.summary.query)
                if json_output:
                    write_json({"id": plan.webhook.id, "target": plan.target.url, "dry_run": True})
                else:
                    stdout().print(Text(one_line(line)))
            return ExitCode.OK
        resigner = _resigner(plans, provider, secret, secret_env) if resign else None
        signed = sorted({p.webhook.summary.scheme or "" for p in plans} - _BODY_NOT_SIGNED - {""})
        if body is not None and resigner is None and signed:
            stderr().print(
                Text(
                    f"note: with another body, the {', '.join(signed)} signature sent with it "
                    "no longer matches; --resign --secret S signs it afresh",
                    style="yellow",
                )
            )
        sender = Sender(allow_remote, parse_duration(timeout), DEFAULT_RESPONSE_CAP)
        show = _shower(json_output, len(plans))

        async def run() -> list[Attempt]:
            async with sender:
                attempts = replay(plans, store, sender, extra, body, resigner)
                return [a async for a in show(attempts)]

        attempts = asyncio.run(run())
    return ExitCode.OK if all(a.ok for a in attempts) else ExitCode.CHECK_FAILED


_BODY_NOT_SIGNED = frozenset({"mailgun", "gitlab"})
"""Schemes whose signature does not cover the body (Mailgun's token, GitLab's secret token)."""


def _resigner(
    plans: list[ReplayPlan],
    provider: str | None,
    secret: list[str] | None,
    secret_env: list[str] | None,
) -> Resigner:
    from whrelay.relay.client import make_resigner
    from whrelay.signatures import get_scheme
    from whrelay.verification import check_signing_secret, secrets_from

    secrets = secrets_from(secret or (), secret_env or ())
    if not secrets:
        raise UsageError("--resign needs the signing secret (--secret or --secret-env)")
    names = {provider} if provider else {p.webhook.summary.scheme for p in plans}
    if None in names:
        unknown = sorted({p.webhook.id for p in plans if p.webhook.summary.scheme is None})
        shown = ", ".join(f"#{i}" for i in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise UsageError(
            f"--resign: no signature scheme was recognized for webhook {shown}",
            hint="name the provider to sign for with --provider (e.g. --provider stripe)",
        )
    if len(names) != 1:
        raise UsageError(
            "--resign signs with one secret, and these webhooks are from "
            + ", ".join(sorted(str(n) for n in names)),
            hint="replay one provider's webhooks at a time, or name one with --provider",
        )
    (name,) = names
    assert name is not None
    scheme = get_scheme(name)
    check_signing_secret(scheme, secrets[0])
    return make_resigner(scheme, secrets[0])


def _shower(
    json_output: bool, total: int
) -> Callable[[AsyncIterator[Attempt]], AsyncIterator[Attempt]]:
    """Wrap the stream of attempts with their output: a line each, and a bar for bulk."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from whrelay.render import attempt_line, one_line

    out = stdout()

    async def show(attempts: AsyncIterator[Attempt]) -> AsyncIterator[Attempt]:
        progress = Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr(),
            transient=True,
            disable=json_output or total < 2,
        )
        with progress:
            task = progress.add_task("replay", total=total)
            async for attempt in attempts:
                if json_output:
                    write_json(attempt.to_json())
                else:
                    line = attempt_line(attempt, "delivered" if attempt.ok else "failed")
                    if attempt.response_body:
                        snippet = attempt.response_body[:120].decode("utf-8", "replace")
                        line.append("  " + one_line(snippet), style="dim")
                    out.print(line)
                progress.advance(task)
                yield attempt

    return show


def register(app: typer.Typer) -> None:
    app.command("replay", epilog=EXAMPLES)(replay_command)
