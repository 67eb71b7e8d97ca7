"""JSON laid out for reading, every token as the sender wrote it (no terminal library: the
front ends and the comparisons share it)."""

from __future__ import annotations

_JSON_SPACE = " \t\r\n"
_JSON_STOP = _JSON_SPACE + ',:{}[]"'


def reindent_json(text: str, indent: str = "  ", limit: int | None = None) -> str:
    """Valid JSON ``text`` laid out one value a line, every token kept as written: numbers
    (``1.10``, ``1e400``), string escapes and repeated keys stay what the sender sent, which
    parsing and dumping it again would change. With ``limit``, it stops soon after that many
    characters (deep nesting makes the layout far longer than the text)."""
    out: list[str] = []
    depth = 0
    i, n = 0, len(text)
    budget = limit if limit is not None else -1
    size = counted = 0
    while i < n:
        if budget >= 0 and len(out) - counted >= 64:
            size += sum(map(len, out[counted:]))
            counted = len(out)
            if size > budget:
                break
        c = text[i]
        if c == '"':
            end = i + 1
            while True:
                end = text.index('"', end)
                slashes = 0
                while text[end - 1 - slashes] == "\\":
                    slashes += 1
                if slashes % 2 == 0:
                    break
                end += 1
            out.append(text[i : end + 1])
            i = end + 1
        elif c in _JSON_SPACE:
            i += 1
        elif c in "{[":
            after = i + 1
            while after < n and text[after] in _JSON_SPACE:
                after += 1
            if after < n and text[after] in "}]":  # an empty one stays on its line
                out.append(c + text[after])
                i = after + 1
            else:
                depth += 1
                out.append(c + "\n" + indent * depth)
                i += 1
        elif c in "}]":
            depth -= 1
            out.append("\n" + indent * depth + c)
            i += 1
        elif c == ",":
            out.append(",\n" + indent * depth)
            i += 1
        elif c == ":":
            out.append(": ")
            i += 1
        else:  # a number, true, false or null
            end = i
            while end < n and text[end] not in _JSON_STOP:
                end += 1
            out.append(text[i:end])
            i = end
    return "".join(out)
