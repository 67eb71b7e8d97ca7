"""Read a request from a file: a raw HTTP/1.1 message (what ``nc -l`` captures and
``export --format http`` writes) or whrelay's own JSON record (``show --json``)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from whrelay.core.errors import UsageError
from whrelay.core.models import header_value
from whrelay.signatures.base import Message
from whrelay.signatures.verification import url_from


@dataclass(frozen=True, slots=True)
class RequestFile:
    method: str
    target: str
    """The request target: path and query, or an absolute URL."""
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: int | None = None
    """When whrelay received it (UTC microseconds), for a JSON record that says so."""


def read_request(data: bytes, name: str = "the request file") -> RequestFile:
    """A request from ``data``: JSON when it starts with ``{``, else a raw HTTP message."""
    if data.lstrip()[:1] == b"{":
        return _from_json(data, name)
    return _from_http(data, name)


def _from_json(data: bytes, name: str) -> RequestFile:
    try:
        record = json.loads(data)
        headers = tuple((str(k), str(v)) for k, v in record.get("headers", []))
        body_b64 = record.get("body_b64")
        body = base64.b64decode(body_b64, validate=True) if body_b64 else b""
        path = str(record.get("path", "/"))
        query = str(record.get("query") or "")
        method = str(record.get("method", "POST"))
        received_at = received_at_micros(record.get("received_at"))
    except (ValueError, TypeError, AttributeError, binascii.Error) as error:
        raise UsageError(f"{name} is not a whrelay JSON record: {error}") from None
    target = f"{path}?{query}" if query else path
    return RequestFile(method, target, headers, body, received_at)


def received_at_micros(value: object) -> int | None:
    """``received_at`` as ``show --json`` writes it (ISO 8601 UTC), or as microseconds;
    ``None`` when it is neither."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _from_http(data: bytes, name: str) -> RequestFile:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = data.partition(b"\n\n")
    if not sep:
        raise UsageError(f"{name} is not an HTTP request: no blank line after the headers")
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    request_line = lines[0].decode("latin-1").split()
    if len(request_line) != 3 or not request_line[2].startswith("HTTP/"):
        raise UsageError(f"{name} does not start with a request line like 'POST /path HTTP/1.1'")
    headers = []
    for line in lines[1:]:
        if not line.strip():
            continue
        key, colon, value = line.partition(b":")
        if not colon:
            raise UsageError(f"{name}: not a header line: {line[:60]!r}")
        headers.append(
            (
                key.strip().decode("utf-8", "surrogateescape"),
                value.strip().decode("utf-8", "surrogateescape"),
            )
        )
    body = _body(rest, headers, name)
    return RequestFile(request_line[0], request_line[1], tuple(headers), body)


def _body(rest: bytes, headers: list[tuple[str, str]], name: str) -> bytes:
    if "chunked" in (header_value(headers, "transfer-encoding") or "").lower():
        return _dechunk(rest, name)
    length = header_value(headers, "content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise UsageError(f"{name}: Content-Length {length!r} is not a number")
        size = int(length)
        if len(rest) < size:
            raise UsageError(f"{name}: the body is {len(rest)} bytes, Content-Length says {size}")
        return rest[:size]
    return rest


def _dechunk(data: bytes, name: str) -> bytes:
    out = bytearray()
    position = 0
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            raise UsageError(f"{name}: truncated chunked body")
        size_text = data[position:end].split(b";", 1)[0].strip()
        if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
            raise UsageError(f"{name}: bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            return bytes(out)
        start = end + 2
        out += data[start : start + size]
        position = start + size + 2


def message_from_file(request: RequestFile, url: str | None = None) -> Message:
    host = header_value(request.headers, "host")
    return Message(
        body=request.body,
        headers=request.headers,
        url=url_from(host, request.target, url),
        method=request.method,
    )
