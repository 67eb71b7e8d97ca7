"""TLS for https targets: the client context each is dialled with, and the check of a CA file.

A target's certificate is verified against the system's CAs, plus those of a CA file given
with ``--ca-file`` (mkcert's root, or a dev server's own self-signed certificate). A target
marked insecure (``--insecure``, or ``,insecure`` after it) is not verified at all: the
connection is encrypted, but anyone on the way could answer in its place. Either way the
loopback guard is the same.

A context is built once per process for each way of checking, ``(verify, ca_file)`` (one for
every insecure target), and shared by every target and every client (listen's forwarder, the
TUI's replays, ``replay``): building one loads the system's CA store, some 20 ms.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

from whrelay.core.errors import UsageError

_contexts: dict[tuple[bool, Path | None], ssl.SSLContext] = {}
"""The contexts built so far, by ``(verify, ca_file)``: two or three at the most."""
_building = threading.Lock()


def client_context(verify: bool = True, ca_file: Path | None = None) -> ssl.SSLContext:
    """The context an https target is dialled with: verified (the system's CAs, and
    ``ca_file``'s), or, for a target marked insecure, neither certificate nor name checked.

    Built on the first call for a ``(verify, ca_file)`` and the same one returned after, to
    every caller: not to be changed. ``ca_file`` is read then, once; a file changed on disk
    afterwards (a ``listen`` that runs on while the dev server's certificate is made anew) is
    not read again until the process is started again."""
    key = (True, ca_file) if verify else (False, None)  # an insecure one reads no CA file
    context = _contexts.get(key)
    if context is None:
        with _building:  # two threads asking at once build it once
            context = _contexts.get(key)
            if context is None:
                context = _contexts[key] = _build(verify, ca_file)
    return context


def _build(verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


def check_ca_file(path: Path, option: str = "--ca-file") -> Path:
    """``path`` made absolute, once it is known to hold at least one PEM certificate;
    ``UsageError`` naming ``option`` otherwise (missing, unreadable, a folder, not PEM)."""
    shown = f"{option} {path}"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except FileNotFoundError:
        raise UsageError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{shown} is a folder, not a file of PEM certificates") from None
    except ssl.SSLError:
        raise UsageError(
            f"{shown} holds no PEM certificate",
            hint="a CA file is PEM text (-----BEGIN CERTIFICATE-----); convert a DER one "
            "with: openssl x509 -inform der -in cert.der -out cert.pem",
        ) from None
    except (OSError, UnicodeError, ValueError) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UsageError(f"{shown}: cannot read it: {why}") from None
    return path.absolute()
