"""``whrelay/signatures/mailgun.py``: the signature object in JSON and legacy form bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse

import pytest

from tests.helpers.schemes_others import binary_body
from tests.helpers.sigkit import assert_reason, checker, reserialized
from whrelay.core.errors import UsageError
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.mailgun import MAILGUN

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""

chk = checker(NOW)

JSON_CT = (("Content-Type", "application/json"),)

# --- Mailgun ---------------------------------------------------------------------------------

MAILGUN_KEY = "key-mailgun-signing"

MAILGUN_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f50617283"

MAILGUN_KAT_SIG = "d0d4c836a2dd68dfca868071b48bf58938765e3a57931940b21625976d975a74"
"""``openssl dgst -sha256 -hmac key-mailgun-signing`` over ``1700000000`` + MAILGUN_TOKEN."""


def mailgun_json(signature: object | None = None, **extra: object) -> Message:
    doc: dict[str, object] = {}
    if signature is not None:
        doc["signature"] = signature
    doc.update(extra)
    doc.setdefault("event-data", {"event": "delivered", "recipient": "ü@example.com"})
    return Message(json.dumps(doc, indent=2).encode(), JSON_CT)


KAT_SIGNATURE = {"timestamp": str(NOW), "token": MAILGUN_TOKEN, "signature": MAILGUN_KAT_SIG}


def mailgun_form(**fields: str) -> bytes:
    return urllib.parse.urlencode(fields).encode()


FORM_CT = (("content-type", "application/x-www-form-urlencoded"),)


def test_mailgun_known_answer() -> None:
    expected = hmac.new(
        MAILGUN_KEY.encode(), (str(NOW) + MAILGUN_TOKEN).encode(), hashlib.sha256
    ).hexdigest()
    assert expected == MAILGUN_KAT_SIG
    verdict = MAILGUN.verify(mailgun_json(KAT_SIGNATURE), chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert_reason(MAILGUN.verify(mailgun_json(KAT_SIGNATURE), chk("other")), Reason.BAD_SIGNATURE)


def test_mailgun_event_data_is_not_signed() -> None:
    """Documented: only timestamp + token are covered; edits to the event data pass."""
    edited = mailgun_json(KAT_SIGNATURE, **{"event-data": {"event": "failed"}})
    assert_reason(MAILGUN.verify(edited, chk(MAILGUN_KEY)), Reason.OK)
    compact = mailgun_json(KAT_SIGNATURE)
    compact = compact.with_body(reserialized(compact.body))
    assert_reason(MAILGUN.verify(compact, chk(MAILGUN_KEY)), Reason.OK)


@pytest.mark.parametrize("field", ["timestamp", "token", "signature"])
def test_mailgun_fields_are_signed(field: str) -> None:
    changed = dict(KAT_SIGNATURE)
    value = changed[field]
    changed[field] = value[:-1] + ("1" if value[-1] != "1" else "2")
    verdict = MAILGUN.verify(mailgun_json(changed), chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_mailgun_numeric_timestamp_is_read_as_its_digits() -> None:
    numeric = dict(KAT_SIGNATURE, timestamp=NOW)
    assert_reason(MAILGUN.verify(mailgun_json(numeric), chk(MAILGUN_KEY)), Reason.OK)


def test_mailgun_upper_case_hex_fails_like_mailguns_examples() -> None:
    upper = dict(KAT_SIGNATURE, signature=MAILGUN_KAT_SIG.upper())
    assert_reason(MAILGUN.verify(mailgun_json(upper), chk(MAILGUN_KEY)), Reason.BAD_SIGNATURE)


def test_mailgun_parent_signature() -> None:
    parent_token = "f" * 50
    parent = {
        "timestamp": str(NOW),
        "token": parent_token,
        "signature": hmac.new(b"parent-key", f"{NOW}{parent_token}".encode(), "sha256").hexdigest(),
    }
    message = mailgun_json(KAT_SIGNATURE, **{"parent-signature": parent})
    assert_reason(MAILGUN.verify(message, chk(MAILGUN_KEY)), Reason.OK)
    verdict = MAILGUN.verify(message, chk("parent-key"))
    assert_reason(verdict, Reason.OK)
    assert "parent-signature" in verdict.detail
    assert_reason(MAILGUN.verify(message, chk("third")), Reason.BAD_SIGNATURE)


def test_mailgun_sign_sets_the_signature_object() -> None:
    original = mailgun_json(None, extra={"a": 1})
    message = MAILGUN.sign(original, "k", NOW)
    doc = json.loads(message.body)
    assert next(iter(doc)) == "signature"
    assert doc["event-data"] == json.loads(original.body)["event-data"]
    assert doc["extra"] == {"a": 1}
    sig = doc["signature"]
    assert sig["timestamp"] == str(NOW)
    assert len(sig["token"]) == 50
    assert (
        sig["signature"] == hmac.new(b"k", (str(NOW) + sig["token"]).encode(), "sha256").hexdigest()
    )
    assert message.headers == original.headers
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)


def test_mailgun_sign_replaces_an_old_signature() -> None:
    original = mailgun_json(
        KAT_SIGNATURE, **{"parent-signature": dict(KAT_SIGNATURE), "event-data": {"e": 1}}
    )
    message = MAILGUN.sign(original, "k", NOW + 5)
    doc = json.loads(message.body)
    assert list(doc) == ["signature", "event-data"]
    assert doc["signature"]["token"] != MAILGUN_TOKEN
    assert doc["signature"]["timestamp"] == str(NOW + 5)
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)
    assert_reason(MAILGUN.verify(message, chk(MAILGUN_KEY)), Reason.BAD_SIGNATURE)
    assert MAILGUN.sign(original, "k", NOW).body != MAILGUN.sign(original, "k", NOW).body


def test_mailgun_sign_an_empty_body() -> None:
    message = MAILGUN.sign(Message(b""), "k", NOW)
    assert list(json.loads(message.body)) == ["signature"]
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)


def test_mailgun_sign_refuses_a_body_with_nowhere_to_sign() -> None:
    with pytest.raises(UsageError, match="JSON object or a url-encoded form"):
        MAILGUN.sign(Message(binary_body(NOW)[1:]), "k", NOW)
    with pytest.raises(UsageError, match="multipart"):
        MAILGUN.sign(
            Message(b"x", (("Content-Type", "multipart/form-data; boundary=b"),)), "k", NOW
        )


def test_mailgun_legacy_form_fields() -> None:
    body = mailgun_form(
        event="delivered", timestamp=str(NOW), token=MAILGUN_TOKEN, signature=MAILGUN_KAT_SIG
    )
    assert_reason(MAILGUN.verify(Message(body, FORM_CT), chk(MAILGUN_KEY)), Reason.OK)
    # Without a Content-Type the fields are still found.
    assert_reason(MAILGUN.verify(Message(body), chk(MAILGUN_KEY)), Reason.OK)
    upper = Message(body, (("CONTENT-TYPE", "Application/X-WWW-Form-Urlencoded"),))
    assert_reason(MAILGUN.verify(upper, chk(MAILGUN_KEY)), Reason.OK)
    assert_reason(MAILGUN.verify(Message(body, FORM_CT), chk("other")), Reason.BAD_SIGNATURE)


def test_mailgun_sign_a_form_keeps_the_other_fields_bytes() -> None:
    body = b"event=delivered&recipient=a%40b.c&timestamp=1&token=t&signature=x&note=%FF+1"
    message = MAILGUN.sign(Message(body, FORM_CT), "k", NOW)
    assert message.body.startswith(b"event=delivered&recipient=a%40b.c&note=%FF+1&timestamp=")
    fields = dict(urllib.parse.parse_qsl(message.body.decode("latin-1")))
    assert fields["timestamp"] == str(NOW)
    assert_reason(MAILGUN.verify(message, chk("k")), Reason.OK)


def test_mailgun_legacy_multipart_form() -> None:
    parts = [("event", "delivered"), ("timestamp", str(NOW)), ("token", MAILGUN_TOKEN)]
    parts.append(("signature", MAILGUN_KAT_SIG))
    body = (
        b"".join(
            b'--XyZ\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
            % (name.encode(), value.encode())
            for name, value in parts
        )
        + b"--XyZ--\r\n"
    )
    message = Message(body, (("Content-Type", "multipart/form-data; boundary=XyZ"),))
    assert_reason(MAILGUN.verify(message, chk(MAILGUN_KEY)), Reason.OK)
    assert_reason(MAILGUN.verify(message, chk("other")), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(mailgun_json(None), id="json-without-signature"),
        pytest.param(Message(b""), id="empty"),
        pytest.param(Message(binary_body(NOW)), id="binary"),
        pytest.param(Message(b"\xff\x00\x80"), id="binary-not-json"),
        pytest.param(Message(b"event=delivered", FORM_CT), id="form-without-fields"),
    ],
)
def test_mailgun_missing_signature(message: Message) -> None:
    verdict = MAILGUN.verify(message, chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.MISSING_HEADER)
    assert "in the body" in verdict.detail


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (mailgun_json("abc"), "not an object"),
        (mailgun_json({"timestamp": str(NOW), "signature": MAILGUN_KAT_SIG}), '"token"'),
        (mailgun_json(dict(KAT_SIGNATURE, timestamp="17e8")), "timestamp"),
        (mailgun_json(dict(KAT_SIGNATURE, timestamp=True)), '"timestamp"'),
        (mailgun_json(dict(KAT_SIGNATURE, token="")), "token is empty"),
        (mailgun_json(KAT_SIGNATURE, **{"parent-signature": "x"}), "parent-signature"),
        (Message(mailgun_form(timestamp=str(NOW), token="t"), FORM_CT), "no signature"),
    ],
)
def test_mailgun_malformed_signature(message: Message, words: str) -> None:
    verdict = MAILGUN.verify(message, chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.MALFORMED_HEADER)
    assert words in verdict.detail


@pytest.mark.parametrize(
    ("signature", "found"),
    [
        ("nothex", "the signature is not hex; Mailgun sends hex"),
        (MAILGUN_KAT_SIG.upper(), "upper-case hex"),
        (MAILGUN_KAT_SIG[:-2], "62 hex digits; Mailgun sends 64"),
        ("", "the signature is empty"),
    ],
)
def test_mailgun_signature_in_the_wrong_form_is_bad_signature(signature: str, found: str) -> None:
    assert_reason(MAILGUN.verify(mailgun_json(KAT_SIGNATURE), chk(MAILGUN_KEY)), Reason.OK)
    message = mailgun_json(dict(KAT_SIGNATURE, signature=signature))
    verdict = MAILGUN.verify(message, chk(MAILGUN_KEY))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict


def test_mailgun_has_no_signature_header() -> None:
    assert MAILGUN.signature_headers == ()
