"""whrelay's terminal UI (Textual): browse, search, verify and replay the whole history.

A front end beside ``cli/``: it reads the database through the read API, replays through the
same function as ``whrelay replay``, and checks signatures with ``verify``'s code, all through
``adapter.py``. Importing this package loads no Textual; ``run`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whrelay.tui.adapter import ReplayTls


def run(db: Path, tls: ReplayTls | None = None) -> None:
    """``whrelay tui``: the history of ``db`` until the user quits; its replays dial https
    targets as ``tls`` says (``--insecure``, ``--ca-file``). A database that readers refuse
    (missing, empty, not whrelay's, another schema) is refused before the terminal is taken
    over, with the readers' error."""
    from whrelay.tui import adapter

    # The newest rows are read now, before the loop starts: the first frame shows them.
    with adapter.open_reader(db) as store:
        first_page = adapter.rows(store, None, "older", FIRST_PAGE), adapter.newest_id(store)
    from whrelay.tui.app import WhrelayApp

    WhrelayApp(db, first_page=first_page, tls=tls).run()


FIRST_PAGE = 150
"""Rows read before the app starts: more than a screenful, even on a tall terminal."""
