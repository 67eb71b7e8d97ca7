"""``whrelay/signatures/twilio.py``: form and JSON bodies, URL variants, ``twilio`` as oracle."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.helpers.schemes_hmac import hmac_b64, mixed_case
from tests.helpers.sigkit import assert_reason, checker, flip_byte, reserialized
from whrelay.core.errors import UsageError
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.twilio import TWILIO, url_variants

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

BINARY_BODY = b"\xff\xfe\x00\x80binary\xc3\x28\n\r\n"
"""Not UTF-8 (0xff, a lone continuation byte, an invalid two-byte sequence)."""

FORM_BODY = b"Body=Hello+w%C3%B6rld&From=%2B14158675309&To=%2B18005551212&Empty="

TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"

# --- Twilio -------------------------------------------------------------------------------------

TWILIO_TOKEN = "12345"

TWILIO_DOC_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]

TWILIO_DOC_KA = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
"""Reference §8: Twilio's documentation example."""

TWILIO_LIB_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]

TWILIO_LIB_KA = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

TWILIO_JSON = b'{"property": "value", "boolean": true}'

TWILIO_JSON_URL = (
    TWILIO_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
)

TWILIO_JSON_KA = "a9nBmqA0ju/hNViExpshrM61xv4="
"""twilio-python's own test vectors (form and JSON), recomputed with the installed library."""


class MultiDict:
    """A form with repeated names, as Django's ``QueryDict`` offers it to the oracle."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self.pairs))

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def twilio_message(body: bytes, signature: str, url: str | None = TWILIO_URL) -> Message:
    return Message(
        body,
        (
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", signature),
        ),
        url,
    )


TWILIO_FORMS = [
    pytest.param(TWILIO_DOC_PARAMS, id="docs"),
    pytest.param([("Body", "héllo wörld & more=1"), ("From", "+1555")], id="utf8-and-escapes"),
    pytest.param([("Tag", "b"), ("Tag", "a"), ("Tag", "b"), ("A", "")], id="repeated-names"),
    pytest.param([], id="empty"),
]


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        (TWILIO_URL, TWILIO_DOC_PARAMS, TWILIO_DOC_KA),
        (TWILIO_URL, TWILIO_LIB_PARAMS, TWILIO_LIB_KA),
    ],
)
def test_twilio_known_answers_form(url: str, params: list[tuple[str, str]], signature: str) -> None:
    body = urlencode(params).encode()
    assert b"%2B" in body
    signed = TWILIO.sign(Message(body, url=url), TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == signature
    assert signed.url == url
    message = twilio_message(body, signature, url)
    assert_reason(TWILIO.verify(message, chk(TWILIO_TOKEN)), Reason.OK)
    reordered = urlencode(list(reversed(params))).encode()
    assert_reason(TWILIO.verify(message.with_body(reordered), chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_known_answer_json_body_sha256() -> None:
    signed = TWILIO.sign(Message(TWILIO_JSON, url=TWILIO_JSON_URL), TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == TWILIO_JSON_KA
    assert signed.url == TWILIO_JSON_URL
    message = twilio_message(TWILIO_JSON, TWILIO_JSON_KA, TWILIO_JSON_URL)
    assert_reason(TWILIO.verify(message, chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_json_body_changed_under_a_signed_url() -> None:
    message = twilio_message(b'{"property": "other"}', TWILIO_JSON_KA, TWILIO_JSON_URL)
    verdict = TWILIO.verify(message, chk(TWILIO_TOKEN))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert "body" in verdict.detail
    assert "bodySHA256" in verdict.detail
    re_encoded = twilio_message(reserialized(TWILIO_JSON), TWILIO_JSON_KA, TWILIO_JSON_URL)
    assert_reason(TWILIO.verify(re_encoded, chk(TWILIO_TOKEN)), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/myapp?bodySHA256=",
        "https://example.com/myapp?bodySHA256=not-a-hex-digest",
        "https://example.com/myapp?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b28",
    ],
)
def test_twilio_bad_body_sha256_fails_closed(url: str) -> None:
    """A signature valid for its URL, but the URL's hash is not the body's."""
    sig = hmac_b64(TWILIO_TOKEN.encode(), url.encode(), "sha1")
    verdict = TWILIO.verify(twilio_message(TWILIO_JSON, sig, url), chk(TWILIO_TOKEN))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_twilio_body_sha256_is_compared_by_value() -> None:
    url = TWILIO_URL + "&bodySHA256=" + hashlib.sha256(TWILIO_JSON).hexdigest().upper()
    sig = hmac_b64(TWILIO_TOKEN.encode(), url.encode(), "sha1")
    assert_reason(
        TWILIO.verify(twilio_message(TWILIO_JSON, sig, url), chk(TWILIO_TOKEN)), Reason.OK
    )


def test_twilio_binary_json_variant_hashes_raw_bytes() -> None:
    url = "https://example.com/hook?bodySHA256=" + hashlib.sha256(BINARY_BODY).hexdigest()
    signed = TWILIO.sign(Message(BINARY_BODY, url=url), TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == hmac_b64(b"12345", url.encode(), "sha1")
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)
    assert_reason(
        TWILIO.verify(signed.with_body(flip_byte(BINARY_BODY)), chk(TWILIO_TOKEN)),
        Reason.BAD_SIGNATURE,
    )


def test_twilio_sign_puts_the_body_hash_in_the_url() -> None:
    stale = "https://example.com/hook?a=1&bodySHA256=" + "0" * 64 + "&b=2"
    signed = TWILIO.sign(Message(TWILIO_JSON, url=stale), TWILIO_TOKEN, NOW)
    assert signed.url == (
        "https://example.com/hook?a=1&bodySHA256="
        + hashlib.sha256(TWILIO_JSON).hexdigest()
        + "&b=2"
    )
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)
    assert_reason(TWILIO.verify(signed.with_url(stale), chk(TWILIO_TOKEN)), Reason.BAD_SIGNATURE)


def test_twilio_binary_form_values_are_maced_as_bytes() -> None:
    body = b"B=%FF%FE&A=\x80raw\xff"
    signed = TWILIO.sign(Message(body, url=TWILIO_URL), TWILIO_TOKEN, NOW)
    expected = TWILIO_URL.encode() + b"A\x80raw\xff" + b"B\xff\xfe"
    assert signed.header("X-Twilio-Signature") == hmac_b64(b"12345", expected, "sha1")
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_no_body_signs_the_url_alone() -> None:
    url = "https://example.com/voice?CallSid=CA1&From=%2B1555"
    message = Message(b"", url=url, method="GET")
    signed = TWILIO.sign(message, TWILIO_TOKEN, NOW)
    assert signed.header("X-Twilio-Signature") == hmac_b64(b"12345", url.encode(), "sha1")
    assert RequestValidator(TWILIO_TOKEN).validate(url, {}, signed.header("X-Twilio-Signature"))
    assert_reason(TWILIO.verify(signed, chk(TWILIO_TOKEN)), Reason.OK)


@pytest.mark.parametrize(
    ("signed_url", "checked_url", "reason"),
    [
        ("https://example.com/hook", "https://example.com:443/hook", Reason.OK),
        ("https://example.com:443/hook", "https://example.com/hook", Reason.OK),
        ("http://example.com/hook", "http://example.com:80/hook", Reason.OK),
        ("http://example.com:80/hook?x=1", "http://example.com/hook?x=1", Reason.OK),
        ("https://u:p@example.com/hook", "https://u:p@example.com:443/hook", Reason.OK),
        ("https://[::1]/hook", "https://[::1]:443/hook", Reason.OK),
        ("https://example.com/hook", "http://example.com/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://example.com:80/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://example.com:8443/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://relay.local/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook?x=1", "https://example.com/hook", Reason.BAD_SIGNATURE),
        ("https://example.com/hook", "https://example.com/hook/", Reason.BAD_SIGNATURE),
    ],
)
def test_twilio_url_and_default_port(signed_url: str, checked_url: str, reason: Reason) -> None:
    signed = TWILIO.sign(Message(FORM_BODY, url=signed_url), TWILIO_TOKEN, NOW)
    verdict = TWILIO.verify(signed.with_url(checked_url), chk(TWILIO_TOKEN))
    assert_reason(verdict, reason)
    if reason is Reason.BAD_SIGNATURE:
        assert checked_url in verdict.detail


def test_twilio_url_variants() -> None:
    assert [u for u, _ in url_variants("https://a.example/x")] == [
        "https://a.example/x",
        "https://a.example:443/x",
    ]
    assert [u for u, _ in url_variants("HTTP://a.example:80")] == [
        "HTTP://a.example:80",
        "HTTP://a.example",
    ]
    assert [u for u, _ in url_variants("https://a.example:8443/x")] == ["https://a.example:8443/x"]
    assert [u for u, _ in url_variants("wss://a.example/x")] == ["wss://a.example/x"]
    assert [u for u, _ in url_variants("/relative")] == ["/relative"]


def test_twilio_form_value_changed_or_param_added() -> None:
    signed = TWILIO.sign(Message(FORM_BODY, url=TWILIO_URL), TWILIO_TOKEN, NOW)
    for body in (
        FORM_BODY.replace(b"Hello", b"Hallo"),
        FORM_BODY + b"&Extra=1",
        FORM_BODY.replace(b"&Empty=", b""),
    ):
        assert_reason(
            TWILIO.verify(signed.with_body(body), chk(TWILIO_TOKEN)), Reason.BAD_SIGNATURE
        )
    # Re-encoding the same fields does not matter: they are signed decoded.
    re_encoded = b"To=%2B18005551212&Empty=&From=%2b14158675309&Body=Hello%20w%c3%b6rld"
    assert_reason(TWILIO.verify(signed.with_body(re_encoded), chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_url_is_needed() -> None:
    signed = TWILIO.sign(Message(FORM_BODY, url=TWILIO_URL), TWILIO_TOKEN, NOW)
    for secrets in ((TWILIO_TOKEN,), ()):
        verdict = TWILIO.verify(signed.with_url(None), chk(*secrets))
        assert_reason(verdict, Reason.MALFORMED_HEADER)
        assert "URL" in verdict.detail
        assert "--url" in verdict.detail
        assert "--public-url" in verdict.detail
    assert_reason(
        TWILIO.verify(signed.with_url(None).without_header("X-Twilio-Signature"), chk("x")),
        Reason.MISSING_HEADER,
    )
    with pytest.raises(UsageError):
        TWILIO.sign(Message(FORM_BODY), TWILIO_TOKEN, NOW)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("not base64!!", "not base64"),
        # SHA-256 sized without the settings header
        (
            base64.b64encode(b"\x00" * 32).decode(),
            "decodes to 32 bytes; Twilio (HMAC_SHA1) sends 20",
        ),
        (hashlib.sha1(b"x").hexdigest(), "the signature is hex, Twilio (HMAC_SHA1) sends base64"),
    ],
)
def test_twilio_signature_in_the_wrong_form_is_bad_signature(value: str, found: str) -> None:
    message = twilio_message(FORM_BODY, value)
    verdict = TWILIO.verify(message, chk(TWILIO_TOKEN))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any(found in hint for hint in verdict.hints), verdict
    assert_reason(TWILIO.verify(message, chk()), Reason.NO_SECRET)


def test_twilio_shared_key_hmac_sha256() -> None:
    settings = (
        "X-Twilio-Webhooks-Signature-Settings",
        "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    )
    params = TWILIO_LIB_PARAMS
    body = urlencode(params).encode()
    signed = TWILIO.sign(Message(body, (settings,), TWILIO_URL), "shared-secret", NOW)
    sig = signed.header("X-Twilio-Signature")
    oracle = RequestValidator("shared-secret")
    assert sig == oracle.compute_signature(TWILIO_URL, dict(params), "HMAC_SHA256")
    assert oracle.validate(TWILIO_URL, dict(params), sig, "HMAC_SHA256")
    assert_reason(TWILIO.verify(signed, chk("shared-secret")), Reason.OK)
    # Without the settings header the same signature is read as SHA-1: the wrong size.
    plain = signed.without_header(settings[0])
    verdict = TWILIO.verify(plain, chk("shared-secret"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any("decodes to 32 bytes" in hint for hint in verdict.hints), verdict
    unknown = signed.with_header(settings[0], "key=k,algorithm=HMAC_SHA512")
    verdict = TWILIO.verify(unknown, chk("shared-secret"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
    assert any("'HMAC_SHA512'" in hint for hint in verdict.hints), verdict
    assert not RequestValidator("shared-secret").validate(
        TWILIO_URL, dict(params), sig, "HMAC_SHA512"
    )
    with pytest.raises(UsageError):
        TWILIO.sign(unknown, "shared-secret", NOW)


@pytest.mark.parametrize("params", TWILIO_FORMS)
@pytest.mark.parametrize("url", [TWILIO_URL, "http://example.com:80/sms", "https://h.example:443/"])
def test_twilio_oracle_accepts_what_whrelay_signs(params: list[tuple[str, str]], url: str) -> None:
    body = urlencode(params).encode()
    signed = TWILIO.sign(Message(body, url=url), TWILIO_TOKEN, NOW)
    sig = signed.header("X-Twilio-Signature")
    assert RequestValidator(TWILIO_TOKEN).validate(url, MultiDict(params), sig)
    assert not RequestValidator("wrong").validate(url, MultiDict(params), sig)


@pytest.mark.parametrize("params", TWILIO_FORMS)
@pytest.mark.parametrize("url", [TWILIO_URL, "http://example.com:80/sms", "https://h.example:443/"])
def test_whrelay_accepts_what_the_twilio_oracle_signs(
    params: list[tuple[str, str]], url: str
) -> None:
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, MultiDict(params))
    message = mixed_case(twilio_message(urlencode(params).encode(), sig, url))
    assert_reason(TWILIO.verify(message, chk(TWILIO_TOKEN)), Reason.OK)
    assert_reason(TWILIO.verify(message, chk("wrong")), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("body", [TWILIO_JSON, JSON_BODY, b"[]"])
def test_twilio_json_oracle_both_ways(body: bytes) -> None:
    url = "https://example.com/status?bodySHA256=" + hashlib.sha256(body).hexdigest()
    signed = TWILIO.sign(Message(body, url=url), TWILIO_TOKEN, NOW)
    sig = signed.header("X-Twilio-Signature")
    oracle = RequestValidator(TWILIO_TOKEN)
    assert oracle.validate(url, body.decode(), sig)
    assert not oracle.validate(url, body.decode() + " ", sig)
    theirs = oracle.compute_signature(url, {})
    assert_reason(TWILIO.verify(twilio_message(body, theirs, url), chk(TWILIO_TOKEN)), Reason.OK)


def test_twilio_oracle_port_handling_agrees() -> None:
    oracle = RequestValidator(TWILIO_TOKEN)
    body = urlencode(TWILIO_DOC_PARAMS).encode()
    for signed_url, checked_url in (
        ("https://example.com:443/hook", "https://example.com/hook"),
        ("https://example.com/hook", "https://example.com:443/hook"),
    ):
        sig = oracle.compute_signature(signed_url, dict(TWILIO_DOC_PARAMS))
        assert oracle.validate(checked_url, dict(TWILIO_DOC_PARAMS), sig)
        message = twilio_message(body, sig, checked_url)
        verdict = TWILIO.verify(message, chk(TWILIO_TOKEN))
        assert_reason(verdict, Reason.OK)
        assert "default port" in verdict.detail
