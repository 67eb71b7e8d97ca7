"""The C allocator gives large blocks back once they are freed (glibc's dynamic mmap
threshold would keep the second and later ones in its heap)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.processes import ROOT

FREE_TWICE_AND_REPORT = """
import sys
from pathlib import Path

from whrelay.core.allocator import give_back_large_blocks

def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS")

fixed = give_back_large_blocks() if sys.argv[1] == "fixed" else None
before = rss_kib()
for _ in range(2):  # the first free raises glibc's threshold; the second block is the test
    body = bytearray(24 << 20)  # zero-filled: every page touched
    del body
print(fixed, rss_kib() - before)
"""


def freed_and_kept(mode: str) -> tuple[str, int]:
    """Whether the threshold was fixed, and the KiB a process still holds after freeing two
    24 MiB blocks in turn."""
    done = subprocess.run(
        [sys.executable, "-c", FREE_TWICE_AND_REPORT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    fixed, kept = done.stdout.split()
    return fixed, int(kept)


@pytest.mark.slow
@pytest.mark.skipif(
    not hasattr(os, "confstr") or "CS_GNU_LIBC_VERSION" not in os.confstr_names,
    reason="glibc only",
)
def test_freed_large_blocks_go_back_to_the_system() -> None:
    fixed, kept = freed_and_kept("fixed")
    assert fixed == "True"
    assert kept < 4 * 1024, f"{kept} KiB kept after the blocks were freed"
    # Without it, the second block came from the heap and stayed (the test tests something).
    _, kept_by_default = freed_and_kept("default")
    assert kept_by_default > 16 * 1024
