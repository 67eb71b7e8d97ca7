"""Comparisons (``whrelay.views.compare``, shown by ``whrelay.render.compare``): two webhooks
or two answers line by line, with ids, timestamps and signatures shown but, when asked, not
counted; every line inert."""

from __future__ import annotations

import io

from rich.console import Console

from whrelay.core.models import Attempt, RawHeaders, Trigger, Webhook, WebhookSummary
from whrelay.render.compare import comparison_view
from whrelay.views.compare import (
    MAX_LINES,
    RowKind,
    compare,
    request_side,
    response_side,
)


def webhook(webhook_id: int, headers: RawHeaders, body: bytes | None) -> Webhook:
    summary = WebhookSummary(
        webhook_id, 1_790_000_000_000_000 + webhook_id, "POST", "/hooks/stripe", "", "stripe",
        "invoice.paid", None, len(body or b""), "application/json",
    )  # fmt: skip
    return Webhook(summary, headers, body, "1.1", "127.0.0.1")


def stripe_event(event_id: str, created: int, amount: int, signature: str) -> Webhook:
    body = (
        f'{{"id":"{event_id}","created":{created},"type":"invoice.paid",'
        f'"data":{{"object":{{"amount":{amount},"customer":"cus_1"}}}}}}'
    ).encode()
    headers: RawHeaders = (
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"%d" % len(body)),
        (b"Stripe-Signature", signature.encode()),
    )
    return webhook(1 if event_id == "evt_1" else 2, headers, body)


def text_of(renderable: object, width: int = 120) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_ids_timestamps_and_signatures_are_shown_but_not_counted_when_asked() -> None:
    before = stripe_event("evt_1", 1_700_000_000, 4200, "t=1,v1=aaa")
    after = stripe_event("evt_22", 1_700_000_099, 9900, "t=2,v1=bbb")
    comparison = compare(request_side(before), request_side(after))
    assert comparison.differences(ignore_volatile=True) == 1  # the amount
    # The id, created, Content-Length (the id is longer) and Stripe-Signature:
    assert comparison.volatile() == 4
    assert comparison.differences(ignore_volatile=False) == 5
    assert comparison.summary() == "1 difference; 4 in ids, timestamps or signatures, not counted"
    body = comparison.sections[2]
    [amount] = [row for row in body.rows if row.kind is RowKind.CHANGED and not row.volatile]
    assert (amount.left, amount.right) == ('      "amount": 4200,', '      "amount": 9900,')
    assert comparison.left_title.startswith("#1  2026-09-21 ")
    shown = text_of(comparison_view(comparison))
    assert '-       "amount": 4200,' in shown
    assert '+       "amount": 9900,' in shown
    assert '~   "id": "evt_1",' in shown
    counted = text_of(comparison_view(comparison, ignore_volatile=False))
    assert '-   "id": "evt_1",' in counted
    assert "5 differences (4 in ids, timestamps or signatures)" in counted


def test_the_same_event_sent_twice_has_no_differences_but_its_volatile_fields() -> None:
    one = stripe_event("evt_1", 1, 4200, "t=1,v1=aaa")
    two = stripe_event("evt_2", 2, 4200, "t=2,v1=bbb")
    comparison = compare(request_side(one), request_side(two))
    assert comparison.differences() == 0
    assert comparison.summary().startswith("no differences; 3 in ids")


def test_side_by_side_puts_each_side_in_its_column() -> None:
    before = stripe_event("evt_1", 1, 4200, "t=1,v1=aaa")
    after = stripe_event("evt_1", 1, 9900, "t=1,v1=aaa")
    shown = text_of(comparison_view(compare(request_side(before), request_side(after)), True, True))
    [line] = [line for line in shown.splitlines() if "4200" in line]
    assert line.index("4200") < 60 < line.index("9900")


def test_binary_bodies_compare_as_hex_and_layout_alone_is_named() -> None:
    headers: RawHeaders = ((b"Content-Type", b"application/octet-stream"),)
    binary = compare(
        request_side(webhook(1, headers, b"\x00\x01\xff")),
        request_side(webhook(2, headers, b"\x00\x02\xff")),
    )
    assert binary.sections[2].note == "binary: compared as hex"
    [row] = [row for row in binary.sections[2].rows if row.kind is RowKind.CHANGED]
    assert row.left is not None and row.left.startswith("00000000  00 01 ff")
    json_headers: RawHeaders = ((b"Content-Type", b"application/json"),)
    layout = compare(
        request_side(webhook(1, json_headers, b'{"a":1}')),
        request_side(webhook(2, json_headers, b'{\n  "a": 1\n}')),
    )
    assert layout.differences() == 0
    assert layout.sections[2].note == "the bodies differ only in layout (spaces and line breaks)"


def test_a_long_body_is_compared_up_to_a_bound_and_says_so() -> None:
    headers: RawHeaders = ((b"Content-Type", b"text/plain"),)
    body = b"".join(b"line %d\n" % n for n in range(MAX_LINES + 10))
    comparison = compare(
        request_side(webhook(1, headers, body)), request_side(webhook(2, headers, body + b"x"))
    )
    assert len(comparison.sections[2].rows) == MAX_LINES
    assert comparison.sections[2].note == (
        f"only the first {MAX_LINES:,} lines of a body are compared"
    )


def test_untrusted_lines_stay_inert_and_the_secret_itself_is_redacted() -> None:
    hostile: RawHeaders = (
        (b"Content-Type", b"text/plain"),
        (b"X-Gitlab-Token", b"glpat-secret"),
        (b"X-Evil", b"[bold]x[/] \x1b]52;c;aGk=\x07"),
    )
    comparison = compare(
        request_side(webhook(1, hostile, b"[@click=app.quit]q \x1b[2J")),
        request_side(webhook(2, hostile[:2], b"plain")),
    )
    shown = text_of(comparison_view(comparison))
    assert "glpat-secret" not in shown
    assert "- X-Evil: [bold]x[/] \\x1b]52;c;aGk=\\x07" in shown
    assert "- [@click=app.quit]q \\x1b[2J" in shown
    assert "\x1b" not in shown


def test_two_answers_compare_their_status_headers_and_body() -> None:
    def attempt(status: int | None, body: bytes, request_id: bytes) -> Attempt:
        return Attempt(
            1, 1, Trigger.FIRST if status == 500 else Trigger.REPLAY, "http://127.0.0.1:3000/h",
            (), 1_790_000_000_000_000, 1000, status,
            ((b"Content-Type", b"application/json"), (b"X-Request-Id", request_id)),
            body, error=None if status else "refused",
        )  # fmt: skip

    before = response_side(attempt(500, b'{"error":"boom"}', b"r1"), "attempt 1")
    after = response_side(attempt(200, b'{"received":true}', b"r2"), "attempt 2")
    comparison = compare(before, after, first="status")
    assert [row.kind for row in comparison.sections[0].rows] == [RowKind.CHANGED]
    assert (comparison.sections[0].rows[0].left, comparison.sections[0].rows[0].right) == (
        "HTTP 500",
        "HTTP 200",
    )
    assert comparison.differences() == 2  # the status and the body; X-Request-Id is volatile
    refused = response_side(attempt(None, b"", b""), "attempt 3")
    assert refused.first_line == "no answer: refused" and refused.body is None
