"""``whrelay.toml``: the config file, as one typed model, and every problem found in it.

The file sits in the working directory, else in the user config directory
(``paths.config_path``; ``WHRELAY_CONFIG`` names another). It holds a top-level ``db`` and a
``[listen]`` table of ``listen``'s defaults, with ``[[listen.route]]`` tables. Example::

    db = "hooks.db"                    # relative to this file's folder

    [listen]
    port = 8642
    forward = ["3000"]
    provider = "stripe"
    secret_env = ["STRIPE_WEBHOOK_SECRET"]   # the variable's name, never the secret
    retain = "7d"

    [[listen.route]]
    path = "/github/*"
    target = "4000"
    provider = "github"
    secret_env = "GITHUB_WEBHOOK_SECRET"

Values are checked as they are read (types, durations, sizes, choices, targets, headers);
each problem names the file, the line, the key and, for an unknown key, the nearest valid
one. A secret is never a value in the file: a key named like one (``secret``, ``token``) is
refused, and so is a ``secret_env`` that looks like a secret rather than a variable's name;
no problem quotes such a value. ``WHRELAY_*`` environment variables (``ENV_VARS``) are read
with the same checks. Which source wins (flag > environment > file > default) is decided in
one place, ``whrelay.receiver.settings.resolve_listen``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from whrelay.core import paths
from whrelay.core.errors import UsageError, WhrelayError


@dataclass(frozen=True, slots=True)
class RouteTable:
    """One ``[[listen.route]]`` table: webhooks whose path matches go to its target, verified
    with its provider and secrets (else with listen's)."""

    path: str
    """A path glob, e.g. ``/stripe/*`` (``--route``'s GLOB)."""
    target: str
    """Where they go: ``3000``, ``:4000/hooks``, a URL (``--route``'s TARGET)."""
    provider: str | None = None
    """The signature scheme to verify them with, e.g. ``github``."""
    secret_env: tuple[str, ...] = ()
    """Names of environment variables holding the route's secrets (a name or a list)."""
    insecure: bool = False
    """Do not verify the certificate of the route's https target (``--route``'s
    ``,insecure``)."""


@dataclass(frozen=True, slots=True)
class ListenTable:
    """The ``[listen]`` table: defaults for ``whrelay listen``, each key the long option of the
    same name with ``_`` for ``-`` (``headers`` for ``--header``, ``route`` tables for
    ``--route``); ``None`` where the file does not set it."""

    host: str | None = None
    """``--host``: the address to bind."""
    port: int | None = None
    """``--port``: the TCP port; 0 picks a free one."""
    output: str | None = None
    """``--output``: pretty, compact, json or quiet."""
    durability: str | None = None
    """``--durability``: full or normal."""
    max_body: str | None = None
    """``--max-body``: a size (``"25MiB"``) or a number of bytes."""
    body_budget: str | None = None
    """``--body-budget``: a size or a number of bytes."""
    idle_timeout: str | None = None
    """``--idle-timeout``: a duration (``"15s"``) or a number of seconds."""
    read_timeout: str | None = None
    """``--read-timeout``: a duration or a number of seconds; 0 = no limit."""
    forward: tuple[str, ...] | None = None
    """``--forward``: a target or a list of them."""
    route: tuple[RouteTable, ...] | None = None
    """``[[listen.route]]`` tables, in order (``--route``; the first match wins)."""
    mode: str | None = None
    """``--mode``: store or proxy."""
    timeout: str | None = None
    """``--timeout``: the forwarding timeout per attempt; 0 = none."""
    ordered: bool | None = None
    """``--ordered``: deliver to each target strictly in arrival order."""
    headers: tuple[str, ...] | None = None
    """``--header``: ``"Name: value"`` strings added to every forwarded request."""
    allow_remote: bool | None = None
    """``--allow-remote``: allow targets that are not on this machine."""
    insecure: bool | None = None
    """``--insecure``: do not verify the certificates of https targets (still loopback only)."""
    ca_file: str | None = None
    """``--ca-file``: a file of PEM certificates trusted for https targets, besides the
    system's; relative to this file's folder."""
    retry_schedule: str | None = None
    """``--retry-schedule``: ``"1,2,5"`` or a list of seconds; the last repeats."""
    retry_window: str | None = None
    """``--retry-window``: stop retrying a delivery this long after it arrived."""
    provider: str | None = None
    """``--provider``: verify every webhook with this scheme."""
    secret_env: tuple[str, ...] | None = None
    """``--secret-env``: names of environment variables holding secrets (a name or a list)."""
    public_url: str | None = None
    """``--public-url``: the URL senders call (a tunnel's)."""
    reject_invalid: bool | None = None
    """``--reject-invalid``: answer 401 to a bad signature and do not forward it."""
    resign: bool | None = None
    """``--resign``: re-sign forwarded attempts of verified webhooks with a fresh timestamp."""
    retain: str | None = None
    """``--retain``: delete webhooks older than this while listening (``"7d"``)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in the config file (or in a ``WHRELAY_*`` variable)."""

    source: str
    """The file's path, or the environment variable's name."""
    line: int | None
    key: str
    """Dotted: ``listen.port``, ``listen.route[2].target``."""
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def error(self) -> UsageError:
        return UsageError(str(self), hint=self.hint)


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A config file as read: what it sets, where, and what is wrong with it."""

    path: Path
    db: Path | None = None
    """The database every command uses (``--db``): relative to the file's folder."""
    listen: ListenTable = field(default_factory=ListenTable)
    lines: Mapping[str, int] = field(default_factory=dict)
    """The line of each key the file sets, by dotted name (``listen.port``)."""
    problems: tuple[Problem, ...] = ()
    providers: Mapping[str, str] = field(default_factory=dict)
    """Every provider name the file gives, by dotted key, for a check above the core (the
    signature schemes): also those of a route that is wrong otherwise."""

    def where(self, key: str) -> str:
        """``FILE:LINE`` of a key (of the first of an array of tables), for ``config show``
        and messages."""
        line = self.lines.get(key) or self.lines.get(f"{key}[0]")
        return f"{self.path}:{line}" if line else str(self.path)

    def check(self) -> ConfigFile:
        """Itself when it has no problem; else ``UsageError`` for the first."""
        if self.problems:
            first = self.problems[0]
            more = len(self.problems) - 1
            hint = first.hint or ""
            if more:
                hint += ("; " if hint else "") + f"{more} more: whrelay config validate"
            raise UsageError(str(first), hint=hint or None)
        return self


# --- what each key takes --------------------------------------------------------------------


class _Bad(Exception):
    """A value a key does not take; the message never quotes a secret."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


Convert = Callable[[object, bool], Any]
"""A key's reader: the raw value (from TOML, or a string from the environment when the flag
says so) to the value kept, or ``_Bad``."""


def _kind(value: object) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), "a list" if isinstance(value, list) else "a table")


def _text(value: object, from_env: bool) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected a string, got {_kind(value)}")
    return value


def _port(value: object, from_env: bool) -> int:
    if from_env and isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"expected a whole number, got {_kind(value)}")
    if not 0 <= value <= 65535:
        raise _Bad(f"{value} is not a TCP port", hint="0 to 65535; 0 picks a free one")
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _switch(value: object, from_env: bool) -> bool:
    if from_env and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        hint = "1, true, yes or on; 0, false, no or off" if from_env else "true or false"
        raise _Bad(f"expected true or false, got {_kind(value)}", hint=hint)
    return value


def _choice(*choices: str) -> Convert:
    def convert(value: object, from_env: bool) -> str:
        text = _text(value, from_env)
        if text not in choices:
            raise _Bad(f"{text!r} is not one of the choices", hint="one of: " + ", ".join(choices))
        return text

    return convert


def _number_text(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    return None


def _checked(parse: Callable[[str], object], text: str) -> str:
    try:
        parse(text)
    except WhrelayError as error:
        raise _Bad(error.message, error.hint) from None
    return text


def _duration(value: object, from_env: bool) -> str:
    from whrelay.core.timeparse import parse_duration

    number = _number_text(value)
    if number is None and not isinstance(value, str):
        raise _Bad(f'expected a duration such as "30s", got {_kind(value)}')
    return _checked(parse_duration, number if number is not None else str(value))


def _size(value: object, from_env: bool) -> str:
    from whrelay.core.timeparse import parse_size

    number = _number_text(value) if isinstance(value, int) else None
    if number is None and not isinstance(value, str):
        raise _Bad(f'expected a size such as "25MiB" or a number of bytes, got {_kind(value)}')
    return _checked(parse_size, number if number is not None else str(value))


def _schedule(value: object, from_env: bool) -> str:
    from whrelay.core.timeparse import parse_duration

    if isinstance(value, list):
        parts = [_number_text(item) or (item if isinstance(item, str) else None) for item in value]
        if any(part is None for part in parts):
            raise _Bad("expected a list of numbers of seconds or durations")
        value = ",".join(str(part) for part in parts)
    if not isinstance(value, str):
        raise _Bad(f'expected "1,2,5" or a list of seconds, got {_kind(value)}')
    for part in value.split(","):
        if part.strip():
            _checked(parse_duration, part)
    return value


def _texts(each: Callable[[str], object] | None = None) -> Convert:
    """A string or a list of strings (from the environment: separated by spaces)."""

    def convert(value: object, from_env: bool) -> tuple[str, ...]:
        if from_env and isinstance(value, str):
            value = value.split()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise _Bad(f"expected a string or a list of strings, got {_kind(value)}")
        for item in items:
            if each is not None:
                _checked(each, item)
        return tuple(items)

    return convert


def _targets(value: object, from_env: bool) -> tuple[str, ...]:
    from whrelay.core.targets import parse_target

    return _texts(parse_target)(value, from_env)  # type: ignore[no-any-return]


def _headers(value: object, from_env: bool) -> tuple[str, ...]:
    from whrelay.core.models import parse_header_option

    return _texts(parse_header_option)(value, from_env)  # type: ignore[no-any-return]


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_PREFIXES = ("whsec_", "whsk_", "whpk_", "sk_", "rk_", "shpss_", "xox", "glpat-", "SG.")


def looks_like_secret(value: str) -> bool:
    """Whether a ``secret_env`` value is more likely a secret than a variable's name: not a
    name at all, a provider's key prefix, or a long run of lower-case letters and digits."""
    if not _ENV_NAME.fullmatch(value) or value.startswith(_SECRET_PREFIXES):
        return True
    return len(value) >= 24 and any(c.islower() for c in value) and any(c.isdigit() for c in value)


def _secret_envs(value: object, from_env: bool) -> tuple[str, ...]:
    names = _texts()(value, from_env)
    for name in names:
        if looks_like_secret(name):
            raise _Bad(
                "this looks like a secret, not the name of an environment variable "
                "(secrets never go in the config file)",
                hint='export it and name the variable: secret_env = "STRIPE_WEBHOOK_SECRET"',
            )
    return names  # type: ignore[no-any-return]


def _url(value: object, from_env: bool) -> str:
    text = _text(value, from_env)
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Bad(f"{text!r} is not an http(s) URL", hint="e.g. https://abc.ngrok.app")
    return text


LISTEN_KEYS: dict[str, Convert] = {
    "host": _text,
    "port": _port,
    "output": _choice("pretty", "compact", "json", "quiet"),
    "durability": _choice("full", "normal"),
    "max_body": _size,
    "body_budget": _size,
    "idle_timeout": _duration,
    "read_timeout": _duration,
    "forward": _targets,
    "mode": _choice("store", "proxy"),
    "timeout": _duration,
    "ordered": _switch,
    "headers": _headers,
    "allow_remote": _switch,
    "insecure": _switch,
    "ca_file": _text,
    "retry_schedule": _schedule,
    "retry_window": _duration,
    "provider": _text,
    "secret_env": _secret_envs,
    "public_url": _url,
    "reject_invalid": _switch,
    "resign": _switch,
    "retain": _duration,
}
"""How each ``[listen]`` key is read (``route`` is a list of tables, read apart)."""

ROUTE_KEYS: dict[str, Convert] = {
    "path": _text,
    "target": lambda value, from_env: _targets(_text(value, from_env), from_env)[0],
    "provider": _text,
    "secret_env": _secret_envs,
    "insecure": _switch,
}
ROUTE_REQUIRED = ("path", "target")
TOP_KEYS = ("db", "listen")

ENV_VARS: dict[str, str] = {
    key: f"WHRELAY_{key.upper()}" for key in LISTEN_KEYS if key not in ("headers",)
}
"""The environment variable that sets each ``[listen]`` key (``WHRELAY_PORT``, ...): between
the command line and the file. A list (``WHRELAY_FORWARD``, ``WHRELAY_SECRET_ENV``) is
separated by spaces; a switch is 1/true/yes/on or 0/false/no/off. Headers and routes have
none (they hold spaces and commas): the command line or the file."""

_SECRET_WORDS = ("secret", "token", "password", "passwd", "api_key", "apikey", "signing_key")


def _secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return lowered != "secret_env" and any(word in lowered for word in _SECRET_WORDS)


def _unknown(key: str, valid: list[str]) -> tuple[str, str | None]:
    if _secret_key(key):
        return (
            "a secret never goes in the config file",
            'export it and name the variable instead: secret_env = "STRIPE_WEBHOOK_SECRET"',
        )
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return "unknown key", (
        f"did you mean {near[0]!r}?" if near else "valid keys: " + ", ".join(valid)
    )


# --- reading --------------------------------------------------------------------------------


def key_lines(text: str) -> dict[str, int]:
    """The line (from 1) of each key, by dotted name within its table: ``listen.port``,
    ``listen.route[0].path``; tables by their own name (``listen``). ``tomllib`` gives no
    positions, so this reads the lines the way TOML lays them out (a key at the start of a
    line, ``[table]`` and ``[[array.of.tables]]`` headers); a key it cannot place is named
    without a line."""
    found: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\- \"']+?)\s*\]\]?\s*(#.*)?$")
    key = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)\s*(?:\.|=)")
    for number, line in enumerate(text.splitlines(), 1):
        matched = header.match(line)
        if matched:
            name = ".".join(part.strip().strip("\"'") for part in matched.group(2).split("."))
            if matched.group(1) == "[[":
                index = counts.get(name, 0)
                counts[name] = index + 1
                table = f"{name}[{index}]"
            else:
                table = name
            found.setdefault(table, number)
            continue
        matched = key.match(line)
        if matched:
            name = matched.group(1).strip("\"'")
            found.setdefault(f"{table}.{name}" if table else name, number)
    return found


def load(path: Path) -> ConfigFile:
    """The config file at ``path``, read and checked: every problem in ``problems``. A file
    that cannot be read at all is one problem."""
    import tomllib

    shown = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        hint = "WHRELAY_CONFIG names it" if os.environ.get("WHRELAY_CONFIG") else None
        return ConfigFile(path, problems=(Problem(shown, None, "", "no such file", hint),))
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        return ConfigFile(path, problems=(Problem(shown, None, "", f"cannot read it: {why}"),))
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"at line (\d+)", str(error))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        return ConfigFile(
            path,
            problems=(
                Problem(shown, int(line.group(1)) if line else None, "", f"not TOML: {message}"),
            ),
        )
    return _read(path, document, key_lines(text))


def _read(path: Path, document: dict[str, Any], lines: dict[str, int]) -> ConfigFile:
    problems: list[Problem] = []

    def problem(key: str, message: str, hint: str | None = None, table: str = "") -> None:
        line = lines.get(key) or (lines.get(table) if table else None)
        problems.append(Problem(str(path), line, key, message, hint))

    def read_table(
        table: str, raw: dict[str, Any], keys: Mapping[str, Convert], extra: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        valid = [*keys, *extra]
        for key, value in raw.items():
            dotted = f"{table}.{key}"
            if key in extra:
                continue
            if key not in keys:
                message, hint = _unknown(key, valid)
                problem(dotted, message, hint, table)
                continue
            try:
                values[key] = keys[key](value, False)
            except _Bad as bad:
                problem(dotted, bad.message, bad.hint, table)
        return values

    db: Path | None = None
    for key, value in document.items():
        if key == "db":
            if isinstance(value, str) and value:
                db = (path.parent / Path(value).expanduser()).absolute()
            else:
                problem("db", f"expected a file name, got {_kind(value)}")
        elif key == "listen":
            if not isinstance(value, dict):
                problem("listen", "expected a table: [listen]")
        else:
            message, hint = _unknown(key, list(TOP_KEYS))
            problem(key, message, hint)
    raw_listen = document.get("listen")
    raw_listen = raw_listen if isinstance(raw_listen, dict) else {}
    values = read_table("listen", raw_listen, LISTEN_KEYS, extra=("route",))
    if "ca_file" in values:  # relative to the file's folder, as db is
        values["ca_file"] = str((path.parent / Path(values["ca_file"]).expanduser()).absolute())
    if "route" in raw_listen:
        values["route"] = _routes(raw_listen["route"], read_table, problem)
    providers = {
        f"listen.{key}" if key == "provider" else f"listen.route[{n}].provider": value
        for key, n, value in [("provider", 0, raw_listen.get("provider"))]
        + [("route", n, t.get("provider")) for n, t in enumerate(_tables(raw_listen))]
        if isinstance(value, str)
    }
    return ConfigFile(path, db, ListenTable(**values), lines, tuple(problems), providers)


def _tables(raw_listen: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``[[listen.route]]`` tables as written, whatever else is wrong with them."""
    raw = raw_listen.get("route", [])
    tables = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    return [t for t in tables if isinstance(t, dict)]


def _routes(
    raw: object,
    read_table: Callable[[str, dict[str, Any], Mapping[str, Convert]], dict[str, Any]],
    problem: Callable[..., None],
) -> tuple[RouteTable, ...]:
    tables = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problem("listen.route", "expected [[listen.route]] tables", table="listen")
        return ()
    routes = []
    for index, table in enumerate(tables):
        name = f"listen.route[{index}]"
        values = read_table(name, table, ROUTE_KEYS)
        missing = [key for key in ROUTE_REQUIRED if key not in table]
        for key in missing:
            problem(name, f"a route needs {key!r}", 'e.g. path = "/stripe/*", target = "3000"')
        if all(key in values for key in ROUTE_REQUIRED):
            routes.append(RouteTable(**values))
    return tuple(routes)


def from_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    """The ``[listen]`` values that ``WHRELAY_*`` variables set, read as the file's are; and
    what is wrong with them (a variable set to an empty string is not set)."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, name in ENV_VARS.items():
        raw = environ.get(name)
        if not raw:
            continue
        try:
            values[key] = LISTEN_KEYS[key](raw, True)
        except _Bad as bad:
            problems.append(Problem(name, None, "", bad.message, bad.hint))
    return values, problems


def listen_fields() -> list[str]:
    """The ``[listen]`` keys, in the model's order."""
    return [f.name for f in fields(ListenTable)]


def find() -> ConfigFile | None:
    """The config file in use, read (``None`` when there is none): see
    ``paths.config_path``."""
    path = paths.config_path()
    return None if path is None else load(path)


def config_db() -> tuple[Path, str] | None:
    """The database the config file names, and where (``FILE:LINE``); ``None`` when no file
    names one. A file with a problem is ``UsageError``: every command that reads it stops."""
    found = find()
    if found is None:
        return None
    found.check()
    return None if found.db is None else (found.db, found.where("db"))
