"""HTTPS for the fake: a throwaway certificate authority from ``trustme``."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


def server_context(ca_pem: Path) -> ssl.SSLContext:
    """A server context for 127.0.0.1 and localhost, signed by a fresh CA written to ``ca_pem``.

    Clients trust the fake by pointing ``SSL_CERT_FILE`` (or curl's ``--cacert``) at that file;
    nothing else trusts it, so certificate verification stays on end to end.
    """
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(ca_pem))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context
