"""Checkpoint benchmark: how long a batch's senders wait for their answers, with SQLite's
automatic checkpoint (inside the commit that fills the WAL) next to whrelay's (after the
answers, ``whrelay.storage.writer.Checkpoints``).

Runs what the storage process runs for each batch, in this process and without the pipe:
decode three webhooks (the 1 KiB Stripe-like events of ``bench/ingest.py``), commit them
with ``commit_batch``, encode the answers; the time from the start of the batch to the
answers written (to /dev/null) is the batch's answer latency. The same batches go to a
fresh database with each policy, for each durability, alternating ``--rounds`` times, and
the script prints the rows a second, the CPU per row and the answer latency's percentiles
of each, then the ratios (automatic / after the answers).

    python bench/checkpoints.py [--batches 6000] [--rounds 2] [--tmpdir DIR]

Not a test: nothing here has a threshold. The exit status is 0 unless the harness fails.
"""

from __future__ import annotations

import argparse
import marshal
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest import make_payload

from whrelay.detect import identify
from whrelay.models import Capture, now_micros
from whrelay.storage import process
from whrelay.storage.jobs import InsertWebhook
from whrelay.storage.store import Durability, Store
from whrelay.storage.writer import Checkpoints, commit_batch

BATCH = 3
"""Webhooks a batch: what the storage process gets at a time under bench/ingest.py's load."""
POLICIES = ("automatic", "after answers")


@dataclass
class Run:
    rows_per_second: float
    cpu_per_row_us: float
    latencies: list[float]

    def percentile(self, fraction: float) -> float:
        """Milliseconds."""
        ordered = self.latencies
        return 1e3 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def frames(count: int) -> list[bytes]:
    """``count`` batches as the storage process receives them."""
    payload = make_payload(1024)
    headers = tuple(
        (name.encode(), value.encode())
        for name, value in [("Host", "127.0.0.1:8000"), *payload.headers.items()]
    )
    made = []
    key = 0
    for _ in range(count):
        jobs = []
        for _ in range(BATCH):
            key += 1
            body = payload.body_for(0, key)
            capture = Capture(
                "POST", "/webhooks/stripe", "", headers, body, "1.1", "127.0.0.1", now_micros()
            )
            job = InsertWebhook(capture, (), None, identify(headers, body))
            jobs.append(process.encode_job(key, job))
        made.append(marshal.dumps(jobs))
    return made


def run(db: Path, durability: Durability, policy: str, batches: list[bytes]) -> Run:
    store = Store(db, durability=durability)
    checkpoints = Checkpoints(store) if policy == "after answers" else None
    sink = os.open(os.devnull, os.O_WRONLY)
    latencies = []
    start, cpu = time.perf_counter(), time.process_time()
    try:
        for frame in batches:
            began = time.perf_counter()
            pending = [process.decode_job(fields) for fields in marshal.loads(frame)]
            results = commit_batch(store, [job for _, _, job in pending])
            answers = [
                (key, kind, process.encode_result(kind, result), None)
                for (key, kind, _), (result, _error) in zip(pending, results, strict=True)
            ]
            os.write(sink, marshal.dumps(answers))
            latencies.append(time.perf_counter() - began)
            if checkpoints is not None:
                checkpoints.committed(len(frame))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        os.close(sink)
        store.close()
    rows = len(batches) * BATCH
    return Run(rows / wall, 1e6 * cpu / rows, sorted(latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=6000, help="batches of 3 per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each policy")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the databases go")
    args = parser.parse_args()
    batches = frames(args.batches)
    print(f"{args.batches} batches of {BATCH} webhooks a run, {args.rounds} rounds\n")
    header = "durability policy          rows/s  cpu/row   p50 ms   p99 ms  p99.9 ms   max ms"
    print(header)
    results: dict[tuple[str, str], list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="whrelay-ckpt-", dir=args.tmpdir) as tmp:
        number = 0
        durabilities: tuple[Durability, ...] = ("normal", "full")
        for durability in durabilities:
            for _ in range(args.rounds):
                for policy in POLICIES:
                    number += 1
                    db = Path(tmp) / f"run{number}.db"
                    got = run(db, durability, policy, batches)
                    results.setdefault((durability, policy), []).append(got)
                    print(
                        f"{durability:<10} {policy:<14} {got.rows_per_second:>8.0f}"
                        f" {got.cpu_per_row_us:>6.1f}us {got.percentile(0.5):>8.3f}"
                        f" {got.percentile(0.99):>8.3f} {got.percentile(0.999):>9.3f}"
                        f" {1e3 * got.latencies[-1]:>8.1f}",
                        flush=True,
                    )
    print("\nratio automatic / after answers (median of rounds; > 1: after answers is better)")
    measures: dict[str, Callable[[Run], float]] = {
        "answer p99": lambda r: r.percentile(0.99),
        "p99.9": lambda r: r.percentile(0.999),
        "cpu/row": lambda r: r.cpu_per_row_us,
    }
    for durability in ("normal", "full"):
        auto, late = results[(durability, POLICIES[0])], results[(durability, POLICIES[1])]
        shown = [
            f"{name} {median(measure, auto) / median(measure, late):.2f}x"
            for name, measure in measures.items()
        ]
        print(f"  {durability:<7} " + "  ".join(shown))


def median(measure: Callable[[Run], float], runs: list[Run]) -> float:
    return statistics.median(measure(each) for each in runs)


if __name__ == "__main__":
    main()
