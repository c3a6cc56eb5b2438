"""What the server counts for operators: ``GET /metrics``.

Theory of operation
-------------------
``ServerMetrics`` owns the server's ``reactor.metrics.Registry``. Counters
are bumped where the event happens, in bulk on the hot paths: a
broadcast adds its number of recipients and bytes once, a read its byte
count. Those counted on every request or read are plain numbers here
(``delivered``, ``sent_bytes``, ``received_bytes``, ``accepted_messages``
and the per-name ``request_counts``), which the hot paths add to without
a call; their counters read them when someone scrapes. What the server already knows is collected only when someone
scrapes: connections by kind and state, queued output, rooms, history
memory, Redis' state. Histograms time a loop pass, a store commit and a
Redis command's round trip (the loop, the group commit and a cluster
node's Redis client hand their durations in: ``redis_round_trip`` is the
hook the node gives its client at construction).

``/metrics`` is served to the networks of ``--metrics-allow`` only
(default: loopback); anyone else gets 403. It shows counts and sizes,
never a name, an address or a message.
"""

from reactor.metrics import CONTENT_TYPE, Registry

from ..core import Broadcast, Publish
from ..router import TABLE

#: Request names counted by name (the router's table); anything else counts
#: as "other", so a client sending made-up requests cannot grow the label set.
KNOWN_REQUESTS = frozenset(row[0] for row in TABLE)

__all__ = ["CONTENT_TYPE", "ServerMetrics"]


class ServerMetrics:
    """The server's metric families (see the module docstring)."""

    def __init__(self, server):
        self.server = server
        r = self.registry = Registry()
        r.gauge("chat_connections", "Open connections by kind and state.", ["kind", "state"],
                collect=self._connections)
        self.logins = r.counter("chat_logins", "Successful logins.")
        self.failed_logins = r.counter("chat_failed_logins", "Failed password attempts.")
        # counted on every request or read: plain numbers, read at scrape time
        self.request_counts = {}   # name (or "other") -> requests handled, in first-seen order
        self.accepted_messages = 0
        self.delivered = 0
        self.received_bytes = 0
        self.sent_bytes = 0
        r.counter("chat_requests", "Requests handled, by name.", ["request"],
                  collect=lambda: {(name,): n for name, n in self.request_counts.items()})
        r.counter("chat_messages", "Messages accepted (msg).",
                  collect=lambda: self.accepted_messages)
        r.counter("chat_deliveries", "Payloads handed to connections.",
                  collect=lambda: self.delivered)
        r.counter("chat_received_bytes", "Bytes read from clients.",
                  collect=lambda: self.received_bytes)
        r.counter("chat_sent_bytes", "Bytes handed to client connections.",
                  collect=lambda: self.sent_bytes)
        r.gauge("chat_slow_consumers_dropped", "Clients dropped for not reading their output.",
                collect=lambda: server.meter.dropped)
        r.gauge("chat_output_queued_bytes", "Output owed to clients, all together.",
                collect=lambda: sum(conn.output.size for conn in server.connections
                                    if conn.output is not None))
        r.gauge("chat_rooms", "Rooms that exist.", collect=lambda: len(server.core.rooms))
        r.gauge("chat_history_bytes", "Bytes of message history held in memory.",
                collect=lambda: sum(room.history.bytes for room in server.core.rooms.values()))
        r.gauge("chat_users", "Users logged in on this server.",
                collect=lambda: len(server.core.users))
        self.commit_seconds = r.histogram("chat_store_commit_seconds",
                                          "Time of one store commit (one per loop pass).")
        r.gauge("chat_redis_connected", "1 while both Redis connections are up (cluster).",
                collect=self._redis_connected)
        self.pass_seconds = r.histogram("chat_loop_pass_seconds",
                                        "Duration of one event loop pass (its work, not its wait).")
        self.redis_round_trip = r.histogram(
            "chat_redis_round_trip_seconds",
            "Round trip of one Redis command, from its write to its reply (cluster; the "
            "blocking reads of the streams are not counted).").observe

    def request(self, name, effects):
        """Count one request by its name (``protocol.request_name``), and a
        message the core accepted (its answer: a broadcast, or a publish)."""
        if name not in KNOWN_REQUESTS:
            name = "other"
        counts = self.request_counts
        counts[name] = counts.get(name, 0) + 1
        if name == "msg" and effects and type(effects[0]) in (Broadcast, Publish):
            self.accepted_messages += 1

    def render(self):
        return self.registry.render()

    def _connections(self):
        counts = {}
        for conn in self.server.connections:
            key = (conn.kind, conn.state)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _redis_connected(self):
        cluster = self.server.cluster
        if cluster is None:
            return 0
        return int(cluster.redis.connected and cluster.reader.connected)
