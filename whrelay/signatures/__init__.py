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
from whrelay.core.models import REDACTED, redact_headers
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
