"""``whrelay/render/webhooks.py``: webhooks and attempts as Rich renderables."""

from __future__ import annotations

import gzip

import pytest

from tests.helpers.captures import T0
from tests.helpers.commands import made_up_attempt
from whrelay.core.models import Webhook, WebhookSummary
from whrelay.render.webhooks import attempt_line, decoded_body

LONG_PATH = "/webhooks/stripe/account/acct_1234567890/events/" + "very/long/" * 6 + "end"


def _webhook(body: bytes, encoding: str) -> Webhook:
    summary = WebhookSummary(1, 1, "POST", "/x", "", None, None, None, len(body), None)
    headers = ((b"Content-Encoding", encoding.encode()),)
    return Webhook(
        summary=summary, headers=headers, body=body, http_version="1.1", remote_addr=None
    )


@pytest.mark.parametrize("width", [80, 100, 140])
def test_list_on_a_terminal_cuts_the_path_never_the_id(width: int) -> None:
    from rich.console import Console

    from whrelay.render.webhooks import webhook_table

    rows = [
        WebhookSummary(118, T0, "POST", LONG_PATH, "", "stripe", "payment_intent.succeeded",
                       None, 1, None, "unverified", "no_secret", "stripe"),
        WebhookSummary(7, T0, "DELETE", "/form", "", None, None, None, 1234, None),
    ]  # fmt: skip
    console = Console(width=width, color_system=None, highlight=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(webhook_table(rows, width))
    lines = captured.get().splitlines()
    header = lines[0].split()
    assert header[0] == "ID" and {"PATH", "EVENT"} <= set(header)
    assert [line.split()[0] for line in lines[1:]] == ["118", "7"]
    assert "POST" in lines[1] and "DELETE" in lines[2]  # not all POST: the column stays
    assert all(len(line.rstrip()) <= width for line in lines)
    assert "…" in lines[1]  # the long path, cut short
    assert "1.2 KiB" in lines[2] or width < 100  # the size goes before the event is cut


@pytest.mark.parametrize(
    ("width", "time_shown"), [(120, "2026-11-18 11:06:40"), (72, "11-18 11:06"), (40, None)]
)
def test_list_shortens_the_time_before_dropping_it(width: int, time_shown: str | None) -> None:
    """Where the event would not show whole, the year goes first, then the seconds; only on
    a narrow terminal the time."""
    from rich.console import Console

    from whrelay.render.webhooks import webhook_table

    rows = [
        WebhookSummary(118, T0, "POST", "/hooks/x", "", "github", "pull_request.opened",
                       None, 1, None, "invalid", "bad_signature", "github"),
    ]  # fmt: skip
    console = Console(width=width, color_system=None, highlight=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(webhook_table(rows, width))
    header, row = captured.get().splitlines()
    assert all(len(line.rstrip()) <= width for line in (header, row))
    if time_shown is None:
        assert "RECEIVED" not in header and "11:06" not in row
    else:
        assert time_shown in row
        assert ("(UTC)" in header) == time_shown.startswith("2026")


@pytest.mark.parametrize(
    ("fields", "ending"),
    [
        ({"status": 500}, "failed: retry window over"),
        ({"status": None, "error": "refused", "error_detail": "connection refused"}, "over"),
        ({"status": 404, "trigger": "first"}, "failed, not retried"),
        ({"status": None, "error": "blocked", "error_detail": "10.0.0.1"}, "not retried"),
        ({"status": None, "error": "unsent", "duration_us": 0}, "failed, not retried"),
        ({"status": 500, "trigger": "replay"}, "failed"),
    ],
)
def test_a_failed_attempt_says_why_it_ended(fields: dict[str, object], ending: str) -> None:
    line = attempt_line(made_up_attempt(**fields), "failed").plain
    assert line.endswith(ending), line
    if fields.get("error_detail"):
        assert f"({fields['error_detail']})" in line  # the reason, not only its kind


@pytest.mark.parametrize(
    ("body", "shown", "note"),
    [
        (b"x", b"x", "could not decompress (gzip): the stream is cut short"),
        (gzip.compress(b'{"a":1}', mtime=0)[:-5], b'{"a":1}', "the stream is cut short"),
        (
            gzip.compress(b'{"a":1}', mtime=0) + b"junk",
            b'{"a":1}',
            "4 B after the end of the stream",
        ),
        (
            gzip.compress(b'{"a":1}', mtime=0),
            b'{"a":1}',
            "decompressed from gzip (27 B as received)",
        ),
    ],
)
def test_show_says_when_gzip_does_not_decompress_cleanly(
    body: bytes, shown: bytes, note: str
) -> None:
    """A cut or corrupt stream is never passed off as a clean decompression."""
    out, said = decoded_body(_webhook(body, "gzip"))
    assert out == shown
    assert said is not None and note in said, said


def test_several_gzip_members_are_one_body() -> None:
    body = gzip.compress(b"ab", mtime=0) + gzip.compress(b"cd", mtime=0)
    out, note = decoded_body(_webhook(body, "gzip"))
    assert out == b"abcd"
    assert note == "decompressed from gzip (44 B as received)"


def test_gzip_members_are_shown_up_to_a_bound() -> None:
    """Each member costs a copy of the rest of the body: past 1000 members the rest is
    counted, not decompressed (400,000 empty members took minutes)."""
    member = gzip.compress(b"x", mtime=0)
    out, note = decoded_body(_webhook(member * 1500, "gzip"))
    assert out == b"x" * 1000
    assert note is not None and "the first 1000 members;" in note
