"""The memory budget of the rooms' histories, and which rooms are idle.

Theory of operation
-------------------
Every ``History`` reports its bytes (entries and cached ``history``
response) to one ``HistoryMeter``; ``HistoryBudget`` keeps the meter under
``limit`` bytes (``--max-history-memory``, issue 21). Only rooms without
members give way: a room whose last member leaves drops its cached
response and joins ``idle`` (least recently used first, since a room is
appended when it becomes idle and removed when someone enters); rooms with
members are never trimmed below their history limit.

Past the limit, the least recently used idle rooms give their histories
back, oldest first:

* with a durable store (``--db``) the whole history leaves memory and the
  room keeps only the count (``Room.parked``); the next ``join`` reads it
  back with one indexed query (``store.recent``);
* without one, the oldest messages are dropped (the store is told to
  ``trim`` too, so no second reference keeps them alive) until the meter
  is under the limit; a room left empty ceases to exist (``gone``).

If the rooms with members alone hold more than the limit, ``enforce``
says so (false): the core refuses new rooms and the glue logs it.

``idle`` is also the room life cycle's clock: each idle room's
``idle_since`` orders it, so ``expired`` walks from the front and stops at
the first room younger than the TTL.
"""


class HistoryBudget:
    """Keeps the meter under ``limit`` by evicting idle rooms' histories."""

    def __init__(self, limit, meter, store, gone):
        self.limit = limit          # bytes; 0: no budget
        self.meter = meter
        self.store = store
        self.parks = bool(store.durable)   # a database keeps what memory lets go
        self.gone = gone            # gone(room): a trimmed room is empty, remove it
        self.idle = {}              # Room -> None, idle the longest first (TTL)
        self.resident = {}          # the idle rooms with history in memory, LRU first

    def room_idle(self, room, now):
        """``room`` has no member any more."""
        room.idle_since = now
        room.history.drop_cache()
        self.idle.pop(room, None)
        self.idle[room] = None
        self.resident.pop(room, None)
        if len(room.history):
            self.resident[room] = None

    def room_busy(self, room):
        """Someone entered ``room``: bring back a parked history."""
        self.idle.pop(room, None)
        self.resident.pop(room, None)
        if room.parked:
            room.parked = 0
            for sender_key, payload in self.store.recent(room.key, room.history.limit):
                room.history.append(sender_key, payload)

    def forget(self, room):
        self.idle.pop(room, None)
        self.resident.pop(room, None)

    @property
    def over(self):
        return self.limit > 0 and self.meter.bytes > self.limit

    def enforce(self):
        """Evict until the meter is under the limit; whether it is."""
        while self.over and self.resident:
            room = next(iter(self.resident))
            history = room.history
            if self.parks:
                del self.resident[room]
                room.parked += len(history)
                history.clear()
                continue
            while len(history) and self.over:
                history.drop_oldest()
            self.store.trim(room.key, len(history))
            if not len(history):
                self.forget(room)
                self.gone(room)
        return not self.over

    def expired(self, deadline):
        """The idle rooms idle since before ``deadline``, oldest first."""
        rooms = []
        for room in self.idle:
            if room.idle_since > deadline:
                break
            rooms.append(room)
        return rooms
