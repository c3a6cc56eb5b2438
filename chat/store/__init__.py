"""What the server remembers across restarts: the store interface.

Theory of operation
-------------------
The core decides, the store remembers. The core tells the store every
change worth keeping as it makes it (``append`` a message, ``purge`` a
user's messages from a room, ``set_account``, ``add_ban``,
``remove_ban``) and asks it once, at start-up, for what it remembers
(``load``: each room's last messages, the accounts, the bans). Those calls
never block: a store that writes to a disk only collects them, and the
glue calls ``commit()`` once per loop pass (group commit), so one
transaction carries every change of the pass.

``durable`` says whether ``commit()`` makes changes survive a crash. With
a durable store the glue holds back the effects of a pass until its
commit has succeeded: a message is stored before anyone is sent it. When
a commit fails (disk full, I/O error) it raises ``StoreError`` carrying
the messages it dropped (their senders are told to try again); the other
changes stay pending and go with the next commit.

A message is kept as the bytes that were broadcast (the ``message``
payload with its newline), so what a restart replays is byte for byte what
clients saw. Implementations: ``memory.MemoryStore`` (no ``--db``),
``sqlite.SqliteStore`` (``--db``) and ``redis.RedisStore`` (``--redis``:
a cluster's accounts and bans in Redis, its rooms' messages in their
streams); nothing outside ``chat/store/`` knows SQL.

Issue 21 adds what bounds a store: ``recent(room, n)`` (a room's history
read back when the memory budget parked it), ``trim`` and ``drop_room``
(the budget and the operators' ``drop``), ``retain(batch)`` (one small
step of retention; whether there is more to do) and ``StoreBusy``, a
commit that found the database locked by another process and kept
everything pending.
"""

import collections

#: What ``load`` recalls. ``rooms``: (key, name, [(sender key, payload)])
#: with the last messages oldest first, the most recently active room
#: first; ``accounts``: key -> (salt, hash); ``bans``: (name, reason,
#: host or None) in the order they were made.
Snapshot = collections.namedtuple("Snapshot", "rooms accounts bans")

#: One stored message, as ``StoreError.messages`` hands the dropped ones back.
StoredMessage = collections.namedtuple("StoredMessage", "room_key sender_key payload")


class StoreError(Exception):
    """A commit failed; ``messages`` were dropped, the rest stays pending."""

    def __init__(self, text, messages=()):
        super().__init__(text)
        self.messages = list(messages)


class StoreBusy(StoreError):
    """Another process holds the database's lock: nothing was dropped, the
    changes stay pending for the next try (issue 21)."""


class StoreOpenError(Exception):
    """The store cannot be used (a bad file): one line that says why."""
