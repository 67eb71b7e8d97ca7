"""Edited copies (``whrelay.formats.edit``, the ``edits`` table, re-signing a copy): a webhook
as text to edit and read back, exact where it was left alone; the copy stored as a new webhook
linked to its original, which stays byte-exact; ``show`` naming the original; a copy re-signed
only when its original's signature verifies. Real SQLite files, a real recording target, the
CLI as a subprocess, Stripe's own library as the judge of what was signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from tests.helpers.processes import run_whrelay
from tests.helpers.targetserver import TargetServer
from whrelay.core.config import VerifySettings
from whrelay.core.errors import UsageError
from whrelay.core.models import Capture, RawHeaders, Verdict
from whrelay.core.targets import parse_target
from whrelay.formats.edit import (
    body_text,
    broken_signature,
    editable,
    read_edit,
    store_edited,
    unchanged,
)
from whrelay.relay import replay
from whrelay.relay.client import Sender
from whrelay.relay.replay import ReplayRequest, Resign
from whrelay.signatures import REDACTED
from whrelay.signatures.verification import GivenSecret
from whrelay.storage import Store
from whrelay.storage.maintenance import PruneRule, prune
from whrelay.storage.read import Found, find_webhook, first_originals, webhook_view
from whrelay.storage.store import insert_webhook

SECRET = "whsec_editCopySecret0123456789"
BODY = b'{"id":"evt_1","type":"invoice.paid","amount":4200}'


def stripe_signature(body: bytes, at: int, secret: str = SECRET) -> bytes:
    mac = hmac.new(secret.encode(), b"%d." % at + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}".encode()


def store_one(
    store: Store,
    headers: RawHeaders,
    body: bytes | None,
    *,
    path: str = "/hooks/stripe",
    query: str = "",
    verdict: Verdict | None = None,
    targets: tuple[str, ...] = (),
    at: int | None = None,
) -> int:
    arrived = at if at is not None else int(time.time()) - 60
    capture = Capture("POST", path, query, headers, body, "1.1", "10.0.0.7", arrived * 1_000_000)
    summary, _ = store.run(lambda db: insert_webhook(db, capture, targets, verdict))
    return summary.id


def signed_stripe(store: Store, body: bytes = BODY, **kwargs: object) -> int:
    arrived = int(time.time()) - 600  # older than Stripe's 5-minute tolerance
    headers: RawHeaders = (
        (b"Host", b"127.0.0.1:8642"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"%d" % len(body)),
        (b"Stripe-Signature", stripe_signature(body, arrived)),
    )
    verdict = Verdict("valid", "stripe", "ok")
    return store_one(store, headers, body, verdict=verdict, at=arrived, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "hooks.db") as opened:
        yield opened


# --- the text and back ---------------------------------------------------------------------------


def test_text_left_as_shown_reads_back_as_the_exact_request(store: Store) -> None:
    headers: RawHeaders = (
        (b"Host", b"h"),
        (b"X-Latin", b"caf\xe9"),  # not UTF-8
        (b"X-Escape", b"a\x1b[2Jb"),  # a terminal control byte
        (b"x-dup", b"1"),
        (b"X-Dup", b"2"),
        (b"X-Gitlab-Token", b"glpat-the-secret-itself"),
    )
    webhook = store.get_webhook(
        store_one(store, headers, b"line one\r\nline two\r\n", path="/p%20x", query="a=1&b")
    )
    text = editable(webhook)
    assert text.method == "POST"
    assert text.target == "/p%20x?a=1&b"
    assert text.headers.splitlines() == [
        "Host: h",
        "X-Latin: caf\\xe9",
        "X-Escape: a\\x1b[2Jb",
        "x-dup: 1",
        "X-Dup: 2",
        f"X-Gitlab-Token: {REDACTED}",
    ]
    assert "glpat" not in text.headers  # the secret itself is never shown
    assert text.body == "line one\r\nline two\r\n"
    assert text.body_note is None
    assert text.body is not None
    back = read_edit(webhook, text.method, text.target, text.headers, text.body.encode())
    assert unchanged(webhook, back)
    assert back.headers == headers
    assert back.remote_addr == "10.0.0.7"


def test_unicode_line_separators_never_change_an_edit_left_as_shown(store: Store) -> None:
    """U+2028 and U+2029 are line breaks to ``splitlines`` and to Textual's editor: in a header
    they show escaped (and read back as the stored bytes), and a body holding one is not offered
    as text (it would come back with line feeds in their place)."""
    body = '{"note":"a\u2028b\u2029c"}'.encode()
    headers: RawHeaders = ((b"Host", b"h"), (b"X-Note", "a\u2028b".encode()))
    webhook = store.get_webhook(store_one(store, headers, body))
    text = editable(webhook)
    assert text.headers.splitlines() == ["Host: h", "X-Note: a\\u2028b"]
    assert text.body is None and text.body_note
    back = read_edit(webhook, text.method, text.target, text.headers, webhook.body)  # as stored
    assert unchanged(webhook, back)
    assert back.headers == headers and back.body == body


def test_edited_lines_are_read_as_typed_and_the_length_follows_the_body(store: Store) -> None:
    webhook = store.get_webhook(signed_stripe(store))
    text = editable(webhook)
    body = BODY.replace(b"4200", b"99000")
    headers = text.headers.replace("Content-Type: application/json", "Content-Type: text/json")
    headers += "\n\nX-Added:   spaced value  \n"
    edited = read_edit(webhook, "PUT", "/elsewhere?x=1", headers, body)
    assert (edited.method, edited.path, edited.query) == ("PUT", "/elsewhere", "x=1")
    assert edited.body == body
    pairs = dict(edited.headers)
    assert pairs[b"Content-Type"] == b"text/json"
    assert pairs[b"X-Added"] == b"spaced value"
    assert pairs[b"Content-Length"] == b"%d" % len(body)  # was the original's length
    assert pairs[b"Stripe-Signature"] == webhook.header("Stripe-Signature").encode()  # type: ignore[union-attr]
    assert not unchanged(webhook, edited)
    assert broken_signature(webhook, edited) == "stripe"
    same_body = read_edit(webhook, "PUT", text.target, text.headers, webhook.body)
    assert broken_signature(webhook, same_body) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("method", "PO ST", "is not an HTTP method"),
        ("target", "no-slash", "is not a request path"),
        ("target", "/a b", "is not a request path"),
        ("headers", "Host: h\nnot a header", "headers, line 2 is not a header"),
        ("headers", "Bad Name: x", "headers, line 1 is not a header"),
        ("headers", "X-Bell: a\x07b", "headers, line 1 holds a control character"),
    ],
)
def test_text_that_is_not_http_is_refused_naming_where(
    store: Store, field: str, value: str, message: str
) -> None:
    webhook = store.get_webhook(signed_stripe(store))
    text = editable(webhook)
    parts = {"method": text.method, "target": text.target, "headers": text.headers}
    parts[field] = value
    with pytest.raises(UsageError, match=message):
        read_edit(webhook, parts["method"], parts["target"], parts["headers"], webhook.body)


@pytest.mark.parametrize(
    ("headers", "body", "why"),
    [
        ((), b"\x00\x01\xff binary", "binary (not UTF-8 text)"),
        ((), b"text with \x1b[31m colour", "NUL or terminal control bytes"),
        ((), b"one\r\ntwo\nthree", "mixes CRLF and LF"),
        (((b"Content-Encoding", b"gzip"),), b"\x1f\x8b\x08", "compressed (Content-Encoding"),
    ],
)
def test_a_body_that_would_not_read_back_the_same_is_not_offered_as_text(
    store: Store, headers: RawHeaders, body: bytes, why: str
) -> None:
    webhook = store.get_webhook(store_one(store, headers, body))
    text, note = body_text(webhook)
    assert text is None
    assert note is not None and why in note
    assert editable(webhook).body is None


def test_no_body_is_an_empty_text(store: Store) -> None:
    webhook = store.get_webhook(store_one(store, ((b"Host", b"h"),), None))
    assert body_text(webhook) == ("", None)


# --- stored, linked, shown ----------------------------------------------------------------------


@pytest.mark.slow
def test_an_edited_copy_is_a_new_webhook_linked_to_its_original(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    with Store(db) as store:
        original_id = signed_stripe(store, targets=("http://127.0.0.1:9",))
        original = store.get_webhook(original_id)
        text = editable(original)
        edited = read_edit(original, "POST", text.target, text.headers, BODY.replace(b"42", b"77"))
        copy = store_edited(store, original_id, edited, VerifySettings(secrets=(SECRET,)))
        again = store.get_webhook(original_id)
        view = webhook_view(store, copy.id)
        assert store.deliveries(copy.id) == []  # listen never forwards it
        assert first_originals(store, [copy.id, original_id]) == {copy.id: original_id}
        # It keeps the sender's id, but the sender did not send it twice: no duplicate, and
        # the id still names the webhook received.
        assert copy.duplicate_of is None
        assert store.get_webhook(copy.id).summary.duplicate_of is None
        assert find_webhook(store, "evt_1") == Found(original_id)
    assert again == original  # the original stays byte-exact
    assert view.edited and view.edited_from == original_id
    assert view.edit_note == f"edited from #{original_id}"
    assert view.webhook.body == BODY.replace(b"42", b"77")
    # Identified and judged as on arrival: the sender's signature does not match the new body.
    assert (view.webhook.summary.provider, view.webhook.summary.verdict) == ("stripe", "invalid")
    shown = run_whrelay("show", str(copy.id), "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    assert f"edited from #{original_id}" in shown.stdout.decode()
    record = json.loads(run_whrelay("show", str(copy.id), "--json", "--db", str(db)).stdout)
    assert record["edited_from"] == original_id
    plain = json.loads(run_whrelay("show", str(original_id), "--json", "--db", str(db)).stdout)
    assert plain["edited_from"] is None
    by_sender_id = run_whrelay("show", "evt_1", "--json", "--db", str(db))
    assert json.loads(by_sender_id.stdout)["id"] == original_id
    assert b"more than once" not in by_sender_id.stderr


def test_a_copy_keeps_its_row_when_its_original_is_pruned(store: Store) -> None:
    original_id = signed_stripe(store)
    original = store.get_webhook(original_id)
    text = editable(original)
    copy = store_edited(
        store, original_id, read_edit(original, "PUT", text.target, text.headers, original.body)
    )
    prune(store, PruneRule(keep=1))
    assert [s.id for s in store.list_webhooks()] == [copy.id]
    view = webhook_view(store, copy.id)
    assert view.edited and view.edited_from is None
    assert view.edit_note == "edited from a webhook since pruned"
    assert first_originals(store, [copy.id]) == {}
    assert find_webhook(store, "evt_1") == Found(copy.id)  # the sender's id: only the copy has it


def test_a_resend_after_the_original_is_pruned_is_no_duplicate_of_an_edited_copy(
    store: Store,
) -> None:
    original_id = signed_stripe(store)
    copy = copy_of(store, original_id, BODY.replace(b"42", b"77"))
    prune(store, PruneRule(keep=1))
    assert [s.id for s in store.list_webhooks()] == [copy]
    resent = signed_stripe(store)  # the sender sends evt_1 again
    assert store.get_webhook(resent).summary.duplicate_of is None
    again = signed_stripe(store)  # and again: a duplicate of what it sent, never of the copy
    assert store.get_webhook(again).summary.duplicate_of == resent


# --- re-signing a copy: judged by its original ---------------------------------------------------


def copy_of(store: Store, original_id: int, body: bytes) -> int:
    original = store.get_webhook(original_id)
    text = editable(original)
    return store_edited(
        store, original_id, read_edit(original, "POST", text.target, text.headers, body)
    ).id


def test_a_copy_is_re_signed_when_its_original_verifies_and_stripe_accepts_it(
    store: Store,
) -> None:
    body = BODY.replace(b"4200", b"31337")
    original_id = signed_stripe(store)
    copy = copy_of(store, original_id, body)
    copy_of_copy = copy_of(store, copy, body + b" ")

    async def send(webhook_id: int, target: TargetServer) -> None:
        request = ReplayRequest(
            (webhook_id,),
            to=parse_target(target.url),
            resign=Resign((GivenSecret(SECRET, "--secret #1"),)),
        )
        planned = replay.plan(store, request)
        [item] = planned.items
        assert item.resign is not None and item.resign.resign, item.resign
        async with Sender() as sender:
            [attempt] = [a async for a in replay.run(planned, store, sender)]
        assert attempt.resigned is True and attempt.resign_note is None

    with TargetServer() as target:
        asyncio.run(send(copy, target))
        asyncio.run(send(copy_of_copy, target))  # judged by the webhook received, two back
    for sent, expected in zip(target.requests, (body, body + b" "), strict=True):
        assert sent.body == expected
        event = stripe.Webhook.construct_event(sent.body, sent.header("Stripe-Signature"), SECRET)
        assert event["id"] == "evt_1"
    assert store.attempts(original_id) == []  # the copy's attempts are its own


def test_a_copy_of_a_webhook_that_did_not_verify_is_not_re_signed(store: Store) -> None:
    forged = store_one(
        store,
        ((b"Content-Type", b"application/json"), (b"Stripe-Signature", b"t=1,v1=deadbeef")),
        BODY,
        verdict=Verdict("invalid", "stripe", "bad_signature"),
    )
    copy = copy_of(store, forged, BODY.replace(b"4200", b"1"))
    request = ReplayRequest(
        (copy,), to=parse_target("9"), resign=Resign((GivenSecret(SECRET, "--secret #1"),))
    )
    [item] = replay.plan(store, request).items
    assert item.resign is not None and not item.resign.resign
    assert "signature is not valid" in item.resign.why


@pytest.mark.slow
def test_replay_resign_from_the_cli_signs_an_edited_copy_whose_original_verifies(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hooks.db"
    body = BODY.replace(b"4200", b"5")
    with Store(db) as store:
        copy = copy_of(store, signed_stripe(store), body)
    with TargetServer() as target:
        result = run_whrelay(
            "replay", str(copy), "--to", target.url, "--resign", "--secret", SECRET, "--db", str(db)
        )
    assert result.returncode == 0, result.stderr
    [sent] = target.requests
    stripe.Webhook.construct_event(sent.body, sent.header("Stripe-Signature"), SECRET)
