"""``whrelay verify``: a stored id, a request file or a body and headers, judged offline."""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import standardwebhooks

from tests.helpers.commands import err, github_request
from tests.helpers.processes import run_whrelay, start_listener
from tests.helpers.rawhttp import raw_request
from tests.helpers.signed_requests import (
    GH_SECRET,
    JSON_BODY,
    NOW,
    SLACK_SECRET,
    STRIPE_SECRET,
    SW_KEY,
    SW_SECRET,
    assert_usage_error,
    body_args,
    failed_with_hint,
    gh_sig,
    hmac_hex,
    slack_headers,
    stripe_sig,
    sw_headers,
    url_verify,
    verify_body,
    verify_json,
    write,
)
from whrelay.core.errors import ExitCode
from whrelay.core.models import Capture
from whrelay.storage import Store


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


PUBLIC = "https://example.test/sms"

GITHUB_SECRET = "review-secret"


@pytest.fixture
def stored_github(tmp_path: Path) -> tuple[Path, int]:
    """A database holding one signed GitHub webhook (received now)."""
    db = tmp_path / "hooks.db"
    listener = start_listener(db)
    try:
        import asyncio

        answer = asyncio.run(raw_request(listener.url, github_request(b'{"zen":"x"}')))
        assert answer.status == 200
        webhook_id = int(json.loads(answer.body)["id"])
    finally:
        listener.stop()
    return db, webhook_id


@pytest.mark.parametrize(
    ("option", "value"), [("--now", "nan"), ("--now", "inf"), ("--tolerance", "-5")]
)
def test_verify_refuses_a_clock_or_tolerance_that_means_nothing(
    tmp_path: Path, option: str, value: str
) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b"{}")
    signature = "X-Hub-Signature-256: sha256=00"
    result = run_whrelay(
        "verify", "--provider", "github", "--secret", "s", "--body-file", str(body),
        "-H", signature, option, value,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert f"whrelay: error: {option} must be" in err(result)


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


def test_twilio_accepts_the_default_port_written_out(tmp_path: Path) -> None:
    """Twilio's own libraries try the URL with and without :443, so whrelay does too: no hint
    is needed, the signature is valid."""
    result = url_verify(tmp_path, "twilio", "https://example.test:443/sms", PUBLIC)
    assert result["valid"] is True, result


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


def test_verify_judges_at_now_0_when_asked(stored_github: tuple[Path, int]) -> None:
    """``--now 0`` is a time like any other, not "not given"."""
    db, webhook_id = stored_github
    args = ("verify", str(webhook_id), "--secret", GITHUB_SECRET, "--db", str(db), "--json")
    at_zero = json.loads(run_whrelay(*args, "--now", "0").stdout)
    at_arrival = json.loads(run_whrelay(*args).stdout)
    # GitHub's signature has no timestamp: both are valid, and each says when it judged.
    assert at_zero["valid"] and at_arrival["valid"]
    zoned = "standard-webhooks"
    stamp = str(int(time.time()))
    key = b"0123456789abcdef"
    body = b'{"type":"x"}'
    mac = base64.b64encode(hmac.new(key, f"msg_1.{stamp}.".encode() + body, "sha256").digest())
    request = (
        f"POST /sw HTTP/1.1\r\nHost: x\r\nwebhook-id: msg_1\r\nwebhook-timestamp: {stamp}\r\n"
        f"webhook-signature: v1,{mac.decode()}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    secret = "whsec_" + base64.b64encode(key).decode()
    checked = run_whrelay(
        "verify", "--request", "-", "--provider", zoned, "--secret", secret, "--now", "0",
        "--json", input=request,
    )  # fmt: skip
    verdict = json.loads(checked.stdout)
    assert verdict["reason"] == "timestamp_in_future", verdict  # judged at 1970, not now


def test_verify_judges_a_json_record_at_its_arrival(tmp_path: Path) -> None:
    """``show --json`` then ``verify --request``: the same verdict as ``verify ID``."""
    db = tmp_path / "hooks.db"
    key = b"fedcba9876543210"
    secret = "whsec_" + base64.b64encode(key).decode()
    arrived = int(time.time()) - 3600  # signed and received an hour ago
    body = b'{"type":"invoice.paid"}'
    mac = base64.b64encode(hmac.new(key, f"msg_2.{arrived}.".encode() + body, "sha256").digest())
    record = {
        "id": 1,
        "received_at": arrived * 1_000_000,
        "method": "POST",
        "path": "/sw",
        "query": "",
        "headers": [
            ["webhook-id", "msg_2"],
            ["webhook-timestamp", str(arrived)],
            ["webhook-signature", "v1," + mac.decode()],
        ],
        "body_b64": base64.b64encode(body).decode(),
    }
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    checked = run_whrelay("verify", "--request", str(path), "--secret", secret, "--db", str(db))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    late = run_whrelay(
        "verify", "--request", str(path), "--secret", secret, "--now", str(arrived + 3600)
    )
    assert late.returncode == ExitCode.CHECK_FAILED
    assert b"timestamp_too_old" in late.stdout


def test_verify_without_a_provider_takes_a_header_that_is_not_utf8(tmp_path: Path) -> None:
    request = b"POST /x HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\n{}"
    done = run_whrelay("verify", "--request", "-", "--secret", "s", input=request)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert b"cannot tell the provider" in done.stderr


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
