"""Signed requests as senders make them, and running ``verify``, ``sign`` and ``send``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.helpers.processes import run_whrelay

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: when the hand-made signatures in these tests were "sent"."""

STRIPE_SECRET = "whsec_verifyCliStripeSecret0001"

GH_SECRET = "gh-verify-cli-s3cret"

SW_KEY = b"standard-webhooks-key-32-bytes!!"

SW_SECRET = "whsec_" + base64.b64encode(SW_KEY).decode()

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

TWILIO_TOKEN = "12345abcdef67890twilio-auth-tok"

SQUARE_KEY = "square-signature-key-verify-cli"

JSON_BODY = b'{"id":"evt_1","type":"invoice.paid","data":{"amount":1000,"name":"Caf\xc3\xa9"}}'

FORM_BODY = b"Body=Hello+w%C3%B6rld&From=%2B14158675309&To=%2B18005551212"

FORM_PARAMS = {"Body": "Hello w\u00f6rld", "From": "+14158675309", "To": "+18005551212"}

_names = itertools.count()

# --- independent signers ----------------------------------------------------------------------


def hmac_hex(key: bytes, content: bytes, digest: str = "sha256") -> str:
    return hmac.new(key, content, getattr(hashlib, digest)).hexdigest()


def hmac_b64(key: bytes, content: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(key, content, getattr(hashlib, digest)).digest()).decode()


def stripe_sig(body: bytes, secret: str | bytes = STRIPE_SECRET, at: int = NOW) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return f"t={at},v1={hmac_hex(key, f'{at}.'.encode() + body)}"


def gh_sig(body: bytes, key: bytes = GH_SECRET.encode()) -> str:
    return "sha256=" + hmac_hex(key, body)


def sw_headers(
    body: bytes, key: bytes = SW_KEY, at: int = NOW, msg_id: str = "msg_2Kv9verifycli"
) -> list[str]:
    signature = "v1," + hmac_b64(key, f"{msg_id}.{at}.".encode() + body)
    return [
        f"webhook-id: {msg_id}",
        f"webhook-timestamp: {at}",
        f"webhook-signature: {signature}",
    ]


def slack_headers(body: bytes, at: int = NOW, secret: str = SLACK_SECRET) -> list[str]:
    signature = "v0=" + hmac_hex(secret.encode(), f"v0:{at}:".encode() + body)
    return [f"X-Slack-Request-Timestamp: {at}", f"X-Slack-Signature: {signature}"]


def twilio_sig(url: str, params: dict[str, str] = FORM_PARAMS) -> str:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    assert isinstance(signature, str)
    return signature


def square_sig(url: str, body: bytes = FORM_BODY) -> str:
    return hmac_b64(SQUARE_KEY.encode(), url.encode() + body)


# --- running whrelay ----------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes, suffix: str = ".bin") -> str:
    path = tmp_path / f"input-{next(_names)}{suffix}"
    path.write_bytes(data)
    return str(path)


def body_args(tmp_path: Path, body: bytes, headers: Sequence[str]) -> list[str]:
    args = ["--body-file", write(tmp_path, body)]
    for header in headers:
        args += ["-H", header]
    return args


def verify_json(*args: str) -> tuple[int, dict[str, Any]]:
    """``whrelay verify ARGS --json``: its exit code and its one JSON object."""
    proc = run_whrelay("verify", *args, "--json")
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, (proc.returncode, proc.stdout, proc.stderr)
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    assert {"valid", "reason", "scheme", "detail", "hints", "detected"} <= result.keys()
    assert isinstance(result["hints"], list)
    assert all(isinstance(h, str) for h in result["hints"])
    assert proc.returncode == (0 if result["valid"] else 1), (proc.returncode, result)
    assert proc.stderr == b"", proc.stderr
    return proc.returncode, result


def verify_body(tmp_path: Path, body: bytes, headers: Sequence[str], *extra: str) -> dict[str, Any]:
    """Verify a body file with headers; return the JSON verdict."""
    _, result = verify_json(*body_args(tmp_path, body, headers), *extra)
    return result


def failed_with_hint(result: dict[str, Any], reason: str, *words: str) -> str:
    """The hint that contains every one of ``words`` (the verdict must be ``reason``)."""
    assert result["valid"] is False
    assert result["reason"] == reason, result
    for hint in result["hints"]:
        if all(word in hint for word in words):
            assert isinstance(hint, str)
            return hint
    raise AssertionError(f"no hint names {words!r}: {result['hints']!r}")


def assert_usage_error(proc: subprocess.CompletedProcess[bytes], *words: str) -> list[str]:
    """Exit 2, nothing on stdout, one ``whrelay: error:`` line (and maybe a hint)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    assert lines, proc.stderr
    assert lines[0].startswith("whrelay: error: "), lines
    assert len(lines) <= 2, lines
    assert all(line.startswith("  hint: ") for line in lines[1:]), lines
    assert "Traceback" not in proc.stderr.decode()
    for word in words:
        assert word in proc.stderr.decode(), (word, lines)
    return lines


def url_verify(
    tmp_path: Path, provider: str, signed_url: str, checked_url: str | None, *headers: str
) -> dict[str, Any]:
    if provider == "twilio":
        signature, key = f"X-Twilio-Signature: {twilio_sig(signed_url)}", TWILIO_TOKEN
    else:
        signature, key = f"x-square-hmacsha256-signature: {square_sig(signed_url)}", SQUARE_KEY
    url = ["--url", checked_url] if checked_url else []
    return verify_body(
        tmp_path, FORM_BODY, [*headers, signature], "--provider", provider, "--secret", key, *url
    )
