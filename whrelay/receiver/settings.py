"""``listen``'s options as typed, checked and built into ``ListenSettings``, for every front end
(the CLI's flags, a TUI's form, a config file). Every mistake is a ``UsageError`` naming the
option, raised before anything is opened or bound.

It lives here rather than in ``whrelay.core.config`` because checking the secrets takes the
signature schemes, which sit above the core; it imports no network library.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from whrelay.core import configfile, defaults, paths
from whrelay.core.config import ForwardSettings, ListenSettings, VerifySettings
from whrelay.core.configfile import ConfigFile, Problem
from whrelay.core.errors import UsageError
from whrelay.core.models import header_options
from whrelay.core.retry import MIN_REPEATED_DELAY, RetryPolicy
from whrelay.core.targets import (
    Route,
    RouteSpec,
    build_route,
    check_insecure_agree,
    check_target,
    parse_route_spec,
    parse_target,
    unverified,
)
from whrelay.core.timeparse import parse_duration, parse_size, size_text
from whrelay.core.tls import check_ca_file
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
    routes: tuple[str | RouteSpec, ...] = ()
    """``--route`` texts, or routes already taken apart (a config file's tables)."""
    mode: str = "store"
    timeout: str = f"{defaults.DEFAULT_FORWARD_TIMEOUT:g}s"
    ordered: bool = False
    headers: tuple[str, ...] = ()
    allow_remote: bool = False
    insecure: bool = False
    ca_file: str | None = None
    """``--ca-file``: a path, relative to the working directory (the config file's are made
    absolute, relative to its folder)."""
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
    retain: str | None = None
    """``--retain``: a duration; ``None`` keeps everything."""


def listen_settings(options: ListenOptions) -> ListenSettings:
    """``options`` checked and built into the settings a receiver runs with; ``UsageError``
    for the first one that is wrong (secrets first, then targets and sizes, then what does
    not go together), a ``SettingError`` naming the ``[listen]`` keys it is about."""
    with _about("secret", "secret_env"):
        given = given_secrets(options.secrets, options.secret_envs)
    secrets = tuple(s.value for s in given)
    with _about("route"):
        routes = _routes(options.routes)
    with _about("provider"):
        provider = get_scheme(options.provider).name if options.provider else None
    with _about("provider", "secret", "secret_env", "route"):
        check_listen_secrets(provider, given, routes)
    if options.resign:
        with _about("resign", "provider", "secret", "secret_env", "route"):
            check_resign_secrets(provider, given, routes)
    if options.reject_invalid and not (secrets or any(r.secrets for r in routes)):
        with _about("reject_invalid", "secret_env", "route"):
            raise UsageError("--reject-invalid needs a secret to verify with (--secret)")
    with _about("forward"):
        targets = tuple(parse_target(t) for t in options.forward)
    if options.insecure:
        targets = tuple(unverified(target) for target in targets)
        routes = tuple(route.unverified() for route in routes)
    with _about("forward", "route", "insecure"):
        check_insecure_agree([*targets, *(route.target for route in routes)])
    with _about("headers"):
        extra_headers = header_options(options.headers)
    with _about("retry_schedule"):
        schedule = tuple(parse_duration(d) for d in options.retry_schedule.split(",") if d.strip())
    with _about("retry_window"):
        window = parse_duration(options.retry_window)
    forward = ForwardSettings(
        targets=targets,
        routes=routes,
        extra_headers=extra_headers,
        ordered=options.ordered,
        insecure=options.insecure,
        policy=RetryPolicy(schedule=schedule, window=window),
    )
    with _about("db"):
        db_path = _creatable(options.db)
    with _about("host"):
        host = _host(options.host)
    with _about("port"):
        port = _port(options.port)
    with _about("durability"):
        durability = _choice("--durability", options.durability)
    with _about("max_body"):
        max_body = _max_body(options.max_body)
    with _about("body_budget", "max_body"):
        budget = _body_budget(options.body_budget, max_body)
    with _about("idle_timeout"):
        idle_timeout = parse_duration(options.idle_timeout)
    with _about("read_timeout"):
        read_timeout = parse_duration(options.read_timeout)
    with _about("mode"):
        mode = _choice("--mode", options.mode)
    with _about("timeout"):
        forward_timeout = parse_duration(options.timeout)
    with _about("ca_file"):
        ca_file = None if options.ca_file is None else check_ca_file(Path(options.ca_file))
    with _about("public_url"):
        public_url = _public_url(options.public_url)
    with _about("retain"):
        retain = _retain(options.retain)
    settings = ListenSettings(
        db_path=db_path,
        host=host,
        port=port,
        durability="normal" if durability == "normal" else "full",
        max_body=max_body,
        body_budget=budget,
        idle_timeout=idle_timeout,
        read_timeout=read_timeout,
        forward=forward,
        mode="proxy" if mode == "proxy" else "store",
        forward_timeout=forward_timeout,
        allow_remote=options.allow_remote,
        ca_file=ca_file,
        verify=VerifySettings(
            provider, secrets, public_url, options.reject_invalid, options.resign,
            tuple(options.secret_envs),
        ),
        retain=retain,
    )  # fmt: skip
    if settings.mode == "proxy" and not forward.all_targets:
        with _about("mode", "forward", "route"):
            raise UsageError("--mode proxy needs a target", hint="add -f PORT")
    with _about("retry_schedule"):
        _check_schedule(forward.policy.schedule)
    return settings


def check_targets(settings: ListenSettings) -> None:
    """Refuse a target that is not on this machine (unless ``--allow-remote``), or whose
    host does not resolve, as a ``SettingError`` naming where it was given: ``-f``'s
    targets (``forward``) or a route's."""
    with _about("forward"):
        for target in settings.forward.targets:
            check_target(target, settings.allow_remote)
    with _about("route"):
        for route in settings.forward.routes:
            check_target(route.target, settings.allow_remote)


class SettingError(UsageError):
    """A ``UsageError`` about some of ``listen``'s settings: ``keys``, as ``[listen]`` keys
    (and ``db``), so that the hint can say where the wrong value was given."""

    def __init__(self, error: UsageError, keys: tuple[str, ...]) -> None:
        super().__init__(error.message, error.hint)
        self.keys = keys


@contextmanager
def _about(*keys: str) -> Iterator[None]:
    """A ``UsageError`` raised in the block, as a ``SettingError`` about ``keys`` (the
    innermost block names them)."""
    try:
        yield
    except SettingError:
        raise
    except UsageError as error:
        raise SettingError(error, keys) from None


_CHOICES = {"--durability": ("full", "normal"), "--mode": ("store", "proxy")}


def _choice(option: str, value: str) -> str:
    if value not in _CHOICES[option]:
        raise UsageError(
            f"{option} {value!r} is not one of the choices",
            hint="one of: " + ", ".join(_CHOICES[option]),
        )
    return value


def _routes(routes: tuple[str | RouteSpec, ...]) -> tuple[Route, ...]:
    """Parsed routes, their provider names checked and normalized."""
    parsed = []
    for given in routes:
        route = build_route(parse_route_spec(given) if isinstance(given, str) else given)
        if route.provider:
            route = replace(route, provider=get_scheme(route.provider).name)
        parsed.append(route)
    return tuple(parsed)


def _creatable(db: Path | None) -> Path:
    """The database ``listen`` writes. Its own data folder is created when missing; the
    folder of a file named by ``--db`` or ``WHRELAY_DB`` must exist (a typo in the path is
    not quietly made into a new folder and database)."""
    path, source = paths.db_choice(db)
    named = source not in ("default", "environment (WHRELAY_DATA_DIR)")
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


MIN_RETAIN = 1.0
"""Seconds: the shortest ``--retain``."""


def _retain(text: str | None) -> float | None:
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds < MIN_RETAIN:
        raise UsageError(
            f"--retain must be at least {MIN_RETAIN:g} s (got {seconds:g})", hint="e.g. --retain 7d"
        )
    return seconds


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


# --- the config file and the environment -------------------------------------------------------

_OPTION_NAMES = {"route": "routes", "secret_env": "secret_envs"}
"""``[listen]`` keys whose ``ListenOptions`` field is named otherwise; ``output`` has none
(it is the front end's)."""
FROM_COMMAND_LINE = "command line"
DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class ResolvedListen:
    """``listen``'s options with every source applied, and where each value came from."""

    options: ListenOptions
    output: str | None
    """``--output`` (pretty, compact, json, quiet); ``None``: the front end's default."""
    values: dict[str, Any]
    """The value in force of each ``[listen]`` key and ``db``, as ``config show`` shows it
    (``secret_env``: the variables' names; never a secret)."""
    sources: dict[str, str]
    """Where each came from: ``command line``, ``environment (WHRELAY_PORT)``, the config
    file's ``FILE:LINE``, or ``default``."""
    config: ConfigFile | None

    def settings(self) -> ListenSettings:
        """``listen_settings`` of the options, its targets checked (``check_targets``),
        naming the config file in the settings. The hint of an error names where the value
        at fault was given when that was not the command line: the variable
        (``WHRELAY_FORWARD``) or the config file's key and line."""
        try:
            settings = listen_settings(self.options)
            check_targets(settings)
        except SettingError as error:
            places = [self.place(key) for key in error.keys]
            given = [place for place in dict.fromkeys(places) if place is not None]
            if not given:
                raise UsageError(error.message, error.hint) from None
            hint = (error.hint + "; " if error.hint else "") + "set by " + " and ".join(given)
            raise UsageError(error.message, hint) from None
        return replace(settings, config_file=self.config.path if self.config else None)

    def place(self, key: str) -> str | None:
        """Where the value of ``key`` was given, for a hint: the variable's name, or the
        config file's key and ``FILE:LINE``; ``None`` for the command line and defaults."""
        source = self.sources.get(key, DEFAULT)
        if source in (FROM_COMMAND_LINE, DEFAULT):
            return None
        if source.startswith("environment ("):
            return source.removeprefix("environment (").removesuffix(")")
        return f"{key if key == 'db' else 'listen.' + key} in {source}"


def resolve_listen(
    command_line: Mapping[str, Any], config: ConfigFile | None, environ: Mapping[str, str]
) -> ResolvedListen:
    """The one place that decides which value each ``listen`` option takes: the command line
    (``command_line``: only what was typed, by ``[listen]`` key, plus ``secret`` and ``db``)
    > a ``WHRELAY_*`` variable (``configfile.ENV_VARS``) > the config file > the default. A
    list given on the command line replaces the file's (``-f 4000`` forwards to 4000 only).
    The first problem of the file or the variables is ``UsageError``."""
    from_env, problems = configfile.from_environment(environ)
    if problems:
        raise problems[0].error()
    if config is not None:
        config.check()
    in_file = {
        key: value
        for key in configfile.listen_fields()
        if config is not None and (value := getattr(config.listen, key)) is not None
    }
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in configfile.listen_fields():
        if key in command_line:
            values[key], sources[key] = command_line[key], FROM_COMMAND_LINE
        elif key in from_env:
            values[key], sources[key] = from_env[key], f"environment ({configfile.ENV_VARS[key]})"
        elif key in in_file:
            assert config is not None
            values[key], sources[key] = in_file[key], config.where(f"listen.{key}")
    routes = tuple(_route_spec(r) for r in values.get("route", ()))
    chosen: dict[str, Any] = {
        _OPTION_NAMES.get(key, key): routes if key == "route" else value
        for key, value in values.items()
        if key != "output"
    }
    options = ListenOptions(
        db=command_line.get("db"), secrets=tuple(command_line.get("secret", ())), **chosen
    )
    defaults_shown = ListenOptions()
    for key in configfile.listen_fields():
        if key not in sources:
            sources[key] = DEFAULT
            values[key] = (
                None if key == "output" else getattr(defaults_shown, _OPTION_NAMES.get(key, key))
            )
    values["route"] = routes
    values["db"], sources["db"] = paths.db_choice(command_line.get("db"))
    values = {key: values[key] for key in ["db", *configfile.listen_fields()]}
    if command_line.get("secret"):
        values["secret"], sources["secret"] = f"{len(command_line['secret'])} given", "command line"
    return ResolvedListen(options, values.get("output"), values, sources, config)


def _route_spec(route: str | configfile.RouteTable) -> str | RouteSpec:
    if isinstance(route, configfile.RouteTable):
        return RouteSpec(route.path, route.target, route.provider, route.secret_env, route.insecure)
    return route


def config_problems(config: ConfigFile) -> list[Problem]:
    """Every problem of a config file: those found reading it, provider names that are no
    scheme's, and a CA file that holds no certificate (what ``whrelay config validate``
    reports)."""
    from whrelay.signatures import get_scheme

    found = list(config.problems)
    if config.listen.ca_file is not None:
        try:
            check_ca_file(Path(config.listen.ca_file), "")
        except UsageError as error:
            key = "listen.ca_file"
            found.append(Problem(str(config.path), config.lines.get(key), key,
                                 error.message.strip(), error.hint))  # fmt: skip
    for key, provider in config.providers.items():
        try:
            get_scheme(provider)
        except UsageError as error:
            found.append(Problem(str(config.path), config.lines.get(key), key, error.message,
                                 error.hint))  # fmt: skip
    return sorted(found, key=lambda p: p.line or 0)
