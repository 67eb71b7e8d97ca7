"""``whrelay verify``'s hints: the likely cause of a failed check, named."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import run_whrelay
from tests.helpers.signed_requests import (
    GH_SECRET,
    JSON_BODY,
    NOW,
    SLACK_SECRET,
    STRIPE_SECRET,
    SW_SECRET,
    body_args,
    failed_with_hint,
    gh_sig,
    slack_headers,
    stripe_sig,
    sw_headers,
    url_verify,
    verify_body,
)

# --- explain: one test per hint -----------------------------------------------------------------

PRETTY_BODY = json.dumps(json.loads(JSON_BODY), indent=2, ensure_ascii=False).encode()


def gh_verify(tmp_path: Path, checked: bytes, signed: bytes, *extra: str) -> dict[str, Any]:
    headers = [f"X-Hub-Signature-256: {gh_sig(signed)}"]
    return verify_body(
        tmp_path, checked, headers, "--provider", "github", *extra, "--secret", GH_SECRET
    )


def stripe_verify(tmp_path: Path, signed_with: str, given: str) -> dict[str, Any]:
    headers = [f"Stripe-Signature: {stripe_sig(JSON_BODY, signed_with)}"]
    return verify_body(
        tmp_path, JSON_BODY, headers, "--provider", "stripe", "--secret", given, "--now", str(NOW)
    )


PUBLIC = "https://example.test/sms"


def test_hint_body_reserialized_pretty_when_compact_was_signed(tmp_path: Path) -> None:
    result = gh_verify(tmp_path, PRETTY_BODY, JSON_BODY)
    failed_with_hint(result, "bad_signature", "re-serialized", "compact")


def test_hint_body_reserialized_compact_when_pretty_was_signed(tmp_path: Path) -> None:
    result = gh_verify(tmp_path, JSON_BODY, PRETTY_BODY)
    failed_with_hint(result, "bad_signature", "re-serialized", "pretty")


def test_hint_trailing_newline_added(tmp_path: Path) -> None:
    signed = b"payload=1&note=plain+text"
    result = gh_verify(tmp_path, signed + b"\n", signed)
    failed_with_hint(result, "bad_signature", "trailing newline was added")


def test_hint_trailing_newline_added_to_a_compact_json_body(tmp_path: Path) -> None:
    """The commonest case of all: a captured JSON body saved by an editor gains a final
    newline. Nothing was re-serialized; the hint must name the newline."""
    result = gh_verify(tmp_path, JSON_BODY + b"\n", JSON_BODY)
    failed_with_hint(result, "bad_signature", "trailing newline was added")


def test_hint_trailing_newline_removed(tmp_path: Path) -> None:
    signed = JSON_BODY + b"\n"
    result = gh_verify(tmp_path, JSON_BODY, signed)
    failed_with_hint(result, "bad_signature", "trailing newline was removed")


def test_hint_crlf_where_lf_was_signed(tmp_path: Path) -> None:
    signed = b"line one\nline two\n"
    result = gh_verify(tmp_path, signed.replace(b"\n", b"\r\n"), signed)
    failed_with_hint(result, "bad_signature", "line endings", "sender signed LF")


def test_hint_lf_where_crlf_was_signed(tmp_path: Path) -> None:
    signed = b"line one\r\nline two\r\n"
    result = gh_verify(tmp_path, signed.replace(b"\r\n", b"\n"), signed)
    failed_with_hint(result, "bad_signature", "line endings", "sender signed CRLF")


def test_hint_crlf_in_a_pretty_json_body(tmp_path: Path) -> None:
    """A pretty JSON body whose line endings became CRLF (a Windows editor): the hint must
    name the line endings, not a re-serialization."""
    result = gh_verify(tmp_path, PRETTY_BODY.replace(b"\n", b"\r\n"), PRETTY_BODY)
    failed_with_hint(result, "bad_signature", "line endings")


def test_hint_stripe_secret_given_without_its_whsec_prefix(tmp_path: Path) -> None:
    result = stripe_verify(tmp_path, "whsec_abcDEF123", "abcDEF123")
    failed_with_hint(result, "bad_signature", "whsec_ prefix added")


def test_hint_stripe_secret_given_with_a_prefix_the_sender_did_not_use(tmp_path: Path) -> None:
    result = stripe_verify(tmp_path, "abcDEF123", "whsec_abcDEF123")
    failed_with_hint(result, "bad_signature", "whsec_ prefix is removed")


def test_hint_standard_webhooks_signed_with_the_secret_text(tmp_path: Path) -> None:
    """The sender keyed the HMAC with the ``whsec_…`` text itself instead of the bytes its
    base64 decodes to (a hand-rolled signer)."""
    headers = sw_headers(JSON_BODY, key=SW_SECRET.encode())
    result = verify_body(
        tmp_path,
        JSON_BODY,
        headers,
        "--provider",
        "standard-webhooks",
        "--secret",
        SW_SECRET,
        "--now",
        str(NOW),
    )
    failed_with_hint(result, "bad_signature", "secret's text as the key", "base64-decoded")


def test_hint_github_signed_with_the_secret_base64_decoded(tmp_path: Path) -> None:
    """GitHub keys with the secret's text; this sender decoded a base64-looking secret."""
    raw = b"decoded github key!"
    secret = base64.b64encode(raw).decode()
    headers = [f"X-Hub-Signature-256: {gh_sig(JSON_BODY, raw)}"]
    result = verify_body(tmp_path, JSON_BODY, headers, "--provider", "github", "--secret", secret)
    failed_with_hint(result, "bad_signature", "base64-decoded", "as text")


@pytest.mark.parametrize("provider", ["twilio", "square"])
def test_hint_url_scheme_differs(tmp_path: Path, provider: str) -> None:
    assert url_verify(tmp_path, provider, PUBLIC, PUBLIC)["valid"] is True
    result = url_verify(tmp_path, provider, PUBLIC, "http://example.test/sms")
    failed_with_hint(result, "bad_signature", "scheme differs", "https://", "--url")


def test_hint_url_port_written_out_square(tmp_path: Path) -> None:
    result = url_verify(tmp_path, "square", "https://example.test:443/sms", PUBLIC)
    failed_with_hint(result, "bad_signature", "port differs", "default port")


@pytest.mark.parametrize("provider", ["twilio", "square"])
def test_hint_url_query_differs(tmp_path: Path, provider: str) -> None:
    result = url_verify(tmp_path, provider, PUBLIC, PUBLIC + "?tunnel=1")
    failed_with_hint(result, "bad_signature", "query differs")


@pytest.mark.parametrize("provider", ["twilio", "square"])
def test_hint_url_host_differs_from_the_host_header(tmp_path: Path, provider: str) -> None:
    signed = "https://public.example.test/sms"
    result = url_verify(
        tmp_path, provider, signed, "http://127.0.0.1:8642/sms", "Host: public.example.test"
    )
    hint = failed_with_hint(result, "bad_signature", "host differs")
    assert "https://public.example.test" in hint


@pytest.mark.parametrize("provider", ["twilio", "square"])
def test_hint_url_needed(tmp_path: Path, provider: str) -> None:
    """No --url and no Host header: the URL is unknown, and the hint says to give it."""
    result = url_verify(tmp_path, provider, PUBLIC, None)
    assert result["valid"] is False
    assert result["reason"] == "malformed_header"
    assert any("--url" in hint for hint in result["hints"]), result


def test_hint_signature_under_another_header_name(tmp_path: Path) -> None:
    headers = ["X-GitHub-Event: push", f"X-Signature: {gh_sig(JSON_BODY)}"]
    result = verify_body(
        tmp_path, JSON_BODY, headers, "--provider", "github", "--secret", GH_SECRET
    )
    hint = failed_with_hint(result, "missing_header", "X-Signature", "X-Hub-Signature-256")
    assert "github" in hint


def test_hint_clock_skew_on_a_stale_timestamp(tmp_path: Path) -> None:
    headers = [f"Stripe-Signature: {stripe_sig(JSON_BODY)}"]
    result = verify_body(
        tmp_path,
        JSON_BODY,
        headers,
        "--provider",
        "stripe",
        "--secret",
        STRIPE_SECRET,
        "--now",
        str(NOW + 1234),
    )
    hint = failed_with_hint(result, "timestamp_too_old", "1234 s")
    assert "--ignore-timestamp" in hint and "replay --resign" in hint


def test_hint_clock_skew_on_a_future_timestamp(tmp_path: Path) -> None:
    result = verify_body(
        tmp_path,
        JSON_BODY,
        slack_headers(JSON_BODY),
        "--provider",
        "slack",
        "--secret",
        SLACK_SECRET,
        "--now",
        str(NOW - 777),
    )
    hint = failed_with_hint(result, "timestamp_in_future", "777 s", "ahead")
    assert "--ignore-timestamp" in hint


def test_hint_provider_mismatch(tmp_path: Path) -> None:
    headers = [f"Stripe-Signature: {stripe_sig(JSON_BODY)}"]
    result = verify_body(tmp_path, JSON_BODY, headers, "--provider", "github", "--secret", "x")
    failed_with_hint(result, "missing_header", "stripe", "--provider stripe")


def test_hints_in_text_output(tmp_path: Path) -> None:
    args = body_args(tmp_path, PRETTY_BODY, [f"X-Hub-Signature-256: {gh_sig(JSON_BODY)}"])
    proc = run_whrelay("verify", *args, "--provider", "github", "--secret", GH_SECRET)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "bad_signature" in out
    assert "hint:" in out and "re-serialized" in out
