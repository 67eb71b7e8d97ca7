"""Verify a webhook from whatever the user has: a stored id, a request file, or a body and
headers. The glue between inputs and the pure schemes; used by ``verify``, ``listen`` and
re-signing on replay."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from whrelay.core.errors import UsageError
from whrelay.core.models import (
    Capture,
    Verdict,
    Webhook,
    decode_header,
    encode_header,
    header_value,
)
from whrelay.signatures import (
    REGISTRY,
    Check,
    Message,
    Scheme,
    Verification,
    detect_scheme,
    get_scheme,
)
from whrelay.signatures.base import MalformedError
from whrelay.signatures.explain import explain

if TYPE_CHECKING:
    from whrelay.core.config import VerifySettings
    from whrelay.core.targets import Route


@dataclass(frozen=True, slots=True)
class HmacOptions:
    """The generic ``hmac`` scheme's settings (``--hmac-*`` options)."""

    header: str | None = None
    algorithm: str | None = None
    encoding: str | None = None
    prefix: str | None = None
    timestamp_header: str | None = None
    template: str | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self._asdict().items() if v is not None}

    def _asdict(self) -> dict[str, str | None]:
        return {
            "header": self.header,
            "algorithm": self.algorithm,
            "encoding": self.encoding,
            "prefix": self.prefix,
            "timestamp_header": self.timestamp_header,
            "template": self.template,
        }


def build_scheme(provider: str, hmac_options: HmacOptions | None = None) -> Scheme:
    """The scheme called ``provider``; for ``hmac``, configured by ``hmac_options``."""
    scheme = get_scheme(provider)
    options = hmac_options.given() if hmac_options else {}
    if options:
        if scheme.name != "hmac":
            raise UsageError("--hmac-* options go with --provider hmac")
        from whrelay.signatures.hmac_generic import GenericHmac

        kwargs: dict[str, Any] = dict(options)
        scheme = GenericHmac(**kwargs)
    return scheme


def choose_scheme(
    provider: str | None, message: Message, hmac_options: HmacOptions | None = None
) -> tuple[Scheme, bool]:
    """The scheme to verify with, and whether it was detected from the headers."""
    if provider:
        return build_scheme(provider, hmac_options), False
    detected = detect_scheme(message.headers) or _body_scheme(message)
    if detected is None:
        raise UsageError(
            "cannot tell the provider from the headers",
            hint="name it with --provider (e.g. stripe, github, standard-webhooks)",
        )
    return build_scheme(detected, hmac_options), True


def _body_scheme(message: Message) -> str | None:
    """A scheme told by the body alone (Mailgun's), when no header names one."""
    from whrelay.identify.detect import identify

    raw = tuple((encode_header(name), encode_header(value)) for name, value in message.headers)
    provider = identify(raw, message.body).provider
    return provider if provider in REGISTRY else None


@dataclass(frozen=True, slots=True)
class GivenSecret:
    """A secret and where it was given, so that messages can name it without its value."""

    value: str = field(repr=False)
    label: str
    """``--secret #2``, ``--secret-env STRIPE_SECRET``, ``route /gh/*: secret-env GH``."""


def given_secrets(values: Sequence[str], env_vars: Sequence[str]) -> tuple[GivenSecret, ...]:
    """Secrets from ``--secret`` values and ``--secret-env`` variable names, each labelled:
    ``--secret`` by its position among them, ``--secret-env`` by the variable's name."""
    if any(not value for value in values):
        raise UsageError("--secret is empty", hint="give the secret, or --secret-env VAR")
    found = [GivenSecret(value, f"--secret #{n}") for n, value in enumerate(values, 1)]
    for name in env_vars:
        value = os.environ.get(name)
        if value is None:
            raise UsageError(f"environment variable {name} is not set (--secret-env)")
        if not value:
            raise UsageError(f"environment variable {name} is empty (--secret-env)")
        found.append(GivenSecret(value, f"--secret-env {name}"))
    return tuple(found)


def secrets_from(values: Sequence[str], env_vars: Sequence[str]) -> tuple[str, ...]:
    """Secrets from ``--secret`` values and ``--secret-env`` variable names."""
    return tuple(secret.value for secret in given_secrets(values, env_vars))


def route_secrets(route: Route) -> tuple[GivenSecret, ...]:
    """A route's own secrets (``secret-env=VAR``), labelled by route and variable."""
    names = route.secret_envs
    return tuple(
        GivenSecret(value, f"route {route.pattern}: secret-env {names[n] if n < len(names) else n}")
        for n, value in enumerate(route.secrets)
    )


def refuse_unusable(scheme: Scheme, secrets: Sequence[GivenSecret]) -> None:
    """``UsageError`` naming the first secret that cannot be ``scheme``'s key (by where it was
    given, never by its value), with the form expected as the hint."""
    for secret in secrets:
        problem = scheme.key_problem(secret.value)
        if problem is not None:
            raise UsageError(f"{secret.label} cannot be a {scheme.name} key", hint=problem)


def require_usable(
    scheme: Scheme, secrets: Sequence[GivenSecret], why: str = "", advice: str = ""
) -> None:
    """``UsageError`` when secrets were given and none can be ``scheme``'s key. Each secret
    is tried on its own, so one that can is enough. ``why`` says why ``scheme`` is the one;
    ``advice`` ends the hint (which names the forms expected)."""
    problems = [scheme.key_problem(secret.value) for secret in secrets]
    if not secrets or any(problem is None for problem in problems):
        return
    subject = (
        f"{secrets[0].label} cannot be"
        if len(secrets) == 1
        else f"none of the {len(secrets)} secrets can be"
    )
    hints = [*dict.fromkeys(problem for problem in problems if problem), advice]
    raise UsageError(f"{subject} a {scheme.name} key{why}", hint="; ".join(h for h in hints if h))


def check_verify_secrets(scheme: Scheme, secrets: Sequence[GivenSecret], detected: bool) -> None:
    """Refuse what ``verify`` cannot check with: with ``--provider``, any secret that cannot
    be its key; with the scheme ``detected`` from the headers, secrets none of which can be
    (each is tried on its own, so one that fits is enough)."""
    if detected:
        require_usable(scheme, secrets, " (the scheme detected from the headers)")
    else:
        refuse_unusable(scheme, secrets)


def check_listen_secrets(
    provider: str | None, secrets: Sequence[GivenSecret], routes: Sequence[Route]
) -> None:
    """Refuse, before ``listen`` starts, a secret that cannot work for the scheme it will
    be checked with. Secrets given for a provider (``--provider`` with ``--secret``, a route's
    ``secret-env=`` with its provider) must each fit it; listen's own secrets used by a route
    of another provider need one that fits. Without a provider the scheme is detected per
    request, and a secret that does not fit it is simply skipped."""
    if provider:
        refuse_unusable(get_scheme(provider), secrets)
    for route in routes:
        name = route.provider or provider
        if not name:
            continue
        scheme = get_scheme(name)
        if route.secrets:
            refuse_unusable(scheme, route_secrets(route))
        elif name != provider:
            require_usable(
                scheme,
                secrets,
                f" (route {route.pattern} checks {name} with listen's secrets)",
                "or give the route its own with secret-env=VAR",
            )


def url_from(host: str | None, target: str, explicit: str | None) -> str | None:
    """The URL the sender called: ``explicit`` (``--url``), an absolute request target, or
    ``http://`` + the Host header + the target."""
    if explicit:
        return explicit
    if urlsplit(target).scheme in ("http", "https"):
        return target
    if host:
        return f"http://{host}{target}"
    return None


def message_from_webhook(webhook: Webhook, url: str | None = None) -> Message:
    headers = tuple((decode_header(k), decode_header(v)) for k, v in webhook.headers)
    target = webhook.summary.target
    return Message(
        body=webhook.body or b"",
        headers=headers,
        url=url_from(webhook.header("host"), target, url),
        method=webhook.summary.method,
    )


def verify_message(
    scheme: Scheme,
    message: Message,
    secrets: Sequence[str],
    now: float,
    tolerance: float | None = None,
    ignore_timestamp: bool = False,
) -> Verification:
    """Verify and, when it fails, explain."""
    check = Check(tuple(secrets), now, tolerance, ignore_timestamp)
    return explain(scheme, message, check)


@dataclass(frozen=True, slots=True)
class Secrets:
    """The secrets that check (and re-sign) a webhook, and how they were given."""

    values: tuple[str, ...] = field(repr=False)
    env_vars: tuple[str, ...] = ()
    """The variables some of ``values`` were read from (``--secret-env``, a route's
    ``secret-env=``), in order; never a value."""

    @property
    def typed(self) -> bool:
        """Whether some were typed (``--secret``) rather than read from a variable."""
        return len(self.values) > len(self.env_vars)


def secrets_for(route: Route | None, settings: VerifySettings) -> Secrets:
    """The secrets that check a webhook on ``route``: the route's own where it names them,
    else ``listen``'s (``--secret`` and ``--secret-env``)."""
    if route is not None and route.secrets:
        return Secrets(route.secrets, route.secret_envs)
    return Secrets(settings.secrets, settings.secret_envs)


def keys_for(route: Route | None, settings: VerifySettings) -> tuple[str | None, tuple[str, ...]]:
    """The scheme (``None``: detect it) and the secrets (``secrets_for``) that check a webhook
    on ``route``: the route's own where it names them, else ``listen``'s."""
    provider = (route.provider if route else None) or settings.provider
    return provider, secrets_for(route, settings).values


def arrival_url(host: str | None, target: str, public_url: str | None) -> str | None:
    """The URL a sender called, as ``listen`` judges it: ``--public-url`` plus the path and
    query when given, else ``http://`` + the Host header + the target."""
    explicit = public_url.rstrip("/") + target if public_url else None
    return url_from(host, target, explicit)


def judge(
    capture: Capture,
    settings: VerifySettings,
    route: Route | None,
    now: float,
    detected: str | None = None,
) -> Verdict:
    """The verdict ``listen`` stores for a webhook as it arrives. ``detected`` is the
    provider the headers name, when the caller has worked it out already."""
    provider, secrets = keys_for(route, settings)
    if not secrets:
        # Nothing to verify with: name the scheme (cheaply) and stop.
        if not (provider or detected):
            from whrelay.identify.detect import detect_provider

            detected = detect_provider(capture.headers)
        name = provider or detected
        if name is None or name not in REGISTRY:
            return Verdict("unverified", None, None, "no signature scheme recognized")
        return Verdict("unverified", name, "no_secret", "no secret given to listen")
    headers = tuple((decode_header(k), decode_header(v)) for k, v in capture.headers)
    target = f"{capture.path}?{capture.query}" if capture.query else capture.path
    host = header_value(headers, "host")
    url = arrival_url(host, target, settings.public_url)
    message = Message(capture.body or b"", headers, url, capture.method)
    name = provider or detected or detect_scheme(headers)
    if name is None or name not in REGISTRY:
        return Verdict("unverified", None, None, "no signature scheme recognized")
    scheme = get_scheme(name)
    try:
        result = scheme.verify(message, Check(secrets, now))
    except Exception as error:  # a check must never keep a webhook from being stored
        return Verdict("unverified", scheme.name, None, f"the check failed: {error!r}")
    return Verdict(
        "valid" if result.valid else "invalid", scheme.name, result.reason.value, result.detail
    )


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """What re-signing a webhook may use: its scheme (``None``: the one its own headers or
    body name) and the secrets that verify it and sign it afresh. Held in memory only."""

    provider: str | None
    secrets: tuple[str, ...] = field(repr=False)
    public_url: str | None = None
    """The URL senders call (``--public-url``), for schemes that sign it."""


@dataclass(frozen=True, slots=True)
class ResignDecision:
    """Whether a webhook may be signed afresh, with what, and why not.

    The rule: whrelay re-signs only a webhook whose signature, judged as at its arrival, is
    valid with one of the configured secrets, and it signs with that secret. Anything else
    goes out exactly as received, unless the user named ``--resign-unverified`` for one
    replay. A relay that signed whatever reached it would be a signing oracle for anyone who
    can reach its port."""

    verdict: str
    """``valid``, ``invalid`` or ``unverified`` (no scheme recognized, or no usable secret)."""
    scheme: Scheme | None = None
    secret: str | None = field(default=None, repr=False)
    """The secret to sign with; ``None`` when the webhook is not to be re-signed."""
    why: str = ""
    """Why it is not re-signed (or, when forced, what it was re-signed despite)."""

    @property
    def resign(self) -> bool:
        return self.secret is not None


def decide_resign(
    webhook: Webhook, keys: SigningKeys, *, unverified: bool = False
) -> ResignDecision:
    """Whether ``webhook`` may be re-signed with ``keys`` (see ``ResignDecision``).

    The signature is judged at the webhook's arrival time, so a capture replayed long after
    its sender's tolerance is still valid, and one that was already stale or forged when it
    arrived never is. ``unverified`` (``replay --resign-unverified``) signs a webhook that is
    not valid too, with the first secret, and says so in ``why``."""
    message = message_from_webhook(webhook)
    message = message.with_url(
        arrival_url(webhook.header("host"), webhook.summary.target, keys.public_url)
    )
    name = keys.provider or detect_scheme(message.headers) or _body_scheme(message)
    if name is None or name not in REGISTRY:
        return ResignDecision("unverified", why="no signature scheme was recognized")
    scheme = get_scheme(name)
    if not keys.secrets:
        return ResignDecision("unverified", scheme, why=f"no {scheme.name} secret to check it with")
    at = webhook.summary.received_at / 1_000_000
    for secret in keys.secrets:  # each on its own: the one that verifies is the one that signs
        if scheme.key_problem(secret) is not None:
            continue
        try:
            if scheme.verify(message, Check((secret,), at)).valid:
                return ResignDecision("valid", scheme, secret)
        except Exception:  # noqa: S112 - a check that fails to run verifies nothing
            continue
    try:
        result = scheme.verify(message, Check(keys.secrets, at))
        found = f"{result.reason.value}: {result.detail}" if result.detail else result.reason.value
    except Exception as error:
        found = f"the check failed: {error!r}"
    why = f"its {scheme.name} signature is not valid ({found})"
    signer = next((key for key in keys.secrets if scheme.key_problem(key) is None), None)
    if unverified and signer is not None:
        return ResignDecision("invalid", scheme, signer, why)
    return ResignDecision("invalid", scheme, why=why)


def sign_checked(
    scheme: Scheme, message: Message, secret: str, now: int
) -> tuple[Message, Verification]:
    """``message`` signed by ``scheme`` at ``now``, and whrelay's own check of what was signed,
    as a receiver will make it. A body the scheme cannot carry a valid signature for (a Linear
    body without ``webhookTimestamp``) is signed all the same, and the check says why it
    fails. ``UsageError`` for a secret that cannot sign."""
    try:
        signed = scheme.sign(message, secret, now)
    except MalformedError as error:
        raise UsageError(f"cannot sign with this {scheme.name} secret: {error}") from None
    return signed, scheme.verify(signed, Check((secret,), float(now)))


def resign(
    scheme: Scheme,
    secret: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    url: str | None,
    now: int,
) -> tuple[tuple[tuple[str, str], ...], bytes]:
    """Headers and body signed afresh at ``now``, keeping the sender's own id (schemes
    that carry one read it from the headers they are given)."""
    try:
        signed = scheme.sign(Message(body, headers, url), secret, now)
    except MalformedError as error:
        raise UsageError(f"cannot sign with this {scheme.name} secret: {error}") from None
    return signed.headers, signed.body


def signing_problem(scheme: Scheme, secret: str) -> str | None:
    """Why ``secret`` cannot sign for ``scheme`` (a key of the wrong form, a key that only
    verifies), or ``None`` when it can."""
    problem = scheme.key_problem(secret)
    if problem is not None:
        return problem
    try:
        resign(scheme, secret, (), b"{}", "http://127.0.0.1/", 0)
    except UsageError as error:
        return error.message
    return None


def check_resign_secrets(
    provider: str | None, secrets: Sequence[GivenSecret], routes: Sequence[Route]
) -> None:
    """Refuse, before ``listen --resign`` starts, what cannot re-sign: no secret at all (it
    re-signs only what it verified), or, where the scheme is known, a secret given for it
    that cannot sign for it (of listen's own secrets borrowed by a route of another provider,
    one that can is enough)."""
    if not (secrets or any(route.secrets for route in routes)):
        raise UsageError(
            "--resign needs a secret: it re-signs only webhooks whose signature it verified",
            hint="add --secret-env VAR (or secret-env=VAR on a --route)",
        )
    groups = [(provider, secrets, True)] + [
        (route.provider or provider, route_secrets(route) or secrets, bool(route.secrets))
        for route in routes
    ]
    for name, keys, own in groups:
        if not name or not keys:
            continue
        scheme = get_scheme(name)
        problems = [(key, signing_problem(scheme, key.value)) for key in keys]
        failing = [(key, problem) for key, problem in problems if problem is not None]
        if failing and (own or len(failing) == len(problems)):
            key, problem = failing[0]
            raise UsageError(f"--resign: {key.label} cannot sign for {scheme.name}", hint=problem)
