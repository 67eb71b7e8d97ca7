"""``whrelay/storage/lock.py``: the write lock and the sole-forwarder locks."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import (
    ROOT,
)
from whrelay.storage import Store


@pytest.mark.slow
def test_forwarding_locks_within_one_process(tmp_path: Path) -> None:
    """POSIX record locks belong to the process: a second holder in the same process is
    refused too, and one leaving does not drop the other's locks."""
    from whrelay.core.errors import UnavailableError
    from whrelay.storage.lock import sole_forwarder

    db = tmp_path / "hooks.db"
    probe = (
        "import sys; from pathlib import Path; from whrelay.storage.lock import sole_forwarder\n"
        "try:\n    sole_forwarder(Path(sys.argv[1]), [sys.argv[2]]).__enter__()\n"
        "except Exception:\n    sys.exit(3)\n"
    )

    def other_process_can_take(url: str) -> bool:
        done = subprocess.run(
            [sys.executable, "-c", probe, str(db), url], cwd=ROOT, check=False, timeout=60
        )
        return done.returncode == 0

    with sole_forwarder(db, ["http://127.0.0.1:1"]):
        with pytest.raises(UnavailableError), sole_forwarder(db, ["http://127.0.0.1:1"]):
            pass
        with sole_forwarder(db, ["http://127.0.0.1:2"]):
            assert not other_process_can_take("http://127.0.0.1:2")
        assert not other_process_can_take("http://127.0.0.1:1")  # still held
        assert other_process_can_take("http://127.0.0.1:2")
    assert other_process_can_take("http://127.0.0.1:1")


# --- 8. The write lock through a symlink ----------------------------------------------------------


def test_write_lock_is_shared_through_a_symlink(tmp_path: Path) -> None:
    """The same database opened by its path and through a symlink takes one write lock: while
    one ``Store`` holds it, the other's lock file cannot be locked."""
    real = tmp_path / "real.db"
    link = tmp_path / "link.db"
    Store(real).close()
    os.symlink(real, link)
    with Store(real) as by_path, Store(link) as by_link:
        assert by_path.lock.path is not None and by_link.lock.path is not None
        by_path.lock.acquire()
        try:
            fd = os.open(by_link.lock.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
        finally:
            by_path.lock.release()
