"""A cluster node: the server glue between the core's effects and Redis.

Theory of operation
-------------------
With ``--redis URL`` the core runs with ``shared_log`` and this object sits
between the connections and the core. It keeps two Redis clients on the
server's loop (``reactor.redis``): a pipelined one for every short command
and one for the blocking ``XREAD`` of the room logs (``roomlog``).

*The gate* (``gate``) sees each request before the core does. ``msg``,
``login``, ``join`` and ``pm`` are refused with ``error`` "chat is
temporarily unavailable, try again" while either connection to Redis is
down or the node has not finished starting (fail closed: never a message
that only part of the cluster sees); connected users stay connected and
every other request works. A ``login`` first takes the name's lease
(``names``) and a ``join`` of a room this node does not mirror yet first
loads its history from the stream; meanwhile that connection's requests
wait (``ClientConnection.hold``), then the request goes to the core as
usual. A login the core then refuses (ban, password) gives the lease back.

*Effects*: the core answers ``msg`` with ``Publish`` (appended to the
room's stream; delivered to everyone, the sender included, when the
reader gives it back; a failed append is an ``error`` to its sender:
``chat/server/cluster/messages.py``) and a
``pm`` to someone not on this node with ``RemotePm`` (an operator's
``kick`` of someone elsewhere: ``RemoteKick``).

*Shared state*: presence (``presence``), accounts, bans and purges
(``shared``) travel as events in one stream, ``ktn:events``, that every
node reads with the rooms; ``register``, ``password``, ``ban``, ``unban``
and ``purge`` are refused too while Redis is down. A failed password
attempt is an event as well: every node counts it against the address.

*Across nodes*: a ``pm`` to a user on another node and an operator's
``kick`` of one go through ``direct`` (``chat/server/cluster/direct.py``).

Start-up: once connected, the node writes the first entry of its own
stream and of the events stream (its starting points), reads the others'
presence, the accounts and the bans, and mirrors ``#lobby``; then it logs
"cluster node ... ready" and opens the gate. Requests that arrive before
(clients are accepted from the moment the server listens) wait for that,
for at most ``--redis-timeout``; after it they are refused like any
request while Redis is down. At shutdown the node releases its names and
waits (as long) for Redis to confirm, so a restarted node can take them.
"""

import logging
import os

from reactor.redis import RedisClient

from ... import protocol
from ...core import Broadcast
from ...core.accounts import split_login
from ...core.rooms import LOBBY, check_room_name
from ...protocol import RequestError
from ...store.redis import ROOM_PREFIX
from .direct import DirectMessages
from .messages import RoomMessages
from .names import NameLeases
from .presence import EVENTS_LENGTH, EVENTS_STREAM, ClusterPresence
from .roomlog import NODE_STREAM_LENGTH, RoomLog, node_stream
from .shared import SharedState

log = logging.getLogger("chat.cluster")

UNAVAILABLE = "chat is temporarily unavailable, try again"
MISSED = ("some messages of %s may have been missed: this server was cut off from the "
          "chat while its history moved on")
TAKEN_OVER = "your name %s was taken by a login on another server; disconnected"
GATED = ("login", "msg", "join", "pm")
#: Refused too while Redis is down: their changes are shared through it.
SHARED_CHANGES = ("register", "password", "ban", "unban", "purge")
#: A room entry's bytes besides the message's content: timestamp, sender,
#: room, field names (generous: it only sizes the reader's batches).
ENTRY_OVERHEAD = 1024


def default_node_id(host, port):
    return "%s:%d:%d" % (host, port, os.getpid())


class Cluster:
    """This server's membership in the cluster (see the module docstring)."""

    def __init__(self, server, node_id):
        self.server = server
        self.core = server.core
        self.node_id = node_id
        config = server.config
        loop = server.loop
        options = dict(reply_timeout=config.redis_timeout, backoff_max=config.redis_backoff_max,
                       connect_timeout=config.redis_timeout)
        self.redis = RedisClient(loop, config.redis, on_connected=self._connected,
                                 on_disconnected=self._disconnected, **options)
        self.reader = self.redis.clone(on_connected=self._reader_connected,
                                       on_disconnected=lambda exc: self.streams.reader_lost(exc))
        heartbeat = config.lease_heartbeat or config.lease / 3.0
        self.names = NameLeases(loop, self.redis, node_id, config.lease, heartbeat,
                                self._name_lost)
        self.presence = ClusterPresence(loop, self.redis, node_id, self.core, config.lease,
                                        heartbeat, server.presence_changed)
        self.direct = DirectMessages(self, config.redis_timeout)
        self.remote_pm = self.direct.remote_pm        # the server carries out these
        self.remote_kick = self.direct.remote_kick    # effects through the cluster
        self.streams = RoomLog(self.redis, self.reader, node_id, config.history_limit,
                           lambda messages: self.messages.deliver(messages),  # below
                           self.core.mirror_room,
                           {node_stream(node_id): self.direct.node_entry,
                            EVENTS_STREAM: self._event},
                           self._trimmed, block=config.redis_block,
                           retain=config.stream_retain,
                           max_entry=config.max_message_bytes + ENTRY_OVERHEAD,
                           retry=config.redis_backoff_max)
        self.shared = SharedState(self.core, self._kick)
        self.messages = RoomMessages(server, self.streams, node_id, self.unavailable,
                                     config.redis_timeout)
        self.publish = self.messages.publish   # the server carries out Publish through it
        self.core.store.attach(self.redis, self.publish_event,
                               scan=self.streams.stream_length * 2)  # MAXLEN ~ keeps more
        self.streams.on_caught_up = self._caught_up
        self.ready = False
        self._reader_started = False   # at start-up, once
        self._reread_owed = False  # what a trimmed events stream held must be re-read
        self._rereading = 0        # re-reads under way
        self._starting = False
        self._before_ready = []    # (conn, item) held until the node is ready
        self._start_deadline = loop.call_later(config.redis_timeout, self._start_overdue)

    @property
    def available(self):
        """Whether requests that go through Redis may go: started, both
        connections up, the reader caught up and no re-read under way."""
        return (self.ready and self.redis.connected and self.reader.connected
                and self.streams.caught_up and not self._reread_owed)

    def close(self, loop):
        """Release the names, wait (bounded) for Redis to have them, close."""
        self.names.close()
        self.presence.close()
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

    # -- connection to Redis ----------------------------------------------

    def _connected(self):
        if not self.ready:
            self._start()
        else:
            log.warning("redis is back: renewing %d names", len(self.names.held))
            self.names.renew_all()
            self.presence.publish_state()
            self._reread()
            self.direct.settle_doubts()

    def _disconnected(self, exc):
        log.warning("redis lost (%s): msg, login, join and pm are refused until it is back",
                    exc)

    def _reader_connected(self):
        if self._reader_started:
            self.streams.resume()

    def _start(self):
        if self._starting or self.ready or not self.redis.connected:
            return
        self._starting = True
        reply = self.redis.call("XADD", node_stream(self.node_id), "MAXLEN", "~",
                                NODE_STREAM_LENGTH, "*", "t", "start")
        reply.add_done_callback(self._started)

    def _started(self, reply):
        if not self._start_failed("writing this node's stream", reply.error):
            self.streams.last_ids[self.streams.node_key] = reply.value
            self.presence.start(self._presence_started)

    def _presence_started(self, error):
        if not self._start_failed("reading the other nodes' members", error):
            self.streams.last_ids[EVENTS_STREAM] = self.presence.start_id
            self.shared.load(self._shared_loaded)

    def _shared_loaded(self, error):
        if not self._start_failed("reading the accounts and bans", error):
            self.streams.mirror(LOBBY, self._lobby_mirrored)

    def _lobby_mirrored(self, error):
        if not self._start_failed("reading #lobby", error):
            self._starting = False
            self._reader_started = True
            self.streams.resume()   # ready once caught up

    def _start_failed(self, step, error):
        """Whether a start-up step failed; if so, say so and try again: on
        the next connection, or after a pause if Redis answered with an
        error (a key of the wrong type, Redis still loading its data)."""
        if error is None:
            return False
        self._starting = False
        log.warning("starting the cluster node: %s failed: %s", step, error)
        if self.redis.connected:
            self.server.loop.call_later(self.server.config.redis_backoff_max, self._start)
        return True

    def _caught_up(self):
        self.messages.caught_up()
        if not self.ready:
            self.ready = True
            log.info("cluster node %s ready (redis %s)", self.node_id, self.redis.url)
            self._start_deadline.cancel()
            self._let_in(self._before_ready)

    def _start_overdue(self):
        """Redis did not answer in time at start-up: refuse what waited."""
        self._let_in(self._before_ready)

    def _let_in(self, held):
        """Hand the requests held at start-up to the gate again, in order."""
        self._before_ready = None
        for conn, item in held or ():
            conn.retry(item)

    # -- requests ---------------------------------------------------------

    def gate(self, conn, item):
        """Whether this node took charge of the request (refused it, or
        will hand it to the core once Redis has answered)."""
        try:
            parsed = protocol.parse_request(item)
        except RequestError:
            return False   # the core answers it
        request, content = parsed.name, parsed.content
        if request in SHARED_CHANGES:
            if conn.logged_in and not self.available:
                self._error(conn, UNAVAILABLE)
                return True
            return False
        if request not in GATED or conn.logged_in == (request == "login"):
            return False   # the core answers (e.g. "log in first")
        if not self.available:
            if self._before_ready is not None:   # starting: wait for the node
                conn.hold()
                self._before_ready.append((conn, item))
            else:
                self._error(conn, UNAVAILABLE)
            return True
        if not isinstance(content, str):
            return False
        if request == "login":
            return self._gate_login(conn, item, content)
        if request == "join":
            return self._gate_join(conn, item, content)
        return False

    def _gate_login(self, conn, item, content):
        try:
            name = split_login(content)[0]
        except RequestError:
            return False
        key = name.lower()
        if key in self.core.users:
            return False   # taken here: the core says so

        def claimed(won, error):
            if not conn.is_open:
                if won:
                    self.names.release(key)
            elif error is not None:
                self._error(conn, UNAVAILABLE)
            elif not won:
                self._error(conn, "Username taken: %s is already logged in" % name)
            else:
                effects = self.core.handle(conn, item)
                if conn.key != key:   # refused by the core (ban, password): the
                    # lease goes back before the client hears no, or a retry
                    # on another node at once could find the name taken
                    self.names.release(key, lambda: self._answer(conn, effects))
                    return
                conn.carry_out(effects)
            conn.release()
        conn.hold()
        self.names.claim(name, claimed)
        return True

    @staticmethod
    def _answer(conn, effects):
        if conn.is_open:
            conn.carry_out(effects)
        conn.release()

    def _gate_join(self, conn, item, content):
        try:
            room_name = check_room_name(content)
        except RequestError:
            return False
        key = room_name.lower()
        core = self.core
        if self.streams.mirrored(key):
            return False
        if key not in core.rooms and len(core.rooms) - 1 >= core.max_rooms:
            return False   # the core refuses it (--max-rooms): nothing to read

        def mirrored(error):
            if conn.is_open and conn.logged_in:
                if error is not None:
                    self._error(conn, UNAVAILABLE)
                else:
                    conn.handle(item)
            if core.unmirror_room(key):   # nobody here went in after all
                self.streams.forget(key)
            conn.release()
        conn.hold()
        self.streams.mirror(room_name, mirrored)
        return True

    def _error(self, session, text):
        self.server.carry_out([self.core.error(session, text)])

    def unavailable(self, session):
        """Tell ``session`` its request could not go through Redis."""
        self._error(session, UNAVAILABLE)

    def _event(self, fields):
        """An entry of the shared events stream: presence, or a shared change."""
        node = fields.get("n")
        node = node.decode("utf-8", "replace") if isinstance(node, bytes) else None
        if node is None or node == self.node_id:
            return
        kind = fields.get("t")
        if kind in (b"j", b"l", b"s"):
            self.presence.event(node, kind, fields)
        elif kind == b"kick":
            self.direct.kicked(fields)
        elif kind == b"fail":
            host = fields.get("h")
            if isinstance(host, bytes):
                self.core.failed_login_elsewhere(host.decode("utf-8", "replace"))
        else:
            self.shared.event(kind, fields)

    def publish_event(self, **fields):
        """One event of this node in the shared stream; return the Reply."""
        return self.redis.call(*self.event_command(**fields))

    def event_command(self, **fields):
        """The XADD of one event of this node in the shared stream."""
        args = []
        for name, value in fields.items():
            args += (name, value)
        return ("XADD", EVENTS_STREAM, "MAXLEN", "~", EVENTS_LENGTH, "*",
                "n", self.node_id, *args)

    # -- the core's hooks (through ``ChatServer``) ---------------------------

    def name_freed(self, key):
        """Give the name's lease back: another node may take the name."""
        self.names.release(key)

    def login_failed(self, host):
        """A failed password attempt here counts on every node (best effort:
        while Redis is down it counts here only)."""
        if self.redis.connected:
            self.publish_event(t="fail", h=host)

    def _kick(self, session, text):
        self._error(session, text)
        session.close(text)

    def _trimmed(self, stream):
        """A stream moved on past what this node had read while it was cut off."""
        if not stream.startswith(ROOM_PREFIX):
            log.warning("%s was trimmed past what this node had read: some of its entries "
                        "were never seen here", stream)
            if stream == EVENTS_STREAM:   # read what the events would have said
                self._reread_owed = True
                self._reread()
            return
        room = self.core.rooms.get(stream[len(ROOM_PREFIX):])
        if room is not None and room.members:
            log.warning("%s was trimmed past what this node had read", room.label)
            payload = protocol.encode_response(self.core.clock.timestamp(),
                                               protocol.SERVER_SENDER, protocol.INFO,
                                               MISSED % room.label)
            self.server.carry_out([Broadcast(payload, room.recipients())])

    def moved(self, session, room, entered, notice):
        """``CoreHooks.moved``: tell the others; the last one here to leave
        a room ends this node's reading of it (else every room a user ever
        joined would stay in each read, its messages kept for nobody)."""
        self.presence.moved(session, room, entered, notice)
        if not entered and self.core.unmirror_room(room.key):
            self.streams.forget(room.key)

    def _reread(self):
        """Read the accounts, bans and members again (the events that said
        what changed were trimmed before this node read them); until that
        has worked the gate stays closed. Tried again when the connection
        comes back, or after a pause if Redis answered with an error."""
        if not self._reread_owed or self._rereading or not self.redis.connected:
            return
        self._rereading = 2
        failed = []

        def done(error):
            self._rereading -= 1
            if error is not None:
                failed.append(error)
            if self._rereading:
                return
            if not failed:
                self._reread_owed = False
            elif self.redis.connected:
                self.server.loop.call_later(self.server.config.redis_backoff_max, self._reread)
        self.shared.resync(done)
        self.presence.resync(done)

    def _name_lost(self, key):
        session = self.core.users.get(key)
        if session is not None:
            self._error(session, TAKEN_OVER % session.name)
            session.close("name taken over on another node")
