"""The records whrelay keeps, exactly as they arrived.

Headers stay bytes, in order, with their original case and duplicates; the body stays bytes,
and ``None`` (no body at all) is kept apart from ``b""`` (an empty body). Every decoded,
pretty or hex view is made at display time from these.
"""

from __future__ import annotations

import dataclasses
import operator
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, AnyStr, TypeVar

RawHeaders = tuple[tuple[bytes, bytes], ...]
"""Header (name, value) pairs as they came off the wire."""


_T = TypeVar("_T")


def fast_pickle(cls: type[_T]) -> type[_T]:
    """Make a slots dataclass pickle as ``(cls, field values)``: the storage process moves
    these between processes for every webhook, and dataclasses' default slots pickling goes
    through Python-level ``__getstate__``/``__setstate__``."""
    get = operator.attrgetter(*(f.name for f in dataclasses.fields(cls)))  # type: ignore[arg-type]

    def reduce(self: Any) -> tuple[type[_T], tuple[object, ...]]:
        return cls, get(self)

    cls.__reduce__ = reduce  # type: ignore[method-assign]
    return cls


# --- headers: one decoding rule, one look-up by name ----------------------------------------
#
# A header is kept as the bytes that came off the wire. Wherever whrelay needs one as text (to
# detect the sender, check a signature, show it, forward it, read a target's answer), it is
# decoded by one rule: UTF-8, with every byte that is not part of valid UTF-8 kept as a lone
# surrogate (``surrogateescape``). Why this rule: HTTP lets a value hold any byte above 0x7F,
# senders who write non-ASCII write UTF-8, and the rule is lossless, so ``encode_header`` gives
# back exactly the bytes received. A signature over a header (Standard Webhooks signs the
# ``webhook-id``) still checks, a header forwarded again is the same bytes, and UTF-8 shows as
# what it says. latin-1 would be lossless too but shows UTF-8 as mojibake; ``errors="replace"``
# would lose the bytes.


def decode_header(raw: bytes) -> str:
    """A header name or value as text, by the one rule: UTF-8, and any byte that is not valid
    UTF-8 as a lone surrogate, so that ``encode_header`` gives back the same bytes."""
    return raw.decode("utf-8", "surrogateescape")


def encode_header(text: str) -> bytes:
    """The inverse of ``decode_header``."""
    return text.encode("utf-8", "surrogateescape")


def header_values(headers: Iterable[tuple[AnyStr, AnyStr]], name: str) -> list[str]:
    """Every value of header ``name``, in order: the one look-up of a header by name.

    The name matches case-insensitively. ``headers`` are pairs as received (bytes, decoded
    by ``decode_header``) or pairs already decoded by it (a ``Message``'s, a request file's).
    """
    wanted = name.lower()
    raw = encode_header(wanted)
    found: list[str] = []
    for key, value in headers:  # a bytes name never equals a str one: one test per pair
        lowered = key.lower()
        if lowered == raw and isinstance(value, bytes):
            found.append(decode_header(value))
        elif lowered == wanted and isinstance(value, str):
            found.append(value)
    return found


def header_value(headers: Iterable[tuple[AnyStr, AnyStr]], name: str) -> str | None:
    """The first value of header ``name`` (see ``header_values``), or ``None``."""
    values = header_values(headers, name)
    return values[0] if values else None


_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


def to_json(obj: object) -> str:
    """``obj`` as one line of JSON that is valid UTF-8 whatever it holds: text decoded with
    ``decode_header`` keeps a byte that was not UTF-8 as a lone surrogate, written here as the
    escape ``\\udcXX`` (which ``json.loads`` reads back as that surrogate, and
    ``encode_header`` as the byte), never as the raw byte."""
    import json

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


SECRET_HEADERS = frozenset({"x-gitlab-token"})
"""Headers (lower case) whose value is a secret itself, not a signature made with one (GitLab's
token): never written to an attempt record, never shown. A test signs with every scheme in the
registry and checks that any header holding the secret is named here."""
REDACTED = "[redacted by whrelay: the secret itself]"


def redact_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``pairs`` with the value of every header in ``SECRET_HEADERS`` replaced by
    ``REDACTED``: what whrelay shows and records of a request."""
    return [(k, REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in pairs]


def first_values(headers: RawHeaders) -> dict[bytes, bytes]:
    """Each header's lower-cased name and its first value, raw, in one pass: ``header_value``
    for many names at once (detection, on every webhook received). Decode a value with
    ``decode_header``."""
    index: dict[bytes, bytes] = {}
    for name, value in headers:
        index.setdefault(name.lower(), value)
    return index


def format_time(micros: int) -> str:
    """A UTC time in microseconds since the epoch as ISO 8601, e.g. 2026-11-26T17:36:42.123456Z."""
    return datetime.fromtimestamp(micros / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_micros() -> int:
    """The current UTC time in microseconds since the epoch."""
    return time.time_ns() // 1000


@fast_pickle
@dataclass(frozen=True, slots=True)
class Capture:
    """One HTTP request as the receiver took it in, before it has an id."""

    method: str
    path: str
    """The request target's path, as sent (percent-encoding untouched)."""
    query: str
    """The raw query string, without the ``?``; empty when there was none."""
    headers: RawHeaders
    body: bytes | None
    """The body bytes; ``None`` when the request had no body at all (no length, not chunked)."""
    http_version: str
    remote_addr: str | None
    received_at: int
    """UTC, microseconds since the epoch."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What can be told about a webhook's sender without a secret."""

    provider: str | None = None
    event_type: str | None = None
    provider_id: str | None = None
    """The sender's own id for this webhook (``X-GitHub-Delivery``, ``webhook-id``, ``evt_…``):
    not one of whrelay's deliveries, which are numbered rows of its own."""
    content_type: str | None = None


@fast_pickle
@dataclass(frozen=True, slots=True)
class StaleSignature:
    """An attempt refused (400, 401, 403) for a webhook that went out with its sender's own
    signature, longer after its arrival than the sender's scheme accepts a signature for:
    most likely refused as too old (after an outage); signing it afresh (``--resign``) fixes
    it. See ``whrelay.signatures.stale_signature``."""

    scheme: str
    age: float
    """Seconds from the webhook's arrival to the attempt."""
    tolerance: float
    """Seconds the scheme accepts a signature for after its timestamp."""
    secret_envs: tuple[str, ...] = ()
    """The variables ``listen`` read the secrets that check the webhook from (its route's, or
    its own ``--secret-env``), when it knows them: the fix (``whrelay replay ID --resign
    --secret-env VAR``) can then be given whole."""
    secret_typed: bool = False
    """Whether (some of) those secrets were typed (listen's ``--secret``): the fix then says
    to give it (``--secret``), as there is no variable to name."""

    def to_json(self) -> dict[str, object]:
        return {
            "scheme": self.scheme,
            "age_s": round(self.age, 1),
            "tolerance_s": self.tolerance,
            "secret_envs": list(self.secret_envs),
            "secret_typed": self.secret_typed,
        }


@fast_pickle
@dataclass(frozen=True, slots=True)
class Verdict:
    """What the receiver concluded about a webhook's signature."""

    verdict: str
    """``valid``, ``invalid`` or ``unverified``."""
    scheme: str | None = None
    reason: str | None = None
    detail: str | None = None


@fast_pickle
@dataclass(frozen=True, slots=True)
class WebhookSummary:
    """A stored webhook without its headers and body: what ``list`` shows."""

    id: int
    received_at: int
    method: str
    path: str
    query: str
    provider: str | None
    event_type: str | None
    provider_id: str | None
    """The sender's own id for this webhook (see ``Identity.provider_id``)."""
    size: int
    content_type: str | None
    verdict: str | None = None
    """``valid``, ``invalid`` or ``unverified`` (no scheme recognized, or no secret)."""
    verdict_reason: str | None = None
    scheme: str | None = None
    duplicate_of: int | None = None
    """An earlier webhook with the same provider and provider id: the sender sent it twice."""

    @property
    def target(self) -> str:
        """Path plus query, as the sender wrote them."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def to_json(self) -> dict[str, object]:
        """The fields every JSON view of a webhook carries."""
        return {
            "id": self.id,
            "received_at": format_time(self.received_at),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "provider": self.provider,
            "event_type": self.event_type,
            "provider_id": self.provider_id,
            "size": self.size,
            "content_type": self.content_type,
            "verdict": self.verdict,
            "verdict_reason": self.verdict_reason,
            "scheme": self.scheme,
            "duplicate_of": self.duplicate_of,
        }


@dataclass(frozen=True, slots=True)
class Webhook:
    """A stored webhook: the summary plus everything needed to send it again byte for byte."""

    summary: WebhookSummary
    headers: RawHeaders
    body: bytes | None
    http_version: str
    remote_addr: str | None

    @property
    def id(self) -> int:
        return self.summary.id

    def decoded_headers(self) -> list[tuple[str, str]]:
        return [(decode_header(k), decode_header(v)) for k, v in self.headers]

    def shown_headers(self) -> list[tuple[str, str]]:
        """The headers as every output shows them: decoded, the secret itself redacted."""
        return redact_headers(self.decoded_headers())

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def to_json(self) -> dict[str, object]:
        """The full record; ``body_b64`` is ``null`` when there was no body."""
        import base64

        data = self.summary.to_json()
        data["http_version"] = self.http_version
        data["remote_addr"] = self.remote_addr
        data["headers"] = [list(pair) for pair in self.shown_headers()]
        data["body_b64"] = None if self.body is None else base64.b64encode(self.body).decode()
        return data


def pack_headers(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Headers as one blob of ``name: value`` lines, exactly as HTTP/1.1 frames them.

    HTTP forbids CR and LF inside names and values and ``:`` inside names, so this is
    lossless for anything a parser accepted.
    """
    return b"\r\n".join(name + b": " + value for name, value in headers)


def unpack_headers(blob: bytes) -> RawHeaders:
    """The inverse of ``pack_headers``."""
    if not blob:
        return ()
    pairs = []
    for line in blob.split(b"\r\n"):
        name, _, value = line.partition(b": ")
        pairs.append((name, value))
    return tuple(pairs)


class DeliveryState(StrEnum):
    """The states of a delivery (one webhook to one target). The values are stored in SQLite
    and printed in JSON."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Given up by the user (``whrelay cancel``): never tried again by whrelay."""


class Trigger(StrEnum):
    """What caused an attempt. The values are stored in SQLite and printed in JSON."""

    FIRST = "first"
    RETRY = "retry"
    REPLAY = "replay"
    PROXY = "proxy"
    SEND = "send"
    """A test webhook from ``whrelay send``: recorded nowhere."""


@fast_pickle
@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook on its way to one target: a row of the durable queue."""

    id: int
    webhook_id: int
    target: str
    state: DeliveryState
    attempts: int
    next_attempt_at: int | None
    """UTC microseconds; ``None`` once the delivery is no longer pending."""
    created_at: int
    updated_at: int
    last_status: int | None = None
    last_error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "target": self.target,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": None
            if self.next_attempt_at is None
            else format_time(self.next_attempt_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
        }


CERTIFICATE_FAILED = "certificate verify failed"
"""How the ``error_detail`` of a ``tls`` attempt begins when the target's certificate did not
verify (self-signed, another name, expired), as against another handshake failure."""


@fast_pickle
@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a delivery (or of a replay): the request sent and the answer received."""

    webhook_id: int
    delivery: int | None
    """The delivery this attempt belongs to; ``None`` for a replay to an ad-hoc target."""
    trigger: Trigger
    url: str
    request_headers: RawHeaders
    started_at: int
    duration_us: int
    status: int | None
    response_headers: RawHeaders = ()
    response_body: bytes | None = None
    response_truncated: bool = False
    error: str | None = None
    """``refused``, ``connect``, ``timeout``, ``reset``, ``blocked`` (by the loopback policy),
    ``tls`` (the handshake failed), ``error`` (the answer is not HTTP), ``unsent`` (the
    request could not be made) or ``interrupted`` (whrelay stopped before the answer)."""
    error_detail: str | None = None
    id: int = 0
    resigned: bool | None = None
    """Whether whrelay signed the request afresh (``--resign``): ``None`` when re-signing was
    not asked for, ``False`` when it was but the webhook went out as received (see
    ``resign_note``)."""
    resign_note: str | None = None
    """Why a webhook was not re-signed, or the warning it was re-signed with."""
    edited: str | None = None
    """What a replay changed of the webhook before it went (``another body (12 B), -H
    X-Debug``); ``None``: it went as stored (re-signing aside, which ``resigned`` says)."""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def certificate_rejected(self) -> bool:
        """Whether the target's certificate did not verify (``--ca-file`` or ``--insecure``
        may be the fix): not any other TLS failure."""
        return self.error == "tls" and (self.error_detail or "").startswith(CERTIFICATE_FAILED)

    def to_json(self) -> dict[str, object]:
        import base64

        body = self.response_body
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "delivery": self.delivery,
            "trigger": self.trigger,
            "url": self.url,
            "started_at": format_time(self.started_at),
            "duration_ms": round(self.duration_us / 1000, 3),
            "status": self.status,
            "error": self.error,
            "error_detail": self.error_detail,
            "request_headers": [
                [decode_header(k), decode_header(v)] for k, v in self.request_headers
            ],
            "response_headers": [
                [decode_header(k), decode_header(v)] for k, v in self.response_headers
            ],
            "response_body_b64": None if body is None else base64.b64encode(body).decode(),
            "response_truncated": self.response_truncated,
            "resigned": self.resigned,
            "resign_note": self.resign_note,
            "edited": self.edited,
        }


def parse_header_option(text: str) -> tuple[str, str]:
    """``'Name: value'`` (a ``-H`` option) as a pair; ``UsageError`` when it is not one."""
    from whrelay.core.errors import UsageError

    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
        raise UsageError(f"not a header: {text!r}", hint="write -H 'Name: value'")
    return name, value.strip()


FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
"""Headers that frame the body: whrelay writes them for the body it sends, never from ``-H``."""


def header_options(texts: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``-H`` options of ``listen``, ``replay`` and ``send`` as pairs, each name once: a
    header named again replaces the earlier one (the last wins, in the place of the first),
    as it replaces the request's own header of that name (``Host`` included). ``UsageError``
    for one that is not a header, or that frames the body (``Content-Length``,
    ``Transfer-Encoding``: whrelay writes them for the body it sends)."""
    from whrelay.core.errors import UsageError

    chosen: dict[str, tuple[str, str]] = {}
    for text in texts:
        name, value = parse_header_option(text)
        if name.lower() in FRAMING_HEADERS:
            raise UsageError(f"-H {name} cannot be set: whrelay writes it for the body it sends")
        chosen[name.lower()] = (name, value)
    return tuple(chosen.values())
