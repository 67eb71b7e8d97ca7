"""``explain``: a failed check with the likely cause named (in process; ``whrelay verify``'s
output is in ``tests/e2e/test_verify_hints.py``)."""

from __future__ import annotations

import hashlib
import hmac

from whrelay.signatures import get_scheme
from whrelay.signatures.base import Check, Message, Reason
from whrelay.signatures.explain import explain

NOW = 1_735_689_600
BODY = b'{"id":"evt_1","type":"invoice.paid"}'
SECRET = "whsec_endpointSecret0123456789"


def stripe_message(body: bytes = BODY, secret: str = SECRET) -> Message:
    mac = hmac.new(secret.encode(), b"%d." % NOW + body, hashlib.sha256).hexdigest()
    return Message(body, (("Stripe-Signature", f"t={NOW},v1={mac}"),))


def test_a_signature_no_slip_explains_names_another_secret_as_the_likely_cause() -> None:
    verdict = explain(get_scheme("stripe"), stripe_message(), Check(("whsec_otherEndpoint1",), NOW))
    assert verdict.reason is Reason.BAD_SIGNATURE
    [hint] = verdict.hints
    assert "most likely the secret is not the one that signed it" in hint
    assert "the URL" not in hint  # Stripe does not sign it
    assert "whsec_otherEndpoint1" not in hint


def test_with_several_secrets_the_hint_says_none_of_them_signed_it() -> None:
    check = Check(("whsec_otherEndpoint1", "whsec_otherEndpoint2"), NOW)
    [hint] = explain(get_scheme("stripe"), stripe_message(), check).hints
    assert "most likely none of the 2 secrets is the one that signed it" in hint


def test_a_slip_that_explains_the_failure_is_named_instead_of_another_secret() -> None:
    signed = stripe_message()
    newline = signed.with_body(BODY + b"\n")
    hints = explain(get_scheme("stripe"), newline, Check((SECRET,), NOW)).hints
    assert any("trailing newline was added" in hint for hint in hints), hints
    assert not any("not the one that signed it" in hint for hint in hints), hints


def test_a_signature_the_scheme_finds_malformed_is_not_put_down_to_another_secret() -> None:
    """A signature of the wrong length is what the scheme names; "no slip explains it" would
    say the opposite."""
    cut = Message(BODY, (("Stripe-Signature", f"t={NOW},v1=00"),))
    hints = explain(get_scheme("stripe"), cut, Check((SECRET,), NOW)).hints
    assert hints == ("the signature has 2 hex digits; Stripe sends 64",)
