"""The chat server: the reactor, the connections and the core wired together.

Theory of operation
-------------------
Per connection a ``ClientConnection`` (``chat/server/connection.py``, the
transport's protocol object) turns bytes into requests and hands them one
at a time to the pure ``ChatCore``; the effects that come back are carried
out by ``ChatServer.carry_out``: bytes for one connection or, for a
broadcast, the same bytes object for each recipient, batched per room and loop pass
by a ``Fanout`` (``chat/server/fanout.py``). Each connection's
``Output`` (``chat/server/output.py``) paces, counts and caps what it owes its
client; transports flush at the end of each loop pass, so everything a
connection was given during a pass leaves in one ``send``.

The server owns what is shared: the listener, the admission caps (all
connections, per address), one login-deadline timer for every connection,
the idle sweep, the coalesced presence timer, the total output meter, and
a graceful shutdown bounded by its grace period. Every limit is named in
``chat/limits.py``; ``ServerConfig.check()`` refuses combinations whose
worst case the output caps cannot hold.

With a durable store (``--db``, ``chat/store``) a ``GroupCommit``
(``chat/server/group_commit.py``) sits between ``carry_out`` and the connections:
the effects of a pass wait for that pass's one commit.

Password hashes (the core's ``Hash`` effects) are computed by a
``HashPool`` (``chat/server/hashing.py``), a few worker threads behind a
queue fair across address groups; meanwhile the connection that asked is
held (``ClientConnection.hold``), and the digest comes back through the
loop's wake-up, where the core's continuation gives the rest of the effects.

Issue 21's budgets live here too: a timer expires empty rooms past
``--room-ttl`` (``ChatCore.expire_rooms``), another runs the store's
retention in small steps between passes (``store.retain``), and the log
says when the rooms with members alone exceed ``--max-history-memory``.

With ``--redis`` the server is a cluster node: a ``Cluster``
(``chat/server/cluster``) sees each request first (``gate``) and carries the
core's ``Publish``, ``RemotePm`` and ``RemoteKick`` effects through Redis.
"""

import collections
import logging

from reactor.tcp import listen

from .. import limits
from ..core import Broadcast, ChatCore, Close, CoreHooks, Hash, Publish, RemoteKick, RemotePm, Send
from ..core.networks import AddressGroups, is_loopback
from ..protocol import Clock
from .audit import AuditLog
from .cluster.node import Cluster, default_node_id
from .connection import ClientConnection
from .fanout import Fanout
from .group_commit import GroupCommit
from .hashing import HashPool
from .metrics import ServerMetrics
from .output import OutputLimits, OutputMeter
from .store_setup import open_store
from .tls import ServerTLS
from .upkeep import Upkeep
from .web import listen_web

log = logging.getLogger("chat.server")

SERVER_BUSY = "server busy: too many password checks from your network, try again in a moment"

class ChatServer(CoreHooks):
    """Owns the listener, the core and every connection; the core's hooks
    (``chat/core/hooks.py``) are its methods, which matter to a cluster node."""

    def __init__(self, loop, config, store=None, audit=None):
        """``store``: what remembers (``chat/store``); by default memory only.
        ``audit``: where security events go (``AuditLog``; by default the log)."""
        self.loop = loop
        self.config = config
        self.audit_log = AuditLog() if audit is None else audit
        if store is None:
            store = open_store(None, config.history_limit)
        self.core = ChatCore(Clock(), store, self, history_limit=config.history_limit,
                             max_message_length=config.max_message_length,
                             max_message_bytes=config.max_message_bytes,
                             max_rooms=config.max_rooms, max_accounts=config.max_accounts,
                             oper_password=config.oper_password,
                             failed_login_limit=config.failed_login_limit,
                             failed_login_window=config.failed_login_window,
                             failed_login_group_limit=config.failed_login_group_limit,
                             registration_limit=config.registration_limit,
                             scrypt_n=config.scrypt_n,
                             groups=AddressGroups(config.ipv4_group_prefix,
                                                  config.ipv6_group_prefix),
                             now=loop.time, shared_log=config.redis is not None,
                             max_message_lines=config.max_message_lines,
                             max_history_memory=config.max_history_memory,
                             room_ttl=config.room_ttl, room_creations=config.room_creations)
        self.hashing = HashPool(loop, config.hash_threads, config.hash_queue)
        self.meter = OutputMeter()   # bytes owed to the clients past the pause mark
        self.metrics = ServerMetrics(self)
        loop.observe_passes(self.metrics.pass_seconds.observe)
        self.output_limits = OutputLimits(
            config.pause_output, config.max_output, config.max_total_output, self.meter,
            config.pace_ms / 1000.0, config.pace_min_ms / 1000.0, config.close_deadline)
        self.fanout = Fanout(loop, config.pause_output, config.fanout_min_members)
        # Every open connection, as the keys of a dict: at 10 000 entries a
        # set's table takes 512 KiB, a dict's 294 (about 23 bytes a connection).
        self.connections = {}
        self._per_host = collections.Counter()
        self.listener = None
        self.web_listeners = []    # with --http-port / --https-port
        self.tls = None            # a ServerTLS with --tls-port (chat/server/tls.py)
        self.tls_listener = None
        self._presence_timer = None
        self._last_presence = -config.presence_interval
        self._idle_timer = None
        self._awaiting_login = {}   # connection -> login deadline, in accept order
        self._login_timer = None
        self.tracks_idle = config.idle_timeout > 0
        self._stopping = False
        self.cluster = None   # a Cluster once listening, with --redis
        self.commits = None   # a GroupCommit when the store is durable
        if self.core.store.durable:
            self.commits = GroupCommit(loop, self.core.store, self.core, self.carry_out_now,
                                       config.store_retry, config.store_timeout,
                                       self.metrics.commit_seconds.observe)
        self.upkeep = Upkeep(self)   # rooms' expiry, retention (issue 21)
        self._budget_logged = None   # loop time of the last "over budget" line
        self._pass_answers = 0       # bytes of answers (join, names...) this loop pass

    def start(self):
        """Listen (plain, TLS or both); return the first listener's address.

        The TLS listener opens first: whoever sees the plain port accept
        (a harness, a test) finds the TLS port accepting too."""
        if self.config.tls_port is not None:
            self._start_tls()
        if not self.config.tls_only:
            self.listener = listen(self.loop, self.config.host, self.config.port,
                                   lambda address: ClientConnection(self, address))
            log.info("listening on %s:%d", *self.listener.address[:2])
        if self.tls_listener is not None:
            log.info("listening with TLS on %s:%d", *self.tls_listener.address[:2])
        if self.config.idle_timeout > 0:
            self._idle_timer = self.loop.call_later(self._idle_period(), self._idle_sweep)
        address = (self.listener or self.tls_listener).address
        if self.config.http_port is not None or self.config.https_port is not None:
            self.web_listeners = listen_web(self)
        if self.config.redis is not None:
            self.cluster = Cluster(self, self.config.node_id or default_node_id(*address[:2]))
        self.upkeep.start()
        return address

    def _start_tls(self):
        """The TLS listener beside the plain one (loads the certificate:
        raises ``TLSFileError``, or ``OSError`` if the port is taken)."""
        if self.tls is None:
            self.tls = ServerTLS(self.loop, self.config)
        tls = self.tls
        self.tls_listener = listen(self.loop, self.config.host, self.config.tls_port,
                                   lambda address: tls.wrap(ClientConnection(self, address)))
        tls.listening_on(self.tls_listener.address[1])

    def reload_tls(self):
        """SIGHUP: read the certificate again; open connections stay."""
        if self.tls is not None:
            self.tls.reload()

    def password_refusal(self, conn, item):
        """PROTOCOL.md section 4: a password sent in clear while a TLS
        listener exists gets this error text (None: handle the request)."""
        if self.tls is None:
            return None
        return self.tls.password_refusal(conn.transport, item)

    def accepting_logins(self):
        """(whether logins are accepted now, a word on why), for /healthz."""
        if self._stopping:
            return False, "shutting down"
        if self.cluster is not None and not self.cluster.available:
            return False, "cluster node not ready"
        return True, "ok"

    # -- issue 21: the answers of a pass, the history budget -------------------

    def answers_allowed(self):
        """Whether this loop pass may still write a heavy answer."""
        return self._pass_answers < limits.PASS_ANSWER_BYTES

    def count_answer(self, size):
        if not self._pass_answers:
            self.loop.at_end_of_pass(self._new_pass)
        self._pass_answers += size or 1

    def _new_pass(self):
        self._pass_answers = 0

    def history_budget_exceeded(self, held, limit):
        now = self.loop.time()
        if self._budget_logged is None or now - self._budget_logged >= 60.0:
            self._budget_logged = now
            log.warning("rooms with members hold %d bytes of history, over "
                        "--max-history-memory %d: new rooms are refused", held, limit)

    # -- connections ------------------------------------------------------------

    def admit(self, conn):
        """Register a new connection; return a refusal text, or None."""
        if self._stopping:
            return "server is shutting down"
        if len(self.connections) >= self.config.max_clients:
            return "server full: %d connections, try again later" % self.config.max_clients
        limit = self.config.max_per_ip
        if limit and self._per_host[conn.host] >= limit and not is_loopback(conn.host):
            return "too many connections from your address (limit %d)" % limit
        self.connections[conn] = None
        self._per_host[conn.host] += 1
        return None

    def expect_login(self, conn):
        """Start the login deadline of a new connection (from accept)."""
        if self.config.login_timeout > 0:
            self._awaiting_login[conn] = self.loop.time() + self.config.login_timeout
            if self._login_timer is None:
                self._arm_login_timer()

    def login_done(self, conn):
        self.metrics.logins.inc()
        self._awaiting_login.pop(conn, None)
        if not self._awaiting_login:
            self._awaiting_login = {}  # let a login storm's table go

    def _arm_login_timer(self):
        # One timer for every connection: deadlines come in accept order,
        # so the earliest is always the first entry.
        first_deadline = next(iter(self._awaiting_login.values()))
        self._login_timer = self.loop.call_at(first_deadline, self._login_sweep)

    def _login_sweep(self):
        self._login_timer = None
        now = self.loop.time()
        while self._awaiting_login:
            conn, deadline = next(iter(self._awaiting_login.items()))
            if deadline > now:
                self._arm_login_timer()
                return
            del self._awaiting_login[conn]
            conn.login_expired()

    def forget(self, conn):
        """A connection is gone: free its name and its slot."""
        self._awaiting_login.pop(conn, None)
        self.core.disconnect(conn)
        self.presence_changed()
        if conn in self.connections:
            del self.connections[conn]
            self._per_host[conn.host] -= 1
            if not self._per_host[conn.host]:
                del self._per_host[conn.host]
        if self._stopping and not self.connections:
            self.loop.stop()

    # -- effects ---------------------------------------------------------------

    def carry_out(self, effects):
        """Carry out the core's effects, in order (after this pass's commit
        if the store has changes to commit). A ``Hash`` (always the last
        effect of a request) goes to the hashing pool at once."""
        if effects and type(effects[-1]) is Hash:
            self._hash(effects[-1])
            effects = effects[:-1]
        if self.commits is not None and self.commits.hold(effects):
            return
        self.carry_out_now(effects)

    def carry_out_now(self, effects):
        """Carry out the core's effects, in order, now."""
        metrics = self.metrics
        for effect in effects:
            kind = type(effect)
            if kind is Broadcast:
                data = effect.data
                recipients = effect.recipients
                self.fanout.broadcast(data, recipients)   # the hot path
                metrics.delivered += len(recipients)
                metrics.sent_bytes += len(recipients) * len(data)
            elif kind is Send:
                effect.session.send(effect.data)
                metrics.delivered += 1
                metrics.sent_bytes += len(effect.data)
            elif kind is Close:
                effect.session.close(effect.reason)
            elif kind is Publish:
                self.cluster.publish(effect)
            elif kind is RemotePm:
                self.cluster.remote_pm(effect)
            elif kind is RemoteKick:
                self.cluster.remote_kick(effect)
        self.presence_changed()

    def _hash(self, effect):
        """Hold the connection while the pool computes ``effect``'s digest;
        then carry out what the core's continuation returns."""
        conn = effect.session

        def done(digest):
            if not conn.is_open:
                return   # gone meanwhile: the answer has nobody to go to
            more = effect.then(digest)
            conn.carry_out(more)
            if not (more and type(more[-1]) is Hash):
                conn.release()

        if self.hashing.submit(effect, done):
            conn.hold()
        else:
            log.info("%s: hashing queue of %s full", conn, effect.group)
            self.carry_out([self.core.error(conn, SERVER_BUSY)])
            conn.release()

    # -- the core's hooks: news for the other nodes of a cluster ---------------

    def name_freed(self, key):
        if self.cluster is not None:
            self.cluster.name_freed(key)

    def moved(self, session, room, entered, notice):
        if self.cluster is not None:
            self.cluster.moved(session, room, entered, notice)

    def room_dropped(self, room, by):
        if self.cluster is not None:
            self.cluster.room_dropped(room, by)

    def login_failed(self, group, name):
        self.metrics.failed_logins.inc()
        if self.cluster is not None:
            self.cluster.login_failed(group, name)

    def audit(self, event, address, name, by=None):
        self.audit_log.record(event, address, name, by)

    def close_output(self, output):
        """Close a connection's output after what is held for it."""
        if self.commits is not None and self.commits.holding:
            self.commits.defer(output.close)
        else:
            output.close()

    def presence_changed(self):
        """Arm the presence timer if a notice is owed and none is armed."""
        if self._presence_timer is None and self.core.presence_pending and not self._stopping:
            when = max(self.loop.time(), self._last_presence + self.config.presence_interval)
            self._presence_timer = self.loop.call_at(when, self._flush_presence)

    def _flush_presence(self):
        self._presence_timer = None
        self._last_presence = self.loop.time()
        self.carry_out(self.core.flush_presence())

    # -- idle sweep and shutdown ----------------------------------------------

    def _idle_period(self):
        return max(0.5, self.config.idle_timeout / 4)

    def _idle_sweep(self):
        deadline = self.loop.time() - self.config.idle_timeout
        for conn in list(self.connections):
            # A client whose requests wait (flood control) is not idle.
            if conn.logged_in and conn.last_activity < deadline and not conn.waiting:
                conn.send(self.core.error(conn, "idle timeout: no request for %g seconds"
                                          % self.config.idle_timeout).data)
                conn.close("idle timeout")
        self._idle_timer = self.loop.call_later(self._idle_period(), self._idle_sweep)

    def shutdown(self):
        """Tell everyone, flush (bounded by the grace period), stop the loop."""
        if self._stopping:
            return
        self._stopping = True
        log.info("shutting down: %d connections", len(self.connections))
        for listener in (self.listener, self.tls_listener, *self.web_listeners):
            if listener is not None:
                listener.close()
        self.upkeep.stop()
        for timer in (self._presence_timer, self._idle_timer, self._login_timer):
            if timer is not None:
                timer.cancel()
        # The deadline first: nothing below may delay it, whatever the backlog.
        self.loop.call_later(self.config.shutdown_grace, self._shutdown_deadline)
        notice = self.core.info_to_all("Server is shutting down").data
        for conn in list(self.connections):
            conn.flush_for_shutdown(notice)
        if not self.connections:
            self.loop.stop()

    def _shutdown_deadline(self):
        for conn in list(self.connections):
            log.info("%s dropped at shutdown with %d bytes unsent", conn, conn.output.size)
            conn.output.abort()
        self.loop.stop()
