"""Targets: where webhooks are forwarded. Parsing, routing and the loopback policy; no I/O
beyond name resolution.

A target is written as ``3000`` (a port on 127.0.0.1), ``3000/hooks`` or ``:3000/hooks``,
``/hooks`` (the default port), or a full ``http(s)://`` URL. A target with no path gets the
webhook's own path and query appended; a target with a path is used as given, with the
webhook's query appended. An https target followed by ``,insecure``
(``https://localhost:3443,insecure``) is dialled without verifying its certificate.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

from whrelay.core.errors import UsageError

DEFAULT_TARGET_PORT = 3000
"""The port a target written as just a path (``/hooks``) is sent to on 127.0.0.1."""


@dataclass(frozen=True, slots=True)
class Target:
    """A forwarding destination, as configured (never taken from a request)."""

    url: str
    """Normalized base URL, e.g. ``http://127.0.0.1:3000`` or ``http://localhost:4000/hooks``."""
    scheme: str
    host: str
    port: int
    path: str
    """The target's own path; empty when the webhook's path is to be appended."""
    query: str
    insecure: bool = False
    """https only: its certificate is not verified (``,insecure``, or ``--insecure``)."""

    def url_for(self, path: str, query: str) -> str:
        """The URL one webhook (received at ``path?query``) is forwarded to."""
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        netloc = f"{netloc}:{self.port}"
        joined_query = "&".join(q for q in (self.query, query) if q)
        return urlunsplit((self.scheme, netloc, self.path or path or "/", joined_query, ""))

    def __str__(self) -> str:
        return self.url

    @property
    def shown(self) -> str:
        """The URL, and whether its certificate goes unverified (banners, ``config show``)."""
        return f"{self.url} (certificate not verified)" if self.insecure else self.url


INSECURE = "insecure"
"""The target option that turns certificate verification off: ``TARGET,insecure``."""


def unverified(target: Target) -> Target:
    """``target`` dialled without verifying its certificate (``--insecure``): an https one;
    an http target has none, and is returned as it is."""
    return replace(target, insecure=True) if target.scheme == "https" else target


def _insecure(target: Target, text: str) -> Target:
    """``TARGET,insecure`` as typed: refused for an http target, which has no certificate."""
    if target.scheme != "https":
        raise UsageError(
            f"target {text!r}: only an https target has a certificate to leave unverified",
            hint=f"drop ',{INSECURE}', or write the target as an https:// URL",
        )
    return replace(target, insecure=True)


def check_insecure_agree(targets: Iterable[Target]) -> None:
    """``UsageError`` when one URL is given both with and without ``,insecure``: its
    connections are shared, so it is verified or not, not both."""
    seen: dict[str, Target] = {}
    for target in targets:
        other = seen.setdefault(target.url, target)
        if other.insecure != target.insecure:
            raise UsageError(
                f"target {target.url} is given both with and without ',{INSECURE}'",
                hint=f"add ',{INSECURE}' to each, or --insecure for every https target",
            )


FORMS = "3000, :3000/hooks, 3000/hooks, /hooks (port 3000), localhost:3000 or a URL"
"""The ways of writing a target, for a message about one that is none of them."""
_HOST_PORT = re.compile(r"(?P<host>\[[^\]/]*\]|[^:/?\[\]]+)(?::(?P<port>[^/?]*))?(?P<rest>[/?].*)?")


def _host_and_port(raw: str, text: str) -> str:
    """``host:port[/path]`` written without a scheme, checked: the port must be there. Only a
    URL (``http://localhost``) means port 80: a bare ``localhost`` is far more often a port
    forgotten than a local app on port 80."""
    found = _HOST_PORT.fullmatch(raw)
    if found is None:
        raise UsageError(f"target {text!r} is not a target", hint=f"write {FORMS}")
    host, port = found.group("host"), found.group("port")
    if port is None:
        raise UsageError(
            f"target {text!r} has no port",
            hint=f"write {host}:3000 (the port your app listens on), or http://{host} for port 80",
        )
    if not port.isdigit():
        what = "nothing" if not port else repr(port)
        hint = f"a port alone is {host}, with a path :{host}/hooks" if host.isdigit() else None
        raise UsageError(
            f"target {text!r} has {what} where its port should be", hint=hint or f"write {FORMS}"
        )
    return raw


def parse_target(text: str) -> Target:
    """A ``Target`` from what a user typed (``,insecure`` after it included); ``UsageError``
    when it is not one."""
    raw = text.strip()
    base, comma, option = raw.rpartition(",")
    if comma and option.strip().lower() == INSECURE:
        return _insecure(_parse_target(base.strip(), text), text)
    return _parse_target(raw, text)


def _parse_target(raw: str, text: str) -> Target:
    if not raw:
        raise UsageError("empty target", hint=f"write {FORMS}")
    if raw.isdigit() or re.match(r"^\d+/", raw):
        raw = f"http://127.0.0.1:{raw}"
    elif raw.startswith(":"):
        if not re.match(r"^:\d+(/|$)", raw):
            raise UsageError(f"target {text!r} has no port after the colon", hint=f"write {FORMS}")
        raw = f"http://127.0.0.1{raw}"
    elif raw.startswith("/"):
        raw = f"http://127.0.0.1:{DEFAULT_TARGET_PORT}{raw}"
    elif "://" not in raw:
        raw = f"http://{_host_and_port(raw, text)}"
    if not raw.isascii() or any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise UsageError(
            f"target {text!r} has a space, a control character or a non-ASCII character",
            hint="percent-encode it (a space is %20, é is %C3%A9)",
        )
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise UsageError(f"target {text!r} is not a valid URL: {error}") from None
    if parts.fragment:
        raise UsageError(f"target {text!r} has a fragment ('#'), which is never sent")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"target {text!r}: only http and https targets are supported")
    if not parts.hostname:
        raise UsageError(f"target {text!r} has no host")
    if parts.username or parts.password:
        raise UsageError(f"target {text!r}: credentials in a target URL are not supported")
    port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise UsageError(f"target {text!r} has an invalid port")
    host = parts.hostname
    path = parts.path if parts.path not in ("", "/") else ""
    netloc = f"[{host}]" if ":" in host else host
    url = urlunsplit((parts.scheme, f"{netloc}:{port}", path, parts.query, ""))
    return Target(url=url, scheme=parts.scheme, host=host, port=port, path=path, query=parts.query)


@dataclass(frozen=True, slots=True)
class Route:
    """Requests whose path matches ``pattern`` (a glob) go to ``target``, and are verified
    with ``provider`` and ``secrets`` when given (else with listen's own)."""

    pattern: str
    target: Target
    provider: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    secret_envs: tuple[str, ...] = ()
    """The variables ``secrets`` were read from, in order (to name one in a message)."""

    def unverified(self) -> Route:
        """This route with its target's certificate not verified (``--insecure``)."""
        return replace(self, target=unverified(self.target))


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route as written (a ``--route`` option or a config file's ``[[listen.route]]``),
    before its secrets are read from the environment."""

    pattern: str
    """The path glob, e.g. ``/stripe/*``."""
    target: str
    """The target as typed: ``3000``, ``:4000/hooks``, a URL."""
    provider: str | None = None
    secret_envs: tuple[str, ...] = ()
    """The names of the environment variables that hold the route's secrets."""
    insecure: bool = False
    """The target's certificate is not verified (``,insecure``; an https target only)."""

    def __str__(self) -> str:
        """As ``--route`` takes it (``config show``)."""
        text = f"{self.pattern}={self.target}"
        if self.provider:
            text += f",provider={self.provider}"
        text += "".join(f",secret-env={name}" for name in self.secret_envs)
        return text + (f",{INSECURE}" if self.insecure else "")


def parse_route(text: str) -> Route:
    """``GLOB=TARGET[,provider=NAME][,secret-env=VAR][,insecure]``, e.g. ``/stripe/*=3000``."""
    return build_route(parse_route_spec(text))


def parse_route_spec(text: str) -> RouteSpec:
    """``GLOB=TARGET[,provider=NAME][,secret-env=VAR][,insecure]`` taken apart, nothing read
    yet."""
    pattern, sep, rest = text.partition("=")
    target, *options = rest.split(",")
    if not sep or not pattern.strip() or not target.strip():
        raise UsageError(f"route {text!r} is not GLOB=TARGET", hint="e.g. --route '/stripe/*=3000'")
    provider = None
    names: list[str] = []
    insecure = False
    for option in options:
        if option.strip().lower() == INSECURE:
            insecure = True
            continue
        key, eq, value = option.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not value:
            raise UsageError(f"route option {option!r} is not KEY=VALUE")
        if key == "provider":
            provider = value
        elif key == "secret-env":
            names.append(value)
        else:
            raise UsageError(
                f"unknown route option {key!r}",
                hint=f"route options: provider=, secret-env=, {INSECURE}",
            )
    return RouteSpec(pattern.strip(), target, provider, tuple(names), insecure)


def build_route(spec: RouteSpec) -> Route:
    """The ``Route`` a spec describes: its target parsed, its secrets read now."""
    secrets: list[str] = []
    for name in spec.secret_envs:
        secret = os.environ.get(name)
        if not secret:
            state = "is not set" if secret is None else "is empty"
            raise UsageError(f"route {spec.pattern}: environment variable {name} {state}")
        secrets.append(secret)
    target = parse_target(spec.target)
    if spec.insecure and not target.insecure:
        target = _insecure(target, f"{spec.target},{INSECURE}")
    return Route(spec.pattern, target, spec.provider, tuple(secrets), spec.secret_envs)


def match_route(path: str, routes: tuple[Route, ...]) -> Route | None:
    """The first route whose glob matches ``path``."""
    for candidate in routes:
        if fnmatch.fnmatchcase(path, candidate.pattern):
            return candidate
    return None


def route(path: str, routes: tuple[Route, ...], default: tuple[Target, ...]) -> tuple[Target, ...]:
    """The targets for a webhook received at ``path``: the first matching route, else default."""
    matched = match_route(path, routes)
    return (matched.target,) if matched else default


def is_loopback(address: str) -> bool:
    """Whether an IP address is loopback: 127.0.0.0/8, ::1, or IPv4-mapped loopback."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals included, in any legal spelling)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UsageError(f"cannot resolve target host {host!r}: {error}") from None
    return sorted({str(info[4][0]) for info in infos})


def check_target(target: Target, allow_remote: bool) -> None:
    """Refuse a target that is not loopback (unless ``allow_remote``): the SSRF guard at start-up.

    The name is resolved and every address must be loopback; the forwarder checks again, on
    the address it actually connects to.
    """
    if allow_remote:
        return
    addresses = resolve(target.host, target.port)
    remote = [a for a in addresses if not is_loopback(a)]
    if remote:
        raise UsageError(
            f"target {target.url} is not on this machine ({target.host} -> {', '.join(remote)})",
            hint="whrelay forwards to loopback only; add --allow-remote to forward elsewhere",
        )
