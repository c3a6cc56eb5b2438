"""Paced output for naive readers (PROTOCOL.md section 3).

Most peer clients read with ``json.loads(sock.recv(4096))``: two payloads
in one read break them. Until a client shows it reads streams, its payloads
leave one per ``send``, ``gap`` seconds apart. Pacing never reorders or
drops a payload; its backlog counts against the connection's output cap.
"""

import collections


class Pacer:
    """A queue that feeds one transport one payload per gap."""

    __slots__ = ("loop", "transport", "gap", "queue", "bytes", "timer", "ready_at",
                 "on_sent")

    def __init__(self, loop, transport, gap, on_sent):
        self.loop = loop
        self.transport = transport
        self.gap = gap
        self.queue = collections.deque()
        self.bytes = 0               # bytes waiting in the queue
        self.timer = None
        self.ready_at = 0.0          # when the next payload may leave
        self.on_sent = on_sent       # called after each payload leaves

    def push(self, data):
        self.queue.append(data)
        self.bytes += len(data)
        if self.timer is None:
            self._send_next()

    def _send_next(self):
        self.timer = None
        if not self.queue or self.transport.is_closing:
            return
        now = self.loop.time()
        if now < self.ready_at:
            self.timer = self.loop.call_at(self.ready_at, self._send_next)
            return
        data = self.queue.popleft()
        self.bytes -= len(data)
        self.transport.write(data)  # alone in this loop pass: its own send
        self.ready_at = now + self.gap
        if self.queue:
            self.timer = self.loop.call_at(self.ready_at, self._send_next)
        self.on_sent()

    def release(self):
        """Stop pacing: hand everything queued to the transport at once."""
        self.cancel()
        for data in self.queue:
            self.transport.write(data)
        self.queue.clear()
        self.bytes = 0

    def cancel(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
