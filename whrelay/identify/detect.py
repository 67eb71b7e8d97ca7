"""Tell a webhook's sender, event type and provider id from the request, without a secret.

What tells each sender is declared by its scheme module (``identification``: the headers
that name it, where its event type and its own id of the webhook are, or how its body tells
it); ``known.py`` holds those declarations, generated from the schemes, and the tables here
are built from it once, at import. Detection reads headers first (cheap, and nearly every
sender names itself in one) and the JSON body only for what senders put nowhere else (Stripe's
``evt_`` id, a ``type`` field). Pure functions; nothing here trusts the values beyond copying
them as text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from whrelay.core.models import Identity, RawHeaders, decode_header, first_values
from whrelay.identify.facts import BodyMark, Identification, Path
from whrelay.identify.known import PROVIDERS as PROVIDERS  # what list --provider selects by
from whrelay.identify.known import SENDERS

if TYPE_CHECKING:
    from whrelay.identify.bodyfields import FieldReader, Fields

COMMON_EVENT_FIELDS: tuple[Path, ...] = (("type",), ("event_type",), ("event",), ("object_kind",))
"""Where most senders put the event type: read for any sender, known or not, after its own."""
COMMON_ID_FIELDS: tuple[Path, ...] = (("event_id",), ("notification_id",))
COMMON_ID_HEADERS: tuple[str, ...] = ("webhook-id", "svix-id")
"""Where most senders put their own id of a webhook (the Standard Webhooks headers last)."""

_FORM_SNIFF = 64 * 1024
"""Url-encoded bodies larger than this are not searched for a sender's form fields."""


def _find(fields: Fields, paths: tuple[tuple[int, Path], ...]) -> str | None:
    """The first non-empty text at ``paths`` (a top-level field's place, then keys below)."""
    for place, below in paths:
        value = fields[place]
        for key in below:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


# Plain classes: a named tuple or a dataclass is compiled when defined, which every process
# that detects (listen's, its storage process, verify) would pay for at start.


class _Rule:
    """One sender's ``Identification``, compiled: raw header names, field places."""

    __slots__ = (
        "event_fields",
        "event_headers",
        "id_fallback_headers",
        "id_fields",
        "id_headers",
        "subtype_fields",
    )

    def __init__(
        self,
        event_headers: tuple[bytes, ...],
        event_fields: tuple[tuple[int, Path], ...],
        subtype_fields: tuple[tuple[int, Path], ...],
        id_headers: tuple[bytes, ...],
        id_fields: tuple[tuple[int, Path], ...],
        id_fallback_headers: tuple[bytes, ...],
    ) -> None:
        self.event_headers = event_headers
        self.event_fields = event_fields
        self.subtype_fields = subtype_fields
        self.id_headers = id_headers
        self.id_fields = id_fields
        self.id_fallback_headers = id_fallback_headers


class _Mark:
    """A ``BodyMark``, compiled."""

    __slots__ = ("form_event", "form_fields", "form_literals", "json_field", "json_keys", "name")

    def __init__(
        self,
        name: str,
        json_field: int,
        json_keys: frozenset[str],
        form_fields: tuple[re.Pattern[bytes], ...],
        form_literals: tuple[bytes, ...],
        form_event: re.Pattern[bytes] | None,
    ) -> None:
        self.name = name
        self.json_field = json_field
        self.json_keys = json_keys
        self.form_fields = form_fields
        self.form_literals = form_literals
        self.form_event = form_event


class Detector:
    """Detection built from the senders' declarations (``(name, Identification)`` in the order
    they are tried): the tables are made once, here; ``identify`` runs per request."""

    def __init__(self, senders: Sequence[tuple[str, Identification]]) -> None:
        self.names = tuple(sorted({name for name, _ in senders}))
        """Every provider it can tell (what ``list --provider`` selects by)."""
        self._by_header = tuple(
            (header.encode(), name) for name, facts in senders for header in facts.headers
        )
        self._keys: list[str] = []
        common = Identification(common_fields=True)
        self._common = self._rule(common)
        self._rules = {name: self._rule(facts) for name, facts in senders}
        self._marks = tuple(self._mark(name, facts.body) for name, facts in senders if facts.body)
        self._read: FieldReader = self._first_read

    def _place(self, path: Path) -> tuple[int, Path]:
        if path[0] not in self._keys:
            self._keys.append(path[0])
        return self._keys.index(path[0]), path[1:]

    def _places(self, paths: Sequence[Path]) -> tuple[tuple[int, Path], ...]:
        return tuple(self._place(path) for path in dict.fromkeys(paths))

    def _rule(self, facts: Identification) -> _Rule:
        common = facts.common_fields
        events = facts.event_fields + (COMMON_EVENT_FIELDS if common else ())
        ids = facts.id_fields + (COMMON_ID_FIELDS if common else ())
        return _Rule(
            tuple(h.encode() for h in facts.event_headers),
            self._places(events),
            self._places(facts.subtype_fields),
            tuple(h.encode() for h in facts.id_headers),
            self._places(ids),
            tuple(h.encode() for h in COMMON_ID_HEADERS) if common else (),
        )

    def _mark(self, name: str, mark: BodyMark) -> _Mark:
        fields = tuple(
            re.compile(
                rb"(?:^|&)" + re.escape(field.encode()) + rb"=" + pattern.encode() + rb"(?:&|$)"
            )
            for field, pattern in mark.form_fields
        )
        event = (
            re.compile(rb"(?:^|&)" + re.escape(mark.form_event.encode()) + rb"=([^&]*)")
            if mark.form_event
            else None
        )
        return _Mark(
            name,
            self._place((mark.json_field,))[0],
            frozenset(mark.json_keys),
            fields,
            tuple(field.encode() + b"=" for field, _ in mark.form_fields),
            event,
        )

    def _first_read(self, content_type: bytes, body: bytes | None) -> Fields:
        """The top-level JSON fields any declaration reads. The reader (and msgspec) is made
        on first use, and takes this one's place: ``verify`` reads headers only, and starts
        faster without them."""
        from whrelay.identify.bodyfields import field_reader

        self._read = field_reader(tuple(self._keys))
        return self._read(content_type, body)

    def provider(self, index: dict[bytes, bytes]) -> str | None:
        """The first sender one of whose headers is in ``index`` (``first_values``)."""
        for header, name in self._by_header:
            if header in index:
                return name
        return None

    def _by_body(
        self, fields: Fields, content_type: bytes | None, body: bytes | None
    ) -> tuple[str, str | None, bool] | None:
        """``(sender, form event, from a form)`` of a sender told by its body, or ``None``."""
        for mark in self._marks:
            found: Any = fields[mark.json_field]
            if isinstance(found, dict) and found.keys() >= mark.json_keys:
                return mark.name, None, False
            if (
                content_type is not None
                and body
                and len(body) <= _FORM_SNIFF
                and content_type.lower().startswith(b"application/x-www-form-urlencoded")
                and all(literal in body for literal in mark.form_literals)  # cheap checks first
                and all(pattern.search(body) for pattern in mark.form_fields)
            ):
                event = mark.form_event.search(body) if mark.form_event else None
                text = unquote_plus(event.group(1).decode("latin-1")) or None if event else None
                return mark.name, text, True
        return None

    def identify(self, headers: RawHeaders, body: bytes | None) -> Identity:
        """Provider, event type and provider id, as far as the request tells them.

        On the hot path of every webhook: one pass over the headers, the body parsed at most
        once."""
        index = first_values(headers)
        provider = None
        for header, sender in self._by_header:
            if header in index:
                provider = sender
                break
        content_type = index.get(b"content-type")
        content = None if content_type is None else decode_header(content_type)
        fields = self._read(content_type or b"", body)
        if provider is None and self._marks:
            told = self._by_body(fields, content_type, body)
            if told is not None:
                provider, event, from_form = told
                if from_form:
                    return Identity(provider, event, None, content)
        rule = self._common if provider is None else self._rules[provider]

        event_type = None
        for name in rule.event_headers:
            value = index.get(name)
            if value:
                event_type = decode_header(value)
                break
        if event_type is None:
            event_type = _find(fields, rule.event_fields)
        if event_type is not None and rule.subtype_fields:
            subtype = _find(fields, rule.subtype_fields)
            if subtype is not None:
                event_type = f"{event_type}.{subtype}"

        provider_id = None
        for name in rule.id_headers:
            value = index.get(name)
            if value:
                provider_id = decode_header(value)
                break
        if provider_id is None:
            provider_id = _find(fields, rule.id_fields)
        for name in rule.id_fallback_headers:
            if provider_id:
                break
            value = index.get(name)
            provider_id = decode_header(value) if value else None
        return Identity(provider, _bounded(event_type), _bounded(provider_id), content)


MAX_NAME = 256
"""Characters kept of an event type or a provider id. Both come from the request, unsigned
(a body's ``type`` or ``action`` may be as long as the JSON read), and both are kept in the
index that every page of the history reads: a longer one is cut, with ``…``."""


def _bounded(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


DETECTOR = Detector(SENDERS)
"""Detection for every sender the schemes declare, in the registry's order."""


identify = DETECTOR.identify
"""``identify(headers, body)``: provider, event type and provider id, as far as the request
tells them."""


def detect_provider(headers: RawHeaders) -> str | None:
    """The provider one of whose identifying headers is present, or ``None``."""
    return DETECTOR.provider(first_values(headers))
