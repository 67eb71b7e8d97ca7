"""What the receiver takes from aiohttp beyond its public API, checked before ``listen`` starts.

``whrelay.receiver.http`` serves HTTP/1.1 on aiohttp's request parser, its flow-controlled
``StreamReader`` and its ``BaseProtocol``, private members included. aiohttp promises none
of that from one release to the next: 3.14.4 reshaped ``BaseProtocol``'s flow control, and
under 3.14.3 every request got a dropped connection and an ``AttributeError``. So
``pyproject.toml`` bounds aiohttp to the releases CI tests (``SUPPORTED``; ``.ci/run`` runs
the receiver's tests under the lowest and the highest), and ``check_aiohttp`` stands between
an aiohttp that lacks them anyway (installed by force, or by hand) and a dropped connection:
``listen`` calls it before it opens the database or a port, and it fails with one line that
names what is missing and the range that works.

This module imports aiohttp only inside its functions, and never ``receiver.http``: the
check must run where importing that module would fail.
"""

from __future__ import annotations

import asyncio
import importlib

from whrelay.core.errors import UnavailableError

LOWEST = "3.14.4"
"""The first release whose ``BaseProtocol`` has the buffer flow control the receiver uses."""
BELOW = "3.15"
"""The first release not tested: a new minor release may move the internals again."""
SUPPORTED = f">={LOWEST},<{BELOW}"
"""As in ``pyproject.toml`` (a test checks that they agree)."""

NEEDED: dict[str, dict[str, tuple[str, ...]]] = {
    "aiohttp.base_protocol": {
        "BaseProtocol": (
            "__init__",
            "connection_made",
            "connection_lost",
            "transport",
            "_loop",
            "_paused",
            "_reading_paused",
            "_buffer_paused",
            "_pause_reading_for_buffer",
            "_resume_reading_for_buffer",
            "_pause_transport_reading",
            "_resume_transport_reading",
            "_drain_helper",
        ),
    },
    "aiohttp.http": {
        "HttpRequestParser": ("feed_data", "message_consumed"),
        "HttpProcessingError": ("message",),
        "RawRequestMessage": (
            "method",
            "path",
            "version",
            "headers",
            "raw_headers",
            "should_close",
            "upgrade",
            "chunked",
        ),
    },
    "aiohttp.streams": {
        "EMPTY_PAYLOAD": (),
        "StreamReader": ("is_eof", "read_nowait", "readany", "set_exception"),
    },
}
"""Module, name, and the attributes of it that ``receiver.http`` uses."""


def installed_version() -> str:
    """The installed aiohttp's version, or ``"(none)"``."""
    try:
        aiohttp = importlib.import_module("aiohttp")
    except ImportError:
        return "(none)"
    return str(getattr(aiohttp, "__version__", "(unknown)"))


def missing() -> list[str]:
    """What ``receiver.http`` uses that the installed aiohttp lacks; empty when all is there.

    Names are looked up, then one request is parsed the way ``Connection`` parses them (the
    same constructor keywords, the same ``feed_data`` results), which catches a changed
    signature as well as a missing name."""
    lacking: list[str] = []
    found: dict[str, object] = {}
    for module_name, names in NEEDED.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            lacking.append(module_name)
            continue
        for name, attributes in names.items():
            if not hasattr(module, name):
                lacking.append(f"{module_name}.{name}")
                continue
            found[name] = value = getattr(module, name)
            lacking += [f"{name}.{a}" for a in attributes if not hasattr(value, a)]
    if lacking:
        return lacking
    return _parse_one(found)


def _parse_one(found: dict[str, object]) -> list[str]:
    """Parse one small request as ``Connection`` does; what failed, if anything."""
    base_protocol, parser_class = found["BaseProtocol"], found["HttpRequestParser"]
    loop = asyncio.new_event_loop()
    try:
        protocol = base_protocol(loop, None)  # type: ignore[operator]
        parser = parser_class(  # type: ignore[operator]
            protocol,
            loop,
            1 << 16,
            max_line_size=8190,
            max_field_size=8190,
            max_headers=128,
            auto_decompress=False,
            max_msg_queue_size=1,
        )
        parser.message_consumed()
        messages, _upgraded, _tail = parser.feed_data(
            b"POST /probe HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
        )
        [(message, payload)] = messages
        if (message.method, message.path, payload.read_nowait(-1)) != ("POST", "/probe", b"ok"):
            return ["HttpRequestParser.feed_data (it parsed a request otherwise)"]
    except Exception as error:
        return [f"HttpRequestParser as the receiver builds it ({type(error).__name__}: {error})"]
    finally:
        loop.close()
    return []


def check_aiohttp() -> None:
    """Raise ``UnavailableError`` (exit 3) unless aiohttp offers what the receiver uses."""
    lacking = missing()
    if not lacking:
        return
    shown = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
    raise UnavailableError(
        f"the installed aiohttp {installed_version()} lacks what the receiver uses ({shown}); "
        f"whrelay supports aiohttp {SUPPORTED}",
        hint=f"pip install 'aiohttp{SUPPORTED}'",
    )


def _release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version: ``3.15.0a1`` is ``(3, 15, 0)``."""
    numbers = []
    for part in version.split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(numbers)


def range_warning(version: str) -> str | None:
    """A start-up warning when ``version`` is outside the tested range (yet has all that
    ``check_aiohttp`` looks for), else ``None``."""
    release = _release(version)
    if _release(LOWEST) <= release < _release(BELOW):
        return None
    return (
        f"aiohttp {version} is outside the range whrelay is tested with ({SUPPORTED}); "
        f"if requests are dropped, pip install 'aiohttp{SUPPORTED}'"
    )
