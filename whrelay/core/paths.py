"""Every on-disk location whrelay uses, one function each, with its environment override.

The database, everywhere: an explicit argument (a ``--db`` flag) > ``WHRELAY_DB`` > the
config file's ``db`` > ``WHRELAY_DATA_DIR``/whrelay.db > the platform's user data directory.
The config file: ``WHRELAY_CONFIG`` > ``./whrelay.toml`` > the user config directory's.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "whrelay"
DB_FILENAME = "whrelay.db"
CONFIG_FILENAME = "whrelay.toml"


def data_dir() -> Path:
    """Where whrelay keeps its database: ``WHRELAY_DATA_DIR`` or the platform's user data dir."""
    override = os.environ.get("WHRELAY_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The database file: ``explicit`` (``--db``), then ``WHRELAY_DB``, then the config
    file's ``db``, then ``data_dir()``."""
    return db_choice(explicit)[0]


def db_choice(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """``db_path`` and where it came from: ``command line``, ``environment (WHRELAY_DB)``,
    the config file's ``FILE:LINE``, ``environment (WHRELAY_DATA_DIR)`` or ``default``. A
    config file with a problem is ``UsageError``."""
    if explicit:
        return Path(explicit).expanduser(), "command line"
    override = os.environ.get("WHRELAY_DB")
    if override:
        return Path(override).expanduser(), "environment (WHRELAY_DB)"
    from whrelay.core.configfile import config_db

    named = config_db()
    if named is not None:
        return named
    source = "environment (WHRELAY_DATA_DIR)" if os.environ.get("WHRELAY_DATA_DIR") else "default"
    return data_dir() / DB_FILENAME, source


def config_dir() -> Path:
    """The platform's user config directory (``~/.config/whrelay`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_candidates() -> list[Path]:
    """Where a config file is looked for, in order, when ``WHRELAY_CONFIG`` names none."""
    return [Path.cwd() / CONFIG_FILENAME, config_dir() / CONFIG_FILENAME]


def config_path() -> Path | None:
    """The config file in use: the one ``WHRELAY_CONFIG`` names (whether or not it exists:
    reading it then says so), else the first of ``config_candidates()`` that is a file."""
    named = os.environ.get("WHRELAY_CONFIG")
    if named:
        return Path(named).expanduser()
    return next((path for path in config_candidates() if path.is_file()), None)


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
