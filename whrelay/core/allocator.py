"""The C allocator told to give large blocks back once they are freed.

glibc serves a block of 128 KiB or more with its own ``mmap``, returned to the system when it
is freed; but after freeing one it raises that threshold to the block's size (up to 32 MiB)
and serves the next ones from its heap, which it seldom hands back. After a few 25 MiB
bodies, ``listen`` and its storage process would keep hundreds of MiB they no longer use,
and the heap that large bodies and the many small read buffers share grows with the
fragments between them. Fixing the threshold at its initial value keeps large bodies in
blocks of their own: measured with ``bench/memory.py``, ``listen`` peaks about 70 MiB lower
(20 senders of 25 MiB), and both processes are back near their idle size afterwards. The
cost: every block of 128 KiB or more is a fresh mapping (``mmap``, a page fault, ``munmap``),
and asyncio's socket transports ask for 256 KiB a read. So the forwarding client reads 64 KiB
at a time (``relay/http1.py``), from the heap; otherwise each answer read from a target cost
a mapping of its own.
"""

from __future__ import annotations

import os

MMAP_THRESHOLD = 128 * 1024
"""Bytes from which a block gets a mapping of its own (glibc's initial value)."""
_M_MMAP_THRESHOLD = -3
"""``mallopt``'s parameter number for it (malloc.h)."""


def give_back_large_blocks() -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD`` for this process; whether it was
    done (not on other C libraries, which do not have the setting)."""
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        return False
    if not glibc:
        return False
    import ctypes  # here: only the processes that hold bodies pay for the import

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
