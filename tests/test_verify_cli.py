"""``whrelay verify``, ``whrelay sign`` and ``whrelay send`` as real subprocesses.

Signatures are made by hand (``hmac``/``hashlib``) or by the providers' official libraries
(``stripe``, ``standardwebhooks``, ``slack_sdk``, ``twilio``), never by whrelay itself, so a
test passes only when whrelay agrees with an independent implementation. Every verify runs at
a fixed ``--now`` (or a stored webhook's arrival time) so that no test depends on the clock,
except the ``sign``/``send`` ones, which the libraries check against the real clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import standardwebhooks
import stripe
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.conftest import run_whrelay
from tests.targetserver import Recorded, TargetServer, target_server
from whrelay.core.models import Capture
from whrelay.signatures import get_scheme
from whrelay.signatures.base import Check, Message
from whrelay.storage import Store

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


def seed(db: Path, body: bytes, headers: Sequence[tuple[str, str]], received_at: float) -> int:
    """Store one webhook as ``listen`` would have taken it in; return its id."""
    raw = [("Host", "127.0.0.1:8642"), ("Content-Length", str(len(body))), *headers]
    capture = Capture(
        method="POST",
        path="/hooks/stripe",
        query="",
        headers=tuple((k.encode(), v.encode()) for k, v in raw),
        body=body,
        http_version="1.1",
        remote_addr="127.0.0.1",
        received_at=int(received_at * 1_000_000),
    )
    with Store(db) as store:
        [summary] = store.insert_webhooks([capture])
    return summary.id


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with target_server() as server:
        yield server


# --- input forms ---------------------------------------------------------------------------------


def test_verify_stored_id_is_judged_at_its_arrival_time(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    webhook_id = seed(db, JSON_BODY, [("Stripe-Signature", stripe_sig(JSON_BODY))], NOW + 2)
    common = [str(webhook_id), "--db", str(db), "--secret", STRIPE_SECRET]

    code, result = verify_json(*common)
    assert code == 0
    assert result["valid"] is True and result["reason"] == "ok"
    assert result["scheme"] == "stripe" and result["detected"] is True
    assert result["timestamp"] == NOW

    code, result = verify_json(*common, "--now", str(NOW + 3600))
    assert code == 1 and result["reason"] == "timestamp_too_old"

    code, result = verify_json(str(webhook_id), "--db", str(db), "--secret", "whsec_wrong")
    assert code == 1 and result["reason"] == "bad_signature"

    text = run_whrelay("verify", *common, "--provider", "stripe")
    assert text.returncode == 0
    assert "valid" in text.stdout.decode() and "stripe" in text.stdout.decode()


def test_verify_stored_id_checks_another_body_against_its_headers(tmp_path: Path) -> None:
    """``verify ID --body-file F``: the body the app saw (re-serialized, say) judged under the
    stored webhook's signature headers, at its arrival time."""
    db = tmp_path / "hooks.db"
    webhook_id = seed(db, JSON_BODY, [("Stripe-Signature", stripe_sig(JSON_BODY))], NOW + 2)
    common = [str(webhook_id), "--db", str(db), "--secret", STRIPE_SECRET, "--body-file"]

    code, result = verify_json(*common, write(tmp_path, JSON_BODY))
    assert code == 0 and result["reason"] == "ok", result

    reserialized = json.dumps(json.loads(JSON_BODY), indent=2).encode()
    code, result = verify_json(*common, write(tmp_path, reserialized))
    assert code == 1 and result["reason"] == "bad_signature", result
    assert any("re-serialized" in hint for hint in result["hints"]), result["hints"]

    both = run_whrelay("verify", *common, "-", "--request", write(tmp_path, b"x", ".http"))
    assert_usage_error(both, "--body-file")


def test_verify_stored_id_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    seed(db, b"{}", [], NOW)
    proc = run_whrelay("verify", "99", "--db", str(db), "--provider", "github", "--secret", "s")
    assert_usage_error(proc, "99")


def test_verify_raw_http_request_file_with_crlf(tmp_path: Path) -> None:
    body = b'{"id":"evt_raw","note":"line one\\r\\nline two"}\r\n'
    head = (
        "POST /hooks/stripe?src=raw HTTP/1.1\r\n"
        "Host: hooks.example.test\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Stripe-Signature: {stripe_sig(body)}\r\n"
        "\r\n"
    )
    request = write(tmp_path, head.encode() + body, ".http")
    code, result = verify_json(
        "--request", request, "--provider", "stripe", "--secret", STRIPE_SECRET, "--now", str(NOW)
    )
    assert code == 0 and result["reason"] == "ok" and result["detected"] is False

    # The body is exactly Content-Length bytes: one byte more or less is another body.
    shorter = head.replace(f"Content-Length: {len(body)}", f"Content-Length: {len(body) - 1}")
    request = write(tmp_path, shorter.encode() + body, ".http")
    code, result = verify_json("--request", request, "--secret", STRIPE_SECRET, "--now", str(NOW))
    assert code == 1 and result["reason"] == "bad_signature"


def test_verify_raw_http_request_file_with_a_chunked_body(tmp_path: Path) -> None:
    body = b'{"zen":"Design for failure.","hook_id":42}\n'
    chunks = [body[:10], body[10:11], body[11:]]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = (
        "POST /gh HTTP/1.1\r\n"
        "Host: 127.0.0.1:8642\r\n"
        "Transfer-Encoding: chunked\r\n"
        "X-GitHub-Event: ping\r\n"
        f"X-Hub-Signature-256: {gh_sig(body)}\r\n"
        "\r\n"
    )
    request = write(tmp_path, head.encode() + framed, ".http")
    code, result = verify_json("--request", request, "--secret", GH_SECRET)
    assert code == 0 and result["scheme"] == "github" and result["detected"] is True


def test_verify_whrelay_json_record_from_show(tmp_path: Path) -> None:
    db = tmp_path / "hooks.db"
    webhook_id = seed(db, JSON_BODY, [("Stripe-Signature", stripe_sig(JSON_BODY))], NOW + 1)
    shown = run_whrelay("show", str(webhook_id), "--json", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    request = write(tmp_path, shown.stdout, ".json")
    code, result = verify_json(
        "--request", request, "--provider", "stripe", "--secret", STRIPE_SECRET, "--now", str(NOW)
    )
    assert code == 0 and result["reason"] == "ok"
    code, result = verify_json(
        "--request", request, "--secret", "whsec_other", "--now", str(NOW), "--provider", "stripe"
    )
    assert code == 1 and result["reason"] == "bad_signature"


def test_verify_body_file_with_headers_keeps_binary_bytes_exact(tmp_path: Path) -> None:
    body = b"\xff\xfe\x00\x80binary\xc3\x28\r\n\n"
    code, result = verify_json(
        *body_args(tmp_path, body, [f"Stripe-Signature: {stripe_sig(body)}"]),
        "--provider",
        "stripe",
        "--secret",
        STRIPE_SECRET,
        "--now",
        str(NOW),
    )
    assert code == 0 and result["valid"] is True


# --- usage errors: exit 2, one line ------------------------------------------------------------


def test_verify_usage_errors_are_exit_2(tmp_path: Path) -> None:
    body = write(tmp_path, b"{}")
    request = write(tmp_path, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", ".http")
    missing = str(tmp_path / "no-such-file.http")
    cases: list[tuple[list[str], str]] = [
        (["--request", missing], "no-such-file.http"),
        (["--body-file", missing], "no-such-file.http"),
        (["1", "--request", request], "exactly one"),
        (["--request", request, "--body-file", body], "exactly one"),
        ([], "exactly one"),
        (["--request", write(tmp_path, b"not a request at all")], "request"),
    ]
    for args, words in cases:
        proc = run_whrelay("verify", *args, "--provider", "github", "--secret", "s")
        assert_usage_error(proc, words)


def test_verify_unknown_provider_names_the_known_ones(tmp_path: Path) -> None:
    args = body_args(tmp_path, b"{}", ["X-Hub-Signature-256: sha256=00"])
    proc = run_whrelay("verify", *args, "--provider", "strpe", "--secret", "s")
    lines = assert_usage_error(proc, "strpe")
    assert len(lines) == 2
    assert lines[1].startswith("  hint: ")
    for known in ("stripe", "github", "standard-webhooks", "slack", "twilio", "square"):
        assert known in lines[1]


def test_verify_cannot_detect_a_provider_without_signature_headers(tmp_path: Path) -> None:
    proc = run_whrelay(
        "verify", *body_args(tmp_path, b"{}", ["Content-Type: text/plain"]), "--secret", "s"
    )
    lines = assert_usage_error(proc, "provider")
    assert any("--provider" in line for line in lines)


# --- every reason through the CLI --------------------------------------------------------------


REASON_CASES: list[tuple[str, list[str], list[str]]] = [
    ("ok", [f"Stripe-Signature: {stripe_sig(JSON_BODY)}"], ["--secret", STRIPE_SECRET]),
    ("bad_signature", [f"Stripe-Signature: {stripe_sig(JSON_BODY)}"], ["--secret", "whsec_x"]),
    (
        "timestamp_too_old",
        [f"Stripe-Signature: {stripe_sig(JSON_BODY, at=NOW - 301)}"],
        ["--secret", STRIPE_SECRET],
    ),
    (
        "timestamp_in_future",
        sw_headers(JSON_BODY, at=NOW + 301),
        ["--secret", SW_SECRET, "--provider", "standard-webhooks"],
    ),
    ("missing_header", ["Content-Type: application/json"], ["--secret", STRIPE_SECRET]),
    ("malformed_header", ["Stripe-Signature: v1=abcdef"], ["--secret", STRIPE_SECRET]),
    ("no_secret", [f"Stripe-Signature: {stripe_sig(JSON_BODY)}"], []),
]


@pytest.mark.parametrize(
    ("reason", "headers", "extra"), REASON_CASES, ids=[case[0] for case in REASON_CASES]
)
def test_verify_json_reason(
    tmp_path: Path, reason: str, headers: list[str], extra: list[str]
) -> None:
    provider = [] if "--provider" in extra else ["--provider", "stripe"]
    args = body_args(tmp_path, JSON_BODY, headers)
    code, result = verify_json(*args, *provider, *extra, "--now", str(NOW))
    assert result["reason"] == reason
    assert result["valid"] is (reason == "ok")
    assert code == (0 if reason == "ok" else 1)
    assert result["scheme"] == ("standard-webhooks" if "standard-webhooks" in extra else "stripe")
    assert result["detected"] is False
    if reason == "no_secret":
        assert any("--secret" in hint for hint in result["hints"])


def test_verify_text_output_and_exit_codes(tmp_path: Path) -> None:
    args = body_args(tmp_path, JSON_BODY, [f"Stripe-Signature: {stripe_sig(JSON_BODY)}"])
    good = run_whrelay("verify", *args, "--secret", STRIPE_SECRET, "--now", str(NOW))
    assert good.returncode == 0, good.stderr
    assert "valid" in good.stdout.decode() and "stripe" in good.stdout.decode()
    bad = run_whrelay("verify", *args, "--secret", "whsec_nope", "--now", str(NOW))
    assert bad.returncode == 1
    assert "bad_signature" in bad.stdout.decode()


def test_verify_detects_the_provider_from_the_headers(tmp_path: Path) -> None:
    args = body_args(tmp_path, JSON_BODY, [f"X-Hub-Signature-256: {gh_sig(JSON_BODY)}"])
    code, result = verify_json(*args, "--secret", GH_SECRET)
    assert code == 0
    assert result["scheme"] == "github" and result["detected"] is True
    text = run_whrelay("verify", *args, "--secret", GH_SECRET)
    assert text.returncode == 0
    assert "github" in text.stdout.decode() and "detected" in text.stdout.decode()

    code, result = verify_json(*args, "--secret", GH_SECRET, "--provider", "github")
    assert code == 0 and result["detected"] is False
    assert (
        "detected"
        not in run_whrelay(
            "verify", *args, "--secret", GH_SECRET, "--provider", "github"
        ).stdout.decode()
    )

    sw = body_args(tmp_path, JSON_BODY, sw_headers(JSON_BODY))
    code, result = verify_json(*sw, "--secret", SW_SECRET, "--now", str(NOW))
    assert code == 0 and result["detected"] is True
    assert result["scheme"] in ("standard-webhooks", "svix")


# --- several secrets --------------------------------------------------------------------------


def sw_library_headers(body: bytes, secret: str = SW_SECRET) -> list[tuple[str, str]]:
    """Standard Webhooks headers signed by the official library."""
    when = datetime.fromtimestamp(NOW, tz=UTC)
    signature = standardwebhooks.Webhook(secret).sign("msg_several", when, body.decode())
    return [
        ("webhook-id", "msg_several"),
        ("webhook-timestamp", str(NOW)),
        ("webhook-signature", signature),
    ]


def test_verify_tries_each_secret_on_its_own_in_either_order(tmp_path: Path) -> None:
    """The issue's example: ``verify ID --secret gh_secret --secret whsec_…`` said
    malformed_header (the GitHub secret is not base64); reversed, it said valid."""
    db = tmp_path / "hooks.db"
    webhook_id = seed(db, JSON_BODY, sw_library_headers(JSON_BODY), NOW)
    for order in (["gh_secret", SW_SECRET], [SW_SECRET, "gh_secret"]):
        args = [str(webhook_id), "--db", str(db), "--secret", order[0], "--secret", order[1]]
        code, result = verify_json(*args)
        assert (code, result["reason"], result["scheme"]) == (0, "ok", "standard-webhooks")
        assert result["detected"] is True


def test_verify_refuses_a_secret_that_cannot_work_for_the_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = body_args(tmp_path, JSON_BODY, [f"{k}: {v}" for k, v in sw_library_headers(JSON_BODY)])
    common = [*args, "--now", str(NOW), "--provider", "standard-webhooks"]
    proc = run_whrelay("verify", *common, "--secret", SW_SECRET, "--secret", "gh_secret")
    lines = assert_usage_error(proc, "--secret #2 cannot be a standard-webhooks key")
    assert "whsec_ followed by base64" in lines[1]
    assert "gh_secret" not in proc.stderr.decode()
    monkeypatch.setenv("WHRELAY_TEST_SW", "whsec_not*base64!")
    proc = run_whrelay("verify", *common, "--secret-env", "WHRELAY_TEST_SW")
    assert_usage_error(proc, "--secret-env WHRELAY_TEST_SW cannot be a standard-webhooks key")
    assert "not*base64" not in proc.stderr.decode()
    # a GitHub secret with --provider github is a key like any other text
    _, result = verify_json(*common[:-1], "github", "--secret", "gh_secret")
    assert result["reason"] == "missing_header"


def test_verify_without_provider_needs_one_secret_that_fits_the_detected_scheme(
    tmp_path: Path,
) -> None:
    args = body_args(tmp_path, JSON_BODY, [f"{k}: {v}" for k, v in sw_library_headers(JSON_BODY)])
    proc = run_whrelay("verify", *args, "--now", str(NOW), "--secret", "gh_secret")
    lines = assert_usage_error(
        proc, "--secret #1 cannot be a standard-webhooks key (the scheme detected"
    )
    assert "whsec_ followed by base64" in lines[1]
    proc = run_whrelay(
        "verify", *args, "--now", str(NOW), "--secret", "gh_secret", "--secret", "other_one"
    )
    assert_usage_error(proc, "none of the 2 secrets can be a standard-webhooks key")
    assert "gh_secret" not in proc.stderr.decode() and "other_one" not in proc.stderr.decode()


@pytest.mark.parametrize(
    ("signature", "hint"),
    [
        ("v2,abcd", "only v2 entries, which Standard Webhooks says to ignore"),
        ("v1," + hmac_hex(SW_KEY, b"x"), "the signature is hex, Standard Webhooks sends base64"),
    ],
)
def test_verify_a_header_that_can_be_read_but_does_not_match_is_bad_signature(
    tmp_path: Path, signature: str, hint: str
) -> None:
    headers = [f"{k}: {v}" for k, v in sw_library_headers(JSON_BODY)[:2]]
    result = verify_body(
        tmp_path,
        JSON_BODY,
        [*headers, f"webhook-signature: {signature}"],
        "--secret",
        SW_SECRET,
        "--now",
        str(NOW),
    )
    failed_with_hint(result, "bad_signature", hint)


# --- the clock ---------------------------------------------------------------------------------


def test_verify_now_sets_the_clock(tmp_path: Path) -> None:
    args = body_args(tmp_path, JSON_BODY, slack_headers(JSON_BODY))
    common = [*args, "--provider", "slack", "--secret", SLACK_SECRET]
    assert verify_json(*common, "--now", str(NOW + 300))[1]["reason"] == "ok"
    assert verify_json(*common, "--now", str(NOW + 301))[1]["reason"] == "timestamp_too_old"
    assert verify_json(*common, "--now", str(NOW - 301))[1]["reason"] == "timestamp_in_future"
    # Without --now, a body file is judged at the real time: years after NOW.
    assert verify_json(*common)[1]["reason"] == "timestamp_too_old"


def test_verify_ignore_timestamp_accepts_a_stale_but_correct_signature(tmp_path: Path) -> None:
    args = body_args(tmp_path, JSON_BODY, [f"Stripe-Signature: {stripe_sig(JSON_BODY)}"])
    common = [*args, "--provider", "stripe", "--now", str(NOW + 86_400)]
    assert verify_json(*common, "--secret", STRIPE_SECRET)[1]["reason"] == "timestamp_too_old"
    code, result = verify_json(*common, "--secret", STRIPE_SECRET, "--ignore-timestamp")
    assert code == 0 and result["valid"] is True
    # It checks the signature alone: a wrong secret still fails.
    code, result = verify_json(*common, "--secret", "whsec_wrong", "--ignore-timestamp")
    assert code == 1 and result["reason"] == "bad_signature"


def test_verify_tolerance_widens_the_window(tmp_path: Path) -> None:
    args = body_args(tmp_path, JSON_BODY, sw_headers(JSON_BODY))
    common = [*args, "--provider", "standard-webhooks", "--secret", SW_SECRET]
    late = ["--now", str(NOW + 900)]
    assert verify_json(*common, *late)[1]["reason"] == "timestamp_too_old"
    assert verify_json(*common, *late, "--tolerance", "1000")[1]["reason"] == "ok"
    assert verify_json(*common, *late, "--tolerance", "899")[1]["reason"] == "timestamp_too_old"


# --- explain: one test per hint -----------------------------------------------------------------

PRETTY_BODY = json.dumps(json.loads(JSON_BODY), indent=2, ensure_ascii=False).encode()


def gh_verify(tmp_path: Path, checked: bytes, signed: bytes, *extra: str) -> dict[str, Any]:
    headers = [f"X-Hub-Signature-256: {gh_sig(signed)}"]
    return verify_body(
        tmp_path, checked, headers, "--provider", "github", *extra, "--secret", GH_SECRET
    )


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


def stripe_verify(tmp_path: Path, signed_with: str, given: str) -> dict[str, Any]:
    headers = [f"Stripe-Signature: {stripe_sig(JSON_BODY, signed_with)}"]
    return verify_body(
        tmp_path, JSON_BODY, headers, "--provider", "stripe", "--secret", given, "--now", str(NOW)
    )


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


PUBLIC = "https://example.test/sms"


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


@pytest.mark.parametrize("provider", ["twilio", "square"])
def test_hint_url_scheme_differs(tmp_path: Path, provider: str) -> None:
    assert url_verify(tmp_path, provider, PUBLIC, PUBLIC)["valid"] is True
    result = url_verify(tmp_path, provider, PUBLIC, "http://example.test/sms")
    failed_with_hint(result, "bad_signature", "scheme differs", "https://", "--url")


def test_hint_url_port_written_out_square(tmp_path: Path) -> None:
    result = url_verify(tmp_path, "square", "https://example.test:443/sms", PUBLIC)
    failed_with_hint(result, "bad_signature", "port differs", "default port")


def test_twilio_accepts_the_default_port_written_out(tmp_path: Path) -> None:
    """Twilio's own libraries try the URL with and without :443, so whrelay does too: no hint
    is needed, the signature is valid."""
    result = url_verify(tmp_path, "twilio", "https://example.test:443/sms", PUBLIC)
    assert result["valid"] is True, result


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


# --- sign ----------------------------------------------------------------------------------------


def signed_headers(proc: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out: dict[str, str] = {}
    for line in proc.stdout.decode().splitlines():
        name, sep, value = line.partition(": ")
        assert sep, line
        out[name] = value
    return out


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


# --- send ----------------------------------------------------------------------------------------


def send(target: TargetServer, path: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return run_whrelay("send", target.url + path, *args)


def only_request(target: TargetServer) -> Recorded:
    [request] = target.wait_for(1, timeout=10)
    return request


def scheme_verdict(provider: str, request: Recorded, secret: str, url: str | None = None) -> str:
    """What whrelay's own scheme (in-process) says about what the target received."""
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers)
    message = Message(request.body, headers, url, request.method)
    return get_scheme(provider).verify(message, Check((secret,), time.time())).reason.value


def test_send_stripe(target: TargetServer) -> None:
    body = '{"id":"evt_send_1","object":"event","type":"charge.succeeded"}'
    proc = send(
        target, "/hooks/stripe", "--provider", "stripe", "--secret", STRIPE_SECRET, "-d", body
    )
    assert proc.returncode == 0, proc.stderr
    request = only_request(target)
    assert request.method == "POST" and request.path_qs == "/hooks/stripe"
    assert request.body == body.encode()
    signature = request.header("Stripe-Signature")
    assert signature is not None
    stripe.WebhookSignature.verify_header(request.body, signature, STRIPE_SECRET, tolerance=300)
    assert scheme_verdict("stripe", request, STRIPE_SECRET) == "ok"
    assert "200" in proc.stdout.decode()


def test_send_header_replaces_the_example_events(target: TargetServer) -> None:
    """The README's `send ... -H 'X-GitHub-Event: push'`: one X-GitHub-Event, the given one."""
    proc = send(
        target, "/gh", "--provider", "github", "--secret", GH_SECRET,
        "-H", "X-GitHub-Event: push", "-H", "content-type: application/json; charset=utf-8",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    request = only_request(target)
    assert request.header_all("X-GitHub-Event") == ["push"]
    assert request.header_all("Content-Type") == ["application/json; charset=utf-8"]
    assert request.header("X-Hub-Signature-256") is not None
    assert scheme_verdict("github", request, GH_SECRET) == "ok"


def test_send_github_with_data_file_and_headers(tmp_path: Path, target: TargetServer) -> None:
    body = b'{"action":"opened","number":7}\n'
    proc = send(
        target,
        "/gh",
        "--provider",
        "github",
        "--secret",
        GH_SECRET,
        "--data",
        "@" + write(tmp_path, body),
        "-H",
        "X-GitHub-Event: pull_request",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    attempt = json.loads(proc.stdout.decode().splitlines()[-1])
    assert attempt["status"] == 200
    request = only_request(target)
    assert request.body == body
    assert request.header("X-GitHub-Event") == "pull_request"
    assert request.header("X-Hub-Signature-256") == gh_sig(body)
    assert scheme_verdict("github", request, GH_SECRET) == "ok"


def test_send_github_gives_a_fresh_delivery_id_with_any_body(target: TargetServer) -> None:
    """GitHub sends ``X-GitHub-Delivery`` with every webhook: so does ``send``, with
    ``--data`` too, a new one each time (two sends are not duplicates of each other)."""
    for _ in range(2):
        proc = send(target, "/gh", "--provider", "github", "--secret", GH_SECRET, "-d", "{}")
        assert proc.returncode == 0, proc.stderr
    first, second = target.wait_for(2, timeout=10)
    ids = [request.header_all("X-GitHub-Delivery") for request in (first, second)]
    assert all(len(found) == 1 and found[0] for found in ids), ids
    assert ids[0] != ids[1]

    given = send(
        target, "/gh", "--provider", "github", "--secret", GH_SECRET, "-d", "{}",
        "-H", "X-GitHub-Delivery: mine",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert target.wait_for(3, timeout=10)[2].header_all("X-GitHub-Delivery") == ["mine"]


def test_send_provider_none_sends_an_unsigned_test(target: TargetServer) -> None:
    proc = send(target, "/plain", "--provider", "none", "-d", '{"hello":"world"}', "--json")
    assert proc.returncode == 0, proc.stderr
    request = only_request(target)
    assert request.body == b'{"hello":"world"}'
    names = {name.lower() for name in request.header_names}
    assert names == {"host", "content-length"}, names
    assert json.loads(proc.stdout)["status"] == 200

    example = send(target, "/plain", "--provider", "none")
    assert example.returncode == 0, example.stderr
    assert json.loads(target.wait_for(2, timeout=10)[1].body)["type"] == "whrelay.test"

    assert_usage_error(send(target, "/plain", "--provider", "none", "--secret", "s"), "none")


def test_send_standard_webhooks(target: TargetServer) -> None:
    body = '{"type":"invoice.created","data":{"n":1}}'
    proc = send(target, "/sw", "--provider", "standard-webhooks", "--secret", SW_SECRET, "-d", body)
    assert proc.returncode == 0, proc.stderr
    request = only_request(target)
    headers = {k.decode(): v.decode() for k, v in request.headers}
    standardwebhooks.Webhook(SW_SECRET).verify(request.body, headers)
    assert scheme_verdict("standard-webhooks", request, SW_SECRET) == "ok"


def test_send_slack(target: TargetServer) -> None:
    body = '{"type":"event_callback","event":{"type":"app_mention"}}'
    proc = send(target, "/slack", "--provider", "slack", "--secret", SLACK_SECRET, "-d", body)
    assert proc.returncode == 0, proc.stderr
    request = only_request(target)
    stamp = request.header("X-Slack-Request-Timestamp")
    signature = request.header("X-Slack-Signature")
    assert stamp is not None and signature is not None
    assert abs(int(stamp) - time.time()) < 60
    verifier = SignatureVerifier(SLACK_SECRET)
    assert verifier.is_valid(request.body.decode(), stamp, signature)
    assert scheme_verdict("slack", request, SLACK_SECRET) == "ok"


def test_send_twilio_signs_the_signed_url(target: TargetServer) -> None:
    public = "https://example.test/sms?channel=a"
    proc = send(
        target, "/sms", "--provider", "twilio", "--secret", TWILIO_TOKEN, "--signed-url", public
    )
    assert proc.returncode == 0, proc.stderr
    request = only_request(target)
    assert request.path_qs == "/sms"
    signature = request.header("X-Twilio-Signature")
    assert signature is not None
    params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    assert params, "the default twilio example is a form"
    validator = RequestValidator(TWILIO_TOKEN)
    assert validator.validate(public, params, signature)
    assert not validator.validate(target.url + "/sms", params, signature)
    assert scheme_verdict("twilio", request, TWILIO_TOKEN, public) == "ok"


def test_send_default_example_bodies_have_fresh_ids(target: TargetServer) -> None:
    for _ in range(2):
        proc = send(target, "/gh", "--provider", "github", "--secret", GH_SECRET)
        assert proc.returncode == 0, proc.stderr
        proc = send(target, "/sw", "--provider", "standard-webhooks", "--secret", SW_SECRET)
        assert proc.returncode == 0, proc.stderr
    requests = target.wait_for(4, timeout=10)
    github = [r for r in requests if r.path_qs == "/gh"]
    sw = [r for r in requests if r.path_qs == "/sw"]
    assert len(github) == 2 and len(sw) == 2
    for request in github:
        assert request.body and json.loads(request.body)
        assert request.header("X-GitHub-Event")
        assert scheme_verdict("github", request, GH_SECRET) == "ok"
    for request in sw:
        assert request.body and json.loads(request.body)
        standardwebhooks.Webhook(SW_SECRET).verify(
            request.body, {k.decode(): v.decode() for k, v in request.headers}
        )
    assert github[0].header("X-GitHub-Delivery") != github[1].header("X-GitHub-Delivery")
    assert all(r.header("X-GitHub-Delivery") for r in github)
    assert sw[0].header("webhook-id") != sw[1].header("webhook-id")
    assert sw[0].body != sw[1].body, "the example event's own id is fresh too"


def test_send_exit_1_when_the_answer_is_not_2xx(target: TargetServer) -> None:
    target.reply(status=500, body=b"boom from the app\n")
    proc = send(target, "/x", "--provider", "github", "--secret", GH_SECRET, "-d", "{}")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "500" in proc.stdout.decode()
    assert "boom from the app" in proc.stdout.decode()
    assert len(target.requests) == 1


def test_send_refuses_a_non_loopback_url() -> None:
    for url in ("http://203.0.113.7:9/hooks", "http://10.255.255.1/x"):
        proc = run_whrelay("send", url, "--provider", "github", "--secret", GH_SECRET, "-d", "{}")
        assert_usage_error(proc, "--allow-remote")


def test_send_without_a_secret_is_exit_2(target: TargetServer) -> None:
    proc = send(target, "/x", "--provider", "github", "-d", "{}")
    assert_usage_error(proc, "secret")
    assert target.requests == []


def test_the_linear_example_event_carries_its_signed_timestamp() -> None:
    from whrelay.signatures.examples import example_event

    body, headers = example_event("linear")
    scheme = get_scheme("linear")
    signed = scheme.sign(Message(body, headers), "lin-s3cret", int(time.time()))
    verdict = scheme.verify(signed, Check(("lin-s3cret",), time.time()))
    assert verdict.valid, verdict
    assert abs(json.loads(body)["webhookTimestamp"] / 1000 - time.time()) < 60


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


def test_verify_reads_a_request_or_a_body_from_stdin(tmp_path: Path) -> None:
    body = JSON_BODY
    head = f"POST /gh HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {gh_sig(body)}\r\n"
    raw = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    piped = run_whrelay("verify", "--request", "-", "--provider", "github", "--secret",
                        GH_SECRET, input=raw)  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "✓" in piped.stdout.decode()
    only_body = run_whrelay("verify", "--body-file", "-", "-H",
                            f"X-Hub-Signature-256: {gh_sig(body)}", "--provider", "github",
                            "--secret", GH_SECRET, input=body)  # fmt: skip
    assert only_body.returncode == 0, only_body.stderr


def test_send_with_data_gives_the_providers_content_type(target: TargetServer) -> None:
    proc = send(target, "/gh", "--provider", "github", "--secret", GH_SECRET, "-d", '{"a":1}')
    assert proc.returncode == 0, proc.stderr
    assert only_request(target).header_all("Content-Type") == ["application/json"]
