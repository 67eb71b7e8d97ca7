"""``listen``'s options as typed, checked and built into ``ListenSettings``, for every front end
(the CLI's flags, a TUI's form, a config file). Every mistake is a ``UsageError`` naming the
option, raised before anything is opened or bound.

It lives here rather than in ``whrelay.core.config`` because checking the secrets takes the
signature schemes, which sit above the core; it imports no network library.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from whrelay.core import defaults, paths
from whrelay.core.config import ForwardSettings, ListenSettings, VerifySettings
from whrelay.core.errors import UsageError
from whrelay.core.models import header_options
from whrelay.core.retry import MIN_REPEATED_DELAY, RetryPolicy
from whrelay.core.targets import Route, parse_route, parse_target
from whrelay.core.timeparse import parse_duration, parse_size, size_text
from whrelay.signatures import get_scheme
from whrelay.signatures.verification import (
    check_listen_secrets,
    check_resign_secrets,
    given_secrets,
)


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """What ``whrelay listen`` was asked for, as typed: each field is the option of the same
    name (``whrelay listen --help`` says what it does); sizes are text such as ``25MiB``,
    durations text such as ``30s`` or ``1h``."""

    db: Path | None = None
    """``--db``; ``None``: ``$WHRELAY_DB``, else the default database."""
    host: str = defaults.DEFAULT_HOST
    port: int = defaults.DEFAULT_PORT
    durability: str = "full"
    max_body: str = "25MiB"
    body_budget: str | None = None
    idle_timeout: str = f"{defaults.DEFAULT_IDLE_TIMEOUT:g}s"
    read_timeout: str = f"{defaults.DEFAULT_READ_TIMEOUT:g}s"
    forward: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    mode: str = "store"
    timeout: str = f"{defaults.DEFAULT_FORWARD_TIMEOUT:g}s"
    ordered: bool = False
    headers: tuple[str, ...] = ()
    allow_remote: bool = False
    retry_schedule: str = defaults.DEFAULT_SCHEDULE_TEXT
    retry_window: str = f"{defaults.DEFAULT_WINDOW / 3600:g}h"
    provider: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """``--secret`` values: kept in memory only."""
    secret_envs: tuple[str, ...] = ()
    """``--secret-env`` variable names, read now."""
    public_url: str | None = None
    reject_invalid: bool = False
    resign: bool = False


def listen_settings(options: ListenOptions) -> ListenSettings:
    """``options`` checked and built into the settings a receiver runs with; ``UsageError``
    for the first one that is wrong (secrets first, then targets and sizes, then what does
    not go together)."""
    given = given_secrets(options.secrets, options.secret_envs)
    secrets = tuple(s.value for s in given)
    routes = _routes(options.routes)
    provider = get_scheme(options.provider).name if options.provider else None
    check_listen_secrets(provider, given, routes)
    if options.resign:
        check_resign_secrets(provider, given, routes)
    if options.reject_invalid and not (secrets or any(r.secrets for r in routes)):
        raise UsageError("--reject-invalid needs a secret to verify with (--secret)")
    forward = ForwardSettings(
        targets=tuple(parse_target(t) for t in options.forward),
        routes=routes,
        extra_headers=header_options(options.headers),
        ordered=options.ordered,
        policy=RetryPolicy(
            schedule=tuple(
                parse_duration(d) for d in options.retry_schedule.split(",") if d.strip()
            ),
            window=parse_duration(options.retry_window),
        ),
    )
    db_path, host, port = _creatable(options.db), _host(options.host), _port(options.port)
    durability = _choice("--durability", options.durability)
    max_body = _max_body(options.max_body)
    settings = ListenSettings(
        db_path=db_path,
        host=host,
        port=port,
        durability="normal" if durability == "normal" else "full",
        max_body=max_body,
        body_budget=_body_budget(options.body_budget, max_body),
        idle_timeout=parse_duration(options.idle_timeout),
        read_timeout=parse_duration(options.read_timeout),
        forward=forward,
        mode="proxy" if _choice("--mode", options.mode) == "proxy" else "store",
        forward_timeout=parse_duration(options.timeout),
        allow_remote=options.allow_remote,
        verify=VerifySettings(
            provider, secrets, _public_url(options.public_url), options.reject_invalid,
            options.resign,
        ),
    )  # fmt: skip
    if settings.mode == "proxy" and not forward.all_targets:
        raise UsageError("--mode proxy needs a target", hint="add -f PORT")
    _check_schedule(forward.policy.schedule)
    return settings


_CHOICES = {"--durability": ("full", "normal"), "--mode": ("store", "proxy")}


def _choice(option: str, value: str) -> str:
    if value not in _CHOICES[option]:
        raise UsageError(
            f"{option} {value!r} is not one of the choices",
            hint="one of: " + ", ".join(_CHOICES[option]),
        )
    return value


def _routes(routes: tuple[str, ...]) -> tuple[Route, ...]:
    """Parsed routes, their provider names checked and normalized."""
    parsed = []
    for text in routes:
        route = parse_route(text)
        if route.provider:
            route = replace(route, provider=get_scheme(route.provider).name)
        parsed.append(route)
    return tuple(parsed)


def _creatable(db: Path | None) -> Path:
    """The database ``listen`` writes. Its own data folder is created when missing; the
    folder of a file named by ``--db`` or ``WHRELAY_DB`` must exist (a typo in the path is
    not quietly made into a new folder and database)."""
    path = paths.db_path(db)
    named = db is not None or bool(os.environ.get("WHRELAY_DB"))
    if named and not path.parent.is_dir():
        raise UsageError(
            f"the folder of the database {path} does not exist",
            hint=f"create it first (mkdir -p {shlex.quote(str(path.parent))}), or check the path",
        )
    return path


def _host(text: str) -> str:
    """``--host`` as the resolver can take it: a name that cannot be put into ASCII (bytes
    that were not UTF-8, a label over 63 characters) is bad input, not a failure to bind."""
    try:
        text.encode("idna")
    except UnicodeError as error:
        raise UsageError(
            f"--host {text!r} is not a host name or address ({error.__cause__ or error})",
            hint="e.g. 127.0.0.1, ::1, localhost or 0.0.0.0",
        ) from None
    return text


def _port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port", hint="0 to 65535; 0 picks a free one")
    return port


def _max_body(text: str) -> int:
    size = parse_size(text)
    if size < 1:
        raise UsageError("--max-body must be at least 1 byte", hint="the default is 25MiB")
    return size


def _body_budget(text: str | None, max_body: int) -> int:
    """``--body-budget``: 0 (the default) or at least ``--max-body``, which one body may use."""
    if text is None:
        return 0
    size = parse_size(text)
    if size < max_body:
        raise UsageError(
            f"--body-budget must be at least --max-body ({size_text(max_body)}): "
            "one body of the largest size must fit"
        )
    return size


def _public_url(text: str | None) -> str | None:
    """``--public-url``, checked: the scheme and host the provider called."""
    if text is None:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--public-url {text!r} is not an http(s) URL",
            hint="the URL the provider calls, e.g. https://abc.ngrok.app",
        )
    return text


def _check_schedule(schedule: tuple[float, ...]) -> None:
    if not schedule:
        raise UsageError("--retry-schedule needs at least one delay")
    if schedule[-1] < MIN_REPEATED_DELAY:
        raise UsageError(
            f"--retry-schedule: the last delay repeats until --retry-window ends, so it must "
            f"be at least {MIN_REPEATED_DELAY:g} s (got {schedule[-1]:g})",
            hint="e.g. --retry-schedule 0,1,5",
        )
