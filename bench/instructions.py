"""Work per relayed webhook, counted in instructions: a measure the machine's noise cannot move.

Wall-clock ratios on a shared 2-core machine swing by 5-10% between runs, too much to see a
change of a few percent. This counts the CPU instructions (valgrind's callgrind) that
``whrelay listen -f <target>`` spends on each webhook: its own process (receive, acknowledge,
forward) and the storage process (store, record the attempt), apart. One client sends N
Stripe-like 1,500-byte webhooks one after another, each with its own event id, to a bare
target behind listen; the run waits until every one is delivered, then stops listen. The
same run with no webhook gives what starting and stopping cost, subtracted. Counts repeat
to within a fraction of a percent from run to run.

``--against REV`` measures a commit the same way, from a temporary worktree of it, and prints
the ratio of the two: what a change costs on every webhook, with nothing else in the way.

    python bench/instructions.py [--webhooks 1500] [--against 485b0d5]

Needs ``valgrind`` (``apt-get install valgrind``). Under it whrelay runs some 50 times slower:
a side takes about a minute. Everything binds 127.0.0.1 and runs in a temporary directory,
removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ingest import MEASURED_PHASE, make_payload

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BODY_BYTES = 1500


@dataclass(frozen=True)
class Work:
    """Instructions by process: ``listen`` and ``storage``."""

    listen: int
    storage: int

    def per_webhook(self, idle: Work, webhooks: int) -> Work:
        return Work(
            (self.listen - idle.listen) // webhooks, (self.storage - idle.storage) // webhooks
        )

    @property
    def total(self) -> int:
        return self.listen + self.storage


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/_whrelay/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"nothing answered on port {port}")


def delivered(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as reader:
        row = reader.execute("SELECT count(*) FROM deliveries WHERE state = 'delivered'")
        return int(row.fetchone()[0])


def measure(checkout: Path, webhooks: int, workdir: Path) -> Work:
    """Run ``checkout``'s listen under callgrind for ``webhooks`` webhooks; its counts."""
    out = workdir / f"{checkout.name}-{webhooks}"
    out.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(checkout), "WHRELAY_DATA_DIR": str(out)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the code is compiled once, as a user's is
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "whrelay")], env=env)
    target_port, listen_port = free_port(), free_port()
    db = out / "hooks.db"
    target = subprocess.Popen(
        [sys.executable, str(BENCH / "_bare_server.py"), "--port", str(target_port)], env=env
    )
    listen = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--trace-children=yes",
         f"--callgrind-out-file={out}/callgrind.%p",
         sys.executable, "-m", "whrelay", "listen", "--port", str(listen_port),
         "-f", str(target_port), "--output", "quiet", "--db", str(db)],
        env=env, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        wait_healthy(target_port, deadline)
        wait_healthy(listen_port, deadline)
        payload = make_payload(BODY_BYTES)
        client = http.client.HTTPConnection("127.0.0.1", listen_port, timeout=120)
        for number in range(1, webhooks + 1):
            client.request(
                "POST", "/hooks/stripe", payload.body_for(MEASURED_PHASE, number), payload.headers
            )
            answer = client.getresponse()
            answer.read()
            if answer.status != 200:
                raise SystemExit(f"webhook {number} was answered {answer.status}")
        client.close()
        while webhooks and delivered(db) < webhooks:
            if time.monotonic() > deadline + 600:
                raise SystemExit(f"only {delivered(db)} of {webhooks} delivered")
            time.sleep(0.5)
    finally:
        listen.send_signal(signal.SIGINT)
        listen.wait(300)
        target.send_signal(signal.SIGINT)
        target.wait(30)
    counts = {"listen": 0, "storage": 0}
    for path in out.glob("callgrind.*"):
        text = path.read_text(errors="replace")
        command = next((line for line in text.splitlines() if line.startswith("cmd:")), "")
        total = next(
            int(line.split()[1])
            for line in text.splitlines()
            if line.startswith(("summary:", "totals:"))
        )
        counts["storage" if "storage.process" in command else "listen"] += total
    return Work(counts["listen"], counts["storage"])


def per_webhook(checkout: Path, webhooks: int, workdir: Path) -> Work:
    print(f"  {checkout}: idle, then {webhooks:,} webhooks...", file=sys.stderr, flush=True)
    idle = measure(checkout, 0, workdir)
    return measure(checkout, webhooks, workdir).per_webhook(idle, webhooks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=1500)
    parser.add_argument("--against", metavar="REV", help="a commit to compare with")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="whrelay-bench-instructions-") as tmp:
        workdir = Path(tmp)
        sides = {"this checkout": per_webhook(ROOT, args.webhooks, workdir)}
        if args.against:
            other = workdir / "against"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(other),
                 args.against],
                check=True,
            )  # fmt: skip
            try:
                sides[args.against] = per_webhook(other, args.webhooks, workdir)
            finally:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)]
                )
        print(
            f"instructions per webhook relayed ({args.webhooks:,} webhooks of {BODY_BYTES} B, "
            "one at a time, each stored, forwarded and delivered)"
        )
        print(f"{'':<16} {'listen':>12} {'storage':>12} {'total':>12}")
        for name, work in sides.items():
            print(f"{name:<16} {work.listen:>12,} {work.storage:>12,} {work.total:>12,}")
        if args.against:
            mine, theirs = sides["this checkout"], sides[args.against]
            print(
                f"{'ratio':<16} {mine.listen / theirs.listen:>12.3f} "
                f"{mine.storage / theirs.storage:>12.3f} {mine.total / theirs.total:>12.3f}"
            )


if __name__ == "__main__":
    main()
