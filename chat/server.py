"""The chat server: the reactor, the framing and the core wired together.

Theory of operation
-------------------
Per connection a ``ClientConnection`` (the transport's protocol object)
turns bytes into decoded values with a ``JsonStreamDecoder``, queues them,
and hands them one at a time to the pure ``ChatCore``; the effects that
come back are carried out by ``ChatServer.execute``: bytes written to one
connection or, for a broadcast, the same bytes object to every logged-in
connection. Transports flush at the end of each loop pass, so everything a
connection was given during a pass leaves in one ``send``.

Between the queue and the core sit the limits (see ``chat/limits.py``):

* flood control: a token bucket per connection; without a token the
  connection stops reading until one is due, so nothing is dropped;
* output: above a mark, stop reading the client's requests until its
  output drains; past the hard cap, disconnect it (a slow consumer);
* the login deadline from accept, the optional idle timeout, the caps on
  connections overall and per address.

Pacing (PROTOCOL.md section 3): a connection starts *paced*, each payload
in its own ``send`` with a gap before the next, because most peer clients
do ``json.loads(recv(4096))``. Once the client ends a request with a
newline it reads streams, and the connection switches to stream mode.
"""

import argparse
import collections
import ipaddress
import logging
import os
import signal
import sys

from reactor.framing import FramingError, JsonStreamDecoder
from reactor.loop import EventLoop
from reactor.tcp import listen

from . import limits
from .core import Broadcast, ChatCore, Close, Send, Session
from .pacing import Pacer
from .protocol import Clock

log = logging.getLogger("chat.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9998

#: The environment variable that may hold the operator password.
OPER_PASSWORD_ENV = "KTN_OPER_PASSWORD"

#: Room above one full history response before a client counts as slow.
HISTORY_OUTPUT_MARGIN = 64 * 1024

#: Coalesced presence notices go out at most this often (seconds).
PRESENCE_INTERVAL = 1.0


class ServerConfig:
    """The server's options; defaults from ``chat.limits``."""

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, **options):
        self.host = host
        self.port = port
        self.history_limit = limits.HISTORY_LIMIT
        self.max_message_length = limits.MAX_MESSAGE_LENGTH
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
        self.shutdown_grace = limits.SHUTDOWN_GRACE
        # PROTOCOL.md section 4 (rooms, accounts, moderation)
        self.max_message_bytes = limits.MAX_MESSAGE_BYTES
        self.max_rooms = limits.MAX_ROOMS
        self.max_accounts = limits.MAX_ACCOUNTS
        self.failed_login_limit = limits.FAILED_LOGIN_LIMIT
        self.failed_login_window = limits.FAILED_LOGIN_WINDOW
        self.oper_password = None   # the secret itself: never logged
        for name, value in options.items():
            if not hasattr(self, name):
                raise TypeError("unknown server option %r" % name)
            setattr(self, name, value)


class ClientConnection(Session):
    """One client: the core's session, plus framing, request queue, limits,
    pacing and output.

    Thousands of these live at once, so the class has ``__slots__`` and
    allocates its queues only when something has to wait in them.
    """

    __slots__ = ("server", "transport", "port", "decoder", "_pending",
                 "_next", "_bucket", "_wake_timer", "_pacer", "_output_paused", "_eof",
                 "_closing", "last_activity")

    def __init__(self, server, address):
        super().__init__()
        self.server = server
        self.transport = None
        host = address[0] if address else "?"
        if host.startswith("::ffff:"):  # IPv4-mapped (dual-stack listener)
            host = host[7:]
        self.host = sys.intern(host)  # one string per address, not per connection
        self.port = address[1] if address else 0
        self.decoder = None        # held only while a request is partly received
        self._pending = None       # decoded values waiting: a list, from _next on
        self._next = 0
        self._bucket = None
        self._wake_timer = None    # waiting for a token
        self._pacer = None         # a Pacer until the client shows it reads streams
        self._output_paused = False
        self._eof = False
        self._closing = False
        self.last_activity = 0.0

    # -- transport callbacks ------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        server = self.server
        config = server.config
        transport.set_write_buffer_limits(config.pause_output, server.resume_output)
        refusal = server.admit(self)
        if refusal:
            log.info("%s refused: %s", self, refusal)
            self.send_now(server.core.error(self, refusal).data)
            self.close()
            return
        log.debug("%s connected", self)
        now = server.loop.time()
        if config.pace_ms > 0:
            self._pacer = Pacer(server.loop, transport, config.pace_ms / 1000.0,
                                self._paced_payload_sent)
        if server.tracks_idle:
            self.last_activity = now
        if config.rate > 0:
            self._bucket = limits.TokenBucket(config.rate, config.burst, now)
        server.expect_login(self)

    def __str__(self):
        """host:port, for log lines (formatted only if the line is emitted)."""
        return "%s:%s" % (self.host, self.port)

    def data_received(self, data):
        if self.server.tracks_idle:
            self.last_activity = self.server.loop.time()
        decoder = self.decoder
        if decoder is None:
            decoder = JsonStreamDecoder(self.server.config.max_request_size)
        items = decoder.feed(data)
        if self._pacer is not None and decoder.saw_newline:
            self._stream_mode()
        # Between requests a fresh decoder would do the same, so streaming
        # connections drop theirs: thousands of idle clients, no idle decoders.
        self.decoder = None if self._pacer is None and decoder.at_boundary else decoder
        if items:
            if self._pending is None:
                self._pending, self._next = items, 0
            else:
                self._pending = self._pending[self._next:] + items
                self._next = 0
            self._process()

    def eof_received(self):
        self._eof = True
        self._process()
        return True  # we close once the queued requests are handled

    def connection_lost(self, exc):
        if self._wake_timer is not None:
            self._wake_timer.cancel()
        if self._pacer is not None:
            self._pacer.cancel()
        self._closing = True
        self._pending = self._pacer = None
        self.server.forget(self)
        if exc is not None:
            log.info("%s disconnected: %s", self, exc)
        else:
            log.debug("%s closed", self)

    def pause_writing(self):
        self._output_paused = True
        self.transport.pause_reading()

    def resume_writing(self):
        self._output_paused = False
        self._process()

    # -- requests -------------------------------------------------------------

    def _process(self):
        """Handle queued requests while the limits allow; then (un)pause reading."""
        pending = self._pending
        core = self.server.core
        while pending is not None and not self._closing and not self._output_paused:
            if self._next >= len(pending):
                pending = self._pending = None
                break
            if self._bucket is not None:
                wait = self._bucket.take(self.server.loop.time())
                if wait:
                    if self._wake_timer is None:
                        self._wake_timer = self.server.loop.call_later(wait, self._token_due)
                    break
            item = pending[self._next]
            self._next += 1
            if self.server.tracks_idle:
                self.last_activity = self.server.loop.time()
            was_logged_in = self.name is not None
            if isinstance(item, FramingError):
                log.debug("%s sent bad input: %s", self, item.message)
                effects = [core.error(self, item.message)]
                if item.fatal:
                    effects.append(Close(self, item.message))
            else:
                effects = core.handle(self, item)
            self.server.execute(effects)
            if not was_logged_in and self.name is not None:
                log.info("%s logged in as %s", self, self.name)
                self.server.login_done(self)
        if self._closing or self.transport.closed:
            return
        if pending is not None or self._output_paused:
            self.transport.pause_reading()
        elif self._eof:
            self.close("end of input")
        else:
            self.transport.resume_reading()

    def _token_due(self):
        self._wake_timer = None
        self._process()

    def login_expired(self):
        if not self.logged_in and not self._closing:
            text = "login timeout: no login within %g seconds" % self.server.config.login_timeout
            self.send(self.server.core.error(self, text).data)
            self.close("login timeout")

    # -- output ----------------------------------------------------------------

    def send(self, data):
        """Queue one payload for this client, paced or streamed."""
        transport = self.transport
        pacer = self._pacer
        if pacer is None:
            transport.write(data)
            if transport.buffered > self.server.max_output:
                self._check_overflow()
        else:
            pacer.push(data)
            size = pacer.bytes + transport.buffered
            if size > self.server.max_output:
                self._check_overflow()
            elif size > self.server.config.pause_output and not self._output_paused:
                self.pause_writing()  # the paced backlog counts like any other

    def send_now(self, data):
        """Write bypassing pacing (refusals, shutdown notices)."""
        self.transport.write(data)

    @property
    def output_size(self):
        paced = self._pacer.bytes if self._pacer is not None else 0
        return self.transport.buffered + paced

    def _check_overflow(self):
        """Past the cap (never below one full history): a slow consumer."""
        cap = max(self.server.max_output, self.server.core.history_bytes + HISTORY_OUTPUT_MARGIN)
        if self.output_size > cap and not self.transport.closed:
            log.warning("%s disconnected: slow consumer, %d bytes of output unsent (cap %d)",
                        self, self.output_size, cap)
            self.transport.abort()

    def _paced_payload_sent(self):
        if self._closing:
            if not self._pacer.queue:
                self.transport.close()
        elif self._output_paused and self.output_size <= self.server.resume_output:
            self.resume_writing()

    def _stream_mode(self):
        """The client reads streams: send everything queued, batch from now on."""
        pacer, self._pacer = self._pacer, None
        pacer.release()
        if self._closing:  # the pacer would have closed it after its last payload
            self.transport.close()

    def close(self, reason=None):
        """Stop handling requests; close once the queued output is sent."""
        if self._closing:
            return
        self._closing = True
        self._pending = None
        if reason:
            log.info("%s closing%s: %s", self, " (%s)" % self.name if self.name else "", reason)
        self.server.core.disconnect(self)
        self.server.presence_changed()
        if self._pacer is None or not self._pacer.queue:
            self.transport.close()
        # else: _paced_payload_sent closes the transport after the last payload

    def flush_for_shutdown(self, notice):
        if self._pacer is not None:
            self._stream_mode()
        self.send_now(notice)
        self.close()


class ChatServer:
    """Owns the listener, the core and every connection."""

    def __init__(self, loop, config):
        self.loop = loop
        self.config = config
        self.core = ChatCore(Clock(), history_limit=config.history_limit,
                             max_message_length=config.max_message_length,
                             max_message_bytes=config.max_message_bytes,
                             max_rooms=config.max_rooms, max_accounts=config.max_accounts,
                             oper_password=config.oper_password,
                             failed_login_limit=config.failed_login_limit,
                             failed_login_window=config.failed_login_window, now=loop.time)
        self.max_output = config.max_output
        self.resume_output = config.pause_output // 4  # one int for all transports
        self.connections = set()
        self._per_host = collections.Counter()
        self.listener = None
        self._presence_timer = None
        self._last_presence = -PRESENCE_INTERVAL
        self._idle_timer = None
        self._awaiting_login = {}   # connection -> login deadline, in accept order
        self._login_timer = None
        self.tracks_idle = config.idle_timeout > 0
        self._stopping = False

    def start(self):
        self.listener = listen(self.loop, self.config.host, self.config.port,
                               lambda address: ClientConnection(self, address))
        if self.config.idle_timeout > 0:
            self._idle_timer = self.loop.call_later(self._idle_period(), self._idle_sweep)
        host, port = self.listener.address[:2]
        log.info("listening on %s:%d", host, port)
        return self.listener.address

    # -- connections ------------------------------------------------------------

    def admit(self, conn):
        """Register a new connection; return a refusal text, or None."""
        if self._stopping:
            return "server is shutting down"
        if len(self.connections) >= self.config.max_clients:
            return "server full: %d connections, try again later" % self.config.max_clients
        limit = self.config.max_per_ip
        if limit and self._per_host[conn.host] >= limit and not _is_loopback(conn.host):
            return "too many connections from your address (limit %d)" % limit
        self.connections.add(conn)
        self._per_host[conn.host] += 1
        return None

    def expect_login(self, conn):
        """Start the login deadline of a new connection (from accept)."""
        if self.config.login_timeout > 0:
            self._awaiting_login[conn] = self.loop.time() + self.config.login_timeout
            if self._login_timer is None:
                self._arm_login_timer()

    def login_done(self, conn):
        self._awaiting_login.pop(conn, None)
        if not self._awaiting_login:
            self._awaiting_login = {}  # let a login storm's table go

    def _arm_login_timer(self):
        # One timer for every connection: deadlines come in accept order,
        # so the earliest is always the first entry.
        first_deadline = next(iter(self._awaiting_login.values()))
        self._login_timer = self.loop.call_at(first_deadline, self._login_sweep)

    def _login_sweep(self):
        self._login_timer = None
        now = self.loop.time()
        while self._awaiting_login:
            conn, deadline = next(iter(self._awaiting_login.items()))
            if deadline > now:
                self._arm_login_timer()
                return
            del self._awaiting_login[conn]
            conn.login_expired()

    def forget(self, conn):
        """A connection is gone: free its name and its slot."""
        self._awaiting_login.pop(conn, None)
        self.core.disconnect(conn)
        self.presence_changed()
        if conn in self.connections:
            self.connections.discard(conn)
            self._per_host[conn.host] -= 1
            if not self._per_host[conn.host]:
                del self._per_host[conn.host]
        if self._stopping and not self.connections:
            self.loop.stop()

    # -- effects ---------------------------------------------------------------

    def execute(self, effects):
        """Carry out the core's effects, in order."""
        for effect in effects:
            kind = type(effect)
            if kind is Broadcast:
                data = effect.data
                for session in effect.recipients:
                    session.send(data)
            elif kind is Send:
                effect.session.send(effect.data)
            elif kind is Close:
                effect.session.close(effect.reason)
        self.presence_changed()

    def presence_changed(self):
        """Arm the presence timer if a notice is owed and none is armed."""
        if self._presence_timer is None and self.core.presence_pending and not self._stopping:
            when = max(self.loop.time(), self._last_presence + PRESENCE_INTERVAL)
            self._presence_timer = self.loop.call_at(when, self._flush_presence)

    def _flush_presence(self):
        self._presence_timer = None
        self._last_presence = self.loop.time()
        self.execute(self.core.flush_presence())

    # -- idle sweep and shutdown ----------------------------------------------

    def _idle_period(self):
        return max(0.5, self.config.idle_timeout / 4)

    def _idle_sweep(self):
        deadline = self.loop.time() - self.config.idle_timeout
        for conn in list(self.connections):
            # A client whose requests wait (flood control) is not idle.
            if conn.logged_in and conn.last_activity < deadline and conn._pending is None:
                conn.send(self.core.error(conn, "idle timeout: no request for %g seconds"
                                          % self.config.idle_timeout).data)
                conn.close("idle timeout")
        self._idle_timer = self.loop.call_later(self._idle_period(), self._idle_sweep)

    def shutdown(self):
        """Tell everyone, flush (bounded by the grace period), stop the loop."""
        if self._stopping:
            return
        self._stopping = True
        log.info("shutting down: %d connections", len(self.connections))
        if self.listener:
            self.listener.close()
        for timer in (self._presence_timer, self._idle_timer, self._login_timer):
            if timer is not None:
                timer.cancel()
        notice = self.core.info_to_all("Server is shutting down").data
        for conn in list(self.connections):
            conn.flush_for_shutdown(notice)
        if not self.connections:
            self.loop.stop()
        else:
            self.loop.call_later(self.config.shutdown_grace, self._shutdown_deadline)

    def _shutdown_deadline(self):
        for conn in list(self.connections):
            log.info("%s dropped at shutdown with %d bytes unsent",
                     conn, conn.output_size)
            conn.transport.abort()
        self.loop.stop()


def _is_loopback(host):
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m chat.server",
        description="KTN chat server (JSON over TCP, one thread, one event loop).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free port)")
    p.add_argument("--history-limit", type=int, default=limits.HISTORY_LIMIT,
                   help="messages kept and replayed at login")
    p.add_argument("--max-message-length", type=int, default=limits.MAX_MESSAGE_LENGTH,
                   help="longest msg content, in characters")
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
    p.add_argument("--max-message-bytes", type=int, default=limits.MAX_MESSAGE_BYTES,
                   help="largest msg/pm content once encoded for the wire (escapes included)")
    p.add_argument("--max-rooms", type=int, default=limits.MAX_ROOMS,
                   help="rooms at once besides #lobby")
    p.add_argument("--max-accounts", type=int, default=limits.MAX_ACCOUNTS,
                   help="registered names at most")
    p.add_argument("--failed-login-limit", type=int, default=limits.FAILED_LOGIN_LIMIT,
                   help="failed password attempts per address within the window before "
                        "further ones are refused (0: no limit)")
    p.add_argument("--failed-login-window", type=float, default=limits.FAILED_LOGIN_WINDOW,
                   help="seconds the failed-login limit looks back")
    p.add_argument("--oper-password-file", metavar="FILE",
                   help="file holding the operator password (first line); else the "
                        "environment variable %s; neither: no operators" % OPER_PASSWORD_ENV)
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="stderr log level")
    args = p.parse_args(argv)
    for name in ("history_limit", "max_message_length", "max_request_size", "max_output",
                 "pause_output", "burst", "max_clients", "max_per_ip", "max_message_bytes",
                 "max_rooms", "max_accounts", "failed_login_limit"):
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
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        return soft
    except (ImportError, ValueError, OSError):
        return None


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fd_limit = raise_fd_limit(args.max_clients + 64)
    if fd_limit is not None and fd_limit < args.max_clients + 64:
        log.warning("open-file limit %d is below --max-clients %d: accepts will back off "
                    "when descriptors run out", fd_limit, args.max_clients)
    options = {k: v for k, v in vars(args).items() if k not in ("host", "port", "log_level")}
    config = ServerConfig(args.host, args.port, **options)
    log.info("operators: %s", "enabled (password configured)" if config.oper_password
             else "disabled (no operator password configured)")
    loop = EventLoop()
    server = ChatServer(loop, config)
    # Handlers first: a signal that arrives as soon as we listen is queued
    # and handled by the loop's first pass, never a crash.
    loop.add_signal_handler(signal.SIGINT, server.shutdown)
    loop.add_signal_handler(signal.SIGTERM, server.shutdown)
    try:
        server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc.strerror or exc)
        loop.close()
        return 1
    try:
        loop.run()
    finally:
        loop.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
