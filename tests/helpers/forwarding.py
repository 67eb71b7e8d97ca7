"""Forwarding: listeners with quick retries, what was delivered and attempted, targets down."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import aiohttp

from tests.helpers.processes import (
    ROOT,
    Listener,
    whrelay_cmd,
)
from tests.helpers.rawserver import self_signed
from tests.helpers.targetserver import Recorded, TargetServer, target_server
from tests.helpers.wait import until
from whrelay.core.models import Attempt, Delivery
from whrelay.storage import Store

# --- helpers -----------------------------------------------------------------------------------


async def post_all(url: str, bodies: Sequence[bytes], path: str = "/hook") -> list[int]:
    """POST each body in turn (one at a time, so arrival order is list order); their ids."""
    ids = []
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            async with session.post(url.rstrip("/") + path, data=body) as response:
                assert response.status == 200, await response.text()
                ids.append(int(response.headers["X-Whrelay-Id"]))
    return ids


async def post(url: str, body: bytes, path: str = "/hook") -> int:
    return (await post_all(url, [body], path))[0]


def deliveries(db: Path, webhook_id: int) -> list[Delivery]:
    with Store(db, readonly=True) as store:
        return store.deliveries(webhook_id)


def attempts(db: Path, webhook_id: int) -> list[Attempt]:
    with Store(db, readonly=True) as store:
        return store.attempts(webhook_id)


async def settled(
    db: Path, ids: Sequence[int], state: str = "delivered", timeout: float = 20
) -> list[Delivery]:
    """Wait until every delivery of every webhook in ``ids`` is in ``state``; return them."""

    def check() -> list[Delivery] | None:
        found = [d for webhook_id in ids for d in deliveries(db, webhook_id)]
        if (
            found
            and all(d.state == state for d in found)
            and {d.webhook_id for d in found} == set(ids)
        ):
            return found
        return None

    return await until(check, f"deliveries of {list(ids)} to be {state}", timeout)


async def events(listener: Listener, kind: str, count: int = 1) -> list[dict[str, object]]:
    return await asyncio.to_thread(listener.wait_for_events, kind, count)


async def arrivals(target: TargetServer, count: int, timeout: float = 20) -> list[Recorded]:
    return await asyncio.to_thread(target.wait_for, count, timeout)


def down_target() -> TargetServer:
    """A started target that is down (its port refuses connections); ``close()`` it."""
    target = TargetServer().start()
    target.down()
    return target


def run_concurrently(*argvs: Sequence[str]) -> list[subprocess.CompletedProcess[bytes]]:
    """Run several ``whrelay`` commands at once (read-only ones); their results, in order."""
    procs = [
        subprocess.Popen(
            whrelay_cmd(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
        )
        for argv in argvs
    ]
    results = []
    for argv, proc in zip(argvs, procs, strict=True):
        out, err = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(list(argv), proc.returncode, out, err))
    return results


def error_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if line.startswith("whrelay: error:")]


# --- replay's output: the bar, the summary, Ctrl-C ------------------------------------------------

STRIPE_SECRET = "whsec_deliveryTestSecret"


def stored_forwarded(
    db: Path, target: str, count: int, *, age_s: float = 60, stripe: bool = False
) -> list[int]:
    """``count`` webhooks stored as listen stores them, ``age_s`` seconds ago, each with a
    delivery to ``target``; with ``stripe``, signed by Stripe at their arrival and judged
    valid. Their ids."""
    from whrelay.core.models import Capture, Verdict
    from whrelay.signatures import Message, get_scheme
    from whrelay.storage.store import insert_webhook

    arrived = time.time() - age_s
    ids = []
    with Store(db) as store:
        for n in range(count):
            body = b'{"id":"evt_%d","type":"invoice.paid"}' % n
            headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
            verdict = None
            if stripe:
                signed = get_scheme("stripe").sign(
                    Message(body, headers), STRIPE_SECRET, int(arrived)
                )
                headers = signed.headers
                verdict = Verdict("valid", "stripe", "ok")
            raw = tuple((k.encode(), v.encode()) for k, v in headers)
            capture = Capture(
                "POST", f"/hooks/{n}", "", raw, body, "1.1", "127.0.0.1", int(arrived * 1e6)
            )
            summary, _ = store.run(
                partial(insert_webhook, capture=capture, targets=[target], verdict=verdict)
            )
            ids.append(summary.id)
    return ids


# --- helpers -------------------------------------------------------------------------------------


def stored_attempts(db: Path, webhook_id: int) -> list[Attempt]:
    with Store(db, readonly=True) as store:
        return store.attempts(webhook_id)


async def attempts_made(
    db: Path, webhook_id: int, count: int, timeout: float = 10
) -> list[Attempt]:
    """Wait until ``count`` attempts of ``webhook_id`` are recorded in ``db``; return them."""
    await until(
        lambda: len(stored_attempts(db, webhook_id)) >= count,
        f"{count} attempt(s) of webhook #{webhook_id} to be recorded",
        timeout,
    )
    return stored_attempts(db, webhook_id)


def post_bytes(path: bytes, body: bytes, *headers: bytes) -> bytes:
    """A raw POST with header lines given as bytes (any bytes, not only UTF-8)."""
    head = b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += b"Content-Length: %d\r\n" % len(body)
    head += b"".join(line + b"\r\n" for line in headers)
    return head + b"Connection: close\r\n\r\n" + body


# --- https targets with a self-signed certificate ----------------------------------------------
#
# A dev server's usual https set-up: a certificate it made itself, which no client trusts by
# default (``self_signed`` writes it to FOLDER/cert.pem). Each target below is a real https
# server on 127.0.0.1.


def https_target(folder: Path) -> contextlib.AbstractContextManager[TargetServer]:
    """A recording https target whose self-signed certificate is ``folder/cert.pem``."""
    folder.mkdir(exist_ok=True)
    return target_server(tls=self_signed(folder))
