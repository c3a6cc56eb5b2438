"""The client's settings, shared by the line client and the full-screen one.

Both faces depend on this module, never on the command line (``cli``),
which depends on both of them.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9998

#: Gap between two queued requests when no response arrives first (ms).
DEFAULT_PACE_MS = 100.0
#: Seconds to wait for the server after logout or at end of input.
DEFAULT_EXIT_WAIT = 2.0
#: Seconds allowed for the TCP connect.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Full-screen automatic reconnection: first wait, doubled up to the max (s).
DEFAULT_RECONNECT_DELAY = 1.0
DEFAULT_RECONNECT_MAX = 60.0

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


class ClientConfig:
    """The client's options (see ``parse_args`` for their meaning)."""

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, pace_ms=DEFAULT_PACE_MS,
                 exit_wait=DEFAULT_EXIT_WAIT, connect_timeout=DEFAULT_CONNECT_TIMEOUT,
                 color=None, encoding="utf-8", bell=False,
                 reconnect_delay=DEFAULT_RECONNECT_DELAY, reconnect_max=DEFAULT_RECONNECT_MAX,
                 tls=False, tls_ca=None):
        self.host = host
        self.port = port
        self.pace_ms = pace_ms
        self.exit_wait = exit_wait
        self.connect_timeout = connect_timeout
        self.color = color          # None: decide from stdout (use_color)
        self.encoding = encoding    # the terminal's, from the locale (terminal_locale)
        self.bell = bell            # full-screen: ring on a private message or a mention
        self.reconnect_delay = reconnect_delay   # full-screen: first backoff (0: never)
        self.reconnect_max = reconnect_max       # ... doubling up to this
        self.tls = tls or tls_ca is not None   # issue 18: --tls, --tls-ca FILE
        self.tls_ca = tls_ca
