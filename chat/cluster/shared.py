"""Accounts, bans and purges shared by every node of a cluster.

Theory of operation
-------------------
A cluster node's core gets a ``SharedStore``: the memory store, whose
``set_account``, ``add_ban``, ``remove_ban`` and ``purge`` also go to
Redis. Accounts and bans live in the hashes ``ktn:accounts`` (key ->
JSON [salt, hash], hex) and ``ktn:bans`` (key -> JSON [name, reason,
host]); each change is also an event in the shared ``ktn:events`` stream
(the one presence uses), and every other node applies it to its own core
as it reads it: a ban also disconnects the banned user if they are on
that node. A purge deletes the user's entries from the room's stream with
one script (so later histories, on any node, lack them) and tells the
other nodes to purge their copy of the room's history.

A starting node loads both hashes before it opens (``load``). Changes
made while Redis is down are refused before they are made (the gate), or
fail with the error of the request that made them. Still per node: the
failed-login counters.
"""

import json
import logging

from ..store.memory import MemoryStore
from .roomlog import room_stream

log = logging.getLogger("chat.cluster")

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


class SharedStore(MemoryStore):
    """The memory store, writing accounts, bans and purges through to Redis."""

    def __init__(self, keep):
        super().__init__(keep)
        self.redis = None          # set by the node
        self.publish = None        # fn(**fields): an event in ktn:events
        self.applying = False      # applying another node's change: do not echo it
        self.scan = max(1, keep or 0)   # stream entries a purge looks at (set by the node)

    def set_account(self, key, salt, digest):
        super().set_account(key, salt, digest)
        if not self.applying:
            record = json.dumps([salt.hex(), digest.hex()])
            self.redis.call("HSET", ACCOUNTS, key, record)
            self.publish(t="account", k=key, a=record)

    def add_ban(self, key, name, reason, host):
        super().add_ban(key, name, reason, host)
        if not self.applying:
            record = json.dumps([name, reason, host])
            self.redis.call("HSET", BANS, key, record)
            self.publish(t="ban", k=key, b=record)

    def remove_ban(self, key):
        super().remove_ban(key)
        if not self.applying:
            self.redis.call("HDEL", BANS, key)
            self.publish(t="unban", k=key)

    def purge(self, room_key, sender_key):
        super().purge(room_key, sender_key)
        if not self.applying:
            self.redis.call("EVAL", PURGE, 1, room_stream(room_key), sender_key,
                            self.scan)
            self.publish(t="purge", r=room_key, k=sender_key)


class SharedState:
    """Loads the shared accounts and bans, and applies others' changes."""

    def __init__(self, redis, core, kick):
        self.redis = redis
        self.core = core
        self.store = core.store
        self.kick = kick           # fn(session, text): disconnect a banned user

    def load(self, then):
        """Read both hashes into the core; ``then(error)``."""
        accounts = self.redis.call("HGETALL", ACCOUNTS)
        bans = self.redis.call("HGETALL", BANS)

        def loaded(_reply):
            error = accounts.error or bans.error
            if error is None:
                flat = accounts.value or []
                for i in range(0, len(flat) - 1, 2):
                    self._account(flat[i], flat[i + 1])
                flat = bans.value or []
                for i in range(0, len(flat) - 1, 2):
                    self._ban(flat[i + 1])
            then(error)
        bans.add_done_callback(loaded)

    def event(self, kind, fields):
        """One shared change from another node (``kind``: the event's t)."""
        key = fields.get("k")
        if not isinstance(key, bytes):
            return
        if kind == b"account":
            self._account(key, fields.get("a"))
        elif kind == b"ban":
            ban = self._ban(fields.get("b"))
            session = self.core.users.get(key.decode("utf-8", "replace"))
            if ban is not None and session is not None:
                self.kick(session, "you are banned: %s" % ban[1] if ban[1] else "you are banned")
        elif kind == b"unban":
            self._apply(self.core.bans.remove, key.decode("utf-8", "replace"))
        elif kind == b"purge":
            room = self.core.rooms.get((fields.get("r") or b"").decode("utf-8", "replace"))
            if room is not None:
                room.history.purge(key.decode("utf-8", "replace"))

    def _apply(self, change, *args):
        self.store.applying = True
        try:
            return change(*args)
        finally:
            self.store.applying = False

    def _account(self, key, record):
        try:
            salt, digest = json.loads(record)
            salt, digest = bytes.fromhex(salt), bytes.fromhex(digest)
        except (TypeError, ValueError):
            log.warning("ignored a malformed shared account %r", key)
            return
        self.core.accounts.restore({key.decode("utf-8", "replace"): (salt, digest)})

    def _ban(self, record):
        """Apply one ban record; return (name, reason, host) or None."""
        try:
            name, reason, host = json.loads(record)
            if not isinstance(name, str):
                raise TypeError(name)
        except (TypeError, ValueError):
            log.warning("ignored a malformed shared ban %r", record)
            return None
        self._apply(self.core.bans.add, name, reason, host)
        return name, reason, host
