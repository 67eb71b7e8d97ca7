"""Rich renderables for webhooks. Everything from a webhook is untrusted text.

Nothing from a request is ever parsed as Rich markup: it goes into ``Text`` objects, never
into markup strings, and control characters (ESC, CSI, BEL, backspace, ...) are shown as
visible escapes such as ``\\x1b`` so they cannot drive the terminal.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text

from whrelay.core.models import (
    Attempt,
    StaleSignature,
    Trigger,
    Webhook,
    WebhookSummary,
    format_time,
    header_value,
)
from whrelay.signatures import redact_headers
from whrelay.storage.read import Outcome, Standing, given_up
from whrelay.views.jsontext import reindent_json as reindent_json
from whrelay.views.safetext import inert as inert
from whrelay.views.safetext import one_line as one_line

MAX_DECOMPRESSED = 64 * 1024 * 1024
MAX_GZIP_MEMBERS = 1000
"""gzip members shown, at the most; the rest count as bytes not shown."""
MAX_PRETTY = 2 * 1024 * 1024
"""Bodies above this are shown raw, not pretty-printed."""
MAX_TEXT = 256 * 1024
"""Characters of a text body (or of its pretty JSON) shown at the most (``--raw`` has them
all): a terminal of a quarter of a million characters is read no further, and Rich takes
seconds over millions."""


def safe_text(value: str | None, style: str = "") -> Text:
    """Untrusted text as a Rich ``Text``: never markup, never a terminal control sequence."""
    return Text(inert(value or ""), style=style, no_wrap=False)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB"):
        size_f = size / 1024
        if size_f < 1024 or unit == "GiB":
            return f"{size_f:.1f} {unit}"
        size = int(size_f)
    return f"{size} B"


def short_time(micros: int) -> str:
    return format_time(micros)[11:23]


def kind(summary: WebhookSummary) -> str:
    """``provider/event_type``, as far as either is known."""
    parts = [summary.provider or "", summary.event_type or ""]
    return "/".join(part for part in parts if part) or "-"


def webhook_line(summary: WebhookSummary) -> Text:
    """One line for ``listen``'s live output."""
    line = Text()
    line.append(short_time(summary.received_at), style="dim")
    line.append(f"  #{summary.id:<5} ", style="bold cyan")
    line.append(f"{summary.method:<6} ", style="bold")
    line.append(one_line(summary.target))
    line.append("  ")
    line.append(one_line(kind(summary)), style="magenta")
    if summary.provider_id:  # what show, replay and verify take in place of the number
        line.append(f"  {provider_id_text(summary.provider_id)}", style="cyan")
    line.append(f"  {human_size(summary.size)}", style="dim")
    line.append_text(verdict_text(summary, leading="  "))
    return line


PROVIDER_ID_SHOWN = 48
"""Characters of a provider id shown in a line; a longer one is cut with ``…``."""


def provider_id_text(provider_id: str) -> str:
    """The sender's own id of a webhook, made inert, and cut when it is very long."""
    shown = one_line(provider_id)
    return shown if len(shown) <= PROVIDER_ID_SHOWN else shown[: PROVIDER_ID_SHOWN - 1] + "…"


_VERDICT_STYLES = {"valid": "green", "invalid": "bold red", "unverified": "dim"}


def verdict_text(summary: WebhookSummary, leading: str = "", short: bool = False) -> Text:
    """``✓ valid``, ``✗ invalid (bad_signature)``, ``unverified``, plus ``duplicate of #N``;
    ``short`` drops the words the symbols already say."""
    parts: list[tuple[str, str]] = []
    if summary.verdict == "valid":
        parts.append(("✓" if short else "✓ valid", "green"))
    elif summary.verdict == "invalid":
        reason = summary.verdict_reason or "invalid"
        parts.append((f"✗ {reason}" if short else f"✗ invalid ({reason})", "bold red"))
    elif summary.verdict == "unverified" and summary.scheme:
        parts.append(("unverified", "dim"))
    if summary.duplicate_of:
        word = "dup of" if short else "duplicate of"
        parts.append((f"{word} #{summary.duplicate_of}", "bold yellow"))
    text = Text()
    for index, (words, style) in enumerate(parts):
        text.append((leading if index == 0 else " ") + words, style=style)
    if leading and text.plain.startswith(leading) and short:
        text = text[len(leading) :]
    return text


_ID, _TIME, _METHOD, _PATH, _EVENT, _SIZE, _SIGNATURE, _DELIVERY = range(8)
_CUT_FROM = 16
"""Columns the path and the event share at the least, before the time and the signature go."""
_PATH_KEPT = 12
"""Columns of the path that narrowing the other columns keeps it (the event whole first)."""
_DELIVERY_STYLES = {"delivered": "green", "failed": "red", "pending": "yellow"}


def delivery_text(standing: Standing) -> Text:
    """``delivered 200``, ``failed 500``, ``pending refused``, ``-``: a state this whrelay does
    not name (a later one's) as it is, unstyled."""
    return Text(str(standing), style=_DELIVERY_STYLES.get(standing.state or "", ""))


def verdict_symbol(summary: WebhookSummary) -> Text:
    """The verdict in a column or two, for a narrow terminal: ✓, ✗, ? (unverified), and
    ``dup`` for a duplicate."""
    symbol = {"valid": ("✓", "green"), "invalid": ("✗", "bold red")}.get(summary.verdict or "")
    if symbol is None and summary.verdict == "unverified" and summary.scheme:
        symbol = ("?", "dim")
    text = Text(*symbol) if symbol else Text("-")
    if summary.duplicate_of:
        text.append(" dup", style="bold yellow")
    return text


def webhook_table(
    summaries: Sequence[WebhookSummary],
    width: int | None = None,
    standings: Mapping[int, Standing] | None = None,
) -> Table:
    """``list``'s table; with ``standings``, a DELIVERY column (state and last answer).

    Within ``width`` columns the time is shortened first (no year, then no seconds), then
    the narrow columns' headers, then a METHOD column of POSTs alone goes, then the verdicts
    become symbols, then the size goes; then the path is cut short (with an ellipsis), and
    the event last; on a very narrow terminal the time and the signature go. The id and the
    delivery state stay whole. ``None``: nothing is cut (a pipe)."""
    rows: list[list[str | Text]] = [
        [
            str(item.id),
            format_time(item.received_at)[:19].replace("T", " "),
            Text(one_line(item.method)),
            Text(one_line(item.target)),
            Text(one_line(kind(item))),
            human_size(item.size),
            verdict_text(item, leading=" ", short=True) or Text("-"),
            delivery_text(standings.get(item.id, Standing(None))) if standings else Text(),
        ]
        for item in summaries
    ]
    headers = ["ID", "RECEIVED (UTC)", "METHOD", "PATH", "EVENT", "SIZE", "SIGNATURE", "DELIVERY"]
    shown = list(range(len(headers) if standings is not None else _DELIVERY))

    def widths() -> list[int]:
        return [
            max([len(header), *(_cell_width(row[column]) for row in rows)])
            for column, header in enumerate(headers)
        ]

    def spare() -> int:
        measured = widths()
        fixed = sum(measured[c] for c in shown if c not in (_PATH, _EVENT))
        return int(width or 0) - fixed - 2 * (len(shown) - 1)

    path_width = event_width = None
    if width is not None:
        measured = widths()
        wanted = measured[_EVENT] + min(measured[_PATH], _PATH_KEPT)
        narrowing = ("no year", "no seconds", "short headers", "no method", "symbols", "no size")
        for step in narrowing:
            if spare() >= wanted:
                break
            if step == "no year":
                for row in rows:
                    row[_TIME] = str(row[_TIME])[5:]
                headers[_TIME] = "RECEIVED"
            elif step == "no seconds":
                for row in rows:
                    row[_TIME] = str(row[_TIME])[:-3]
            elif step == "short headers":
                headers[_SIGNATURE] = "SIG"
                headers[_METHOD] = "METH"
            elif step == "no method":
                if all(str(row[_METHOD]) == "POST" for row in rows):
                    shown.remove(_METHOD)
            elif step == "symbols":
                for row, item in zip(rows, summaries, strict=True):
                    row[_SIGNATURE] = verdict_symbol(item)
            else:
                shown.remove(_SIZE)
        for column in (_TIME, _SIGNATURE):  # only where the path and event would not show
            if spare() < _CUT_FROM:
                shown.remove(column)
        room, measured = spare(), widths()
        if measured[_PATH] + measured[_EVENT] > room:  # the path is cut first
            event_width = max(8, min(measured[_EVENT], room - min(measured[_PATH], 8)))
            path_width = max(8, room - event_width)
    table = Table(box=None, header_style="bold", pad_edge=False)
    options: dict[int, dict[str, Any]] = {
        _ID: {"justify": "right", "style": "cyan"},
        _TIME: {"style": "dim"},
        _PATH: {"overflow": "ellipsis", "max_width": path_width},
        _EVENT: {"overflow": "ellipsis", "style": "magenta", "max_width": event_width},
        _SIZE: {"justify": "right"},
    }
    for column in shown:
        table.add_column(headers[column], no_wrap=True, **options.get(column, {}))
    for row in rows:
        table.add_row(*(row[column] for column in shown))
    return table


def _cell_width(cell: str | Text) -> int:
    return cell_len(cell.plain if isinstance(cell, Text) else cell)


def header_lines(pairs: Sequence[tuple[str, str]], indent: str = "") -> Text:
    """``Name: value`` lines, as the headers were received (made inert): what ``grep`` and
    ``cut`` expect of headers, and what a pipe gets, where a table would fold long values."""
    text = Text()
    for index, (name, value) in enumerate(pairs):
        if index:
            text.append("\n")
        text.append(indent)
        text.append(one_line(name), style="bold")
        text.append(": ")
        text.append(one_line(value))
    return text


def headers_table(pairs: Sequence[tuple[str, str]]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in pairs:
        table.add_row(Text(one_line(name)), Text(one_line(value)))
    return table


def decoded_body(webhook: Webhook) -> tuple[bytes | None, str | None]:
    """The body with its Content-Encoding undone, and a note on what was done or failed."""
    body = webhook.body
    encoding = (webhook.header("content-encoding") or "").strip().lower()
    if body is None or encoding in ("", "identity"):
        return body, None
    try:
        if encoding in ("gzip", "x-gzip"):
            stream = zlib.decompressobj(wbits=31)
            out = stream.decompress(body, MAX_DECOMPRESSED)
        elif encoding == "deflate":
            try:
                stream = zlib.decompressobj()
                out = stream.decompress(body, MAX_DECOMPRESSED)
            except zlib.error:
                stream = zlib.decompressobj(wbits=-15)
                out = stream.decompress(body, MAX_DECOMPRESSED)
        else:
            return body, f"Content-Encoding {encoding!r} shown as received"
    except (zlib.error, gzip.BadGzipFile) as error:
        return body, f"could not decompress ({encoding}): {error}; shown as received"
    received = human_size(len(body))
    members = 1
    while (
        encoding in ("gzip", "x-gzip")
        and stream.eof
        and stream.unused_data[:2] == b"\x1f\x8b"
        and len(out) < MAX_DECOMPRESSED
        and members < MAX_GZIP_MEMBERS  # each turn copies the rest: bounded, not quadratic
    ):
        members += 1
        # Several gzip members one after the other are one gzip body (RFC 1952).
        following = zlib.decompressobj(wbits=31)
        try:
            more = following.decompress(stream.unused_data, MAX_DECOMPRESSED - len(out))
        except zlib.error:
            break  # a member that is not gzip: counted below among the bytes not shown
        out += more
        stream = following
    if stream.unconsumed_tail:
        return out, (
            f"decompressed from {encoding} ({received} as received): only the first "
            f"{human_size(MAX_DECOMPRESSED)} are shown"
        )
    if not stream.eof:
        if not out:
            return body, (
                f"could not decompress ({encoding}): the stream is cut short; shown as received"
            )
        return out, (
            f"decompressed from {encoding} ({received} as received), but the stream is cut "
            "short: shown as far as it goes"
        )
    if members == MAX_GZIP_MEMBERS and stream.unused_data[:2] == b"\x1f\x8b":
        return out, (
            f"decompressed from gzip ({received} as received): the first {MAX_GZIP_MEMBERS} "
            f"members; {human_size(len(stream.unused_data))} of members after them not shown"
        )
    if stream.unused_data:
        return out, (
            f"decompressed from {encoding} ({received} as received); "
            f"{human_size(len(stream.unused_data))} after the end of the stream not shown"
        )
    return out, f"decompressed from {encoding} ({received} as received)"


def hex_dump(data: bytes, limit: int = 64 * 1024) -> Text:
    """``offset  hex bytes  ascii`` lines, 16 bytes each."""
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hexed = " ".join(f"{b:02x}" for b in chunk)
        shown = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexed:<47}  {shown}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes (use --raw)")
    return Text("\n".join(lines))


def body_view(webhook: Webhook, aligned: bool = True) -> RenderableType:
    """The body as a person wants to read it: pretty JSON, a form table (``name: value``
    lines unless ``aligned``), text, or hex."""
    body, note = decoded_body(webhook)
    parts: list[RenderableType] = []
    if note:
        parts.append(Text(note, style="dim italic"))
    if body is None:
        parts.append(Text("(no body)", style="dim"))
        return Group(*parts)
    if not body:
        parts.append(Text("(empty body)", style="dim"))
        return Group(*parts)
    content_type = (header_value(webhook.headers, "content-type") or "").lower()
    parts.append(_body_content(body, content_type, aligned))
    return Group(*parts)


def _body_content(body: bytes, content_type: str, aligned: bool = True) -> RenderableType:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return hex_dump(body)
    if len(body) <= MAX_PRETTY:
        stripped = text.lstrip()
        if "json" in content_type or stripped[:1] in ("{", "["):
            try:
                json.loads(text)
            except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
                pass
            else:
                pretty = reindent_json(text, limit=MAX_TEXT)
                shown = JSONHighlighter()(Text(inert(pretty[:MAX_TEXT])))
                if len(pretty) > MAX_TEXT:
                    shown.append("\n… (cut here; --raw gives the whole body)", style="dim italic")
                return shown
        if "x-www-form-urlencoded" in content_type:
            fields = parse_qsl(text, keep_blank_values=True)
            return headers_table(fields) if aligned else header_lines(fields)
    if "\x00" in text:
        return hex_dump(body)
    if len(text) > MAX_TEXT:
        shown = safe_text(text[:MAX_TEXT])
        more = len(text[MAX_TEXT:].encode())
        shown.append(f"\n… {more} more bytes (use --raw)", style="dim italic")
        return shown
    return safe_text(text)


def request_line(webhook: Webhook) -> Text:
    line = Text()
    line.append(one_line(webhook.summary.method), style="bold")
    line.append(" ")
    line.append(one_line(webhook.summary.target))
    line.append(f" HTTP/{webhook.http_version}", style="dim")
    return line


def webhook_detail(
    webhook: Webhook,
    imported_from: str | None = None,
    edit_note: str | None = None,
    aligned: bool = True,
) -> Group:
    """``show``'s full view: a header line, the request line, headers, and the body;
    ``edit_note``: ``edited from #N`` (``WebhookView.edit_note``). The headers (and a form's
    fields) in an aligned table, or, not ``aligned`` (for a pipe), as ``Name: value`` lines
    that are never folded."""
    s = webhook.summary
    title = Text()
    title.append(f"#{s.id}", style="bold cyan")
    title.append(f"  {format_time(s.received_at)}", style="dim")
    title.append(f"  from {one_line(webhook.remote_addr or '?')}", style="dim")
    title.append("  ")
    title.append(one_line(kind(s)), style="magenta")
    if s.provider_id:
        title.append(f"  provider id {one_line(s.provider_id)}", style="dim")
    title.append(f"  {human_size(s.size)}", style="dim")
    if s.verdict:
        title.append_text(verdict_text(s, leading="  "))
        if s.scheme and s.verdict != "valid":
            title.append(f" [{s.scheme}]", style="dim")
    if imported_from:
        title.append("  imported from ", style="dim")
        title.append(one_line(imported_from), style="dim")
    if edit_note:
        title.append(f"  {edit_note}", style="yellow")
    shown = redact_headers(webhook.decoded_headers())
    return Group(
        title,
        Text(),
        request_line(webhook),
        headers_table(shown) if aligned else header_lines(shown),
        Text(),
        body_view(webhook, aligned),
    )


TIMEOUT_HINT = "at a breakpoint? --timeout 0 waits for the answer"
"""Beside a forwarding or replay attempt that timed out: an app stopped in a debugger answers
late, and ``listen --timeout 0`` (``replay --timeout 0``) waits as long as it takes."""
CERTIFICATE_HINT = "self-signed? --ca-file CERT.pem trusts it, --insecure skips the check"
"""Beside an attempt whose target's certificate did not verify (``Attempt.certificate_rejected``;
never another TLS failure): ``listen``, ``replay`` and ``send`` take both options."""


def attempt_line(
    attempt: Attempt,
    state: str,
    retry_in: float | None = None,
    number: int = 1,
    stale: StaleSignature | None = None,
) -> Text:
    """One line for an attempt: webhook, target, status or error, latency, what happens next;
    and, refused for a signature too old (``stale``), the fix."""
    line = Text()
    line.append(short_time(attempt.started_at), style="dim")
    if attempt.webhook_id:  # 0: a test webhook from 'whrelay send', never stored
        line.append(f"  #{attempt.webhook_id:<5} ", style="bold cyan")
    line.append("  → " if not attempt.webhook_id else "→ ", style="dim")
    line.append(one_line(attempt.url))
    line.append("  ")
    if attempt.status is not None:
        style = "bold green" if attempt.ok else "bold red"
        line.append(str(attempt.status), style=style)
    else:
        line.append(one_line(attempt.error or "error"), style="bold red")
        if attempt.error_detail:
            detail = one_line(attempt.error_detail)
            line.append(f" ({detail[:77] + '…' if len(detail) > 80 else detail})", style="red")
        if attempt.error == "timeout" and attempt.trigger != Trigger.SEND:
            line.append(f"  {TIMEOUT_HINT}", style="yellow")
        elif attempt.certificate_rejected:
            line.append(f"  {CERTIFICATE_HINT}", style="yellow")
    line.append(f"  {attempt.duration_us / 1000:.1f} ms", style="dim")
    if attempt.trigger == "retry":
        line.append(f"  (retry {number - 1})", style="dim")
    elif attempt.trigger != "first":
        line.append(f"  ({attempt.trigger})", style="dim")
    if attempt.edited:  # not what was received: say so beside the answer it got
        line.append(f"  edited: {one_line(attempt.edited)}", style="yellow")
    line.append_text(signing_text(attempt))
    if retry_in is not None:
        line.append(f"  retry in {retry_in:.1f} s", style="yellow")
    elif state == "failed":  # a delivery's state, live: say how it ended
        line.append(f"  {given_up(attempt).value}", style="red")
    elif state in (Outcome.NOT_RETRIED, Outcome.WINDOW_OVER):
        line.append(f"  {state}", style="red")
    elif state == "pending" and attempt.error == "interrupted":
        line.append("  sent again by the next listen", style="yellow")
    elif state == "pending":  # from listen, with no time: its target is down
        line.append("  retry when the target is back", style="yellow")
    elif state in (
        Outcome.RETRIED,
        Outcome.RETRY_PENDING,
        Outcome.THEN_REPLAYED,
        Outcome.CANCELLED,
    ):
        line.append(f"  {state}", style="yellow")
    if stale is not None:
        line.append_text(stale_text(attempt.webhook_id, stale))
    return line


def stale_text(webhook_id: int, stale: StaleSignature) -> Text:
    """``  stale signature: ... whrelay replay 7 --resign --secret-env VAR``: an attempt
    refused, most likely, because the sender's signature was older than its scheme accepts.
    ``replay --resign`` needs the secret: the fix names each variable listen read one from
    (``--secret-env A --secret-env B``), says to give one typed on listen's command line
    (``--secret SECRET``), and, when neither is known (``show``), says ``--secret-env VAR``."""
    given = "".join(f" --secret-env {name}" for name in stale.secret_envs)
    if stale.secret_typed:
        given += " --secret SECRET (listen's --secret)"
    return Text(
        f"  stale signature ({seconds_text(stale.age)} after arrival, {stale.scheme} allows"
        f" {seconds_text(stale.tolerance)}): whrelay replay {webhook_id} --resign"
        f"{one_line(given) or ' --secret-env VAR'}",
        style="yellow",
    )


def seconds_text(seconds: float) -> str:
    """``42 s``, ``7 min``, ``3.5 h``, ``2.0 d``: a span, to a reader's precision."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def signing_text(attempt: Attempt, limit: int = 100) -> Text:
    """What ``--resign`` did to an attempt: re-signed, not (and why), or forced past a failed
    check; empty when re-signing was not asked for."""
    note = one_line(attempt.resign_note or "")
    note = note[: limit - 1] + "…" if len(note) > limit else note
    if attempt.resigned is None:
        return Text()
    if attempt.resigned and not note:
        return Text("  re-signed", style="dim")
    if attempt.resigned:
        return Text(f"  {note}", style="bold red")
    return Text(f"  {note}", style="yellow")
