"""Replay as one core call (``whrelay.relay.replay``): ``plan`` works out what a request will
send, skip and warn of without sending; ``run`` sends a plan and yields each attempt once it
is recorded. Real SQLite files, a real recording target on 127.0.0.1, whrelay's own client.
The command line over it is tested in ``test_delivery.py``, ``test_resign.py`` and
``test_cli*.py``."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.helpers.targetserver import TargetServer, target_server
from whrelay.core.errors import NotFoundError, UsageError
from whrelay.core.models import Attempt, Capture, DeliveryState, RawHeaders, Trigger, Verdict
from whrelay.core.targets import parse_target
from whrelay.relay import replay
from whrelay.relay.client import Sender
from whrelay.relay.replay import (
    ReplayRequest,
    Resign,
    ResignedUnverified,
    SignatureNoLongerMatches,
    Skip,
    SkipReason,
)
from whrelay.signatures.verification import GivenSecret
from whrelay.storage import Store, WebhookFilter
from whrelay.storage.store import insert_webhook, record_attempt

STRIPE_SECRET = "whsec_replayCoreSecret0123456789"
BODY = b'{"id":"evt_1","type":"charge.succeeded"}'
# Targets stored with a webhook are never dialled by ``plan``; ports 9 and 19 are not served.
APP, OTHER = "http://127.0.0.1:9", "http://127.0.0.1:19"


def stripe_signature(body: bytes, at: int, secret: str = STRIPE_SECRET) -> bytes:
    mac = hmac.new(secret.encode(), b"%d." % at + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}".encode()


def store_webhook(
    store: Store,
    targets: Sequence[str] = (),
    *,
    scheme: str | None = None,
    signature: bytes | None = None,
    path: str = "/hooks",
) -> int:
    """A webhook as listen stores it (arrived a minute ago), with a pending delivery per
    target and the verdict naming ``scheme``."""
    arrived = int(time.time()) - 60
    headers: RawHeaders = ((b"Host", b"127.0.0.1:8642"), (b"Content-Type", b"application/json"))
    if signature is not None:
        headers += ((b"Stripe-Signature", signature),)
    capture = Capture("POST", path, "", headers, BODY, "1.1", "127.0.0.1", arrived * 1_000_000)
    verdict = Verdict("valid", scheme) if scheme else None
    summary, _ = store.run(lambda db: insert_webhook(db, capture, targets, verdict))
    return summary.id


def fail_delivery(store: Store, webhook_id: int, target: str) -> int:
    """Mark the webhook's delivery to ``target`` failed after one attempt; its id."""
    [delivery] = [d for d in store.deliveries(webhook_id) if d.target == target]
    tried = Attempt(webhook_id, delivery.id, Trigger.RETRY, target, (), 0, 1, 500)
    store.run(
        lambda db: record_attempt(
            db, tried, state=DeliveryState.FAILED, next_attempt_at=None, now_us=0
        )
    )
    return delivery.id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "hooks.db") as opened:
        yield opened


def secret(value: str = STRIPE_SECRET) -> tuple[GivenSecret, ...]:
    return (GivenSecret(value, "--secret #1"),)


# --- plan: what is sent, where ------------------------------------------------------------------


def test_plan_sends_to_each_original_target_once_or_only_those_in_the_state_asked(
    store: Store,
) -> None:
    webhook = store_webhook(store, [APP, OTHER])
    failed = fail_delivery(store, webhook, OTHER)

    every = replay.plan(store, ReplayRequest((webhook,)))
    only_failed = replay.plan(store, ReplayRequest((webhook,), state="failed"))

    assert [(item.target.url, item.webhook.id) for item in every.items] == [
        (APP, webhook),
        (OTHER, webhook),
    ]
    assert [(item.target.url, item.delivery) for item in only_failed.items] == [(OTHER, failed)]
    assert every.skips == only_failed.skips == ()


def test_plan_to_another_target_sends_each_webhook_there_without_a_delivery(
    store: Store,
) -> None:
    forwarded, stored_only = store_webhook(store, [APP]), store_webhook(store)
    planned = replay.plan(store, ReplayRequest((forwarded, stored_only), to=parse_target("3000")))
    assert [(i.webhook.id, i.url, i.delivery) for i in planned.items] == [
        (forwarded, "http://127.0.0.1:3000/hooks", None),
        (stored_only, "http://127.0.0.1:3000/hooks", None),
    ]


def test_plan_leaves_unverified_the_https_targets_named_insecure_or_all_with_insecure(
    store: Store,
) -> None:
    """``insecure_targets`` (listen --tui: the targets listen does not verify) marks those
    alone; ``insecure`` marks every https target; an http one has no certificate either way."""
    secure, loose = "https://127.0.0.1:9443", "https://localhost:9444"
    webhook = store_webhook(store, [secure, loose, APP])

    def marked(request: ReplayRequest) -> list[tuple[str, bool]]:
        return [(i.target.url, i.target.insecure) for i in replay.plan(store, request).items]

    assert marked(ReplayRequest((webhook,))) == [(secure, False), (loose, False), (APP, False)]
    named = ReplayRequest((webhook,), insecure_targets=frozenset({loose}))
    assert marked(named) == [(secure, False), (loose, True), (APP, False)]
    every = ReplayRequest((webhook,), insecure=True)
    assert marked(every) == [(secure, True), (loose, True), (APP, False)]


def test_plan_of_a_filter_goes_oldest_first_and_skips_webhooks_never_forwarded(
    store: Store,
) -> None:
    first, never, last = store_webhook(store, [APP]), store_webhook(store), store_webhook(store)
    fail_delivery(store, first, APP)
    planned = replay.plan(store, ReplayRequest(WebhookFilter(limit=0)))
    assert planned.selected == (first, never, last)
    assert [item.webhook.id for item in planned.items] == [first]
    assert planned.skips == (
        Skip(never, SkipReason.NEVER_FORWARDED),
        Skip(last, SkipReason.NEVER_FORWARDED),
    )
    by_state = replay.plan(store, ReplayRequest(WebhookFilter(limit=0), state="delivered"))
    assert by_state.items == ()
    assert Skip(first, SkipReason.NO_DELIVERY_IN_STATE) in by_state.skips


def test_plan_of_a_filter_that_selects_nothing_says_so(store: Store) -> None:
    store_webhook(store, [APP], path="/stripe")
    planned = replay.plan(store, ReplayRequest(WebhookFilter(path_glob="/github/*", limit=0)))
    assert (planned.selected, planned.items, planned.skips) == ((), (), ())


def test_plan_of_a_named_webhook_never_forwarded_needs_a_target(store: Store) -> None:
    stored_only = store_webhook(store)
    with pytest.raises(UsageError, match=f"#{stored_only} was never forwarded") as raised:
        replay.plan(store, ReplayRequest((stored_only,)))
    assert raised.value.hint is not None and "--to" in raised.value.hint
    with pytest.raises(NotFoundError):
        replay.plan(store, ReplayRequest((stored_only + 1,), to=parse_target("3000")))


def test_plan_refuses_a_target_not_on_this_machine_unless_allowed(store: Store) -> None:
    webhook = store_webhook(store)
    remote = parse_target("http://192.0.2.1:8080")  # TEST-NET-1: an address, nothing resolved
    with pytest.raises(UsageError, match="not on this machine"):
        replay.plan(store, ReplayRequest((webhook,), to=remote))
    allowed = replay.plan(store, ReplayRequest((webhook,), to=remote, allow_remote=True))
    assert [item.target for item in allowed.items] == [remote]


# --- plan: re-signing and warnings --------------------------------------------------------------


def test_plan_with_another_body_notes_only_the_schemes_that_sign_the_body(store: Store) -> None:
    stripe = store_webhook(store, [APP], scheme="stripe")
    gitlab = store_webhook(store, [APP], scheme="gitlab")
    mailgun = store_webhook(store, [APP], scheme="mailgun")
    unsigned = store_webhook(store, [APP])

    def warnings(*ids: int, body: bytes | None = b"{}") -> tuple[object, ...]:
        return replay.plan(store, ReplayRequest(ids, body=body)).warnings

    assert warnings(stripe, gitlab, mailgun, unsigned) == (SignatureNoLongerMatches(("stripe",)),)
    assert warnings(gitlab, mailgun, unsigned) == ()
    assert warnings(stripe, body=None) == ()


def test_plan_with_the_same_body_again_warns_of_nothing(store: Store) -> None:
    """``--body-file`` holding the stored bytes: the sender's signature still matches."""
    stripe = store_webhook(store, [APP], scheme="stripe")
    assert replay.plan(store, ReplayRequest((stripe,), body=BODY)).warnings == ()
    edited = replay.plan(store, ReplayRequest((stripe,), body=BODY + b"\n")).warnings
    assert edited == (SignatureNoLongerMatches(("stripe",)),)


def test_plan_with_resign_decides_per_webhook_and_signs_only_what_verifies(
    store: Store,
) -> None:
    arrived = int(time.time()) - 60
    valid = store_webhook(store, [APP, OTHER], signature=stripe_signature(BODY, arrived))
    forged = store_webhook(store, [APP], signature=b"t=1,v1=deadbeef")
    planned = replay.plan(
        store, ReplayRequest((valid, forged), body=b"{}", resign=Resign(secret()))
    )
    decisions = {(i.webhook.id, i.target.url): i.resign for i in planned.items}
    assert [d.resign for d in decisions.values() if d is not None] == [True, True, False]
    forged_decision = decisions[(forged, APP)]
    assert forged_decision is not None and "not valid" in forged_decision.why
    # Nothing forced. With another body, the forged one goes under the sender's signature:
    assert planned.warnings == (SignatureNoLongerMatches(("stripe",)),)
    alone = replay.plan(store, ReplayRequest((valid,), body=b"{}", resign=Resign(secret())))
    assert alone.warnings == ()  # signed afresh, over the new body


def test_plan_with_resign_unverified_warns_of_each_webhook_it_signs_unchecked(
    store: Store,
) -> None:
    forged = store_webhook(store, [APP, OTHER], signature=b"t=1,v1=deadbeef")
    unsigned = store_webhook(store, [APP])
    request = ReplayRequest((forged, unsigned), resign=Resign(secret(), "stripe", unverified=True))
    planned = replay.plan(store, request)
    assert [type(w) for w in planned.warnings] == [ResignedUnverified, ResignedUnverified]
    assert [w.webhook_id for w in planned.warnings if isinstance(w, ResignedUnverified)] == [
        forged,
        unsigned,
    ]
    assert all(item.resign is not None and item.resign.resign for item in planned.items)


def test_resign_needs_a_secret_that_can_be_the_named_schemes_key() -> None:
    with pytest.raises(UsageError, match="--resign needs the secret"):
        Resign(())
    with pytest.raises(UsageError, match="cannot be a standard-webhooks key"):
        Resign(secret("whsec_not base64!"), "standard-webhooks")
    with pytest.raises(UsageError, match="unknown provider"):
        Resign(secret(), "nosuchscheme")


def test_plan_refuses_secrets_none_of_which_can_sign_for_the_webhooks_scheme(
    store: Store,
) -> None:
    """A secret that cannot sign for the scheme the webhook names (here a Standard Webhooks
    public key, which only verifies) is a typo, not a reason to send it as received."""
    headers = ((b"Host", b"x"), (b"webhook-id", b"msg_1"), (b"webhook-timestamp", b"1"),
               (b"webhook-signature", b"v1a,AAAA"))  # fmt: skip
    capture = Capture("POST", "/sw", "", headers, BODY, "1.1", None, 1_000_000)
    summary, _ = store.run(lambda db: insert_webhook(db, capture, [APP]))
    public_key = "whpk_" + "A" * 43 + "="
    with pytest.raises(
        UsageError, match=rf"--secret #1 cannot sign for standard-webhooks \(#{summary.id}\)"
    ):
        replay.plan(store, ReplayRequest((summary.id,), resign=Resign(secret(public_key))))


# --- run: send, record, stop ------------------------------------------------------------------


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with target_server() as server:
        yield server


async def test_run_sends_each_item_in_order_and_records_its_attempt(
    store: Store, target: TargetServer
) -> None:
    first = store_webhook(store, [target.url], path="/a")
    second = store_webhook(store, [target.url], path="/b")
    failed = fail_delivery(store, first, target.url)
    [tried] = store.attempts(first)
    planned = replay.plan(store, ReplayRequest((first, second), extra_headers=(("X-Try", "2"),)))
    async with Sender() as sender:
        attempts = [attempt async for attempt in replay.run(planned, store, sender)]

    assert [(a.webhook_id, a.status, a.trigger) for a in attempts] == [
        (first, 200, "replay"),
        (second, 200, "replay"),
    ]
    assert all(a.id for a in attempts)  # yielded once stored
    assert [r.path_qs for r in target.requests] == ["/a", "/b"]
    assert [r.header("X-Try") for r in target.requests] == ["2", "2"]
    assert [a.id for a in store.attempts(first)] == [tried.id, attempts[0].id]
    [delivery] = [d for d in store.deliveries(first) if d.id == failed]
    assert delivery.state == DeliveryState.DELIVERED  # a successful replay delivers it


async def test_run_stopped_after_the_first_attempt_sends_and_records_no_more(
    store: Store, target: TargetServer
) -> None:
    """A front end that stops iterating (Ctrl-C, a TUI's cancel) leaves what was yielded as
    what was done: nothing further is sent or recorded."""
    ids = tuple(store_webhook(store, path=f"/{n}") for n in range(3))
    planned = replay.plan(store, ReplayRequest(ids, to=parse_target(target.url)))
    async with Sender() as sender:
        run = replay.run(planned, store, sender)
        done = [await anext(run)]
        await run.aclose()

    assert [a.webhook_id for a in done] == [ids[0]]
    assert [r.path_qs for r in target.requests] == ["/0"]
    assert [len(store.attempts(i)) for i in ids] == [1, 0, 0]
