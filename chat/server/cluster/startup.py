"""Starting a cluster node, and reading the shared state again.

Theory of operation
-------------------
*Start-up* (``StartUp``): once connected, the node writes the first entry
of its own stream and of the events stream (its starting points), reads
the others' presence, the accounts and the bans, and mirrors ``#lobby``;
then the reader starts, and the node is ready once it has caught up (the
``Cluster`` opens its gate then). A step that fails is logged and the
chain starts again: on the next connection, or after a pause if Redis
answered with an error (a key of the wrong type, Redis still loading).

*Re-read* (``Reread``): if ``ktn:events`` was trimmed past what this node
had read, the events that said what changed are gone: the node reads the
accounts, the bans (lifted ones removed, new ones applied and their users
disconnected) and every node's members again, and keeps its gate closed
until that has worked; tried again when the connection comes back, or
after a pause.
"""

import logging

from ...core.rooms import LOBBY
from .presence import EVENTS_STREAM

log = logging.getLogger("chat.cluster")


class StartUp:
    """The chain of reads a node makes before it may serve."""

    def __init__(self, loop, redis, streams, presence, shared, retry, is_ready):
        self.loop = loop
        self.redis = redis
        self.streams = streams
        self.presence = presence
        self.shared = shared
        self.retry = retry               # seconds before starting again after an error
        self.is_ready = is_ready         # fn() -> whether the node is ready
        self.reader_started = False      # the chain ran to its end once
        self._running = False

    def begin(self):
        if self._running or self.is_ready() or not self.redis.connected:
            return
        self._running = True
        reply = self.redis.call("XADD", self.streams.node_key, "MAXLEN", "~",
                                self.streams.inbox_length, "*", "t", "start")
        reply.add_done_callback(self._node_stream_written)

    def _node_stream_written(self, reply):
        if not self._failed("writing this node's stream", reply.error):
            self.streams.start_from(self.streams.node_key, reply.value)
            self.presence.start(self._presence_read)

    def _presence_read(self, error):
        if not self._failed("reading the other nodes' members", error):
            self.streams.start_from(EVENTS_STREAM, self.presence.start_id)
            self.shared.load(self._shared_read)

    def _shared_read(self, error):
        if not self._failed("reading the accounts and bans", error):
            self.streams.mirror(LOBBY, self._lobby_mirrored)

    def _lobby_mirrored(self, error):
        if not self._failed("reading #lobby", error):
            self._running = False
            self.reader_started = True
            self.streams.resume()   # ready once caught up

    def _failed(self, step, error):
        """Whether a step failed; if so, say so and begin again: on the next
        connection, or after a pause if Redis answered with an error."""
        if error is None:
            return False
        self._running = False
        log.warning("starting the cluster node: %s failed: %s", step, error)
        if self.redis.connected:
            self.loop.call_later(self.retry, self.begin)
        return True


class Reread:
    """Accounts, bans and members read again after ``ktn:events`` was trimmed."""

    def __init__(self, loop, redis, presence, shared, retry):
        self.loop = loop
        self.redis = redis
        self.presence = presence
        self.shared = shared
        self.retry = retry
        self.owed = False     # what a trimmed events stream held must be re-read
        self._running = 0     # re-reads under way

    def owe(self):
        self.owed = True
        self.run()

    def run(self):
        """Re-read if one is owed and none is under way (and Redis is there)."""
        if not self.owed or self._running or not self.redis.connected:
            return
        self._running = 2
        failed = []

        def done(error):
            self._running -= 1
            if error is not None:
                failed.append(error)
            if self._running:
                return
            if not failed:
                self.owed = False
            elif self.redis.connected:
                self.loop.call_later(self.retry, self.run)
        self.shared.resync(done)
        self.presence.resync(done)
