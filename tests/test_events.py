"""What a running receiver reports (``whrelay.core.events``): each event knows its JSON form,
the NDJSON line ``listen --output json`` prints, so a TUI or a script gets the same fields
without the CLI. (``test_receiver.py`` and the listen tests read them from a real listener.)"""

from __future__ import annotations

import json
import typing

import pytest

from whrelay.core.events import (
    DeliveryAttempted,
    ListenEvent,
    ListenStarted,
    ListenStopped,
    PruneFailed,
    RequestRefused,
    StorageDegraded,
    StorageLost,
    StorageRecovered,
    TargetDown,
    TargetPaused,
    TargetUp,
    WebhookReceived,
    WebhooksPruned,
)
from whrelay.core.models import Attempt, DeliveryState, Trigger, WebhookSummary

SUMMARY = WebhookSummary(7, 1_735_689_600_000_000, "POST", "/hooks", "a=1", "stripe",
                         "charge.succeeded", "evt_1", 12, "application/json", "valid", "ok",
                         "stripe")  # fmt: skip
ATTEMPT = Attempt(7, 3, Trigger.RETRY, "http://127.0.0.1:3000/hooks?a=1", (), 0, 1_234_567, 503,
                  error_detail="busy", resigned=True, resign_note="re-signed")  # fmt: skip

EVENTS: list[tuple[ListenEvent, dict[str, object]]] = [
    (
        ListenStarted(
            "http://127.0.0.1:8642/",
            "/tmp/h.db",
            "1.0",
            {"forward": "3000"},
            ("w",),
            "/tmp/whrelay.toml",
            2,
        ),
        {
            "event": "ready",
            "url": "http://127.0.0.1:8642/",
            "db": "/tmp/h.db",
            "config": "/tmp/whrelay.toml",
            "version": "1.0",
            "resumed": 2,
        },
    ),
    (WebhookReceived(SUMMARY), {"event": "webhook", **SUMMARY.to_json()}),
    (
        RequestRefused(413, "body too large", "POST", "/big"),
        {
            "event": "refused",
            "status": 413,
            "reason": "body too large",
            "method": "POST",
            "path": "/big",
        },
    ),
    (ListenStopped(4, "SIGINT"), {"event": "stopped", "stored": 4, "signal": "SIGINT"}),
    (
        DeliveryAttempted(ATTEMPT, "http://127.0.0.1:3000", DeliveryState.PENDING, 2.5, 2),
        {
            "event": "attempt",
            "webhook_id": 7,
            "delivery": 3,
            "target": "http://127.0.0.1:3000",
            "url": "http://127.0.0.1:3000/hooks?a=1",
            "trigger": "retry",
            "status": 503,
            "error": None,
            "error_detail": "busy",
            "duration_ms": 1234.567,
            "state": "pending",
            "attempt": 2,
            "retry_in": 2.5,
            "resigned": True,
            "resign_note": "re-signed",
            "stale_signature": None,
        },
    ),
    (
        TargetDown("http://127.0.0.1:3000", "refused"),
        {"event": "target_down", "target": "http://127.0.0.1:3000", "reason": "refused"},
    ),
    (
        TargetUp("http://127.0.0.1:3000", 5),
        {"event": "target_up", "target": "http://127.0.0.1:3000", "pending": 5},
    ),
    (
        TargetPaused("http://127.0.0.1:3000", 5),
        {"event": "target_paused", "target": "http://127.0.0.1:3000", "pending": 5},
    ),
    (
        StorageDegraded("the disk is full", "no space"),
        {"event": "storage_degraded", "reason": "the disk is full", "detail": "no space"},
    ),
    (
        StorageLost("the database file was deleted", "gone"),
        {"event": "storage_lost", "reason": "the database file was deleted", "detail": "gone"},
    ),
    (StorageRecovered(), {"event": "storage_ok"}),
    (
        WebhooksPruned(120, 1_735_689_600_000_000),
        {"event": "pruned", "deleted": 120, "before": "2025-01-01T00:00:00.000000Z"},
    ),
    (PruneFailed("locked"), {"event": "prune_failed", "detail": "locked"}),
]


@pytest.mark.parametrize(
    ("event", "expected"), [pytest.param(*case, id=type(case[0]).__name__) for case in EVENTS]
)
def test_each_event_knows_the_json_line_listen_prints_for_it(
    event: ListenEvent, expected: dict[str, object]
) -> None:
    record = event.to_json()
    assert record == expected
    assert list(record) == list(expected)  # the order of the fields too
    assert json.loads(json.dumps(record)) == record


def test_every_kind_of_event_has_a_json_case() -> None:
    kinds = set(typing.get_args(ListenEvent))
    assert {type(event) for event, _ in EVENTS} == kinds


def test_a_webhook_line_carries_its_body_up_to_the_limit_and_names_a_larger_one() -> None:
    from whrelay.core.events import EVENT_BODY_LIMIT
    from whrelay.core.models import Webhook

    def line(body: bytes) -> dict[str, object]:
        request = Webhook(SUMMARY, ((b"X-A", b"1"),), body, "1.1", "127.0.0.1")
        return WebhookReceived(SUMMARY, request).to_json()

    small = line(b"x" * EVENT_BODY_LIMIT)
    assert small["headers"] == [["X-A", "1"]]
    assert len(str(small["body_b64"])) > EVENT_BODY_LIMIT
    large = line(b"x" * (EVENT_BODY_LIMIT + 1))
    assert "body_b64" not in large
    assert large["body_omitted"] == EVENT_BODY_LIMIT + 1
    assert large["headers"] == [["X-A", "1"]]
