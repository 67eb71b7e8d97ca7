"""The options that select stored webhooks, defined once for every command that selects:
``list``, ``replay``, ``export`` and ``cancel`` take them all through ``@selecting`` (one
``Selection`` parameter in the code, the eight options on the command line) and build the
``WebhookFilter`` with ``Selection.webhook_filter``, so each option means the same
everywhere and its help cannot drift. (``tests/unit/cli/test_filters.py`` checks that they
all take the same set.)"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from whrelay.cli.common import HTTP_TOKEN, complete_provider
from whrelay.core.errors import UsageError
from whrelay.identify.known import PROVIDERS

if TYPE_CHECKING:
    from whrelay.storage import WebhookFilter


class VerdictChoice(StrEnum):
    valid = "valid"
    invalid = "invalid"
    unverified = "unverified"


class StatusChoice(StrEnum):
    delivered = "delivered"
    pending = "pending"
    failed = "failed"
    cancelled = "cancelled"


_PANEL = "Select webhooks"

Since = Annotated[
    str | None,
    typer.Option(
        help="Only newer than this: 10m, 2h, 1h30m, 3d, or an ISO time (UTC).",
        metavar="WHEN",
        rich_help_panel=_PANEL,
    ),
]
PathGlob = Annotated[
    str | None,
    typer.Option(
        "--path", help="Path glob, e.g. '/stripe/*'.", metavar="GLOB", rich_help_panel=_PANEL
    ),
]
Method = Annotated[
    str | None,
    typer.Option(help="HTTP method, e.g. POST.", metavar="METHOD", rich_help_panel=_PANEL),
]
Provider = Annotated[
    str | None,
    typer.Option(
        help=f"Detected provider (not a scheme to sign with): {', '.join(PROVIDERS)}.",
        metavar="PROVIDER",
        autocompletion=complete_provider,
        rich_help_panel=_PANEL,
    ),
]
Event = Annotated[
    str | None,
    typer.Option(
        help="Event type, exactly (invoice.paid), or its start with .* (invoice.*).",
        metavar="EVENT",
        rich_help_panel=_PANEL,
    ),
]
Search = Annotated[
    str | None,
    typer.Option(
        help="Substring of the path, the query or the body as stored (case-sensitive; "
        "a compressed body is searched compressed).",
        metavar="TEXT",
        rich_help_panel=_PANEL,
    ),
]
Status = Annotated[
    StatusChoice | None,
    typer.Option(
        help="delivered (every delivery succeeded), pending (some still to go), "
        "failed (some gave up), cancelled (some were cancelled, none failed or pending).",
        rich_help_panel=_PANEL,
    ),
]
Verdict = Annotated[
    VerdictChoice | None,
    typer.Option(help="Signature verdict given on arrival.", rich_help_panel=_PANEL),
]

OPTIONS: dict[str, object] = {
    "since": Since,
    "path": PathGlob,
    "method": Method,
    "provider": Provider,
    "event": Event,
    "search": Search,
    "status": Status,
    "verdict": Verdict,
}
"""Each option's parameter name and declaration, in the order ``--help`` lists them."""
FILTER_OPTIONS = tuple(f"--{name}" for name in OPTIONS)
"""The options above, as typed: every command that selects webhooks takes them all."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What the options were given, as typed (``None``: not given)."""

    since: str | None = None
    path: str | None = None
    method: str | None = None
    provider: str | None = None
    event: str | None = None
    search: str | None = None
    status: StatusChoice | None = None
    verdict: VerdictChoice | None = None

    def webhook_filter(self, limit: int = 0, *, by_status: bool = True) -> WebhookFilter | None:
        """The filter the options select (``limit`` of the newest; 0: all), or ``None`` when
        none was given; ``by_status=False`` leaves ``--status`` out (the command reads it
        itself). ``UsageError`` for a value that cannot mean anything."""
        status = self.status if by_status else None
        given = (self.since, self.path, self.method, self.provider, self.event, self.search)
        if all(value is None for value in (*given, status, self.verdict)):
            return None
        from whrelay.core.models import now_micros
        from whrelay.core.timeparse import parse_since
        from whrelay.storage import WebhookFilter

        method, provider, event = self.method, self.provider, self.event
        if method is not None and not HTTP_TOKEN.fullmatch(method):
            raise UsageError(
                f"--method {method!r} is not an HTTP method", hint="e.g. --method POST"
            )
        if provider is not None and provider.lower() not in PROVIDERS:
            raise UsageError(
                f"unknown provider {provider!r}", hint="one of: " + ", ".join(PROVIDERS)
            )
        if event is not None and not event.strip():
            raise UsageError("--event needs an event type, e.g. --event invoice.paid")
        return WebhookFilter(
            since=parse_since(self.since, now_micros()) if self.since is not None else None,
            path_glob=self.path,
            method=method,
            provider=provider.lower() if provider is not None else None,
            event=event,
            search=self.search,
            status=status.value if status is not None else None,
            verdict=self.verdict.value if self.verdict is not None else None,
            limit=limit,
        )


NONE_GIVEN = Selection()
"""No option given: what a ``@selecting`` command's ``selection`` defaults to."""

R = TypeVar("R")


def selecting(command: Callable[..., R]) -> Callable[..., R]:
    """``command``, whose ``selection: Selection`` parameter stands for the eight options:
    Typer sees them in its place (each declared once, above), and ``command`` gets them as
    one ``Selection``."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name != "selection":
            parameters.append(parameter)
            continue
        parameters += [
            inspect.Parameter(name, parameter.kind, default=None, annotation=declared)
            for name, declared in OPTIONS.items()
        ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> R:
        chosen = Selection(**{name: kwargs.pop(name, None) for name in OPTIONS})
        return command(*args, selection=chosen, **kwargs)

    shown = signature.replace(parameters=parameters)
    run.__signature__ = shown  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    run.__annotations__["return"] = signature.return_annotation
    return run
