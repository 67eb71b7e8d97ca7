"""What every command shares: the consoles, the ``--db`` option, JSON output."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from whrelay.core import paths
from whrelay.core.errors import ExitCode

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite database file. Default: $WHRELAY_DB, else whrelay.db in $WHRELAY_DATA_DIR "
        "or the user data directory ('whrelay paths' would show it).",
        metavar="PATH",
        show_default=False,
        dir_okay=False,
        readable=False,  # the database says what is wrong with it, with its exit code (3)
    ),
]
AllowRemoteOption = Annotated[
    bool,
    typer.Option("--allow-remote", metavar="", help="Allow targets that are not on this machine."),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        metavar="",
        help="Do not verify the certificates of https targets (a dev server's self-signed "
        "one); 'TARGET,insecure' does it for one target. Still loopback only.",
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="Also trust the PEM certificates in FILE for https targets (mkcert's root CA, "
        "or the dev server's own self-signed certificate).",
        metavar="FILE",
        show_default=False,
    ),
]
HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""What an HTTP method is made of (RFC 9110 5.6.2)."""
MAX_ID = 2**63 - 1
"""The largest id SQLite can store (a signed 64-bit integer)."""
_DIGITS = re.compile(r"[0-9]+")


def parse_webhook_id(text: str) -> int:
    """A webhook id as typed: ASCII digits, 1 to ``MAX_ID``. Anything else is a usage error
    (a larger number could not even be looked up)."""
    value = int(text) if _DIGITS.fullmatch(text) else 0
    if not 1 <= value <= MAX_ID:
        raise typer.BadParameter(f"{text!r} is not a webhook id (a whole number, 1 to {MAX_ID})")
    return value


COMPLETED_IDS = 50
"""How many webhook ids shell completion offers at most (the newest)."""


def complete_webhook_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Shell completion of a webhook id: the newest stored ones starting with what is typed,
    newest first, each described as ``METHOD /path event``. Reads the database read-only
    (``--db`` when already typed, else as every command finds it); never fails: no database,
    a bad config file or anything else offers nothing."""
    try:
        from whrelay.storage import Store
        from whrelay.storage.read import recent_ids
        from whrelay.views.safetext import one_line

        if incomplete and not incomplete.isdigit():
            return []
        # Completing never upgrades an older database: the command run will, or say why not.
        with Store(paths.db_path(ctx.params.get("db")), readonly=True, upgrade=False) as store:
            found = recent_ids(store, incomplete, COMPLETED_IDS)
        return [
            (str(webhook_id), one_line(" ".join(filter(None, (method, path, event))))[:80])
            for webhook_id, method, path, event in found
        ]
    except Exception:
        return []


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_webhook_ref(text: str) -> str:
    """A webhook named as typed: whrelay's id (ASCII digits, 1 to ``MAX_ID``), or the
    sender's own id of it (``evt_…``, ``msg_…``, a GitHub delivery id), looked up once the
    database is open (``find_webhooks``)."""
    if _DIGITS.fullmatch(text) or _numeric(text) or not _provider_id_like(text):
        return str(parse_webhook_id(text))  # refused, unless ASCII digits in range
    return text


def _numeric(text: str) -> bool:
    """Whether ``text`` reads as a number (``+1``, ``1.0``, digits of another script): a
    mistyped id, not a sender's."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _provider_id_like(text: str) -> bool:
    """Whether ``text`` can be a provider id as stored: UTF-8 text without control
    characters or surrounding blanks, not an option."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes typed that are not UTF-8: stored ids never hold them
        return False
    return bool(text) and text == text.strip() and not _CONTROL.search(text) and text[0] != "-"


def find_webhooks(store: Store, refs: Iterable[str]) -> list[int]:
    """The ids of the webhooks ``refs`` name (see ``parse_webhook_ref``). A provider id that
    several webhooks have (the sender sent it more than once) names the newest: stderr says
    so and names the others."""
    from whrelay.storage.read import find_webhook

    ids = []
    for ref in refs:
        found = find_webhook(store, ref)
        if found.others:
            from rich.text import Text

            from whrelay.relay.replay import id_list
            from whrelay.render.webhooks import one_line

            note = (
                f"note: {one_line(ref)} is the provider id of {len(found.others) + 1} webhooks "
                f"(sent more than once); using the newest, #{found.id} "
                f"(the others: {id_list(found.others)})"
            )
            stderr().print(Text(note, style="yellow"))
        ids.append(found.id)
    return ids


WebhookRefs = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[ID]...",
        help="Webhook ids, or their provider ids (evt_…, msg_…).",
        show_default=False,
        parser=parse_webhook_ref,
        autocompletion=complete_webhook_ids,
    ),
]
"""Webhooks named on the command line (``cancel``, ``replay``, ``export``): whrelay's ids or
the senders' own, completed from the database."""


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", metavar="", help="Write NDJSON to stdout, one object per line, and nothing else."
    ),
]


if TYPE_CHECKING:
    from rich.console import Console

    from whrelay.storage import Store


def stdout() -> Console:
    """Data: tables, webhooks. Never markup-interpreted for webhook content (see render)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    # Rich's own answer to a broken pipe is exit 1, which here means "a check failed".
    console.on_broken_pipe = reader_gone  # type: ignore[method-assign]
    return console


def reader_gone() -> NoReturn:
    """The reader of stdout went away (``whrelay list | head``): stop writing, say nothing,
    and leave with ``READER_GONE``: not a success either, as a check may have been cut short."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    raise SystemExit(ExitCode.READER_GONE)


def stderr() -> Console:
    """Diagnostics. When their reader has gone away they are dropped: Rich's default would
    point stdout at /dev/null and exit 1, stopping a ``listen`` mid-request."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.on_broken_pipe = _mute(console)  # type: ignore[method-assign]
    return console


def _mute(console: Console) -> Callable[[], None]:
    def mute() -> None:
        console.quiet = True

    return mute


def complete_scheme(incomplete: str) -> list[str]:
    """What ``--provider`` completes to where it names a scheme to sign or verify with."""
    from whrelay.identify.known import SCHEMES

    return [name for name in SCHEMES if name.startswith(incomplete.lower())]


def complete_provider(incomplete: str) -> list[str]:
    """What ``--provider`` completes to where it selects stored webhooks by their sender."""
    from whrelay.identify.known import PROVIDERS

    return [name for name in PROVIDERS if name.startswith(incomplete.lower())]


def resolve_db(db: Path | None) -> Path:
    return paths.db_path(db)


def write_json(obj: object) -> None:
    """One NDJSON line on stdout, flushed so that followers see it at once."""
    from whrelay.core.models import to_json

    sys.stdout.write(to_json(obj) + "\n")
    sys.stdout.flush()
