"""The rooms' shared logs: one Redis Stream per room, read back by every node.

Theory of operation
-------------------
A room's messages live in the stream ``ktn:room:<key>``; each entry holds
the sender's case-folded name (``s``), the room's spelling (``r``), the
``message`` payload exactly as clients receive it (``p``, newline
included) and the append's origin (``o``: node id and number). This
node's users' messages go in through ``appends``, and nobody is sent one
then. A single *reader* (a ``XREAD BLOCK`` loop on its own connection,
since a blocking command holds up everything behind it) reads every
stream this node *mirrors* from the last id it saw in each, and hands the
entries of each reply, in order, to ``deliver``: the core appends each to
its room's history and sends it to the room's members here. Every node,
the sender's included, therefore shows a room's messages in the stream's
one order, and a node's history of a room is exactly the stream up to the
last id it has read.

Mirrors and the join race. A node mirrors the lobby from start-up and
every room one of its users is in (``forget`` when the last one leaves:
its history is read again on the next join). Before a user enters a room not
yet mirrored, ``mirror`` reads its newest ``history-limit`` entries with
one ``XREVRANGE``; the newest id read becomes the room's last id and the
room joins the reader's set. A message appended after the ``XREVRANGE`` has
a greater id, so the reader delivers it; one appended before is in what
was read. The joiner is answered (history from the mirror) only once the
mirror exists, and from then on the history and the live messages are both
cut from the same sequence at the same id, in the same loop callback: no
gap, no overlap. While the reader blocks on the old set, a mirror added
wakes it with a tiny entry in this node's own stream (``ktn:node:<id>``),
which is always in the set and also carries private messages (see
``chat/server/cluster/node.py``); the presence stream is read along
(``chat/server/cluster/presence.py``).

Redis lost: the reader's call fails, its client reconnects by itself and
``resume`` starts again from the last ids: nothing is lost (the stream
kept it) and nothing is delivered twice (ids only grow). If a stream was
trimmed meanwhile past the last entry this node had read, ``trimmed``
says so (a room's users are told that messages may have been missed; the
events stream is read again from its sources). Appends that failed are
the publisher's to report.

Reading in rounds. After handing out a read, the reader waits ``pause``
seconds (``--redis-read-pause``, half a millisecond) before it starts the
next. Under load this is what makes a node's writes large: a message's
trip goes through two queues, Redis' and the clients', and a reader that
reads again at once finds only the messages appended since its last
read, about half of those in flight, so each member gets two writes where
one would do (broadcast to 1000 clients: 23 messages a reply without the
pause, 39 with it, and a `--redis` node as fast as one without). A
message to a quiet room does not wait: the read blocked on its stream
answers as soon as it is appended, so the pause only ever delays a
message that comes within it of the previous read, by at most the pause
(a loop with nothing else to do waits in whole milliseconds: 1 ms). A
read that came back full (a stream had more than one read's worth) is
followed by the next at once, as while catching up.

*Caught up*: after (re)connecting, the reader does not block until one
of its reads comes back with less than it asked for of every stream:
then it has handed out everything the streams held (``caught_up``,
``on_caught_up``). Until then the node keeps its gate closed, so a login
is never judged before a ban that was waiting in the events stream.

Redis may hold anything anyone wrote: a key of the wrong type is logged
and no longer read (it would fail every read of every stream), an error
answer (Redis still loading) is retried after ``retry`` seconds, an entry
that is not a message response never reaches a client, and one read asks
for no more entries than fit the reply bound.
"""

import logging

from reactor.resp import ProtocolError

from ... import limits
from ...store.redis import ROOM_PREFIX, room_stream
from .entries import entry_fields, message_of

log = logging.getLogger("chat.cluster")

NODE_PREFIX = "ktn:node:"

#: For each stream KEYS[i], 1 if it still holds an entry at or before
#: ARGV[i] (then nothing after it was trimmed: trimming takes the oldest
#: first), else 0. One round trip, and no entry comes back: it may be large.
STILL_THERE = """
local found = {}
for i, key in ipairs(KEYS) do
  local there = redis.call('TYPE', key).ok == 'stream'
    and #redis.call('XREVRANGE', key, ARGV[i], '-', 'COUNT', 1) > 0
  found[i] = there and 1 or 0
end
return found
"""

#: For each stream KEYS[i], the entry after ARGV[i + 1] if it is larger than
#: ARGV[1] bytes: {key, id, size} (only its id and size come back).
OVERSIZED_HEADS = """
local found = {}
for i, key in ipairs(KEYS) do
  if redis.call('TYPE', key).ok == 'stream' then
    local entry = redis.call('XRANGE', key, '(' .. ARGV[i + 1], '+', 'COUNT', 1)[1]
    if entry then
      local size = 0
      for _, v in ipairs(entry[2]) do size = size + #v end
      if size > tonumber(ARGV[1]) then table.insert(found, {key, entry[1], size}) end
    end
  end
end
return found
"""


def node_stream(node_id):
    return NODE_PREFIX + node_id


class RoomLog:
    """Reads every mirrored room stream and hands out what it reads."""

    def __init__(self, redis, reader, node_id, history_limit, deliver, load_room, side_streams,
                 trimmed, on_caught_up, written, block=5.0, batch=1000, max_entry=32 * 1024,
                 retry=1.0, verify=None, inbox_length=limits.INBOX_LENGTH, pause=0.0):
        self.redis = redis                  # pipelined client: XREVRANGE, PERSIST, wake-ups
        # fn(stream key, flat fields) -> the fields without their signature,
        # or None: not written by a node (``signing``); None: nothing signed
        self.verify = verify or (lambda _stream, flat: flat)
        self.reader = reader                # its own connection: XREAD BLOCK
        self.history_limit = history_limit
        self.inbox_length = inbox_length    # MAXLEN ~ of this node's own stream
        self.deliver = deliver              # fn([(room key, room name, sender key, payload)])
        self.side_streams = side_streams    # stream key -> fn(fields): not a room
        self.trimmed = trimmed              # fn(stream key): entries may have been missed
        self._started = False               # the first resume reads at once
        self.caught_up = False              # read to the ends since the reader connected
        self._careful = False               # one entry per stream (after an oversized reply)
        self._careful_checked = False       # oversized heads skipped since reconnecting
        self.on_caught_up = on_caught_up    # fn(): caught up again
        self._count = batch                 # COUNT of the read in flight
        self.load_room = load_room          # fn(room name, [(sender key, payload)])
        self.node_key = node_stream(node_id)
        self.block_ms = max(1, int(block * 1000))
        self.batch = batch
        # entries one XREAD may return, all streams together: its reply must
        # stay under the reader's bound, or it is dropped again and again
        self.entry_budget = max(1, reader.max_reply_size // max(1, max_entry))
        self.retry = retry                  # seconds before reading again after an error
        self._retry_timer = None                  # the timer of that
        self.pause = pause                  # seconds between a read handed out and the next
        self._pause_timer = None                  # the timer of that
        # stream key -> last id read; the side streams' ids are set at start
        self.last_ids = {key: b"0-0" for key in side_streams}
        self.loading = {}                   # room key -> [callbacks] while mirroring
        # origin -> payload: this node's appends not read back yet (``RoomAppends``)
        self.written = written
        self._reading = None                # the XREAD (or check) Reply in flight

    def start_from(self, stream, entry_id):
        """Read the side stream ``stream`` on from ``entry_id`` (at start-up)."""
        self.last_ids[stream] = entry_id

    def mirrored(self, room_key):
        return room_stream(room_key) in self.last_ids

    # -- the set of streams -----------------------------------------------

    def wake(self):
        """Make the reader start a new XREAD (its set of streams changed)."""
        if self._reading is not None:
            self.redis.call("XADD", self.node_key, "MAXLEN", "~", self.inbox_length, "*",
                            "t", "wake")
        elif self._started and self._retry_timer is None:
            self._read()   # not reading (no stream was left): start again

    # -- mirrors ------------------------------------------------------------

    def mirror(self, room_name, then):
        """Load the room's history from its stream and read it from now on;
        ``then(error)`` once done (error None) or failed."""
        key = room_name.lower()
        if self.mirrored(key):
            then(None)
            return
        waiting = self.loading.get(key)
        if waiting is not None:
            waiting.append(then)
            return
        self.loading[key] = [then]
        count = max(1, self.history_limit)
        self.redis.call("PERSIST", room_stream(key))   # in use again: no expiry (``sweep``)
        reply = self.redis.call("XREVRANGE", room_stream(key), "+", "-", "COUNT", count)
        reply.add_done_callback(lambda r: self._mirrored(key, room_name, r))

    def forget(self, room_key):
        """Stop reading the room's stream (nobody here is in it): entries of
        a read already under way are dropped, the next read leaves it out."""
        if room_key not in self.loading:
            self.last_ids.pop(room_stream(room_key), None)

    def _mirrored(self, key, room_name, reply):
        waiting = self.loading.pop(key, ())
        error = reply.error
        if error is None:
            entries = reply.value or []
            messages = []
            for _entry_id, flat in reversed(entries):
                flat = self.verify(room_stream(key), flat)
                message = None if flat is None else message_of(flat)
                if message is not None:
                    if message[0].lower() == key:
                        room_name = message[0]   # the spelling the cluster uses
                    messages.append(message[1:3])
            self.last_ids[room_stream(key)] = entries[0][0] if entries else b"0-0"
            self.load_room(room_name, messages)
            self.wake()
        for then in waiting:
            then(error)

    # -- reading ------------------------------------------------------------

    def reader_lost(self, exc):
        """The reader's connection was dropped. A reply over the bound means
        an entry too large to read (only a third party writes one): read one
        entry per stream until caught up, and skip such an entry when it is
        the next of its stream (``_skip_oversized``)."""
        if isinstance(exc, ProtocolError) and "larger than" in str(exc):
            log.warning("a read of the streams was over the reply bound: reading one "
                        "entry per stream, skipping any larger than the bound")
            self._careful = True

    def _skip_oversized(self):
        keys = list(self.last_ids)
        self._reading = reply = self.reader.call(
            "EVAL", OVERSIZED_HEADS, len(keys), *keys, self.reader.max_reply_size // 2,
            *[self.last_ids[key] for key in keys])

        def checked(reply):
            self._reading = None
            if reply.error is not None:
                log.warning("looking for oversized entries failed: %s", reply.error)
                self._later(self.resume)
                return
            for key, entry_id, size in reply.value or ():
                key = key.decode("ascii", "replace")
                log.error("skipped entry %r of %s: %d bytes, over the reply bound", entry_id,
                          key, size)
                if key in self.last_ids:
                    self.last_ids[key] = entry_id
            self._careful_checked = True
            self.resume()
        reply.add_done_callback(checked)

    def resume(self):
        """(Re)start the reader from the last ids (start-up, reconnect).

        After a reconnection, first ask whether each stream still holds an
        entry at or before the last one read: if not, the stream was
        trimmed past it meanwhile (or all of those deleted), and entries
        this node never read may be gone with it: ``trimmed(stream key)``
        says so."""
        if self._reading is not None or not self.reader.connected:
            return
        self.caught_up = False
        if self._careful and not self._careful_checked and self.last_ids:
            self._skip_oversized()
            return
        self._careful_checked = False
        streams = [key for key, last in self.last_ids.items() if last != b"0-0"]
        if not self._started or not streams:
            self._started = True
            self._read()
            return
        self._reading = reply = self.reader.call(
            "EVAL", STILL_THERE, len(streams), *streams,
            *[self.last_ids[key] for key in streams])
        reply.add_done_callback(lambda reply: self._checked(streams, reply))

    def _checked(self, streams, reply):
        self._reading = None
        if reply.error is not None:
            if self.reader.connected:   # an error answer (Redis loading its data...)
                log.warning("checking the streams after a reconnection failed: %s",
                            reply.error)
                self._later(self.resume)
            return   # else lost again: the next reconnection checks again
        for key, there in zip(streams, reply.value or ()):
            if not there and key in self.last_ids:
                self.trimmed(key)
        if self.reader.connected:
            self._read()

    def _later(self, then):
        """Try again after ``retry`` seconds, not at once: Redis answered
        with an error that the next attempt may well get too."""
        def again():
            self._retry_timer = None
            then()
        if self._retry_timer is None:
            self._retry_timer = self.reader.loop.call_later(self.retry, again)

    def _read(self):
        if self._pause_timer is not None:   # started early (``wake``): no more pause
            self._pause_timer.cancel()
            self._pause_timer = None
        if self._reading is not None or not self.reader.connected:
            return
        keys = list(self.last_ids)
        if not keys:
            return   # every stream dropped (wrong types): a mirror wakes the reader
        self._count = count = (1 if self._careful else
                               max(1, min(self.batch, self.entry_budget // len(keys))))
        # Until caught up the read does not block: its answer says at once
        # whether the streams held more than one read's worth.
        block = ("BLOCK", self.block_ms) if self.caught_up else ()
        self._reading = reply = self.reader.call(
            "XREAD", "COUNT", count, *block, "STREAMS", *keys,
            *[self.last_ids[k] for k in keys],
            timeout=self.block_ms / 1000.0 + self.reader.reply_timeout)
        reply.add_done_callback(self._got)

    def _got(self, reply):
        self._reading = None
        if reply.error is not None:
            self._read_failed(reply.error)
            return
        # The appends of this pass (the members' next messages) and the next
        # read leave before the writes of the deliveries below, not a
        # hundred sendmsg later: the round trip through Redis is the
        # latency of every message.
        self.redis.flush_first()
        # A stream that gave all it was asked for has more waiting: read on
        # at once, as while catching up; else pause (module docstring).
        full = any(len(entries) >= self._count for _stream, entries in reply.value or ())
        pause = self.pause if self.caught_up and not full else 0
        if not pause:
            self.reader.flush_first()
        try:
            self._hand_out(reply.value)
        finally:   # whatever went wrong with one entry, the reader goes on
            if not self.caught_up and not full:
                self.caught_up = True   # everything there was is handed out
                self._careful = False
                self.on_caught_up()
            if pause:
                self._pause_timer = self.reader.loop.call_later(pause, self._pause_over)
            else:
                self._read()

    def _pause_over(self):
        self._pause_timer = None
        self._read()

    def _hand_out(self, streams):
        delivered = []   # (room key, room name, sender key, payload), in order
        for stream, entries in streams or ():
            key = stream.decode("ascii", "replace")
            if key not in self.last_ids:
                continue
            self.last_ids[key] = entries[-1][0]
            handler = self.side_streams.get(key)
            if handler is not None:
                for entry_id, flat in entries:
                    flat = self.verify(key, flat)
                    if flat is None:
                        continue
                    try:
                        handler(entry_fields(flat))
                    except Exception:   # one entry's trouble, not the others'
                        log.exception("could not handle entry %r of %s", entry_id, key)
                continue
            room_key = key[len(ROOM_PREFIX):]
            written = self.written
            for entry_id, flat in entries:
                flat = self.verify(key, flat)
                if flat is None:
                    continue
                message = message_of(flat, written)
                if message is None:
                    log.warning("ignored a malformed entry %r in %s", entry_id, key)
                else:
                    delivered.append((room_key, *message))
        if delivered:
            self.deliver(delivered)

    def _read_failed(self, error):
        if self.reader.state == "closed":
            return   # shutting down
        if not self.reader.connected:
            self.caught_up = False
            log.warning("reading the room streams failed: %s", error)
            return   # the reader's client reconnects, then calls resume()
        # Redis answered with an error: still loading its data after a
        # restart, or a key that is not a stream (WRONGTYPE), which would
        # fail every read of every stream. Find such keys, stop reading
        # them, and read the others again (after a pause).
        log.warning("reading the room streams was refused: %s", error)
        keys = list(self.last_ids)
        types = [(key, self.reader.call("TYPE", key)) for key in keys]
        self._reading = types[-1][1]

        def checked(_reply):
            self._reading = None
            for key, reply in types:
                if reply.value not in (None, "stream", "none"):
                    log.error("%s in redis is a %s, not a stream: this node stops reading "
                              "it (delete or rename it there)", key, reply.value)
                    self.last_ids.pop(key, None)
            self._later(self._read)
        self._reading.add_done_callback(checked)
