"""``listen`` checks, before it starts, that the installed aiohttp offers what the receiver
takes from its internals (``whrelay.receiver.aiohttp_internals``).

The device for an aiohttp that lacks them: a ``sitecustomize.py`` put first on the
``PYTHONPATH`` of a real ``whrelay listen`` subprocess, which Python runs at start-up. It
reshapes the installed aiohttp as an older release had it (``BaseProtocol`` as in 3.14.3,
the parser as in 3.14.0) or takes away a name the receiver imports. aiohttp itself is not
mocked: everything else in that process is the real library. ``.ci/run`` also runs
``listen`` under a real aiohttp 3.14.3, in a venv of its own.
"""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.processes import ROOT, run_whrelay
from whrelay.core.errors import ExitCode
from whrelay.receiver import aiohttp_internals
from whrelay.receiver.aiohttp_internals import BELOW, LOWEST, SUPPORTED, range_warning

AS_IN_3_14_3 = """
    import aiohttp.base_protocol

    # 3.14.4 added these (and the _buffer_paused slot) to BaseProtocol.
    for name in ("_buffer_paused", "_pause_reading_for_buffer", "_resume_reading_for_buffer",
                 "_pause_transport_reading", "_resume_transport_reading"):
        delattr(aiohttp.base_protocol.BaseProtocol, name)
"""
PARSER_AS_IN_3_14_0 = """
    import aiohttp.http

    class HttpRequestParser(aiohttp.http.HttpRequestParser):
        # Before 3.14.3 the parser took no max_msg_queue_size.
        def __init__(self, *args, **kwargs):
            if "max_msg_queue_size" in kwargs:
                raise TypeError("unexpected keyword argument 'max_msg_queue_size'")
            super().__init__(*args, **kwargs)

    aiohttp.http.HttpRequestParser = HttpRequestParser
"""
NO_EMPTY_PAYLOAD = """
    import aiohttp.http
    import aiohttp.streams

    del aiohttp.streams.EMPTY_PAYLOAD  # receiver/http.py imports it: that import would fail
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shim", "named"),
    [
        pytest.param(AS_IN_3_14_3, "BaseProtocol._buffer_paused", id="BaseProtocol-of-3.14.3"),
        pytest.param(PARSER_AS_IN_3_14_0, "max_msg_queue_size", id="parser-of-3.14.0"),
        pytest.param(NO_EMPTY_PAYLOAD, "aiohttp.streams.EMPTY_PAYLOAD", id="a-name-gone"),
    ],
)
def test_listen_refuses_to_start_on_an_aiohttp_without_what_the_receiver_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shim: str, named: str
) -> None:
    shims = tmp_path / "shim"
    shims.mkdir()
    (shims / "sitecustomize.py").write_text(textwrap.dedent(shim))
    monkeypatch.setenv("PYTHONPATH", str(shims))
    db = tmp_path / "hooks.db"
    done = run_whrelay("listen", "--port", "0", "-o", "json", "--db", str(db))
    assert done.returncode == ExitCode.UNAVAILABLE, done.stderr
    assert done.stdout == b""  # no ready line: it never listened
    error, hint = done.stderr.decode().splitlines()
    assert error.startswith(
        f"whrelay: error: the installed aiohttp {aiohttp.__version__} lacks what the receiver "
        "uses ("
    ), error
    assert named in error
    assert error.endswith(f"); whrelay supports aiohttp >={LOWEST},<{BELOW}"), error
    assert hint.strip() == f"hint: pip install 'aiohttp>={LOWEST},<{BELOW}'"
    assert not db.exists()  # refused before anything was opened


def test_the_installed_aiohttp_offers_what_the_receiver_uses() -> None:
    assert aiohttp_internals.missing() == []
    aiohttp_internals.check_aiohttp()
    assert range_warning(aiohttp.__version__) is None


def test_pyproject_bounds_aiohttp_to_the_range_the_check_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [aiohttp_requirement] = [d for d in project["dependencies"] if d.startswith("aiohttp")]
    assert aiohttp_requirement.replace(" ", "") == f"aiohttp{SUPPORTED}"


@pytest.mark.parametrize(
    ("version", "warned"),
    [
        (LOWEST, False),
        ("3.14.9", False),
        ("3.14.10.post1", False),
        ("3.14.3", True),
        ("3.13.5", True),
        ("3.15.0a1", True),
        ("3.15.0", True),
        ("4.0.0", True),
    ],
)
def test_an_aiohttp_outside_the_tested_range_is_warned_about(version: str, warned: bool) -> None:
    warning = range_warning(version)
    assert (warning is not None) is warned
    if warning is not None:
        assert warning.startswith(f"aiohttp {version} is outside the range whrelay is tested")
        assert f"pip install 'aiohttp{SUPPORTED}'" in warning
