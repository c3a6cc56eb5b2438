"""TLS contexts and what their failures mean, for ``reactor.tls``.

``server_context`` and ``client_context`` build ``ssl.SSLContext``s with
TLS 1.2 as the minimum, renegotiation off, and the standard library's
cipher choice (``ssl.create_default_context``); a file that cannot be
used raises ``TLSFileError``, whose text names it. ``describe_failure``
says in words why a handshake failed: expired, wrong host, unknown issuer.
"""

import ssl


def _harden(context):
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return context


def server_context(certfile, keyfile):
    """A server context from PEM files. Raises ``TLSFileError`` naming the
    file at fault and what is wrong with it."""
    context = _harden(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    for path in (certfile, keyfile):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise TLSFileError("%s: %s" % (path, exc.strerror or exc)) from None
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        raise TLSFileError("%s / %s: not a matching PEM certificate and private key (%s)"
                           % (certfile, keyfile, exc.reason or exc)) from None
    except OSError as exc:
        raise TLSFileError("%s / %s: %s" % (certfile, keyfile, exc.strerror or exc)) from None
    return context


def client_context(cafile=None):
    """A client context: verify against ``cafile`` or the system's trust
    store, and the host name. Raises ``TLSFileError`` for a bad ``cafile``."""
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise TLSFileError("%s: %s" % (cafile, getattr(exc, "strerror", None) or exc)) from None
    return _harden(context)


class TLSFileError(ValueError):
    """A certificate, key or CA file that cannot be used; the text names it."""


def describe_failure(exc):
    """Say in words why a handshake failed (expired, wrong host, unknown issuer)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", None)
        message = getattr(exc, "verify_message", None) or str(exc)
        if code == 10:
            return "certificate verify failed: certificate has expired"
        if code in (2, 18, 19, 20, 21):
            return "certificate verify failed: unknown issuer (%s)" % message
        if code == 62 or "Hostname mismatch" in message or "IP address mismatch" in message:
            return "certificate verify failed: wrong host (%s)" % message
        return "certificate verify failed: %s" % message
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed: %s" % (exc.reason or exc)
    return "TLS handshake failed: %s" % exc
