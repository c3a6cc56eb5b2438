"""The server's command line: its options, their defaults and checks.

``python3 -m chat.server`` (``chat.server.cli.main``) parses its arguments
here; every option becomes a ``ServerConfig`` attribute of the same name
(the cluster's come from ``chat/server/cluster/options.py``).
"""

import argparse
import os
import resource

from .. import limits
from ..ports import port_type
from ..core import worst_case_response_bytes
from ..core.accounts import SCRYPT_N
from . import tls as tls_options
from .cluster import options as cluster_options
from .proxy_protocol import parse_networks

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9998

#: Who may read /metrics unless --metrics-allow says otherwise.
METRICS_ALLOW = "127.0.0.0/8,::1/128"


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
    p.add_argument("--presence-interval", type=float, default=limits.PRESENCE_INTERVAL,
                   help="seconds over which joins and leaves are gathered into one notice")
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
    # -- issue 20: accounts and operators that hold against an attacker --
    p.add_argument("--failed-login-limit", type=int, default=limits.FAILED_LOGIN_LIMIT,
                   help="failed password attempts per address group and name within the "
                        "window before further ones are refused (0: no limit)")
    p.add_argument("--failed-login-group-limit", type=int,
                   default=limits.FAILED_LOGIN_GROUP_LIMIT,
                   help="failed password attempts per address group over all names within "
                        "the window (0: no limit)")
    p.add_argument("--failed-login-window", type=float, default=limits.FAILED_LOGIN_WINDOW,
                   help="seconds the failed-login limits look back")
    p.add_argument("--registration-limit", type=int, default=limits.REGISTRATION_LIMIT,
                   help="registrations per address group an hour, loopback exempt (0: no "
                        "limit)")
    p.add_argument("--ipv4-group-prefix", type=int, default=limits.IPV4_GROUP_PREFIX,
                   help="IPv4 addresses in one network of this prefix length share every "
                        "per-address limit")
    p.add_argument("--ipv6-group-prefix", type=int, default=limits.IPV6_GROUP_PREFIX,
                   help="the same for IPv6")
    p.add_argument("--scrypt-n", type=int, default=SCRYPT_N,
                   help="scrypt cost of new password hashes (a power of two; r=8, p=1); "
                        "older hashes are upgraded at their next login")
    p.add_argument("--hash-threads", type=int, default=limits.HASH_THREADS,
                   help="worker threads computing password hashes")
    p.add_argument("--hash-queue", type=int, default=limits.HASH_QUEUE_PER_GROUP,
                   help="password hashes one address group may have waiting; beyond: "
                        "'server busy'")
    p.add_argument("--oper-password-file", metavar="FILE",
                   help="file holding the operator password (first line, at least %d "
                        "characters); else the environment variable %s; neither: no "
                        "operators" % (limits.MIN_OPER_PASSWORD_LENGTH, OPER_PASSWORD_ENV))
    p.add_argument("--audit-log", metavar="FILE",
                   help="append one JSON line per security event to FILE (created 0600); "
                        "default: the server log")
    p.add_argument("--proxy-protocol", action="store_true",
                   help="connections from the trusted proxies begin with a PROXY header "
                        "(v1 or v2) giving the client's address, which every limit, ban and "
                        "log line then uses")
    p.add_argument("--trusted-proxies", metavar="CIDR,...", type=_networks,
                   default=limits.TRUSTED_PROXIES,
                   help="with --proxy-protocol: the proxies' networks")
    # -- end of issue 20's options --
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
    # -- issue 21: memory, disk and output budgets (one block) --------------
    p.add_argument("--max-message-lines", type=int, default=limits.MAX_MESSAGE_LINES,
                   help="most lines in one msg or pm")
    p.add_argument("--max-history-memory", type=int, default=limits.MAX_HISTORY_MEMORY,
                   help="bytes all histories may hold in memory (cached responses counted); "
                        "past it, rooms without members give theirs back: parked in --db, "
                        "else trimmed oldest first (0: no budget)")
    p.add_argument("--room-ttl", type=float, default=limits.ROOM_TTL,
                   help="seconds an empty room with history lives after its last member "
                        "left (0: for good)")
    p.add_argument("--room-creations", type=int, default=limits.ROOM_CREATIONS,
                   help="new rooms one address may create an hour, loopback exempt (0: off)")
    p.add_argument("--answer-rate", type=int, default=limits.ANSWER_RATE,
                   help="bytes a second of answers to join, names, rooms and help per "
                        "client, after a burst of one full history; past it those requests "
                        "wait (0: off)")
    p.add_argument("--store-timeout", type=float, default=limits.STORE_TIMEOUT,
                   help="with --db: seconds a message waits for a database locked by another "
                        "process before 'not stored, try again'")
    p.add_argument("--retain-messages", type=int, default=limits.RETAIN_MESSAGES,
                   help="with --db: messages kept per room in the file; with --redis: "
                        "entries kept per room stream (0: all)")
    p.add_argument("--retain-days", type=float, default=limits.RETAIN_DAYS,
                   help="with --db: days a message is kept in the file; with --redis: in "
                        "its room stream (0: for good)")
    # -- end of issue 21's block ---------------------------------------------
    cluster_options.add_arguments(p)
    tls_options.add_arguments(p)  # issue 18: TLS (chat/server/tls.py)
    # the web face (issue 19): the web client, /healthz and WebSockets on /chat
    p.add_argument("--http-port", type=port_type(any_free=True), default=None,
                   help="also serve HTTP on this port: the web client at /, WebSockets on "
                        "/chat, /healthz (0: any free port; default: no HTTP)")
    p.add_argument("--https-port", type=port_type(any_free=True), default=None,
                   help="the same over HTTPS (browsers then use wss://), with the TLS "
                        "listener's certificate (default: no HTTPS)")
    p.add_argument("--web-origin", action="append", default=[], dest="web_origins",
                   metavar="ORIGIN",
                   help="a browser origin (scheme://host[:port]) whose pages may open the "
                        "WebSocket; repeatable (default: this server's own)")
    p.add_argument("--http-timeout", type=float, default=limits.HTTP_TIMEOUT,
                   help="seconds an HTTP request head may take, and an idle kept-alive HTTP "
                        "connection may wait")
    p.add_argument("--metrics-allow", type=_networks, default=METRICS_ALLOW,
                   metavar="CIDR,...", help="networks that may read /metrics")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="stderr log level")
    args = p.parse_args(argv)
    for name in ("history_limit", "max_message_length", "max_message_bytes", "max_request_size",
                 "max_output", "pause_output", "burst", "max_clients", "max_per_ip",
                 "max_total_output", "send_buffer", "max_rooms", "max_accounts",
                 "failed_login_limit", "db_max_pages", "failed_login_group_limit",
                 "registration_limit", "max_message_lines", "max_history_memory",
                 "room_ttl", "room_creations", "answer_rate", "store_timeout",
                 "retain_messages", "retain_days", "presence_interval"):
        if getattr(args, name) < 0:
            p.error("--%s must not be negative" % name.replace("_", "-"))
    if args.max_message_lines < 1:
        p.error("--max-message-lines must be at least 1")
    if args.rate > 0 and args.burst < 1:
        p.error("--burst must be at least 1 when --rate is on")
    if args.failed_login_window <= 0:
        p.error("--failed-login-window must be positive")
    problem = account_option_problem(args)
    if problem:
        p.error(problem)
    try:
        args.oper_password = read_oper_password(args.oper_password_file, os.environ)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        p.error("--oper-password-file %s: %s" % (args.oper_password_file,
                                                  getattr(exc, "strerror", None) or exc))
    if args.oper_password is not None and \
            len(args.oper_password) < limits.MIN_OPER_PASSWORD_LENGTH:
        p.error("the operator password must be at least %d characters (it has %d): a short "
                "one falls to guessing; choose a longer one"
                % (limits.MIN_OPER_PASSWORD_LENGTH, len(args.oper_password)))
    problem = cluster_options.resolve_url(args, os.environ)   # issue 18: URL not in argv
    if problem:
        p.error(problem)
    return args


def _networks(text):
    try:
        return parse_networks(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("not a list of networks: %s" % exc) from None


def readable_by_others(paths):
    """The files among ``paths`` (None skipped) that exist and that users
    other than the owner may read: secrets that should be 0600."""
    loose = []
    for path in paths:
        try:
            if path is not None and os.stat(path).st_mode & 0o077:
                loose.append(path)
        except OSError:
            pass
    return loose


def account_option_problem(args):
    """What is wrong with issue 20's options, or None."""
    n = args.scrypt_n
    if n < 2 or n & (n - 1) or n > 2 ** 20:
        return "--scrypt-n must be a power of two from 2 to 2**20"
    if not 0 <= args.ipv4_group_prefix <= 32 or not 0 <= args.ipv6_group_prefix <= 128:
        return "--ipv4-group-prefix is 0-32 and --ipv6-group-prefix 0-128"
    if args.hash_threads < 1 or args.hash_queue < 1:
        return "--hash-threads and --hash-queue must be at least 1"
    return None


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
        # issue 20: accounts and operators that hold against an attacker
        self.failed_login_group_limit = limits.FAILED_LOGIN_GROUP_LIMIT
        self.registration_limit = limits.REGISTRATION_LIMIT
        self.ipv4_group_prefix = limits.IPV4_GROUP_PREFIX
        self.ipv6_group_prefix = limits.IPV6_GROUP_PREFIX
        self.scrypt_n = SCRYPT_N
        self.hash_threads = limits.HASH_THREADS
        self.hash_queue = limits.HASH_QUEUE_PER_GROUP
        self.proxy_protocol = False
        self.trusted_proxies = parse_networks(limits.TRUSTED_PROXIES)
        self.oper_password = None   # the secret itself: never logged
        self.oper_password_file = None   # where it came from (checked for its mode)
        self.audit_log = None       # a file for the audit lines; None: the server log
        # persistence (chat/store): no db, memory only
        self.db = None
        self.fsync = False
        self.db_max_pages = 0
        self.store_retry = limits.STORE_RETRY_INTERVAL
        # issue 21: memory, disk and output budgets
        self.max_message_lines = limits.MAX_MESSAGE_LINES
        self.max_history_memory = limits.MAX_HISTORY_MEMORY
        self.room_ttl = limits.ROOM_TTL
        self.room_creations = limits.ROOM_CREATIONS
        self.answer_rate = limits.ANSWER_RATE
        self.store_timeout = limits.STORE_TIMEOUT
        self.retain_messages = limits.RETAIN_MESSAGES
        self.retain_days = limits.RETAIN_DAYS
        self.retain_interval = limits.RETAIN_INTERVAL
        # the web face: no HTTP unless asked
        self.http_port = None
        self.https_port = None
        self.web_origins = []
        self.http_timeout = limits.HTTP_TIMEOUT
        self.metrics_allow = _networks(METRICS_ALLOW)
        # issue 22: broadcast by room (not an option: the tests compare it off and on)
        self.fanout_min_members = limits.FANOUT_MIN_MEMBERS
        # cluster (chat/server/cluster): no redis, a single server
        self.__dict__.update(cluster_options.DEFAULTS)
        # TLS (issue 18, chat/server/tls.py): no TLS listener
        self.__dict__.update(tls_options.DEFAULTS)
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
        if 0 < self.max_history_memory < 2 * worst:
            problems.append(
                "--max-history-memory %d cannot hold one full history and its cached response "
                "(2 x %d bytes): raise it (0: no budget) or lower --history-limit"
                % (self.max_history_memory, worst))
        if self.db is None and self.redis is None and (self.retain_messages or
                                                        self.retain_days):
            problems.append("--retain-messages and --retain-days need --db PATH or --redis")
        problems += cluster_options.problems(self)
        problems += tls_options.problems(self)  # issue 18
        if self.https_port is not None and self.tls_port is None:
            problems.append("--https-port needs --tls-port (and its --tls-cert and --tls-key)")
        return problems
