"""Example events, for ``whrelay send`` and ``whrelay sign`` without ``--data``.

Each scheme declares its own (``example``), shaped after its provider's documented examples,
trimmed; ids are obviously fake. A scheme whose provider has no example of its own declares
``GENERIC_EXAMPLE``. Cheap to import: every scheme module does.
"""

from __future__ import annotations

JSON_HEADERS = (("Content-Type", "application/json"),)


class Example:
    """An example webhook: a body (a JSON object, or a form as text) and the headers, other
    than the signature's, that come with it. ``{uid}`` and ``{uuid}`` in either are fresh ids
    each time, and ``"{now_ms}"`` in a body the current time in milliseconds (a number).

    A declaration, never changed: a plain class (cheap to define, and hashable as itself,
    which a dataclass holding a dict is not)."""

    __slots__ = ("body", "headers")

    def __init__(
        self,
        body: dict[str, object] | str,
        headers: tuple[tuple[str, str], ...] = JSON_HEADERS,
    ) -> None:
        self.body = body
        self.headers = headers


GENERIC_EXAMPLE = Example(
    {"type": "whrelay.test", "id": "evt_whrelay_{uid}", "data": {"hello": "world"}}
)
"""The example of a scheme whose provider has none of its own."""


def _fill(text: str, ids: dict[str, str]) -> str:
    text = text.replace('"{now_ms}"', ids["now_ms"])  # a JSON number, not a string
    return text.replace("{uid}", ids["uid"]).replace("{uuid}", ids["uuid"])


def fill_example(example: Example) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """``example``'s body as bytes and its headers, with fresh ids, so that two sends are not
    duplicates."""
    import json
    import secrets
    import time
    import uuid

    ids = {
        "uid": secrets.token_hex(8),
        "uuid": str(uuid.uuid4()),
        "now_ms": str(int(time.time() * 1000)),
    }
    body = example.body
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return _fill(text, ids).encode(), tuple((k, _fill(v, ids)) for k, v in example.headers)


def example_event(provider: str) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """The example event of ``provider``'s scheme (see ``fill_example``); ``UsageError``
    naming the known schemes for an unknown one."""
    from whrelay.signatures import get_scheme

    return fill_example(get_scheme(provider).example)
