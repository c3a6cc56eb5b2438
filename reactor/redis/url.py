"""The ``redis://`` URL: where the server is, which database, which credentials.

``parse_url`` is all of it, kept apart so that a caller can check a URL
(a command-line option, say) without a client, and so that the client
module is about connections, not string syntax.
"""

import urllib.parse

__all__ = ["parse_url"]


def parse_url(url):
    """``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` -> (host, port, db, user, password)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError("not a redis:// URL: %r" % url)
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError("bad port in %r" % url) from None
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError("the database in %r must be a number" % url)
    if parts.query or parts.fragment:
        raise ValueError("no options are understood in %r" % url)
    password = urllib.parse.unquote(parts.password) if parts.password else None
    user = urllib.parse.unquote(parts.username) if parts.username else None
    return parts.hostname or "127.0.0.1", port, int(path or 0), user, password
