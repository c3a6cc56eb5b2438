"""Names unique across the cluster: one lease per logged-in name in Redis.

Theory of operation
-------------------
A name is held by the key ``ktn:name:<key>`` (the case-folded name) whose
value is ``<node id> <name as spelled>``. ``claim`` takes it with
``SET NX PX lease``: exactly one of any number of simultaneous claims,
on any nodes, succeeds. A heartbeat every ``heartbeat`` seconds renews
every lease this node holds with one script per name (pipelined): renew
if the value is still ours, take it again if it expired meanwhile,
otherwise report it lost, and the node disconnects that user (it was
stalled or cut off past the lease and someone else has the name now).
The same pass runs at once after a reconnection to Redis (re-claim).
``release`` deletes the key only if it is still ours (compare-and-delete),
so a late release never frees a name someone else has taken since.

A claim or a release cut off by a lost connection may or may not have run,
and a release while Redis is down cannot be sent: either way Redis may keep
a lease of ours that no user here holds, which would refuse that very name
(its user told to try again) until it expires. Such leases are *unsettled*:
the next renewal pass, which runs as soon as Redis is back, releases them.

A node that dies stops renewing: its names are free within the lease.
The lease value also tells other nodes where a name lives (private
messages).
"""

import logging

from reactor.redis import ConnectionLost

log = logging.getLogger("chat.cluster")

NAME_PREFIX = "ktn:name:"

#: Renew the lease if it is ours, take it back if it expired; 0 if it is
#: someone else's.
RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""

#: Delete the key only if it still holds our value.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def name_key(key):
    return NAME_PREFIX + key


def parse_lease(value):
    """A lease's value -> (node id, name as spelled), or None."""
    if not isinstance(value, bytes):
        return None
    node, _, name = value.decode("utf-8", "replace").rpartition(" ")
    return (node, name) if node and name else None


class NameLeases:
    """The leases of this node's logged-in names."""

    def __init__(self, loop, redis, node_id, lease, heartbeat, on_lost):
        self.loop = loop
        self.redis = redis
        self.node_id = node_id
        self.lease_ms = max(1, int(lease * 1000))
        self.heartbeat = heartbeat
        self.on_lost = on_lost         # fn(key): the lease of that name is someone else's
        self.held = {}                 # key -> the lease value we hold
        self.unsettled = {}            # key -> a value of ours Redis may hold for no one
        self._timer = loop.call_later(heartbeat, self._beat)

    def value(self, name):
        return "%s %s" % (self.node_id, name)

    def claim(self, name, then):
        """Try to take ``name``; ``then(won, error)``."""
        key = name.lower()
        value = self.value(name)
        reply = self.redis.call("SET", name_key(key), value, "NX", "PX", self.lease_ms)

        def done(reply):
            if reply.error is not None:
                if isinstance(reply.error, ConnectionLost):   # it may have run
                    self.unsettled[key] = value
                then(False, reply.error)
            elif reply.value is None:
                then(False, None)
            else:
                self.unsettled.pop(key, None)
                self.held[key] = value
                then(True, None)
        reply.add_done_callback(done)

    def release(self, key, then=None):
        """Free the name if it is still ours (logout, disconnect); then
        ``then()``, once Redis has answered (at once if nothing was sent)."""
        value = self.held.pop(key, None)
        reply = self._release(key, value) if value is not None else None
        if then is not None:
            if reply is None:
                then()
            else:
                reply.add_done_callback(lambda _reply: then())

    def _release(self, key, value):
        """Send the compare-and-delete; return its Reply (None if not sent)."""
        if not self.redis.connected:
            self.unsettled[key] = value
            return None
        reply = self.redis.call("EVAL", RELEASE, 1, name_key(key), value)

        def released(reply):
            if isinstance(reply.error, ConnectionLost):   # it may not have run
                self.unsettled.setdefault(key, value)
        reply.add_done_callback(released)
        return reply

    def where(self, key, then):
        """``then(lease or None, error)``: (node id, spelled name) holding ``key``."""
        reply = self.redis.call("GET", name_key(key))
        reply.add_done_callback(lambda r: then(parse_lease(r.value), r.error))

    def renew_all(self):
        """Release the unsettled leases, renew (or take back) every lease
        held; report the lost ones."""
        if not self.redis.connected:
            return
        unsettled, self.unsettled = self.unsettled, {}
        for key, value in unsettled.items():
            if key not in self.held:
                self._release(key, value)
        for key, value in list(self.held.items()):
            reply = self.redis.call("EVAL", RENEW, 1, name_key(key), value, self.lease_ms)
            reply.add_done_callback(lambda r, key=key, value=value: self._renewed(key, value, r))

    def _renewed(self, key, value, reply):
        if reply.error is not None:
            log.warning("renewing the lease of %s failed: %s", key, reply.error)
        elif reply.value == 0 and self.held.get(key) == value:
            del self.held[key]
            log.warning("the name %s was taken over on another node", key)
            self.on_lost(key)

    def _beat(self):
        self._timer = self.loop.call_later(self.heartbeat, self._beat)
        self.renew_all()

    def close(self):
        self._timer.cancel()
