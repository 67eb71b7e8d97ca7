"""What the data source tells the widgets: results of the work it did off the event loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from whrelay.core.errors import WhrelayError
from whrelay.tui.adapter import Position, ReplayResult, Row, WebhookView
from whrelay.tui.model import Fetch

if TYPE_CHECKING:
    from whrelay.tui.adapter import EditResult, EditReview, EditStart, Verification
    from whrelay.views.compare import Comparison


class HistoryOpened(Message):
    """The newest rows of the whole history, and the id of the newest webhook."""

    def __init__(self, generation: int, rows: Sequence[Row], newest_id: int) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows
        self.newest_id = newest_id


class HistoryCounted(Message):
    """How many webhooks the history holds, counted after ``shift`` arrivals."""

    def __init__(self, generation: int, total: int, shift: int) -> None:
        super().__init__()
        self.generation = generation
        self.total = total
        self.shift = shift


class RowsFetched(Message):
    """The rows of a fetch; ``complete=False``: it was cancelled before it ran."""

    def __init__(self, fetch: Fetch, rows: Sequence[Row], complete: bool = True) -> None:
        super().__init__()
        self.fetch = fetch
        self.rows = rows
        self.complete = complete


class WebhooksArrived(Message):
    """``count`` webhooks were committed by another connection since the last look; ``top``
    is the newest rows now (or, narrowed, the new ones that match)."""

    def __init__(self, generation: int, count: int, top: Sequence[Row], newest_id: int) -> None:
        super().__init__()
        self.generation = generation
        self.count = count
        self.top = top
        self.newest_id = newest_id


class DeliveriesChanged(Message):
    """Loaded webhooks whose deliveries moved on (delivered, failed, retried, replayed)."""

    def __init__(self, rows: Sequence[Row], webhook_ids: set[int]) -> None:
        super().__init__()
        self.rows = rows
        self.webhook_ids = webhook_ids


class PendingCounted(Message):
    """Deliveries waiting, per target (for ``listen --tui``'s header)."""

    def __init__(self, pending: dict[str, int]) -> None:
        super().__init__()
        self.pending = pending


class MatchesFound(Message):
    """One step of a scan: the matches among the webhooks it looked at, and where it goes on
    (``None``: the whole history has been looked at)."""

    def __init__(
        self,
        generation: int,
        rows: Sequence[Row],
        next_start: Position | None,
        looked: int,
        still_scanning: bool,
    ) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows
        self.next_start = next_start
        self.looked = looked
        self.still_scanning = still_scanning


class ScanStopped(Message):
    """A scan ended: it found what was wanted, looked at everything, or was cancelled."""

    def __init__(self, generation: int) -> None:
        super().__init__()
        self.generation = generation


class WebhookLoaded(Message):
    def __init__(self, view: WebhookView) -> None:
        super().__init__()
        self.view = view


class ReplayFinished(Message):
    def __init__(self, result: ReplayResult) -> None:
        super().__init__()
        self.result = result


@dataclass(frozen=True, slots=True)
class Failure:
    """Something the user asked for could not be done: what, and whrelay's words for why."""

    what: str
    message: str
    hint: str | None = None

    @classmethod
    def of(cls, what: str, error: BaseException) -> Failure:
        if isinstance(error, WhrelayError):
            return cls(what, error.message, error.hint)
        return cls(what, f"internal error: {type(error).__name__}: {error}", "a bug in whrelay")


class ActionFailed(Message):
    def __init__(self, failure: Failure, webhook_id: int | None = None) -> None:
        super().__init__()
        self.failure = failure
        self.webhook_id = webhook_id


class VerifyFinished(Message):
    """``verify`` again, with a secret typed in: its verdict, reason and hints."""

    def __init__(self, webhook_id: int, result: Verification) -> None:
        super().__init__()
        self.webhook_id = webhook_id
        self.result = result


class Copied(Message):
    """A webhook as text for the clipboard (``c``, ``C``)."""

    def __init__(self, webhook_id: int, what: str, text: str) -> None:
        super().__init__()
        self.webhook_id = webhook_id
        self.what = what
        self.text = text


class ExportProgressed(Message, bubble=False):
    """How far an export got: ``done`` of ``total`` webhooks written. For the export dialog
    alone, which posts them in order: one that bubbled on would reach the app after later
    ones whenever the dialog handles two before the app handles the first."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done = done
        self.total = total


class ExportFinished(Message):
    """``count`` webhooks were written to ``path``."""

    def __init__(self, count: int, path: Path) -> None:
        super().__init__()
        self.count = count
        self.path = path


class Compared(Message):
    """A comparison is ready to show (``d``)."""

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison


class EditOpened(Message):
    """The selected webhook, as text to edit (``e``)."""

    def __init__(self, start: EditStart) -> None:
        super().__init__()
        self.start = start


class EditReviewed(Message):
    """What sending an edit will do, before it is sent."""

    def __init__(self, review: EditReview) -> None:
        super().__init__()
        self.review = review


class EditSent(Message):
    """An edit stored as a new webhook, and sent."""

    def __init__(self, result: EditResult) -> None:
        super().__init__()
        self.result = result
