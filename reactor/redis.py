"""A pipelined, reconnecting Redis client on ``reactor.loop.EventLoop``.

Theory of operation
-------------------
A ``RedisClient`` holds at most one TCP connection (a ``reactor.tcp``
transport) to the server named by a ``redis://HOST:PORT[/DB]`` URL.
``call(*args)`` returns a ``Reply`` at once; Redis answers commands in
the order it received them, so the connection keeps the replies it is
waiting for in a FIFO and hands each parsed reply (``reactor.resp``) to the
oldest. Commands issued during one loop pass are joined and leave in one
write at the end of the pass, however many there are (pipelining); a call
made from outside the loop's callbacks leaves at the end of the next pass.

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

A server that stops answering while the socket stays open (stopped,
partitioned) is noticed by ``reply_timeout``: if calls are waiting and no
byte has arrived for that long since the connection became busy or last
made progress, the connection is dropped as lost. A call may carry its
own ``timeout`` (a blocking command such as ``XREAD BLOCK`` waits longer;
``None`` waits forever). Blocking commands hold up everything behind them,
so they go on a separate client: ``client.clone()``.

Atomic calls (``call(..., atomic=True)``): consecutive ones of one pass
leave wrapped in ``MULTI`` ... ``EXEC``, still in the pass's one write and
in call order with the others (a plain call in between closes the block).
Redis then runs them back to back, and answers a client blocked on their
keys (``XREAD BLOCK``) only after the last of them: a pass's appends reach
a reader in one reply, not the first alone and the rest a reply later.
Each atomic call's ``Reply`` gets its own answer from ``EXEC``'s (or the
error that refused it when queued, or the one that lost the block).

Every queue is bounded: ``max_pending`` calls awaiting replies,
``max_output_bytes`` of unsent commands, ``max_reply_size`` per reply; a
call past a bound fails at once with ``Overloaded``. Publish/subscribe and
MONITOR, whose replies are not one per command, are not supported here.
"""

import collections
import logging
import random
import reprlib
import urllib.parse

from .resp import (DEFAULT_MAX_REPLY_SIZE, ProtocolError, RedisError, ReplyError,
                   ReplyParser, encode_command)
from .tcp import Connector

__all__ = ["RedisClient", "Reply", "RedisError", "ReplyError", "ProtocolError",
           "Unavailable", "Overloaded", "ConnectionLost", "parse_url"]

log = logging.getLogger("reactor.redis")

CONNECTING, READY, WAITING, CLOSED = "connecting", "ready", "waiting", "closed"

_DEFAULT = object()   # "use the client's reply_timeout"
_MULTI = encode_command(("MULTI",))
_EXEC = encode_command(("EXEC",))


class Unavailable(RedisError):
    """The call was refused without being sent: not connected, or closed."""


class Overloaded(Unavailable):
    """The call was refused without being sent: a queue bound was reached."""


class ConnectionLost(RedisError):
    """The connection was lost after the call was accepted: it may or may
    not have run."""


def parse_url(url):
    """``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` -> (host, port, db, user, password)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError("not a redis:// URL: %r" % url)
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError("bad port in %r" % url) from None
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError("the database in %r must be a number" % url)
    if parts.query or parts.fragment:
        raise ValueError("no options are understood in %r" % url)
    password = urllib.parse.unquote(parts.password) if parts.password else None
    user = urllib.parse.unquote(parts.username) if parts.username else None
    return parts.hostname or "127.0.0.1", port, int(path or 0), user, password


class Reply:
    """The future result of one call: ``done``, then ``value`` or ``error``.

    ``add_done_callback(fn)`` calls ``fn(reply)`` once it is done (at once
    if it already is). ``result()`` returns the value or raises the error.
    """

    __slots__ = ("command", "done", "value", "error", "timeout", "_callbacks")

    def __init__(self, command, timeout=None):
        self.command = command
        self.done = False
        self.value = None
        self.error = None
        self.timeout = timeout
        self._callbacks = None

    @property
    def name(self):
        """The command's name as text, for messages."""
        command = self.command
        return command.decode("ascii", "replace") if isinstance(command, bytes) else str(command)

    def add_done_callback(self, fn):
        if self.done:
            _run_callback(fn, self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def result(self):
        if not self.done:
            raise RuntimeError("%s: no reply yet" % self.name)
        if self.error is not None:
            raise self.error
        return self.value

    def resolve(self, value, error):
        """Settle the call (for whoever sent it): ``value``, or ``error``."""
        self.done = True
        self.value = value
        self.error = error
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for fn in callbacks:
                _run_callback(fn, self)

    def __repr__(self):
        # bounded: it goes into log lines, and a value may be megabytes
        state = ("error %s" % _short(self.error) if self.error is not None
                 else "value %s" % _short(self.value) if self.done else "pending")
        return "<Reply %s: %s>" % (self.name, state)


def _short(value):
    return reprlib.repr(value)


def _run_callback(fn, reply):
    # One caller's bug must not cost the other callers their replies.
    try:
        fn(reply)
    except Exception:
        log.exception("error in the callback of %r", reply)


def _notify(callback, *args):
    """Call an owner's state callback; its bug is logged, not ours to die of."""
    if callback is not None:
        try:
            callback(*args)
        except Exception:
            log.exception("error in redis state callback %r", callback)


class _Connection:
    """One TCP connection's protocol object: output batch, reply FIFO, watchdog.

    Its owner is told ``on_open(conn)`` once the socket is up (to send its
    handshake) and ``on_lost(conn, exc)`` when the connection breaks (peer
    gone, a bad reply, no reply in time); the owner then ``drop``s it.
    """

    def __init__(self, loop, max_reply_size, on_open, on_lost):
        self.loop = loop
        self.on_open = on_open
        self.on_lost = on_lost
        self.transport = None
        self.parser = ReplyParser(max_reply_size)
        self.waiting = collections.deque()   # Replies, oldest first
        self.out = []                        # encoded commands not yet written
        self.out_bytes = 0
        self.last_progress = 0.0             # loop time of the last sign of life
        self.watchdog = None
        self.dropped = False
        self.block = None                    # the open MULTI: [(Reply, its QUEUED answer)]

    # -- sending --------------------------------------------------------

    def send(self, reply, data):
        if self.block is not None:
            self._close_block()
        self._queue(reply, data)

    def send_atomic(self, reply, data):
        """Queue a command inside this pass's MULTI block (opened if need be);
        ``reply`` is resolved from EXEC's answer, or its own refusal."""
        if self.block is None:
            self.block = []
            self._queue(Reply("MULTI", reply.timeout), _MULTI)
        queued = Reply(reply.command, reply.timeout)   # "QUEUED", or why not
        self.block.append((reply, queued))
        self._queue(queued, data)

    def _close_block(self):
        block, self.block = self.block, None
        executed = Reply("EXEC", block[0][0].timeout)
        executed.add_done_callback(lambda answer: _resolve_block(block, answer))
        self._queue(executed, _EXEC)

    def _queue(self, reply, data):
        if not self.waiting:
            self.last_progress = self.loop.time()
        self.waiting.append(reply)
        if not self.out:
            self.loop.at_end_of_pass(self.flush)
        self.out.append(data)
        self.out_bytes += len(data)
        if self.watchdog is None and reply.timeout is not None:
            self._arm_watchdog()

    def flush(self):
        """End of pass: everything called this pass leaves in one write."""
        if self.block is not None and not self.dropped:
            self._close_block()
        out, self.out, self.out_bytes = self.out, [], 0
        if out and not self.dropped:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    # -- the protocol interface (reactor.tcp) ---------------------------

    def connection_made(self, transport):
        self.transport = transport
        self.on_open(self)

    def data_received(self, data):
        self.last_progress = self.loop.time()
        try:
            replies = self.parser.feed(data)
        except ProtocolError as exc:
            self.on_lost(self, exc)
            return
        waiting = self.waiting
        for value in replies:
            if self.dropped:
                return   # a callback closed the client
            if not waiting:
                self.on_lost(self, ProtocolError("a reply that no command asked for"))
                return
            reply = waiting.popleft()
            if value.__class__ is ReplyError:
                reply.resolve(None, value)
            else:
                reply.resolve(value, None)
        if waiting and self.watchdog is None:
            self._arm_watchdog()

    def eof_received(self):
        self.on_lost(self, ConnectionResetError("redis closed the connection"))
        return False

    def connection_lost(self, exc):
        self.on_lost(self, exc or ConnectionResetError("connection closed"))

    # -- liveness ---------------------------------------------------------

    def _arm_watchdog(self):
        timeout = self.waiting[0].timeout
        if timeout is not None:
            self.watchdog = self.loop.call_at(self.last_progress + timeout, self._check)

    def _check(self):
        self.watchdog = None
        if self.dropped or not self.waiting:
            return
        timeout = self.waiting[0].timeout
        if timeout is None:
            return   # re-armed when the blocking call is answered
        if self.loop.time() - self.last_progress >= timeout:
            self.on_lost(self, TimeoutError("no reply from redis within %g s" % timeout))
        else:
            self._arm_watchdog()

    def drop(self, exc):
        """Close the socket and fail every waiting call, each exactly once."""
        self.dropped = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        if self.transport is not None:
            self.transport.abort()
        self.out, self.out_bytes = [], 0
        waiting, self.waiting = self.waiting, collections.deque()
        block, self.block = self.block, None   # its EXEC was never sent
        for reply in waiting:
            reply.resolve(None, _lost(reply, exc))
        for reply, _queued in block or ():
            reply.resolve(None, _lost(reply, exc))


def _lost(reply, exc):
    return ConnectionLost("%s: connection to redis lost before its reply (%s); "
                          "it may or may not have run" % (reply.name, exc))


def _resolve_block(block, answer):
    """Hand each call of a MULTI block its part of EXEC's ``answer``."""
    values, error = answer.value, answer.error
    if error is None and (type(values) is not list or len(values) != len(block)):
        error = ProtocolError("EXEC answered %r to %d commands" % (values, len(block)))
    for i, (reply, queued) in enumerate(block):
        if queued.error is not None:     # refused when queued (EXEC says EXECABORT)
            reply.resolve(None, queued.error)
        elif error is not None:
            reply.resolve(None, error)
        elif values[i].__class__ is ReplyError:
            reply.resolve(None, values[i])
        else:
            reply.resolve(values[i], None)


class RedisClient:
    """A pipelined, reconnecting connection to one Redis server (see the
    module docstring). Every timing constant is an option."""

    def __init__(self, loop, url="redis://127.0.0.1:6379", *, connect_timeout=5.0,
                 reply_timeout=10.0, backoff_initial=0.1, backoff_max=5.0,
                 backoff_jitter=0.2, max_pending=100_000,
                 max_output_bytes=64 * 1024 * 1024, max_reply_size=DEFAULT_MAX_REPLY_SIZE,
                 on_connected=None, on_disconnected=None):
        self.loop = loop
        self.url = url
        self.host, self.port, self.db, self._user, self._password = parse_url(url)
        self._options = dict(
            connect_timeout=connect_timeout, reply_timeout=reply_timeout,
            backoff_initial=backoff_initial, backoff_max=backoff_max,
            backoff_jitter=backoff_jitter, max_pending=max_pending,
            max_output_bytes=max_output_bytes, max_reply_size=max_reply_size)
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
        callbacks unless given): the separate connection that blocking
        commands need."""
        return RedisClient(self.loop, self.url, **{**self._options, **overrides})

    # -- calls ------------------------------------------------------------

    def call(self, *args, timeout=_DEFAULT, atomic=False):
        """Send one command; return its ``Reply``. ``timeout`` (seconds or
        None) overrides ``reply_timeout`` for this call; ``atomic`` puts it
        in this pass's MULTI block (see the module docstring)."""
        data = encode_command(args)   # a bad argument is the caller's bug: raise
        reply = Reply(args[0])
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
        self._conn = conn = _Connection(self.loop, self.max_reply_size,
                                        self._handshake, self._drop)
        self._connector = Connector(self.loop, self.host, self.port, conn,
                                    lambda exc: self._attempt_failed(conn, exc),
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
            log.info("connected to redis at %s:%d db %d", self.host, self.port, self.db)
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
