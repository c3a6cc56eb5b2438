"""The sweep of the room streams: what Redis keeps of rooms nobody is in.

Theory of operation
-------------------
Issue 21: a cluster kept a stream of up to ``--stream-retain`` entries for
every room ever used, empty or not, for good. Every ``interval`` seconds
each node walks the keys ``ktn:room:*`` with ``SCAN`` (``batch`` keys a
step, one step after the other's answer) and hands each step's keys to one
``EVAL`` of ``SWEEP`` with, for each, whether the room has members. A room
has members if this node knows one anywhere in the cluster: its own users
and the other nodes' (presence, ``ChatCore.remote_presence``), or a join
here that is still reading the stream (``RoomLog.loading``). ``#lobby``
always counts as occupied. Then, in Redis, in one round trip per step:

* a stream of a room **without members** is trimmed to the history limit
  (exactly: nobody reads it, and a join reads only that many) and, if it
  has no TTL yet, set to expire after ``--room-ttl`` (so the TTL counts
  from the first sweep that found it empty); Redis deletes it then, and
  the room is gone on every node (no node holds a room without members);
* a stream of a room **with members** loses its TTL (``PERSIST``: someone
  came back), and is trimmed to ``--retain-messages`` if set;
* ``--retain-days`` trims every stream by id (``XTRIM MINID``: an entry's
  id is its time in milliseconds).

Why a sweep and not a TTL set by the last one to leave: whether a room is
empty is a cluster-wide fact that a node learns a little late (another
node's join may be on its way), and a node that crashes never says its
users left. A periodic sweep by every node converges whatever happened:
one that set a TTL on a stale view is undone by the next sweep of the node
whose user is there (and a join here ``PERSIST``s at once). It costs
nothing on the hot path (``XADD`` is unchanged) and one small Lua call per
``batch`` keys per interval; every node sweeps, which is idempotent.
Keys that are not streams (someone else's) are left alone.
"""

import logging
import time

from ... import limits
from ...core.rooms import LOBBY
from ...store.redis import ROOM_PREFIX

log = logging.getLogger("chat.cluster")

#: KEYS: room streams. ARGV: [1] length to trim an empty room's stream to,
#: [2] TTL in ms (0: none), [3] --retain-messages (0: none), [4] MINID
#: ("0": none), [4 + i] "1" if the room of KEYS[i] has members.
#: Returns {entries trimmed, streams set to expire}.
SWEEP = """
local trimmed, expiring = 0, 0
for i, key in ipairs(KEYS) do
  if redis.call('TYPE', key).ok == 'stream' then
    if ARGV[4 + i] == '1' then
      redis.call('PERSIST', key)
      if ARGV[3] ~= '0' then
        trimmed = trimmed + redis.call('XTRIM', key, 'MAXLEN', ARGV[3])
      end
    else
      trimmed = trimmed + redis.call('XTRIM', key, 'MAXLEN', ARGV[1])
      if ARGV[2] ~= '0' and redis.call('PTTL', key) == -1 then
        redis.call('PEXPIRE', key, ARGV[2])
        expiring = expiring + 1
      end
    end
    if ARGV[4] ~= '0' then
      trimmed = trimmed + redis.call('XTRIM', key, 'MINID', ARGV[4])
    end
  end
end
return {trimmed, expiring}
"""


class StreamSweep:
    """Trims and expires the room streams (see the module docstring)."""

    def __init__(self, loop, redis, core, streams, is_available, config, wall=time.time):
        self.loop = loop
        self.redis = redis
        self.core = core
        self.streams = streams            # RoomLog: which rooms this node reads
        self.is_available = is_available  # fn(): the node may use Redis now
        self.interval = config.stream_sweep_interval
        self.batch = limits.STREAM_SWEEP_BATCH
        retain = self.retain = config.retain_messages
        # a join reads at most the history limit: an empty room needs no more
        limit = config.history_limit
        self.empty_length = min(limit, retain) if retain else limit
        self.ttl_ms = int(config.room_ttl * 1000)
        self.retain_ms = int(config.retain_days * 86400_000)
        self.wall = wall                  # fn() -> seconds since the epoch (MINID)
        self._cursor = b"0"
        self._timer = loop.call_later(self.interval, self._step)
        self._trimmed = self._expiring = 0   # this round's, for its log line

    def close(self):
        """Stop: a reply still on its way does not schedule another step."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def occupied(self, room_key):
        """Whether the room has members anywhere, as far as this node knows."""
        if room_key == LOBBY or room_key in self.streams.loading:
            return True
        room = self.core.rooms.get(room_key)
        return room is not None and room.size > 0

    def _later(self, delay):
        if self._timer is not None:   # (None: closed)
            self._timer = self.loop.call_later(delay, self._step)

    def _step(self):
        if not self.is_available():
            self._later(self.interval)
            return
        reply = self.redis.call("SCAN", self._cursor, "MATCH", ROOM_PREFIX + "*",
                                "COUNT", self.batch)
        reply.add_done_callback(self._scanned)

    def _scanned(self, reply):
        if reply.error is not None or not isinstance(reply.value, list) \
                or len(reply.value) != 2 or not isinstance(reply.value[1], list):
            log.warning("sweeping the room streams: SCAN failed: %s", reply.error or reply.value)
            self._cursor = b"0"
            self._later(self.interval)
            return
        self._cursor, keys = reply.value
        keys = [key for key in keys if isinstance(key, bytes)]
        if not keys:
            self._round_step_done()
            return
        flags = ["1" if self.occupied(key[len(ROOM_PREFIX):].decode("utf-8", "replace"))
                 else "0" for key in keys]
        minid = "%d" % max(1, self.wall() * 1000 - self.retain_ms) if self.retain_ms else "0"
        self.redis.call("EVAL", SWEEP, len(keys), *keys, self.empty_length, self.ttl_ms,
                        self.retain, minid, *flags).add_done_callback(self._swept)

    def _swept(self, reply):
        value = reply.value
        if reply.error is not None:
            log.warning("sweeping the room streams failed: %s", reply.error)
        elif isinstance(value, list) and len(value) == 2:
            self._trimmed += value[0] if isinstance(value[0], int) else 0
            self._expiring += value[1] if isinstance(value[1], int) else 0
        self._round_step_done()

    def _round_step_done(self):
        if self._cursor not in (b"0", 0, "0"):
            self._later(0.0)   # the next step of this round, after the loop's other work
            return
        if self._trimmed or self._expiring:
            log.info("room streams swept: %d entries trimmed, %d streams of rooms nobody is "
                     "in set to expire", self._trimmed, self._expiring)
        self._trimmed = self._expiring = 0
        self._later(self.interval)
