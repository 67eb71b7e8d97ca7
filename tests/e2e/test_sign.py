"""``whrelay sign``: the signature headers for a body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest
import standardwebhooks
import stripe

from tests.helpers.commands import err
from tests.helpers.processes import run_whrelay
from tests.helpers.signed_requests import assert_usage_error, gh_sig, hmac_hex, stripe_sig, write
from whrelay.core.errors import ExitCode

NOW = 1_700_000_000
"""2023-11-14T22:13:20Z: when the hand-made signatures in these tests were "sent"."""

STRIPE_SECRET = "whsec_verifyCliStripeSecret0001"

GH_SECRET = "gh-verify-cli-s3cret"

SW_KEY = b"standard-webhooks-key-32-bytes!!"

SW_SECRET = "whsec_" + base64.b64encode(SW_KEY).decode()

JSON_BODY = b'{"id":"evt_1","type":"invoice.paid","data":{"amount":1000,"name":"Caf\xc3\xa9"}}'

_names = itertools.count()

# --- sign ----------------------------------------------------------------------------------------


def signed_headers(proc: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out: dict[str, str] = {}
    for line in proc.stdout.decode().splitlines():
        name, sep, value = line.partition(": ")
        assert sep, line
        out[name] = value
    return out


def test_sign_with_several_secrets_or_at_time_zero() -> None:
    several = run_whrelay("sign", "--provider", "github", "--secret", "a", "--secret", "b",
                          "--data", "{}")  # fmt: skip
    assert several.returncode == ExitCode.USAGE
    assert "sign with one secret (2 were given)" in err(several)
    at_zero = run_whrelay("sign", "--provider", "stripe", "--secret", "whsec_x", "--data", "{}",
                          "--now", "0")  # fmt: skip
    assert at_zero.returncode == 0, at_zero.stderr
    assert at_zero.stdout.decode().startswith("Stripe-Signature: t=0,")


def test_sign_stripe_literal_is_accepted_by_the_stripe_library() -> None:
    body = '{"id":"evt_sign_1","object":"event"}'
    headers = signed_headers(
        run_whrelay("sign", "--provider", "stripe", "--secret", STRIPE_SECRET, "--data", body)
    )
    assert list(headers) == ["Stripe-Signature"]
    stripe.WebhookSignature.verify_header(
        body, headers["Stripe-Signature"], STRIPE_SECRET, tolerance=300
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            body + " ", headers["Stripe-Signature"], STRIPE_SECRET, tolerance=300
        )


def test_sign_stripe_data_file_signs_the_exact_bytes(tmp_path: Path) -> None:
    text = "caf\u00e9\r\nno final newline".encode()
    headers = signed_headers(
        run_whrelay(
            "sign",
            "--provider",
            "stripe",
            "--secret",
            STRIPE_SECRET,
            "--data",
            "@" + write(tmp_path, text),
        )
    )
    stripe.WebhookSignature.verify_header(
        text, headers["Stripe-Signature"], STRIPE_SECRET, tolerance=300
    )

    binary = bytes(range(256)) + b"\r\n\x00"
    at = NOW + 5
    headers = signed_headers(
        run_whrelay(
            "sign",
            "--provider",
            "stripe",
            "--secret",
            STRIPE_SECRET,
            "--data",
            "@" + write(tmp_path, binary),
            "--now",
            str(at),
        )
    )
    assert headers["Stripe-Signature"] == stripe_sig(binary, at=at)


def test_sign_with_data_and_a_secret_typed_in_bytes_that_are_not_utf8_signs_those_bytes() -> None:
    """``--data $'\\xff\\xfe' --secret $'s\\xff'``: the body and the key are the bytes typed
    (they were an internal error), checked against the Stripe scheme's definition."""
    body, key = b"\xff\xfe{}", b"s\xff"
    at = NOW + 7
    headers = signed_headers(
        run_whrelay(
            "sign",
            "--provider",
            "stripe",
            "--secret",
            os.fsdecode(key),
            "--data",
            os.fsdecode(body),
            "--now",
            str(at),
        )
    )
    expected = hmac.new(key, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["Stripe-Signature"] == f"t={at},v1={expected}"


def test_sign_standard_webhooks_is_accepted_by_the_official_library(tmp_path: Path) -> None:
    webhook = standardwebhooks.Webhook(SW_SECRET)
    body = '{"type":"user.created","data":{"name":"Z\u00f6e"}}'
    headers = signed_headers(
        run_whrelay("sign", "--provider", "standard-webhooks", "--secret", SW_SECRET, "-d", body)
    )
    assert {k.lower() for k in headers} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert webhook.verify(body, headers) == json.loads(body)

    data = b'{"from":"a file"}\r\n'
    headers = signed_headers(
        run_whrelay(
            "sign",
            "--provider",
            "standard-webhooks",
            "--secret",
            SW_SECRET,
            "--data",
            "@" + write(tmp_path, data),
            "-H",
            "webhook-id: msg_given_id",
        )
    )
    assert "webhook-id" not in {k.lower() for k in headers}, "a given header is not repeated"
    webhook.verify(data, {**headers, "webhook-id": "msg_given_id"})
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        webhook.verify(data.rstrip(), {**headers, "webhook-id": "msg_given_id"})


def test_sign_json_output(tmp_path: Path) -> None:
    proc = run_whrelay(
        "sign",
        "--provider",
        "github",
        "--secret",
        GH_SECRET,
        "--data",
        JSON_BODY.decode(),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["body_changed"] is False
    headers = {name: value for name, value in record["headers"]}
    assert headers["X-Hub-Signature-256"] == gh_sig(JSON_BODY)
    assert headers["X-Hub-Signature"] == "sha1=" + hmac_hex(GH_SECRET.encode(), JSON_BODY, "sha1")


def test_sign_without_a_secret_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_usage_error(run_whrelay("sign", "--provider", "stripe", "--data", "{}"), "secret")
    monkeypatch.delenv("WHRELAY_TEST_UNSET_SECRET", raising=False)
    proc = run_whrelay(
        "sign", "--provider", "stripe", "--secret-env", "WHRELAY_TEST_UNSET_SECRET", "-d", "{}"
    )
    assert_usage_error(proc, "WHRELAY_TEST_UNSET_SECRET")


def test_sign_with_a_standard_webhooks_secret_that_is_not_base64_is_exit_2() -> None:
    """A secret the scheme cannot use is bad input (exit 2), not an internal error (exit 4)."""
    proc = run_whrelay(
        "sign", "--provider", "standard-webhooks", "--secret", "whsec_not*base64!", "-d", "{}"
    )
    assert_usage_error(proc, "base64")


def test_sign_unknown_provider_is_exit_2() -> None:
    proc = run_whrelay("sign", "--provider", "nope", "--secret", "s", "-d", "{}")
    lines = assert_usage_error(proc, "nope")
    assert "stripe" in lines[-1]


def test_sign_warns_when_what_it_signed_would_not_verify() -> None:
    result = run_whrelay("sign", "--provider", "linear", "--secret", "s", "--data", '{"a":1}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("Linear-Signature: ")
    assert "warning: whrelay's own check of what was signed says malformed_header" in (
        result.stderr.decode()
    )
    assert "webhookTimestamp" in result.stderr.decode()
    fine = run_whrelay("sign", "--provider", "linear", "--secret", "s")  # the example event
    assert fine.returncode == 0, fine.stderr
    assert b"warning" not in fine.stderr


def test_sign_reads_stdin_and_says_when_it_signed_an_example() -> None:
    piped = run_whrelay("sign", "--provider", "github", "--secret", GH_SECRET, "--data", "@-",
                        input=JSON_BODY)  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert f"X-Hub-Signature-256: {gh_sig(JSON_BODY)}" in piped.stdout.decode()
    assert piped.stderr == b""
    example = run_whrelay("sign", "--provider", "github", "--secret", GH_SECRET, "--json")
    assert example.returncode == 0, example.stderr
    assert "note: no --data: signed an example github event" in example.stderr.decode()
    record = json.loads(example.stdout)
    body = base64.b64decode(record["body_b64"])  # the example, to send along
    headers = dict(record["headers"])
    assert headers["X-Hub-Signature-256"] == gh_sig(body)
    assert json.loads(body)["repository"]["full_name"] == "octo/whrelay-test"


def test_sign_json_gives_the_signed_body_of_a_scheme_that_signs_inside_it() -> None:
    result = run_whrelay("sign", "--provider", "mailgun", "--secret", "mg-key", "--data",
                         '{"event-data": {"event": "delivered"}}', "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["body_changed"] is True
    signed = json.loads(base64.b64decode(record["body_b64"]))
    assert signed["event-data"] == {"event": "delivered"}
    assert set(signed["signature"]) == {"timestamp", "token", "signature"}


def test_sign_with_an_unknown_provider_says_only_that() -> None:
    done = run_whrelay("sign", "--provider", "bogus", "--secret", "x")
    assert done.returncode == ExitCode.USAGE
    assert b"unknown provider 'bogus'" in done.stderr
    assert b"note:" not in done.stderr  # no "signed an example bogus event" first
