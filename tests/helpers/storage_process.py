"""Captures for the storage process's tests."""

from __future__ import annotations

import subprocess
import time

from tests.helpers.captures import capture
from whrelay.core.models import Capture


def nth_capture(n: int) -> Capture:
    """Webhook ``n``: its own path, body and time; a GitHub delivery id shared by every
    third; a header value that is not UTF-8."""
    return capture(
        f"/p/{n}",
        query="a=1",
        headers=(
            (b"X-GitHub-Event", b"push"),
            (b"X-GitHub-Delivery", b"d-%d" % (n % 3)),
            (b"X-Bin", b"\xff\x00"),
        ),
        body=b"\x00\xff%d" % n,
        received_at=1_700_000_000_000_000 + n,
    )


def child_pid(parent: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["pgrep", "-P", str(parent), "-f", "whrelay.storage.process"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.05)
    raise AssertionError("no storage process found")
