"""Rich renderables for one webhook in detail, as the TUI's tabs show it: the request (pretty
or raw, as received), each delivery and attempt with the answer, the signature's verdict.

Like ``render/webhooks.py``: everything from a webhook or from a target's answer goes into
``Text`` objects made inert (never markup, never a terminal control sequence), and bodies are
cut for display with a note saying so.
"""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.padding import Padding
from rich.text import Text

from whrelay.core.models import (
    Attempt,
    Delivery,
    Webhook,
    decode_header,
    format_time,
    now_micros,
)
from whrelay.render.webhooks import (
    MAX_TEXT,
    attempt_line,
    body_view,
    header_lines,
    headers_table,
    hex_dump,
    human_size,
    kind,
    one_line,
    reindent_json,
    request_line,
    safe_text,
    verdict_text,
)
from whrelay.signatures import redact_headers
from whrelay.storage.read import WebhookView
from whrelay.views.safetext import inert

MAX_RESPONSE = 16 * 1024
"""Bytes of a target's answer shown per attempt (the whole one is in ``show --json``)."""


def title_line(webhook: Webhook, now_us: int, edit_note: str | None = None) -> Text:
    """``#42  2026-09-21 10:00:00 UTC (3 min ago)  stripe/invoice.paid  1.2 KiB  ✓ valid``,
    then ``edited from #N`` for an edited copy."""
    s = webhook.summary
    line = Text()
    line.append(f"#{s.id}", style="bold cyan")
    line.append(f"  {format_time(s.received_at)[:19].replace('T', ' ')} UTC", style="dim")
    line.append(f" ({ago(now_us - s.received_at)})", style="dim")
    line.append("  ")
    line.append(one_line(kind(s)), style="magenta")
    line.append(f"  {human_size(s.size)}", style="dim")
    line.append(f"  from {one_line(webhook.remote_addr or '?')}", style="dim")
    line.append_text(verdict_text(s, leading="  "))
    if edit_note:
        line.append(f"  {edit_note}", style="yellow")
    return line


def ago(micros: int) -> str:
    seconds = max(0, micros // 1_000_000)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def request_view(webhook: Webhook, raw: bool = False) -> RenderableType:
    """The request: its line, its headers in order with duplicates, and the body pretty
    (JSON laid out and highlighted, a form as a table, binary as hex, gzip decompressed with
    ``show``'s notes) or, ``raw``, exactly as received."""
    if raw:
        return raw_request(webhook)
    return Group(
        request_line(webhook),
        headers_table(redact_headers(webhook.decoded_headers())),
        Text(),
        body_view(webhook),
    )


def raw_request(webhook: Webhook) -> RenderableType:
    """The request as it came off the wire: header lines as sent, the body's bytes (text as
    is, with bytes that are not UTF-8 and control characters shown as escapes; binary, or
    compressed, as hex)."""
    head = Text()
    head.append_text(request_line(webhook))
    for name, value in redact_headers(webhook.decoded_headers()):
        head.append("\n")
        head.append(one_line(name), style="bold")
        head.append(": ")
        head.append(one_line(value))
    body = webhook.body
    if body is None:
        return Group(head, Text(), Text("(no body)", style="dim"))
    text = body.decode("utf-8", "surrogateescape")
    binary = "\x00" in text or sum(0xDC80 <= ord(c) <= 0xDCFF for c in text[:4096]) > 64
    if binary:
        return Group(head, Text(), hex_dump(body))
    shown = Text(inert(text[:MAX_TEXT]), no_wrap=False)
    if len(text) > MAX_TEXT:
        shown.append(cut_note(len(text) - MAX_TEXT, "characters"), style="dim italic")
    return Group(head, Text(), shown)


def cut_note(more: int, what: str) -> str:
    return f"\n… {more:,} more {what} not shown here (whrelay show ID --raw has them all)"


_STATE_STYLES = {"delivered": "green", "pending": "yellow", "failed": "red", "cancelled": "dim"}


def deliveries_view(view: WebhookView, full: bool = False) -> RenderableType:
    """Each delivery (target, state, attempts, last answer, when the next attempt is due),
    then every attempt: what triggered it, the status or the error, the latency, what came
    of it, and the target's answer. ``show`` has them oldest first, each answer in brief;
    ``full`` (the TUI's Deliveries tab), the newest first (a replay's shows at the top), each
    answer in full (headers, and the body laid out)."""
    parts: list[RenderableType] = []
    if not view.deliveries and not view.attempts:
        parts.append(Text("Never forwarded: no target was given when it arrived.", style="dim"))
        parts.append(
            Text("r replays it to its targets, F forwards it to one you type.", style="dim")
        )
        return Group(*parts)
    parts.append(Text("Deliveries", style="bold underline"))
    now = now_micros()
    parts += [delivery_line(view, delivery, now) for delivery in view.deliveries]
    if view.attempts:
        parts.append(Text())
        parts.append(Text(f"Attempts ({len(view.attempts)})", style="bold underline"))
    for shown in reversed(view.attempts) if full else view.attempts:
        attempt = shown.attempt
        if full:
            parts.append(Text())
        parts.append(
            attempt_line(attempt, shown.outcome.value, number=shown.number, stale=shown.stale)
        )
        parts.append(Padding(answer(attempt), (0, 0, 0, 4)) if full else brief_answer(attempt))
    return Group(*parts)


def delivery_line(view: WebhookView, delivery: Delivery, now_us: int) -> Text:
    """``failed    http://127.0.0.1:3000/hooks  3 attempt(s) + 1 replay(s)  last error
    refused``, and when a pending one's next attempt is due."""
    line = Text()
    line.append(f"{delivery.state:<10}", style=_STATE_STYLES.get(delivery.state, ""))
    line.append(one_line(delivery.target))
    line.append(f"  {delivery.attempts} attempt(s)", style="dim")
    if replays := view.replays(delivery.id):
        line.append(f" + {replays} replay(s)", style="dim")
    if delivery.last_error:  # the last attempt got no answer: an earlier status is stale
        line.append(f"  last error {one_line(delivery.last_error)}", style="dim")
    elif delivery.last_status is not None:
        line.append(f"  last status {delivery.last_status}", style="dim")
    if delivery.state == "pending" and delivery.next_attempt_at:
        when = format_time(delivery.next_attempt_at)
        if delivery.next_attempt_at <= now_us:
            line.append(f"  due since {when} (sent by a listen with -f for it)", style="dim")
        else:
            line.append(f"  next at {when}", style="dim")
    return line


def brief_answer(attempt: Attempt) -> RenderableType:
    """What the target answered, in brief (``show``): the error's detail, the headers (a
    redirect's Location, a Retry-After, the app's ids) and the start of the body, each on
    one line."""
    parts: list[RenderableType] = []
    if attempt.error_detail:
        parts.append(Text("    " + one_line(attempt.error_detail), style="dim"))
    if attempt.response_headers:
        answered = [(decode_header(k), decode_header(v)) for k, v in attempt.response_headers]
        head = header_lines(answered, indent="    ")
        head.stylize("dim")
        parts.append(head)
    if attempt.response_body:
        snippet = attempt.response_body[:300].decode("utf-8", "replace")
        more = " …" if len(attempt.response_body) > 300 or attempt.response_truncated else ""
        parts.append(Text("    " + one_line(snippet) + more, style="dim"))
    return Group(*parts)


def answer(attempt: Attempt) -> RenderableType:
    """What the target answered: its headers in order, and its body (pretty when JSON). (The
    error, when there was no answer, is on the attempt's line.)"""
    parts: list[RenderableType] = []
    if attempt.resign_note:
        parts.append(Text(one_line(attempt.resign_note), style="yellow"))
    if attempt.status is None:
        return Group(*parts)
    if attempt.response_headers:
        pairs = [(one_line(k.decode("latin-1")), v.decode("utf-8", "surrogateescape"))
                 for k, v in attempt.response_headers]  # fmt: skip
        parts.append(headers_table(pairs))
    body = attempt.response_body
    if not body:
        parts.append(Text("(empty answer body)", style="dim"))
        return Group(*parts)
    shown = body[:MAX_RESPONSE]
    try:
        text = shown.decode("utf-8")
    except UnicodeDecodeError:
        parts.append(hex_dump(shown, limit=1024))
    else:
        parts.append(_maybe_json(text))
    more = len(body) - len(shown)
    if more > 0 or attempt.response_truncated:
        note = f"… {more:,} more bytes not shown" if more > 0 else "…"
        if attempt.response_truncated:
            note += " (whrelay kept only the start of this answer)"
        parts.append(Text(note, style="dim italic"))
    return Group(*parts)


def _maybe_json(text: str) -> Text:
    if text.lstrip()[:1] in ("{", "["):
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            return JSONHighlighter()(Text(inert(reindent_json(text, limit=MAX_TEXT))))
    return safe_text(text)


REASONS = {
    "ok": "the signature matches",
    "bad_signature": "no signature matches the body with the secret given",
    "timestamp_too_old": "the signature matches, but its timestamp is too old",
    "timestamp_in_future": "the signature matches, but its timestamp is in the future",
    "missing_header": "the signature header is missing",
    "malformed_header": "the signature header cannot be read",
    "no_secret": "no secret was given to listen to check it with",
}


def arrival_verdict(webhook: Webhook) -> Text:
    """The verdict stored when the webhook arrived: what ``listen`` concluded, with what."""
    s = webhook.summary
    line = Text()
    line.append("On arrival: ", style="bold")
    if s.verdict == "valid":
        line.append("valid", style="bold green")
    elif s.verdict == "invalid":
        line.append("invalid", style="bold red")
    elif s.scheme:
        line.append("unverified", style="dim")
    else:
        line.append("-", style="dim")
    if s.scheme:
        line.append(f"  {one_line(s.scheme)}", style="bold")
    if s.verdict_reason:
        line.append(f"  {one_line(s.verdict_reason)}")
        if s.verdict_reason in REASONS:
            line.append(f": {REASONS[s.verdict_reason]}", style="dim")
    elif not s.scheme:
        line.append("  no signature scheme recognized in its headers", style="dim")
    if s.duplicate_of:
        line.append(
            f"\nA duplicate of #{s.duplicate_of}: the sender sent it twice.", style="yellow"
        )
    return line


def verification_view(
    valid: bool, reason: str, scheme: str, detail: str, hints: tuple[str, ...]
) -> Text:
    """``verify``'s answer: the verdict, the reason, and the hints naming likely causes."""
    line = Text()
    line.append("✓ valid" if valid else f"✗ {reason}", style="bold green" if valid else "bold red")
    line.append(f"  {one_line(scheme)}", style="bold")
    if detail:
        line.append(f"  {one_line(detail)}")
    for hint in hints:
        line.append("\n  hint: ", style="yellow")
        line.append(one_line(hint))
    return line
