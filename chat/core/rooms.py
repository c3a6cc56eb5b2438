"""Rooms: who is where, and the join, leave and rooms requests.

Theory of operation
-------------------
Every logged-in session is in exactly one ``Room`` (``session.room``);
login puts it in ``#lobby``, which always exists. A room owns its members
(in join order), its ``History`` and its ``Presence``; ``msg``, ``names``
and presence notices stay inside it. Room names are unique regardless of
case (the creator's spelling is kept) and shown as ``#name``.

A room exists while it has members or history: the last member leaving an
empty-history room removes it, so a client that joins and leaves 10 000
rooms leaves nothing behind. Rooms besides the lobby are capped
(``max_rooms``).

Two answers are cached per room until its membership changes, because
they are asked for far more often than members come and go: the tuple of
recipients for a broadcast, and the sorted ``names`` text (issue 8, defect
8: no sort per request). The ``rooms`` listing is cached likewise until
any membership changes.

Issue 21: a room without members but with history stays, under the
history memory budget (``budget``: its history may be parked in the
store, ``parked`` counting it) and its TTL (``room_life``). An operator's
``rooms`` lists every room, users or not, with its stored messages.
"""

import re

from .. import protocol
from ..protocol import RequestError
from .history import History
from .presence import Presence
from .session import Send

LOBBY = "lobby"
MAX_ROOM_NAME_LENGTH = 32

#: Rooms an operator's ``rooms`` lists before "... and N more".
OPERATOR_LISTING = 200

_ROOM_NAME = re.compile(r"[A-Za-z0-9_-]+")


def check_room_name(text, request="join"):
    """The room name without ``#``, or ``RequestError`` naming the rule."""
    name = text.strip()
    if name.startswith("#"):
        name = name[1:]
    if not name:
        raise RequestError("%s needs a room: %s <room>" % (request, request))
    if len(name) > MAX_ROOM_NAME_LENGTH:
        raise RequestError("room name too long: at most %d characters" % MAX_ROOM_NAME_LENGTH)
    if not _ROOM_NAME.fullmatch(name):
        raise RequestError("invalid room name: use only the letters A-Z, a-z, the digits "
                           "0-9, '-' and '_' (with or without a leading '#')")
    return name


class Room:
    """One room: members, history, pending presence, cached answers."""

    __slots__ = ("name", "key", "members", "remote", "history", "presence", "_recipients",
                 "_names_text", "_names_response", "parked", "idle_since")

    def __init__(self, name, history_limit, meter=None):
        self.name = name            # as spelled by its creator, without '#'
        self.key = name.lower()
        self.members = {}           # Session -> None, in join order
        self.remote = {}            # key -> name: members on other cluster nodes
        self.history = History(history_limit, meter)
        self.parked = 0             # messages only in the store (the budget evicted them)
        self.idle_since = 0.0       # when the last member left (the TTL counts from it)
        self.presence = Presence()
        self._recipients = None     # tuple of members, until membership changes
        self._names_text = None
        self._names_response = None  # (timestamp, bytes)

    @property
    def label(self):
        return "#" + self.name

    def add(self, session):
        self.members[session] = None
        self._membership_changed()

    def remove(self, session):
        del self.members[session]
        self._membership_changed()

    def add_remote(self, key, name):
        """A member on another cluster node (``key``: the case-folded name)."""
        self.remote[key] = name
        self._membership_changed()

    def remove_remote(self, key):
        """That member left; whether it was here."""
        if self.remote.pop(key, None) is None:
            return False
        self._membership_changed()
        return True

    @property
    def size(self):
        """Members here and, in a cluster, on the other nodes."""
        return len(self.members) + len(self.remote)

    def _membership_changed(self):
        self._recipients = self._names_text = self._names_response = None

    @property
    def abandoned(self):
        """No members and no history: the room may cease to exist."""
        return (not self.members and not self.remote and not len(self.history)
                and not self.parked)

    @property
    def stored(self):
        """Messages kept for the room's history, in memory or parked."""
        return len(self.history) + self.parked

    def recipients(self):
        """Every member, as one tuple shared by broadcasts until someone
        comes or goes (the glue only iterates it)."""
        if self._recipients is None:
            self._recipients = tuple(self.members)
        return self._recipients

    def names_response(self, timestamp):
        """The ``names`` answer: sorted once per membership change, encoded
        once per second."""
        cached = self._names_response
        if cached is not None and cached[0] == timestamp:
            return cached[1]
        if self._names_text is None:
            names = sorted([*(s.name for s in self.members), *self.remote.values()],
                           key=lambda n: (n.lower(), n))
            where = "online" if self.key == LOBBY else "in " + self.label
            self._names_text = "Users %s (%d): %s" % (where, len(names), ", ".join(names))
        data = protocol.encode_response(timestamp, protocol.SERVER_SENDER, protocol.INFO,
                                        self._names_text)
        self._names_response = (timestamp, data)
        return data


class RoomRequests:
    """The ``join``, ``leave`` and ``rooms`` handlers of ``ChatCore``."""

    def _on_join(self, session, content):
        name = check_room_name(content)
        room = self.rooms.get(name.lower())
        if room is session.room:
            raise RequestError("you are already in %s" % room.label)
        if room is None:
            if len(self.rooms) - 1 >= self.max_rooms:
                raise RequestError("too many rooms: the server holds at most %d besides "
                                   "#lobby; join an existing one (see 'rooms')" % self.max_rooms)
            self._check_room_creation(session)
            room = self.rooms[name.lower()] = self._new_room(name)
        return self._move(session, room)

    def _on_leave(self, session, _content):
        if session.room is self.lobby:
            raise RequestError("you are in #lobby already: leave takes you back to #lobby "
                               "from another room")
        return self._move(session, self.lobby)

    def _on_rooms(self, session, _content):
        # The asker is in its room, so every asker gets the same listing:
        # built once per change of membership anywhere and clock second.
        if session.operator:
            return [self.info(session, self._rooms_for_operators())]
        key = (self._membership_version, self.clock.timestamp())
        if self._rooms_response is None or self._rooms_response[0] != key:
            shown = [room for room in self.rooms.values() if room.size]
            shown.sort(key=lambda room: (-room.size, room.key))
            listing = ", ".join("%s (%d)" % (room.label, room.size) for room in shown)
            text = "Rooms (%d): %s" % (len(shown), listing)
            self._rooms_response = (key, self._server_response(protocol.INFO, text))
        return [Send(session, self._rooms_response[1])]

    def _rooms_for_operators(self):
        """Every room, users or not, with its users and stored messages
        (not cached: operators are few); at most ``OPERATOR_LISTING``."""
        shown = sorted(self.rooms.values(), key=lambda room: (-room.size, -room.stored, room.key))
        listing = ", ".join("%s (%d user%s, %d message%s)"
                            % (room.label, room.size, "" if room.size == 1 else "s",
                               room.stored, "" if room.stored == 1 else "s")
                            for room in shown[:OPERATOR_LISTING])
        more = len(shown) - OPERATOR_LISTING
        return "Rooms (%d): %s%s" % (len(shown), listing,
                                     ", ... and %d more" % more if more > 0 else "")

    def _move(self, session, room):
        """Leave the current room for ``room``; answer as a login does."""
        self._exit_room(session)
        self._enter_room(session, room)
        count = room.size
        effects = [self.info(session, "Joined %s (%d user%s)"
                             % (room.label, count, "" if count == 1 else "s")),
                   Send(session, self.history_response(room))]
        if self.budget.over:   # a parked history came back, a cache was built
            self.budget.enforce()
        return effects

    def _enter_room(self, session, room):
        self._membership_version += 1
        if not room.members and room is not self.lobby:
            self.budget.room_busy(room)
        session.room = room
        room.add(session)
        room.presence.join(session)
        self._presence_rooms[room] = None
        self.hooks.moved(session, room, True, True)

    def _exit_room(self, session, notice=True):
        """Take ``session`` out of its room (with a "left" notice unless
        ``notice`` is false); an abandoned room ceases to exist."""
        room = session.room
        session.room = None
        room.remove(session)
        self._membership_version += 1
        if notice:
            room.presence.leave(session)
            self._presence_rooms[room] = None
        else:
            room.presence.forget(session)
        self.hooks.moved(session, room, False, notice)
        if room is self.lobby or room.members:
            return
        if room.abandoned:
            del self.rooms[room.key]
            self._presence_rooms.pop(room, None)
        elif not self.shared_log and not room.remote:
            # a cluster node's rooms follow the shared log: no budget, no TTL here
            self.budget.room_idle(room, self.now())
            self.budget.enforce()
