"""What a running receiver reports to its front end. Plain data; the CLI and the TUI render it."""

from __future__ import annotations

from dataclasses import dataclass, field

from whrelay.core.models import Attempt, DeliveryState, WebhookSummary


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


@dataclass(frozen=True, slots=True)
class DeliveryAttempted:
    """One attempt finished. ``state`` is the delivery's state after it."""

    attempt: Attempt
    target: str
    state: DeliveryState
    retry_in: float | None = None
    """Seconds until the next retry, when one is scheduled."""
    number: int = 1
    """Which attempt of the delivery this was: 1 for the first, 2 for the first retry, ..."""


@dataclass(frozen=True, slots=True)
class TargetDown:
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class TargetUp:
    target: str
    pending: int


@dataclass(frozen=True, slots=True)
class TargetPaused:
    """The target answered 410 Gone: nothing more is sent to it until listen restarts."""

    target: str
    pending: int


@dataclass(frozen=True, slots=True)
class StorageDegraded:
    """Storage cannot commit now (lock held elsewhere, disk full, read-only, stalled):
    webhooks are answered 503 until it can again."""

    reason: str
    """A few words, naming no file."""
    detail: str


@dataclass(frozen=True, slots=True)
class StorageLost:
    """The database file (or its write-ahead log) at the path is no longer the one open:
    webhooks are answered 503 until ``listen`` is restarted."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class StorageRecovered:
    """Storage commits again after ``StorageDegraded``."""


ListenEvent = (
    ListenStarted
    | WebhookReceived
    | RequestRefused
    | ListenStopped
    | DeliveryAttempted
    | TargetDown
    | TargetUp
    | TargetPaused
    | StorageDegraded
    | StorageLost
    | StorageRecovered
)
