"""``whrelay/signatures/verification.py``: signing checked against verifying."""

from __future__ import annotations

import base64
import hmac

import pytest

from tests.helpers.schemes_others import body_at
from tests.helpers.sigkit import assert_reason
from whrelay.core.errors import UsageError
from whrelay.signatures import get_scheme
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.linear import LINEAR
from whrelay.signatures.verification import sign_checked

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""

JSON_CT = (("Content-Type", "application/json"),)


def test_sign_checked_signs_and_says_when_what_it_signed_would_not_verify() -> None:
    """``whrelay sign``/``send`` sign what they are given, and say when the receiver's check
    would fail (a Linear body without ``webhookTimestamp``)."""
    signed, check = sign_checked(LINEAR, Message(b'{"a":1}'), "k", NOW)
    assert (
        dict(signed.headers)["Linear-Signature"] == hmac.new(b"k", b'{"a":1}', "sha256").hexdigest()
    )
    assert_reason(check, Reason.MALFORMED_HEADER)
    assert "webhookTimestamp" in check.detail
    _, fresh = sign_checked(LINEAR, Message(body_at(NOW)), "k", NOW)
    assert_reason(fresh, Reason.OK)


def test_sign_checked_refuses_a_key_that_only_verifies() -> None:
    public_key = "whpk_" + base64.b64encode(bytes(32)).decode()
    with pytest.raises(UsageError, match="cannot sign with this standard-webhooks secret"):
        sign_checked(get_scheme("standard-webhooks"), Message(b"{}"), public_key, NOW)
