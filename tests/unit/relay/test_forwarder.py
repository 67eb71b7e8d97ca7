"""``whrelay/relay/forwarder.py``: the lanes that feed targets from the queue."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.forwarding import arrivals
from tests.helpers.targetserver import target_server
from tests.helpers.wait import until
from whrelay.core.models import Delivery, DeliveryState
from whrelay.relay.client import Sender
from whrelay.storage import Store
from whrelay.storage.writer import HealthWatch


async def test_a_lane_outlives_a_webhook_it_cannot_read(tmp_path: Path) -> None:
    """Reading a webhook back for its retry fails with something unexpected: that one waits
    and is tried again; the lane goes on with the others."""
    from whrelay.core.config import ForwardSettings
    from whrelay.core.models import Capture, Webhook, now_micros
    from whrelay.core.targets import parse_target
    from whrelay.relay.forwarder import Forwarder

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

    class Recorded:  # the writer's role here: nothing to keep
        health = HealthWatch()

        async def run(self, job: object) -> None:
            return None

        async def start(self) -> None: ...

        async def close(self) -> None: ...

    try:
        with target_server() as target:
            lane_target = parse_target(str(target.port))
            async with Sender() as sender:
                forwarder = Forwarder(
                    ForwardSettings(targets=(lane_target,)),
                    sender,
                    Recorded(),
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
