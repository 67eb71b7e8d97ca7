"""Properties every signature scheme in ``REGISTRY`` must have (Hypothesis).

For a generated body (any bytes, the empty body included, adapted where a scheme needs a JSON
body or a URL): what ``sign`` produces, ``verify`` accepts; any single-byte change to a body the
signature covers fails; any single-character change to the signature header value fails.
``CASES`` holds one valid secret/key pair per scheme (several rows for schemes with more than
one mode); ``test_every_registered_scheme_has_a_case`` keeps the table complete.

Mailgun puts its signature in the body, so its rows are the separate ``test_mailgun_*``
properties: a change to any character of the signed fields fails.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.sigkit import discord_keys, sendgrid_keys, whsk_keys
from whrelay.signatures import REGISTRY, get_scheme
from whrelay.signatures.base import Check, Message, Secret

NOW = 1_735_689_600

PROPS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

BODIES = st.binary(max_size=300)
NON_EMPTY_BODIES = st.binary(min_size=1, max_size=300)
REPLACEMENT_CHARS = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.sampled_from(["\t", "\x00", "\x7f", "é", "\u00a0", "\u2028"]),
)


def draw_index(data: st.DataObject, size: int) -> int:
    """A position in something ``size`` long. Drawn independently of ``size``: ECDSA and the
    random ids and tokens some schemes add make lengths vary from run to run, and Hypothesis
    needs the same draws to replay a failure."""
    return data.draw(st.integers(0, 1 << 16), label="position") % size


def draw_other_char(data: st.DataObject, old: str) -> str:
    """A character other than ``old`` (mapped, not filtered, for the same reason)."""
    char = data.draw(REPLACEMENT_CHARS, label="char")
    if char == old:
        char = "#" if old != "#" else "%"
    return char


# --- keys: one valid pair per scheme -----------------------------------------------------


DISCORD_SIGN, DISCORD_VERIFY = discord_keys()
SENDGRID_SIGN, SENDGRID_VERIFY = sendgrid_keys()
WHSK, WHPK = whsk_keys()
WHSEC = "whsec_" + base64.b64encode(bytes(range(7, 39))).decode()


# --- decode-insensitive equivalences -------------------------------------------------------
# A mutated signature is skipped only when the scheme legitimately reads it as the same
# signature: it decodes the value and compares bytes, and the change survives decoding.


def same_hex(original: str, mutated: str) -> bool:
    """Hex decoded to bytes: a letter's case is not part of the signature (Discord and
    Linear decode it, as ``discord_interactions``' ``bytes.fromhex`` and ``@linear/sdk``'s
    ``Buffer.from(…, "hex")`` do; the generic HMAC documents it)."""
    return original.lower() == mutated.lower()


def _strict_b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def same_b64(original: str, mutated: str) -> bool:
    """Base64 decoded to bytes (SendGrid's DER signature, Standard Webhooks' v1a): the last
    character before ``=`` padding carries 2 or 4 unused bits, so changing only those bits
    decodes to the same signature. Only a *strictly* valid base64 value counts as equal:
    characters outside the alphabet being skipped would not be excused."""
    left, right = _strict_b64(original), _strict_b64(mutated)
    return left is not None and left == right


def _v1a_value(header: str) -> str:
    return header.partition(",")[2]


def same_v1a(original: str, mutated: str) -> bool:
    if original.partition(",")[0] != mutated.partition(",")[0]:
        return False
    return same_b64(_v1a_value(original), _v1a_value(mutated))


def _form_fields(body: bytes) -> list[tuple[str, list[str]]]:
    """Twilio's view of a form body, computed independently of the module: the decoded
    fields (bytes kept one-to-one through latin-1), each name's values de-duplicated and
    sorted, names sorted."""
    grouped: dict[str, set[str]] = {}
    text = body.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
        grouped.setdefault(name, set()).add(value)
    return sorted((name, sorted(values)) for name, values in grouped.items())


def same_form(original: bytes, mutated: bytes) -> bool:
    """Twilio signs the decoded form fields, not the bytes, so a change that leaves them
    equal (``+`` for a space, ``%2b`` for ``%2B``, ``a=&`` for ``a&&``) is the same request."""
    return _form_fields(original) == _form_fields(mutated)


# --- the table ----------------------------------------------------------------------------


def _plain(body: bytes) -> Message:
    return Message(body)


def _linear_json(body: bytes) -> Message:
    """Linear's freshness lives in the JSON body: wrap the generated bytes in one."""
    doc = {"action": "create", "data": body.decode("latin-1"), "webhookTimestamp": NOW * 1000}
    return Message(json.dumps(doc).encode())


def _with_url(url: str) -> Callable[[bytes], Message]:
    def build(body: bytes) -> Message:
        return Message(body, url=url)

    return build


def _with_headers(*headers: tuple[str, str]) -> Callable[[bytes], Message]:
    def build(body: bytes) -> Message:
        return Message(body, headers)

    return build


@dataclass(frozen=True)
class Case:
    id: str
    scheme: str
    """The REGISTRY name."""
    sign_secret: Secret
    verify_secret: Secret
    build: Callable[[bytes], Message] = _plain
    header_index: int = 0
    """Which of ``signature_headers`` carries the signature in this mode (0: the main one)."""
    ignore_timestamp: bool = False
    body_covered: bool = True
    same_signature: Callable[[str, str], bool] | None = None
    same_body: Callable[[bytes, bytes], bool] | None = None
    notes: tuple[str, ...] = field(default=())


CASES: list[Case] = [
    Case(
        "stripe",
        "stripe",
        "whsec_stripe_signing_secret_0123456789",
        "whsec_stripe_signing_secret_0123456789",
    ),
    Case("github", "github", "It's a Secret to Everybody", "It's a Secret to Everybody"),
    # GitLab's X-Gitlab-Token is the secret itself: it authenticates the sender, not the body,
    # so body changes are not expected to fail (documented in the module and the reference).
    Case("gitlab-token", "gitlab", "gl-secret-token-42", "gl-secret-token-42", body_covered=False),
    # GitLab's signing token sends Standard Webhooks headers (signature_headers[1]).
    Case(
        "gitlab-signing-token",
        "gitlab",
        WHSEC,
        WHSEC,
        build=_with_headers(("webhook-signature", "")),
        header_index=1,
    ),
    Case("shopify", "shopify", "shpss_0123456789abcdef", "shpss_0123456789abcdef"),
    Case("slack", "slack", "8f742231b10e8888abcd99yyyzzz85a5", "8f742231b10e8888abcd99yyyzzz85a5"),
    Case(
        "twilio-form",
        "twilio",
        "12345",
        "12345",
        build=_with_url("https://mycompany.com/myapp.php?foo=1&bar=2"),
        same_body=same_form,
    ),
    Case(
        "twilio-json",
        "twilio",
        "12345",
        "12345",
        build=_with_url("https://mycompany.com/myapp.php?bodySHA256="),
    ),
    Case("paddle", "paddle", "pdl_ntfset_01abc_secret", "pdl_ntfset_01abc_secret"),
    Case(
        "square",
        "square",
        "square-signature-key",
        "square-signature-key",
        build=_with_url("https://example.com/webhooks/square"),
    ),
    Case(
        "linear-json",
        "linear",
        "lin_wh_secret",
        "lin_wh_secret",
        build=_linear_json,
        same_signature=same_hex,
    ),
    # Any bytes, freshness not judged (a raw body carries no webhookTimestamp).
    Case(
        "linear-raw",
        "linear",
        "lin_wh_secret",
        "lin_wh_secret",
        ignore_timestamp=True,
        same_signature=same_hex,
    ),
    Case("zoom", "zoom", "zoom-secret-token", "zoom-secret-token"),
    Case("sendgrid", "sendgrid", SENDGRID_SIGN, SENDGRID_VERIFY, same_signature=same_b64),
    Case("discord", "discord", DISCORD_SIGN, DISCORD_VERIFY, same_signature=same_hex),
    Case("svix", "svix", WHSEC, WHSEC),
    Case("standard-webhooks", "standard-webhooks", WHSEC, WHSEC),
    Case("standard-webhooks-v1a", "standard-webhooks", WHSK, WHPK, same_signature=same_v1a),
    Case("hmac", "hmac", "generic-secret", "generic-secret", same_signature=same_hex),
]
SEPARATE = {"mailgun"}
"""Schemes whose properties are tested on their own below (the signature is in the body)."""
SEPARATE_BODY_COVERED = {"mailgun": False}
"""Whether their signature covers the body (Mailgun's covers a timestamp and a token)."""

PARAMS = [pytest.param(case, id=case.id) for case in CASES]


def check_for(case: Case) -> Check:
    return Check((case.verify_secret,), NOW, None, case.ignore_timestamp)


def signed(case: Case, body: bytes) -> tuple[Message, str, str]:
    """The signed message, the signature header's name, and its value."""
    scheme = get_scheme(case.scheme)
    message = scheme.sign(case.build(body), case.sign_secret, NOW)
    name = scheme.signature_headers[case.header_index]
    value = message.header(name)
    assert value, f"{case.id}: sign() set no {name} header"
    return message, name, value


def test_every_registered_scheme_has_a_case() -> None:
    covered = {case.scheme for case in CASES} | SEPARATE
    assert set(REGISTRY) <= covered, f"no property case for {sorted(set(REGISTRY) - covered)}"
    assert covered <= set(REGISTRY), f"cases for unknown schemes {sorted(covered - set(REGISTRY))}"


@pytest.mark.parametrize("case", PARAMS)
@PROPS
@given(body=BODIES)
def test_what_sign_produces_verify_accepts(case: Case, body: bytes) -> None:
    message, _, _ = signed(case, body)
    verdict = get_scheme(case.scheme).verify(message, check_for(case))
    assert verdict.valid, verdict


@pytest.mark.parametrize("case", PARAMS)
@PROPS
@given(body=NON_EMPTY_BODIES, data=st.data())
def test_a_single_byte_changed_in_the_body_fails(
    case: Case, body: bytes, data: st.DataObject
) -> None:
    if not case.body_covered:
        pytest.skip(f"{case.id}: the signature does not cover the body")
    message, _, _ = signed(case, body)
    original = message.body
    index = draw_index(data, len(original))
    byte = data.draw(st.integers(1, 255), label="xor") ^ original[index]
    changed = original[:index] + bytes([byte]) + original[index + 1 :]
    if case.same_body is not None and case.same_body(original, changed):
        return  # the same request as the scheme defines it (see same_form)
    verdict = get_scheme(case.scheme).verify(message.with_body(changed), check_for(case))
    assert not verdict.valid, (changed, verdict)


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id) for case in CASES if not case.body_covered]
)
@PROPS
@given(body=NON_EMPTY_BODIES, data=st.data())
def test_a_body_change_keeps_a_signature_that_does_not_cover_the_body(
    case: Case, body: bytes, data: st.DataObject
) -> None:
    """The other side of ``body_covered``: what replay's note about another body rests on."""
    message, _, _ = signed(case, body)
    changed = message.body + data.draw(st.binary(min_size=1, max_size=20), label="more")
    verdict = get_scheme(case.scheme).verify(message.with_body(changed), check_for(case))
    assert verdict.valid, verdict


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_signs_body_says_whether_every_signature_of_the_scheme_covers_the_body(name: str) -> None:
    """``Scheme.signs_body`` agrees with the properties proven here: ``True`` only when a
    changed body fails every mode of the scheme."""
    covered = [case.body_covered for case in CASES if case.scheme == name]
    expected = SEPARATE_BODY_COVERED[name] if name in SEPARATE else all(covered)
    assert get_scheme(name).signs_body is expected


@pytest.mark.parametrize("case", PARAMS)
@PROPS
@given(body=BODIES, data=st.data())
def test_a_single_character_changed_in_the_signature_fails(
    case: Case, body: bytes, data: st.DataObject
) -> None:
    message, name, value = signed(case, body)
    index = draw_index(data, len(value))
    char = draw_other_char(data, value[index])
    mutated = value[:index] + char + value[index + 1 :]
    if case.same_signature is not None and case.same_signature(value, mutated):
        return  # the scheme legitimately reads it as the same signature (see same_*)
    verdict = get_scheme(case.scheme).verify(message.with_header(name, mutated), check_for(case))
    assert not verdict.valid, (mutated, verdict)


# --- Mailgun: the signature is a JSON object in the body ----------------------------------

MAILGUN_KEY = "key-mailgun-signing-0123456789abcdef"
MAILGUN_FIELDS = ("timestamp", "token", "signature")


def mailgun_signed(body: bytes) -> Message:
    """A JSON webhook whose event data carries the generated bytes, signed by whrelay."""
    doc = {"event-data": {"event": "delivered", "blob": body.decode("latin-1")}}
    return get_scheme("mailgun").sign(Message(json.dumps(doc).encode()), MAILGUN_KEY, NOW)


def mailgun_check() -> Check:
    return Check((MAILGUN_KEY,), NOW)


@PROPS
@given(body=BODIES)
def test_mailgun_what_sign_produces_verify_accepts(body: bytes) -> None:
    message = mailgun_signed(body)
    doc = json.loads(message.body)
    assert set(doc["signature"]) == set(MAILGUN_FIELDS)
    assert doc["event-data"]["blob"] == body.decode("latin-1")
    verdict = get_scheme("mailgun").verify(message, mailgun_check())
    assert verdict.valid, verdict


@PROPS
@given(body=BODIES, data=st.data())
def test_mailgun_a_single_character_changed_in_a_signed_field_fails(
    body: bytes, data: st.DataObject
) -> None:
    """Timestamp, token and signature are what Mailgun signs (the event data is not)."""
    message = mailgun_signed(body)
    doc = json.loads(message.body)
    name = data.draw(st.sampled_from(MAILGUN_FIELDS), label="field")
    value: str = doc["signature"][name]
    index = draw_index(data, len(value))
    char = draw_other_char(data, value[index])
    doc["signature"][name] = value[:index] + char + value[index + 1 :]
    changed = message.with_body(json.dumps(doc).encode())
    verdict = get_scheme("mailgun").verify(changed, mailgun_check())
    assert not verdict.valid, (doc["signature"], verdict)


@PROPS
@given(body=BODIES, other=BODIES)
def test_mailgun_a_change_to_the_event_data_keeps_the_signature(body: bytes, other: bytes) -> None:
    """Mailgun signs its timestamp and token, not the event: another body that carries the
    same signature fields still verifies (so ``signs_body`` is ``False``)."""
    doc = json.loads(mailgun_signed(body).body)
    doc["event-data"]["blob"] = other.decode("latin-1") + "changed"
    changed = Message(json.dumps(doc).encode())
    verdict = get_scheme("mailgun").verify(changed, mailgun_check())
    assert verdict.valid, verdict
