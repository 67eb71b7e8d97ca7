"""``whrelay/signatures/zoom.py``: known answers over the raw body."""

from __future__ import annotations

import hmac
import json

from tests.helpers.sigkit import assert_reason, checker
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.zoom import ZOOM

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: the moment every check is judged at."""

chk = checker(NOW)

# --- Zoom ------------------------------------------------------------------------------------

ZOOM_KAT_BODY = b'{"event":"meeting.started","payload":{"plainToken":"abc"}}'

ZOOM_KAT_SIG = "v0=ed13c3ce7a281dfc7b37251578fe9e90fbdef37da0b61ca54f1c297659eeabd5"
"""``openssl dgst -sha256 -hmac zoom_secret_token`` over ``v0:1700000000:`` + ZOOM_KAT_BODY."""


def zoom_message(body: bytes, signature: str, stamp: str = str(NOW)) -> Message:
    return Message(body, (("x-zm-signature", signature), ("x-zm-request-timestamp", stamp)))


def test_zoom_known_answer() -> None:
    message = zoom_message(ZOOM_KAT_BODY, ZOOM_KAT_SIG)
    verdict = ZOOM.verify(message, chk("zoom_secret_token"))
    assert_reason(verdict, Reason.OK)
    assert verdict.timestamp == NOW
    assert ZOOM.sign(Message(ZOOM_KAT_BODY), "zoom_secret_token", NOW) == message
    content = b"v0:%d:" % NOW + ZOOM_KAT_BODY
    assert "v0=" + hmac.new(b"zoom_secret_token", content, "sha256").hexdigest() == ZOOM_KAT_SIG


def test_zoom_macs_the_raw_body_not_its_json() -> None:
    """Zoom's sample and Rivet MAC ``JSON.stringify(JSON.parse(body))``; whrelay MACs the
    bytes, so a body that only round-trips through JSON does not pass."""
    spaced = json.dumps(json.loads(ZOOM_KAT_BODY)).encode()
    verdict = ZOOM.verify(zoom_message(spaced, ZOOM_KAT_SIG), chk("zoom_secret_token"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)


def test_zoom_compares_the_whole_lower_case_value() -> None:
    upper = "v0=" + ZOOM_KAT_SIG[3:].upper()
    verdict = ZOOM.verify(zoom_message(ZOOM_KAT_BODY, upper), chk("zoom_secret_token"))
    assert_reason(verdict, Reason.BAD_SIGNATURE)
