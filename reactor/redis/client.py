"""The Redis client: one server, its connection's life, and the call API.

Theory of operation
-------------------
A ``RedisClient`` holds at most one connection (``reactor.redis.connection``,
on a ``reactor.tcp`` transport) to the server named by a
``redis://HOST:PORT[/DB]`` URL (``rediss://``: over TLS, ``reactor.tls``,
verified against ``tls_context`` or the system's trust store). ``call(*args)`` returns a ``Reply`` at once
(``reactor.redis.reply``); the connection pipelines it with the others of
the loop pass.

States: *connecting* (TCP connect, then the handshake: AUTH and SELECT if
the URL asks, and a PING), *ready* (only now are calls accepted),
*waiting* (between attempts) and *closed*. The client is "connected" only
once Redis has answered the handshake, so a command never runs in the
wrong database. While it is not ready, ``call`` fails at once with
``Unavailable``: nothing is queued for later, the caller decides what to
do (retry, or tell its own user). When a ready connection is lost, every
call still waiting gets ``ConnectionLost`` exactly once (it may or may not
have run), ``on_disconnected(exc)`` is called, and the client reconnects by
itself after a delay that doubles per failed attempt up to
``backoff_max`` (with jitter, so many clients do not return in step);
``on_connected()`` is called on each success, for the owner to resume
its work.

A call waits ``reply_timeout`` for its reply (the connection's watchdog)
unless it carries its own ``timeout`` (a blocking command such as ``XREAD
BLOCK`` waits longer; ``None`` waits forever). Blocking commands hold up
everything behind them, so they go on a separate client: ``clone()``.
``call(..., atomic=True)`` puts a call in the pass's ``MULTI`` block (see
the connection). ``call_encoded(name, data)`` is ``call`` for a command
its caller encoded itself (a hot command whose first arguments never
change, kept encoded).

``on_round_trip(seconds)``, handed in at construction (and kept by
``clone`` unless overridden), hears each command's round trip, from the
write that carried it to its reply (a metrics histogram, say); None costs
nothing.

Every queue is bounded: ``max_pending`` calls awaiting replies,
``max_output_bytes`` of unsent commands, ``max_reply_size`` per reply; a
call past a bound fails at once with ``Overloaded``.
"""

import logging
import random

from ..resp import DEFAULT_MAX_REPLY_SIZE, ProtocolError, encode_command
from ..tcp import Connector
from ..tls import client_context, connect_tls
from .connection import Connection
from .reply import Overloaded, Reply, Unavailable
from .url import parse_url, uses_tls

__all__ = ["RedisClient"]

log = logging.getLogger("reactor.redis")

CONNECTING, READY, WAITING, CLOSED = "connecting", "ready", "waiting", "closed"

_DEFAULT = object()   # "use the client's reply_timeout"


def _notify(callback, *args):
    """Call an owner's state callback; its bug is logged, not ours to die of."""
    if callback is not None:
        try:
            callback(*args)
        except Exception:
            log.exception("error in redis state callback %r", callback)


class RedisClient:
    """A pipelined, reconnecting connection to one Redis server (see the
    module docstring). Every timing constant is an option."""

    def __init__(self, loop, url="redis://127.0.0.1:6379", *, connect_timeout=5.0,
                 reply_timeout=10.0, backoff_initial=0.1, backoff_max=5.0,
                 backoff_jitter=0.2, max_pending=100_000,
                 max_output_bytes=64 * 1024 * 1024, max_reply_size=DEFAULT_MAX_REPLY_SIZE,
                 tls_context=None, on_connected=None, on_disconnected=None,
                 on_round_trip=None):
        """``tls_context``: for a ``rediss://`` URL, the ``ssl.SSLContext``
        that verifies the server (default: the system's trust store)."""
        self.loop = loop
        self.url = url   # may hold the password: never log it (url.mask)
        self.host, self.port, self.db, self._user, self._password = parse_url(url)
        if uses_tls(url) and tls_context is None:
            tls_context = client_context()
        self._options = dict(
            connect_timeout=connect_timeout, reply_timeout=reply_timeout,
            backoff_initial=backoff_initial, backoff_max=backoff_max,
            backoff_jitter=backoff_jitter, max_pending=max_pending,
            max_output_bytes=max_output_bytes, max_reply_size=max_reply_size,
            tls_context=tls_context if uses_tls(url) else None, on_round_trip=on_round_trip)
        self.__dict__.update(self._options)
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.state = CONNECTING
        self.last_error = None       # why the last attempt or connection failed
        self._failures = 0           # attempts failed since the last success
        self._conn = None
        self._connector = None
        self._retry = None
        self._connect()

    @property
    def connected(self):
        return self.state is READY

    @property
    def pending(self):
        """Calls sent or queued and not yet answered."""
        return len(self._conn.waiting) if self._conn is not None else 0

    def clone(self, **overrides):
        """A new client to the same server with the same options (but no
        ``on_connected``/``on_disconnected`` unless given; ``on_round_trip``
        is kept): the separate connection that blocking commands need."""
        return RedisClient(self.loop, self.url, **{**self._options, **overrides})

    # -- calls ------------------------------------------------------------

    def call(self, *args, timeout=_DEFAULT, atomic=False):
        """Send one command; return its ``Reply``. ``timeout`` (seconds or
        None) overrides ``reply_timeout`` for this call; ``atomic`` puts it
        in this pass's MULTI block (see the module docstring)."""
        data = encode_command(args)   # a bad argument is the caller's bug: raise
        return self.call_encoded(args[0], data, timeout=timeout, atomic=atomic)

    def call_encoded(self, name, data, timeout=_DEFAULT, atomic=False):
        """``call`` for a command already encoded (``data``: one RESP array
        of bulk strings, from ``encode_command`` or pieces of it kept by a
        caller that sends the same command shape many times); ``name`` is
        its command's name, for messages."""
        reply = Reply(name)
        if self.state is not READY:
            reply.resolve(None, self._unavailable())
            return reply
        conn = self._conn
        if len(conn.waiting) >= self.max_pending:
            reply.resolve(None, Overloaded(
                "%s: %d redis calls already waiting" % (reply.name, self.max_pending)))
            return reply
        if conn.out_bytes + conn.transport.buffered + len(data) > self.max_output_bytes:
            reply.resolve(None, Overloaded(
                "%s: more than %d bytes already queued for redis"
                % (reply.name, self.max_output_bytes)))
            return reply
        reply.timeout = self.reply_timeout if timeout is _DEFAULT else timeout
        if atomic:
            conn.send_atomic(reply, data)
        else:
            conn.send(reply, data)
        return reply

    def flush_first(self):
        """Commands called from now on in this loop pass leave before the
        end-of-pass work registered after this call (the flushes of the
        deliveries a reply is about to cause, say): latency, not order; a
        no-op while not connected."""
        if self.state is READY:
            self._conn.reserve()

    def _unavailable(self):
        if self.state is CLOSED:
            return Unavailable("the redis client is closed")
        why = "connecting" if self.state is CONNECTING else "waiting to reconnect"
        if self.last_error is not None:
            why += "; last error: %s" % self.last_error
        return Unavailable("redis at %s:%d is unavailable (%s)" % (self.host, self.port, why))

    def close(self):
        """Stop for good: fail waiting calls, close the socket, no reconnect."""
        if self.state is CLOSED:
            return
        self.state = CLOSED
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._connector is not None:
            self._connector.cancel()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.drop(Unavailable("client closed"))

    # -- the connection's life --------------------------------------------

    def _connect(self):
        self._retry = None
        self.state = CONNECTING
        self._conn = conn = Connection(self.loop, self.max_reply_size,
                                       self._handshake, self._drop, self.on_round_trip)
        failed = lambda exc: self._attempt_failed(conn, exc)   # noqa: E731
        if self.tls_context is not None:
            self._connector = connect_tls(self.loop, self.host, self.port, conn, failed,
                                          self.tls_context, timeout=self.connect_timeout)
        else:
            self._connector = Connector(self.loop, self.host, self.port, conn, failed,
                                        timeout=self.connect_timeout)

    def _handshake(self, conn):
        """Authenticate and select the database before anyone else may
        call: the client is ready when the final PING is answered."""
        self._connector = None
        commands = []
        if self._password is not None:
            commands.append(("AUTH", self._user, self._password) if self._user
                            else ("AUTH", self._password))
        if self.db:
            commands.append(("SELECT", self.db))
        commands.append(("PING",))
        for args in commands:
            reply = Reply(args[0])
            reply.timeout = self.connect_timeout
            reply.add_done_callback(lambda r, conn=conn: self._handshake_step(conn, r))
            conn.send(reply, encode_command(args))

    def _handshake_step(self, conn, reply):
        if conn.dropped or self._conn is not conn:
            return
        if reply.error is not None:
            self._drop(conn, reply.error)
        elif reply.command == "PING" and reply.value != "PONG":
            # Not Redis: e.g. a socket connected to itself (a local port
            # with no listener, and the kernel chose that same port for us)
            # echoes our PING back as an array.
            self._drop(conn, ProtocolError("not a redis server: PING answered %r"
                                           % (reply.value,)))
        elif reply.command == "PING":
            self.state = READY
            self._failures = 0
            self.last_error = None
            log.info("connected to redis at %s:%d db %d%s", self.host, self.port, self.db,
                     " with TLS" if self.tls_context is not None else "")
            _notify(self.on_connected)

    def _attempt_failed(self, conn, exc):
        if self._conn is not conn or self.state is CLOSED:
            return
        self._connector = None
        self._conn = None
        self.last_error = exc
        self._schedule_retry()

    def _drop(self, conn, exc):
        """``conn`` is lost (peer gone, protocol error, timeout, failed handshake)."""
        if conn.dropped:
            return
        was_ready = self.state is READY and self._conn is conn
        if self._conn is conn:
            self._conn = None
            self.last_error = exc
            self._schedule_retry()   # before drop: callbacks see "not ready"
        conn.drop(exc)
        if was_ready:
            _notify(self.on_disconnected, exc)

    def _schedule_retry(self):
        delay = min(self.backoff_max, self.backoff_initial * 2 ** min(self._failures, 30))
        delay *= 1 - self.backoff_jitter * random.random()
        self._failures += 1
        self.state = WAITING
        log.warning("redis at %s:%d unavailable (%s); retrying in %.2f s",
                    self.host, self.port, self.last_error, delay)
        self._retry = self.loop.call_later(delay, self._connect)
