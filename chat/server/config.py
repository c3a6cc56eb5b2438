"""The server's command line: its options, their defaults and checks.

``python3 -m chat.server`` (``chat.server.app.main``) parses its arguments
here; every option becomes a ``ServerConfig`` attribute of the same name
(the cluster's come from ``chat/server/cluster/options.py``).
"""

import argparse
import os
import resource

from .. import limits
from ..ports import port_type
from ..core import worst_case_response_bytes
from .cluster import options as cluster_options

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9998

#: The environment variable that may hold the operator password.
OPER_PASSWORD_ENV = "KTN_OPER_PASSWORD"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m chat.server",
        description="KTN chat server (JSON over TCP, one thread, one event loop).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    p.add_argument("--port", type=port_type(any_free=True), default=DEFAULT_PORT, help="TCP port (0: any free port)")
    p.add_argument("--history-limit", type=int, default=limits.HISTORY_LIMIT,
                   help="messages kept and replayed at login")
    p.add_argument("--max-message-length", type=int, default=limits.MAX_MESSAGE_LENGTH,
                   help="longest msg content, in characters")
    p.add_argument("--max-message-bytes", type=int, default=limits.MAX_MESSAGE_BYTES,
                   help="longest msg content as encoded on the wire (non-ASCII is escaped: "
                        "6 bytes a character, 12 an emoji)")
    p.add_argument("--max-request-size", type=int, default=limits.MAX_REQUEST_SIZE,
                   help="largest request in bytes; past it: error and close")
    p.add_argument("--max-output", type=int, default=limits.MAX_OUTPUT,
                   help="unsent output in bytes past which a client is disconnected "
                        "(never below one full history response)")
    p.add_argument("--pause-output", type=int, default=limits.PAUSE_READING_OUTPUT,
                   help="unsent output in bytes above which a client's requests wait")
    p.add_argument("--rate", type=float, default=limits.RATE,
                   help="requests per second per client after the burst (0: no flood control)")
    p.add_argument("--burst", type=int, default=limits.BURST,
                   help="requests a client may send at once before the rate applies")
    p.add_argument("--login-timeout", type=float, default=limits.LOGIN_TIMEOUT,
                   help="seconds from accept to log in (0: no deadline)")
    p.add_argument("--idle-timeout", type=float, default=limits.IDLE_TIMEOUT,
                   help="seconds a logged-in client may stay silent (0: off)")
    p.add_argument("--max-clients", type=int, default=limits.MAX_CLIENTS,
                   help="connections at once; beyond: 'server full'")
    p.add_argument("--max-per-ip", type=int, default=limits.MAX_PER_IP,
                   help="connections at once per address, loopback exempt (0: off)")
    p.add_argument("--pace-ms", type=float, default=limits.PACE_MS,
                   help="gap between payloads to clients not yet in stream mode (0: off)")
    p.add_argument("--pace-min-ms", type=float, default=limits.PACE_MIN_MS,
                   help="shortest gap, when a paced client has a long backlog")
    p.add_argument("--close-deadline", type=float, default=limits.CLOSE_DEADLINE,
                   help="seconds a closing connection may take to receive its last output "
                        "(0: no deadline)")
    p.add_argument("--max-total-output", type=int, default=limits.MAX_TOTAL_OUTPUT,
                   help="unsent output of the clients over the pause mark, together, in "
                        "bytes; above it a client over the pause mark is disconnected")
    p.add_argument("--send-buffer", type=int, default=limits.SEND_BUFFER,
                   help="kernel send buffer per client socket (SO_SNDBUF) in bytes (0: the "
                        "kernel's default, autotuned)")
    p.add_argument("--shutdown-grace", type=float, default=limits.SHUTDOWN_GRACE,
                   help="seconds a graceful shutdown waits for output to drain")
    p.add_argument("--max-rooms", type=int, default=limits.MAX_ROOMS,
                   help="rooms at once besides #lobby")
    p.add_argument("--max-accounts", type=int, default=limits.MAX_ACCOUNTS,
                   help="registered names at most")
    p.add_argument("--failed-login-limit", type=int, default=limits.FAILED_LOGIN_LIMIT,
                   help="failed password attempts per address within the window before "
                        "further ones are refused (0: no limit)")
    p.add_argument("--failed-login-window", type=float, default=limits.FAILED_LOGIN_WINDOW,
                   help="seconds the failed-login limit looks back")
    p.add_argument("--hash-rate", type=float, default=limits.HASHES_PER_SECOND,
                   help="password hashes per second, all clients together (after a burst "
                        "of %d); beyond: 'server busy' (0: no limit)" % limits.HASH_BURST)
    p.add_argument("--oper-password-file", metavar="FILE",
                   help="file holding the operator password (first line); else the "
                        "environment variable %s; neither: no operators" % OPER_PASSWORD_ENV)
    p.add_argument("--db", metavar="PATH",
                   help="SQLite file for room histories, rooms, accounts and bans (created if "
                        "absent); without it the server keeps memory only")
    p.add_argument("--fsync", action="store_true",
                   help="with --db: synchronous=FULL, a stored message survives a power loss; "
                        "without it synchronous=NORMAL (WAL), it survives the server being "
                        "killed but the last commits may be lost in a power loss")
    p.add_argument("--db-max-pages", type=int, default=0,
                   help="with --db: cap the file at this many 4 KiB pages; writes past it fail "
                        "as on a full disk (0: no cap)")
    p.add_argument("--store-retry", type=float, default=limits.STORE_RETRY_INTERVAL,
                   help="seconds between retries of a failed database write when no message "
                        "brings the next one")
    cluster_options.add_arguments(p)
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="stderr log level")
    args = p.parse_args(argv)
    for name in ("history_limit", "max_message_length", "max_message_bytes", "max_request_size",
                 "max_output", "pause_output", "burst", "max_clients", "max_per_ip",
                 "max_total_output", "send_buffer", "max_rooms", "max_accounts",
                 "failed_login_limit", "db_max_pages", "hash_rate"):
        if getattr(args, name) < 0:
            p.error("--%s must not be negative" % name.replace("_", "-"))
    if args.rate > 0 and args.burst < 1:
        p.error("--burst must be at least 1 when --rate is on")
    if args.failed_login_window <= 0:
        p.error("--failed-login-window must be positive")
    try:
        args.oper_password = read_oper_password(args.oper_password_file, os.environ)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        p.error("--oper-password-file %s: %s" % (args.oper_password_file,
                                                  getattr(exc, "strerror", None) or exc))
    del args.oper_password_file
    return args


def read_oper_password(path, environ):
    """The operator password from the file's first line, else from the
    environment; None if neither is set. An empty one is a mistake."""
    if path is not None:
        with open(path, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
        if not password:
            raise ValueError("the first line is empty")
        return password
    return environ.get(OPER_PASSWORD_ENV) or None


def raise_fd_limit(wanted):
    """Lift the soft limit on open files toward ``wanted`` (up to the hard limit)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        return soft
    except (ValueError, OSError):
        return None


class ServerConfig:
    """The server's options; defaults from ``chat.limits``."""

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, **options):
        self.host = host
        self.port = port
        self.history_limit = limits.HISTORY_LIMIT
        self.max_message_length = limits.MAX_MESSAGE_LENGTH
        self.max_message_bytes = limits.MAX_MESSAGE_BYTES
        self.max_request_size = limits.MAX_REQUEST_SIZE
        self.max_output = limits.MAX_OUTPUT
        self.pause_output = limits.PAUSE_READING_OUTPUT
        self.rate = limits.RATE
        self.burst = limits.BURST
        self.login_timeout = limits.LOGIN_TIMEOUT
        self.idle_timeout = limits.IDLE_TIMEOUT
        self.max_clients = limits.MAX_CLIENTS
        self.max_per_ip = limits.MAX_PER_IP
        self.pace_ms = limits.PACE_MS
        self.pace_min_ms = limits.PACE_MIN_MS
        self.shutdown_grace = limits.SHUTDOWN_GRACE
        self.close_deadline = limits.CLOSE_DEADLINE
        self.max_total_output = limits.MAX_TOTAL_OUTPUT
        self.send_buffer = limits.SEND_BUFFER
        self.read_size = limits.READ_SIZE
        self.presence_interval = limits.PRESENCE_INTERVAL
        # PROTOCOL.md section 4 (rooms, accounts, moderation)
        self.max_rooms = limits.MAX_ROOMS
        self.max_accounts = limits.MAX_ACCOUNTS
        self.failed_login_limit = limits.FAILED_LOGIN_LIMIT
        self.failed_login_window = limits.FAILED_LOGIN_WINDOW
        self.hash_rate = limits.HASHES_PER_SECOND
        self.oper_password = None   # the secret itself: never logged
        # persistence (chat/store): no db, memory only
        self.db = None
        self.fsync = False
        self.db_max_pages = 0
        self.store_retry = limits.STORE_RETRY_INTERVAL
        # cluster (chat/server/cluster): no redis, a single server
        self.__dict__.update(cluster_options.DEFAULTS)
        for name, value in options.items():
            if not hasattr(self, name):
                raise TypeError("unknown server option %r" % name)
            setattr(self, name, value)

    def check(self):
        """Return a list of problems with these options (empty when sound).

        A client must be able to receive a full ``history``, so its worst
        case must fit under the per-connection output cap.
        """
        problems = []
        worst = worst_case_response_bytes(self.history_limit, self.max_message_bytes)
        if worst > self.max_output:
            problems.append(
                "--history-limit %d x messages of up to %d encoded bytes make a history "
                "response of up to %d bytes, over --max-output %d: raise --max-output or "
                "lower --history-limit / --max-message-bytes"
                % (self.history_limit, self.max_message_bytes, worst, self.max_output))
        if self.pause_output > self.max_output:
            problems.append("--pause-output %d is above --max-output %d"
                            % (self.pause_output, self.max_output))
        if self.db is None and (self.fsync or self.db_max_pages):
            problems.append("--fsync and --db-max-pages need --db PATH")
        problems += cluster_options.problems(self)
        return problems
