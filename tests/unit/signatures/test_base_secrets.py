"""Several secrets: each is tried on its own, and one that cannot be a key never hides one
that matches.

Every registered scheme gets a request signed by an independent signer: the official library
where there is one (``standardwebhooks``, ``svix``, ``stripe``, ``slack_sdk``, ``twilio``,
``paddle_billing``), else the documented algorithm run by ``hmac``, PyNaCl or ``cryptography``
here. It must verify with ``[unusable, good]`` and with ``[good, unusable]``; the unusable
secret alone is ``no_secret`` naming the form expected (never the secret); and
``key_problem`` is what says so.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import nacl.signing
import pytest
import standardwebhooks
import stripe
import svix.webhooks
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paddle_billing.Notifications import PaddleSignature  # type: ignore[import-untyped]
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.helpers.sigkit import assert_reason
from whrelay.signatures import REGISTRY, get_scheme
from whrelay.signatures.base import Check, Message, Reason, Secret
from whrelay.signatures.explain import explain

NOW = 1_735_689_600
BODY = b'{"id":"evt_1","type":"invoice.paid","webhookTimestamp":1735689600000,"n":"Caf\xc3\xa9"}'
FORM = b"Body=Hello+w%C3%B6rld&From=%2B14158675309"
FORM_PARAMS = {"Body": "Hello w\u00f6rld", "From": "+14158675309"}
URL = "https://example.com/hooks?x=1"

WHSEC = "whsec_" + base64.b64encode(b"several-secrets-signing-key-0001").decode()
GH_SECRET = "gh_secret"
"""The issue's example: a GitHub secret, which is not base64 (``_``)."""

_ED = nacl.signing.SigningKey(bytes(range(1, 33)))
ED_PUBLIC_HEX = _ED.verify_key.encode().hex()
WHPK = "whpk_" + base64.b64encode(_ED.verify_key.encode()).decode()
_EC = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    _EC.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
P384_PUBLIC = base64.b64encode(
    ec.generate_private_key(ec.SECP384R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def hmac_hex(key: str, content: bytes, digest: str = "sha256") -> str:
    return hmac.new(key.encode(), content, digest).hexdigest()


def hmac_b64(key: str, content: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(key.encode(), content, digest).digest()).decode()


# --- one request per scheme, signed by someone other than whrelay ---------------------------


def sw_request(secret: str, prefix: str = "webhook") -> Message:
    when = datetime.fromtimestamp(NOW, tz=UTC)
    signer = standardwebhooks.Webhook if prefix == "webhook" else svix.webhooks.Webhook
    signature = signer(secret).sign("msg_1", when, BODY.decode())
    return Message(
        BODY,
        (
            (f"{prefix}-id", "msg_1"),
            (f"{prefix}-timestamp", str(NOW)),
            (f"{prefix}-signature", signature),
        ),
    )


def v1a_request() -> Message:
    signature = _ED.sign(f"msg_1.{NOW}.".encode() + BODY).signature
    return Message(
        BODY,
        (
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", str(NOW)),
            ("webhook-signature", "v1a," + base64.b64encode(signature).decode()),
        ),
    )


def stripe_request(secret: str) -> Message:
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), secret, timestamp=NOW)
    return Message(BODY, (("Stripe-Signature", header),))


def slack_request(secret: str) -> Message:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(NOW), body=BODY)
    assert signature is not None
    return Message(
        BODY, (("X-Slack-Request-Timestamp", str(NOW)), ("X-Slack-Signature", signature))
    )


def twilio_request(token: str) -> Message:
    signature = RequestValidator(token).compute_signature(URL, FORM_PARAMS)
    headers = (
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", signature),
    )
    return Message(FORM, headers, URL)


def paddle_request(secret: str) -> Message:
    h1 = PaddleSignature.calculate_hmac(secret, f"{NOW}:".encode() + BODY).hexdigest()
    return Message(BODY, (("Paddle-Signature", f"ts={NOW};h1={h1}"),))


def mailgun_request(key: str) -> Message:
    token = "t" * 50
    stamp = {
        "timestamp": str(NOW),
        "token": token,
        "signature": hmac_hex(key, f"{NOW}{token}".encode()),
    }
    body = json.dumps({"signature": stamp, "event-data": {"event": "delivered"}}).encode()
    return Message(body, (("Content-Type", "application/json"),))


def sendgrid_request() -> Message:
    signature = _EC.sign(f"{NOW}".encode() + BODY, ec.ECDSA(hashes.SHA256()))
    return Message(
        BODY,
        (
            ("X-Twilio-Email-Event-Webhook-Signature", base64.b64encode(signature).decode()),
            ("X-Twilio-Email-Event-Webhook-Timestamp", str(NOW)),
        ),
    )


def discord_request() -> Message:
    signature = _ED.sign(f"{NOW}".encode() + BODY).signature.hex()
    return Message(BODY, (("X-Signature-Ed25519", signature), ("X-Signature-Timestamp", str(NOW))))


@dataclass(frozen=True)
class Row:
    id: str
    scheme: str
    """The REGISTRY name."""
    request: Callable[[], Message]
    good: Secret
    unusable: tuple[Secret, ...]
    """Secrets that cannot be this scheme's key (``key_problem`` says why)."""
    others: tuple[Secret, ...] = ()
    """Usable secrets that do not match (another provider's): they hide nothing either."""


EMPTY: tuple[Secret, ...] = ("", b"")

ROWS = [
    Row(
        "standard-webhooks",
        "standard-webhooks",
        lambda: sw_request(WHSEC),
        WHSEC,
        (GH_SECRET, "whsec_not*base64!", "whsec_", "whpk_abc", "whsk_" + "A" * 8, *EMPTY),
    ),
    Row("svix", "svix", lambda: sw_request(WHSEC, "svix"), WHSEC, (GH_SECRET, "whsec_%%", "")),
    Row("svix-unbranded", "svix", lambda: sw_request(WHSEC), WHSEC, (GH_SECRET, "")),
    Row("standard-webhooks-v1a", "standard-webhooks", v1a_request, WHPK, (GH_SECRET, "whpk_")),
    Row("stripe", "stripe", lambda: stripe_request(WHSEC), WHSEC, EMPTY, (GH_SECRET,)),
    Row(
        "github",
        "github",
        lambda: Message(BODY, (("X-Hub-Signature-256", "sha256=" + hmac_hex(GH_SECRET, BODY)),)),
        GH_SECRET,
        EMPTY,
        (WHSEC, "whsec_not*base64!"),
    ),
    Row(
        "gitlab-token",
        "gitlab",
        lambda: Message(BODY, (("X-Gitlab-Token", GH_SECRET),)),
        GH_SECRET,
        EMPTY,
        (WHSEC,),
    ),
    # GitLab's signing token: Standard Webhooks headers; a GitLab token is a usable GitLab
    # secret, but not a Standard Webhooks key, and is skipped for that check.
    Row("gitlab-signing-token", "gitlab", lambda: sw_request(WHSEC), WHSEC, EMPTY, (GH_SECRET,)),
    Row(
        "shopify",
        "shopify",
        lambda: Message(BODY, (("X-Shopify-Hmac-Sha256", hmac_b64("shpss_1", BODY)),)),
        "shpss_1",
        EMPTY,
        (WHSEC,),
    ),
    Row("slack", "slack", lambda: slack_request("8f742231b10e8888"), "8f742231b10e8888", EMPTY),
    Row("twilio", "twilio", lambda: twilio_request("tw-token"), "tw-token", EMPTY, (WHSEC,)),
    Row("paddle", "paddle", lambda: paddle_request("pdl_ntfset_1"), "pdl_ntfset_1", EMPTY),
    Row(
        "square",
        "square",
        lambda: Message(
            BODY, (("x-square-hmacsha256-signature", hmac_b64("sq", URL.encode() + BODY)),), URL
        ),
        "sq",
        EMPTY,
    ),
    Row(
        "linear",
        "linear",
        lambda: Message(BODY, (("Linear-Signature", hmac_hex("lin", BODY)),)),
        "lin",
        EMPTY,
    ),
    Row(
        "zoom",
        "zoom",
        lambda: Message(
            BODY,
            (
                ("x-zm-signature", "v0=" + hmac_hex("zm", f"v0:{NOW}:".encode() + BODY)),
                ("x-zm-request-timestamp", str(NOW)),
            ),
        ),
        "zm",
        EMPTY,
    ),
    Row("mailgun", "mailgun", lambda: mailgun_request("key-mg"), "key-mg", EMPTY),
    Row(
        "sendgrid",
        "sendgrid",
        sendgrid_request,
        SENDGRID_PUBLIC,
        ("not a key", P384_PUBLIC, *EMPTY),
        (WHSEC,),
    ),
    Row(
        "discord",
        "discord",
        discord_request,
        ED_PUBLIC_HEX,
        ("not hex", ED_PUBLIC_HEX[:-2], b"\x00" * 31, WHSEC, *EMPTY),
    ),
    Row(
        "hmac",
        "hmac",
        lambda: Message(BODY, (("X-Signature", hmac_hex("generic", BODY)),)),
        "generic",
        EMPTY,
        (WHSEC,),
    ),
]
PARAMS = [pytest.param(row, id=row.id) for row in ROWS]


def check(*secrets: Secret) -> Check:
    return Check(secrets, NOW, ignore_timestamp=True)


def test_every_registered_scheme_has_a_row() -> None:
    assert {row.scheme for row in ROWS} == set(REGISTRY)


@pytest.mark.parametrize("row", PARAMS)
def test_the_independent_signer_signed_what_the_good_secret_verifies(row: Row) -> None:
    scheme = get_scheme(row.scheme)
    assert scheme.key_problem(row.good) is None
    assert_reason(scheme.verify(row.request(), check(row.good)), Reason.OK)


@pytest.mark.parametrize("row", PARAMS)
def test_a_secret_that_cannot_be_a_key_hides_no_secret_that_matches(row: Row) -> None:
    scheme = get_scheme(row.scheme)
    request = row.request()
    for other in (*row.unusable, *row.others):
        for order in ((other, row.good), (row.good, other)):
            verdict = scheme.verify(request, check(*order))
            assert_reason(verdict, Reason.OK)
            # and the same through explain, as `whrelay verify` runs it
            assert_reason(explain(scheme, request, check(*order)), Reason.OK)
        assert_reason(scheme.verify(request, check(other, *row.unusable, row.good)), Reason.OK)


@pytest.mark.parametrize("row", PARAMS)
def test_unusable_secrets_alone_are_no_secret_naming_the_form_never_the_value(row: Row) -> None:
    scheme = get_scheme(row.scheme)
    request = row.request()
    for secret in row.unusable:
        problem = scheme.key_problem(secret)
        assert problem, secret
        verdict = explain(scheme, request, check(secret))
        assert_reason(verdict, Reason.NO_SECRET)
        # (GitLab's signing-token check names the Standard Webhooks key it needed)
        assert verdict.detail.endswith("the secret cannot be a standard-webhooks key") or (
            verdict.detail == f"the secret cannot be a {scheme.name} key"
        ), verdict
        needed = get_scheme("standard-webhooks") if row.id == "gitlab-signing-token" else scheme
        assert needed.key_problem(secret) in verdict.hints, verdict
        assert not any("--secret" in hint for hint in verdict.hints), verdict
        text = repr(verdict)
        if isinstance(secret, str) and len(secret) > 6:
            assert secret not in text and secret.removeprefix("whsec_") not in text
    if len(row.unusable) > 1:
        verdict = scheme.verify(request, check(*row.unusable))
        assert_reason(verdict, Reason.NO_SECRET)
        assert f"none of the {len(row.unusable)} secrets can be a" in verdict.detail, verdict


@pytest.mark.parametrize("row", PARAMS)
def test_a_usable_secret_that_does_not_match_is_bad_signature_not_no_secret(row: Row) -> None:
    scheme = get_scheme(row.scheme)
    for other in row.others:
        if scheme.key_problem(other) is None and row.id != "gitlab-signing-token":
            assert_reason(scheme.verify(row.request(), check(other)), Reason.BAD_SIGNATURE)


def test_the_issues_example_in_both_orders() -> None:
    """``verify --secret gh_secret --secret whsec_…`` said malformed_header; reversed, valid."""
    scheme = get_scheme("standard-webhooks")
    request = sw_request(WHSEC)
    for order in ((GH_SECRET, WHSEC), (WHSEC, GH_SECRET)):
        verdict = scheme.verify(request, Check(order, NOW))
        assert verdict.valid, verdict


def test_gitlab_with_only_a_token_and_a_signing_token_request_says_which_key_is_missing() -> None:
    verdict = get_scheme("gitlab").verify(sw_request(WHSEC), check(GH_SECRET))
    assert_reason(verdict, Reason.NO_SECRET)
    assert "standard-webhooks key" in verdict.detail
    assert any("whsec_ followed by base64" in hint for hint in verdict.hints), verdict
