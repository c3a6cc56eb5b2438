"""The store without a database: the server's memory only (no ``--db``).

Theory of operation
-------------------
Every change applies at once and ``commit()`` has nothing to do, so the
glue never holds anything back (``durable`` is false) and the broadcast
path costs what it cost before stores existed: one call and one
``deque.append`` per message. A room keeps its last ``keep`` messages
(the history limit) as the same bytes objects the core broadcast, so
memory grows by references, not copies. It is also the reference the
parametrized store tests hold the SQLite store to.
"""

import collections
import itertools

from . import Snapshot


class MemoryStore:
    durable = False
    pending = False

    def __init__(self, keep=None):
        self.keep = keep if keep is None or keep > 0 else 0   # per room (None: all)
        self._rooms = {}               # key -> [name, deque of (sender key, payload), last seq]
        self._seq = itertools.count()  # order of activity, for load's room order
        self._accounts = {}
        self._bans = {}                # key -> (name, reason, host, by, at), in the order made

    def append(self, room_key, room_name, sender_key, payload):
        room = self._rooms.get(room_key)
        if room is None:
            room = self._rooms[room_key] = [room_name, collections.deque(maxlen=self.keep), 0]
        room[1].append((sender_key, payload))
        room[2] = next(self._seq)

    def purge(self, room_key, sender_key):
        room = self._rooms.get(room_key)
        if room is not None:
            room[1] = collections.deque((m for m in room[1] if m[0] != sender_key),
                                        maxlen=self.keep)

    def recent(self, room_key, limit):
        """The last ``limit`` messages of a room, oldest first."""
        room = self._rooms.get(room_key)
        if room is None or limit <= 0:
            return []
        return list(room[1])[-limit:]

    def trim(self, room_key, keep):
        """Keep only the room's last ``keep`` messages (the history memory
        budget let the others go: no second reference may hold them)."""
        room = self._rooms.get(room_key)
        if room is not None:
            while len(room[1]) > keep:
                room[1].popleft()
            if not room[1]:
                del self._rooms[room_key]

    def drop_room(self, room_key):
        self._rooms.pop(room_key, None)

    def retain(self, batch):
        """Nothing to delete: the memory store keeps the history limit only."""
        return False

    def set_account(self, key, salt, digest, n):
        self._accounts[key] = (salt, digest, n)

    def add_ban(self, key, name, reason, host, by=None, at=None):
        self._bans.pop(key, None)
        self._bans[key] = (name, reason, host, by, at)

    def remove_ban(self, key):
        self._bans.pop(key, None)

    def load(self):
        rooms = sorted(((key, room) for key, room in self._rooms.items() if room[1]),
                       key=lambda item: -item[1][2])
        return Snapshot([(key, room[0], list(room[1])) for key, room in rooms],
                        dict(self._accounts), list(self._bans.values()))

    def commit(self):
        """Nothing waits: every change applied when it was made."""

    def message_count(self):
        return sum(len(room[1]) for room in self._rooms.values())

    def close(self):
        """Nothing to release (and nothing is ever left uncommitted)."""
