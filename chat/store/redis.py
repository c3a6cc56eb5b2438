"""The store of a cluster node: what the server remembers, kept in Redis.

Theory of operation
-------------------
The store interface (``chat/store/__init__.py``) has its third
implementation here, for ``--redis``. What a single server keeps in its
SQLite file a cluster keeps in Redis, where every node reads it:

* a room's messages: the room's stream ``ktn:room:<key>``, which is also
  the one order of the room (``chat/server/cluster/roomlog.py`` appends to it and
  reads it back, since every node, the sender's included, must deliver
  what the stream says, not what the core did);
* accounts: the hash ``ktn:accounts`` (key -> JSON [salt hex, hash hex, n]);
* bans: the hash ``ktn:bans`` (key -> JSON [name, reason, host, by, at]).

The calls of the interface never block, and Redis answers later, so the
store is the memory store (the node's working copy) writing its changes
through to Redis: ``set_account``, ``add_ban``, ``remove_ban`` and
``purge`` each send one command on the node's pipelined client (they leave
in the pass's one write) and hand an event to ``publish``, which tells the
other nodes to apply the change to their copies (``chat/server/cluster/shared.py``).
``load`` cannot wait for Redis either: it returns what memory holds, and
``fetch`` reads both hashes once the node is connected (before it opens).

``durable`` is false: Redis, not this process, decides what survives a
crash (run it with ``appendonly yes``), and nothing is held back per pass.
Changes are refused before they are made while Redis is down (the node's
gate), but a node learns that Redis is gone only when it stops answering:
an account or ban change made just before was answered to its user and
may never reach Redis. So each of those write-throughs (the command and
its event) stays in an *outbox* until Redis has answered its event (one
connection answers in order: the command before it ran too); once one is
cut off, that one and every later one are sent again, in order, as soon as
Redis is back (retried every ``retry`` seconds). Sending one twice is
harmless: the same record, the same event applied again. A purge is not
sent again (run later it would delete messages sent since); like any Redis
command cut off in flight, it may or may not have run.
"""

import collections
import contextlib
import json
import logging

from reactor.redis import ReplyError

from . import Snapshot
from .memory import MemoryStore

log = logging.getLogger("chat.store")

ROOM_PREFIX = "ktn:room:"
ACCOUNTS = "ktn:accounts"
BANS = "ktn:bans"

#: Delete every entry of the stream KEYS[1] whose sender is ARGV[1]
#: (at most ARGV[2] entries are looked at: the stream is capped anyway).
PURGE = """
local n = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 's' and f[i + 1] == ARGV[1] then
      redis.call('XDEL', KEYS[1], e[1]); n = n + 1
    end
  end
end
return n
"""

#: Delete the entries of a room stream appended by one node process (the
#: field ``o``, the append's origin, starts with ARGV[1]); at most ARGV[2]
#: entries are looked at.
DELETE_OWN = """
local n = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'o' and string.sub(f[i + 1], 1, #ARGV[1]) == ARGV[1] then
      redis.call('XDEL', KEYS[1], e[1]); n = n + 1
    end
  end
end
return n
"""


def room_stream(room_key):
    return ROOM_PREFIX + room_key


class RedisStore(MemoryStore):
    """The memory store, writing accounts, bans and purges through to Redis."""

    def __init__(self, keep, retry=0.2):
        super().__init__(keep)
        self.redis = None          # the node's pipelined RedisClient (``attach``)
        self.publish = None        # fn(**fields) -> Reply: tell the other nodes (``attach``)
        self._applying = False     # applying another node's change: do not echo it
        self.scan = max(1, keep or 0)   # stream entries a purge looks at (``attach``)
        self.verify = None         # fn(hash, field, value): a signed record's value (``attach``)
        self.retry = retry
        self.outbox = collections.deque()   # (command, event) not yet confirmed, oldest first
        self._cut_off = False      # one was cut off: the outbox waits to be sent again

    def attach(self, redis, publish, scan, verify=None):
        """Write through ``redis`` (the node's pipelined ``RedisClient``) and
        tell the other nodes with ``publish(**fields)``; a purge looks at
        ``scan`` entries; ``verify(hash key, field, value)`` gives a record's
        value back without its signature, or None if it is not a node's
        (``chat/server/cluster/signing.py``; None: nothing is signed). The
        node calls it once, as it starts: the store is made before the
        server listens, the node's client once it does."""
        self.redis, self.publish, self.scan = redis, publish, max(1, scan)
        self.verify = verify or (lambda _hash, _field, value: value)

    @contextlib.contextmanager
    def applying(self):
        """Within it, changes are another node's, applied here: not echoed."""
        self._applying = True
        try:
            yield
        finally:
            self._applying = False

    def set_account(self, key, salt, digest, n):
        super().set_account(key, salt, digest, n)
        if not self._applying:
            record = json.dumps([salt.hex(), digest.hex(), n])
            self._write(("HSET", ACCOUNTS, key, record), dict(t="account", k=key, a=record))

    def add_ban(self, key, name, reason, host, by=None, at=None):
        super().add_ban(key, name, reason, host, by, at)
        if not self._applying:
            record = json.dumps([name, reason, host, by, at])
            self._write(("HSET", BANS, key, record), dict(t="ban", k=key, b=record))

    def remove_ban(self, key):
        super().remove_ban(key)
        if not self._applying:
            self._write(("HDEL", BANS, key), dict(t="unban", k=key))

    def _write(self, command, event):
        """Write a change through, keeping it until Redis has it."""
        change = (command, event)
        self.outbox.append(change)
        if not self._cut_off:   # else it goes after the ones before it
            self._send(change)

    def _send(self, change):
        command, event = change
        self.redis.call(*command)
        self.publish(**event).add_done_callback(lambda reply: self._answered(change, reply))

    def _answered(self, change, reply):
        error = reply.error
        if error is None or isinstance(error, ReplyError):   # ran, or never will
            if error is not None:
                log.warning("redis refused a change: %s", error)
            if change in self.outbox:
                self.outbox.remove(change)
        elif not self._cut_off:
            self._cut_off = True
            self.redis.loop.call_later(self.retry, self._send_again)

    def _send_again(self):
        if not self.redis.connected:
            self.redis.loop.call_later(self.retry, self._send_again)
            return
        self._cut_off = False
        for change in list(self.outbox):
            self._send(change)

    def drop_room(self, room_key):
        """An operator's ``drop``: the room's stream goes (the node tells
        the others, ``chat/server/cluster/node.py``)."""
        super().drop_room(room_key)
        if not self._applying:
            self.delete_stream(room_key)

    def delete_stream(self, room_key):
        self.redis.call("DEL", room_stream(room_key))

    def delete_own_entries(self, room_key, origin_prefix):
        """Delete what one node process appended to a room's stream (its
        origins start with ``origin_prefix``), and nothing others appended."""
        self.redis.call("EVAL", DELETE_OWN, 1, room_stream(room_key), origin_prefix, self.scan)

    def purge(self, room_key, sender_key):
        super().purge(room_key, sender_key)
        if not self._applying:
            self.redis.call("EVAL", PURGE, 1, room_stream(room_key), sender_key, self.scan)
            self.publish(t="purge", r=room_key, k=sender_key)

    def fetch(self, then):
        """Read the accounts and bans from Redis: ``then(snapshot, error)``
        with a ``Snapshot`` (no rooms: those are read per room, from their
        streams). A malformed record is logged and skipped."""
        accounts = self.redis.call("HGETALL", ACCOUNTS)
        bans = self.redis.call("HGETALL", BANS)

        def fetched(_reply):
            error = accounts.error or bans.error
            if error is not None:
                then(None, error)
                return
            then(Snapshot([], _records(accounts.value, parse_account,
                                       lambda k, v: self.verify(ACCOUNTS, k, v)),
                          list(_records(bans.value, parse_ban,
                                        lambda k, v: self.verify(BANS, k, v)).values())), None)
        bans.add_done_callback(fetched)


def parse_account(record):
    """JSON [salt hex, hash hex, n] -> (salt, hash, n); ValueError if
    malformed. A record without n (an older node's) is n=2**11."""
    try:
        fields = json.loads(record)
        salt, digest, n = fields if len(fields) == 3 else (*fields, 2 ** 11)
        if type(n) is not int or n < 2 or n & (n - 1) or n > 2 ** 20:
            raise ValueError("scrypt n %r" % (n,))
        return bytes.fromhex(salt), bytes.fromhex(digest), n
    except (TypeError, ValueError, RecursionError) as exc:   # (nested too deep)
        raise ValueError("malformed account %r" % (record,)) from exc


def parse_ban(record):
    """JSON [name, reason, host, by, at] -> the tuple; ValueError if
    malformed. An older node's [name, reason, host] has no by and at."""
    try:
        fields = json.loads(record)
        name, reason, host, by, at = fields if len(fields) == 5 else (*fields, None, None)
    except (TypeError, ValueError, RecursionError) as exc:   # (nested too deep)
        raise ValueError("malformed ban %r" % (record,)) from exc
    if not isinstance(name, str) or not all(isinstance(field, (str, type(None)))
                                            for field in (reason, host, by, at)):
        raise ValueError("malformed ban %r" % (record,))
    return name, reason, host, by, at


def _records(flat, parse, verify):
    """HGETALL's flat [key, value, ...] -> {key text: parsed value}, the
    records whose signature ``verify`` refuses left out."""
    found = {}
    flat = flat or []
    for i in range(0, len(flat) - 1, 2):
        key = flat[i].decode("utf-8", "replace")
        value = verify(flat[i], flat[i + 1])
        if value is None:
            continue
        try:
            found[key] = parse(value)
        except ValueError as exc:
            log.warning("ignored a record of redis: %s", exc)
    return found
