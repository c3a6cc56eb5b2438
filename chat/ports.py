"""The ``--port`` option of every command line: range-checked.

``type=int`` alone let ``--port 99999`` listen on 34463 (the kernel keeps
the low 16 bits) and ``--port -1`` fail deep in the resolver (issue 23).
``port_type(any_free=...)`` gives argparse a converter that accepts 1-65535,
and 0 where it means "any free port" (a server's listening port, the
checker's own server); anything else exits 2 with what is wrong.
"""

import argparse

__all__ = ["port_type"]

MAX_PORT = 65535


def port_type(any_free=False):
    """An argparse ``type`` for a TCP port (0 allowed when ``any_free``)."""
    low = 0 if any_free else 1

    def convert(text):
        value = text.strip()
        if not value.isdigit() or not low <= int(value) <= MAX_PORT:
            raise argparse.ArgumentTypeError(
                "a port is a whole number from %d to %d%s, not %r"
                % (low, MAX_PORT, " (0: any free port)" if any_free else "", text))
        return int(value)
    convert.__name__ = "port"
    return convert
