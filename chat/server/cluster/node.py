"""A cluster node: the server glue between the core's effects and Redis.

Theory of operation
-------------------
With ``--redis URL`` the core runs with ``shared_log`` and a ``Cluster``
sits between the connections and the core. It keeps two Redis clients on
the server's loop (``reactor.redis``): a pipelined one for every short
command and one for the blocking ``XREAD`` of the room logs (``roomlog``),
and wires the parts of the node together:

* ``gate``: each request before the core; fails closed while Redis is
  down or the node is starting;
* ``startup``: the reads a node makes before it may serve, and the re-read
  after the events stream was trimmed past what it had read;
* ``messages``: the core's ``Publish`` (a ``msg``) out to the room's
  stream and back to the members, the sender included;
* ``direct``: the core's ``RemotePm`` and ``RemoteKick``, for users on
  other nodes;
* ``events``: presence (``presence``), accounts, bans and purges
  (``shared``), kicks and failed password attempts, in one stream
  ``ktn:events`` that every node reads with the rooms.
* ``sweep``: what Redis keeps of rooms nobody is in (trimmed to the
  history limit, expired after ``--room-ttl``; issue 21).

The core's hooks reach the node through ``ChatServer``: a freed name gives
its lease back (``names``), a move between rooms is told to the others
(and the last one here to leave a room ends this node's reading of it),
a failed password attempt counts on every node.

The node is ready once started and caught up: it then logs "cluster node
... ready" and lets in the requests that waited. At shutdown it releases
its names and waits (at most ``--redis-timeout``) for Redis to confirm, so
a restarted node can take them.
"""

import logging
import os

from reactor.redis import RedisClient, mask

from ... import protocol
from ...core import Broadcast
from ...store.redis import ROOM_PREFIX
from .appends import RoomAppends, stream_length, written_limit
from .direct import DirectMessages
from .events import Events
from .gate import UNAVAILABLE, Gate
from . import options as cluster_options
from .messages import RoomMessages
from .names import NameLeases
from .presence import EVENTS_STREAM, ClusterPresence
from .roomlog import RoomLog, node_stream
from .shared import SharedState
from .signing import SignedRedis, unsigned_warning
from .startup import Reread, StartUp
from .sweep import StreamSweep

log = logging.getLogger("chat.cluster")

MISSED = ("some messages of %s may have been missed: this server was cut off from the "
          "chat while its history moved on")
TAKEN_OVER = "your name %s was taken by a login on another server; disconnected"
#: A room entry's bytes besides the message's content: timestamp, sender,
#: room, field names (generous: it only sizes the reader's batches).
ENTRY_OVERHEAD = 1024


def default_node_id(host, port):
    return "%s:%d:%d" % (host, port, os.getpid())


class Cluster:
    """This server's membership in the cluster (see the module docstring)."""

    def __init__(self, server, node_id):
        self.server = server
        self.core = core = server.core
        self.node_id = node_id
        config = server.config
        loop = server.loop
        retry = config.redis_backoff_max
        options = dict(reply_timeout=config.redis_timeout, backoff_max=retry,
                       connect_timeout=config.redis_timeout,
                       tls_context=cluster_options.tls_context(config),   # rediss://
                       on_round_trip=server.metrics.redis_round_trip)     # /metrics
        # every write signed, every read verified with the cluster key (``signing``)
        self.redis = SignedRedis(RedisClient(loop, config.redis, on_connected=self._connected,
                                             on_disconnected=self._disconnected, **options),
                                 config.cluster_key, loop.time)
        if config.cluster_key is None:
            unsigned_warning()
        self.reader = self.redis.clone(on_connected=self._reader_connected,
                                       on_disconnected=lambda exc: self.streams.reader_lost(exc),
                                       on_round_trip=None)   # XREAD BLOCK waits, by design
        heartbeat = config.lease_heartbeat or config.lease / 3.0
        self.names = NameLeases(loop, self.redis, node_id, config.lease, heartbeat,
                                self._name_lost)
        self.presence = ClusterPresence(loop, self.redis, node_id, core, config.lease,
                                        heartbeat, server.presence_changed,
                                        verify=self.redis.verify_record,
                                        inbox_ttl=config.inbox_ttl)
        self.shared = SharedState(core, self._kick, server.carry_out,
                                  lambda room_key: self.messages.forget_own(room_key))  # below
        self.direct = DirectMessages(self, config.redis_timeout)
        self.events = Events(self.redis, node_id, core, self.presence, self.shared,
                             self.direct.kicked)
        self.appends = RoomAppends(
            self.redis,
            stream_length(config.history_limit, config.stream_retain, config.retain_messages),
            written_limit(config.max_message_bytes + ENTRY_OVERHEAD))
        self.streams = RoomLog(self.redis, self.reader, node_id, config.history_limit,
                               lambda messages: self.messages.deliver(messages),  # below
                               core.mirror_room,
                               {node_stream(node_id): self.direct.node_entry,
                                EVENTS_STREAM: self.events.received},
                               self._trimmed, self._caught_up, self.appends.written,
                               block=config.redis_block, pause=config.redis_read_pause,
                               inbox_length=config.inbox_length,
                               max_entry=config.max_message_bytes + ENTRY_OVERHEAD,
                               retry=retry, verify=self.redis.verify_entry)
        self.messages = RoomMessages(server, self.appends, node_id, self.unavailable,
                                     config.redis_timeout)
        # the server carries out Publish, RemotePm and RemoteKick through these
        self.publish = self.messages.publish
        self.remote_pm = self.direct.remote_pm
        self.remote_kick = self.direct.remote_kick
        core.store.attach(self.redis, self.events.publish,
                          scan=self.appends.stream_length * 2,  # MAXLEN ~ keeps more
                          verify=self.redis.verify_record)
        self.ready = False
        self.startup = StartUp(loop, self.redis, self.streams, self.presence, self.shared,
                               retry, lambda: self.ready)
        self.reread = Reread(loop, self.redis, self.presence, self.shared, retry)
        self.gate = Gate(core, self.names, self.streams, lambda: self.available, self._error)
        # issue 21: streams of rooms nobody is in trimmed, then expired
        self.sweep = StreamSweep(loop, self.redis, core, self.streams,
                                 lambda: self.available, config)
        self._start_deadline = loop.call_later(config.redis_timeout, self.gate.let_in)

    @property
    def available(self):
        """Whether requests that go through Redis may go: started, both
        connections up, the reader caught up and no re-read under way."""
        return (self.ready and self.redis.connected and self.reader.connected
                and self.streams.caught_up and not self.reread.owed)

    def close(self, loop):
        """Release the names, wait (bounded) for Redis to have them, close."""
        self.names.close()
        self.presence.close()
        self.sweep.close()
        self._start_deadline.cancel()
        for key in list(self.names.held):
            self.names.release(key)
        self.redis.call("DEL", node_stream(self.node_id))   # its pms have no reader now
        deadline = loop.time() + self.server.config.redis_timeout
        wake = loop.call_at(deadline, lambda: None)
        while self.redis.pending and loop.time() < deadline:
            loop.run_once()
        wake.cancel()
        self.reader.close()
        self.redis.close()

    # -- connections to Redis -----------------------------------------------

    def _connected(self):
        if not self.ready:
            self.startup.begin()
        else:
            log.warning("redis is back: renewing %d names", len(self.names.held))
            self.names.renew_all()
            self.presence.publish_state()
            self.reread.run()
            self.direct.settle_doubts()

    def _disconnected(self, exc):
        log.warning("redis lost (%s): msg, login, join and pm are refused until it is back",
                    exc)

    def _reader_connected(self):
        if self.startup.reader_started:
            self.streams.resume()

    def _caught_up(self):
        self.messages.caught_up()
        if not self.ready:
            self.ready = True
            log.info("cluster node %s ready (redis %s)", self.node_id, mask(self.redis.url))
            self._start_deadline.cancel()
            self.gate.let_in()

    def _trimmed(self, stream):
        """A stream moved on past what this node had read while it was cut off."""
        if not stream.startswith(ROOM_PREFIX):
            log.warning("%s was trimmed past what this node had read: some of its entries "
                        "were never seen here", stream)
            if stream == EVENTS_STREAM:   # read what the events would have said
                self.reread.owe()
            return
        room = self.core.rooms.get(stream[len(ROOM_PREFIX):])
        if room is not None and room.members:
            log.warning("%s was trimmed past what this node had read", room.label)
            payload = protocol.encode_response(self.core.clock.timestamp(),
                                               protocol.SERVER_SENDER, protocol.INFO,
                                               MISSED % room.label)
            self.server.carry_out([Broadcast(payload, room.recipients())])

    # -- answers --------------------------------------------------------------

    def _error(self, session, text):
        self.server.carry_out([self.core.error(session, text)])

    def unavailable(self, session):
        """Tell ``session`` its request could not go through Redis."""
        self._error(session, UNAVAILABLE)

    def _kick(self, session, text):
        self._error(session, text)
        session.close(text)

    def _name_lost(self, key):
        session = self.core.users.get(key)
        if session is not None:
            self._error(session, TAKEN_OVER % session.name)
            session.close("name taken over on another node")

    # -- the core's hooks (through ``ChatServer``) ---------------------------

    def name_freed(self, key):
        """Give the name's lease back: another node may take the name."""
        self.names.release(key)

    def login_failed(self, group, name):
        """A failed password attempt here counts on every node (best effort:
        while Redis is down it counts here only)."""
        if self.redis.connected:
            self.events.publish(t="fail", h=group, u=name)

    def room_dropped(self, room, by):
        """An operator dropped ``room`` here (the store deleted its stream):
        every other node moves its users out and forgets it."""
        self.events.publish(t="drop", k=room.key, by=by)

    def moved(self, session, room, entered, notice):
        """Tell the others; the last one here to leave a room ends this
        node's reading of it (else every room a user ever joined would stay
        in each read, its messages kept for nobody)."""
        self.presence.moved(session, room, entered, notice)
        if not entered and self.core.unmirror_room(room.key):
            self.streams.forget(room.key)
