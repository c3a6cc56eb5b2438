"""The output policy of one connection: pacing, caps, the close deadline.

Theory of operation
-------------------
Everything the server sends a client goes through its ``Output``:

* **paced** (PROTOCOL.md section 3) until the client shows it reads
  streams: payloads wait in a ``Pacer`` and leave one per send; then
  **streamed**: written at once, batched per loop pass by the transport;
* **counted**: ``size`` is what waits in the pacer plus what the transport
  holds. Above ``pause_at`` the output is *paused*: the connection stops
  reading the client's requests (their answers would only pile up); below
  ``resume_at`` it reads again. Past ``max_output``, or above ``pause_at``
  while the heavy connections together hold more than ``max_total`` (an
  ``OutputMeter`` shared by all), the client is a slow consumer and is
  dropped. Only a client that does not read gets there: pacing adapts its
  gap to the backlog, so a prompt reader is never behind for the server's
  own sake. Below the pause mark nothing is checked or counted: that is
  the broadcast hot path, and each connection there holds little;
* **closed on a deadline**: ``close()`` sends what waits and then closes
  the transport; a client that stops reading cannot hold its socket and
  its slot past ``close_deadline`` seconds.

The connection (the ``owner``) learns of a change of ``paused`` through its
``output_paused_changed()``; the transport's loop runs the deadline timer.
Thousands live at once: no loop, no callback and no flag that another
object already holds is stored per output.
"""

import logging

from .pacing import Pacer

log = logging.getLogger("chat.server")


class OutputMeter:
    """What the heavy connections (those past the pause mark) hold, together.

    Each ``Output`` adds its size here when it is checked (every send while
    past the mark) and takes it back when it drains or goes: an upper bound
    refreshed at every send, costing nothing to the connections below it.
    """

    __slots__ = ("bytes", "dropped")

    def __init__(self):
        self.bytes = 0
        self.dropped = 0   # slow consumers disconnected, ever (for /metrics)


class OutputLimits:
    """The caps every connection's ``Output`` shares (one object per server)."""

    __slots__ = ("pause_at", "resume_at", "max_output", "max_total", "meter",
                 "pace_gap", "pace_min_gap", "close_deadline")

    def __init__(self, pause_at, max_output, max_total, meter, pace_gap, pace_min_gap,
                 close_deadline):
        self.pause_at = pause_at
        self.resume_at = pause_at // 4
        self.max_output = max_output
        self.max_total = max_total
        self.meter = meter
        self.pace_gap = pace_gap          # seconds; 0: no pacing
        self.pace_min_gap = pace_min_gap
        self.close_deadline = close_deadline


class Output:
    """Paced or streamed output for one transport, with its caps."""

    __slots__ = ("transport", "limits", "pacer", "paused", "closing", "_deadline", "owner",
                 "_counted")

    def __init__(self, transport, limits, owner):
        self.transport = transport
        self.limits = limits
        self.owner = owner               # told when ``paused`` flips; named in log lines
        self.paused = False
        self.closing = False
        self._deadline = None
        self._counted = 0                # bytes of ours in limits.meter
        self.pacer = None
        if limits.pace_gap > 0:
            self.pacer = Pacer(transport.loop, transport, limits.pace_gap,
                               self._paced_payload_sent, limits.pace_min_gap)
        # The transport's marks are ours: its resume_writing (and the drain
        # it reports on request, see _watch_drain) mean "at or below resume_at".
        transport.set_write_buffer_limits(limits.pause_at, limits.resume_at)

    @property
    def paced(self):
        return self.pacer is not None

    @property
    def size(self):
        """Bytes owed to the client: waiting to be paced, or in the transport."""
        paced = self.pacer.bytes if self.pacer is not None else 0
        return self.transport.buffered + paced

    def send(self, data):
        """Queue one payload, paced or streamed; enforce the caps.

        The broadcast hot path (once per recipient per message): below the
        pause mark, which every cap lies above, there is nothing to check.
        """
        pacer = self.pacer
        transport = self.transport
        if pacer is None:
            transport.write(data)
            if transport.buffered > self.limits.pause_at:
                self.check()
        else:
            pacer.push(data)
            if pacer.bytes + transport.buffered > self.limits.pause_at:
                self.check()

    def share(self, queue):
        """Take a room's batch of this pass as the transport's queue
        (``chat/server/fanout.py``): only when streamed, not paused, and
        nothing else is queued, where ``send`` would check nothing either.
        The transport that shares it, or None (TLS never does)."""
        if self.pacer is None and not self.paused:
            return self.transport.share(queue)
        return None

    def send_now(self, data):
        """Write past the pacer (a refusal, the shutdown notice)."""
        self.transport.write(data)

    def check(self):
        """Pause, or drop a slow consumer, as the caps say."""
        limits = self.limits
        size = self.size
        self._recount(size)
        if size > limits.max_output or (size > limits.pause_at
                                        and limits.meter.bytes > limits.max_total):
            if not self.transport.closed:
                log.warning("%s disconnected: slow consumer, %d bytes of output unsent "
                            "(cap %d, all connections %d, total cap %d)", self.owner, size,
                            limits.max_output, limits.meter.bytes, limits.max_total)
                limits.meter.dropped += 1
                self.abort()
        elif size > limits.pause_at and not self.paused:
            self.paused = True
            self._watch_drain()
            self.owner.output_paused_changed()

    def drained(self):
        """Output shrank (a paced payload left, the transport flushed)."""
        if self._counted:
            self._recount(self.size)
        if not self.paused:
            return
        if self.size <= self.limits.resume_at:
            self.paused = False
            self.owner.output_paused_changed()
        else:
            self._watch_drain()

    def _watch_drain(self):
        """While paused, someone must call ``drained`` when output shrinks:
        the pacer after each payload, else the transport once it drains
        (asked explicitly: its own buffer may never have crossed its mark)."""
        if self.pacer is None or not self.pacer.queue:
            self.transport.report_drain()

    def _paced_payload_sent(self):
        if self.closing:
            if not self.pacer.queue:
                self.transport.close()
        else:
            self.drained()

    def stream(self):
        """The client reads streams: send everything queued, batch from now on."""
        pacer, self.pacer = self.pacer, None
        if pacer is not None:
            pacer.release()
            if self.closing:
                self.transport.close()
            self.check()

    def close(self):
        """Send what waits, then close; abort if that outlasts the deadline."""
        if self.closing:
            return
        self.closing = True
        if self.limits.close_deadline > 0:
            self._deadline = self.transport.loop.call_later(self.limits.close_deadline,
                                                            self._deadline_passed)
        if self.pacer is None or not self.pacer.queue:
            self.transport.close()
        # else: _paced_payload_sent closes the transport after the last payload

    def _deadline_passed(self):
        self._deadline = None
        if not self.transport.closed:
            log.info("%s aborted: output not taken within the %g s close deadline "
                     "(%d bytes unsent)", self.owner, self.limits.close_deadline, self.size)
            self.abort()

    def abort(self):
        self.closing = True
        self.release_resources()
        self.transport.abort()

    def _recount(self, size):
        self.limits.meter.bytes += size - self._counted
        self._counted = size

    def release_resources(self):
        """The connection is gone: stop the timers, forget what waits."""
        self._recount(0)
        if self.pacer is not None:
            self.pacer.drop()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
