"""Rich renderables for a replay (``whrelay.relay.replay``): each planned send, the webhooks
skipped, the warnings before sending, each attempt as it completes. For the CLI and the TUI;
what is shown comes from the webhook and is made inert."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from whrelay.core.models import Attempt
from whrelay.relay.replay import (
    ReplayItem,
    ReplayTally,
    ReplayWarning,
    ResignedUnverified,
    ResignOutlook,
    Skip,
    SkipReason,
    id_list,
)
from whrelay.render.webhooks import attempt_line, one_line
from whrelay.signatures.verification import ResignDecision


def planned_line(item: ReplayItem) -> Text:
    """One planned send (``--dry-run``): the webhook, where it goes and its verdict on
    arrival; with re-signing, first whether it would be re-signed and why not (judged with
    the secrets given, which need not be those it was judged with on arrival)."""
    summary = item.webhook.summary
    line = Text(one_line(f"#{summary.id} {summary.method} → {item.url}"))
    verdict = summary.verdict if summary.verdict in ("valid", "invalid") else None
    reason = (
        f" ({summary.verdict_reason})" if verdict == "invalid" and summary.verdict_reason else ""
    )
    if item.resign is None:
        line.append(f"  {verdict or 'unverified'}{reason}", style="dim")
        return line
    line.append_text(resign_text(item.resign))
    line.append(f"; on arrival: {verdict or 'not verified'}{reason}", style="dim")
    return line


def resign_text(decision: ResignDecision) -> Text:
    """Whether a planned send would be re-signed: yes (with the scheme, and whether its
    signature covers the body), no and why, or yes although its signature does not verify."""
    scheme = decision.scheme
    if decision.resign and not decision.why:
        assert scheme is not None
        text = f"  would be re-signed ({scheme.name}): its signature verifies with the secret given"
        if not scheme.signs_body:
            text += f" (a {scheme.name} signature does not cover the body)"
        return Text(text, style="green")
    why = one_line(decision.why)
    if scheme is not None and decision.verdict == "invalid":
        why = f"with the secret given, {why}"
    if decision.resign:
        assert scheme is not None
        return Text(
            f"  WOULD BE RE-SIGNED ({scheme.name}) although, {why} (--resign-unverified)",
            style="bold red",
        )
    return Text(f"  not re-signed, would go as received: {why}", style="yellow")


def resign_outlook_lines(outlook: ResignOutlook) -> list[Text]:
    """After a dry run with ``--resign``: how many webhooks it would re-sign, how many would
    go as received and why, and a hint when some verified on arrival but not now."""
    lines = [
        Text(
            f"Would re-sign {len(outlook.resigned)} webhook(s) ({id_list(outlook.resigned)}): "
            "their signatures verify with the secret given.",
            style="green",
        )
        if outlook.resigned
        else Text("Would re-sign none: no signature verifies with the secret given.", style="dim")
    ]
    if outlook.forced:
        lines.append(
            Text(
                f"Would re-sign {len(outlook.forced)} webhook(s) although their signatures do "
                f"not verify ({id_list(outlook.forced)}): --resign-unverified.",
                style="bold red",
            )
        )
    if outlook.as_received:
        lines.append(
            Text(
                f"Would send {len(outlook.as_received)} webhook(s) as received, not re-signed "
                f"({id_list(outlook.as_received)}): --resign signs only what verifies with the "
                "secret given.",
                style="yellow",
            )
        )
    if outlook.other_secret:
        lines.append(
            Text(
                f"hint: {id_list(outlook.other_secret)} verified on arrival, but not with the "
                "secret given: give the secret of the provider that signed it",
                style="yellow",
            )
        )
    return lines


def skipped_lines(skips: Sequence[Skip]) -> list[Text]:
    """A line per kind of skip, naming the first few webhooks."""
    never = [skip.webhook_id for skip in skips if skip.reason is SkipReason.NEVER_FORWARDED]
    other = [skip.webhook_id for skip in skips if skip.reason is not SkipReason.NEVER_FORWARDED]
    lines = []
    if never:
        lines.append(
            Text(
                f"Skipped {len(never)} webhook(s) never forwarded, with no target to "
                f"replay to ({id_list(never)}); --to names one.",
                style="yellow",
            )
        )
    if other:
        lines.append(
            Text(
                f"Skipped {len(other)} webhook(s) with no delivery in the state asked for "
                f"({id_list(other)}).",
                style="yellow",
            )
        )
    return lines


def warning_line(warning: ReplayWarning) -> Text:
    """A warning to show before sending: re-signed although unverified (loud), or a note."""
    if isinstance(warning, ResignedUnverified):
        return Text(f"warning: {one_line(warning.message)}", style="bold red")
    return Text(f"note: {one_line(warning.message)}", style="yellow")


def replayed_line(attempt: Attempt) -> Text:
    """One attempt of a replay, with the start of the target's answer."""
    line = attempt_line(attempt, "delivered" if attempt.ok else "failed")
    if attempt.response_body:
        snippet = attempt.response_body[:120].decode("utf-8", "replace")
        line.append("  " + one_line(snippet), style="dim")
    return line


def summary_lines(tally: ReplayTally, interrupted: bool = False) -> list[Text]:
    """The end of a replay: how many were sent, answered 2xx and failed (by status or
    error), skipped, and not sent when it was interrupted; a hint to re-sign when failures
    look like signatures refused as too old."""
    words = [f"{tally.sent} sent", f"{tally.ok} answered 2xx"]
    if tally.failed:
        kinds = ", ".join(f"{count} × {kind}" for kind, count in sorted(tally.failures.items()))
        words.append(f"{tally.failed} failed ({kinds})")
    if tally.skipped:
        words.append(f"{tally.skipped} skipped")
    if interrupted:
        words.append(f"{tally.unsent} not sent")
    head = "Interrupted: " if interrupted else "Replayed: "
    style = "yellow" if interrupted or tally.failed else "green"
    lines = [Text(head + ", ".join(words) + ".", style=style)]
    if tally.stale:
        schemes = ", ".join(sorted(tally.stale))
        count = sum(tally.stale.values())
        lines.append(
            Text(
                f"hint: {count} of the failures answered 400/401/403 went out with a {schemes} "
                "signature older than its tolerance; --resign --secret S signs them afresh "
                "with the current time",
                style="yellow",
            )
        )
    return lines
