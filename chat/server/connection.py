"""One client connection: its life cycle and its transport's callbacks.

Theory of operation
-------------------
A ``ClientConnection`` is the transport's protocol object and the core's
session. Its life cycle has four named states, as h11 names its own:

    ADMITTED --login--> LOGGED_IN
        \\                 |
         `---- close ------+--> CLOSING --transport gone--> CLOSED

``close()`` is the only way into CLOSING, from either open state (logout,
kick, login or idle timeout, end of input, a fatal framing error, a
refusal at accept). A closing connection keeps no request: its decoder and
queue are dropped at once, and what it still reads is discarded on arrival
(reading on avoids the reset that closing with unread input causes). Its
output gets a deadline to drain (``chat.server.output``).

Requests: bytes go to a ``JsonStreamDecoder`` (a read of whole requests,
the usual one, is parsed at once by ``reactor.whole_reads.decode_whole``
with the same result, and no decoder is made), which hands them out in bounded
batches (at most ``limits.QUEUED_REQUESTS`` values or
``limits.QUEUED_REQUEST_BYTES`` of input at a time), so whatever one read
carries, the decoded-but-waiting queue stays small; the rest waits as raw
bytes in the decoder (one read at most, since reading stops meanwhile).
The core handles one request at a time, as flood control (a token bucket)
allows and at most one batch per loop pass, so no client and no kind of
request can monopolise a pass.

With ``--proxy-protocol`` the first bytes of a connection from a trusted
proxy are its PROXY header (``chat/server/proxy_protocol.py``): the
connection takes the client's address from it and only then is admitted
(the caps count the client's address, not the proxy's); the login
deadline runs from accept all the same. A connection from anyone else
that begins like a PROXY header is closed with a log line.

When a waiting request is handled (flood control, the answer budget,
the cluster's holds) is the other half of the class, ``RequestQueue``
(``chat/server/request_queue.py``).

Whether the connection reads is decided in one place, ``_update_reading``,
from the state and the conditions that hold requests back
(``wants_reading``); it runs after every change of any of them.
"""

import logging
import sys

from reactor.framing import JsonStreamDecoder
from reactor.whole_reads import decode_whole

from .. import limits
from ..core import Session
from .output import Output
from .proxy_protocol import HeaderReader, ProxyError, Sniffer, is_trusted
from .request_queue import RequestQueue

log = logging.getLogger("chat.server")

ADMITTED = "admitted"
LOGGED_IN = "logged in"
CLOSING = "closing"
CLOSED = "closed"
OPEN_STATES = (ADMITTED, LOGGED_IN)

def _host(host):
    """An address as the limits count it: IPv4-mapped IPv6 as IPv4, and one
    string per address, not per connection."""
    if host.startswith("::ffff:"):  # IPv4-mapped (dual-stack listener)
        host = host[7:]
    return sys.intern(host)


def wants_reading(state, waiting, held, output_paused, eof):
    """Whether a connection should read: it is open and nothing holds its
    requests back (requests waiting, a wake-up owed by flood control or the
    per-pass budget, unsent output above the mark, end of input seen)."""
    return state in OPEN_STATES and not (waiting or held or output_paused or eof)


class ClientConnection(RequestQueue, Session):
    """One client: the core's session, plus framing, request queue, limits
    and output. Thousands live at once: ``__slots__``, and the decoder and
    queue exist only while something waits in them."""

    __slots__ = ("server", "transport", "port", "state", "output", "decoder", "_batch",
                 "_bucket", "_wake", "_eof", "last_activity", "_proxy", "_answers")

    def __init__(self, server, address):
        super().__init__(_host(address[0] if address else "?"))
        self.server = server
        self.port = address[1] if address else 0
        self.state = ADMITTED
        self.transport = None
        self.output = None
        self.decoder = None   # held only mid-request, or while input waits in it
        self._batch = None    # decoded values waiting, a list (never empty), oldest first
        self._bucket = None
        self._wake = None     # timer: a token is due, or the next pass's batch
        self._eof = False
        self.last_activity = 0.0
        self._proxy = None    # a PROXY header reader (or sniffer) until the first request
        self._answers = None  # ByteBudget, made at the first answered request

    @property
    def kind(self):
        """The way in: "tcp", "tls" or "websocket" (for /metrics)."""
        return self.transport.kind if self.transport is not None else "tcp"

    def __str__(self):
        """host:port, for log lines (formatted only if the line is emitted)."""
        return "%s:%s" % (self.host, self.port)

    # -- transport callbacks ------------------------------------------------

    def connection_made(self, transport):
        server = self.server
        config = server.config
        self.transport = transport
        transport.read_size = config.read_size
        if config.send_buffer:
            transport.set_send_buffer(config.send_buffer)
        self.output = Output(transport, server.output_limits, self)
        if config.proxy_protocol and self.kind == "tcp":   # (a web client's comes over HTTP)
            if is_trusted(self.host, config.trusted_proxies):
                self._proxy = HeaderReader()
                server.expect_login(self)   # the deadline covers a slow header too
                return                      # admitted once the header names the client
            self._proxy = Sniffer()
        self._admit()
        server.expect_login(self)

    def _admit(self):
        """Take a slot (the caps count this connection's address); whether
        it was given one."""
        server = self.server
        refusal = server.admit(self)
        if refusal:
            log.info("%s refused: %s", self, refusal)
            self.output.send_now(server.core.error(self, refusal).data)
            self.close()
            return False
        log.debug("%s connected", self)
        now = server.loop.time()
        if server.tracks_idle:
            self.last_activity = now
        if server.config.rate > 0:
            self._bucket = limits.TokenBucket(server.config.rate, server.config.burst, now)
        return True

    def _read_proxy_header(self, data):
        """The bytes after the PROXY header (b"" while it is incomplete),
        or None if the connection was closed."""
        reader = self._proxy
        try:
            result = reader.feed(data)
        except ProxyError as exc:
            log.warning("%s closed: %s", self, exc)
            self.server.audit("proxy_rejected", self.host, None)
            self.close("PROXY header refused")
            return None
        if result is None:
            return b""
        host, data = result
        self._proxy = None
        if type(reader) is HeaderReader:
            if host is not None:
                self.host = _host(host)
            if not self._admit():
                return None
        return data

    def data_received(self, data):
        if self.state not in OPEN_STATES:
            return  # a closing connection reads nothing (and keeps nothing)
        if self._proxy is not None:
            data = self._read_proxy_header(data)
            if not data:
                return
        server = self.server
        server.metrics.received_bytes += len(data)
        if server.tracks_idle:
            self.last_activity = server.loop.time()
        decoder = self.decoder
        items = None
        if decoder is None and not self.output.paced:
            # The usual read, whole requests: no decoder needed (a paced
            # client's decoder also watches for newlines, so it keeps one).
            items = decode_whole(data, limits.QUEUED_REQUESTS, limits.QUEUED_REQUEST_BYTES,
                                 server.config.max_request_size)
        if items is None:
            if decoder is None:
                decoder = self.decoder = JsonStreamDecoder(server.config.max_request_size)
            items = decoder.feed(data, limits.QUEUED_REQUESTS, limits.QUEUED_REQUEST_BYTES)
            if self.output.paced and decoder.saw_newline:
                self.output.stream()
            self._drop_idle_decoder()
        if items:
            if self._batch is None:
                self._batch = items
            else:  # cannot happen while reading waits for the queue; stay bounded anyway
                self._batch = self._batch + items
        self._process()

    def eof_received(self):
        self._eof = True
        self._update_reading()
        return True  # we close once the queued requests are handled

    def connection_lost(self, exc):
        self.state = CLOSED
        self._drop_requests()
        self.output.release_resources()
        self.server.forget(self)
        if exc is not None:
            log.info("%s disconnected: %s", self, exc)
        else:
            log.debug("%s closed", self)

    def pause_writing(self):
        self.output.check()

    def resume_writing(self):
        self.output.drained()

    # -- requests -------------------------------------------------------------

    @property
    def paced(self):
        """Whether each payload to this client leaves in a send of its own."""
        return self.output.paced

    @property
    def is_open(self):
        return self.state in OPEN_STATES

    def carry_out(self, effects):
        """Carry out the effects of this connection's request (the cluster
        glue may hold them back first); a login that succeeded moves the
        connection on."""
        server = self.server
        server.carry_out(effects)
        if self.state is ADMITTED and self.name is not None:
            self.state = LOGGED_IN
            log.info("%s logged in as %s", self, self.name)
            server.login_done(self)

    def output_paused_changed(self):
        """Our ``Output`` paused or resumed: read, or stop, accordingly."""
        self._update_reading()

    def _update_reading(self):
        """The one place that decides whether this connection reads."""
        if self.state not in OPEN_STATES:
            return  # close() stopped reading for good
        if self._eof and not self.waiting and self._wake is None:
            self.close("end of input")
        elif wants_reading(self.state, self.waiting, self._wake is not None,
                           self.output.paused, self._eof):
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()
            if not self.output.paused and self._wake is None and self.waiting:
                self._process()  # output drained while requests wait: go on

    # -- life cycle -------------------------------------------------------------

    def send(self, data):
        """Queue one payload for this client (the server's broadcasts call this)."""
        self.output.send(data)

    def login_expired(self):
        if self.state is ADMITTED:
            text = "login timeout: no login within %g seconds" % self.server.config.login_timeout
            self.send(self.server.core.error(self, text).data)
            self.close("login timeout")

    def close(self, reason=None):
        """Stop reading and handling requests; close once the output is sent
        (or the close deadline passes). Idempotent."""
        if self.state not in OPEN_STATES:
            return
        self.state = CLOSING
        self._drop_requests()
        if reason:
            log.info("%s closing%s: %s", self, " (%s)" % self.name if self.name else "", reason)
        self.server.core.disconnect(self)
        self.server.presence_changed()
        self.server.close_output(self.output)

    def flush_for_shutdown(self, notice):
        self.output.stream()
        self.output.send_now(notice)
        self.close()
