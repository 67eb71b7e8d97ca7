"""Two requests, or two answers of an app, line by line: which lines differ, and which of those
are volatile (ids, timestamps, signatures: different each time a sender sends "the same"
event, so a comparison can show them without counting them).

What is compared: the first line (the request line, or the status), the headers in order,
and the body, JSON laid out one value a line (every token as sent), a form one field a line,
other text as its lines, and binary as a hex dump. Every line is inert text (control
characters as escapes): a front end shows it as it is.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl

from whrelay.core.models import (
    Attempt,
    Webhook,
    decode_header,
    format_time,
    header_value,
    redact_headers,
)
from whrelay.views.jsontext import reindent_json
from whrelay.views.safetext import one_line

MAX_LINES = 5000
"""Lines of a body compared, at the most, on each side (a diff costs more than linear time)."""
MAX_PRETTY = 2 * 1024 * 1024
"""Bodies above this many bytes are compared as their text lines, not laid out as JSON."""

_VOLATILE_HEADER = re.compile(
    r"signature|timestamp|hmac|delivery|idempotency|nonce|trace|request-id|triggered-at"
    r"|(^|-)(id|uuid)$|^(date|content-length|cf-ray|x-amzn-trace-id)$"
)
"""Header names (lower case) that change between two sends of one event: the sender's ids,
timestamps and signatures (``Stripe-Signature``, ``webhook-id``, ``X-GitHub-Delivery``,
``X-Slack-Request-Timestamp``), the date, tracing, and the length that follows the body."""
_VOLATILE_KEY = re.compile(
    r"(?i:^(id|uuid|nonce|signature|timestamp|created|date|time|ts|idempotency_?key)$)"
    r"|(_id|Id|_uuid|_at|At|_timestamp|Timestamp|_ts|_time|_date)$"
)
"""JSON keys and form fields that are ids or timestamps: ``id``, ``created``,
``customer_id``, ``created_at``, ``createdAt``, ``webhookTimestamp``."""
_JSON_KEY = re.compile(r'^\s*"((?:[^"\\]|\\.)*)": ')


class RowKind(StrEnum):
    SAME = "same"
    CHANGED = "changed"
    """A line on each side, at the same place, that differ."""
    REMOVED = "removed"
    """Only on the left."""
    ADDED = "added"
    """Only on the right."""


@dataclass(frozen=True, slots=True)
class DiffRow:
    kind: RowKind
    left: str | None
    right: str | None
    volatile: bool = False
    """A difference in an id, a timestamp or a signature (never set on a ``SAME`` row)."""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    rows: tuple[DiffRow, ...]
    note: str | None = None
    """What was not compared, or how the lines differ when no line does."""

    def differences(self, ignore_volatile: bool = True) -> int:
        return sum(
            1
            for row in self.rows
            if row.kind is not RowKind.SAME and not (ignore_volatile and row.volatile)
        )

    def volatile(self) -> int:
        return sum(1 for row in self.rows if row.kind is not RowKind.SAME and row.volatile)


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison: its title (ids and times: shown, never compared) and what is
    compared."""

    title: str
    first_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    left_title: str
    right_title: str
    sections: tuple[Section, ...]

    def differences(self, ignore_volatile: bool = True) -> int:
        return sum(section.differences(ignore_volatile) for section in self.sections)

    def volatile(self) -> int:
        return sum(section.volatile() for section in self.sections)

    def summary(self, ignore_volatile: bool = True) -> str:
        """``2 differences; 3 in ids, timestamps or signatures, not counted``."""
        count = self.differences(ignore_volatile)
        text = "no differences" if not count else f"{count} difference" + "s" * (count != 1)
        volatile = self.volatile()
        if ignore_volatile and volatile:
            text += f"; {volatile} in ids, timestamps or signatures, not counted"
        elif volatile:
            text += f" ({volatile} in ids, timestamps or signatures)"
        return text


def compare(left: Side, right: Side, first: str = "request") -> Comparison:
    """``left`` and ``right`` line by line (see the module); ``first`` names the first line."""
    first_rows = _diff([left.first_line], [right.first_line], lambda line: None)
    headers = _diff(
        [_header(k, v) for k, v in left.headers],
        [_header(k, v) for k, v in right.headers],
        _header_volatile,
    )
    left_lines, left_note = body_lines(left.body, left.content_type)
    right_lines, right_note = body_lines(right.body, right.content_type)
    body = _diff(left_lines, right_lines, _body_volatile)
    notes = [note for note in (left_note, right_note) if note]
    if not notes and left.body != right.body and all(row.kind is RowKind.SAME for row in body):
        notes.append("the bodies differ only in layout (spaces and line breaks)")
    return Comparison(
        left.title,
        right.title,
        (
            Section(first, first_rows),
            Section("headers", headers),
            Section("body", body, "; ".join(dict.fromkeys(notes)) or None),
        ),
    )


def request_side(webhook: Webhook, name: str | None = None) -> Side:
    """A webhook as a side: its request line, its headers (the secret itself redacted) and
    its body; titled with its id and arrival time (or ``name``: an edit not stored yet),
    then its kind."""
    s = webhook.summary
    kind = "/".join(part for part in (s.provider, s.event_type) if part) or "-"
    return Side(
        f"{name or f'#{s.id}  {_time(s.received_at)}'}  {one_line(kind)}",
        f"{one_line(s.method)} {one_line(s.target)} HTTP/{webhook.http_version}",
        tuple(redact_headers(webhook.decoded_headers())),
        webhook.body,
        header_value(webhook.headers, "content-type") or "",
    )


def response_side(attempt: Attempt, title: str) -> Side:
    """What an app answered an attempt: the status (or why there was no answer), its headers
    and its body."""
    if attempt.status is None:
        first = f"no answer: {attempt.error or 'error'}"
        if attempt.error_detail:
            first += f" ({one_line(attempt.error_detail)})"
    else:
        first = f"HTTP {attempt.status}"
    headers = tuple((decode_header(k), decode_header(v)) for k, v in attempt.response_headers)
    return Side(
        title,
        first,
        headers,
        attempt.response_body if attempt.status is not None else None,
        header_value(attempt.response_headers, "content-type") or "",
    )


def attempt_title(attempt: Attempt, number: int) -> str:
    """``attempt 2 (retry)  2026-09-21 14:16:22 UTC  → http://127.0.0.1:3000/hooks``."""
    return (
        f"attempt {number} ({attempt.trigger})  {_time(attempt.started_at)}"
        f"  → {one_line(attempt.url)}"
    )


def _time(micros: int) -> str:
    return format_time(micros)[:19].replace("T", " ") + " UTC"


# --- lines ---------------------------------------------------------------------------------------


def body_lines(body: bytes | None, content_type: str = "") -> tuple[list[str], str | None]:
    """The body as the lines compared, and a note on what was left out or how it was read."""
    if body is None:
        return ["(no body)"], None
    if not body:
        return ["(empty body)"], None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _bounded(hex_lines(body[:_HEX_BYTES]), "binary: compared as hex")
    if "\x00" in text:
        return _bounded(hex_lines(body[:_HEX_BYTES]), "binary: compared as hex")
    content_type = content_type.lower()
    if len(body) <= MAX_PRETTY and ("json" in content_type or text.lstrip()[:1] in ("{", "[")):
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            return _bounded(reindent_json(text).splitlines(), None)
    if "x-www-form-urlencoded" in content_type:
        fields = [f"{name}={value}" for name, value in parse_qsl(text, keep_blank_values=True)]
        return _bounded(fields, None)
    return _bounded(text.splitlines(), None)


_HEX_BYTES = (MAX_LINES + 1) * 16
"""Bytes of a binary body laid out as hex: one line more than are compared, so that the cut
is seen (a 25 MiB body is not laid out whole to keep 5,000 lines of it)."""


def _bounded(lines: list[str], note: str | None) -> tuple[list[str], str | None]:
    """At most ``MAX_LINES`` of ``lines``, each made inert for the terminal (``one_line``)."""
    if len(lines) <= MAX_LINES:
        return [one_line(line) for line in lines], note
    cut = f"only the first {MAX_LINES:,} lines of a body are compared"
    return [one_line(line) for line in lines[:MAX_LINES]], (f"{note}; {cut}" if note else cut)


def hex_lines(data: bytes) -> list[str]:
    """``offset  hex bytes  ascii`` lines, 16 bytes each."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexed = " ".join(f"{b:02x}" for b in chunk)
        shown = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexed:<47}  {shown}")
    return lines


def _header(name: str, value: str) -> str:
    return f"{one_line(name)}: {one_line(value)}"


def _header_volatile(line: str) -> str | None:
    name = line.partition(":")[0].lower()
    return name if _VOLATILE_HEADER.search(name) else None


def _body_volatile(line: str) -> str | None:
    found = _JSON_KEY.match(line)
    key = found.group(1) if found else line.partition("=")[0] if "=" in line else None
    return key if key is not None and _VOLATILE_KEY.search(key) else None


def _diff(
    left: Sequence[str], right: Sequence[str], volatile_key: Callable[[str], str | None]
) -> tuple[DiffRow, ...]:
    """The rows of a line diff; a changed pair is volatile when both lines are of one volatile
    key (header name, JSON key, form field), a line on one side when its key is."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [DiffRow(RowKind.SAME, line, line) for line in left[i1:i2]]
            continue
        olds, news = left[i1:i2], right[j1:j2]
        for n in range(max(len(olds), len(news))):
            old = olds[n] if n < len(olds) else None
            new = news[n] if n < len(news) else None
            if old is not None and new is not None:
                key = volatile_key(old)
                volatile = key is not None and key == volatile_key(new)
                rows.append(DiffRow(RowKind.CHANGED, old, new, volatile))
            elif old is not None:
                rows.append(DiffRow(RowKind.REMOVED, old, None, volatile_key(old) is not None))
            else:
                rows.append(DiffRow(RowKind.ADDED, None, new, volatile_key(new or "") is not None))
    return tuple(rows)
