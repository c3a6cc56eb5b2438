"""Rooms' life cycle: creation limits, expiry, and the operators' ``drop``.

Theory of operation
-------------------
Issue 21: room slots (``max_rooms``) could be squatted invisibly and for
good. Three things end that:

* **creation is limited per network**: ``room_creations`` new rooms an
  hour from one address group (a token bucket each; loopback exempt, 0: off),
  so one client cannot fill the slots in a burst;
* **an empty room with history expires** ``room_ttl`` seconds after its
  last member left (``expire_rooms``, called by the glue's timer): it
  goes from memory and from the store;
* **operators see and drop rooms**: ``drop <room>`` deletes the room and
  its history (memory and database), frees its slot and moves its users
  to ``#lobby`` as ``leave`` would, each told "#room was dropped by
  alice" first. ``#lobby`` cannot be dropped. On a cluster the glue hears
  of it (``hooks.room_dropped``) and tells the other nodes, where
  ``dropped_elsewhere`` does the same to their users.

The per-address buckets are forgotten once full again, and there are at
most ``MAX_TRACKED_ADDRESSES`` of them (the oldest go first), so the
table is bounded however many addresses ask.
"""

from .. import limits, protocol
from ..protocol import RequestError
from .networks import is_loopback
from .rooms import LOBBY, Room, check_room_name
from .session import Send

#: Addresses whose room-creation budget is remembered at once.
MAX_TRACKED_ADDRESSES = 4096

#: The window of ``room_creations``, in seconds.
ROOM_CREATION_WINDOW = 3600.0


class RoomLife:
    """The ``drop`` handler and the room life cycle of ``ChatCore``."""

    def _new_room(self, name):
        return Room(name, self.history_limit, self.history_meter)

    def _check_room_creation(self, session):
        """Refuse a new room past the memory budget or the address's limit."""
        if not self.budget.enforce():
            self.hooks.history_budget_exceeded(self.history_meter.bytes, self.budget.limit)
            raise RequestError("the server's memory for histories is full "
                               "(--max-history-memory): join an existing room")
        limit = self.room_creations
        host = session.host
        if not limit or host is None or is_loopback(host):
            return
        group = self.groups.group(host)   # a network, not an address string
        now = self.now()
        buckets = self._creation_buckets
        bucket = buckets.pop(group, None)
        if bucket is None:
            bucket = limits.TokenBucket(limit / ROOM_CREATION_WINDOW, limit, now)
            while len(buckets) >= MAX_TRACKED_ADDRESSES:
                del buckets[next(iter(buckets))]
        buckets[group] = bucket   # most recent last
        wait = bucket.take(now)
        if wait:
            raise RequestError("too many rooms created from your network: try again in %d "
                               "minutes" % max(1, round(wait / 60)))

    def _room_gone(self, room):
        """An idle room lost its last message to the budget: it ceases to exist."""
        if self.rooms.get(room.key) is room and room.abandoned:
            del self.rooms[room.key]
            self._presence_rooms.pop(room, None)

    def _delete_room(self, room):
        """Take ``room`` (without members) out of memory and the store."""
        self.budget.forget(room)
        room.history.clear()
        room.parked = 0
        self.rooms.pop(room.key, None)
        self._presence_rooms.pop(room, None)
        self._membership_version += 1
        self.store.drop_room(room.key)

    def expire_rooms(self):
        """Delete the empty rooms idle for longer than ``room_ttl``; how many."""
        if self.room_ttl <= 0:
            return 0
        expired = self.budget.expired(self.now() - self.room_ttl)
        for room in expired:
            self._delete_room(room)
        return len(expired)

    def _on_drop(self, session, content):
        name = check_room_name(content, "drop")
        key = name.lower()
        if key == LOBBY:
            raise RequestError("#lobby cannot be dropped")
        room = self.rooms.get(key)
        if room is None:
            raise RequestError("no room #%s" % name)
        stored, users = room.stored, room.size   # before the moves (a cluster's included)
        inside = session in room.members
        effects = self._evacuate(room, session.name)
        self._delete_room(room)
        self.hooks.audit("drop", None, room.label, session.name)
        self.hooks.room_dropped(room, session.name)
        if not inside:
            effects.append(self.info(session, "%s dropped: %d user%s moved to #lobby, %d "
                                     "message%s deleted"
                                     % (room.label, users, "" if users == 1 else "s",
                                        stored, "" if stored == 1 else "s")))
        return effects

    def _evacuate(self, room, by):
        """Tell each member here that ``by`` dropped ``room``, and move them
        to #lobby as ``leave`` would."""
        notice = self._server_response(protocol.INFO, "%s was dropped by %s" % (room.label, by))
        effects = []
        for member in list(room.members):
            effects.append(Send(member, notice))
            effects += self._move(member, self.lobby)
        return effects

    def dropped_elsewhere(self, room_key, by):
        """An operator on another node of the cluster dropped the room: its
        users here are moved out as by a drop here, and it is forgotten
        (the store is the caller's: the dropping node deleted the stream).
        Effects."""
        room = self.rooms.get(room_key)
        if room is None or room is self.lobby:
            return []
        effects = self._evacuate(room, by)
        self._delete_room(room)
        return effects
