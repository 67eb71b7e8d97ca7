"""``whrelay/signatures/gitlab.py``: the secret token, and the signing token (Standard Webhooks)."""

from __future__ import annotations

import base64

import pytest

from tests.helpers.sigkit import assert_reason, checker, flip_byte
from whrelay.signatures.base import Message, Reason
from whrelay.signatures.gitlab import GITLAB

NOW = 1_735_689_600
"""2025-01-01T00:00:00Z: the moment every check (and every frozen oracle) is judged at."""

chk = checker(NOW)

JSON_BODY = b'{"type": "invoice.paid", "data": {"amount": 1.0, "name": "Caf\xc3\xa9"}}'

BINARY_BODY = b"\xff\xfe\x00\x80binary\xc3\x28\n\r\n"
"""Not UTF-8 (0xff, a lone continuation byte, an invalid two-byte sequence)."""

SW_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

SW_OTHER = "whsec_" + base64.b64encode(b"another signing key, 32 bytes!!!").decode()

# --- GitLab -------------------------------------------------------------------------------------

GITLAB_TOKEN = "gitlab-secret-token"

SW_KA_ID = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"

SW_KA_TS = 1649367553

SW_KA_BODY = b'{"email":"test@example.com","username":"test_user"}'

SW_KA = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
"""Reference §2 (Standard Webhooks known answer): GitLab's signing token uses that scheme."""


def gitlab_sw_message(signature: str = SW_KA, ts: int = SW_KA_TS) -> Message:
    return Message(
        SW_KA_BODY,
        (
            ("X-Gitlab-Event", "Push Hook"),
            ("webhook-id", SW_KA_ID),
            ("webhook-timestamp", str(ts)),
            ("webhook-signature", signature),
        ),
    )


def test_gitlab_token_known_answer() -> None:
    message = Message(JSON_BODY, (("X-Gitlab-Token", GITLAB_TOKEN),))
    verdict = GITLAB.verify(message, chk(GITLAB_TOKEN))
    assert_reason(verdict, Reason.OK)
    assert "not the body" in verdict.detail
    signed = GITLAB.sign(Message(JSON_BODY), GITLAB_TOKEN, NOW)
    assert signed.header("x-gitlab-token") == GITLAB_TOKEN
    assert signed.header("webhook-signature") is None


def test_gitlab_token_is_compared_whole() -> None:
    for token in (GITLAB_TOKEN + " ", GITLAB_TOKEN[:-1], GITLAB_TOKEN.upper(), "x"):
        message = Message(JSON_BODY, (("X-Gitlab-Token", token),))
        assert_reason(GITLAB.verify(message, chk(GITLAB_TOKEN)), Reason.BAD_SIGNATURE)


def test_gitlab_token_does_not_cover_the_body_or_the_time() -> None:
    message = GITLAB.sign(Message(JSON_BODY), GITLAB_TOKEN, NOW)
    for body in (flip_byte(JSON_BODY), BINARY_BODY, b""):
        assert_reason(GITLAB.verify(message.with_body(body), chk(GITLAB_TOKEN)), Reason.OK)
    assert_reason(GITLAB.verify(message, chk(GITLAB_TOKEN, now=0)), Reason.OK)


def test_gitlab_signing_token_known_answer() -> None:
    message = gitlab_sw_message()
    verdict = GITLAB.verify(message, chk(SW_SECRET, now=SW_KA_TS))
    assert_reason(verdict, Reason.OK)
    assert verdict.scheme == "gitlab"
    assert verdict.timestamp == SW_KA_TS
    signed = GITLAB.sign(gitlab_sw_message(signature=""), SW_SECRET, SW_KA_TS)
    assert signed.header("webhook-signature") == SW_KA
    assert signed.header("webhook-id") == SW_KA_ID
    assert signed.header("X-Gitlab-Token") is None


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (300, Reason.OK),
        (-300, Reason.OK),
        (301, Reason.TIMESTAMP_TOO_OLD),
        (-301, Reason.TIMESTAMP_IN_FUTURE),
    ],
)
def test_gitlab_signing_token_window(skew: int, reason: Reason) -> None:
    verdict = GITLAB.verify(gitlab_sw_message(), chk(SW_SECRET, now=SW_KA_TS + skew))
    assert_reason(verdict, reason)
    assert verdict.scheme == "gitlab"
    assert_reason(
        GITLAB.verify(gitlab_sw_message(), chk(SW_SECRET, now=0, ignore_timestamp=True)),
        Reason.OK,
    )


def test_gitlab_signing_token_failures() -> None:
    changed = gitlab_sw_message().with_body(flip_byte(SW_KA_BODY))
    assert_reason(GITLAB.verify(changed, chk(SW_SECRET, now=SW_KA_TS)), Reason.BAD_SIGNATURE)
    stamp = gitlab_sw_message().with_header("webhook-timestamp", "soon")
    assert_reason(GITLAB.verify(stamp, chk(SW_SECRET, now=SW_KA_TS)), Reason.MALFORMED_HEADER)
    no_id = gitlab_sw_message().without_header("webhook-id")
    verdict = GITLAB.verify(no_id, chk(SW_SECRET, now=SW_KA_TS))
    assert_reason(verdict, Reason.MISSING_HEADER)
    assert "webhook-id" in verdict.detail
    assert_reason(GITLAB.verify(gitlab_sw_message(), chk()), Reason.NO_SECRET)


def test_gitlab_with_both_token_and_signature() -> None:
    both = gitlab_sw_message().with_header("X-Gitlab-Token", GITLAB_TOKEN)
    at = chk(GITLAB_TOKEN, now=SW_KA_TS)
    assert_reason(GITLAB.verify(both, at), Reason.OK)
    assert_reason(GITLAB.verify(both, chk(SW_SECRET, now=SW_KA_TS)), Reason.OK)
    assert_reason(GITLAB.verify(both, chk("neither", now=SW_KA_TS)), Reason.BAD_SIGNATURE)
    stale = GITLAB.verify(both, chk(SW_SECRET, now=SW_KA_TS + 3600))
    assert_reason(stale, Reason.TIMESTAMP_TOO_OLD)
    # Re-signing with a whsec_ signing token keeps the token header as it was.
    resigned = GITLAB.sign(both, SW_OTHER, NOW)
    assert resigned.header("X-Gitlab-Token") == GITLAB_TOKEN
    assert_reason(GITLAB.verify(resigned, chk(SW_OTHER)), Reason.OK)
    # Re-signing with a plain token sets the token.
    retokened = GITLAB.sign(both, "new-token", NOW)
    assert retokened.header("X-Gitlab-Token") == "new-token"


def test_gitlab_bytes_secret_token() -> None:
    signed = GITLAB.sign(Message(JSON_BODY), "tökén".encode(), NOW)
    assert signed.header("X-Gitlab-Token") == "tökén"
    assert_reason(GITLAB.verify(signed, chk("tökén".encode())), Reason.OK)
    assert_reason(GITLAB.verify(signed, chk("tökén")), Reason.OK)
