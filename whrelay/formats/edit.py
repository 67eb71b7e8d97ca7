"""A stored webhook as text a person edits (the TUI's edit and re-send), read back into a
request, and stored as a new webhook linked to the one it was edited from.

The text is the method, the path and query, one ``Name: value`` line per header (in order,
duplicates kept) and the body. What the person leaves as it was keeps its exact bytes: a
header line left alone is the stored header, bytes that are not UTF-8 included; the path and
query likewise. A body is offered as text only when it reads back as the same bytes: UTF-8,
one kind of line ending, and no NUL or terminal control bytes (which an editor on a terminal
would show as what they do). Any other body is sent as stored, and says why.

The copy is a webhook of its own, identified and judged as on arrival, with no delivery (so
``listen`` never forwards it): it is sent by a replay, to the original's targets or another.
The original stays as it was received.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from whrelay.core.config import VerifySettings
from whrelay.core.errors import UsageError
from whrelay.core.models import (
    SECRET_HEADERS,
    Capture,
    Webhook,
    WebhookSummary,
    decode_header,
    encode_header,
    now_micros,
)
from whrelay.identify.detect import identify
from whrelay.signatures import REDACTED, REGISTRY, detect_scheme, get_scheme, redact_headers
from whrelay.signatures.verification import judge
from whrelay.storage import Store
from whrelay.storage.store import insert_webhook, stored_webhook
from whrelay.views.safetext import one_line

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP token: what a method and a header name are made of (RFC 9110 5.6.2)."""
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What a body offered as text may not hold: NUL, terminal control characters (TAB, LF and
the CR of CRLF line endings aside), the bidi overrides, and the Unicode line and paragraph
separators (an editor would read them back as line feeds: the bytes would change)."""


@dataclass(frozen=True, slots=True)
class EditableRequest:
    """A webhook as text to edit."""

    method: str
    target: str
    """The path and the query (``/hooks/stripe?a=1``)."""
    headers: str
    """One ``Name: value`` line per header, in order; a value that is the secret itself
    (GitLab's token) shows as ``[redacted by whrelay: …]`` and, left so, stays the secret."""
    body: str | None
    """The body as text; ``None`` when it cannot be edited as text (see ``body_note``)."""
    body_note: str | None = None
    """Why the body is not offered as text; it is then sent as stored."""


def header_line(name: bytes, value: bytes) -> str:
    """One header as its line of the text: ``Name: value``, inert (control characters and
    bytes that are not UTF-8 as visible escapes), the secret itself redacted (as everywhere
    whrelay shows a header: ``redact_headers``)."""
    [(shown_name, shown)] = redact_headers([(decode_header(name), decode_header(value))])
    return f"{one_line(shown_name)}: {one_line(shown)}"


def body_text(webhook: Webhook) -> tuple[str | None, str | None]:
    """The body as text to edit, or ``None`` and why it cannot be (see the module)."""
    body = webhook.body
    if body is None:
        return "", None
    encoding = (webhook.header("content-encoding") or "").strip().lower()
    if encoding not in ("", "identity"):
        return None, f"the body is compressed (Content-Encoding: {one_line(encoding)})"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the body is binary (not UTF-8 text)"
    problem = text_problem(text)
    return (None, problem) if problem else (text, None)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a body edited as text (on a terminal, in an editor that keeps
    one kind of line ending), or ``None``."""
    if _NOT_TEXT.search(text.replace("\r\n", "\n")):
        return "the body holds NUL or terminal control bytes"
    if "\r\n" in text and "\n" in text.replace("\r\n", ""):
        return "the body mixes CRLF and LF line endings, which an editor would make one"
    return None


def editable(webhook: Webhook) -> EditableRequest:
    """``webhook`` as text to edit."""
    s = webhook.summary
    body, note = body_text(webhook)
    return EditableRequest(
        method=one_line(s.method),
        target=one_line(s.target),
        headers="\n".join(header_line(k, v) for k, v in webhook.headers),
        body=body,
        body_note=note,
    )


def read_edit(
    original: Webhook,
    method: str,
    target: str,
    headers: str,
    body: bytes | None,
    received_at: int | None = None,
) -> Capture:
    """The request the text describes (``body``: its bytes, ``None`` for no body), as a
    ``Capture`` received now, from the original's sender. What was left as shown keeps its
    bytes (see the module). ``UsageError`` naming the field and line that is not HTTP."""
    shown = editable(original)
    s = original.summary
    method = method.strip()
    if method == shown.method:
        method = s.method
    elif not _TOKEN.fullmatch(method):
        raise UsageError(f"the method {method[:40]!r} is not an HTTP method (like POST)")
    target = target.strip()
    if target == shown.target:
        path, query = s.path, s.query
    else:
        if not target.startswith("/") or any(c.isspace() or c in "\x7f" for c in target):
            raise UsageError(
                f"the path {target[:60]!r} is not a request path",
                hint="it starts with / and holds no spaces: /hooks/stripe?a=1",
            )
        _refuse_control(target, "the path")
        path, _, query = target.partition("?")
    pairs = _read_headers(original, headers)
    if body is not None and body != original.body:
        pairs = _length_kept(pairs, original, body)
    return Capture(
        method=method,
        path=path,
        query=query,
        headers=tuple(pairs),
        body=body,
        http_version=original.http_version,
        remote_addr=original.remote_addr,
        received_at=now_micros() if received_at is None else received_at,
    )


def _refuse_control(text: str, what: str) -> None:
    if _NOT_TEXT.search(text):
        raise UsageError(f"{what} holds a control character, which HTTP does not allow there")


def _read_headers(original: Webhook, text: str) -> list[tuple[bytes, bytes]]:
    unused: dict[str, list[tuple[bytes, bytes]]] = {}
    secrets: dict[str, list[bytes]] = {}
    for raw_name, raw_value in original.headers:
        unused.setdefault(header_line(raw_name, raw_value), []).append((raw_name, raw_value))
        if decode_header(raw_name).lower() in SECRET_HEADERS:  # redacted by header_line
            secrets.setdefault(decode_header(raw_name).lower(), []).append(raw_value)
    pairs: list[tuple[bytes, bytes]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if unused.get(line):  # left as shown: the stored bytes
            pairs.append(unused[line].pop(0))
            continue
        name, colon, value = line.partition(":")
        where = f"headers, line {number}"
        if not colon or not _TOKEN.fullmatch(name):
            raise UsageError(
                f"{where} is not a header: {line[:60]!r}", hint="one 'Name: value' per line"
            )
        value = value.strip(" \t")
        _refuse_control(value.replace("\t", " "), where)
        raw = encode_header(value)
        if value == REDACTED and secrets.get(name.lower()):
            raw = secrets[name.lower()].pop(0)  # the secret itself, never shown, kept
        pairs.append((encode_header(name), raw))
    return pairs


def _length_kept(
    pairs: list[tuple[bytes, bytes]], original: Webhook, body: bytes
) -> list[tuple[bytes, bytes]]:
    """A ``Content-Length`` left at the original body's length says the new body's: the copy
    is stored as a request that frames its own body."""
    was = str(len(original.body or b"")).encode()
    return [
        (k, str(len(body)).encode() if k.lower() == b"content-length" and v.strip() == was else v)
        for k, v in pairs
    ]


def unchanged(original: Webhook, capture: Capture) -> bool:
    s = original.summary
    return (capture.method, capture.path, capture.query, capture.headers, capture.body) == (
        s.method,
        s.path,
        s.query,
        original.headers,
        original.body,
    )


def broken_signature(original: Webhook, capture: Capture) -> str | None:
    """The scheme whose signature, sent as it came, will no longer match the edited request
    (its body changed, and the scheme signs the body): as ``replay --body-file`` warns."""
    if capture.body == original.body:
        return None
    name = original.summary.scheme or detect_scheme(original.decoded_headers())
    if name is None:
        return None
    if name in REGISTRY and not get_scheme(name).signs_body:
        return None
    return name


def store_edited(
    store: Store, original_id: int, capture: Capture, settings: VerifySettings | None = None
) -> WebhookSummary:
    """Store ``capture`` as a new webhook edited from webhook ``original_id``: identified and
    judged as on arrival (with ``settings``' secrets, if any), with no delivery, linked to
    its original. It keeps its original's provider id but is no duplicate (the sender did
    not send it again). One transaction."""
    verdict = judge(capture, settings or VerifySettings(), None, capture.received_at / 1e6)

    def job(db: sqlite3.Connection) -> WebhookSummary:
        summary, _ = insert_webhook(db, capture, (), verdict, duplicate_check=False)
        db.execute(
            "INSERT INTO edits (webhook_id, original_id, edited_at) VALUES (?, ?, ?)",
            (summary.id, original_id, now_micros()),
        )
        return summary

    return store.run(job)


def as_webhook(capture: Capture, webhook_id: int = 0) -> Webhook:
    """``capture`` as a webhook not stored yet (to show or compare it before it is): what
    storing it would make of it, unchecked."""
    who = identify(capture.headers, capture.body)
    summary, _ = stored_webhook(capture, (), None, who, webhook_id, None, ())
    return Webhook(
        summary, capture.headers, capture.body, capture.http_version, capture.remote_addr
    )


__all__ = [
    "EditableRequest",
    "as_webhook",
    "body_text",
    "broken_signature",
    "editable",
    "header_line",
    "read_edit",
    "store_edited",
    "text_problem",
    "unchanged",
]
