"""Large bodies, and the memory a process takes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    pass


def random_body(size: int, seed: int) -> bytes:
    """``size`` random bytes (every byte value, NULs and invalid UTF-8 among them)."""
    return random.Random(seed).randbytes(size)


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the peak since the last ``reset_peak``) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> int:
    """Start measuring ``pid``'s peak memory afresh; its resident size now, in KiB."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as error:
        pytest.skip(f"cannot reset the peak memory of a process here: {error}")
    return memory_kib(pid, "VmRSS")
