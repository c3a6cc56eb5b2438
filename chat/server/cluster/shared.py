"""Accounts, bans and purges shared by every node of a cluster.

Theory of operation
-------------------
A cluster node's store is ``chat.store.redis.RedisStore``: the memory
store writing accounts, bans and purges through to Redis, and announcing
each change as an event in the shared ``ktn:events`` stream (the one
presence uses). Every other node applies the event to its own core as it
reads it (``SharedState.event``): a ban also disconnects the banned user
if they are on that node; a purge makes each node purge its copy of the
room's history (the store already deleted the entries from the stream, so
later histories, on any node, lack them); an operator's ``drop`` makes
each node move its users of the room to #lobby, told as on a single server,
and forget the room (the dropping node deleted the stream).

A starting node reads the accounts and bans (``load``, through the store's
``fetch``) before it opens. Changes made while Redis is down are refused
before they are made (the gate), or fail with the error of the request
that made them. Failed password attempts travel as events too (``fail``,
see ``chat/server/cluster/node.py``), so the per-address limit is the cluster's.
"""

import logging

from ...store.redis import parse_account, parse_ban

log = logging.getLogger("chat.cluster")


class SharedState:
    """Loads the shared accounts and bans, and applies others' changes."""

    def __init__(self, core, kick, carry_out, forget_own):
        self.core = core
        self.store = core.store
        self.kick = kick           # fn(session, text): disconnect a banned user
        self.carry_out = carry_out   # fn(effects): the server carries them out
        self.forget_own = forget_own   # fn(room key): delete our appends to its stream

    def load(self, then):
        """Read the accounts and bans into the core; ``then(error)``."""
        def fetched(snapshot, error):
            if error is None:
                self.core.accounts.restore(snapshot.accounts)
                self.core.bans.restore(snapshot.bans)
            then(error)
        self.store.fetch(fetched)

    def resync(self, then):
        """The events stream was trimmed past what this node had read (it
        was cut off while the others made more changes than the stream
        keeps): read the accounts and bans again and make this node's equal
        them; a ban now in force disconnects its user here too.
        ``then(error)`` when done."""
        def fetched(snapshot, error):
            if error is not None:
                log.warning("re-reading the accounts and bans failed: %s", error)
                then(error)
                return
            self.core.accounts.restore(snapshot.accounts)
            bans = self.core.bans
            wanted = {ban[0].lower(): ban for ban in snapshot.bans}
            for key in [key for key in bans.names if key not in wanted]:
                self._apply(bans.remove, key)
            for key, ban in wanted.items():
                if bans.names.get(key) != ban:
                    self._apply(bans.add, *ban)
                    self._kick_banned(key, ban)
            then(None)
        self.store.fetch(fetched)

    def event(self, kind, fields):
        """One shared change from another node (``kind``: the event's t)."""
        key = fields.get("k")
        if not isinstance(key, bytes):
            return
        if kind == b"account":
            self._account(key, fields.get("a"))
        elif kind == b"ban":
            ban = self._ban(fields.get("b"))
            if ban is not None:
                self._kick_banned(key.decode("utf-8", "replace"), ban)
        elif kind == b"unban":
            self._apply(self.core.bans.remove, key.decode("utf-8", "replace"))
        elif kind == b"drop":
            self._dropped(key.decode("utf-8", "replace"), fields.get("by"))
        elif kind == b"purge":
            room = self.core.rooms.get((fields.get("r") or b"").decode("utf-8", "replace"))
            if room is not None:
                room.history.purge(key.decode("utf-8", "replace"))

    def _dropped(self, room_key, by):
        """Another node's operator dropped the room: move our users out.
        If any were here, delete what they said there since (a message sent
        before this node heard of the drop recreated the stream), and only
        that: when we hear late (cut off, stopped), others may have made
        the room again meanwhile, and their stream is not ours to delete."""
        by = by.decode("utf-8", "replace") if isinstance(by, bytes) else "an operator"
        effects = self._apply(self.core.dropped_elsewhere, room_key, by)
        if effects:
            self.forget_own(room_key)
            self.carry_out(effects)

    def _kick_banned(self, key, ban):
        session = self.core.users.get(key)
        if session is not None:
            self.kick(session, "you are banned: %s" % ban[1] if ban[1] else "you are banned")

    def _apply(self, change, *args):
        with self.store.applying():
            return change(*args)

    def _account(self, key, record):
        try:
            account = parse_account(record)
        except ValueError as exc:
            log.warning("ignored a shared account of %r: %s", key, exc)
            return
        self.core.accounts.restore({key.decode("utf-8", "replace"): account})

    def _ban(self, record):
        """Apply one ban record; return (name, reason, host) or None."""
        try:
            ban = parse_ban(record)
        except ValueError as exc:
            log.warning("ignored a shared ban: %s", exc)
            return None
        self._apply(self.core.bans.add, *ban)
        return ban
