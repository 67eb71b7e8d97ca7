"""What a running receiver reports to its front end. Plain data; the CLI and the TUI render it
(``whrelay.render.live``). Each event knows its JSON form, the line ``listen --output json``
prints for it: ``event`` names it; the other fields are a contract for scripts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from whrelay.core.models import (
    Attempt,
    DeliveryState,
    StaleSignature,
    Webhook,
    WebhookSummary,
    format_time,
)


@dataclass(frozen=True, slots=True)
class ListenStarted:
    url: str
    db_path: str
    version: str
    options: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    config_path: str | None = None
    """The config file some settings came from; ``None`` when there was none."""
    resumed: int = 0
    """Pending deliveries from earlier runs that this one resumes (to its targets)."""

    def to_json(self) -> dict[str, object]:
        return {
            "event": "ready",
            "url": self.url,
            "db": self.db_path,
            "config": self.config_path,
            "version": self.version,
            "resumed": self.resumed,
        }


EVENT_BODY_LIMIT = 256 * 1024
"""Bodies up to this size are in ``listen -o json``'s webhook lines; a larger one is named by
its size (``body_omitted``), and ``whrelay export ID`` writes it."""


@dataclass(frozen=True, slots=True)
class WebhookReceived:
    webhook: WebhookSummary
    request: Webhook | None = None
    """The whole webhook (headers, body) when the receiver has it at hand: then the JSON
    line is a full record, which ``whrelay import`` reads back."""

    def to_json(self) -> dict[str, object]:
        if self.request is None:
            return {"event": "webhook", **self.webhook.to_json()}
        body = self.request.body
        if body is not None and len(body) > EVENT_BODY_LIMIT:
            # Not encoded on the event loop: a large body's line says where to get it.
            record = dataclasses.replace(self.request, body=None).to_json()
            del record["body_b64"]
            return {"event": "webhook", **record, "body_omitted": len(body)}
        return {"event": "webhook", **self.request.to_json()}


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """A request that was answered with an error and not stored."""

    status: int
    reason: str
    method: str
    path: str

    def to_json(self) -> dict[str, object]:
        return {
            "event": "refused",
            "status": self.status,
            "reason": self.reason,
            "method": self.method,
            "path": self.path,
        }


@dataclass(frozen=True, slots=True)
class ListenStopped:
    stored: int
    signal: str | None

    def to_json(self) -> dict[str, object]:
        return {"event": "stopped", "stored": self.stored, "signal": self.signal}


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
    stale: StaleSignature | None = None
    """Refused, most likely, for a signature too old (after an outage): ``--resign`` fixes
    it."""

    def to_json(self) -> dict[str, object]:
        a = self.attempt
        return {
            "event": "attempt",
            "webhook_id": a.webhook_id,
            "delivery": a.delivery,
            "target": self.target,
            "url": a.url,
            "trigger": a.trigger,
            "status": a.status,
            "error": a.error,
            "error_detail": a.error_detail,
            "duration_ms": round(a.duration_us / 1000, 3),
            "state": self.state,
            "attempt": self.number,
            "retry_in": self.retry_in,
            "resigned": a.resigned,
            "resign_note": a.resign_note,
            "stale_signature": None if self.stale is None else self.stale.to_json(),
        }


@dataclass(frozen=True, slots=True)
class TargetDown:
    target: str
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"event": "target_down", "target": self.target, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class TargetUp:
    target: str
    pending: int

    def to_json(self) -> dict[str, object]:
        return {"event": "target_up", "target": self.target, "pending": self.pending}


@dataclass(frozen=True, slots=True)
class TargetPaused:
    """The target answered 410 Gone: nothing more is sent to it until listen restarts."""

    target: str
    pending: int

    def to_json(self) -> dict[str, object]:
        return {"event": "target_paused", "target": self.target, "pending": self.pending}


@dataclass(frozen=True, slots=True)
class StorageDegraded:
    """Storage cannot commit now (lock held elsewhere, disk full, read-only, stalled):
    webhooks are answered 503 until it can again."""

    reason: str
    """A few words, naming no file."""
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"event": "storage_degraded", "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class StorageLost:
    """The database file (or its write-ahead log) at the path is no longer the one open:
    webhooks are answered 503 until ``listen`` is restarted."""

    reason: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"event": "storage_lost", "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class StorageRecovered:
    """Storage commits again after ``StorageDegraded``."""

    def to_json(self) -> dict[str, object]:
        return {"event": "storage_ok"}


@dataclass(frozen=True, slots=True)
class WebhooksPruned:
    """``--retain`` deleted webhooks received before ``before`` (pending ones are kept)."""

    deleted: int
    before: int
    """UTC microseconds."""

    def to_json(self) -> dict[str, object]:
        return {"event": "pruned", "deleted": self.deleted, "before": format_time(self.before)}


@dataclass(frozen=True, slots=True)
class PruneFailed:
    """A ``--retain`` pass could not prune (the database busy, say); the next one tries again."""

    detail: str

    def to_json(self) -> dict[str, object]:
        return {"event": "prune_failed", "detail": self.detail}


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
    | WebhooksPruned
    | PruneFailed
)
