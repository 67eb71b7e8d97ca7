"""Stored webhooks for commands to read, and what the commands printed."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from pathlib import Path

from tests.helpers.processes import run_whrelay
from whrelay.core.errors import ExitCode
from whrelay.core.models import Attempt, Capture, RawHeaders, WebhookSummary
from whrelay.storage import Store


def seed(db: Path, *captures: Capture) -> list[WebhookSummary]:
    with Store(db) as store:
        return store.insert_webhooks(list(captures))


def out(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode("utf-8", "surrogateescape")


def err(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode("utf-8", "surrogateescape")


def ok(*args: str) -> subprocess.CompletedProcess[bytes]:
    result = run_whrelay(*args)
    assert result.returncode == 0, (result.returncode, err(result))
    assert b"Traceback" not in result.stderr
    return result


def assert_clean_error(
    result: subprocess.CompletedProcess[bytes], codes: tuple[int, ...] = (ExitCode.USAGE,)
) -> str:
    """Exit ``codes``; stderr is one ``whrelay: error:`` line and at most one hint line."""
    text = err(result)
    assert result.returncode in codes, (result.returncode, text)
    assert "Traceback" not in text
    lines = text.splitlines()
    assert lines, "no error message"
    assert lines[0].startswith("whrelay: error: "), lines
    assert "internal error" not in lines[0], lines
    assert len(lines) <= 2, lines
    if len(lines) == 2:
        assert lines[1].startswith("  hint: "), lines
    assert result.stdout == b""
    return lines[0]


STRIPE_JSON: RawHeaders = (
    (b"Content-Type", b"application/json"),
    (b"Stripe-Signature", b"t=1,v1=abc"),
)


# --- untrusted content is never markup and never reaches the terminal raw ---------------------

MARKUP = "[bold]B[/bold] [/x] [red]oops[/red]"

ESCAPES = "\x1b[31mRED \x1b]0;title\x07 \x9b2J"


def assert_inert(data: bytes) -> None:
    """The markup is there literally; no terminal control byte is."""
    text = data.decode("utf-8", "surrogateescape")
    assert "[bold]" in text
    assert "[/x]" in text
    assert "MarkupError" not in text
    assert b"\x1b" not in data
    assert b"\x07" not in data
    assert b"\x9b" not in data
    assert "\x9b" not in text


GITHUB_SECRET = "review-secret"


def github_request(body: bytes, secret: str = GITHUB_SECRET) -> bytes:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = (
        "POST /gh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def made_up_attempt(**fields: object) -> Attempt:
    """A failed retry of webhook 7 (delivery 3), with ``fields`` changed."""
    base: dict[str, object] = {
        "webhook_id": 7,
        "delivery": 3,
        "trigger": "retry",
        "url": "http://127.0.0.1:3000/h",
        "request_headers": (),
        "started_at": 1_700_000_000_000_000,
        "duration_us": 1500,
        "status": 500,
    }
    return Attempt(**{**base, **fields})  # type: ignore[arg-type]
