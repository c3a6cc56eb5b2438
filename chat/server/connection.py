"""One client connection: its life cycle, request queue and flood control.

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

Requests: bytes go to a ``JsonStreamDecoder``, which hands them out in
bounded batches (at most ``limits.QUEUED_REQUESTS`` values or
``limits.QUEUED_REQUEST_BYTES`` of input at a time), so whatever one read
carries, the decoded-but-waiting queue stays small; the rest waits as raw
bytes in the decoder (one read at most, since reading stops meanwhile).
The core handles one request at a time, as flood control (a token bucket)
allows and at most one batch per loop pass, so no client and no kind of
request can monopolise a pass.

Whether the connection reads is decided in one place, ``_update_reading``,
from the state and the conditions that hold requests back
(``wants_reading``); it runs after every change of any of them.
"""

import logging
import sys

from reactor.framing import FramingError, JsonStreamDecoder

from .. import limits
from ..core import Session
from .output import Output

log = logging.getLogger("chat.server")

ADMITTED = "admitted"
LOGGED_IN = "logged in"
CLOSING = "closing"
CLOSED = "closed"
OPEN_STATES = (ADMITTED, LOGGED_IN)

_NOTHING = object()  # _peek found no request (None is a request: JSON null)


class _Held:
    """Stands in for the wake-up timer while the cluster glue answers a
    request later (``hold``): requests wait, as for flood control."""

    __slots__ = ()

    def cancel(self):
        pass


_HELD = _Held()


def wants_reading(state, waiting, held, output_paused, eof):
    """Whether a connection should read: it is open and nothing holds its
    requests back (requests waiting, a wake-up owed by flood control or the
    per-pass budget, unsent output above the mark, end of input seen)."""
    return state in OPEN_STATES and not (waiting or held or output_paused or eof)


class ClientConnection(Session):
    """One client: the core's session, plus framing, request queue, limits
    and output. Thousands live at once: ``__slots__``, and the decoder and
    queue exist only while something waits in them."""

    __slots__ = ("server", "transport", "port", "state", "output", "decoder", "_batch",
                 "_next", "_bucket", "_wake", "_eof", "last_activity")

    def __init__(self, server, address):
        host = address[0] if address else "?"
        if host.startswith("::ffff:"):  # IPv4-mapped (dual-stack listener)
            host = host[7:]
        super().__init__(sys.intern(host))  # one string per address, not per connection
        self.server = server
        self.port = address[1] if address else 0
        self.state = ADMITTED
        self.transport = None
        self.output = None
        self.decoder = None   # held only mid-request, or while input waits in it
        self._batch = None    # decoded values waiting, a list, from _next on
        self._next = 0
        self._bucket = None
        self._wake = None     # timer: a token is due, or the next pass's batch
        self._eof = False
        self.last_activity = 0.0

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
        self.output = Output(server.loop, transport, server.output_limits,
                             self._update_reading, self)
        refusal = server.admit(self)
        if refusal:
            log.info("%s refused: %s", self, refusal)
            self.output.send_now(server.core.error(self, refusal).data)
            self.close()
            return
        log.debug("%s connected", self)
        now = server.loop.time()
        if server.tracks_idle:
            self.last_activity = now
        if config.rate > 0:
            self._bucket = limits.TokenBucket(config.rate, config.burst, now)
        server.expect_login(self)

    def data_received(self, data):
        if self.state not in OPEN_STATES:
            return  # a closing connection reads nothing (and keeps nothing)
        server = self.server
        if server.tracks_idle:
            self.last_activity = server.loop.time()
        decoder = self.decoder
        if decoder is None:
            decoder = self.decoder = JsonStreamDecoder(server.config.max_request_size)
        items = decoder.feed(data, limits.QUEUED_REQUESTS, limits.QUEUED_REQUEST_BYTES)
        if self.output.paced and decoder.saw_newline:
            self.output.stream()
        self._drop_idle_decoder()
        if items:
            if self._batch is None:
                self._batch, self._next = items, 0
            else:  # cannot happen while reading waits for the queue; stay bounded anyway
                self._batch = self._batch[self._next:] + items
                self._next = 0
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

    @property
    def waiting(self):
        """Requests wait: decoded in the batch, or as bytes in the decoder."""
        return self._batch is not None or (self.decoder is not None and self.decoder.backlog)

    def _process(self):
        """Handle waiting requests while the limits allow; then decide reading."""
        server = self.server
        budget = limits.QUEUED_REQUESTS  # one batch per connection per loop pass
        while self.state in OPEN_STATES and not self.output.paused and self._wake is None:
            item = self._peek()
            if item is _NOTHING:
                break
            if not budget:  # this pass's batch is done: the rest next pass
                self._wake = server.loop.call_soon(self.transport.call_guarded, self._woken)
                break
            now = server.loop.time()
            if self._bucket is not None:
                wait = self._bucket.take(now)
                if wait:
                    self._wake_in(wait)  # flood control: until the next token
                    break
            budget -= 1
            self._next += 1
            if server.tracks_idle:
                self.last_activity = now
            self._take(item)
        self._update_reading()

    def _peek(self):
        """The next waiting request, refilling the batch from the decoder."""
        batch = self._batch
        if batch is not None:
            if self._next < len(batch):
                return batch[self._next]
            self._batch = None
        decoder = self.decoder
        if decoder is not None and decoder.backlog:
            batch = decoder.feed(b"", limits.QUEUED_REQUESTS, limits.QUEUED_REQUEST_BYTES)
            self._drop_idle_decoder()
            if batch:
                self._batch, self._next = batch, 0
                return batch[0]
        return _NOTHING

    def _take(self, item):
        """One request off the queue: a framing error is answered here; the
        cluster's gate may take charge of a request; the core handles the rest."""
        server = self.server
        if isinstance(item, FramingError):
            log.debug("%s sent bad input: %s", self, item.message)
            server.carry_out([server.core.error(self, item.message)])
            if item.fatal:
                self.close(item.message)
            return
        refusal = server.password_refusal(self, item)  # issue 18: passwords only over TLS
        if refusal is not None:
            server.carry_out([server.core.error(self, refusal)])
            return
        if server.cluster is not None and server.cluster.gate.check(self, item):
            return
        self.handle(item)

    def handle(self, item):
        """Hand one request to the core and carry out its effects."""
        self.carry_out(self.server.core.handle(self, item))

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

    def hold(self):
        """The cluster glue will answer the current request later: handle
        no other request of this connection until ``release``."""
        self._wake = _HELD
        self._update_reading()

    @property
    def held(self):
        return self._wake is _HELD

    def release(self):
        """The held request is answered: go on with the next ones."""
        if self._wake is _HELD:
            self._wake = None
            self._process()

    def retry(self, item):
        """Take the held request ``item`` again from the start (the gate may
        hold it again), then go on with the next ones."""
        if self._wake is _HELD:
            self._wake = None
        if self.is_open:
            self._take(item)
        if self._wake is None:
            self._process()

    def _wake_in(self, delay):
        self._wake = self.server.loop.call_later(delay, self.transport.call_guarded, self._woken)

    def _woken(self):
        self._wake = None
        self._process()

    def _drop_idle_decoder(self):
        # Between requests a fresh decoder would do the same, so streaming
        # connections drop theirs: thousands of idle clients, no idle decoders.
        decoder = self.decoder
        if decoder is not None and not self.output.paced and decoder.at_boundary \
                and not decoder.backlog:
            self.decoder = None

    def _drop_requests(self):
        self._batch = None
        self.decoder = None
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None

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
