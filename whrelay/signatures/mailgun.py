"""Mailgun: the signature travels in the body, not in a header.

JSON webhooks: ``{"signature": {"timestamp": "<unix>", "token": "<50 chars>", "signature":
"<hex>"}, "event-data": {…}}``, where ``signature = hex(HMAC-SHA256(signing key as UTF-8,
timestamp + token))`` (no separator). **The event data is not covered**: only the timestamp and
the token are, so a relay may re-serialize the body without breaking it, and an edited body
still passes. Subaccount events add ``"parent-signature"`` (the same MAC with the parent
account's key); either object may match. Legacy webhooks send ``timestamp``, ``token`` and
``signature`` as form fields (``application/x-www-form-urlencoded`` or
``multipart/form-data``). The hex is compared as the whole string, as Mailgun's examples do.

``signature_headers`` is empty: no header carries the signature, and a pseudo header name
would send ``explain`` looking for the signature under other headers, which cannot help here.
A body without any signature is ``missing_header`` (the signature is missing, wherever it
lives), with a detail that says where Mailgun puts it.

No timestamp window is documented (Mailgun asks receivers to cache tokens and refuse reused
ones, which a pure check cannot do), so the timestamp is checked only when the check gives a
tolerance.

``sign`` is the one ``sign`` that edits the body: it sets a fresh ``signature`` object (a new
random token) in a JSON body, dropping a ``parent-signature`` it can no longer vouch for, or
replaces the three fields of a url-encoded form in place (other fields keep their bytes). A
JSON body is re-serialized, which changes no signature since the event data is not signed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote_plus, unquote_plus

from whrelay.core.errors import UsageError
from whrelay.core.models import encode_header
from whrelay.identify.facts import BodyMark, Identification
from whrelay.signatures.base import (
    Check,
    MalformedError,
    Message,
    Reason,
    Secret,
    Verification,
    bad,
    check_time,
    encoding_problem,
    mac,
    malformed,
    ok,
    parse_timestamp,
    same,
    text_key_problem,
    usable_keys,
    utf8,
)
from whrelay.signatures.examples import GENERIC_EXAMPLE, Example

TOLERANCE = 0.0
"""No default window: ``check_time`` skips a tolerance of 0 unless the check gives one."""
SIGNATURE_FIELD = "signature"
PARENT_FIELD = "parent-signature"
FORM_FIELDS = ("timestamp", "token", "signature")


@dataclass(frozen=True, slots=True)
class Signed:
    """One signature found in a message: where it was, and what it signs."""

    where: str
    timestamp: str
    token: str
    signature: str


def signature_of(secret: Secret, timestamp: str, token: str) -> str:
    return mac(utf8(secret), (timestamp + token).encode("utf-8")).hex()


def read_signatures(message: Message) -> list[Signed]:
    """The signatures a Mailgun message carries (``[]`` if none); ``MalformedError`` when one
    is there but cannot be read."""
    content_type = (message.header("content-type") or "").lower()
    if "multipart/form-data" in content_type:
        return _from_form(_multipart_fields(message), "multipart form")
    if "x-www-form-urlencoded" in content_type:
        return _from_form(_urlencoded_fields(message.body), "form")
    doc = _json_object(message.body, strict=False)
    if doc is not None:
        return _from_json(doc)
    return _from_form(_urlencoded_fields(message.body), "form")


def _json_object(body: bytes, *, strict: bool) -> dict[str, object] | None:
    if body.lstrip()[:1] != b"{":
        return None
    try:
        text = body.decode("utf-8") if strict else body.decode("utf-8", "replace")
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _from_json(doc: dict[str, object]) -> list[Signed]:
    found = []
    for key in (SIGNATURE_FIELD, PARENT_FIELD):
        if key not in doc:
            continue
        obj = doc[key]
        if not isinstance(obj, dict):
            raise MalformedError(
                f'"{key}" in the JSON body is not an object with timestamp, token and signature'
            )
        values = []
        for field in FORM_FIELDS:
            value = obj.get(field)
            if field == "timestamp" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise MalformedError(f'"{key}" in the JSON body has no string "{field}"')
            values.append(value)
        found.append(_checked(f'"{key}"', *values))
    return found


def _from_form(fields: dict[str, str], what: str) -> list[Signed]:
    present = [name for name in FORM_FIELDS if name in fields]
    if not present:
        return []
    absent = [name for name in FORM_FIELDS if name not in fields]
    if absent:
        raise MalformedError(f"the {what} has {', '.join(present)} but no {', '.join(absent)}")
    return [_checked(f"{what} fields", *(fields[name] for name in FORM_FIELDS))]


def _checked(where: str, timestamp: str, token: str, signature: str) -> Signed:
    try:
        parse_timestamp(timestamp)
    except MalformedError as error:
        raise MalformedError(f"{where}: {error}") from None
    if not token:
        raise MalformedError(f"{where}: the token is empty")
    return Signed(where, timestamp, token, signature)


def _urlencoded_fields(body: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


def _multipart_fields(message: Message) -> dict[str, str]:
    from email.parser import BytesParser

    content_type = (message.header("content-type") or "").replace("\r", "").replace("\n", "")
    envelope = b"Content-Type: " + encode_header(content_type) + b"\r\n\r\n"
    parsed = BytesParser().parsebytes(envelope + message.body)
    fields: dict[str, str] = {}
    if not parsed.is_multipart():
        return fields
    for part in parsed.walk():
        if part is parsed:
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name not in FORM_FIELDS or name in fields:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace").strip()
    return fields


def _signed_form(body: bytes, timestamp: str, token: str, signature: str) -> bytes:
    kept = [
        pair
        for pair in body.split(b"&")
        if pair and unquote_plus(pair.partition(b"=")[0].decode("latin-1")) not in FORM_FIELDS
    ]
    for name, value in zip(FORM_FIELDS, (timestamp, token, signature), strict=True):
        kept.append(f"{name}={quote_plus(value)}".encode())
    return b"&".join(kept)


def _signed_json(doc: dict[str, object], timestamp: str, token: str, signature: str) -> bytes:
    stamp = {"timestamp": timestamp, "token": token, "signature": signature}
    if SIGNATURE_FIELD in doc:
        doc[SIGNATURE_FIELD] = stamp
    else:
        doc = {SIGNATURE_FIELD: stamp, **doc}
    doc.pop(PARENT_FIELD, None)
    try:
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc).encode("ascii")


IDENTIFICATION = Identification(
    body=BodyMark(
        json_field=SIGNATURE_FIELD,
        json_keys=FORM_FIELDS,
        form_fields=(("timestamp", r"\d+"), ("token", r"[^&]+"), ("signature", r"[0-9a-fA-F]{64}")),
        form_event="event",
    ),
    event_fields=(("event-data", "event"),),
    id_fields=(("event-data", "id"),),
    common_fields=False,
)
"""Mailgun names itself in no header: its webhooks are told by the signature in the body."""
EXAMPLE = GENERIC_EXAMPLE


@dataclass(frozen=True, slots=True)
class Mailgun:
    name: str = "mailgun"
    signature_headers: tuple[str, ...] = ()
    needs_url: bool = False
    signs_body: bool = False  # it signs a timestamp and token, not the event data
    identification: Identification | None = IDENTIFICATION
    example: Example = EXAMPLE
    secret_headers: tuple[str, ...] = ()

    def sign(self, message: Message, secret: Secret, now: int) -> Message:
        timestamp = str(now)
        token = secrets.token_hex(25)
        signature = signature_of(secret, timestamp, token)
        content_type = (message.header("content-type") or "").lower()
        body = message.body
        if "multipart/form-data" in content_type:
            raise UsageError(
                "mailgun: re-signing a multipart/form-data body is not supported",
                hint="Mailgun's JSON webhooks carry the signature in a JSON object",
            )
        if "x-www-form-urlencoded" in content_type:
            return message.with_body(_signed_form(body, timestamp, token, signature))
        if not body.strip():
            return message.with_body(_signed_json({}, timestamp, token, signature))
        doc = _json_object(body, strict=True)
        if doc is not None:
            return message.with_body(_signed_json(doc, timestamp, token, signature))
        if any(name in _urlencoded_fields(body) for name in FORM_FIELDS):
            return message.with_body(_signed_form(body, timestamp, token, signature))
        raise UsageError(
            "mailgun signs inside the body: it must be a JSON object or a url-encoded form",
            hint="the body is neither, so there is nowhere to put the signature",
        )

    def verify(self, message: Message, check: Check) -> Verification:
        try:
            entries = read_signatures(message)
        except MalformedError as error:
            return malformed(self.name, str(error))
        if not entries:
            return Verification(
                self.name,
                Reason.MISSING_HEADER,
                'no Mailgun signature: Mailgun puts it in the body, as a "signature" object '
                "(timestamp, token, signature) in JSON or as form fields",
            )
        keys = usable_keys(self, check)
        if isinstance(keys, Verification):
            return keys
        matched: Signed | None = None
        for key in keys:
            for entry in entries:
                expected = signature_of(key, entry.timestamp, entry.token)
                if same(entry.signature, expected) and matched is None:
                    matched = entry
        timestamp = float(parse_timestamp((matched or entries[0]).timestamp))
        late = check_time(self.name, timestamp, check, TOLERANCE)
        if late is not None:
            note = "the signature itself matches" if matched else "the signature does not match"
            return Verification(self.name, late.reason, f"{late.detail} ({note})", timestamp)
        if matched is None:
            found = [
                encoding_problem(entry.signature, "hex", 32, "Mailgun", lower_case=True)
                for entry in entries
            ]
            return bad(self.name, timestamp=timestamp, hints=[found[0] if all(found) else None])
        detail = "" if matched.where != f'"{PARENT_FIELD}"' else "the parent-signature matches"
        return ok(self.name, timestamp, detail)

    def key_problem(self, secret: Secret) -> str | None:
        return text_key_problem(secret)


MAILGUN = Mailgun()
