"""The server's TLS listener: its options, its certificate, its policy.

Theory of operation
-------------------
With ``--tls-port`` the server opens a second listener beside the plain
one; each connection accepted there is a ``reactor.tls.TLSLayer`` between
the TCP transport and the same ``ClientConnection`` as on plaintext, so
every limit, the pacing and the output caps hold unchanged (the layer's
``buffered`` counts plaintext not yet encrypted).

The certificate is loaded at start-up (a bad or missing file: an error
naming it, exit 2) and again on SIGHUP (``reload``): new connections get
the new context, connections already open keep theirs, nobody is dropped.
A reload that fails keeps the old certificate and logs why.

PROTOCOL.md section 4, "Passwords only over TLS": when a TLS listener
exists, ``password_refusal`` names the requests that carry a password
(``register``, ``login <name> <password>``, ``password``, ``oper``) which
arrive on plaintext, unless ``--allow-plaintext-passwords``.
"""

import logging

from reactor.tls import TLSLayer, server_context

from .. import limits
from ..protocol import request_name
from ..ports import port_type

log = logging.getLogger("chat.server")

#: ServerConfig attribute -> default: no TLS listener.
DEFAULTS = {
    "tls_port": None,
    "tls_cert": None,
    "tls_key": None,
    "tls_handshake_timeout": limits.TLS_HANDSHAKE_TIMEOUT,
    "allow_plaintext_passwords": False,
    "tls_only": False,
}

#: Requests that always carry a password; ``login`` does when it has two words.
_PASSWORD_REQUESTS = ("register", "password", "oper")


def add_arguments(p):
    p.add_argument("--tls-port", type=port_type(any_free=True), metavar="PORT",
                   help="also listen with TLS on this port (0: any free port); needs "
                        "a certificate and a key")
    p.add_argument("--tls-cert", metavar="FILE",
                   help="PEM certificate chain for the TLS port (Let's Encrypt's fullchain.pem)")
    p.add_argument("--tls-key", metavar="FILE",
                   help="PEM private key for the TLS port (Let's Encrypt's privkey.pem); "
                        "both files are read again on SIGHUP")
    p.add_argument("--tls-handshake-timeout", type=float, default=limits.TLS_HANDSHAKE_TIMEOUT,
                   help="seconds a TLS handshake may take from accept (at most the login "
                        "timeout)")
    p.add_argument("--allow-plaintext-passwords", action="store_true",
                   help="with a TLS port: still accept password-bearing requests on the "
                        "plain port")
    p.add_argument("--tls-only", action="store_true",
                   help="with a TLS port: do not listen in plaintext at all")


def problems(config):
    """What is wrong with the TLS options of ``config`` (a list)."""
    if config.tls_port is None:
        if config.tls_cert or config.tls_key or config.tls_only:
            return ["--tls-cert, --tls-key and --tls-only need --tls-port PORT"]
        return []
    found = []
    if not config.tls_cert or not config.tls_key:
        found.append("--tls-port needs --tls-cert FILE and --tls-key FILE")
    if not config.tls_handshake_timeout > 0:
        found.append("--tls-handshake-timeout must be positive")
    return found


def password_bearing(item):
    """Whether a request (a decoded JSON value) carries a password."""
    kind = request_name(item)
    if kind is None:
        return False
    if kind in _PASSWORD_REQUESTS:
        return True
    content = item.get("content")
    return kind == "login" and isinstance(content, str) and " " in content.strip()


class ServerTLS:
    """The TLS side of one server: the context, its reload, the policy."""

    def __init__(self, loop, config):
        """Loads the certificate: raises ``reactor.tls.TLSFileError``."""
        self.loop = loop
        self.config = config
        self.context = server_context(config.tls_cert, config.tls_key)
        self.port = config.tls_port
        timeout = config.tls_handshake_timeout
        if config.login_timeout > 0:
            timeout = min(timeout, config.login_timeout)
        self.handshake_timeout = timeout

    def listening_on(self, port):
        """The TLS listener's actual port (``--tls-port 0`` picks one)."""
        self.port = port

    def wrap(self, protocol):
        """The TCP transport's protocol for an accepted TLS connection."""
        return TLSLayer(self.loop, self.context, protocol, server_side=True,
                        handshake_timeout=self.handshake_timeout,
                        max_handshake_bytes=limits.TLS_MAX_HANDSHAKE_BYTES)

    def reload(self):
        """Read the certificate and key again (SIGHUP); keep the old on failure."""
        try:
            self.context = server_context(self.config.tls_cert, self.config.tls_key)
        except ValueError as exc:
            log.error("TLS certificate not reloaded, keeping the old one: %s", exc)
            return False
        log.info("TLS certificate reloaded from %s", self.config.tls_cert)
        return True

    def password_refusal(self, transport, item):
        """The error text for a password sent in clear, or None."""
        if self.config.allow_plaintext_passwords or getattr(transport, "secure", False):
            return None
        if not password_bearing(item):
            return None
        return "passwords only over TLS: connect to port %d with TLS" % self.port
