"""A connection's request queue: flood control, the answer budget, holds.

Theory of operation
-------------------
``RequestQueue`` is the half of ``ClientConnection`` that decides when a
request is handled (the other half, ``connection``, is its life cycle and
transport callbacks). Requests wait, decoded, in a bounded batch or as raw
bytes in the decoder, and are taken one at a time while nothing holds
them back:

* **flood control**: a token bucket per connection (``--rate``);
* **one batch per connection per loop pass** (``limits.QUEUED_REQUESTS``),
  so no client can monopolise a pass;
* **the answer budget** (issue 21): the requests in ``ANSWERED`` (``join``
  and ``leave`` with their history, ``names``, ``rooms``, ``help``) are
  charged the bytes of their answers to a per-connection ``ByteBudget``
  (``--answer-rate`` a second, after a burst of one full history), and the
  whole server writes at most ``limits.PASS_ANSWER_BYTES`` of them a pass;
  past either, the next such request waits (nothing refused or dropped);
* **holds**: the cluster's gate answers some requests later (``hold``,
  ``release``, ``retry``).

A waiting connection stops reading (``_update_reading`` in
``connection``), so a client's backlog stays in the kernel, not here.
"""

import logging

from reactor.framing import FramingError

from .. import limits
from ..core import Send
from ..protocol import request_name

log = logging.getLogger("chat.server")

_NOTHING = object()  # _peek found no request (None is a request: JSON null)

#: Requests whose answers draw on the connection's answer budget, by
#: ``request_name`` (any JSON may arrive here: only a string ``request``
#: names one).
ANSWERED = frozenset(("join", "leave", "names", "rooms", "help"))


class _Held:
    """Stands in for the wake-up timer while the cluster glue answers a
    request later (``hold``): requests wait, as for flood control."""

    __slots__ = ()

    def cancel(self):
        pass


_HELD = _Held()



class RequestQueue:
    """Mixin of ``ClientConnection``: when its requests are handled."""

    __slots__ = ()

    @property
    def waiting(self):
        """Requests wait: decoded in the batch, or as bytes in the decoder."""
        return self._batch is not None or (self.decoder is not None and self.decoder.backlog)

    def _process(self):
        """Handle waiting requests while the limits allow; then decide reading."""
        server = self.server
        budget = limits.QUEUED_REQUESTS  # one batch per connection per loop pass
        while self.is_open and not self.output.paused and self._wake is None:
            item = self._peek()
            if item is _NOTHING:
                break
            if not budget:  # this pass's batch is done: the rest next pass
                self._wake = server.loop.call_soon(self.transport.call_guarded, self._woken)
                break
            name = request_name(item)   # worked out once, for every check below
            answered = name in ANSWERED
            if (answered or self._bucket is not None) and self._held_back(answered):
                break
            budget -= 1
            batch = self._batch    # (the item is its first: off it goes)
            del batch[0]
            if not batch:
                self._batch = None
            if server.tracks_idle:
                self.last_activity = server.loop.time()
            self._take(item, name)
        self._update_reading()

    def _held_back(self, answered):
        """Whether a limit holds the next request back (its wake-up is set):
        the answer budget for an ``answered`` one, then flood control."""
        server = self.server
        now = server.loop.time()
        if answered:
            if server.config.answer_rate > 0:
                wait = self._answer_wait(now)
                if wait:
                    self._wake_in(wait)  # the answer budget: until it is not spent
                    return True
            if not server.answers_allowed():   # this pass wrote enough: next pass, in turn
                self._wake = server.loop.call_soon(self.transport.call_guarded, self._woken)
                return True
        if self._bucket is not None:
            wait = self._bucket.take(now)
            if wait:
                self._wake_in(wait)  # flood control: until the next token
                return True
        return False

    def _peek(self):
        """The next waiting request, refilling the batch from the decoder."""
        batch = self._batch
        if batch is not None:
            return batch[0]     # (never empty: emptied, it is None)
        decoder = self.decoder
        if decoder is not None and decoder.backlog:
            batch = decoder.feed(b"", limits.QUEUED_REQUESTS, limits.QUEUED_REQUEST_BYTES)
            self._drop_idle_decoder()
            if batch:
                self._batch = batch
                return batch[0]
        return _NOTHING

    def _take(self, item, name):
        """One request off the queue: a framing error is answered here; the
        cluster's gate may take charge of a request; the core handles the rest.
        ``name``: its ``request_name``."""
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
        self.handle(item, name)

    def handle(self, item, name):
        """Hand one request to the core and carry out its effects (``name``
        as for ``_take``)."""
        server = self.server
        effects = server.core.handle(self, item)
        server.metrics.request(name, effects)
        if name in ANSWERED:
            cost = sum(len(e.data) for e in effects if type(e) is Send and e.session is self)
            server.count_answer(cost)
            if self._answers is not None:
                self._answers.charge(cost)
        self.carry_out(effects)

    def _answer_wait(self, now):
        answers = self._answers
        if answers is None:
            server = self.server
            answers = self._answers = limits.ByteBudget(
                server.config.answer_rate, server.core.max_history_response_bytes, now)
        return answers.wait(now)

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
            self._take(item, request_name(item))
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
