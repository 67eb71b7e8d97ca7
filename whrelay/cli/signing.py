"""``whrelay verify``, ``whrelay sign`` and ``whrelay send``: signatures from the command line."""

from __future__ import annotations

import base64
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from whrelay.cli.common import (
    HTTP_TOKEN,
    CaFileOption,
    DbOption,
    InsecureOption,
    JsonOption,
    complete_scheme,
    complete_webhook_ids,
    find_webhooks,
    parse_webhook_ref,
    resolve_db,
    stderr,
    stdout,
    write_json,
)
from whrelay.core.errors import ExitCode, UsageError
from whrelay.identify.known import SCHEMES

SCHEME_NAMES = ", ".join(SCHEMES)
"""The schemes ``--provider`` takes, from the registry."""

if TYPE_CHECKING:
    from whrelay.signatures import Message, Verification
    from whrelay.signatures.verification import HmacOptions

VERIFY_EXAMPLES = """
[bold]Examples[/bold]

  A stored webhook (the provider detected):
    whrelay verify 42 --secret-env STRIPE_SECRET
  Another body (as your app re-serialized it?) against a stored webhook's headers:
    whrelay verify 42 --body-file seen-by-app.json --secret-env STRIPE_SECRET
  A captured request, or a body with its headers:
    whrelay verify --request capture.http --provider stripe --secret whsec_...
    whrelay verify --body-file body.json --provider github --secret s3cret \\
      -H 'X-Hub-Signature-256: sha256=...'
  A provider that signs the URL it called:
    whrelay verify 42 --provider twilio --secret TOKEN \\
      --url https://example.com/sms
"""

SIGN_EXAMPLES = """
[bold]Examples[/bold]

  The signature headers for a body:
    whrelay sign --provider stripe --secret whsec_test --data '{"id":"evt_1"}'
    whrelay sign --provider github --secret s3cret --data @payload.json
"""

SEND_EXAMPLES = """
[bold]Examples[/bold]

  An example Stripe event, signed, to a running whrelay listen:
    whrelay send 8642/stripe --provider stripe --secret whsec_test
  Your own body and header, to your app on port 3000:
    whrelay send 3000 --provider github --secret s3cret --data @push.json \\
      -H 'X-GitHub-Event: push'
  To your app on https://localhost:3443 with a self-signed certificate:
    whrelay send https://localhost:3443/hooks --provider none --ca-file cert.pem
"""

Provider = Annotated[
    str | None,
    typer.Option(
        "--provider",
        help=f"The scheme: {SCHEME_NAMES} (default: detected from the request).",
        metavar="PROVIDER",
        autocompletion=complete_scheme,
        show_default=False,
    ),
]
SigningProvider = Annotated[
    str,
    typer.Option(
        "--provider",
        help=f"The scheme to sign with: {SCHEME_NAMES}.",
        metavar="PROVIDER",
        autocompletion=complete_scheme,
    ),
]
Secrets = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        help="Signing secret or key; repeat to try several (rotation). Prefer --secret-env: "
        "command lines are visible to other users.",
        metavar="SECRET",
        show_default=False,
    ),
]
SigningSecret = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        help="The signing secret or key (one). Prefer --secret-env: command lines are visible "
        "to other users.",
        metavar="SECRET",
        show_default=False,
    ),
]
SecretEnvs = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-env",
        help="Read a secret from this environment variable.",
        metavar="VAR",
        show_default=False,
    ),
]
Headers = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        "-H",
        help="'Name: value'; repeatable.",
        metavar="'NAME: VALUE'",
        show_default=False,
    ),
]
Url = Annotated[
    str | None,
    typer.Option(
        "--url", help="The URL the sender called (Twilio and Square sign it).", metavar="URL"
    ),
]
HmacHeader = Annotated[
    str | None, typer.Option("--hmac-header", help="hmac: signature header.", metavar="NAME")
]
HmacAlgorithm = Annotated[
    str | None,
    typer.Option("--hmac-algorithm", help="hmac: sha1, sha256 or sha512.", metavar="ALGORITHM"),
]
HmacEncoding = Annotated[
    str | None, typer.Option("--hmac-encoding", help="hmac: hex or base64.", metavar="ENCODING")
]
HmacPrefix = Annotated[
    str | None,
    typer.Option(
        "--hmac-prefix", help="hmac: prefix before the signature, e.g. sha256=.", metavar="PREFIX"
    ),
]
HmacTimestamp = Annotated[
    str | None,
    typer.Option("--hmac-timestamp-header", help="hmac: header with a timestamp.", metavar="NAME"),
]
HmacTemplate = Annotated[
    str | None,
    typer.Option(
        "--hmac-template",
        help="hmac: signed content, e.g. '{timestamp}.{body}'.",
        metavar="TEMPLATE",
    ),
]


def _one_signing_secret(secret: list[str] | None, secret_env: list[str] | None) -> list[str]:
    """The one secret ``sign`` and ``send`` sign with (rotation is for checking)."""
    from whrelay.signatures.verification import secrets_from

    secrets = secrets_from(secret or (), secret_env or ())
    if not secrets:
        raise UsageError("give the signing secret with --secret or --secret-env")
    if len(secrets) > 1:
        raise UsageError(
            f"sign with one secret ({len(secrets)} were given)",
            hint="several secrets are for checking (whrelay verify, listen); pick the current one",
        )
    return list(secrets)


def _data(value: str | None) -> bytes | None:
    """``--data``: literal text, ``@file`` for a file's exact bytes, ``@-`` for stdin's."""
    if value is None:
        return None
    if value == "@-":
        return sys.stdin.buffer.read()
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_bytes()
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror}") from None
    return os.fsencode(value)  # the bytes as typed, UTF-8 or not


def verify(
    webhook_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]",
            help="A stored webhook's id, or its provider id (evt_…, msg_…).",
            show_default=False,
            parser=parse_webhook_ref,
            autocompletion=complete_webhook_ids,
        ),
    ] = None,
    request: Annotated[
        Path | None,
        typer.Option(
            help="A raw HTTP/1.1 request, or whrelay's JSON record (show --json); - for stdin.",
            dir_okay=False,
            metavar="FILE",
            allow_dash=True,
        ),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(
            help="The body's exact bytes (with -H headers, or a stored webhook's); - for stdin.",
            dir_okay=False,
            metavar="FILE",
            allow_dash=True,
        ),
    ] = None,
    header: Headers = None,
    provider: Provider = None,
    secret: Secrets = None,
    secret_env: SecretEnvs = None,
    url: Url = None,
    now: Annotated[
        float | None,
        typer.Option(
            help="Judge at this Unix time. Default: the arrival of a stored webhook or of a "
            "JSON record, else now.",
            metavar="UNIX",
        ),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="Timestamp tolerance in seconds (default: the scheme's).", metavar="SECONDS"
        ),
    ] = None,
    ignore_timestamp: Annotated[
        bool, typer.Option("--ignore-timestamp", metavar="", help="Check the signature alone.")
    ] = False,
    hmac_header: HmacHeader = None,
    hmac_algorithm: HmacAlgorithm = None,
    hmac_encoding: HmacEncoding = None,
    hmac_prefix: HmacPrefix = None,
    hmac_timestamp_header: HmacTimestamp = None,
    hmac_template: HmacTemplate = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> int:
    """Check a webhook's signature offline, and explain why it fails."""
    from whrelay.core.models import parse_header_option
    from whrelay.signatures import Message
    from whrelay.signatures import verification as v
    from whrelay.signatures.verification import HmacOptions

    sources = [webhook_id is not None, request is not None, body_file is not None]
    another_body = webhook_id is not None and body_file is not None and request is None
    if sum(sources) != 1 and not another_body:
        raise UsageError(
            "give exactly one of: an ID, --request FILE, --body-file FILE",
            hint="an ID with --body-file FILE checks another body against its stored headers",
        )
    options = HmacOptions(
        hmac_header,
        hmac_algorithm,
        hmac_encoding,
        hmac_prefix,
        hmac_timestamp_header,
        hmac_template,
    )
    if now is not None and not math.isfinite(now):
        raise UsageError(f"--now must be a Unix time in seconds, not {now}")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
        raise UsageError(f"--tolerance must be zero or more seconds, not {tolerance}")
    judged_at = now
    if webhook_id is not None:
        from whrelay.storage import Store

        with Store(resolve_db(db), readonly=True) as store:
            [number] = find_webhooks(store, [webhook_id])
            webhook = store.get_webhook(number)
        message = v.message_from_webhook(webhook, url)
        if body_file is not None:  # another body under the stored headers
            message = message.with_body(_read(body_file))
        if judged_at is None:
            judged_at = webhook.summary.received_at / 1_000_000
    elif request is not None:
        from whrelay.formats.httpfile import message_from_file, read_request

        captured = read_request(_read(request), str(request))
        message = message_from_file(captured, url)
        if judged_at is None and captured.received_at is not None:
            judged_at = captured.received_at / 1_000_000  # a whrelay record: at its arrival
    else:
        assert body_file is not None
        pairs = tuple(parse_header_option(h) for h in header or ())
        message = Message(_read(body_file), pairs, url)
    if header and (body_file is None or webhook_id is not None):
        message = message.with_headers([parse_header_option(h) for h in header])
    scheme, detected = v.choose_scheme(provider, message, options)
    given = v.given_secrets(secret or (), secret_env or ())
    v.check_verify_secrets(scheme, given, detected)
    result = v.verify_message(
        scheme,
        message,
        [s.value for s in given],
        time.time() if judged_at is None else judged_at,
        tolerance,
        ignore_timestamp,
    )
    if json_output:
        write_json({**result.to_json(), "detected": detected})
    else:
        _show_verdict(result, detected)
    return ExitCode.OK if result.valid else ExitCode.CHECK_FAILED


def _read(path: Path) -> bytes:
    """A file's exact bytes; ``-``: stdin's."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None


def _show_verdict(result: Verification, detected: bool) -> None:
    """The verdict and its hints; plain text (no Rich to load) unless stdout is a terminal."""
    from whrelay.views.safetext import one_line

    mark = "✓ valid" if result.valid else f"✗ {result.reason.value}"
    found = " (detected from the headers)" if detected else ""
    hints = [one_line(hint) for hint in result.hints]
    if not sys.stdout.isatty():
        lines = [f"{mark}  {result.scheme}{found}  {one_line(result.detail)}"]
        lines += [f"  hint: {hint}" for hint in hints]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    from rich.text import Text

    line = Text()
    line.append(mark, style="bold green" if result.valid else "bold red")
    line.append(f"  {result.scheme}", style="bold")
    line.append(found, style="dim")
    line.append(f"  {one_line(result.detail)}")
    for hint in hints:
        line.append("\n  hint: ", style="yellow")
        line.append(hint)
    stdout().print(line)


def _sign(
    provider: str,
    secret: str,
    body: bytes,
    headers: list[str],
    url: str | None,
    now: int,
    options: HmacOptions,
) -> Message:
    from rich.text import Text

    from whrelay.core.models import parse_header_option
    from whrelay.render.webhooks import one_line
    from whrelay.signatures import Message
    from whrelay.signatures.verification import build_scheme, sign_checked

    pairs = tuple(parse_header_option(h) for h in headers)
    signed, check = sign_checked(
        build_scheme(provider, options), Message(body, pairs, url), secret, now
    )
    if not check.valid:
        stderr().print(
            Text(
                f"warning: whrelay's own check of what was signed says "
                f"{check.reason.value}: {one_line(check.detail)}",
                style="yellow",
            )
        )
    return signed


def sign(
    provider: SigningProvider,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="The body: text, @file for a file's bytes, @- for stdin's. "
            "Default: an example event for the provider.",
            metavar="DATA",
        ),
    ] = None,
    secret: SigningSecret = None,
    secret_env: SecretEnvs = None,
    header: Headers = None,
    url: Url = None,
    now: Annotated[
        int | None, typer.Option(help="Sign at this Unix time (default: now).", metavar="UNIX")
    ] = None,
    hmac_header: HmacHeader = None,
    hmac_algorithm: HmacAlgorithm = None,
    hmac_encoding: HmacEncoding = None,
    hmac_prefix: HmacPrefix = None,
    hmac_timestamp_header: HmacTimestamp = None,
    hmac_template: HmacTemplate = None,
    json_output: JsonOption = False,
) -> None:
    """Print the signature headers for a body."""
    from rich.text import Text

    from whrelay.core.models import parse_header_option
    from whrelay.signatures.examples import example_event
    from whrelay.signatures.verification import HmacOptions

    secrets = _one_signing_secret(secret, secret_env)
    body = _data(data)
    example = body is None
    if body is None:
        body = example_event(provider)[0]
    options = HmacOptions(
        hmac_header,
        hmac_algorithm,
        hmac_encoding,
        hmac_prefix,
        hmac_timestamp_header,
        hmac_template,
    )
    given = {name.lower() for name, _ in (parse_header_option(h) for h in header or ())}
    at = int(time.time()) if now is None else now
    signed = _sign(provider, secrets[0], body, header or [], url, at, options)
    if example:  # said once the provider is known to be one
        stderr().print(
            Text(
                f"note: no --data: signed an example {provider} event "
                "(--json shows it; --data @file or @- signs yours)",
                style="dim",
            )
        )
    added = [(k, v) for k, v in signed.headers if k.lower() not in given]
    if json_output:
        record: dict[str, object] = {
            "headers": [list(p) for p in added],
            "body_changed": signed.body != body,
        }
        if signed.body != body or data is None:  # the body to send: one the user lacks
            record["body_b64"] = base64.b64encode(signed.body).decode()
        write_json(record)
        return
    for name, value in added:
        print(f"{name}: {value}")
    if signed.body != body:
        stderr().print(
            Text(
                "note: this scheme carries the signature in the body; --json gives the "
                "signed body (body_b64), and 'whrelay send' sends it",
                style="dim",
            )
        )


UNSIGNED = "none"
"""``send --provider none``: a test webhook without a signature."""


def complete_send_provider(incomplete: str) -> list[str]:
    return [name for name in (*SCHEMES, UNSIGNED) if name.startswith(incomplete.lower())]


def send(
    url: Annotated[
        str, typer.Argument(help="Where to send: a URL, or a port (3000).", metavar="URL")
    ],
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            help=f"The scheme to sign with: {SCHEME_NAMES}; or none, to send it unsigned.",
            metavar="PROVIDER",
            autocompletion=complete_send_provider,
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="The body: text, @file, or @- for stdin. Default: an example event.",
            metavar="DATA",
        ),
    ] = None,
    secret: SigningSecret = None,
    secret_env: SecretEnvs = None,
    header: Headers = None,
    method: Annotated[
        str, typer.Option("--method", "-X", help="HTTP method.", metavar="METHOD")
    ] = "POST",
    signed_url: Annotated[
        str | None,
        typer.Option("--signed-url", help="Sign this URL instead (Twilio, Square).", metavar="URL"),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", metavar="", help="Allow a URL that is not on this machine."),
    ] = False,
    insecure: InsecureOption = False,
    ca_file: CaFileOption = None,
    json_output: JsonOption = False,
) -> int:
    """Sign and send a test webhook, and print the response."""
    import asyncio

    from rich.text import Text

    from whrelay.core.models import Trigger, header_options, parse_header_option
    from whrelay.core.targets import check_target, parse_target, unverified
    from whrelay.core.tls import check_ca_file
    from whrelay.relay.client import Outgoing, Sender
    from whrelay.render.webhooks import one_line
    from whrelay.signatures.examples import GENERIC_EXAMPLE, example_event, fill_example
    from whrelay.signatures.verification import HmacOptions

    if not HTTP_TOKEN.fullmatch(method):
        raise UsageError(f"-X {method!r} is not an HTTP method", hint="e.g. -X POST or -X PUT")
    target = parse_target(url)
    check_target(target, allow_remote)
    target = unverified(target) if insecure else target
    trusted = None if ca_file is None else check_ca_file(ca_file)
    unsigned = provider.strip().lower() == UNSIGNED
    if unsigned and (secret or secret_env):
        raise UsageError("--provider none sends the webhook unsigned: it takes no secret")
    secrets = [] if unsigned else _one_signing_secret(secret, secret_env)
    body = _data(data)
    chosen = header_options(header or ())  # each name once: the last -H of a name wins
    extra = [f"{name}: {value}" for name, value in chosen]
    given = {name.lower() for name, _ in chosen}
    example_body, example_headers = (
        fill_example(GENERIC_EXAMPLE) if unsigned else example_event(provider)
    )
    if body is None:
        body = example_body
        # An -H header replaces the example's of the same name (as -H does everywhere).
        extra = [f"{k}: {v}" for k, v in example_headers if k.lower() not in given] + extra
    else:
        # The provider's own Content-Type and its id of the webhook (GitHub's
        # X-GitHub-Delivery, fresh each time), as the real sender gives them.
        # With no provider (none), nothing is made up.
        wanted = set() if unsigned else {"content-type", *_id_headers(provider)}
        kept = [(k, v) for k, v in example_headers if k.lower() in wanted]
        extra = [f"{k}: {v}" for k, v in kept if k.lower() not in given] + extra
    full_url = target.url_for("/", "") if not target.path else target.url
    if unsigned:
        pairs = tuple(parse_header_option(h) for h in extra)
        outgoing = Outgoing(method.upper(), full_url, pairs, body, insecure=target.insecure)
    else:
        signed = _sign(
            provider, secrets[0], body, extra, signed_url or full_url, int(time.time()),
            HmacOptions(),
        )  # fmt: skip
        outgoing = Outgoing(
            method.upper(), full_url, signed.headers, signed.body, insecure=target.insecure
        )

    async def go() -> object:
        async with Sender(allow_remote=allow_remote, ca_file=trusted) as sender:
            return await sender.send(outgoing, webhook_id=0, delivery=None, trigger=Trigger.SEND)

    from whrelay.core.models import Attempt
    from whrelay.render.webhooks import attempt_line

    attempt = asyncio.run(go())
    assert isinstance(attempt, Attempt)
    if json_output:
        # A test send is stored nowhere: it has no ids.
        write_json({**attempt.to_json(), "id": None, "webhook_id": None})
    else:
        line = attempt_line(attempt, "delivered" if attempt.ok else "failed")
        stdout().print(line)
        if attempt.response_body:
            snippet = attempt.response_body[:500].decode("utf-8", "replace").rstrip()
            stdout().print(Text(one_line(snippet)))
    return ExitCode.OK if attempt.ok else ExitCode.CHECK_FAILED


def _id_headers(provider: str) -> set[str]:
    """The headers (lower case) in which ``provider`` gives its own id of a webhook."""
    from whrelay.signatures import get_scheme

    identification = get_scheme(provider).identification
    return set(identification.id_headers) if identification is not None else set()


def register(app: typer.Typer) -> None:
    app.command(epilog=VERIFY_EXAMPLES)(verify)
    app.command(epilog=SIGN_EXAMPLES)(sign)
    app.command(epilog=SEND_EXAMPLES)(send)
