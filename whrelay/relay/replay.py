"""Replay: send stored webhooks again, now, from any process. One core call serves the CLI, the
TUI and bulk replay.

``plan(store, request)`` works out, without sending anything, what a ``ReplayRequest`` will
send: each webhook to each target (its original ones, those it has deliveries for, or an
explicit one), whether it will be re-signed and why not, the webhooks it skips and why, and
what the user should be warned of before it goes. Usage errors (a webhook named that has no
target, a target not on this machine, secrets that cannot sign) are ``UsageError``s.
``run(plan, store, sender)`` then sends the plan in order and yields each attempt once it is
recorded (with the trigger ``replay``): stop iterating, or cancel the task, and what was
yielded is what was done. A successful replay to an original target marks that delivery
delivered; a failed one schedules no automatic retries.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from whrelay.core.errors import UsageError
from whrelay.core.models import Attempt, DeliveryState, Trigger, Webhook, now_micros
from whrelay.core.targets import Target, check_target, parse_target, unverified
from whrelay.relay.client import Resigner, Sender, prepare
from whrelay.signatures import REGISTRY, get_scheme, stale_signature
from whrelay.signatures.verification import (
    GivenSecret,
    ResignDecision,
    SigningKeys,
    refuse_unusable,
    signing_problem,
)
from whrelay.storage import Store, WebhookFilter
from whrelay.storage.read import first_originals
from whrelay.storage.store import insert_attempt, record_attempt


@dataclass(frozen=True, slots=True)
class Resign:
    """Re-signing asked for (``--resign``): a webhook whose own signature verifies with one of
    ``secrets``, judged as at its arrival, is signed afresh with that secret and the current
    time just before it is sent; any other goes out as received. ``UsageError`` when there is
    no secret, or a secret cannot be the key of the named scheme."""

    secrets: tuple[GivenSecret, ...]
    scheme: str | None = None
    """The scheme to check and sign with (``--sign-as``); ``None``: the one each webhook's
    headers (or body) name."""
    unverified: bool = False
    """DANGEROUS (``--resign-unverified``): re-sign webhooks whose signature did not verify
    too, forged or unsigned ones included; the plan warns of each."""

    def __post_init__(self) -> None:
        if not self.secrets:
            raise UsageError(
                "--resign needs the secret (--secret or --secret-env): it re-signs only "
                "webhooks whose signature it verifies with that secret"
            )
        if self.scheme is not None:
            refuse_unusable(get_scheme(self.scheme), self.secrets)

    def resigner(self, originals: Mapping[int, Webhook] | None = None) -> Resigner:
        """``originals``: edited copies and the webhook each was made from, whose signature
        decides (see ``Resigner.originals``)."""
        scheme = get_scheme(self.scheme).name if self.scheme else None
        keys = SigningKeys(scheme, tuple(secret.value for secret in self.secrets))
        return Resigner(lambda webhook: keys, self.unverified, originals=originals or {})


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What to replay, where, and how."""

    select: tuple[int, ...] | WebhookFilter
    """Webhook ids, named: each must exist, and one never forwarded needs ``to``. Or a filter:
    the webhooks it selects (``limit`` of the newest; 0: all), oldest first; those never
    forwarded are skipped when there is no ``to``."""
    to: Target | None = None
    """Send here instead of to the original targets."""
    state: str | None = None
    """Without ``to``: only the deliveries in this state are sent again (``failed``: what
    failed, not what was delivered or is still pending)."""
    extra_headers: tuple[tuple[str, str], ...] = ()
    """``-H``: added, or in place of the headers of their name."""
    body: bytes | None = None
    """Sent instead of the stored body."""
    resign: Resign | None = None
    allow_remote: bool = False
    """Allow targets that are not on this machine."""
    insecure: bool = False
    """Do not verify the certificates of https targets (``--insecure``); ``to`` may say so
    for itself (``TARGET,insecure``)."""
    insecure_targets: frozenset[str] = frozenset()
    """The URLs (``Target.url``) of https targets whose certificates are not verified, the
    others being verified: ``listen --tui`` replays to the targets listen was told so of."""

    def edits(self) -> str | None:
        """What this replay changes of each webhook, in a few words (recorded with each
        attempt, ``Attempt.edited``); ``None`` when it sends them as stored."""
        said = []
        if self.body is not None:
            said.append(f"another body ({len(self.body)} B)")
        if self.extra_headers:
            said.append("-H " + ", ".join(dict.fromkeys(name for name, _ in self.extra_headers)))
        return ", ".join(said) or None


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One webhook to send to one target; ``delivery`` when the target is an original one."""

    webhook: Webhook
    target: Target
    delivery: int | None
    resign: ResignDecision | None = None
    """With ``Resign``: whether it will be signed afresh, with what, and why not."""

    @property
    def url(self) -> str:
        return self.target.url_for(self.webhook.summary.path, self.webhook.summary.query)

    def to_json(self) -> dict[str, object]:
        """What ``replay --dry-run --json`` prints for it."""
        summary = self.webhook.summary
        record: dict[str, object] = {
            "id": summary.id,
            "target": self.target.url,
            "dry_run": True,
            "verdict": summary.verdict,
            "scheme": summary.scheme,
        }
        if self.resign is not None:
            record["resign"] = self.resign.resign
            record["resign_note"] = self.resign.why or None
            record["resign_scheme"] = self.resign.scheme.name if self.resign.scheme else None
            record["resign_verdict"] = self.resign.verdict
        return record


class SkipReason(StrEnum):
    NEVER_FORWARDED = "never forwarded"
    """Selected by a filter, with no ``to``: it has no target to go back to."""
    NO_DELIVERY_IN_STATE = "no delivery in the state asked for"


@dataclass(frozen=True, slots=True)
class Skip:
    """A selected webhook the plan leaves out."""

    webhook_id: int
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class ResignedUnverified:
    """``--resign-unverified`` signs this webhook although its signature did not verify."""

    webhook_id: int
    why: str
    """What it was re-signed despite (untrusted text: make it inert to show it)."""

    @property
    def message(self) -> str:
        return (
            f"#{self.webhook_id} is re-signed although {self.why} (--resign-unverified): "
            "the app will trust what whrelay cannot"
        )


@dataclass(frozen=True, slots=True)
class SignatureNoLongerMatches:
    """Another body goes out under the sender's own signature, which covers the body."""

    schemes: tuple[str, ...]

    @property
    def message(self) -> str:
        return (
            f"with another body, the {', '.join(self.schemes)} signature sent with it no "
            "longer matches; --resign --secret S signs it afresh"
        )


ReplayWarning = ResignedUnverified | SignatureNoLongerMatches
"""What the user should know before the plan is sent (a dry run shows each
``ResignedUnverified`` on its line, and the notes as they are)."""


@dataclass(frozen=True, slots=True)
class ResignOutlook:
    """What ``--resign`` does to a plan's webhooks, each counted once, in the plan's order."""

    resigned: tuple[int, ...]
    """Signed afresh: their signature verifies with a secret given."""
    forced: tuple[int, ...]
    """Signed afresh although it does not (``--resign-unverified``)."""
    as_received: tuple[int, ...]
    """Sent exactly as received: no signature that verifies with a secret given."""
    other_secret: tuple[int, ...]
    """Of ``as_received`` (or ``forced``), those judged valid on arrival, in the scheme they
    are checked in now: signed with a secret, but not with one of those given."""


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What replaying a request will send, in order, and what it leaves out."""

    request: ReplayRequest
    selected: tuple[int, ...]
    """The webhooks the request selects (oldest first, for a filter); empty: none match."""
    items: tuple[ReplayItem, ...]
    skips: tuple[Skip, ...] = ()
    warnings: tuple[ReplayWarning, ...] = ()
    resigner: Resigner | None = field(default=None, repr=False)

    def resign_outlook(self) -> ResignOutlook | None:
        """With ``--resign``: which webhooks it re-signs, and which go as received (and
        why); ``None`` without."""
        if self.request.resign is None:
            return None
        decisions = {
            i.webhook.id: (i.webhook, i.resign) for i in self.items if i.resign is not None
        }
        resigned: list[int] = []
        forced: list[int] = []
        as_received: list[int] = []
        other_secret: list[int] = []
        for webhook_id, (webhook, decision) in decisions.items():
            if decision.resign and not decision.why:
                resigned.append(webhook_id)
                continue
            (forced if decision.resign else as_received).append(webhook_id)
            summary = webhook.summary
            scheme = decision.scheme.name if decision.scheme is not None else None
            if scheme is not None and summary.scheme == scheme and summary.verdict == "valid":
                other_secret.append(webhook_id)
        return ResignOutlook(
            tuple(resigned), tuple(forced), tuple(as_received), tuple(other_secret)
        )

    def tally(self) -> ReplayTally:
        """An empty count of what sending this plan does (``run_counted`` fills it)."""
        return ReplayTally(len(self.items), len(self.skips))


def plan(store: Store, request: ReplayRequest) -> ReplayPlan:
    """What replaying ``request`` will send (see the module). ``NotFoundError`` for an id that
    is not stored; ``UsageError`` for a named webhook that was never forwarded when there is
    no ``to``, a target not on this machine (unless ``allow_remote``), or secrets none of
    which can sign for a scheme the webhooks are in."""
    selected = _selected(store, request.select)
    items, skips = _items(store, selected, request)
    if request.insecure or request.insecure_targets:
        items = [
            replace(item, target=unverified(item.target))
            if request.insecure or item.target.url in request.insecure_targets
            else item
            for item in items
        ]
    for target in {item.target.url: item.target for item in items}.values():
        check_target(target, request.allow_remote)
    resigner = None
    if request.resign is not None:
        # An edited copy (the TUI's edit and re-send) is judged by the webhook it was made
        # from: the user changed it on purpose; what must be authentic is what was received.
        copies = first_originals(store, list(dict.fromkeys(i.webhook.id for i in items)))
        originals = {copy: store.get_webhook(original) for copy, original in copies.items()}
        resigner = request.resign.resigner(originals)
        decisions: dict[int, ResignDecision] = {}
        for item in items:
            if item.webhook.id not in decisions:
                decisions[item.webhook.id] = resigner.decide(item.webhook)
        items = [replace(item, resign=decisions[item.webhook.id]) for item in items]
        _check_secrets_fit(decisions, request.resign.secrets)
    return ReplayPlan(
        request, selected, tuple(items), tuple(skips), _warnings(items, request), resigner
    )


async def run(plan: ReplayPlan, store: Store, sender: Sender) -> AsyncGenerator[Attempt, None]:
    """Send each item of ``plan`` in order, record its attempt, and yield it (with its id once
    stored). An item is re-signed, when the plan says so, just before it is sent. Closing the
    generator (or cancelling the task iterating it) stops it: nothing more is sent."""
    request = plan.request
    edited = request.edits()
    for item in plan.items:
        outgoing = prepare(
            item.webhook, item.target, request.extra_headers, plan.resigner, request.body
        )
        if edited:
            outgoing = replace(outgoing, edited=edited)
        attempt = await sender.send(
            outgoing, webhook_id=item.webhook.id, delivery=item.delivery, trigger=Trigger.REPLAY
        )
        yield await asyncio.to_thread(store.run, _recorder(attempt))


@dataclass(slots=True)
class ReplayTally:
    """What a replay has done so far, for its summary: counted as each attempt is recorded,
    so an interrupted replay still says what was done."""

    planned: int
    """Sends planned (webhooks times targets)."""
    skipped: int
    """Webhooks the plan left out."""
    sent: int = 0
    ok: int = 0
    """Answered 2xx."""
    failures: Counter[str] = field(default_factory=Counter)
    """Failed sends by kind: the status answered (``"400"``), or the error (``"refused"``)."""
    stale: Counter[str] = field(default_factory=Counter)
    """Of the failures, those answered 400, 401 or 403 for a webhook that went out with its
    sender's own signature, signed (by a scheme with a timestamp, by name) longer ago than
    that scheme's tolerance: most likely rejected as too old (``--resign`` signs afresh)."""

    def add(self, attempt: Attempt, item: ReplayItem) -> None:
        self.sent += 1
        if attempt.ok:
            self.ok += 1
            return
        self.failures[
            str(attempt.status) if attempt.status is not None else attempt.error or "error"
        ] += 1
        stale = stale_signature(item.webhook.summary, attempt)
        if stale is not None:
            self.stale[stale.scheme] += 1

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def unsent(self) -> int:
        """Planned sends not made (the replay was interrupted)."""
        return self.planned - self.sent


async def run_counted(
    plan: ReplayPlan, store: Store, sender: Sender, tally: ReplayTally
) -> AsyncGenerator[Attempt, None]:
    """``run``, counting each attempt in ``tally`` as it is yielded."""
    items = iter(plan.items)
    async for attempt in run(plan, store, sender):
        tally.add(attempt, next(items))
        yield attempt


def id_list(ids: Sequence[int], shown: int = 5) -> str:
    """``#3, #4, #9 …``: the first ``shown`` ids, for a message."""
    return ", ".join(f"#{i}" for i in ids[:shown]) + (" …" if len(ids) > shown else "")


def _selected(store: Store, select: tuple[int, ...] | WebhookFilter) -> tuple[int, ...]:
    if isinstance(select, WebhookFilter):
        return tuple(summary.id for summary in reversed(store.list_webhooks(select)))
    return tuple(select)


def _items(
    store: Store, selected: Sequence[int], request: ReplayRequest
) -> tuple[list[ReplayItem], list[Skip]]:
    named = not isinstance(request.select, WebhookFilter)
    items: list[ReplayItem] = []
    skips: list[Skip] = []
    for webhook_id in selected:
        webhook = store.get_webhook(webhook_id)
        if request.to is not None:
            items.append(ReplayItem(webhook, request.to, None))
            continue
        deliveries = store.deliveries(webhook_id)
        if not deliveries and named:
            raise UsageError(
                f"webhook #{webhook_id} was never forwarded, so it has no target to replay to",
                hint="name one with --to, e.g. --to 3000",
            )
        if not deliveries:
            skips.append(Skip(webhook_id, SkipReason.NEVER_FORWARDED))
            continue
        chosen = [d for d in deliveries if request.state is None or d.state == request.state]
        if not chosen:
            skips.append(Skip(webhook_id, SkipReason.NO_DELIVERY_IN_STATE))
            continue
        seen: set[str] = set()
        for delivery in chosen:  # the first delivery to each target
            if delivery.target not in seen:
                seen.add(delivery.target)
                items.append(ReplayItem(webhook, parse_target(delivery.target), delivery.id))
    return items, skips


def _check_secrets_fit(decisions: dict[int, ResignDecision], given: Sequence[GivenSecret]) -> None:
    """``UsageError`` when no secret given can sign for a scheme the webhooks are in: a typo
    in the secret, not a reason to send them all as received."""
    schemes = {d.scheme.name: d.scheme for d in decisions.values() if d.scheme is not None}
    for name, scheme in schemes.items():
        problems = [signing_problem(scheme, key.value) for key in given]
        if all(problem is not None for problem in problems):
            ids = sorted(i for i, d in decisions.items() if d.scheme is scheme)
            subject = (
                f"{given[0].label} cannot"
                if len(given) == 1
                else f"none of the {len(given)} secrets can"
            )
            raise UsageError(
                f"--resign: {subject} sign for {name} ({id_list(ids)})", hint=problems[0]
            )


def _warnings(items: Sequence[ReplayItem], request: ReplayRequest) -> tuple[ReplayWarning, ...]:
    """A warning per webhook re-signed although its signature did not verify, and a note
    when another body (``--body-file`` with other bytes than the stored ones) goes out
    under a sender's signature that covers the body."""
    decisions = {item.webhook.id: item.resign for item in items if item.resign is not None}
    warnings: list[ReplayWarning] = []
    if request.resign is not None and request.resign.unverified:
        warnings += [
            ResignedUnverified(webhook_id, decision.why)
            for webhook_id, decision in decisions.items()
            if decision.resign and decision.why
        ]
    resigned = {webhook_id for webhook_id, d in decisions.items() if d.resign}
    changed = [  # the same bytes again leave the signature as good as it was
        item
        for item in items
        if request.body is not None and request.body != (item.webhook.body or b"")
    ]
    schemes = {item.webhook.summary.scheme for item in changed if item.webhook.id not in resigned}
    signed = sorted(name for name in schemes if name and _signs_body(name))
    if signed:
        warnings.append(SignatureNoLongerMatches(tuple(signed)))
    return tuple(warnings)


def _signs_body(scheme: str) -> bool:
    """Whether the scheme a webhook was judged with signs its body (one whrelay no longer
    knows is assumed to)."""
    return get_scheme(scheme).signs_body if scheme in REGISTRY else True


def _recorder(attempt: Attempt) -> Callable[[sqlite3.Connection], Attempt]:
    def job(db: sqlite3.Connection) -> Attempt:
        if not attempt.ok:  # a replay that failed leaves the delivery as it stands
            return insert_attempt(db, attempt)
        return record_attempt(
            db,
            attempt,
            state=DeliveryState.DELIVERED,
            next_attempt_at=None,
            now_us=now_micros(),
            counted=False,  # a replay is not one of the delivery's attempts
        )

    return job
