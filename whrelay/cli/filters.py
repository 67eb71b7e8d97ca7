"""The options that select stored webhooks, defined once for every command that selects:
``list``, ``replay``, ``export`` and ``cancel`` declare them with these types and build the
``WebhookFilter`` with ``webhook_filter``, so each option means the same everywhere.
(``tests/unit/cli/test_filters.py`` checks that they all take the same set.)"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

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

FILTER_OPTIONS = (
    "--since",
    "--path",
    "--method",
    "--provider",
    "--event",
    "--search",
    "--status",
    "--verdict",
)
"""The options above, as typed: every command that selects webhooks takes them all."""


def webhook_filter(
    since: str | None,
    path: str | None,
    method: str | None,
    provider: str | None,
    event: str | None,
    search: str | None,
    status: StatusChoice | None,
    verdict: VerdictChoice | None,
    limit: int = 0,
) -> WebhookFilter | None:
    """The filter the options select (``limit`` of the newest; 0: all), or ``None`` when no
    option was given. ``UsageError`` for a value that cannot mean anything."""
    given = (since, path, method, provider, event, search, status, verdict)
    if all(value is None for value in given):
        return None
    from whrelay.core.models import now_micros
    from whrelay.core.timeparse import parse_since
    from whrelay.storage import WebhookFilter

    if method is not None and not HTTP_TOKEN.fullmatch(method):
        raise UsageError(f"--method {method!r} is not an HTTP method", hint="e.g. --method POST")
    if provider is not None and provider.lower() not in PROVIDERS:
        raise UsageError(f"unknown provider {provider!r}", hint="one of: " + ", ".join(PROVIDERS))
    if event is not None and not event.strip():
        raise UsageError("--event needs an event type, e.g. --event invoice.paid")
    return WebhookFilter(
        since=parse_since(since, now_micros()) if since is not None else None,
        path_glob=path,
        method=method,
        provider=provider.lower() if provider is not None else None,
        event=event,
        search=search,
        status=status.value if status is not None else None,
        verdict=verdict.value if verdict is not None else None,
        limit=limit,
    )
