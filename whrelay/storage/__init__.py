"""Storage: the SQLite store, its migrations, the cross-process write lock, group commit.

The writers (which need threads and asyncio) load on first use, so read-only commands such as
``whrelay list`` start fast.
"""

from typing import TYPE_CHECKING, Any

from whrelay.storage.store import Durability, Store, WebhookFilter

if TYPE_CHECKING:
    from whrelay.storage.writer import AsyncWriter, GroupCommitWriter, Outcome

__all__ = ["AsyncWriter", "Durability", "GroupCommitWriter", "Outcome", "Store", "WebhookFilter"]


def __getattr__(name: str) -> Any:
    if name in ("AsyncWriter", "GroupCommitWriter", "Outcome"):
        from whrelay.storage import writer

        return getattr(writer, name)
    raise AttributeError(name)
