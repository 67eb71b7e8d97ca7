"""The few top-level fields of a JSON body that detection reads (an event type, an id).

Decoded with msgspec into a struct that names only those fields: every other field is skipped
without being built, several times cheaper than ``json.loads`` on a typical event. This runs
for every webhook received. A module of its own so that commands that detect from headers
alone (``verify``) do not import msgspec.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from typing import Any

import msgspec

MAX_JSON_SNIFF = 1024 * 1024
"""Bodies larger than this are not parsed for an event type or id."""

Fields = tuple[Any, ...]
"""The values of the fields asked for, in their order; ``None`` for one that is absent."""
FieldReader = Callable[[bytes, bytes | None], Fields]
"""``(content_type, body) -> Fields``."""


def field_reader(keys: tuple[str, ...]) -> FieldReader:
    """A function that reads the top-level fields ``keys`` of a JSON object body; all
    ``None`` for anything else (not JSON, not an object, too large). Built once: the
    struct it decodes into names those fields only."""
    names = [f"f{n}" for n in range(len(keys))]
    struct = msgspec.defstruct(
        "DetectedFields",
        [(name, Any, None) for name in names],
        rename=dict(zip(names, keys, strict=True)),
    )
    decode = msgspec.json.Decoder(struct).decode
    astuple = msgspec.structs.astuple
    none: Fields = (None,) * len(keys)

    def read(content_type: bytes, body: bytes | None) -> Fields:
        if not body or len(body) > MAX_JSON_SNIFF:
            return none
        if body.startswith(codecs.BOM_UTF8):
            body = body[len(codecs.BOM_UTF8) :]
        if b"json" not in content_type.lower() and body.lstrip()[:1] != b"{":
            return none
        try:
            return astuple(decode(body))
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
            # What msgspec is stricter about than the standard library (NaN, a lone surrogate
            # escape in any field, UTF-16 and UTF-32) is still JSON to a sender's library.
            return _fields_of(body, keys, none)

    return read


def _fields_of(body: bytes, keys: tuple[str, ...], none: Fields) -> Fields:
    """The slow path: the whole document through ``json.loads``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return none
    if not isinstance(document, dict):
        return none
    return tuple(document.get(key) for key in keys)
