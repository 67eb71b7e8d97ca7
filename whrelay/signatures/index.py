"""The schemes' declarations where detection reads them: ``whrelay/identify/known.py``.

Detection (``identify/``, below ``signatures/``) may not import a scheme, and should not
load every one of them to tell a sender: ``known.py`` holds what each scheme in the registry
declares about its provider (its name, its ``identification``), written by this module.

    python -m whrelay.signatures.index      # rewrites whrelay/identify/known.py

A test renders it afresh and fails when the committed file differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from whrelay.identify.facts import BodyMark, Identification
from whrelay.signatures import REGISTRY, get_scheme

KNOWN = Path(__file__).resolve().parent.parent / "identify" / "known.py"
WIDTH = 100
"""The line length ``ruff format`` keeps (``pyproject.toml``): the file is written as it
would format it."""

HEAD = '''\
"""Every provider whrelay knows, as its scheme module declares it.

Generated from the registry (``whrelay/signatures/__init__.py``) and the schemes'
declarations by ``python -m whrelay.signatures.index``: do not edit. A test fails when this
differs from what the schemes declare.
"""

from __future__ import annotations

'''


def _inline(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, BodyMark | Identification):
        return f"{type(value).__name__}({', '.join(_arguments(value))})"
    if isinstance(value, tuple):
        items = [_inline(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return repr(value)


def _arguments(value: BodyMark | Identification) -> list[str]:
    """``name=value`` of each field that differs from its default, inline."""
    return [f"{name}={_inline(item)}" for name, item in _fields(value)]


def _fields(value: BodyMark | Identification) -> list[tuple[str, object]]:
    """The fields to write: the required ones, and those that differ from their default."""
    defaults = type(value)._field_defaults
    return [
        (name, item)
        for name, item in zip(value._fields, value, strict=True)
        if name not in defaults or item != defaults[name]
    ]


def _lines(value: object, indent: int, prefix: str = "", suffix: str = ",") -> list[str]:
    """``value`` as lines at ``indent``: on one line when it fits, else one item a line (with
    a trailing comma, so that the formatter keeps it so)."""
    pad = " " * indent
    one = f"{pad}{prefix}{_inline(value)}{suffix}"
    if len(one) <= WIDTH or not isinstance(value, tuple):
        return [one]
    if isinstance(value, BodyMark | Identification):
        opening, closing = f"{type(value).__name__}(", ")"
        inner = [
            line for name, item in _fields(value) for line in _lines(item, indent + 4, f"{name}=")
        ]
    else:
        opening, closing = "(", ")"
        inner = [line for item in value for line in _lines(item, indent + 4)]
    return [f"{pad}{prefix}{opening}", *inner, f"{pad}{closing}{suffix}"]


def render() -> str:
    """The text of ``known.py`` for the registry as it is."""
    names = list(REGISTRY)
    senders = []
    for name in names:
        identification = get_scheme(name).identification
        if identification is not None:
            senders.append((name, identification))
    marks = any(identification.body for _, identification in senders)
    imported = "BodyMark, Identification" if marks else "Identification"
    secret = sorted({h for name in names for h in get_scheme(name).secret_headers})
    lines = [HEAD + f"from whrelay.identify.facts import {imported}\n"]
    for variable, values, doc in (
        ("SCHEMES", names, "Every scheme's name, in the registry's order (``--provider``)."),
        ("PROVIDERS", sorted({n for n, _ in senders}), "Every provider detection can tell."),
        ("SECRET_HEADERS", secret, "Headers whose value is the secret itself (never shown)."),
    ):
        lines += _lines(tuple(values), 0, f"{variable}: tuple[str, ...] = ", "")
        lines += [f'"""{doc}"""', ""]
    lines += ["SENDERS: tuple[tuple[str, Identification], ...] = ("]
    for name, identification in senders:
        lines += ["    (", f"        {json.dumps(name)},"]
        lines += _lines(identification, 8)
        lines += ["    ),"]
    lines += [")"]
    lines += [
        '"""Every provider whose webhooks can be told apart, with how: in the order detection',
        'tries them."""',
        "",
    ]
    return "\n".join(lines)


def write(path: Path = KNOWN) -> Path:
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else KNOWN))
