"""Stored webhooks written out for other tools and other machines, losslessly where the format
allows: one builder per format, used by ``whrelay export``, ``show --json`` and the TUI.

* ``curl`` and ``httpie``: a runnable bash script per webhook that sends the stored bytes
  exactly: the method, the path and query, every header in order with its case and
  duplicates, the body byte for byte (inline as ANSI-C quoted text when it is short text, else
  base64 in a here-document decoded on the fly: never a lossy quote). The client's own default
  headers (``User-Agent``, ``Accept``, ``Content-Type``, ``Expect``...) are switched off unless
  the webhook had them; ``Host`` and ``Content-Length`` are the client's, for the URL given.
* ``http``: the raw HTTP/1.1 request message, as ``verify --request`` and ``import`` read it.
* ``har``: HAR 1.2, one entry per webhook, with the app's answer to the first attempt as the
  response. A body or header that is not UTF-8 is kept (base64 with ``_encoding``, lone
  surrogates), which whrelay reads back exactly but other tools may show as text.
* ``json``: whrelay's own NDJSON record (what ``show --json`` prints).

The one header that is the secret itself (GitLab's ``X-Gitlab-Token``) is redacted in every
format; signature headers are the sender's and are kept.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal
from urllib.parse import parse_qsl

from whrelay import __version__
from whrelay.core.errors import UsageError
from whrelay.core.models import (
    Attempt,
    Webhook,
    decode_header,
    encode_header,
    format_time,
    to_json,
)
from whrelay.signatures import redact_headers
from whrelay.storage.read import WebhookView

if TYPE_CHECKING:
    from whrelay.storage import Store, WebhookFilter

Format = Literal["curl", "httpie", "http", "har", "json"]
FORMATS: tuple[Format, ...] = ("curl", "httpie", "http", "har", "json")
DEFAULT_BASE = "http://127.0.0.1:8642"
"""Where a curl or httpie script sends by default (its first argument names another URL)."""
INLINE_LIMIT = 64 * 1024
"""Bodies larger than this go through a here-document, never a command-line argument (Linux
caps one argument at 128 KiB)."""
_FRAMING = frozenset({"host", "content-length", "transfer-encoding"})


def headers_of(webhook: Webhook) -> list[tuple[str, str]]:
    """The webhook's headers as exported: in order, duplicates kept, the secret redacted."""
    return redact_headers(webhook.decoded_headers())


def json_record(view: WebhookView) -> dict[str, object]:
    """whrelay's lossless record of a webhook, its deliveries and attempts (``show --json``)."""
    record = view.webhook.to_json()
    record["headers"] = [list(pair) for pair in headers_of(view.webhook)]
    record["deliveries"] = [d.to_json() for d in view.deliveries]
    record["attempts"] = [a.to_json() for a in view.attempts]
    record["imported_from"] = view.imported_from
    record["edited_from"] = view.edited_from
    return record


# --- shell quoting -------------------------------------------------------------------------

_PLAIN = re.compile(rb"[A-Za-z0-9_./:=,@%+-]*")


def bash_quote(raw: bytes) -> str:
    """``raw`` as one bash word that expands to exactly those bytes (no NUL: bash cannot hold
    one in a word). Plain text stays readable; anything else is ANSI-C quoted (``$'...'``),
    each byte that is not printable ASCII written as ``\\xHH``."""
    assert b"\0" not in raw, "a bash word cannot hold a NUL byte"
    if _PLAIN.fullmatch(raw) and raw:
        return raw.decode("ascii")
    if all(0x20 <= b < 0x7F for b in raw) and b"'" not in raw:
        return "'" + raw.decode("ascii") + "'"
    out = []
    for byte in raw:
        char = chr(byte)
        if char == "\\":
            out.append("\\\\")
        elif char == "'":
            out.append("\\'")
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def _inline(body: bytes) -> bool:
    return len(body) <= INLINE_LIMIT and b"\0" not in body


def _heredoc(body: bytes) -> list[str]:
    """``base64 -d`` of a here-document: the exact bytes, however binary or large."""
    encoded = base64.encodebytes(body).decode("ascii").rstrip("\n")
    return ["base64 -d <<'WHRELAY_BODY' |", encoded, "WHRELAY_BODY"]


def _script_head(webhook: Webhook, tool: str) -> list[str]:
    s = webhook.summary
    return [
        "#!/usr/bin/env bash",
        f"# whrelay {__version__}: webhook #{s.id}, received {format_time(s.received_at)}",
        f"# {_comment(s.method)} {_comment(s.target)}",
        f"# Sends it again with {tool}: bash THIS_FILE [BASE_URL]  (default {DEFAULT_BASE})",
        "set -euo pipefail",
        f'base="${{1:-{DEFAULT_BASE}}}"',
    ]


def _comment(text: str) -> str:
    """Text safe in a one-line shell comment: no line breaks, no control characters."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _url_word(webhook: Webhook) -> str:
    """``"$base"`` followed by the path and query, quoted as one word."""
    target = webhook.summary.target.encode("utf-8", "surrogateescape")
    return '"$base"' + bash_quote(target)


def curl_command(webhook: Webhook) -> str:
    """A bash script that sends ``webhook`` with curl, byte for byte."""
    method = webhook.summary.method
    args = ["curl", "--silent", "--show-error", "--http1.1"]
    args += ["--head"] if method == "HEAD" else ["-X", bash_quote(method.encode())]
    args.append(_url_word(webhook))
    present = set()
    for name, value in headers_of(webhook):
        if name.lower() in _FRAMING:
            continue
        present.add(name.lower())
        args += ["-H", bash_quote(encode_header(name) + b": " + encode_header(value))]
    for default in ("User-Agent", "Accept", "Content-Type", "Expect"):
        if default.lower() not in present:
            args += ["-H", bash_quote(default.encode() + b":")]  # curl sends none of its own
    body = webhook.body
    lines = _script_head(webhook, "curl")
    if body is None:
        lines.append(" \\\n  ".join(args))
    elif _inline(body):
        lines.append(" \\\n  ".join([*args, "--data-binary", bash_quote(body) if body else "''"]))
    else:
        pipe, *rest = _heredoc(body)
        lines.append(pipe + " " + " \\\n  ".join([*args, "--data-binary", "@-"]))
        lines += rest
    return "\n".join(lines) + "\n"


def httpie_command(webhook: Webhook) -> str:
    """A bash script that sends ``webhook`` with HTTPie (``http``), byte for byte;
    ``UsageError`` for a webhook with a header that is not UTF-8, which HTTPie cannot send as
    it came (it encodes every header as UTF-8)."""
    for raw_name, raw_value in webhook.headers:
        try:
            raw_name.decode("utf-8"), raw_value.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(
                f"webhook #{webhook.id} has a header that is not UTF-8 "
                f"({raw_name.decode('latin-1')!r}), which HTTPie cannot send as it came",
                hint="--format curl sends any bytes",
            ) from None
    args = ["http", "--print=hb", "--pretty=none", bash_quote(webhook.summary.method.encode())]
    args.append(_url_word(webhook))
    present = set()
    for name, value in headers_of(webhook):
        if name.lower() in _FRAMING:
            continue
        present.add(name.lower())
        args.append(bash_quote(encode_header(name) + b":" + encode_header(value)))
    for default in ("User-Agent", "Accept", "Accept-Encoding", "Connection", "Content-Type"):
        if default.lower() not in present:
            args.append(bash_quote(default.encode() + b":"))  # HTTPie sends none of its own
    body = webhook.body
    lines = _script_head(webhook, "HTTPie")
    if body is None:
        lines.append(" \\\n  ".join(["http", "--ignore-stdin", *args[1:]]))
    elif _inline(body):
        lines.append(
            "printf '%s' "
            + (bash_quote(body) if body else "''")
            + " | \\\n  "
            + " \\\n  ".join(args)
        )
    else:
        pipe, *rest = _heredoc(body)
        lines.append(pipe + " " + " \\\n  ".join(args))
        lines += rest
    return "\n".join(lines) + "\n"


def http_message(webhook: Webhook) -> bytes:
    """The raw HTTP/1.1 request: the request line, the headers as stored, and the body framed
    as its headers say (a chunked one as a single chunk)."""
    s = webhook.summary
    head = [f"{s.method} {s.target} HTTP/{webhook.http_version}".encode("utf-8", "surrogateescape")]
    body = webhook.body or b""
    chunked = framed = False
    for name, value in headers_of(webhook):
        if name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = framed = True
        elif name.lower() == "content-length":
            framed = True
            if value.strip() != str(len(body)):
                value = str(len(body))  # an imported record's, wrong: the message must frame
        head.append(encode_header(name) + b": " + encode_header(value))
    if webhook.body is not None and not framed:  # only an imported record lacks it
        head.append(b"Content-Length: %d" % len(body))
    if chunked:
        body = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# --- HAR 1.2 ---------------------------------------------------------------------------------


def _text_or_base64(data: bytes) -> tuple[str, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def har_entry(view: WebhookView) -> dict[str, object]:
    """One HAR 1.2 entry: the webhook as the request, the first attempt's answer as the
    response (an empty one when it was never forwarded)."""
    webhook = view.webhook
    s = webhook.summary
    headers = headers_of(webhook)
    host = next((v for k, v in headers if k.lower() == "host"), "127.0.0.1")
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    request: dict[str, object] = {
        "method": s.method,
        "url": f"http://{host}{s.target}",
        "httpVersion": f"HTTP/{webhook.http_version}",
        "cookies": [],
        "headers": [{"name": k, "value": v} for k, v in headers],
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(s.query, True)],
        "headersSize": -1,
        "bodySize": -1 if webhook.body is None else len(webhook.body),
    }
    if webhook.body is not None:
        text, encoding = _text_or_base64(webhook.body)
        post: dict[str, object] = {"mimeType": content_type, "text": text}
        if encoding:
            post["_encoding"] = encoding  # HAR has no field for it: whrelay's own
        request["postData"] = post
    first = view.attempts[0].attempt if view.attempts else None
    return {
        "startedDateTime": format_time(s.received_at),
        "time": 0 if first is None else round(first.duration_us / 1000, 3),
        "request": request,
        "response": _har_response(first),
        "cache": {},
        "timings": {
            "send": 0,
            "wait": 0 if first is None else first.duration_us / 1000,
            "receive": 0,
        },
        "_whrelay": {
            "id": s.id,
            "remote_addr": webhook.remote_addr,
            "no_body": webhook.body is None,
            "provider": s.provider,
            "event_type": s.event_type,
            "verdict": s.verdict,
        },
    }


def _har_response(attempt: Attempt | None) -> dict[str, object]:
    if attempt is None or attempt.status is None:
        return {
            "status": 0,
            "statusText": "" if attempt is None else f"{attempt.error}: {attempt.error_detail}",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        }
    headers = [(decode_header(k), decode_header(v)) for k, v in attempt.response_headers]
    body = attempt.response_body or b""
    text, encoding = _text_or_base64(body)
    content: dict[str, object] = {
        "size": len(body),
        "mimeType": next((v for k, v in headers if k.lower() == "content-type"), ""),
        "text": text,
    }
    if encoding:
        content["encoding"] = encoding
    return {
        "status": attempt.status,
        "statusText": "",
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": [{"name": k, "value": v} for k, v in headers],
        "content": content,
        "redirectURL": next((v for k, v in headers if k.lower() == "location"), ""),
        "headersSize": -1,
        "bodySize": len(body),
    }


def har_chunks(views: Iterable[WebhookView]) -> Iterator[str]:
    """A HAR 1.2 file, written as it goes (entries one at a time)."""
    creator = json.dumps({"name": "whrelay", "version": __version__})
    yield '{"log":{"version":"1.2","creator":' + creator + ',"entries":['
    for n, view in enumerate(views):
        yield ("," if n else "") + "\n" + to_json(har_entry(view))
    yield "\n]}}\n"


def render(views: Iterable[WebhookView], fmt: Format) -> Iterator[bytes]:
    """``views`` in ``fmt``, as the bytes of one file, a piece at a time."""
    if fmt == "har":
        for chunk in har_chunks(views):
            yield chunk.encode()
        return
    for n, view in enumerate(views):
        if fmt == "json":
            yield to_json(json_record(view)).encode() + b"\n"
        elif fmt == "http":
            yield (b"\r\n" if n else b"") + http_message(view.webhook)
        elif fmt == "curl":
            yield (b"\n" if n else b"") + curl_command(view.webhook).encode()
        else:
            yield (b"\n" if n else b"") + httpie_command(view.webhook).encode()


# --- what is exported, and where to ----------------------------------------------------------

PAGE = 200
"""Webhooks read at a time from a selection: the memory an export holds, whatever its size."""


def selected_views(
    store: Store, ids: Sequence[int], where: WebhookFilter | None = None
) -> Iterator[WebhookView]:
    """The webhooks named by ``ids`` (in that order), or else those ``where`` selects (every
    one when ``None``), oldest first, a page at a time: an export of a million webhooks holds
    one page in memory, not the million. What ``whrelay export`` and the TUI's ``E`` write."""
    from whrelay.storage import WebhookFilter
    from whrelay.storage.read import Position, page, webhook_view

    if ids:
        for webhook_id in ids:
            yield webhook_view(store, webhook_id)
        return
    selection = where or WebhookFilter(limit=0)
    start = None
    while rows := page(store, selection, start=start, direction="newer", limit=PAGE):
        for row in reversed(rows):  # a page comes newest first; the file goes oldest first
            yield webhook_view(store, row.id)
        start = Position.of(rows[0])


class Sink:
    """Where an export goes: a file, written to a temporary name beside it and moved into
    place once complete (a ``.sh`` made executable), so that a failed or cancelled export
    leaves no half file; or, with no ``output``, stdout. A file that cannot be written is a
    ``UsageError`` naming it (nothing is left behind)."""

    def __init__(self, output: Path | None) -> None:
        self.output = output
        self.partial = None if output is None else output.with_name(f".{output.name}.partial")
        self.file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        if self.partial is None:
            return sys.stdout.buffer
        try:
            self.file = self.partial.open("wb")
        except OSError as error:
            raise self._cannot_write(error) from None
        return self.file

    def __exit__(self, kind: object, error: object, *rest: object) -> None:
        if self.file is None or self.partial is None or self.output is None:
            sys.stdout.buffer.flush()
            return
        try:
            self.file.close()
            if kind is None:
                if self.output.suffix == ".sh":
                    self.partial.chmod(0o755)
                self.partial.replace(self.output)
                return
        except OSError as failed:
            self.partial.unlink(missing_ok=True)
            raise self._cannot_write(failed) from None
        self.partial.unlink(missing_ok=True)
        if isinstance(error, OSError):  # a write failed (a full disk)
            raise self._cannot_write(error) from None

    def _cannot_write(self, error: OSError) -> UsageError:
        return UsageError(f"cannot write {self.output}: {error.strerror or error}")


__all__ = [
    "FORMATS",
    "PAGE",
    "Format",
    "Sink",
    "bash_quote",
    "curl_command",
    "har_entry",
    "http_message",
    "httpie_command",
    "json_record",
    "render",
    "selected_views",
]
