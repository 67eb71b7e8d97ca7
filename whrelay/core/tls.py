"""TLS for https targets: the client context each is dialled with, and the check of a CA file.

A target's certificate is verified against the system's CAs, plus those of a CA file given
with ``--ca-file`` (mkcert's root, or a dev server's own self-signed certificate). A target
marked insecure (``--insecure``, or ``,insecure`` after it) is not verified at all: the
connection is encrypted, but anyone on the way could answer in its place. Either way the
loopback guard is the same.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from whrelay.core.errors import UsageError


def client_context(verify: bool = True, ca_file: Path | None = None) -> ssl.SSLContext:
    """The context an https target is dialled with: verified (the system's CAs, and
    ``ca_file``'s), or, for a target marked insecure, neither certificate nor name checked."""
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
