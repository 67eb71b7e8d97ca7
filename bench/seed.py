"""Seeded whrelay databases for the history and TUI benchmarks: ``seeded(count)`` returns the
path of a database holding ``count`` realistic webhooks, made once and kept in a cache folder
(``--cache`` or ``$XDG_CACHE_HOME/whrelay-bench``) for later runs.

The webhooks are what a month of development traffic looks like: Stripe, GitHub, Shopify,
Slack, Standard Webhooks and plain senders, JSON bodies of 300 B to 8 KiB (mostly about
1 KiB), arrival times spread over 30 days, each forwarded to one target (most delivered, some
failed after retries, a few pending), verdicts of every kind, the odd duplicate. They are
written through whrelay's own ``insert_webhook``, so every index and table is as ``listen``
leaves it.

    python bench/seed.py 1000000        # make (or find) it, print its path and size
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whrelay.core.models import Attempt, Capture, DeliveryState, Trigger, Verdict  # noqa: E402
from whrelay.storage import Store  # noqa: E402
from whrelay.storage.migrations import SCHEMA_VERSION  # noqa: E402
from whrelay.storage.store import insert_webhook, record_attempt  # noqa: E402

SEED_VERSION = 2
"""Bumped when what is seeded changes, so a cached database of the old kind is not reused."""
START = 1_790_000_000_000_000
"""UTC microseconds of the oldest webhook (a fixed moment: the databases are reproducible)."""
SPAN = 30 * 24 * 3600 * 1_000_000
TARGET = "http://127.0.0.1:3000"
BATCH = 5000

PROVIDERS = (
    ("stripe", 40),
    ("github", 30),
    ("shopify", 8),
    ("slack", 5),
    ("standard-webhooks", 7),
    (None, 10),
)
EVENTS = {
    "stripe": ["payment_intent.succeeded", "invoice.paid", "customer.created", "charge.refunded"],
    "github": ["push", "pull_request", "issues", "workflow_run", "check_suite"],
    "shopify": ["orders/create", "products/update", "app/uninstalled"],
    "slack": ["event_callback"],
    "standard-webhooks": ["user.created", "invoice.created"],
    None: ["ping"],
}


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "whrelay-bench"


def _body(rng: random.Random, event: str, number: int) -> bytes:
    size = int(min(8192, max(300, rng.lognormvariate(6.9, 0.6))))  # median about 1 KiB
    record = {"id": f"evt_{number:012d}", "type": event, "created": number, "data": {}}
    filler = "x" * max(0, size - len(json.dumps(record)) - 20)
    record["data"] = {"object": {"description": filler, "amount": rng.randrange(100, 99999)}}
    return json.dumps(record, separators=(",", ":")).encode()


def _headers(provider: str | None, event: str, number: int) -> tuple[tuple[bytes, bytes], ...]:
    common = ((b"Host", b"127.0.0.1:8642"), (b"Content-Type", b"application/json"))
    stamp = b"%d" % (1_790_000_000 + number)
    if provider == "stripe":
        return (*common, (b"Stripe-Signature", b"t=" + stamp + b",v1=" + b"ab" * 32))
    if provider == "github":
        return (
            *common,
            (b"X-GitHub-Event", event.encode()),
            (b"X-GitHub-Delivery", b"%036d" % number),
            (b"X-Hub-Signature-256", b"sha256=" + b"cd" * 32),
        )
    if provider == "shopify":
        return (*common, (b"X-Shopify-Topic", event.encode()), (b"X-Shopify-Hmac-Sha256", b"x="))
    if provider == "slack":
        return (*common, (b"X-Slack-Request-Timestamp", stamp), (b"X-Slack-Signature", b"v0=ef"))
    if provider == "standard-webhooks":
        return (
            *common,
            (b"webhook-id", b"msg_%d" % number),
            (b"webhook-timestamp", stamp),
            (b"webhook-signature", b"v1,AAAA"),
        )
    return common


def _verdict(rng: random.Random, provider: str | None) -> Verdict:
    if provider is None:
        return Verdict("unverified", None, None, "no signature scheme recognized")
    roll = rng.random()
    if roll < 0.85:
        return Verdict("valid", provider, "ok", "signature matches")
    if roll < 0.95:
        return Verdict("unverified", provider, "no_secret", "no secret given to listen")
    return Verdict("invalid", provider, "bad_signature", "no signature matches")


def seed(path: Path, count: int) -> None:
    rng = random.Random(count)
    names = [p for p, _ in PROVIDERS]
    weights = [w for _, w in PROVIDERS]
    times = sorted(START + rng.randrange(SPAN) for _ in range(count))
    started = time.monotonic()
    with Store(path, durability="normal") as store:
        store.db.execute("PRAGMA synchronous = OFF")
        for offset in range(0, count, BATCH):

            def batch(db: sqlite3.Connection, offset: int = offset) -> None:
                for number in range(offset, min(count, offset + BATCH)):
                    provider = rng.choices(names, weights)[0]
                    event = rng.choice(EVENTS[provider])
                    capture = Capture(
                        "POST",
                        f"/hooks/{provider or 'plain'}",
                        "",
                        _headers(provider, event, number),
                        _body(rng, event, number),
                        "1.1",
                        "127.0.0.1",
                        times[number],
                    )
                    summary, deliveries = insert_webhook(
                        db, capture, (TARGET,), _verdict(rng, provider)
                    )
                    _settle(db, rng, summary.id, deliveries[0].id, capture)

            store.run(batch)
            done = min(count, offset + BATCH)
            if done % 100_000 == 0 or done == count:
                rate = done / (time.monotonic() - started)
                print(f"  seeded {done:,} of {count:,} ({rate:,.0f}/s)", file=sys.stderr)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _settle(
    db: sqlite3.Connection, rng: random.Random, webhook_id: int, delivery: int, capture: Capture
) -> None:
    """Attempts for the delivery: most delivered at once, some after retries, some failed
    after retries, a few still pending."""
    roll = rng.random()
    if roll < 0.03:
        return
    delivered = roll < 0.92
    tries = 1 if roll < 0.85 else rng.randrange(2, 5)
    for n in range(tries):
        last = n == tries - 1
        ok = delivered and last
        attempt = Attempt(
            webhook_id,
            delivery,
            Trigger.FIRST if n == 0 else Trigger.RETRY,
            TARGET + capture.path,
            (),
            capture.received_at + n * 1_000_000,
            1500,
            200 if ok else 500,
            ((b"Content-Type", b"application/json"),),
            b'{"ok":true}' if ok else b'{"error":"boom"}',
        )
        state = DeliveryState.PENDING
        if last:
            state = DeliveryState.DELIVERED if delivered else DeliveryState.FAILED
        record_attempt(
            db,
            attempt,
            state=state,
            next_attempt_at=None if last else capture.received_at + (n + 1) * 1_000_000,
            now_us=capture.received_at + (n + 1) * 1_000_000,
        )


def seeded(count: int, cache: Path | None = None) -> Path:
    """The path of a database of ``count`` seeded webhooks, made if not cached yet."""
    folder = cache or default_cache()
    folder.mkdir(parents=True, exist_ok=True)
    # Named by the schema too: a database cached by a whrelay of another schema version is
    # one the readers under test refuse (and must not be upgraded under another's feet).
    path = folder / f"history-v{SEED_VERSION}-schema{SCHEMA_VERSION}-{count}.db"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    for leftover in folder.glob(partial.name + "*"):
        leftover.unlink()
    print(f"seeding {count:,} webhooks into {path} (once; later runs reuse it)", file=sys.stderr)
    seed(partial, count)
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    partial.rename(path)
    for sidecar in folder.glob(partial.name + "-*"):
        sidecar.unlink()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    path = seeded(args.count, args.cache)
    print(f"{path}  {path.stat().st_size / (1 << 20):,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
