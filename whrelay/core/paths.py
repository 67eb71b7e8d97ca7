"""Every on-disk location whrelay uses, one function each, with its environment override.

Precedence everywhere: an explicit argument (a ``--db`` flag) > ``WHRELAY_DB`` >
``WHRELAY_DATA_DIR``/whrelay.db > the platform's user data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "whrelay"
DB_FILENAME = "whrelay.db"


def data_dir() -> Path:
    """Where whrelay keeps its database: ``WHRELAY_DATA_DIR`` or the platform's user data dir."""
    override = os.environ.get("WHRELAY_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The database file: ``explicit`` (``--db``), then ``WHRELAY_DB``, then ``data_dir()``."""
    if explicit:
        return Path(explicit).expanduser()
    override = os.environ.get("WHRELAY_DB")
    if override:
        return Path(override).expanduser()
    return data_dir() / DB_FILENAME


def lock_path(database: Path) -> Path:
    """The file whose lock serializes every process's writes to ``database``."""
    return _beside(database, "-whrelay.lock")


def listen_lock_path(database: Path) -> Path:
    """The file in which a running ``whrelay listen`` locks each target it forwards to: one
    listener per database and target, since each resumes the pending deliveries of its
    targets (two would deliver them twice)."""
    return _beside(database, "-whrelay.listen")


def _beside(database: Path, suffix: str) -> Path:
    """A file beside the database file itself, so that a path through a symlink names the
    same one."""
    real = database.resolve()
    return real.with_name(real.name + suffix)
