"""Write jobs: what a writer runs in a transaction, as plain picklable data.

A job is a callable of the connection. Keeping the ones the receiver and the forwarder use
as small frozen dataclasses (not closures) lets the same job run in a writer thread or be
sent to the storage process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from whrelay.core.models import (
    Attempt,
    Capture,
    Delivery,
    DeliveryState,
    Identity,
    Verdict,
    WebhookSummary,
    fast_pickle,
    now_micros,
)
from whrelay.identify.detect import identify
from whrelay.storage.store import (
    insert_webhook,
    insert_webhook_rows,
    record_attempt,
    stored_webhook,
)

WebhookIds = tuple[int, int | None, list[int]]
"""A stored webhook's id, the id of the webhook it duplicates, and its deliveries' ids."""


@fast_pickle
@dataclass(frozen=True, slots=True)
class InsertWebhook:
    """Store a webhook, its verdict and a pending delivery per target."""

    capture: Capture
    targets: Sequence[str] = ()
    verdict: Verdict | None = None
    identity: Identity | None = None
    """What ``identify`` tells of the capture, when the caller has it already (``listen``
    works it out in the receiving process, leaving the storage process only the SQL)."""

    def __call__(self, db: sqlite3.Connection) -> tuple[WebhookSummary, list[Delivery]]:
        return insert_webhook(db, self.capture, self.targets, self.verdict, self.identity)

    def identified(self) -> InsertWebhook:
        """This job with its identity worked out, so that ``rows`` and ``result`` agree."""
        if self.identity is not None:
            return self
        identity = identify(self.capture.headers, self.capture.body)
        return InsertWebhook(self.capture, self.targets, self.verdict, identity)

    def rows(self, db: sqlite3.Connection) -> WebhookIds:
        """Run the job, returning only the ids it assigned (the storage process's answer)."""
        assert self.identity is not None, "call identified() first"
        return insert_webhook_rows(db, self.capture, self.targets, self.verdict, self.identity)

    def result(self, ids: WebhookIds) -> tuple[WebhookSummary, list[Delivery]]:
        """What ``self(db)`` returns, rebuilt from what ``rows(db)`` returned."""
        assert self.identity is not None, "call identified() first"
        webhook_id, duplicate_of, delivery_ids = ids
        return stored_webhook(
            self.capture,
            self.targets,
            self.verdict,
            self.identity,
            webhook_id,
            duplicate_of,
            delivery_ids,
        )


@fast_pickle
@dataclass(frozen=True, slots=True)
class RecordAttempt:
    """Store an attempt and move its delivery to ``state``."""

    attempt: Attempt
    state: DeliveryState
    next_attempt_at: int | None = None

    def __call__(self, db: sqlite3.Connection) -> Attempt:
        return record_attempt(
            db,
            self.attempt,
            state=self.state,
            next_attempt_at=self.next_attempt_at,
            now_us=now_micros(),
        )
