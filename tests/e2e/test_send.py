"""``whrelay send``: a signed test webhook, accepted by the provider's own library."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import standardwebhooks
import stripe
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from tests.helpers.processes import run_whrelay
from tests.helpers.signed_requests import assert_usage_error, gh_sig, write
from tests.helpers.targetserver import Recorded, TargetServer, target_server
from whrelay.core.errors import ExitCode
from whrelay.signatures import get_scheme
from whrelay.signatures.base import Check, Message

STRIPE_SECRET = "whsec_verifyCliStripeSecret0001"

GH_SECRET = "gh-verify-cli-s3cret"

SW_KEY = b"standard-webhooks-key-32-bytes!!"

SW_SECRET = "whsec_" + base64.b64encode(SW_KEY).decode()

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

TWILIO_TOKEN = "12345abcdef67890twilio-auth-tok"

_names = itertools.count()


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with target_server() as server:
        yield server


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


def test_send_with_data_gives_the_providers_content_type(target: TargetServer) -> None:
    proc = send(target, "/gh", "--provider", "github", "--secret", GH_SECRET, "-d", '{"a":1}')
    assert proc.returncode == 0, proc.stderr
    assert only_request(target).header_all("Content-Type") == ["application/json"]


@pytest.mark.parametrize("method", ["BAD METHOD", "POST /evil HTTP/1.1\r\nX-Inj: 1\r\nFoo:", ""])
def test_send_refuses_a_method_that_is_not_a_token(method: str) -> None:
    done = run_whrelay(
        "send", "9", "-X", method, "--provider", "github", "--secret", "s", "--data", "x"
    )
    assert done.returncode == ExitCode.USAGE
    assert b"is not an HTTP method" in done.stderr


async def test_send_json_has_no_made_up_ids(tmp_path: Path) -> None:
    """A test send is stored nowhere: its ids are null, not 0."""
    from tests.helpers.targetserver import target_server

    with target_server() as target:
        done = run_whrelay(
            "send", str(target.port), "--provider", "github", "--secret", "s", "--json"
        )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["id"] is None and record["webhook_id"] is None
    assert record["status"] == 200


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
