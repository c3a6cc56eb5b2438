"""The chat server: the reactor, the connections and the core wired together.

Theory of operation
-------------------
Per connection a ``ClientConnection`` (``chat/server/connection.py``, the
transport's protocol object) turns bytes into requests and hands them one
at a time to the pure ``ChatCore``; the effects that come back are carried
out by ``ChatServer.carry_out``: bytes for one connection or, for a
broadcast, the same bytes object for each recipient. Each connection's
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
import signal
import sys

from reactor.loop import EventLoop
from reactor.tcp import listen
from reactor.web import HttpConnection

from .. import limits
from ..core import Broadcast, ChatCore, Close, CoreHooks, Hash, Publish, RemoteKick, RemotePm, Send
from ..core.networks import AddressGroups, is_loopback
from ..protocol import Clock
from .cluster.node import Cluster, default_node_id
from .audit import AuditLog
from .config import ServerConfig, parse_args, raise_fd_limit, readable_by_others
from .connection import ClientConnection
from .group_commit import GroupCommit
from .hashing import HashPool
from .metrics import ServerMetrics
from .output import OutputLimits, OutputMeter
from .store_setup import close_store, open_configured_store, open_store
from .web import WebRoutes, load_web_files

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
        self.connections = set()
        self._per_host = collections.Counter()
        self.listener = None
        self.web_listener = None   # with --http-port
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
        self._ttl_timer = None
        self._retain_timer = None
        self._budget_logged = None   # loop time of the last "over budget" line
        self._pass_answers = 0       # bytes of answers (join, names...) this loop pass

    def start(self):
        self.listener = listen(self.loop, self.config.host, self.config.port,
                               lambda address: ClientConnection(self, address))
        if self.config.idle_timeout > 0:
            self._idle_timer = self.loop.call_later(self._idle_period(), self._idle_sweep)
        host, port = self.listener.address[:2]
        log.info("listening on %s:%d", host, port)
        if self.config.http_port is not None:
            self._start_web()
        if self.config.redis is not None:
            self.cluster = Cluster(self, self.config.node_id or default_node_id(host, port))
        if self.config.room_ttl > 0:
            self._ttl_timer = self.loop.call_later(self._ttl_period(), self._expire_rooms)
        if self.config.retain_messages or self.config.retain_days:
            self._retain_timer = self.loop.call_later(0, self._retain)
        return self.listener.address

    def _start_web(self):
        config = self.config
        files = load_web_files()
        origins = [origin.strip().rstrip("/").lower() for origin in config.web_origins]

        def http_connection(address):
            routes = WebRoutes(self, address, files, origins)
            return HttpConnection(self.loop, routes.route, config.max_request_size,
                                  config.http_timeout, config.http_timeout)
        self.web_listener = listen(self.loop, config.host, config.http_port, http_connection)
        host, port = self.web_listener.address[:2]
        log.info("web client on http://%s:%d/", host, port)

    def accepting_logins(self):
        """(whether logins are accepted now, a word on why), for /healthz."""
        if self._stopping:
            return False, "shutting down"
        if self.cluster is not None and not self.cluster.available:
            return False, "cluster node not ready"
        return True, "ok"

    # -- issue 21: rooms' TTL, retention, the history budget ------------------

    def _ttl_period(self):
        return min(60.0, max(0.05, self.config.room_ttl / 4))

    def _expire_rooms(self):
        expired = self.core.expire_rooms()
        if expired:
            log.info("%d empty room%s expired (--room-ttl %g s)", expired,
                     "" if expired == 1 else "s", self.config.room_ttl)
        self._ttl_timer = self.loop.call_later(self._ttl_period(), self._expire_rooms)

    def _retain(self):
        """One small step of retention; the next soon if there is more."""
        if self.commits is not None and self.commits.holding:
            more = True   # after this pass's commit
        else:
            more = self.core.store.retain(limits.RETAIN_BATCH)
        self._retain_timer = self.loop.call_later(
            0.0 if more else self.config.retain_interval, self._retain)

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
        self.connections.add(conn)
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
            self.connections.discard(conn)
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
                for session in recipients:  # the hot path: one call per recipient
                    session.output.send(data)
                metrics.deliveries.inc(len(recipients))
                metrics.bytes_out.inc(len(recipients) * len(data))
            elif kind is Send:
                effect.session.send(effect.data)
                metrics.deliveries.inc()
                metrics.bytes_out.inc(len(effect.data))
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
        for listener in (self.listener, self.web_listener):
            if listener is not None:
                listener.close()
        for timer in (self._presence_timer, self._idle_timer, self._login_timer,
                      self._ttl_timer, self._retain_timer):
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


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fd_limit = raise_fd_limit(args.max_clients + 64)
    if fd_limit is not None and fd_limit < args.max_clients + 64:
        log.warning("open-file limit %d is below --max-clients %d: accepts will back off "
                    "when descriptors run out", fd_limit, args.max_clients)
    options = {k: v for k, v in vars(args).items() if k not in ("host", "port", "log_level")}
    config = ServerConfig(args.host, args.port, **options)
    problems = config.check()
    if problems:
        for problem in problems:
            print("chat.server: error: %s" % problem, file=sys.stderr)
        return 1
    try:
        audit = AuditLog(config.audit_log)
    except OSError as exc:
        print("chat.server: error: --audit-log %s: %s" % (config.audit_log,
                                                         exc.strerror or exc), file=sys.stderr)
        return 1
    store, loaded = open_configured_store(config)
    if store is None:
        audit.close()
        return 1
    for path in readable_by_others([config.oper_password_file, config.db, config.audit_log,
                                    config.cluster_key_file]):
        log.warning("%s holds secrets and others can read it: chmod 600 %s", path, path)
    loop = EventLoop()
    server = ChatServer(loop, config, store, audit)
    # Handlers first: a signal that arrives as soon as we listen is queued
    # and handled by the loop's first pass, never a crash.
    loop.add_signal_handler(signal.SIGINT, server.shutdown)
    loop.add_signal_handler(signal.SIGTERM, server.shutdown)
    try:
        server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc.strerror or exc)
        loop.close()
        store.close()
        return 1
    # After "listening on": tools read the port from the first log line.
    log.info("operators: %s", "enabled (password configured)" if config.oper_password
             else "disabled (no operator password configured)")
    log.info("%s", loaded)
    try:
        loop.run()
    finally:
        if server.cluster is not None:
            server.cluster.close(loop)
        server.hashing.close()
        loop.close()
        close_store(server)
        audit.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
