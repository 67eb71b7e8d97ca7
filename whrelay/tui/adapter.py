"""The TUI's one door to the rest of whrelay: the read API, replay, verification, targets.

Everything the terminal UI reads, sends or checks goes through a function here, and these call
the same functions the CLI calls (``storage.read`` for ``list``/``show``, ``relay.replay``
for ``replay``, ``signatures.verification`` for ``verify``, ``core.targets`` for ``-f``).
When those APIs change shape, this module changes and the widgets do not. No Textual here:
the data source (``source.py``) runs these in workers; widgets never call them directly.

The functions that read take a ``Store`` and block: call them off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from whrelay.core.errors import UsageError
from whrelay.core.models import Delivery, Webhook, WebhookSummary
from whrelay.storage import Store, WebhookFilter
from whrelay.storage import read as history
from whrelay.storage.read import Direction, Position, WebhookView

if TYPE_CHECKING:
    from whrelay.core.config import ListenSettings
    from whrelay.core.models import Attempt
    from whrelay.core.targets import Target
    from whrelay.signatures.base import Verification as Verification
    from whrelay.signatures.verification import SigningKeys

__all__ = [
    "Direction",
    "Position",
    "Query",
    "Row",
    "Store",
    "WebhookView",
]

NEVER_FORWARDED_HINT = "F forwards it to a target you type"
REPLAY_TIMEOUT = 30.0
"""Seconds a replay from the TUI waits for a target's answer (``whrelay replay``'s default)."""


# --- rows of the list -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the list: a webhook and where its deliveries stand."""

    summary: WebhookSummary
    state: str | None = None
    """``failed`` (a delivery failed), ``pending`` (one waits, none failed), ``delivered``
    (all delivered), or ``None`` (never forwarded): as ``list --status`` selects them."""
    status: int | None = None
    """The last HTTP status of the delivery the state comes from."""
    targets: int = 0
    """How many targets the webhook went to."""

    @property
    def id(self) -> int:
        return self.summary.id

    @property
    def position(self) -> Position:
        return Position.of(self.summary)


def row_of(summary: WebhookSummary, deliveries: Sequence[Delivery]) -> Row:
    """A webhook's row: its state as ``list --status`` would select it, and the last status
    of the delivery that decides it."""
    by_state = {
        state: [d for d in deliveries if d.state == state]
        for state in ("failed", "pending", "cancelled", "delivered")
    }
    for state in ("failed", "pending", "cancelled", "delivered"):
        if by_state[state]:
            deciding = max(by_state[state], key=lambda d: d.updated_at)
            return Row(summary, state, deciding.last_status, len(deliveries))
    return Row(summary, None, None, len(deliveries))


def rows_of(store: Store, summaries: Sequence[WebhookSummary]) -> list[Row]:
    found = history.deliveries_of(store, [s.id for s in summaries])
    return [row_of(s, found[s.id]) for s in summaries]


# --- reading the history --------------------------------------------------------------------------


def open_reader(path: Path) -> Store:
    """A read-only connection to the database ``listen`` writes; the readers' errors
    (missing, empty, not whrelay's, another schema) as ``StorageError``."""
    return Store(path, readonly=True)


def rows(store: Store, start: Position | None, direction: Direction, limit: int) -> list[Row]:
    """Up to ``limit`` rows of the whole history on one side of ``start`` (keyset)."""
    return rows_of(store, history.page(store, start=start, direction=direction, limit=limit))


def skip(
    store: Store, start: Position | None, n: int, direction: Direction = "older"
) -> Position | None:
    """Where the ``n``-th webhook after ``start`` sits (a jump; see ``read.skip``)."""
    return history.skip(store, start, n, direction)


def total(store: Store) -> int:
    return history.count(store)


def newest_id(store: Store) -> int:
    return history.newest_id(store)


def arrivals(store: Store, after_id: int, limit: int = 500) -> list[WebhookSummary]:
    return history.arrivals(store, after_id, limit)


def data_version(store: Store) -> int:
    return store.data_version()


def changed_webhooks(store: Store, since: int) -> tuple[set[int], int]:
    """The webhooks whose deliveries changed at or after ``since`` (UTC microseconds), and
    the latest change seen (where the next look starts)."""
    changed = history.changed_deliveries(store, since, limit=5000)
    latest = max((d.updated_at for d in changed), default=since)
    return {d.webhook_id for d in changed}, latest


def refreshed(store: Store, summaries: Sequence[WebhookSummary]) -> list[Row]:
    """Rows of ``summaries`` with their deliveries as they stand now."""
    return rows_of(store, summaries)


def pending_by_target(store: Store) -> dict[str, int]:
    return history.pending_by_target(store)


def webhook_view(store: Store, webhook_id: int) -> WebhookView:
    """A webhook with every delivery and attempt, as ``show`` has it."""
    return history.webhook_view(store, webhook_id)


# --- filters and search ---------------------------------------------------------------------------

STATES = ("delivered", "pending", "failed", "cancelled")
VERDICTS = ("valid", "invalid", "unverified")


@dataclass(frozen=True, slots=True)
class Query:
    """What the list is narrowed to: a text searched in the path, the query and the body,
    and ``list``'s filters. Empty: the whole history."""

    search: str = ""
    state: str | None = None
    verdict: str | None = None
    provider: str | None = None
    method: str | None = None

    @property
    def empty(self) -> bool:
        return self == Query()

    def with_search(self, text: str) -> Query:
        return replace(self, search=text)

    def filter(self) -> WebhookFilter:
        return WebhookFilter(
            search=self.search or None,
            status=self.state,
            verdict=self.verdict,
            provider=self.provider.lower() if self.provider else None,
            method=self.method.upper() if self.method else None,
            limit=0,
        )

    def describe(self) -> str:
        """``search "evt_" · failed · valid · stripe · POST``."""
        parts = [f'search "{self.search}"'] if self.search else []
        parts += [p for p in (self.state, self.verdict, self.provider, self.method) if p]
        return " · ".join(parts)


def scan(
    store: Store, query: Query, start: Position | None, within: int
) -> tuple[list[Row], Position | None]:
    """The rows matching ``query`` among the next ``within`` webhooks after ``start``, and
    where the next scan starts (``None``: the whole history has been looked at)."""
    found, bound = history.scan(store, query.filter(), start, within)
    return rows_of(store, found), bound


def known_providers() -> list[str]:
    """The providers whrelay tells apart (what the filter offers)."""
    from whrelay.identify.detect import PROVIDERS

    return sorted(PROVIDERS)


# --- targets, replay, re-signing ----


def parse_forward_target(text: str, allow_remote: bool = False) -> Target:
    """A target typed in, as ``-f`` and ``--to`` take it: the same syntax and the same loopback
    guard (``UsageError`` with the CLI's words). Resolves the name: call off the loop."""
    from whrelay.core.targets import check_target, parse_target

    target = parse_target(text)
    check_target(target, allow_remote)
    return target


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret at hand for re-signing or verifying, and where it came from (shown; the
    value never is)."""

    value: str
    label: str

    def __repr__(self) -> str:
        return f"Secret(label={self.label!r})"


def secret_from_env(name: str) -> Secret:
    """The secret in environment variable ``name`` (``--secret-env``'s rules and words)."""
    from whrelay.signatures.verification import given_secrets

    found = given_secrets((), (name.strip(),))[0]
    return Secret(found.value, found.label)


ListenKeys = Callable[[Webhook], "SigningKeys"]
"""The scheme and secrets a running ``listen`` checks (and re-signs) a webhook with."""


def listen_keys(settings: ListenSettings) -> ListenKeys | None:
    """The keys of the running ``listen`` (its routes' own, else its own), or ``None`` when
    it was given no secret: the ones its forwarder re-signs with."""
    from whrelay.core.targets import match_route
    from whrelay.signatures.verification import SigningKeys, keys_for

    verify = settings.verify
    routes = settings.forward.routes
    if not verify.secrets and not any(route.secrets for route in routes):
        return None

    def keys(webhook: Webhook) -> SigningKeys:
        provider, secrets = keys_for(match_route(webhook.summary.path, routes), verify)
        return SigningKeys(provider, secrets, verify.public_url)

    return keys


@dataclass(frozen=True, slots=True)
class Resign:
    """``R``: re-sign with these keys (listen's, or one secret typed in or read from a
    variable)."""

    label: str
    keys: ListenKeys


def resign_with(secret: Secret) -> Resign:
    from whrelay.signatures.verification import SigningKeys

    keys = SigningKeys(None, (secret.value,))
    return Resign(secret.label, lambda webhook: keys)


def resign_with_listen(keys: ListenKeys) -> Resign:
    return Resign("listen's secrets", keys)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What one replay from the TUI did: each attempt, as recorded."""

    webhook_id: int
    attempts: list[Attempt]
    to: str | None
    """The target typed in (``F``); ``None``: the webhook's own targets (``r``, ``R``)."""


async def replay(
    db: Path,
    webhook_id: int,
    to: Target | None = None,
    resign: Resign | None = None,
    allow_remote: bool = False,
    timeout: float = REPLAY_TIMEOUT,
) -> ReplayResult:
    """Send webhook ``webhook_id`` again through ``whrelay replay``'s function: to its
    original targets, or to ``to``; re-signed with ``resign`` when its signature verifies.
    Each attempt is recorded under the cross-process write lock (a successful one to an
    original target marks the delivery delivered). ``UsageError`` when there is nothing to
    send to, or a secret that cannot sign for the webhook's scheme."""
    from whrelay.core.defaults import DEFAULT_RESPONSE_CAP
    from whrelay.relay import replay as core
    from whrelay.relay.client import Sender
    from whrelay.signatures.verification import GivenSecret

    def open_and_plan() -> tuple[Store, core.ReplayPlan]:
        # A writer: it records attempts (readers never write). It refuses a missing
        # database as the readers do.
        store = Store(db, create=False)
        try:
            resigning = None
            if resign is not None:  # this webhook's keys (a route's own, for listen's)
                keys = resign.keys(store.get_webhook(webhook_id))
                given = tuple(GivenSecret(secret, resign.label) for secret in keys.secrets)
                resigning = core.Resign(given, keys.provider)
            request = core.ReplayRequest(
                (webhook_id,), to=to, resign=resigning, allow_remote=allow_remote
            )
            try:
                planned = core.plan(store, request)
            except UsageError as error:
                if to is None and not store.deliveries(webhook_id):  # never forwarded
                    raise UsageError(error.message, hint=NEVER_FORWARDED_HINT) from None
                raise
        except BaseException:
            store.close()
            raise
        return store, planned

    store, planned = await asyncio.to_thread(open_and_plan)
    try:
        async with Sender(allow_remote, timeout, DEFAULT_RESPONSE_CAP) as sender:
            attempts = [a async for a in core.run(planned, store, sender)]
    finally:
        await asyncio.to_thread(store.close)
    return ReplayResult(webhook_id, attempts, None if to is None else to.url)


# --- verifying again ------------------------------------------------------------------------------


def verify_again(webhook: Webhook, secret: str, provider: str | None = None) -> Verification:
    """``whrelay verify ID --secret S``: the webhook's signature checked with ``secret`` as at
    its arrival, and explained when it fails. The scheme is ``provider``, else the one judged
    on arrival, else the one its headers name. ``UsageError`` as ``verify`` words it."""
    from whrelay.signatures import verification as v

    message = v.message_from_webhook(webhook)
    scheme, detected = v.choose_scheme(provider or webhook.summary.scheme, message)
    given = (v.GivenSecret(secret, "the secret typed in"),)
    v.check_verify_secrets(scheme, given, detected)
    return v.verify_message(scheme, message, [secret], webhook.summary.received_at / 1_000_000)
