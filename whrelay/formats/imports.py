"""Webhooks brought in from a file (``whrelay import``): whrelay's JSON records (``export
--format json``, ``show --json``, one per line or one pretty-printed), HAR 1.2 files, and raw
HTTP/1.1 request messages (``export --format http``, one or several one after another).

Every webhook in the file is stored as a new one, marked as imported with where it came from,
identified (provider, event, delivery) as on arrival, never forwarded. The whole file goes in
one transaction: a problem anywhere (named by its line or entry) stores nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from whrelay.core.config import VerifySettings
from whrelay.core.errors import UsageError
from whrelay.core.models import Capture, WebhookSummary, encode_header, now_micros
from whrelay.formats.httpfile import received_at_micros
from whrelay.signatures.verification import judge
from whrelay.storage import Store
from whrelay.storage.store import insert_webhook

_METHOD_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One webhook read from a file, and where in the file it was."""

    capture: Capture
    origin: str
    """E.g. ``hooks.har, entry 3`` or ``capture.ndjson, line 12``."""


def read_webhooks(data: bytes, name: str) -> list[Incoming]:
    """Every webhook in ``data`` (the contents of file ``name``), or ``UsageError`` naming the
    first line or entry that is not one."""
    text = data.lstrip()
    if not text:
        raise UsageError(f"{name} is empty: nothing to import")
    if text[:1] in (b"{", b"["):
        return _from_json(data, name)
    return _from_http(data, name)


# --- whrelay JSON and HAR --------------------------------------------------------------------


def _from_json(data: bytes, name: str) -> list[Incoming]:
    try:
        whole: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("log"), dict):
        return _from_har(whole["log"], name)
    if isinstance(whole, dict):
        return [_record(whole, f"{name}, the record")]
    if isinstance(whole, list):
        return [_record(item, f"{name}, record {n}") for n, item in enumerate(whole, 1)]
    found = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            item = json.loads(line)
        except (ValueError, UnicodeDecodeError) as error:
            raise UsageError(f"{where} is not JSON: {error}") from None
        if isinstance(item, dict) and "event" in item and item.get("event") != "webhook":
            continue  # listen -o json: its ready, attempt and stopped lines are not webhooks
        found.append(_record(item, where))
    return found


def _record(item: object, where: str) -> Incoming:
    """A webhook from whrelay's JSON record (``show --json``, ``export --format json``, a
    ``listen -o json`` webhook event)."""
    if not isinstance(item, dict):
        raise UsageError(f"{where} is not a JSON object")
    if "body_omitted" in item:
        raise UsageError(
            f"{where}: listen's output leaves out a body this large ({item['body_omitted']} bytes)",
            hint=f"'whrelay export {item.get('id', 'ID')} --format json' writes it whole",
        )
    if "headers" not in item or "body_b64" not in item:
        raise UsageError(
            f"{where} has no headers or body_b64: not a whole webhook",
            hint="'whrelay show ID --json' and 'whrelay export --format json' write whole ones",
        )
    try:
        headers = tuple(
            (encode_header(_text(pair[0])), encode_header(_text(pair[1])))
            for pair in item["headers"]
        )
        body_b64 = item["body_b64"]
        body = None if body_b64 is None else base64.b64decode(_text(body_b64), validate=True)
        method = _method(_text(item.get("method", "")))
        path = _path(_text(item.get("path", "")))
        query = _text(item.get("query") or "")
    except (TypeError, IndexError, KeyError, ValueError, binascii.Error) as error:
        raise UsageError(f"{where}: {error}") from None
    capture = Capture(
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        http_version=_text(item.get("http_version") or "1.1"),
        remote_addr=item.get("remote_addr") if isinstance(item.get("remote_addr"), str) else None,
        received_at=received_at_micros(item.get("received_at")) or now_micros(),
    )
    return Incoming(capture, where)


def _from_har(log: dict[str, Any], name: str) -> list[Incoming]:
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise UsageError(f"{name}: a HAR file, but log.entries is not a list")
    found = []
    for number, entry in enumerate(entries, 1):
        where = f"{name}, entry {number}"
        try:
            found.append(Incoming(_har_capture(entry), where))
        except (TypeError, KeyError, ValueError, AttributeError, binascii.Error) as error:
            raise UsageError(f"{where}: {error}") from None
    return found


def _har_capture(entry: dict[str, Any]) -> Capture:
    request = entry["request"]
    url = urlsplit(_text(request["url"]))
    headers = tuple(
        (encode_header(_text(h["name"])), encode_header(_text(h["value"])))
        for h in request.get("headers", [])
    )
    post = request.get("postData")
    found = entry.get("_whrelay")
    extra: dict[str, Any] = found if isinstance(found, dict) else {}
    body: bytes | None
    if post is None:
        body = None if extra.get("no_body", True) else b""
    elif post.get("_encoding") == "base64":
        body = base64.b64decode(_text(post.get("text", "")), validate=True)
    else:
        body = _text(post.get("text", "")).encode("utf-8", "surrogateescape")
    version = _text(request.get("httpVersion") or "HTTP/1.1").upper().removeprefix("HTTP/")
    return Capture(
        method=_method(_text(request["method"])),
        path=_path(url.path or "/"),
        query=url.query,
        headers=headers,
        body=body,
        http_version=version if version in ("1.0", "1.1") else "1.1",
        remote_addr=extra.get("remote_addr") if isinstance(extra.get("remote_addr"), str) else None,
        received_at=received_at_micros(entry.get("startedDateTime")) or now_micros(),
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value


def _method(value: str) -> str:
    if not value or not set(value) <= _METHOD_CHARS:
        raise ValueError(f"{value!r} is not an HTTP method")
    return value


def _path(value: str) -> str:
    if not value.startswith("/") or any(c in value for c in " \r\n\t"):
        raise ValueError(f"{value[:60]!r} is not a request path")
    return value


# --- raw HTTP/1.1 messages -------------------------------------------------------------------


def _from_http(data: bytes, name: str) -> list[Incoming]:
    found: list[Incoming] = []
    position = 0
    number = 0
    while True:
        while data.startswith(b"\r\n", position) or data.startswith(b"\n", position):
            position += 2 if data.startswith(b"\r\n", position) else 1
        if position >= len(data):
            return found
        number += 1
        where = f"{name}, message {number}"
        capture, position = _one_message(data, position, where)
        found.append(Incoming(capture, where))


def _one_message(data: bytes, start: int, where: str) -> tuple[Capture, int]:
    """The request starting at ``start``, and where the next one starts. A body is framed by
    ``Content-Length`` or chunked; a request with neither has none (RFC 9112)."""
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise UsageError(f"{where}: no blank line after the headers")
    lines = data[start:end].split(b"\r\n")
    request_line = lines[0].split(b" ")
    if len(request_line) != 3 or not request_line[2].startswith(b"HTTP/1."):
        raise UsageError(f"{where} does not start with a request line like 'POST /path HTTP/1.1'")
    method = request_line[0].decode("latin-1")
    target = request_line[1].decode("utf-8", "surrogateescape")
    headers = []
    for line in lines[1:]:
        key, colon, value = line.partition(b":")
        if not colon or not key or key != key.strip():
            raise UsageError(f"{where}: not a header line: {line[:60]!r}")
        headers.append((key, value.strip(b" \t")))
    body, after = _framed_body(data, end + 4, headers, where)
    path, _, query = target.partition("?")
    try:
        capture = Capture(
            method=_method(method),
            path=_path(path),
            query=query,
            headers=tuple(headers),
            body=body,
            http_version=request_line[2][5:].decode("latin-1"),
            remote_addr=None,
            received_at=now_micros(),
        )
    except ValueError as error:
        raise UsageError(f"{where}: {error}") from None
    return capture, after


def _framed_body(
    data: bytes, start: int, headers: list[tuple[bytes, bytes]], where: str
) -> tuple[bytes | None, int]:
    values = {k.lower(): v for k, v in headers}
    if b"chunked" in values.get(b"transfer-encoding", b"").lower():
        out = bytearray()
        position = start
        while True:
            end = data.find(b"\r\n", position)
            size_text = data[position:end].split(b";", 1)[0].strip() if end >= 0 else b""
            if end < 0 or not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise UsageError(f"{where}: a chunked body that is cut or malformed")
            size = int(size_text, 16)
            if size == 0:
                trailer_end = data.find(b"\r\n", end + 2)
                return bytes(out), (len(data) if trailer_end < 0 else trailer_end + 2)
            chunk_start = end + 2
            if data[chunk_start + size : chunk_start + size + 2] != b"\r\n":
                raise UsageError(f"{where}: a chunk of {size} bytes that is cut")
            out += data[chunk_start : chunk_start + size]
            position = chunk_start + size + 2
    length = values.get(b"content-length")
    if length is None:
        return None, start
    if not length.isdigit():
        raise UsageError(f"{where}: Content-Length {length[:20]!r} is not a number")
    size = int(length)
    if len(data) - start < size:
        raise UsageError(f"{where}: the body is cut ({len(data) - start} of {size} bytes)")
    return data[start : start + size], start + size


# --- storing ---------------------------------------------------------------------------------


def import_webhooks(store: Store, incoming: list[Incoming]) -> list[WebhookSummary]:
    """Store every webhook of ``incoming`` in one transaction, each identified and given its
    verdict as on arrival (unverified: no secret), none forwarded, each marked with where it
    came from."""
    now = now_micros()
    settings = VerifySettings()

    def job(db: Any) -> list[WebhookSummary]:
        stored = []
        for item in incoming:
            verdict = judge(item.capture, settings, None, item.capture.received_at / 1e6)
            summary, _ = insert_webhook(db, item.capture, (), verdict)
            db.execute(
                "INSERT INTO imports (webhook_id, origin, imported_at) VALUES (?, ?, ?)",
                (summary.id, item.origin, now),
            )
            stored.append(summary)
        return stored

    return store.run(job)
