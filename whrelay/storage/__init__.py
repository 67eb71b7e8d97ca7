"""Storage: the SQLite store, its migrations, the cross-process write lock, group commit."""

from whrelay.storage.store import Durability, Store, WebhookFilter
from whrelay.storage.writer import AsyncWriter, GroupCommitWriter, Outcome

__all__ = ["AsyncWriter", "Durability", "GroupCommitWriter", "Outcome", "Store", "WebhookFilter"]
