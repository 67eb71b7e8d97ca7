"""``whrelay/relay/forwarder.py``: the lanes that feed targets from the queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.captures import capture
from tests.helpers.forwarding import arrivals
from tests.helpers.targetserver import target_server
from tests.helpers.wait import until
from whrelay.core.config import ForwardSettings, VerifySettings
from whrelay.core.events import DeliveryAttempted, ListenEvent
from whrelay.core.models import Capture, Delivery, DeliveryState, Webhook, now_micros
from whrelay.core.targets import Route, parse_target
from whrelay.relay.client import Sender
from whrelay.relay.forwarder import Forwarder
from whrelay.render.webhooks import stale_text
from whrelay.storage import Store
from whrelay.storage.writer import HealthWatch


class NoRecords:
    """The writer's role, keeping nothing."""

    health = HealthWatch()

    async def run(self, job: object) -> None:
        return None

    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def test_a_lane_outlives_a_webhook_it_cannot_read(tmp_path: Path) -> None:
    """Reading a webhook back for its retry fails with something unexpected: that one waits
    and is tried again; the lane goes on with the others."""
    db = tmp_path / "lane.db"
    with Store(db) as store:
        stored = store.insert_webhooks(
            [Capture("POST", "/h", "", (), b"w%d" % i, "1.1", "127.0.0.1", now_micros())
             for i in range(3)]
        )  # fmt: skip
    reader = Store(db, readonly=True)
    reads: list[int] = []

    async def load(webhook_id: int, delivery_id: int) -> Webhook:
        reads.append(webhook_id)
        if webhook_id == stored[0].id:
            raise ValueError("a row this reader cannot decode")
        return reader.get_webhook(webhook_id)

    try:
        with target_server() as target:
            lane_target = parse_target(str(target.port))
            async with Sender() as sender:
                forwarder = Forwarder(
                    ForwardSettings(targets=(lane_target,)),
                    sender,
                    NoRecords(),
                    load,
                    lambda e: None,
                )
                now = now_micros()
                forwarder.start(
                    [Delivery(i + 1, w.id, lane_target.url, DeliveryState.PENDING, 1, now, now, now)
                     for i, w in enumerate(stored)]
                )  # fmt: skip
                await arrivals(target, 2)
                await until(lambda: reads.count(stored[0].id) >= 2 or None, "a second read")
                runner = forwarder.lanes[lane_target.url].runner
                assert runner is not None and not runner.done()
                await forwarder.stop()
    finally:
        reader.close()
    assert sorted(target.bodies) == [b"w1", b"w2"]


LISTEN_TYPED = VerifySettings(secrets=("pdl_ntfset_typed",))
LISTEN_BOTH = VerifySettings(
    secrets=("pdl_ntfset_typed", "pdl_ntfset_fromenv"), secret_envs=("PADDLE_SECRET",)
)


@pytest.mark.parametrize(
    ("path", "verify", "envs", "typed", "fix"),
    [
        # The route names its own secrets (two variables): those, not listen's typed one.
        ("/rotated/x", LISTEN_TYPED, ("OLD", "NEW"), False, "--secret-env OLD --secret-env NEW"),
        # A route with no secret of its own, or none: listen's.
        ("/plain/x", LISTEN_TYPED, (), True, "--secret SECRET (listen's --secret)"),
        ("/x", LISTEN_BOTH, ("PADDLE_SECRET",), True, "--secret-env PADDLE_SECRET --secret"),
        ("/x", VerifySettings(), (), False, "--secret-env VAR"),
    ],
)
async def test_a_stale_signature_names_the_secrets_that_check_its_webhook(
    tmp_path: Path,
    path: str,
    verify: VerifySettings,
    envs: tuple[str, ...],
    typed: bool,
    fix: str,
) -> None:
    """A webhook forwarded after its scheme's tolerance and refused: the fix names the
    secrets that check it by the rule ``keys_for`` follows (its route's own where it names
    them, else listen's), every variable, and says when one was typed (no variable to name)."""
    db = tmp_path / "stale.db"
    headers = ((b"Paddle-Signature", b"ts=1;h1=" + b"0" * 64),)
    arrived = now_micros() - 60_000_000  # a minute ago: Paddle allows 5 s
    with Store(db) as store:
        [webhook] = store.insert_webhooks([capture(path, headers=headers, received_at=arrived)])
    emitted: list[ListenEvent] = []
    with target_server() as target, Store(db, readonly=True) as reader:
        target.reply(401, body=b"invalid signature")
        lane_target = parse_target(str(target.port))
        routes = (
            Route("/rotated/*", lane_target, "paddle", ("pdl_old", "pdl_new"), ("OLD", "NEW")),
            Route("/plain/*", lane_target, "paddle"),
        )

        async def load(webhook_id: int, delivery_id: int) -> Webhook:
            return reader.get_webhook(webhook_id)

        async with Sender() as sender:
            forwarder = Forwarder(
                ForwardSettings(targets=(lane_target,), routes=routes),
                sender,
                NoRecords(),
                load,
                emitted.append,
                verify=verify,
            )
            now = now_micros()
            forwarder.start(
                [Delivery(1, webhook.id, lane_target.url, DeliveryState.PENDING, 0, now, now, now)]
            )
            await until(lambda: emitted, "the attempt")
            await forwarder.stop()
    [event] = emitted
    assert isinstance(event, DeliveryAttempted) and event.stale is not None, event
    assert (event.stale.secret_envs, event.stale.secret_typed) == (envs, typed)
    hint = stale_text(webhook.id, event.stale).plain
    assert f"whrelay replay {webhook.id} --resign {fix}" in hint, hint
