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
    Skip,
    SkipReason,
    id_list,
)
from whrelay.render.webhooks import attempt_line, one_line
from whrelay.signatures.verification import ResignDecision


def planned_line(item: ReplayItem) -> Text:
    """One planned send (``--dry-run``): the webhook, where it goes, its verdict on arrival
    and, with re-signing, whether it would be re-signed and why not."""
    summary = item.webhook.summary
    line = Text(one_line(f"#{summary.id} {summary.method} → {item.url}"))
    line.append(f"  {summary.verdict or 'unverified'}", style="dim")
    if summary.verdict_reason and summary.verdict != "valid":
        line.append(f" ({summary.verdict_reason})", style="dim")
    if item.resign is not None:
        line.append_text(resign_text(item.resign))
    return line


def resign_text(decision: ResignDecision) -> Text:
    """Whether a planned send would be re-signed: yes, no (and why), or forced past a check."""
    if decision.resign and not decision.why:
        assert decision.scheme is not None
        return Text(f"  would be re-signed ({decision.scheme.name})", style="green")
    if decision.resign:
        return Text(f"  WOULD BE RE-SIGNED although {one_line(decision.why)}", style="bold red")
    return Text(f"  sent as received, not re-signed: {one_line(decision.why)}", style="yellow")


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
