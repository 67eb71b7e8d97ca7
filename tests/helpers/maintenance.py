"""A database of webhooks of given ages, for pruning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from whrelay.core.models import Attempt, Capture, DeliveryState, Trigger, now_micros
from whrelay.storage import Store
from whrelay.storage.store import insert_attempt, record_attempt

DAY = 24 * 3600 * 1_000_000


def seed(db: Path, ages_days: list[float], states: list[str]) -> list[int]:
    """A webhook per age (days before now), each with a delivery in the state given and one
    attempt; their ids."""
    now = now_micros()
    captures = [
        Capture("POST", f"/h/{n}", "", ((b"Stripe-Signature", b"t=1,v1=a"),), b"x" * 2000, "1.1",
                None, now - int(age * DAY))
        for n, age in enumerate(ages_days)
    ]  # fmt: skip
    with Store(db) as store:
        stored = store.insert_webhooks(captures, [["http://127.0.0.1:9"]] * len(captures))

        def settle(con: sqlite3.Connection) -> None:
            for summary, state in zip(stored, states, strict=True):
                [delivery] = [
                    d
                    for d in con.execute(
                        "SELECT id FROM deliveries WHERE webhook_id = ?", (summary.id,)
                    )
                ]
                attempt = Attempt(
                    summary.id, delivery[0], Trigger.FIRST, "http://t/", (), 1, 1, 500
                )
                if state == "pending":
                    insert_attempt(con, attempt)
                else:
                    record_attempt(con, attempt, state=DeliveryState(state),
                                   next_attempt_at=None, now_us=now)  # fmt: skip

        store.run(settle)
    return [s.id for s in stored]
