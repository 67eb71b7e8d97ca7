"""``identify()``: who sent a webhook, what event it is and its provider id (the sender's own)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whrelay.core.models import Capture, Identity, RawHeaders
from whrelay.identify.bodyfields import MAX_JSON_SNIFF
from whrelay.identify.detect import MAX_NAME, identify
from whrelay.storage import Store

JSON = (b"Content-Type", b"application/json")


def js(obj: object) -> bytes:
    return json.dumps(obj).encode()


# (case id, headers, body, expected identity)
CASES: list[tuple[str, RawHeaders, bytes | None, Identity]] = [
    (
        "stripe",
        (
            JSON,
            (b"Stripe-Signature", b"t=1700000000,v1=abc"),
            (b"User-Agent", b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
        ),
        js({"id": "evt_1NG8Du2eZvKYlo2C", "object": "event", "type": "payment_intent.succeeded"}),
        Identity("stripe", "payment_intent.succeeded", "evt_1NG8Du2eZvKYlo2C"),
    ),
    (
        "stripe-header-case-insensitive",
        ((b"STRIPE-SIGNATURE", b"t=1,v1=x"), (b"content-type", b"application/json")),
        js({"id": "evt_2", "type": "invoice.paid"}),
        Identity("stripe", "invoice.paid", "evt_2"),
    ),
    (
        "github",
        (
            JSON,
            (b"X-GitHub-Event", b"push"),
            (b"X-GitHub-Delivery", b"72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            (b"X-Hub-Signature-256", b"sha256=deadbeef"),
        ),
        js({"ref": "refs/heads/main", "type": "not-the-event"}),
        Identity("github", "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ),
    (
        "github-signature-only",
        ((b"X-Hub-Signature-256", b"sha256=deadbeef"),),
        js({"zen": "Design for failure."}),
        Identity("github", None, None),
    ),
    (
        "gitlab",
        (
            JSON,
            (b"X-Gitlab-Event", b"Push Hook"),
            (b"X-Gitlab-Token", b"secret"),
            (b"X-Gitlab-Event-UUID", b"13792a34-cac6-4fda-95a8-c58e00a3954e"),
        ),
        js({"object_kind": "push", "ref": "refs/heads/main"}),
        Identity("gitlab", "Push Hook", "13792a34-cac6-4fda-95a8-c58e00a3954e"),
    ),
    (
        "gitlab-system-hook-token-only",
        ((b"X-Gitlab-Token", b"secret"), JSON),
        js({"object_kind": "merge_request"}),
        Identity("gitlab", "merge_request", None),
    ),
    (
        "shopify",
        (
            JSON,
            (b"X-Shopify-Topic", b"orders/create"),
            (b"X-Shopify-Hmac-Sha256", b"XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM="),
            (b"X-Shopify-Webhook-Id", b"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
            (b"X-Shopify-Shop-Domain", b"example.myshopify.com"),
        ),
        js({"id": 820982911946154508, "email": "jon@example.com"}),
        Identity("shopify", "orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    ),
    (
        "slack-events-api",
        (
            JSON,
            (
                b"X-Slack-Signature",
                b"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            (b"X-Slack-Request-Timestamp", b"1531420618"),
        ),
        js(
            {
                "type": "event_callback",
                "event_id": "Ev08MFMKH6",
                "event": {"type": "app_mention", "text": "hi"},
            }
        ),
        Identity("slack", "app_mention", "Ev08MFMKH6"),
    ),
    (
        "slack-url-verification",
        (JSON, (b"X-Slack-Signature", b"v0=abc"), (b"X-Slack-Request-Timestamp", b"1")),
        js(
            {
                "token": "Jhj5dZrVaK7",
                "challenge": "3eZbrw1aBm2rZgRNFdxV",
                "type": "url_verification",
            }
        ),
        Identity("slack", "url_verification", None),
    ),
    (
        "twilio",
        (
            (b"Content-Type", b"application/x-www-form-urlencoded"),
            (b"X-Twilio-Signature", b"RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            (b"I-Twilio-Idempotency-Token", b"4fb8f9c6-0a2b-4a3c-9f0e-1a2b3c4d5e6f"),
        ),
        b"AccountSid=AC123&From=%2B15017122661&Body=hello",
        Identity("twilio", None, "4fb8f9c6-0a2b-4a3c-9f0e-1a2b3c4d5e6f"),
    ),
    (
        "paddle-billing",
        (JSON, (b"Paddle-Signature", b"ts=1671552777;h1=eb4d0dc8853be92b7f06")),
        js(
            {
                "event_id": "evt_01gks14ge726w50ch2tmaw2a1x",
                "event_type": "transaction.completed",
                "notification_id": "ntf_01gks14gh0ej6w2ra8t40xs5c8",
                "data": {},
            }
        ),
        Identity("paddle", "transaction.completed", "evt_01gks14ge726w50ch2tmaw2a1x"),
    ),
    (
        "svix",
        (
            JSON,
            (b"svix-id", b"msg_p5jXN8AQM9LWM0D4loKWxJek"),
            (b"svix-timestamp", b"1614265330"),
            (b"svix-signature", b"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
            # Svix also sends the standard-webhooks headers: svix must still win.
            (b"webhook-id", b"msg_p5jXN8AQM9LWM0D4loKWxJek"),
            (b"webhook-signature", b"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ),
        js({"type": "user.created", "data": {"id": "u_1"}}),
        Identity("svix", "user.created", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
    ),
    (
        "standard-webhooks",
        (
            JSON,
            (b"webhook-id", b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
            (b"webhook-timestamp", b"1674087231"),
            (b"webhook-signature", b"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
        ),
        js({"type": "invoice.paid", "timestamp": "2026-11-26T10:00:00Z", "data": {}}),
        Identity("standard-webhooks", "invoice.paid", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
    ),
    (
        "linear",
        (
            JSON,
            (
                b"Linear-Signature",
                b"766e1d90a96e2f5ecec342a99c5552999dd95d49250171b902d703fd674f5086",
            ),
            (b"Linear-Delivery", b"234d1a4e-b617-4388-90fe-adc3633d6b72"),
            (b"Linear-Event", b"Issue"),
        ),
        js({"action": "create", "type": "Issue", "data": {"id": "i_1"}}),
        Identity("linear", "Issue.create", "234d1a4e-b617-4388-90fe-adc3633d6b72"),
    ),
    (
        "plain-request",
        ((b"Host", b"127.0.0.1:8642"), (b"User-Agent", b"curl/8.5.0"), (b"Accept", b"*/*")),
        b"hello",
        Identity(None, None, None),
    ),
    (
        "plain-json-without-type",
        ((b"Host", b"localhost"), JSON),
        js({"hello": "world", "id": "not-a-delivery-id"}),
        Identity(None, None, None),
    ),
    (
        "mailgun-json",
        ((b"Host", b"localhost"), JSON, (b"User-Agent", b"mailgun/treq-16.12.0")),
        js(
            {
                "signature": {"timestamp": "1700000000", "token": "t" * 50, "signature": "a" * 64},
                "event-data": {"event": "delivered", "id": "CPgfbmQMTCKtHW6uIWtuVe"},
            }
        ),
        Identity("mailgun", "delivered", "CPgfbmQMTCKtHW6uIWtuVe"),
    ),
    (
        "mailgun-json-without-event-data",
        (JSON,),
        js({"signature": {"timestamp": "1", "token": "t", "signature": "b" * 64}}),
        Identity("mailgun", None, None),
    ),
    (
        "mailgun-legacy-form",
        ((b"Content-Type", b"application/x-www-form-urlencoded"),),
        b"event=opened&recipient=a%40example.com&timestamp=1700000000&token=abc"
        b"&signature=" + b"c" * 64,
        Identity("mailgun", "opened", None),
    ),
    (
        "signature-string-is-not-mailgun",
        (JSON,),
        js({"type": "ping", "signature": "abc"}),
        Identity(None, "ping", None),
    ),
    (
        "signature-object-missing-token-is-not-mailgun",
        (JSON,),
        js({"signature": {"timestamp": "1", "signature": "a" * 64}}),
        Identity(None, None, None),
    ),
    (
        "form-with-a-short-signature-is-not-mailgun",
        ((b"Content-Type", b"application/x-www-form-urlencoded"),),
        b"timestamp=1&token=abc&signature=abc",
        Identity(None, None, None),
    ),
    (
        "headers-win-over-a-mailgun-like-body",
        (JSON, (b"X-GitHub-Event", b"push")),
        js({"signature": {"timestamp": "1", "token": "t", "signature": "a" * 64}}),
        Identity("github", "push", None),
    ),
    ("no-headers-no-body", (), None, Identity(None, None, None)),
    ("no-headers-empty-body", (), b"", Identity(None, None, None)),
]


def who(identity: Identity) -> Identity:
    """The three fields these tests pin down (the content type is checked separately)."""
    return Identity(identity.provider, identity.event_type, identity.provider_id)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [pytest.param(h, b, e, id=name) for name, h, b, e in CASES],
)
def test_identify(headers: RawHeaders, body: bytes | None, expected: Identity) -> None:
    assert who(identify(headers, body)) == expected


STRIPE = ((b"Stripe-Signature", b"t=1,v1=abc"), JSON)


GH = ((b"X-GitHub-Event", b"issues"), JSON)


@pytest.mark.parametrize(
    ("headers", "body", "event"),
    [
        # GitHub's documentation names its events event.action: issues.opened
        (GH, js({"action": "opened", "issue": {"number": 1}}), "issues.opened"),
        (((b"X-GitHub-Event", b"pull_request"), JSON), js({"action": "closed"}),
         "pull_request.closed"),
        (((b"X-GitHub-Event", b"push"), JSON), js({"ref": "refs/heads/main"}), "push"),
        (GH, js({"action": ""}), "issues"),  # nothing to add
        (GH, js({"action": {"not": "text"}}), "issues"),
        (GH, b"action=opened", "issues"),  # not JSON
        (((b"X-Hub-Signature-256", b"sha256=00"), JSON), js({"action": "opened"}), None),
        (
            ((b"X-Gitlab-Event", b"Merge Request Hook"), JSON),
            js({"object_kind": "merge_request", "object_attributes": {"action": "merge"}}),
            "Merge Request Hook.merge",
        ),
        (
            ((b"Linear-Signature", b"00"), (b"Linear-Event", b"Issue"), JSON),
            js({"action": "create", "type": "Issue"}),
            "Issue.create",
        ),
        (
            ((b"X-Slack-Signature", b"v0=00"), JSON),
            js({"type": "event_callback", "event": {"type": "message", "subtype": "bot_message"}}),
            "message.bot_message",
        ),
        # A sender that declares no sub-type keeps its event as it is.
        (
            ((b"Stripe-Signature", b"t=1,v1=00"), JSON),
            js({"type": "invoice.paid", "action": "opened"}),
            "invoice.paid",
        ),
        ((JSON,), js({"type": "order.created", "action": "opened"}), "order.created"),
    ],
)  # fmt: skip
def test_the_event_carries_its_sub_type(
    headers: RawHeaders, body: bytes, event: str | None
) -> None:
    assert identify(headers, body).event_type == event


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[1, 2, 3]", id="array"),
        pytest.param(b'[{"type": "x", "id": "evt_1"}]', id="array-of-objects"),
        pytest.param(b'"evt_1"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="bool"),
        pytest.param(b'{"type": "x"', id="truncated"),
        pytest.param(b"{not json at all", id="invalid"),
        pytest.param(b"\xff\xfe{\x00", id="not-utf8"),
        pytest.param(b'{"type": "\xff"}', id="invalid-utf8-in-string"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="deeply-nested-object"),
        pytest.param(b'{"type": 5, "id": ["evt_1"], "event": null}', id="wrong-field-types"),
        pytest.param(b'{"type": "", "id": ""}', id="empty-strings"),
        pytest.param(b"", id="empty"),
        pytest.param(None, id="none"),
    ],
)
def test_identify_tolerates_bodies_that_are_not_json_objects(body: bytes | None) -> None:
    """The provider still comes from the headers; nothing is made up from a bad body."""
    assert who(identify(STRIPE, body)) == Identity("stripe", None, None)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'\xef\xbb\xbf{"type": "charge.succeeded", "id": "evt_1"}', id="utf8-bom"),
        pytest.param('{"type": "charge.succeeded", "id": "evt_1"}'.encode("utf-16"), id="utf-16"),
        pytest.param(
            b'{"type": "charge.succeeded", "id": "evt_1", "amount": NaN}', id="nan-elsewhere"
        ),
        pytest.param(
            b'{"type": "charge.succeeded", "id": "evt_1", "note": "\\ud83d"}',
            id="lone-surrogate-escape-elsewhere",
        ),
    ],
)
def test_identify_reads_json_that_the_standard_library_accepts(body: bytes) -> None:
    """The fast decoder is stricter than ``json.loads`` in a few ways senders' libraries are
    not (a byte-order mark, UTF-16, NaN, JavaScript's lone surrogates): same result."""
    assert who(identify(STRIPE, body)) == Identity("stripe", "charge.succeeded", "evt_1")


def test_a_lone_surrogate_event_type_is_stored_as_replacement_text(tmp_path: Path) -> None:
    """``"type": "\\ud800"`` (valid JSON) reaches a TEXT column as U+FFFD, not an error."""
    body = b'{"type": "a\\ud800b", "id": "evt_\\udfff"}'
    identity = identify(STRIPE, body)
    assert identity.event_type == "a\ud800b"
    capture = Capture("POST", "/s", "", STRIPE, body, "1.1", None, 1_700_000_000_000_000)
    with Store(tmp_path / "hooks.db") as store:
        [stored] = store.insert_webhooks([capture])
        again = store.get_webhook(stored.id)
    assert stored.event_type == again.summary.event_type == "a\ufffd\ufffd\ufffdb"
    assert again.summary.provider_id == "evt_\ufffd\ufffd\ufffd"
    assert again.body == body


def test_a_huge_event_type_sub_type_or_id_is_cut_to_a_bounded_length() -> None:
    """Unsigned text from the body never fills the history's index: the event (with its
    sub-type) and the sender's id keep at most ``MAX_NAME`` characters."""
    huge = "o" * 100_000
    identity = identify(GH, js({"action": huge, "issue": {"number": 1}}))
    assert identity.event_type == "issues." + "o" * (MAX_NAME - 8) + "…"
    assert len(identity.event_type) == MAX_NAME
    stripe = identify(STRIPE, js({"type": "invoice." + huge, "id": "evt_" + huge}))
    assert stripe.event_type is not None and len(stripe.event_type) == MAX_NAME
    assert stripe.provider_id == "evt_" + "o" * (MAX_NAME - 5) + "…"
    assert identify(STRIPE, js({"type": "t" * MAX_NAME})).event_type == "t" * MAX_NAME


def test_identify_does_not_parse_a_huge_body() -> None:
    padding = "x" * (MAX_JSON_SNIFF + 10)
    body = js({"type": "charge.succeeded", "id": "evt_big", "padding": padding})
    assert len(body) > MAX_JSON_SNIFF
    assert who(identify(STRIPE, body)) == Identity("stripe", None, None)


def test_identify_parses_a_body_just_under_the_limit() -> None:
    doc: dict[str, str] = {"type": "charge.succeeded", "id": "evt_edge", "padding": ""}
    doc["padding"] = "x" * (MAX_JSON_SNIFF - len(js(doc)))
    body = js(doc)
    assert len(body) == MAX_JSON_SNIFF
    assert who(identify(STRIPE, body)) == Identity("stripe", "charge.succeeded", "evt_edge")


def test_identify_sniffs_a_json_object_without_a_content_type() -> None:
    headers: RawHeaders = ((b"Stripe-Signature", b"t=1,v1=abc"),)
    body = b'  \n {"id": "evt_3", "type": "customer.created"}'
    assert who(identify(headers, body)) == Identity("stripe", "customer.created", "evt_3")


def test_identify_leaves_non_json_content_alone() -> None:
    """A form body that happens to look like nothing is not parsed as JSON."""
    headers: RawHeaders = (
        (b"X-Twilio-Signature", b"sig"),
        (b"Content-Type", b"application/x-www-form-urlencoded"),
    )
    assert who(identify(headers, b"type=should-not-be-read&id=x")) == Identity("twilio", None, None)


def test_identify_tolerates_non_utf8_header_values() -> None:
    headers: RawHeaders = (
        (b"X-GitHub-Event", b"push"),
        (b"X-GitHub-Delivery", b"id-\xff\xfe"),
        (b"Content-Type", b"application/json; charset=\xff"),
    )
    found = identify(headers, b"{}")
    assert found.provider == "github"
    assert found.event_type == "push"
    assert found.provider_id is not None
    assert found.provider_id.startswith("id-")


def test_identify_uses_the_first_of_duplicate_headers() -> None:
    headers: RawHeaders = (
        (b"X-GitHub-Event", b"push"),
        (b"x-github-event", b"issues"),
        (b"X-GitHub-Delivery", b"first"),
        (b"X-GitHub-Delivery", b"second"),
    )
    assert who(identify(headers, None)) == Identity("github", "push", "first")


def test_identify_reports_the_first_content_type() -> None:
    headers = ((b"content-TYPE", b"application/json; charset=utf-8"), (b"Content-Type", b"x/y"))
    assert identify(headers, b"{}").content_type == "application/json; charset=utf-8"
    assert identify((), None).content_type is None
