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
from whrelay.cli.history import StatusChoice, VerdictChoice
from whrelay.core.defaults import DEFAULT_RESPONSE_CAP
from whrelay.core.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from rich.text import Text

    from whrelay.core.models import Attempt
    from whrelay.relay.client import Resigner
    from whrelay.relay.replay import ReplayPlan
    from whrelay.signatures.verification import ResignDecision
    from whrelay.storage import Store

EXAMPLES = """
[bold]Examples[/bold]

  To the targets it was forwarded to, or somewhere else:
    whrelay replay 42
    whrelay replay 42 --to 3001
  With a header added and another body:
    whrelay replay 42 -H 'X-Debug: 1' --body-file edited.json
  What failed in the last hour (--dry-run lists it first):
    whrelay replay --since 1h --status failed --dry-run
  Re-signed with a fresh timestamp (only if its signature verifies):
    whrelay replay 42 --resign --secret-env STRIPE_WEBHOOK_SECRET
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
    provider: Annotated[
        str | None,
        typer.Option(help="Select webhooks by detected provider (as 'list --provider')."),
    ] = None,
    verdict: Annotated[
        VerdictChoice | None, typer.Option(help="Select by the signature verdict on arrival.")
    ] = None,
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

    from whrelay.core.models import parse_header_option
    from whrelay.core.targets import check_target, parse_target
    from whrelay.core.timeparse import parse_duration
    from whrelay.relay.client import Sender
    from whrelay.relay.replay import plan_replay, replay
    from whrelay.storage import Store

    chosen = {"--since": since, "--status": status, "--path": path, "--provider": provider,
              "--verdict": verdict}  # fmt: skip
    filters = [name for name, value in chosen.items() if value is not None]
    if not ids and not filters:
        raise UsageError("name webhook ids, or select them with --since/--status/--path/...")
    if ids and filters:
        raise UsageError(
            f"name webhook ids or select them with {'/'.join(filters)}, not both",
            hint="the ids alone replay exactly those webhooks; --sign-as names the scheme "
            "to re-sign with",
        )
    if (sign_as or resign_unverified) and not resign:
        raise UsageError("--sign-as and --resign-unverified go with --resign")
    target = parse_target(to) if to else None
    extra = tuple(parse_header_option(h) for h in header or ())
    body = body_file.read_bytes() if body_file else None
    resigner = _resigner(sign_as, secret, secret_env, resign_unverified) if resign else None
    named = bool(ids)
    # It records its attempts, so it writes (and upgrades an older database, as listen
    # does); a missing or empty database is refused as the readers refuse it.
    with Store(resolve_db(db), create=False) as store:
        if not ids:
            ids = _selected(store, since, path, status, provider, verdict)
            if not ids:
                stderr().print(Text("No webhooks match.", style="dim"))
                return ExitCode.OK
        plans = plan_replay(
            store, ids, target, status.value if status else None, skip_unforwarded=not named
        )
        _say_skipped(ids, plans, named)
        if not plans:
            stderr().print(Text("Nothing to replay.", style="dim"))
            return ExitCode.OK
        for unique in {plan.target.url: plan.target for plan in plans}.values():
            check_target(unique, allow_remote)
        decisions = _decisions(plans, resigner)
        _check_secrets_fit(decisions, secret, secret_env)
        if dry_run:
            _dry_run(plans, decisions, json_output)
            return ExitCode.OK
        _warn_signing(plans, decisions, body, resign_unverified)
        sender = Sender(allow_remote, parse_duration(timeout), DEFAULT_RESPONSE_CAP)
        show = _shower(json_output, len(plans))

        async def run() -> list[Attempt]:
            async with sender:
                attempts = replay(plans, store, sender, extra, body, resigner)
                return [a async for a in show(attempts)]

        attempts = asyncio.run(run())
    return ExitCode.OK if all(a.ok for a in attempts) else ExitCode.CHECK_FAILED


def _selected(
    store: Store,
    since: str | None,
    path: str | None,
    status: StatusChoice | None,
    provider: str | None,
    verdict: VerdictChoice | None,
) -> list[int]:
    """The ids the filters select, oldest first (the order they are sent in)."""
    from whrelay.core.models import now_micros
    from whrelay.core.timeparse import parse_since
    from whrelay.storage import WebhookFilter

    where = WebhookFilter(
        since=parse_since(since, now_micros()) if since else None,
        path_glob=path,
        provider=provider.lower() if provider else None,
        status=status.value if status else None,
        verdict=verdict.value if verdict else None,
        limit=0,
    )
    return [w.id for w in reversed(store.list_webhooks(where))]


def _say_skipped(ids: list[int], plans: list[ReplayPlan], named: bool) -> None:
    from rich.text import Text

    planned = {plan.webhook.id for plan in plans}
    never = [webhook_id for webhook_id in ids if webhook_id not in planned]
    if not named and never:
        stderr().print(
            Text(
                f"Skipped {len(never)} webhook(s) never forwarded, with no target to "
                f"replay to ({_ids(never)}); --to names one.",
                style="yellow",
            )
        )


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids[:5]) + (" …" if len(ids) > 5 else "")


def _decisions(
    plans: list[ReplayPlan], resigner: Resigner | None
) -> dict[int, ResignDecision] | None:
    if resigner is None:
        return None
    from whrelay.relay.replay import resign_decisions

    return resign_decisions(plans, resigner)


def _check_secrets_fit(
    decisions: dict[int, ResignDecision] | None,
    secret: list[str] | None,
    secret_env: list[str] | None,
) -> None:
    """``UsageError`` when no secret given can sign for a scheme the webhooks are in: a typo
    in the secret, not a reason to send them all as received."""
    if decisions is None:
        return
    from whrelay.signatures.verification import given_secrets, signing_problem

    given = given_secrets(secret or (), secret_env or ())
    schemes = {d.scheme.name: d.scheme for d in decisions.values() if d.scheme is not None}
    for name, scheme in schemes.items():
        problems = [signing_problem(scheme, key.value) for key in given]
        if given and all(problem is not None for problem in problems):
            ids = sorted(i for i, d in decisions.items() if d.scheme is scheme)
            subject = (
                f"{given[0].label} cannot"
                if len(given) == 1
                else f"none of the {len(given)} secrets can"
            )
            raise UsageError(f"--resign: {subject} sign for {name} ({_ids(ids)})", hint=problems[0])


def _dry_run(
    plans: list[ReplayPlan], decisions: dict[int, ResignDecision] | None, json_output: bool
) -> None:
    """Each planned send with the webhook's verdict on arrival and, with ``--resign``,
    whether it would be re-signed and why not."""
    from rich.text import Text

    from whrelay.render.webhooks import one_line

    for plan in plans:
        summary = plan.webhook.summary
        decision = decisions.get(summary.id) if decisions is not None else None
        if json_output:
            record: dict[str, object] = {
                "id": summary.id,
                "target": plan.target.url,
                "dry_run": True,
                "verdict": summary.verdict,
                "scheme": summary.scheme,
            }
            if decision is not None:
                record["resign"] = decision.resign
                record["resign_note"] = decision.why or None
            write_json(record)
            continue
        url = plan.target.url_for(summary.path, summary.query)
        line = Text(one_line(f"#{summary.id} {summary.method} → {url}"))
        line.append(f"  {summary.verdict or 'unverified'}", style="dim")
        if summary.verdict_reason and summary.verdict != "valid":
            line.append(f" ({summary.verdict_reason})", style="dim")
        if decision is not None:
            line.append_text(_signing_text(decision))
        stdout().print(line)


def _signing_text(decision: ResignDecision) -> Text:
    from rich.text import Text

    from whrelay.render.webhooks import one_line

    if decision.resign and not decision.why:
        assert decision.scheme is not None
        return Text(f"  would be re-signed ({decision.scheme.name})", style="green")
    if decision.resign:
        return Text(f"  WOULD BE RE-SIGNED although {one_line(decision.why)}", style="bold red")
    return Text(f"  sent as received, not re-signed: {one_line(decision.why)}", style="yellow")


def _warn_signing(
    plans: list[ReplayPlan],
    decisions: dict[int, ResignDecision] | None,
    body: bytes | None,
    forced: bool,
) -> None:
    """Before sending: a warning per webhook re-signed although its signature did not verify
    (``--resign-unverified``), and a note when another body goes out under the sender's
    signature, which no longer matches it."""
    from rich.text import Text

    from whrelay.render.webhooks import one_line

    err = stderr()
    if decisions is not None and forced:
        for webhook_id, decision in decisions.items():
            if decision.resign and decision.why:
                err.print(
                    Text(
                        f"warning: #{webhook_id} is re-signed although {one_line(decision.why)} "
                        "(--resign-unverified): the app will trust what whrelay cannot",
                        style="bold red",
                    )
                )
    resigned = {i for i, d in (decisions or {}).items() if d.resign}
    schemes = {p.webhook.summary.scheme for p in plans if p.webhook.id not in resigned}
    signed = sorted(name for name in schemes if name and _signs_body(name))
    if body is not None and signed:
        err.print(
            Text(
                f"note: with another body, the {', '.join(signed)} signature sent with it "
                "no longer matches; --resign --secret S signs it afresh",
                style="yellow",
            )
        )


def _signs_body(name: str) -> bool:
    """Whether the scheme called ``name`` signs the body (as it declares); a name that is no
    scheme's is taken to."""
    from whrelay.signatures import REGISTRY, get_scheme

    return name not in REGISTRY or get_scheme(name).signs_body


def _resigner(
    sign_as: str | None,
    secret: list[str] | None,
    secret_env: list[str] | None,
    unverified: bool,
) -> Resigner:
    from whrelay.relay.client import Resigner
    from whrelay.signatures import get_scheme
    from whrelay.signatures.verification import SigningKeys, given_secrets, refuse_unusable

    given = given_secrets(secret or (), secret_env or ())
    secrets = tuple(key.value for key in given)
    if not secrets:
        raise UsageError(
            "--resign needs the secret (--secret or --secret-env): it re-signs only webhooks "
            "whose signature it verifies with that secret"
        )
    scheme = get_scheme(sign_as).name if sign_as else None
    if scheme is not None:
        refuse_unusable(get_scheme(scheme), given)
    keys = SigningKeys(scheme, secrets)
    return Resigner(lambda webhook: keys, unverified=unverified)


def _shower(
    json_output: bool, total: int
) -> Callable[[AsyncIterator[Attempt]], AsyncIterator[Attempt]]:
    """Wrap the stream of attempts with their output: a line each, and a bar for bulk."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from whrelay.render.webhooks import attempt_line, one_line

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
