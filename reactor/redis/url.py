"""The ``redis://`` URL: where the server is, which database, which credentials.

``rediss://`` is the same over TLS (``uses_tls``). The password may be in
the URL, so a URL is only ever shown through ``mask``, which hides it, and
no error text here quotes the URL unmasked.

``parse_url`` is all of it, kept apart so that a caller can check a URL
(a command-line option, say) without a client, and so that the client
module is about connections, not string syntax.
"""

import urllib.parse

__all__ = ["mask", "parse_url", "uses_tls"]

_SCHEMES = ("redis", "rediss")


def parse_url(url):
    """``redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` -> (host, port, db, user, password)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError("not a redis:// or rediss:// URL: %r" % mask(url))
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError("bad port in %r" % mask(url)) from None
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError("the database in %r must be a number" % mask(url))
    if parts.query or parts.fragment:
        raise ValueError("no options are understood in %r" % mask(url))
    password = urllib.parse.unquote(parts.password) if parts.password else None
    user = urllib.parse.unquote(parts.username) if parts.username else None
    return parts.hostname or "127.0.0.1", port, int(path or 0), user, password


def uses_tls(url):
    """Whether ``url`` asks for TLS (``rediss://``)."""
    return urllib.parse.urlsplit(url).scheme == "rediss"


def mask(url):
    """``url`` with its password (if any) shown as ``***``: for logs and errors."""
    try:
        parts = urllib.parse.urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return "(a URL that cannot be parsed)"
    if not has_password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc="%s:***@%s" % (user, host)))
