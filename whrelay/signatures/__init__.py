"""Signature schemes: small pure modules in an explicit registry.

A scheme's module is its provider's one home: how to sign and verify, what tells the
provider's webhooks apart, whether it signs the body, an example event (see ``Scheme``).
``get_scheme(name)`` returns one; ``detect_scheme(headers)`` names the one a request's headers
point to. Modules load on first use, so ``whrelay verify`` pays only for the scheme it checks;
detection reads the schemes' declarations from ``whrelay/identify/known.py``, generated from
this registry (``python -m whrelay.signatures.index``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from whrelay.core.errors import UsageError
from whrelay.core.models import (
    REDACTED,
    Attempt,
    StaleSignature,
    WebhookSummary,
    redact_headers,
)
from whrelay.signatures.base import (
    Check,
    Message,
    Reason,
    Scheme,
    Secret,
    Verification,
)

# name -> (module, attribute): every scheme. The order is the order detection tries them in:
# a sender whose requests carry another's headers too comes before it (svix and gitlab before
# standard-webhooks). After a change here or in a scheme's declarations, run
# ``python -m whrelay.signatures.index``: a test fails until ``identify/known.py`` is made again.
REGISTRY: dict[str, tuple[str, str]] = {
    "stripe": ("stripe", "STRIPE"),
    "github": ("github", "GITHUB"),
    "gitlab": ("gitlab", "GITLAB"),
    "shopify": ("shopify", "SHOPIFY"),
    "slack": ("slack", "SLACK"),
    "twilio": ("twilio", "TWILIO"),
    "paddle": ("paddle", "PADDLE"),
    "square": ("square", "SQUARE"),
    "linear": ("linear", "LINEAR"),
    "zoom": ("zoom", "ZOOM"),
    "mailgun": ("mailgun", "MAILGUN"),
    "sendgrid": ("sendgrid", "SENDGRID"),
    "discord": ("discord", "DISCORD"),
    "svix": ("standard_webhooks", "SVIX"),
    "standard-webhooks": ("standard_webhooks", "STANDARD_WEBHOOKS"),
    "hmac": ("hmac_generic", "HMAC"),
}


def scheme_names() -> list[str]:
    return list(REGISTRY)


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name``; ``UsageError`` naming the known ones otherwise."""
    key = name.strip().lower().replace("_", "-")
    if key == "standardwebhooks":
        key = "standard-webhooks"
    if key not in REGISTRY:
        raise UsageError(
            f"unknown provider {name!r}",
            hint="known: " + ", ".join(REGISTRY),
        )
    module_name, attribute = REGISTRY[key]
    module = importlib.import_module(f"whrelay.signatures.{module_name}")
    scheme: Scheme = getattr(module, attribute)
    return scheme


def signature_tolerance(name: str) -> float | None:
    """Seconds after its timestamp that a scheme accepts a signature for (the ``TOLERANCE``
    its module declares: Stripe's and Standard Webhooks' 300), or ``None`` for a scheme
    that signs no timestamp, or checks none, or is not known."""
    key = name.strip().lower()
    if key not in REGISTRY:
        return None
    module = importlib.import_module(f"whrelay.signatures.{REGISTRY[key][0]}")
    value = getattr(module, "TOLERANCE", None)
    return float(value) if isinstance(value, int | float) and value > 0 else None


STALE_STATUSES = frozenset({400, 401, 403})
"""The answers an app's signature check gives a webhook it refuses (the official libraries'
examples answer 400; frameworks 401 or 403)."""


def stale_signature(summary: WebhookSummary, attempt: Attempt) -> StaleSignature | None:
    """Whether ``attempt`` (of webhook ``summary``) was most likely refused because its
    signature was too old: it was answered 400, 401 or 403, it went out with the sender's
    own signature (not re-signed), and it was made longer after the webhook's arrival than
    the tolerance of the webhook's scheme, one that signs a timestamp (Stripe's, Standard
    Webhooks' and Svix's and Slack's 300 s, Linear's 60 s, Paddle's 5 s)."""
    if attempt.status not in STALE_STATUSES or attempt.resigned:
        return None
    scheme = summary.scheme or summary.provider
    tolerance = signature_tolerance(scheme) if scheme else None
    if scheme is None or tolerance is None:
        return None
    age = (attempt.started_at - summary.received_at) / 1_000_000
    return StaleSignature(scheme, age, tolerance) if age > tolerance else None


def detect_scheme(headers: Iterable[tuple[str, str]]) -> str | None:
    """The scheme whose signature headers are present, or ``None``."""
    from whrelay.identify.detect import detect_provider

    raw = tuple(
        (k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
        for k, v in headers
    )
    provider = detect_provider(raw)
    if provider in REGISTRY:
        return provider
    return None


__all__ = [
    "REDACTED",
    "REGISTRY",
    "Check",
    "Message",
    "Reason",
    "Scheme",
    "Secret",
    "Verification",
    "detect_scheme",
    "get_scheme",
    "redact_headers",
    "scheme_names",
]
