"""Presence across nodes: who is in which room on the other nodes.

Theory of operation
-------------------
Every entry to and exit from a room on this node (``CoreHooks.moved``)
becomes an event in the shared stream ``ktn:events``, which every node
reads with the room streams; the others apply it to the room's ``remote``
members (``ChatCore.remote_presence``), so ``names``, ``rooms``, the
"Joined" count and the coalesced presence notices count users of every
node. Each node also keeps its current members in the hash
``ktn:members:<node>`` and its id in the set ``ktn:nodes``.

A starting node writes the first presence entry it will read from, a
``state`` event with no members (so a node restarted with the same id
within the lease, whose liveness key therefore never expired, is seen to
have lost its old incarnation's members), then reads the others' hashes
(a snapshot, applied without notices; events after the entry may repeat
it, and applying them again changes nothing).
A node that loses Redis cannot publish the exits meanwhile: when it is
back it publishes its whole membership as one ``state`` event and the
others compare it with what they had (notices for the differences).

A node that dies stops renewing ``ktn:alive:<node>`` (a lease like a
name's); at each heartbeat every node checks the nodes it has members
from, and one whose key has expired is gone: its members leave, each
node telling its own users once, and its hash and set entry are removed.
The same renewal extends the TTL of the node's inbox (``--inbox-ttl``,
longer than the lease), so the inbox of a node that died unseen goes too.
A node that was only stalled that long finds, at its next renewal, that
its key had expired (``SET NX`` creates it): it publishes its membership
again, as after a reconnection, and its users are back.

What Redis says about members is checked before it is used: an event or
a hash entry whose room or name is not one a user could have (another
writer's garbage) is logged and ignored, so it can neither stop the node
reading the events stream nor reach ``names``.

Guarantee: presence is eventually consistent (a notice may come a
heartbeat late after a crash, or twice as "joined" after a state
event); it is never what orders messages.
"""

import json
import logging

from reactor.redis import ReplyError

from ...core.rooms import check_room_name
from ...core.session import is_username
from ...protocol import RequestError
from .roomlog import node_stream

log = logging.getLogger("chat.cluster")

EVENTS_STREAM = "ktn:events"   # shared with chat/server/cluster/shared.py
NODES = "ktn:nodes"
EVENTS_LENGTH = 10_000   # entries ktn:events keeps, about


def members_key(node_id):
    return "ktn:members:" + node_id


def alive_key(node_id):
    return "ktn:alive:" + node_id


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _member(key, room, name):
    """(room, name) if ``key`` could be in ``room`` under ``name``, else None."""
    if not (isinstance(key, str) and isinstance(room, str) and isinstance(name, str)
            and is_username(name) and name.lower() == key):
        return None
    try:
        return (room, name) if check_room_name(room) == room else None
    except RequestError:
        return None


def _members(pairs):
    """{key: (room, name)} of the valid (key, (room, name)) pairs; None if any is not."""
    members = {}
    for key, (room, name) in pairs:
        member = _member(key, room, name)
        if member is None:
            return None
        members[key] = member
    return members


class ClusterPresence:
    """Publishes this node's room membership and applies the others'."""

    def __init__(self, loop, redis, node_id, core, lease, heartbeat, changed, verify=None,
                 inbox_ttl=None):
        self.redis = redis
        # fn(hash key, field, value): a member record without its signature,
        # or None if no node wrote it (``signing``); None: nothing is signed
        self.verify = verify or (lambda _hash, _field, value: value)
        self.changed = changed   # fn(): presence notices may be owed
        self.node_id = node_id
        self.core = core
        self.lease_ms = max(1, int(lease * 1000))
        # this node's inbox lives this long after its last renewal (issue 21)
        self.inbox_ttl_ms = max(self.lease_ms, int((inbox_ttl or 0) * 1000))
        self.local = {}      # key -> (room name, name): this node's members
        self.remote = {}     # node id -> {key: (room name, name)}
        self._timer = loop.call_later(heartbeat, self._beat, loop, heartbeat)

    def close(self):
        self._timer.cancel()

    # -- this node --------------------------------------------------------

    def moved(self, session, room, entered, notice):
        """``CoreHooks.moved``: tell the others."""
        key = session.key
        if entered:
            self.local[key] = (room.name, session.name)
        elif self.local.get(key, (None,))[0] == room.name:
            del self.local[key]
        if not self.redis.connected:
            return   # the state event after the reconnection says it
        call = self.redis.call
        call("XADD", EVENTS_STREAM, "MAXLEN", "~", EVENTS_LENGTH, "*",
             "t", "j" if entered else "l", "n", self.node_id, "r", room.name, "k", key,
             "u", session.name, "q", "1" if notice else "0")
        if entered:
            call("HSET", members_key(self.node_id), key, "%s %s" % (room.name, session.name))
        else:
            call("HDEL", members_key(self.node_id), key)

    def start(self, then):
        """Write the entry to read from, read the snapshot; ``then(error)``."""
        reply = self.redis.call("XADD", EVENTS_STREAM, "MAXLEN", "~", EVENTS_LENGTH, "*",
                                "t", "s", "n", self.node_id, "m", "{}")

        def started(reply):
            if reply.error is not None:
                then(reply.error)
                return
            self.start_id = reply.value
            self.redis.call("DEL", members_key(self.node_id))
            self.redis.call("SADD", NODES, self.node_id)
            self._renew_alive()
            self.redis.call("SMEMBERS", NODES).add_done_callback(
                lambda r: self._snapshot(r, then))
        reply.add_done_callback(started)

    def resync(self, then):
        """The events stream was trimmed past what this node had read (it
        was cut off while the others made more events than the stream
        keeps): read every node's membership again; the differences are
        announced as joins and leaves. ``then(error)`` when done."""
        def done(error):
            if error is not None:
                log.warning("re-reading the other nodes' members failed: %s", error)
            then(error)
        self.redis.call("SMEMBERS", NODES).add_done_callback(
            lambda reply: self._snapshot(reply, done, notice=True))

    def _snapshot(self, reply, then, notice=False):
        if reply.error is not None:
            then(reply.error)
            return
        others = [_text(n) for n in reply.value or () if _text(n) != self.node_id]
        replies = [(node, self.redis.call("EXISTS", alive_key(node)),
                    self.redis.call("HGETALL", members_key(node))) for node in others]
        if not replies:
            self._apply_snapshot(replies, then, notice)
            return
        replies[-1][2].add_done_callback(
            lambda _r: self._apply_snapshot(replies, then, notice))

    def _apply_snapshot(self, replies, then, notice):
        lost = next((r.error for _node, _alive, r in replies
                     if r.error is not None and not isinstance(r.error, ReplyError)), None)
        if lost is not None:   # cut off: the start is tried again
            then(lost)
            return
        listed = {node for node, alive, _reply in replies if alive.value != 0}
        for node in [node for node in self.remote if node not in listed]:
            self._become(node, {}, notice)   # gone meanwhile
        for node, alive, reply in replies:
            if alive.value == 0:   # a dead node's leftovers
                self.redis.call("SREM", NODES, node)
                self.redis.call("DEL", members_key(node))
                continue
            if reply.error is not None:   # not a hash: someone else's key
                log.warning("ignored the members of node %s: %s", node, reply.error)
                continue
            flat = reply.value
            members = {}
            for i in range(0, len(flat) - 1, 2):
                key = _text(flat[i])
                value = self.verify(members_key(node), flat[i], flat[i + 1])
                if value is None:
                    continue
                room, _, name = (_text(value) or "").partition(" ")
                member = _member(key, room, name)
                if member is None:
                    log.warning("ignored a malformed member %r of node %s", flat[i + 1], node)
                else:
                    members[key] = member
            self._become(node, members, notice)
        if notice:
            self.changed()
        then(None)

    def publish_state(self):
        """After a reconnection: this node's whole membership, at once."""
        members = members_key(self.node_id)
        self.redis.call("XADD", EVENTS_STREAM, "MAXLEN", "~", EVENTS_LENGTH, "*",
                        "t", "s", "n", self.node_id, "m", json.dumps(self.local))
        self.redis.call("DEL", members)
        for key, (room, name) in self.local.items():
            self.redis.call("HSET", members, key, "%s %s" % (room, name))
        self.redis.call("SADD", NODES, self.node_id)
        self._renew_alive()

    # -- the others ---------------------------------------------------------

    def event(self, node, kind, fields):
        """One presence entry of another node (``kind``: the event's t)."""
        if kind in (b"j", b"l"):
            room, key, name = _text(fields.get("r")), _text(fields.get("k")), _text(fields.get("u"))
            if _member(key, room, name) is None:
                log.warning("ignored a malformed presence event from %s", node)
                return
            members = self.remote.setdefault(node, {})
            entered = kind == b"j"
            if entered:
                members[key] = (room, name)
            elif members.get(key, (None,))[0] == room:
                del members[key]
            self.core.remote_presence(room, key, name, entered, fields.get("q") != b"0")
            self.changed()
        elif kind == b"s":
            try:
                members = _members(json.loads(fields.get("m") or b"{}").items())
            except (ValueError, TypeError, AttributeError, RecursionError):
                members = None
            if members is None:
                log.warning("ignored a malformed presence state from %s", node)
                return
            self._become(node, members, notice=True)
            self.changed()

    def _become(self, node, members, notice):
        """Make ``node``'s members here equal ``members``."""
        old = self.remote.get(node, {})
        for key, (room, name) in old.items():
            if members.get(key, (None,))[0] != room:
                self.core.remote_presence(room, key, name, False, notice)
        for key, (room, name) in members.items():
            if old.get(key, (None,))[0] != room:
                self.core.remote_presence(room, key, name, True, notice)
        if members:
            self.remote[node] = members
        else:
            self.remote.pop(node, None)

    # -- liveness -------------------------------------------------------------

    def _renew_alive(self):
        """Renew this node's liveness key; the Reply is "OK" if it had to be
        created (it had expired)."""
        key = alive_key(self.node_id)
        created = self.redis.call("SET", key, "1", "PX", self.lease_ms, "NX")
        self.redis.call("PEXPIRE", key, self.lease_ms)
        self.redis.call("PEXPIRE", node_stream(self.node_id), self.inbox_ttl_ms)
        return created

    def _beat(self, loop, heartbeat):
        self._timer = loop.call_later(heartbeat, self._beat, loop, heartbeat)
        if not self.redis.connected:
            return
        self._renew_alive().add_done_callback(self._alive_renewed)
        for node in list(self.remote):
            self.redis.call("EXISTS", alive_key(node)).add_done_callback(
                lambda r, node=node: r.value == 0 and self._gone(node))

    def _alive_renewed(self, reply):
        if reply.value == "OK":
            log.warning("this node was taken for dead (stalled past the lease): "
                        "publishing its members again")
            self.publish_state()

    def _gone(self, node):
        if node not in self.remote:
            return
        log.warning("cluster node %s is gone: its users left", node)
        self._become(node, {}, notice=True)
        self.redis.call("SREM", NODES, node)
        self.redis.call("DEL", members_key(node), node_stream(node))   # and its inbox
        self.changed()
