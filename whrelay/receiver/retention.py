"""``listen --retain``: delete what is older than the retention period while listening, off the
hot path.

A thread of its own, with its own writing ``Store`` connection, runs ``storage.maintenance
.prune`` once at start and then periodically: the same batches under the cross-process write
lock as ``whrelay prune``, so the storage process goes on committing (and senders on being
acknowledged) between two batches. A webhook with a delivery still pending is never deleted.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from whrelay.core.config import Durability
from whrelay.core.errors import WhrelayError
from whrelay.core.events import ListenEvent, PruneFailed, WebhooksPruned
from whrelay.core.models import now_micros
from whrelay.storage import Store
from whrelay.storage.maintenance import PruneRule, prune

LONGEST_INTERVAL = 60.0
SHORTEST_INTERVAL = 1.0


def prune_interval(retain: float) -> float:
    """Seconds between two passes: a tenth of the retention period, so that nothing outlives
    it by more than a tenth, but at most a minute (a pass over nothing costs a query) and at
    least a second."""
    return min(LONGEST_INTERVAL, max(SHORTEST_INTERVAL, retain / 10))


class Pruner:
    """Prunes ``db_path`` of webhooks older than ``retain`` seconds, in a thread, reporting
    each pass that deleted something (and each that failed) to ``report``, from that thread."""

    def __init__(
        self,
        db_path: Path,
        retain: float,
        durability: Durability,
        report: Callable[[ListenEvent], None],
    ) -> None:
        self.db_path = db_path
        self.retain = retain
        self.durability: Durability = durability
        self.report = report
        self.interval = prune_interval(retain)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="whrelay-retain", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the batch under way (if any), and wait for that."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.prune_once()
            self._stopping.wait(self.interval)

    def prune_once(self) -> int:
        """One pass; how many webhooks it deleted."""
        before = now_micros() - int(self.retain * 1_000_000)
        try:
            with Store(self.db_path, durability=self.durability, create=False) as store:
                result = prune(store, PruneRule(older_than=before), stopping=self._stopping.is_set)
        except WhrelayError as error:
            self.report(PruneFailed(error.message))
            return 0
        except sqlite3.Error as error:
            self.report(PruneFailed(str(error)))
            return 0
        if result.webhooks:
            self.report(WebhooksPruned(result.webhooks, before))
        return result.webhooks
