"""What a running receiver reports to its front end. Plain data; the CLI and the TUI render it."""

from __future__ import annotations

from dataclasses import dataclass, field

from whrelay.models import WebhookSummary


@dataclass(frozen=True, slots=True)
class ListenStarted:
    url: str
    db_path: str
    version: str
    options: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookReceived:
    webhook: WebhookSummary


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """A request that was answered with an error and not stored."""

    status: int
    reason: str
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class ListenStopped:
    stored: int
    signal: str | None


ListenEvent = ListenStarted | WebhookReceived | RequestRefused | ListenStopped
