"""Typed settings for the commands. Each field says what it is, its unit and its default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from whrelay.core.defaults import (
    DEFAULT_CONCURRENCY,
    DEFAULT_FORWARD_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BODY,
    DEFAULT_PORT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RESPONSE_CAP,
    DEFAULT_SHUTDOWN_TIMEOUT,
    PROBE_INTERVAL,
)
from whrelay.core.retry import RetryPolicy
from whrelay.core.targets import Route, Target, route


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    targets: tuple[Target, ...] = ()
    """Where every webhook goes (fan-out), unless a route matches its path."""
    routes: tuple[Route, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = ()
    """``-H`` headers added to (or replacing those of) every forwarded request."""
    ordered: bool = False
    """Strict first-in-first-out per target: a failing head blocks the rest (head-of-line)."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = DEFAULT_CONCURRENCY
    probe_interval: float = PROBE_INTERVAL
    insecure: bool = False
    """``--insecure``: no https target's certificate is verified. Already applied to
    ``targets`` and ``routes``; ``listen --tui`` applies it to the targets typed in too."""

    def targets_for(self, path: str) -> tuple[Target, ...]:
        return route(path, self.routes, self.targets)

    @property
    def all_targets(self) -> tuple[Target, ...]:
        seen: dict[str, Target] = {t.url: t for t in self.targets}
        for r in self.routes:
            seen.setdefault(r.target.url, r.target)
        return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class VerifySettings:
    """How ``listen`` checks signatures on arrival. Secrets live only in memory."""

    provider: str | None = None
    """The scheme; ``None`` detects it from each request's headers."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    public_url: str | None = None
    """The URL the sender calls (Twilio, Square sign it): scheme and host, maybe a path."""
    reject_invalid: bool = False
    """Answer 401 to an invalid signature and do not forward it (it is still stored)."""
    resign: bool = False
    """Re-sign every forwarded attempt with a fresh timestamp (needs provider and secret)."""
    secret_envs: tuple[str, ...] = ()
    """The variables some of ``secrets`` were read from (``--secret-env``), to name one in a
    hint; never a value."""


Mode = Literal["store", "proxy"]
Durability = Literal["full", "normal"]
"""``full``: fsync every group commit (survives power loss); ``normal``: survives crashes."""


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
    body_budget: int = 0
    """Bytes of bodies held at once across senders (read, stored, proxied); more wait, then
    get 503. 0: four times ``max_body``, and at least 16 MiB."""
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    forward: ForwardSettings = field(default_factory=lambda: ForwardSettings())
    mode: Mode = "store"
    """``store``: acknowledge on commit, forward in the background. ``proxy``: the sender
    waits and gets the first target's answer."""
    forward_timeout: float = DEFAULT_FORWARD_TIMEOUT
    allow_remote: bool = False
    """Forward to non-loopback targets too."""
    ca_file: Path | None = None
    """A file of PEM certificates trusted for https targets besides the system's CAs
    (``--ca-file``); a target marked insecure is not verified at all (``Target.insecure``)."""
    response_cap: int = DEFAULT_RESPONSE_CAP
    verify: VerifySettings = field(default_factory=lambda: VerifySettings())
    retain: float | None = None
    """Seconds: webhooks received longer ago are pruned while listening, as ``whrelay prune
    --older-than`` would (pending ones kept); ``None`` keeps everything."""
    config_file: Path | None = None
    """The config file some of these settings came from, which the banner names."""
