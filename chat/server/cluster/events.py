"""The shared events stream ``ktn:events``: this node's events out, the
others' routed in.

Theory of operation
-------------------
Presence (``presence``), accounts, bans and purges (``shared``), kicks
across nodes (``direct``) and failed password attempts travel as entries
of one stream that every node reads with the rooms (``roomlog``). Each
entry names its node (field ``n``) and its kind (``t``); a node skips its
own, and routes the others' by kind. Fields come from Redis, where anyone
may have written anything: a missing or malformed field makes the entry
count for nothing.
"""

from .presence import EVENTS_LENGTH, EVENTS_STREAM

PRESENCE_KINDS = (b"j", b"l", b"s")   # joined, left, a node's whole state


class Events:
    """``command``/``publish`` ours; ``received`` routes the others'."""

    def __init__(self, redis, node_id, core, presence, shared, kicked):
        self.redis = redis
        self.node_id = node_id
        self.core = core
        self.presence = presence
        self.shared = shared
        self.kicked = kicked   # fn(fields): a kick of someone, maybe here (``direct``)

    def command(self, **fields):
        """The XADD of one event of this node in the shared stream."""
        args = []
        for name, value in fields.items():
            args += (name, value)
        return ("XADD", EVENTS_STREAM, "MAXLEN", "~", EVENTS_LENGTH, "*",
                "n", self.node_id, *args)

    def publish(self, **fields):
        """One event of this node in the shared stream; return the Reply."""
        return self.redis.call(*self.command(**fields))

    def received(self, fields):
        """An entry of the shared events stream: presence, or a shared change."""
        node = fields.get("n")
        node = node.decode("utf-8", "replace") if isinstance(node, bytes) else None
        if node is None or node == self.node_id:
            return
        kind = fields.get("t")
        if kind in PRESENCE_KINDS:
            self.presence.event(node, kind, fields)
        elif kind == b"kick":
            self.kicked(fields)
        elif kind == b"fail":
            group, name = fields.get("h"), fields.get("u")
            if isinstance(group, bytes) and isinstance(name, bytes):
                self.core.failed_login_elsewhere(group.decode("utf-8", "replace"),
                                                 name.decode("utf-8", "replace"))
        else:
            self.shared.event(kind, fields)
