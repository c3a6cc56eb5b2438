"""Paced output for naive readers (PROTOCOL.md section 3).

Most peer clients read with ``json.loads(sock.recv(4096))``: two payloads
in one read break them. Until a client shows it reads streams, its payloads
leave one per ``send``, a gap apart. Pacing never reorders or drops a
payload; its backlog counts against the connection's output caps.

The gap adapts to the backlog. A few payloads (the login answer: ``info``
then ``history``) get the full gap, which a reader needs when it is slow
to get back to ``recv``. A long backlog means the client is being fed
faster than one payload per gap (a busy room), and a client that keeps up
reads each payload within a millisecond: the gap shrinks in proportion,
down to ``min_gap``, so a prompt naive reader keeps up with hundreds of
messages a second instead of falling behind by design.
"""

import collections

#: Up to this many payloads waiting, the full gap applies.
FULL_GAP_BACKLOG = 4

# The queue of a pacer that never held a payload: a client that shows it
# reads streams with its first request never needs a deque (about 600 bytes).
_NOTHING = ()


def next_gap(gap, min_gap, waiting):
    """The gap before the next payload, given how many still wait: the full
    gap for a short backlog, shrinking with a longer one down to ``min_gap``."""
    if waiting <= FULL_GAP_BACKLOG:
        return gap
    return max(min_gap, gap * FULL_GAP_BACKLOG / waiting)


class Pacer:
    """A queue that feeds one transport one payload per (adaptive) gap."""

    __slots__ = ("loop", "transport", "gap", "min_gap", "queue", "bytes", "timer",
                 "ready_at", "on_sent")

    def __init__(self, loop, transport, gap, on_sent, min_gap=None):
        self.loop = loop
        self.transport = transport
        self.gap = gap
        self.min_gap = gap if min_gap is None else min(gap, min_gap)
        self.queue = _NOTHING        # a deque from the first push: most clients stream before
        self.bytes = 0               # bytes waiting in the queue
        self.timer = None
        self.ready_at = 0.0          # when the next payload may leave
        self.on_sent = on_sent       # called after each payload leaves

    def push(self, data):
        if self.queue is _NOTHING:
            self.queue = collections.deque()
        self.queue.append(data)
        self.bytes += len(data)
        if self.timer is None:
            self._send_next()

    def _send_next(self):
        self.timer = None
        if not self.queue or self.transport.closed:
            return
        now = self.loop.time()
        if now < self.ready_at:
            self.timer = self.loop.call_at(self.ready_at, self.transport.call_guarded,
                                           self._send_next)
            return
        data = self.queue.popleft()
        self.bytes -= len(data)
        self.transport.write(data)  # alone in this loop pass: its own send
        self.ready_at = now + next_gap(self.gap, self.min_gap, len(self.queue))
        if self.queue:
            self.timer = self.loop.call_at(self.ready_at, self.transport.call_guarded,
                                           self._send_next)
        self.on_sent()

    def release(self):
        """Stop pacing: hand everything queued to the transport at once."""
        self.cancel()
        self.bytes = 0
        write = self.transport.write
        for data in self.queue:
            write(data)
        self.queue = _NOTHING

    def cancel(self):
        """Stop the timer; the queue stays."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def drop(self):
        """Discard what waits (the connection is gone)."""
        self.cancel()
        self.bytes = 0
        self.queue = _NOTHING
