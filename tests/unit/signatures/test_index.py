"""One home per provider: each scheme module declares everything whrelay knows of its
provider, and everything else derives from the registry.

These tests walk ``REGISTRY``: a provider added as one module (named in the registry) is
checked like the others, and one that misses a declaration, an example its own ``sign`` and
``verify`` cannot agree on, or a detection its example does not pass, fails here.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import time

import pytest

import whrelay.signatures
from tests.helpers.processes import ROOT
from tests.helpers.sigkit import discord_keys, sendgrid_keys
from whrelay.core.models import encode_header
from whrelay.identify import known
from whrelay.identify.detect import PROVIDERS, Detector, identify
from whrelay.identify.facts import Identification
from whrelay.signatures import REGISTRY, detect_scheme, get_scheme
from whrelay.signatures.base import Check, Message, Scheme
from whrelay.signatures.examples import Example, fill_example
from whrelay.signatures.index import render

WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DISCORD = discord_keys()
SENDGRID = sendgrid_keys()
KEYS: dict[str, tuple[str, str]] = {
    "discord": DISCORD,
    "sendgrid": SENDGRID,
    "svix": (WHSEC, WHSEC),
    "standard-webhooks": (WHSEC, WHSEC),
}
"""(key to sign with, key to verify with) where a plain text secret is not both."""
URL = "https://example.com/webhooks/whrelay?id=1"
NAMES = list(REGISTRY)


def keys(name: str) -> tuple[str, str]:
    return KEYS.get(name, ("a-registry-test-secret", "a-registry-test-secret"))


def signed_example(scheme: Scheme, now: int) -> Message:
    """The scheme's example event, signed by its own ``sign`` (with the URL it calls)."""
    body, headers = fill_example(scheme.example)
    message = Message(body, headers, URL if scheme.needs_url else None)
    return scheme.sign(message, keys(scheme.name)[0], now)


def raw(message: Message) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((encode_header(k), encode_header(v)) for k, v in message.headers)


@pytest.mark.parametrize("name", NAMES)
def test_every_scheme_declares_its_provider(name: str) -> None:
    scheme = get_scheme(name)
    assert scheme.name == name
    assert isinstance(scheme.signs_body, bool)
    assert isinstance(scheme.example, Example)
    assert scheme.example.headers, "an example names at least its Content-Type"
    assert all(h == h.lower() and h in known.SECRET_HEADERS for h in scheme.secret_headers)
    facts = scheme.identification
    if facts is None:
        assert name == "hmac", f"{name} declares nothing that tells its webhooks apart"
        return
    assert isinstance(facts, Identification)
    assert facts.headers or facts.body, f"{name}: neither a header nor its body tells it"
    for header in facts.headers + facts.event_headers + facts.id_headers:
        assert header == header.lower().strip() and header, (name, header)


@pytest.mark.parametrize("name", NAMES)
def test_each_example_is_signed_and_verified_by_its_own_scheme(name: str) -> None:
    scheme = get_scheme(name)
    now = int(time.time())  # an example may carry the time it is made at (Linear's)
    message = signed_example(scheme, now)
    verdict = scheme.verify(message, Check((keys(name)[1],), now))
    assert verdict.valid, verdict


@pytest.mark.parametrize("name", NAMES)
def test_signs_body_says_whether_another_body_still_verifies(name: str) -> None:
    scheme = get_scheme(name)
    now = int(time.time())
    message = signed_example(scheme, now)
    other = message.with_body(message.body + b" ")
    verdict = scheme.verify(other, Check((keys(name)[1],), now))
    assert verdict.valid is not scheme.signs_body, verdict


@pytest.mark.parametrize("name", [n for n in NAMES if get_scheme(n).identification])
def test_detection_recognises_each_schemes_example(name: str) -> None:
    message = signed_example(get_scheme(name), int(time.time()))
    assert identify(raw(message), message.body).provider == name
    if get_scheme(name).identification.headers:  # type: ignore[union-attr]
        assert detect_scheme(message.headers) == name


def test_detection_is_built_from_the_schemes_declarations() -> None:
    """``known.py`` is what the schemes declare now, in the registry's order (else: run
    ``python -m whrelay.signatures.index``), and detection tells exactly those providers."""
    committed = (ROOT / "whrelay" / "identify" / "known.py").read_text()
    assert committed == render(), "identify/known.py is stale: python -m whrelay.signatures.index"
    declared = [(n, get_scheme(n).identification) for n in NAMES if get_scheme(n).identification]
    assert list(known.SENDERS) == declared
    assert tuple(NAMES) == known.SCHEMES
    assert PROVIDERS == known.PROVIDERS == Detector(known.SENDERS).names
    assert set(PROVIDERS) == {name for name, _ in declared}
    secret = {header for name in NAMES for header in get_scheme(name).secret_headers}
    assert tuple(sorted(secret)) == known.SECRET_HEADERS


def test_every_scheme_module_is_registered() -> None:
    """A scheme defined in a module of ``whrelay/signatures/`` and left out of the registry
    would be a provider nothing detects, lists or offers."""
    registered = set(REGISTRY.values())
    found = set()
    for module_info in pkgutil.iter_modules(whrelay.signatures.__path__):
        module = importlib.import_module(f"whrelay.signatures.{module_info.name}")
        for attribute, value in vars(module).items():
            defined_here = type(value).__module__ == module.__name__
            if defined_here and all(hasattr(value, a) for a in ("sign", "verify", "example")):
                found.add((module_info.name, attribute))
    assert found == registered


@pytest.mark.slow
@pytest.mark.parametrize("command", ["verify", "sign", "send", "list"])
def test_provider_help_lists_every_name_from_the_registry(command: str) -> None:
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "whrelay", command, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = PROVIDERS if command == "list" else NAMES
    assert ", ".join(names) in " ".join(done.stdout.split()), done.stdout


def test_the_readme_names_every_scheme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [name for name in NAMES if f"`{name}`" not in readme] == []
