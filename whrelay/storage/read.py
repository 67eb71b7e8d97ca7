"""The history, read a page at a time: the one read API of ``list``, ``show`` and the TUI.

One order everywhere, with or without filters: newest first by arrival time
(``received_at``), then by id (the order of commit) among webhooks of the same microsecond.
A page is found from a ``Position`` (keyset), never with ``OFFSET``: the table holds the
bodies, and walking it to skip rows would read them. Every query here walks an index (a test
checks each plan on a seeded database), so a page costs the same on the millionth row as on
the first.

What an attempt came to (``retried``, ``retry pending``, ``then replayed``, ``failed: retry
window over``...) is worked out here, once, for every front end: ``webhook_view``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from whrelay.core.errors import NotFoundError
from whrelay.core.models import (
    Attempt,
    Delivery,
    StaleSignature,
    Trigger,
    Webhook,
    WebhookSummary,
)
from whrelay.core.retry import Decision, decide_on_attempt
from whrelay.storage.store import (
    _DELIVERY_COLUMNS,
    _SUMMARY_COLUMNS,
    _SUMMARY_FROM,
    STATUS_ORDER,
    Store,
    WebhookFilter,
    _delivery,
    _summary,
    filter_clauses,
)

ORDER = "received_at DESC, webhooks.id DESC"
"""The history's one order: newest first."""
NO_FILTER = WebhookFilter()
"""Every webhook (a page of ``WebhookFilter``'s default 50 at a time)."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a webhook sits in the history's order (a keyset cursor)."""

    received_at: int
    id: int

    @classmethod
    def of(cls, summary: WebhookSummary) -> Position:
        return cls(summary.received_at, summary.id)


Direction = Literal["older", "newer"]


def page(
    store: Store,
    where: WebhookFilter = NO_FILTER,
    *,
    start: Position | None = None,
    direction: Direction = "older",
    limit: int | None = None,
) -> list[WebhookSummary]:
    """Up to ``limit`` (default ``where.limit``; 0: all) webhooks matching ``where``, newest
    first, on one side of ``start``: the ``older`` ones after it (the next page down), or the
    ``newer`` ones before it (the page above). Without ``start``: the newest (``older``) or
    the oldest (``newer``)."""
    limit = where.limit if limit is None else limit
    clauses, params = filter_clauses(where)
    if start is not None:
        comparison = "<" if direction == "older" else ">"
        clauses.append(f"(received_at, webhooks.id) {comparison} (?, ?)")
        params += [start.received_at, start.id]
    sql = f"SELECT {_SUMMARY_COLUMNS} FROM {_SUMMARY_FROM}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY " + (ORDER if direction == "older" else "received_at, webhooks.id")
    if limit > 0:
        sql += " LIMIT ?"
        params.append(min(limit, 2**63 - 1))  # more than can be stored: all of them
    rows = [_summary(row) for row in _all(store, sql, params)]
    return rows if direction == "older" else rows[::-1]


def count(store: Store, where: WebhookFilter = NO_FILTER) -> int:
    """How many webhooks match ``where``."""
    clauses, params = filter_clauses(where, paged=False)
    joined = where.verdict is not None
    sql = f"SELECT count(*) FROM {_SUMMARY_FROM if joined else 'webhooks'}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return int(_all(store, sql, params)[0][0])


def arrivals(store: Store, after_id: int, limit: int = 500) -> list[WebhookSummary]:
    """Webhooks committed after webhook ``after_id`` (ids grow in commit order), oldest first:
    what a follower that has shown everything up to ``after_id`` shows next."""
    sql = f"SELECT {_SUMMARY_COLUMNS} FROM {_SUMMARY_FROM} WHERE webhooks.id > ?"
    sql += " ORDER BY webhooks.id LIMIT ?"
    return [_summary(row) for row in _all(store, sql, [after_id, limit])]


def newest_id(store: Store) -> int:
    """The id of the webhook committed last (0 when there is none)."""
    return int(_all(store, "SELECT coalesce(max(id), 0) FROM webhooks", [])[0][0])


def recent_ids(store: Store, prefix: str = "", limit: int = 50) -> list[tuple[int, str, str, str]]:
    """The newest ``limit`` webhooks whose id starts with the digits ``prefix``, newest first:
    ``(id, method, path, event_type or "")`` each (what shell completion offers). Reads the
    history index alone, never a body."""
    sql = (
        "SELECT id, method, path, coalesce(event_type, '') FROM webhooks"
        " WHERE CAST(id AS TEXT) LIKE ? ORDER BY received_at DESC, id DESC LIMIT ?"
    )
    digits = "".join(c for c in prefix if c.isdigit())
    return [
        (int(i), str(m), str(p), str(e)) for i, m, p, e in _all(store, sql, [digits + "%", limit])
    ]


@dataclass(frozen=True, slots=True)
class Changes:
    """Where a follower's next look for deliveries that moved on starts: after an attempt
    (their ids only grow: ``AUTOINCREMENT``), and at a moment for cancellations, the one
    change of a delivery that comes with no attempt (``store.record_attempt``)."""

    attempt_id: int
    cancelled_at: int
    """UTC microseconds."""
    cancelled_id: int = 0
    """The last delivery seen cancelled at ``cancelled_at``: one cancel gives every delivery
    it cancels the same moment, more than a look may take."""


def changes_from(store: Store) -> Changes:
    """The point from which a follower looks for what changes next: the newest attempt and
    the newest cancellation committed, read before the rows it shows. Not a clock: a cancel
    takes its moment inside its write transaction, so one that commits after this look has
    a later moment than any cancellation committed before it."""
    newest = _all(store, "SELECT coalesce(max(id), 0) FROM attempts", [])[0][0]
    last = _all(
        store,
        "SELECT updated_at, id FROM deliveries WHERE state = 'cancelled'"
        " ORDER BY updated_at DESC, id DESC LIMIT 1",
        [],
    )
    at, delivery_id = last[0] if last else (0, 0)
    return Changes(int(newest), int(at), int(delivery_id))


def changed_deliveries(
    store: Store, since: Changes, limit: int = 1000
) -> tuple[list[Delivery], Changes]:
    """Deliveries that moved on after ``since`` (an attempt made, a cancellation), and where
    the next look starts: what a follower refreshes. Up to ``limit`` attempts and ``limit``
    cancellations at a time, each cancellation once (by its moment, then its id)."""
    attempts = _all(
        store,
        "SELECT id, delivery FROM attempts WHERE id > ? ORDER BY id LIMIT ?",
        [since.attempt_id, limit],
    )
    moved = sorted({int(d) for _, d in attempts if d is not None})
    found: dict[int, Delivery] = {}
    for i in range(0, len(moved), 500):  # SQLite's bound on parameters
        chunk = moved[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id IN ({marks})"
        found.update((d.id, d) for d in map(_delivery, _all(store, sql, chunk)))
    cancelled = [
        _delivery(row)
        for row in _all(
            store,
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state = 'cancelled'"
            " AND updated_at >= ? AND (updated_at > ? OR id > ?)"
            " ORDER BY updated_at, id LIMIT ?",
            [since.cancelled_at, since.cancelled_at, since.cancelled_id, limit],
        )
    ]
    found.update((d.id, d) for d in cancelled)
    last = cancelled[-1] if cancelled else None
    after = Changes(
        int(attempts[-1][0]) if attempts else since.attempt_id,
        since.cancelled_at if last is None else last.updated_at,
        since.cancelled_id if last is None else last.id,
    )
    return sorted(found.values(), key=lambda d: d.id), after


def _all(store: Store, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
    return store.query_all(sql, params)


# --- one webhook, with what came of each attempt --------------------------------------------


class Outcome(StrEnum):
    """What came of one attempt, as far as its delivery is concerned."""

    DELIVERED = "delivered"
    RETRIED = "retried"
    """It failed, and another attempt of the delivery followed."""
    RETRY_PENDING = "retry pending"
    """It failed, and is the last attempt of a delivery still pending."""
    THEN_REPLAYED = "then replayed"
    """It failed, and a replay delivered the webhook (listen stopped retrying)."""
    NOT_RETRIED = "failed, not retried"
    """It failed in a way that is never retried (a 4xx, a refused address)."""
    WINDOW_OVER = "failed: retry window over"
    """It failed, retries were due, and the retry window ran out."""
    FAILED = "failed"
    """A replay, proxied or test attempt that failed: those are never retried."""
    CANCELLED = "failed, then cancelled"
    """It failed, and the delivery was cancelled (``whrelay cancel``) before a retry."""


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempt: Attempt
    number: int
    """Which attempt of its delivery it was (1 for the first; replays count apart, from 1)."""
    outcome: Outcome
    stale: StaleSignature | None = None
    """Refused, most likely, because its signature was too old (``stale_signature``)."""

    def to_json(self) -> dict[str, object]:
        return {
            **self.attempt.to_json(),
            "number": self.number,
            "outcome": self.outcome.value,
            "stale_signature": None if self.stale is None else self.stale.to_json(),
        }


@dataclass(frozen=True, slots=True)
class WebhookView:
    """A webhook with its deliveries and every attempt (oldest first) and what each came to."""

    webhook: Webhook
    deliveries: list[Delivery]
    attempts: list[AttemptView]
    imported_from: str | None = None
    """Where ``whrelay import`` read it from (a file and a line or entry); ``None`` for a
    webhook ``listen`` received."""
    edited: bool = False
    """An edited copy of another webhook (the TUI's edit and re-send), never received."""
    edited_from: int | None = None
    """The webhook it was edited from; ``None`` when that one has been pruned since (or when
    it is no copy: see ``edited``)."""

    @property
    def edit_note(self) -> str | None:
        """``edited from #2`` (``show``'s and the TUI's words), or ``None`` for no copy."""
        if not self.edited:
            return None
        if self.edited_from is None:
            return "edited from a webhook since pruned"
        return f"edited from #{self.edited_from}"

    def replays(self, delivery: int) -> int:
        """How many replays were made of ``delivery``."""
        return sum(
            1 for a in self.attempts if a.attempt.delivery == delivery and _is_replay(a.attempt)
        )


def webhook_view(store: Store, webhook_id: int) -> WebhookView:
    """Webhook ``webhook_id`` (``NotFoundError`` when there is none) as every front end shows
    it."""
    webhook = store.get_webhook(webhook_id)
    deliveries = store.deliveries(webhook_id)
    origin = _all(store, "SELECT origin FROM imports WHERE webhook_id = ?", [webhook_id])
    edit = _all(store, "SELECT original_id FROM edits WHERE webhook_id = ?", [webhook_id])
    return WebhookView(
        webhook,
        deliveries,
        outcomes(deliveries, store.attempts(webhook_id), webhook.summary),
        str(origin[0][0]) if origin else None,
        edited=bool(edit),
        edited_from=int(edit[0][0]) if edit and edit[0][0] is not None else None,
    )


_CHAINS = """
WITH RECURSIVE chain (copy, original, depth) AS (
    SELECT webhook_id, original_id, 1 FROM edits WHERE webhook_id IN ({marks})
    UNION ALL
    SELECT chain.copy, edits.original_id, chain.depth + 1
    FROM chain JOIN edits ON edits.webhook_id = chain.original
    WHERE chain.depth < {limit}
)
SELECT copy, original, depth,
    EXISTS (SELECT 1 FROM edits WHERE edits.webhook_id = chain.original)
FROM chain
"""
"""Each copy's chain of originals, from the copy back, each step a look-up by primary key;
and whether the last one reached is a copy still (the chain was cut: a loop)."""
_LONGEST_CHAIN = 1000


def first_originals(store: Store, webhook_ids: Sequence[int]) -> dict[int, int]:
    """For each of ``webhook_ids`` that is an edited copy, the webhook it comes from in the
    end: the original of its original, and so on, up to one that is not a copy (a copy of a
    copy goes back to what was received). A copy whose chain ends at a pruned webhook is left
    out. What re-signing an edited copy judges (``relay.replay``). One query for 500 ids."""
    found: dict[int, int] = {}
    for offset in range(0, len(webhook_ids), 500):  # SQLite's bound on parameters
        chunk = list(webhook_ids[offset : offset + 500])
        sql = _CHAINS.format(marks=", ".join("?" * len(chunk)), limit=_LONGEST_CHAIN)
        last: dict[int, tuple[int, int | None, bool]] = {}
        for copy, original, depth, is_copy in _all(store, sql, chunk):
            if int(depth) > last.get(int(copy), (0, None, False))[0]:
                last[int(copy)] = (int(depth), original, bool(is_copy))
        for copy, (_, original, is_copy) in last.items():
            # Pruned on the way (no original), or, defensively, a loop (still a copy).
            if original is not None and not is_copy and original != copy:
                found[copy] = int(original)
    return found


def _is_replay(attempt: Attempt) -> bool:
    return attempt.trigger == Trigger.REPLAY


def outcomes(
    deliveries: Sequence[Delivery],
    attempts: Sequence[Attempt],
    summary: WebhookSummary | None = None,
) -> list[AttemptView]:
    """Each attempt (oldest first) with its number and its outcome. A delivery's own attempts
    (``first``, ``retry``) are numbered together; replays, proxied and test sends are never
    retried, so theirs is ``delivered`` or ``failed``. With the webhook's ``summary``, each
    says whether it was most likely refused for a signature too old."""
    # Here, not at the top: the TUI's first screen needs no scheme (about 5 ms of imports).
    from whrelay.signatures import stale_signature

    pending = {d.id for d in deliveries if d.state == "pending"}
    delivered = {d.id for d in deliveries if d.state == "delivered"}
    cancelled = {d.id for d in deliveries if d.state == "cancelled"}
    own = (Trigger.FIRST, Trigger.RETRY)
    total: dict[int, int] = {}
    for attempt in attempts:
        if attempt.delivery is not None and attempt.trigger in own:
            total[attempt.delivery] = total.get(attempt.delivery, 0) + 1
    seen: dict[tuple[int | None, bool], int] = {}
    views = []
    for attempt in attempts:
        mine = attempt.delivery is not None and attempt.trigger in own
        key = (attempt.delivery, mine)
        number = seen[key] = seen.get(key, 0) + 1
        if attempt.ok:
            outcome = Outcome.DELIVERED
        elif not mine:
            outcome = given_up(attempt)
        elif attempt.delivery is not None and number < total[attempt.delivery]:
            outcome = Outcome.RETRIED
        elif attempt.delivery in pending:
            outcome = Outcome.RETRY_PENDING
        elif attempt.delivery in delivered:
            outcome = Outcome.THEN_REPLAYED
        elif attempt.delivery in cancelled:
            outcome = Outcome.CANCELLED
        else:
            outcome = given_up(attempt)
        stale = None if summary is None else stale_signature(summary, attempt)
        views.append(AttemptView(attempt, number, outcome, stale))
    return views


def given_up(attempt: Attempt) -> Outcome:
    """How a failed attempt that nothing followed ended: a delivery's was either not retried
    by nature (a 4xx, a refused address) or retried until the window closed; a replay, a
    proxied or a test send is never retried."""
    if attempt.trigger not in (Trigger.FIRST, Trigger.RETRY):
        return Outcome.FAILED
    if decide_on_attempt(attempt.status, attempt.error) is not Decision.RETRY:
        return Outcome.NOT_RETRIED
    return Outcome.WINDOW_OVER


# --- what a terminal UI pages with: jumps, bounded scans, the state of a page's deliveries -----


def skip(
    store: Store, start: Position | None, n: int, direction: Direction = "older"
) -> Position | None:
    """The position of the ``n``-th webhook (``n`` >= 1) after ``start`` in ``direction``
    (without ``start``: counted from the newest, or from the oldest for ``newer``), or
    ``None`` when there are fewer. Unfiltered. It steps through the history's covering index
    (``webhooks_history``), never the table, whose rows hold the bodies: what a jump to an
    arbitrary position (a scrollbar dragged) costs, and it grows with ``n``, so a caller
    counts from the nearest position it knows."""
    if n < 1:
        raise ValueError("n counts from 1")
    comparison, order = ("<", ORDER) if direction == "older" else (">", "received_at, id")
    sql = "SELECT received_at, id FROM webhooks"
    params: list[object] = []
    if start is not None:
        sql += f" WHERE (received_at, id) {comparison} (?, ?)"
        params += [start.received_at, start.id]
    sql += f" ORDER BY {order.replace('webhooks.', '')} LIMIT 1 OFFSET ?"
    params.append(n - 1)
    rows = _all(store, sql, params)
    return Position(int(rows[0][0]), int(rows[0][1])) if rows else None


def scan(
    store: Store, where: WebhookFilter, start: Position | None, within: int
) -> tuple[list[WebhookSummary], Position | None]:
    """The webhooks matching ``where`` among the ``within`` webhooks after ``start`` (newest
    first), and the position of the last webhook looked at, where the next scan starts
    (``None``: the oldest was reached). However rare the matches (a text in the bodies), one
    call reads at most ``within`` webhooks: a search goes through the history a bounded step
    at a time, and can stop between two."""
    bound = skip(store, start, within) if within > 0 else None
    since = where.since
    if bound is not None:
        since = bound.received_at if since is None else max(since, bound.received_at)
    bounded = dataclasses.replace(where, since=since, limit=0)
    rows = page(store, bounded, start=start)
    if bound is not None:
        # Those of the bound's microsecond committed before it are the next scan's.
        rows = [row for row in rows if Position.of(row) >= bound]
    if where.since is not None and bound is not None and bound.received_at < where.since:
        bound = None  # past the oldest that can match
    return rows, bound


def deliveries_of(store: Store, webhook_ids: Sequence[int]) -> dict[int, list[Delivery]]:
    """The deliveries of each of ``webhook_ids`` (a page's), oldest first; a webhook never
    forwarded has none."""
    found: dict[int, list[Delivery]] = {webhook_id: [] for webhook_id in webhook_ids}
    for offset in range(0, len(webhook_ids), 500):  # SQLite's bound on parameters
        chunk = list(webhook_ids[offset : offset + 500])
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id IN ({marks})"
        for row in _all(store, sql, chunk):
            delivery = _delivery(row)
            found[delivery.webhook_id].append(delivery)
    for deliveries in found.values():
        deliveries.sort(key=lambda delivery: delivery.id)
    return found


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a webhook's deliveries stand, in one word and the last answer: what ``list``'s
    DELIVERY column and the TUI's list show."""

    state: str | None
    """The state of the delivery that decides it, the first of ``STATUS_ORDER`` one is in
    (``failed``, then ``pending``, ``cancelled``, ``delivered``); ``None``: never
    forwarded."""
    answer: str | None = None
    """That delivery's last answer: the status code, or the error when the last attempt got
    none (``refused``, ``timeout``)."""
    targets: int = 0

    def __str__(self) -> str:
        if self.state is None:
            return "-"
        return f"{self.state} {self.answer}" if self.answer else self.state

    def to_json(self) -> dict[str, object]:
        return {"delivery_state": self.state, "delivery_answer": self.answer}


def last_answer(delivery: Delivery) -> str | None:
    """What the target said to the delivery's last attempt: its error when it got no answer
    (``refused``, ``timeout``; an earlier attempt's status is then stale), else its status
    code; ``None`` before any attempt."""
    if delivery.last_error:
        return delivery.last_error
    return None if delivery.last_status is None else str(delivery.last_status)


def standing(deliveries: Sequence[Delivery]) -> Standing:
    """Where ``deliveries`` (one webhook's) stand: the first state of ``STATUS_ORDER`` one of
    them is in (a state this whrelay does not name, one a later version adds, just before
    ``delivered``), and the last answer of the latest delivery in it."""
    if not deliveries:
        return Standing(None)
    last = len(STATUS_ORDER) - 1

    def rank(delivery: Delivery) -> tuple[float, int]:
        state = str(delivery.state)
        order = STATUS_ORDER.index(state) if state in STATUS_ORDER else last - 0.5
        return order, -delivery.updated_at

    deciding = min(deliveries, key=rank)
    return Standing(str(deciding.state), last_answer(deciding), len(deliveries))


def standings(store: Store, webhook_ids: Sequence[int]) -> dict[int, Standing]:
    """The ``standing`` of each of ``webhook_ids`` (a page's)."""
    return {
        webhook_id: standing(found)
        for webhook_id, found in deliveries_of(store, webhook_ids).items()
    }


def pending_by_target(store: Store) -> dict[str, int]:
    """How many deliveries wait for each target (those with none are left out)."""
    sql = "SELECT target, count(*) FROM deliveries WHERE state = 'pending' GROUP BY target"
    return {str(target): int(n) for target, n in _all(store, sql, [])}


# --- a webhook named by the sender's own id ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    """The webhook a reference names: whrelay's id as typed, or the newest webhook whose
    sender's own id (``provider_id``: ``evt_…``, ``msg_…``, a GitHub delivery id) it is."""

    id: int
    others: tuple[int, ...] = ()
    """Older webhooks with the same provider id, newest first: the sender sent it more than
    once (duplicates). ``id`` is the newest."""


def find_webhook(store: Store, ref: str) -> Found:
    """The webhook ``ref`` names: all digits is whrelay's own id (not checked here: reading
    it says whether it exists), anything else a provider id, looked up through its index
    (``NotFoundError`` when no webhook has it). When several have it, the newest is meant
    and the others are named. Edited copies (the TUI's edit and re-send) keep their
    original's provider id but were never sent by the sender: the id names the webhooks
    received, and a copy only when no webhook received has it any more."""
    if ref.isdigit() and ref.isascii():
        return Found(int(ref))
    rows = _all(
        store,
        "SELECT id, EXISTS (SELECT 1 FROM edits WHERE edits.webhook_id = webhooks.id)"
        " FROM webhooks WHERE provider_id = ? ORDER BY id DESC",
        [ref],
    )
    if not rows:
        raise NotFoundError(
            f"no webhook with id or provider id {ref!r}",
            hint="'whrelay list' shows the stored ids; provider ids are matched exactly",
        )
    received = [int(row[0]) for row in rows if not row[1]]
    ids = received or [int(row[0]) for row in rows]
    return Found(ids[0], tuple(ids[1:]))
