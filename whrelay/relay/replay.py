"""Replay: send stored webhooks again, now, from any process. One function serves the CLI, the
TUI and bulk replay.

A replay goes to the webhook's original targets (those it has deliveries for) or to an
explicit target, optionally with extra headers or another body. Every attempt is recorded
with the trigger ``replay``; a successful replay to an original target marks that delivery
delivered. A failed replay schedules no automatic retries.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from whrelay.core.errors import UsageError
from whrelay.core.models import Attempt, DeliveryState, Trigger, Webhook, now_micros
from whrelay.core.targets import Target, parse_target
from whrelay.relay.client import Resigner, Sender, prepare
from whrelay.signatures.verification import ResignDecision
from whrelay.storage import Store
from whrelay.storage.store import insert_attempt, update_delivery


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """One webhook to send to one target; ``delivery`` when the target is an original one."""

    webhook: Webhook
    target: Target
    delivery: int | None


def resign_decisions(plans: Sequence[ReplayPlan], resigner: Resigner) -> dict[int, ResignDecision]:
    """What ``--resign`` will do to each planned webhook (by id): shown by ``--dry-run``, and
    warned of before anything is sent."""
    return {plan.webhook.id: resigner.decide(plan.webhook) for plan in plans}


def plan_replay(
    store: Store,
    webhook_ids: Sequence[int],
    to: Target | None,
    state: str | None = None,
    *,
    skip_unforwarded: bool = False,
) -> list[ReplayPlan]:
    """What replaying ``webhook_ids`` will send, in order. ``NotFoundError`` for a missing id;
    ``UsageError`` for a webhook that was never forwarded when no ``to`` is given, unless
    ``skip_unforwarded`` (webhooks selected by a filter rather than named): it is left out.
    With ``state`` (and no ``to``), only the deliveries in that state are sent again:
    ``--status failed`` replays what failed, not what was delivered or is still pending."""
    plans = []
    for webhook_id in webhook_ids:
        webhook = store.get_webhook(webhook_id)
        if to is not None:
            plans.append(ReplayPlan(webhook, to, None))
            continue
        deliveries = store.deliveries(webhook_id)
        if not deliveries and skip_unforwarded:
            continue
        if not deliveries:
            raise UsageError(
                f"webhook #{webhook_id} was never forwarded, so it has no target to replay to",
                hint="name one with --to, e.g. --to 3000",
            )
        seen: set[str] = set()
        for delivery in deliveries:
            if state is not None and delivery.state != state:
                continue
            if delivery.target not in seen:
                seen.add(delivery.target)
                plans.append(ReplayPlan(webhook, parse_target(delivery.target), delivery.id))
    return plans


async def replay(
    plans: Sequence[ReplayPlan],
    store: Store,
    sender: Sender,
    extra_headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    resigner: Resigner | None = None,
) -> AsyncIterator[Attempt]:
    """Send each plan in order, record its attempt, and yield it (with its id once stored).
    With ``resigner``, each request is signed afresh just before it is sent."""
    for plan in plans:
        request = prepare(plan.webhook, plan.target, extra_headers, resigner, body)
        attempt = await sender.send(
            request, webhook_id=plan.webhook.id, delivery=plan.delivery, trigger=Trigger.REPLAY
        )
        yield await asyncio.to_thread(store.run, _recorder(attempt))


def _recorder(attempt: Attempt) -> Callable[[sqlite3.Connection], Attempt]:
    def job(db: sqlite3.Connection) -> Attempt:
        stored = insert_attempt(db, attempt)
        if attempt.delivery is not None and attempt.ok:
            update_delivery(
                db,
                attempt.delivery,
                state=DeliveryState.DELIVERED,
                next_attempt_at=None,
                attempt=attempt,
                now_us=now_micros(),
                counted=False,  # a replay is not one of the delivery's attempts
            )
        return stored

    return job
