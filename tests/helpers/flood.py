"""Many concurrent senders, and checking that every acknowledged request is stored exactly."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from whrelay.core.models import (
    RawHeaders,
)
from whrelay.storage import Store

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Sent:
    """One request a ``Flood`` client sent: enough to check its stored copy byte for byte."""

    seq: int
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def flood_request(seq: int) -> Sent:
    """A unique request: random binary (seeded by ``seq``), or JSON, or a few ASCII bytes."""
    rng = random.Random(seq)
    kind = seq % 4
    if kind == 0:
        body = b"%d" % seq
    elif kind == 1:
        body = json.dumps({"seq": seq, "text": "caf\u00e9 \u2603", "n": rng.random()}).encode()
    else:
        body = b"%d\x00" % seq + rng.randbytes(rng.randint(0, 4096))
    headers = (
        ("X-Seq", str(seq)),
        ("Content-Type", "application/json" if kind == 1 else "application/octet-stream"),
        ("x-MiXeD-Case", f"value {seq}"),
    )
    return Sent(seq=seq, path=f"/flood/{seq}", headers=headers, body=body)


@dataclass
class Flood:
    """``clients`` concurrent aiohttp clients POSTing unique requests until ``stop()``.

    Every request answered 200 lands in ``acked`` under the id the receiver gave it.
    """

    url: str
    clients: int = 32
    sent: dict[int, Sent] = field(default_factory=dict)
    acked: dict[int, Sent] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    _next: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(self._client(session) for _ in range(self.clients)))

    async def wait_acked(self, count: int, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while len(self.acked) < count:
                await asyncio.sleep(0.01)

    async def _client(self, session: aiohttp.ClientSession) -> None:
        base = self.url.rstrip("/")
        while not self._stopping.is_set():
            request = flood_request(self._next)
            self._next += 1
            self.sent[request.seq] = request
            try:
                async with session.post(
                    base + request.path, data=request.body, headers=dict(request.headers)
                ) as response:
                    payload = await response.read()
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                    if response.status != 200:
                        continue
                    webhook_id = int(response.headers["X-Whrelay-Id"])
                    assert json.loads(payload) == {"stored": True, "id": webhook_id}
                    assert webhook_id not in self.acked, f"id {webhook_id} acknowledged twice"
                    self.acked[webhook_id] = request
            except (aiohttp.ClientError, OSError, TimeoutError):
                self.errors += 1
                await asyncio.sleep(0.01)


def sent_headers_kept(stored: RawHeaders, sent: Sent) -> bool:
    """Whether the headers ``sent`` chose are in ``stored``, in order, byte for byte."""
    names = {name.lower().encode() for name, _ in sent.headers}
    ours = [(k, v) for k, v in stored if k.lower() in names]
    return ours == [(k.encode(), v.encode()) for k, v in sent.headers]


def assert_stored_exactly(db: Path, acked: dict[int, Sent]) -> None:
    """Every acknowledged request is in ``db`` under its id: path, headers and body exact."""
    with Store(db, readonly=True) as store:
        for webhook_id, sent in sorted(acked.items()):
            webhook = store.get_webhook(webhook_id)
            assert webhook.summary.method == "POST"
            assert webhook.summary.path == sent.path, webhook_id
            assert webhook.body == sent.body, f"id {webhook_id} (seq {sent.seq}): body differs"
            assert sent_headers_kept(webhook.headers, sent), (webhook_id, webhook.headers)
            assert webhook.header("Content-Length") == str(len(sent.body))
