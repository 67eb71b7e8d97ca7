"""Typed settings for the commands. Each field says what it is, its unit and its default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from whrelay.storage.store import Durability

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642
DEFAULT_MAX_BODY = 25 * 1024 * 1024
"""25 MiB: GitHub's cap on a webhook payload."""
DEFAULT_IDLE_TIMEOUT = 15.0
"""Seconds a connection may sit idle, or trickle its request headers, before it is closed."""
DEFAULT_READ_TIMEOUT = 30.0
"""Seconds a request body may take to arrive in full before the sender gets 408."""
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
"""Seconds in-flight requests get to finish after Ctrl-C before they are cut off."""


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """Everything ``whrelay listen`` needs to run a receiver."""

    db_path: Path
    """The SQLite database every webhook is stored in."""
    host: str = DEFAULT_HOST
    """The address to bind; loopback unless the user says otherwise."""
    port: int = DEFAULT_PORT
    """The TCP port; 0 picks a free one (the ready line and banner say which)."""
    durability: Durability = "full"
    """``full``: fsync every group commit (survives power loss); ``normal``: survives crashes."""
    max_body: int = DEFAULT_MAX_BODY
    """Bytes; a larger body is answered 413 and not stored."""
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
