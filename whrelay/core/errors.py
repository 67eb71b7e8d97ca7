"""The error hierarchy and the exit codes. The CLI turns every ``WhrelayError`` into one line."""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """What a whrelay process exits with. Documented in the README; the numbers never change."""

    OK = 0
    """The command did what was asked."""
    CHECK_FAILED = 1
    """A check failed: an invalid signature, a replay that was not answered 2xx."""
    USAGE = 2
    """Bad usage or bad input: an unknown option, an unknown id, an unreadable file."""
    UNAVAILABLE = 3
    """The database or the port could not be used: the database missing, not whrelay's or of
    another schema version, locked, read-only or full; the port taken."""
    INTERNAL = 4
    """A bug in whrelay (the message says so; ``WHRELAY_DEBUG=1`` shows the traceback)."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT)."""
    READER_GONE = 141
    """The reader of the output went away (``whrelay list | head``), as for a process that
    SIGPIPE ended: neither a success nor a failed check, whatever the command was doing."""


class WhrelayError(Exception):
    """An error whrelay explains to its user in one line, with an optional hint."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(WhrelayError):
    """The command line or an input file is wrong."""


class UnavailableError(WhrelayError):
    """Something whrelay needs is not available: the port to listen on."""

    exit_code = ExitCode.UNAVAILABLE


class NotFoundError(WhrelayError):
    """A webhook id (or another named thing) does not exist."""


class StorageError(WhrelayError):
    """The database cannot be opened, read or written."""

    exit_code = ExitCode.UNAVAILABLE


class NoDatabaseError(StorageError):
    """A command that only reads was pointed at a database that does not exist, or is empty
    (no ``listen`` has made it a whrelay database yet)."""


class StorageUnavailableError(StorageError):
    """A write failed for a reason that may pass: disk full, read-only file, lock timeout."""

    def __init__(self, message: str, hint: str | None = None, reason: str | None = None) -> None:
        super().__init__(message, hint)
        self.reason = reason or CANNOT_WRITE
        """What went wrong in a few words that name no file: what a sender's 503 and
        ``/_whrelay/health`` may tell whoever can reach the port."""


class StorageLostError(StorageUnavailableError):
    """The database file (or its write-ahead log) at the database's path is no longer the
    file that is open: it was deleted or replaced. Nothing more is written into it; only a
    new ``listen`` (which opens what is at the path now) stores again."""


# The reasons of ``StorageUnavailableError``: a few words each, naming no file.
CANNOT_WRITE = "the database cannot be written now"
LOCKED = "the database is locked by another process"
DISK_FULL = "the disk is full"
READ_ONLY = "the database is read-only"
IO_ERROR = "disk I/O error"
CANNOT_OPEN = "the database cannot be opened"


def say(line: str, prefix: str = "whrelay: ") -> None:
    """One diagnostic line on stderr from the engine. Never raises: a reader of stderr that
    went away must not stop a restart or a delivery (the line is lost, nothing else)."""
    stream = sys.stderr
    if stream is None:  # started with stderr closed (2>&-)
        return
    try:
        stream.write(f"{prefix}{line}\n")
        stream.flush()
    except Exception:  # noqa: S110 - losing a diagnostic must cost nothing else
        pass
