"""One TCP connection to Redis: pipelining, MULTI blocks and the reply watchdog.

Theory of operation
-------------------
A ``Connection`` is the protocol object of one ``reactor.tcp`` transport.
Redis answers commands in the order it received them, so the connection
keeps the replies it is waiting for in a FIFO and hands each parsed reply
(``reactor.resp``) to the oldest. Commands sent during one loop pass are
joined and leave in one write at the end of the pass, however many there
are (pipelining); a call made from outside the loop's callbacks leaves at
the end of the next pass. The write takes its place among the pass's end
hooks with the first command, or earlier if the owner ``reserve``s it (so
that commands leave before, say, the writes to clients of that pass). A reply beyond ``max_reply_size``, or one that
no command asked for, breaks the connection.

A server that stops answering while the socket stays open (stopped,
partitioned) is noticed by the watchdog: if calls are waiting and no byte
has arrived for the oldest one's ``timeout`` since the connection became
busy or last made progress, the connection is lost. A call whose timeout
is ``None`` (a blocking command such as ``XREAD BLOCK``) waits forever.

Atomic calls (``send_atomic``): consecutive ones of one pass leave wrapped
in ``MULTI`` ... ``EXEC``, still in the pass's one write and in call order
with the others (a plain call in between closes the block). Redis then
runs them back to back, and answers a client blocked on their keys
(``XREAD BLOCK``) only after the last of them: a pass's appends reach a
reader in one reply, not the first alone and the rest a reply later. Each
atomic call's ``Reply`` gets its own answer from ``EXEC``'s (or the error
that refused it when queued, or the one that lost the block).

Round trips (``on_round_trip(seconds)``, if given): the time from the
write that carried a command to its reply. Commands are numbered as they
are queued and replies as they come (Redis answers in order); each write
remembers the number of the last command it carried and the loop's time,
one small tuple per write (per pass), none per command. A reply's round
trip is then measured against the first write whose last number is at
least the reply's.

The connection decides nothing about reconnecting: it tells its owner
(``reactor.redis.client``) that it is open or lost, and the owner drops it,
which fails every waiting call with ``ConnectionLost``, each exactly once.
"""

import collections

from ..resp import ProtocolError, ReplyError, ReplyParser, encode_command
from .reply import ConnectionLost, Reply

__all__ = ["Connection"]

_MULTI = encode_command(("MULTI",))
_EXEC = encode_command(("EXEC",))


class Connection:
    """One TCP connection's protocol object: output batch, reply FIFO, watchdog.

    Its owner is told ``on_open(conn)`` once the socket is up (to send its
    handshake) and ``on_lost(conn, exc)`` when the connection breaks (peer
    gone, a bad reply, no reply in time); the owner then ``drop``s it.
    """

    def __init__(self, loop, max_reply_size, on_open, on_lost, on_round_trip=None):
        self.loop = loop
        self.on_open = on_open
        self.on_lost = on_lost
        self.on_round_trip = on_round_trip   # fn(seconds) per reply, or None
        self.queued = 0                      # commands queued so far (numbered)
        self.answered = 0                    # replies received so far
        self.writes = collections.deque()    # (number of its last command, time), oldest first
        self.transport = None
        self.parser = ReplyParser(max_reply_size)
        self.waiting = collections.deque()   # Replies, oldest first
        self.out = []                        # encoded commands not yet written
        self.flush_due = False               # flush() is among this pass's end hooks
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
        self.queued += 1
        if not self.flush_due:
            self.reserve()
        self.out.append(data)
        self.out_bytes += len(data)
        if self.watchdog is None and reply.timeout is not None:
            self._arm_watchdog()

    def reserve(self):
        """Take this pass's place for the flush now: what is called later in
        the pass leaves before the end-of-pass work registered after this
        (see ``RedisClient.flush_first``)."""
        if not self.flush_due:
            self.flush_due = True
            self.loop.at_end_of_pass(self.flush)

    def flush(self):
        """End of pass: everything called this pass leaves in one write."""
        self.flush_due = False
        if self.block is not None and not self.dropped:
            self._close_block()
        out, self.out, self.out_bytes = self.out, [], 0
        if out and not self.dropped:
            if self.on_round_trip is not None:
                self.writes.append((self.queued, self.loop.time()))
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
        round_trip = self.on_round_trip
        now = self.last_progress
        for value in replies:
            if self.dropped:
                return   # a callback closed the client
            if not waiting:
                self.on_lost(self, ProtocolError("a reply that no command asked for"))
                return
            reply = waiting.popleft()
            if round_trip is not None:
                self.answered += 1
                writes = self.writes
                while writes and writes[0][0] < self.answered:
                    writes.popleft()   # every command of that write is answered
                if writes:
                    round_trip(now - writes[0][1])
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
