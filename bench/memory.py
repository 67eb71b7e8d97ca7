"""Memory benchmark: peak RSS of ``whrelay listen`` and its storage process while many large
bodies arrive at once, against the in-flight body budget.

Starts ``whrelay listen`` (default settings: ``--max-body 25MiB``, so a budget of 100 MiB)
on a free port of 127.0.0.1, warms it up, then sends ``--senders`` bodies of ``--size`` bytes
at the same time (20 x 25 MiB by default: 500 MiB offered). While they are in flight it
samples the resident memory of both processes every 10 ms, and prints each one's growth over
its idle size, their sum, and that sum as a multiple of the budget, then each one's size a
second after the last answer (memory freed but kept by the C allocator shows there). Senders
refused with 503 (no room within the wait) are counted; every acknowledged body is checked
in the database.

    python bench/memory.py [--senders 20] [--size 25MiB] [--budget SIZE]

Exit status 0 whether or not memory stays within its bound; nonzero only when the harness
fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whrelay.core.defaults import DEFAULT_MAX_BODY, body_budget  # noqa: E402
from whrelay.core.timeparse import parse_size, size_text  # noqa: E402

MiB = 1 << 20
AFTER = 1.0
"""Seconds after the last answer at which the size kept is read."""


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


async def sample(pids: dict[str, int], peaks: dict[str, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for name, pid in pids.items():
            peaks[name] = max(peaks[name], rss_kib(pid))
        await asyncio.sleep(0.01)


async def send_all(url: str, senders: int, size: int) -> dict[int, int]:
    body = os.urandom(size)
    statuses: dict[int, int] = {}
    timeout = aiohttp.ClientTimeout(total=300)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def one(n: int) -> None:
            async with session.post(f"{url}big/{n}", data=body) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(one(n) for n in range(senders)))
    return statuses


async def main_async(args: argparse.Namespace) -> int:
    size = parse_size(args.size)
    budget = body_budget(DEFAULT_MAX_BODY, parse_size(args.budget) if args.budget else 0)
    work = Path(tempfile.mkdtemp(prefix="whrelay-bench-memory-"))
    db = work / "hooks.db"
    command = [sys.executable, "-m", "whrelay", "listen", "--port", "0", "-o", "json"]
    command += ["--db", str(db)] + (["--body-budget", args.budget] if args.budget else [])
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        url = str(ready["url"])
        await send_all(url, 4, 1024)  # warm-up: the storage process is running
        pids = {"listen": proc.pid}
        deadline = time.monotonic() + 10
        while len(pids) < 2 and time.monotonic() < deadline:
            for child in children(proc.pid):
                pids["storage process"] = child
            await asyncio.sleep(0.05)
        idle = {name: rss_kib(pid) for name, pid in pids.items()}
        peaks = dict(idle)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(pids, peaks, stop))
        started = time.monotonic()
        statuses = await send_all(url, args.senders, size)
        took = time.monotonic() - started
        stop.set()
        await sampler
        await asyncio.sleep(AFTER)
        after = {name: rss_kib(pid) for name, pid in pids.items()}
    finally:
        proc.send_signal(2)
        proc.wait(30)
    with sqlite3.connect(db) as con:
        stored = con.execute(
            "SELECT count(*) FROM webhooks WHERE path LIKE '/big/%' AND length(body) = ?",
            (size,),
        ).fetchone()[0]
    growth = {name: (peaks[name] - idle[name]) / 1024 for name in pids}
    total = sum(growth.values())
    offered = args.senders * size / MiB
    print(
        f"memory: {args.senders} senders x {size_text(size)} at once ({offered:.0f} MiB "
        f"offered), in-flight body budget {size_text(budget)}; {took:.1f} s"
    )
    for name in pids:
        print(
            f"  {name:<16} idle {idle[name] / 1024:7.1f} MiB  peak {peaks[name] / 1024:7.1f} MiB"
            f"  growth {growth[name]:7.1f} MiB  after {after[name] / 1024:7.1f} MiB"
        )
    print(f"  both             growth {total:7.1f} MiB = {total * MiB / budget:.2f} x the budget")
    print(f"  answers: {statuses}; stored and checked: {stored}")
    if stored != statuses.get(200, 0):
        print("  ERROR: acknowledged bodies missing from the database")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--size", default="25MiB")
    parser.add_argument("--budget", default=None, help="--body-budget for listen")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
