"""Make untrusted text inert for a terminal, without Rich (so plain output loads no Rich).

Control characters (ESC, CSI, BEL, backspace, ...), the Unicode bidi overrides and the lone
surrogates that stand for non-UTF-8 header bytes are shown as visible escapes such as
``\\x1b``.
"""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, and C1 controls (0x80-0x9f: CSI is 0x9b), plus the
# Unicode bidi overrides that can make text read differently from what it is, and the Unicode
# line and paragraph separators (a line break to Python's splitlines and to Textual).
# Lone surrogates \udc80-\udcff stand for header bytes that were not UTF-8: shown as \xNN.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]"
)


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(value: str) -> str:
    """``value`` with every control character replaced by a visible escape."""
    return _CONTROL.sub(_escape_control, value)


def one_line(value: str) -> str:
    """``value`` made inert and kept on one line (LF and TAB escaped too)."""
    return inert(value).replace("\n", "\\n").replace("\t", "\\t")
