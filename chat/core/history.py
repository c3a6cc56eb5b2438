"""A room's bounded history, kept as the bytes that were broadcast.

Theory of operation
-------------------
Each entry is a ``message`` payload exactly as it was broadcast (the same
bytes object, newline included, which the store keeps too: one copy in
memory, not two), oldest first, at most ``limit`` of them, with the case-folded
name of its sender (so ``purge`` can remove a user's messages). The
``history`` response is assembled from those bytes (never re-encoded) once
per *version* of the history, and the same bytes object goes to every
session that asks until the history changes: a thousand logins that do not
read hold one copy, not a thousand. Its timestamp is therefore when that
version was first sent, which is when the server generated those bytes.

Every entry's content is at most ``max_message_bytes`` on the wire, so a
history is bounded in bytes too: ``worst_case_response_bytes`` gives the
largest ``history`` response the limits allow (the glue compares it with
its output cap at start-up).

Every history reports what it holds to a shared ``HistoryMeter`` (its
entries and its cached response alike), so the core can keep all the
rooms' histories under one memory budget (``chat.core.budget``).
"""

import collections

from .. import protocol
from .session import MAX_USERNAME_LENGTH

#: Longest timestamp the server's clock writes ("2026-11-23T19:59:04+01:00"
#: is 25), with room to spare.
TIMESTAMP_MAX_LENGTH = 32


class HistoryMeter:
    """Bytes held by every history it is handed to: entries and cached
    responses (issue 21: the budget counts both)."""

    __slots__ = ("bytes",)

    def __init__(self):
        self.bytes = 0


class History:
    """The most recent messages of one room, as encoded bytes."""

    __slots__ = ("limit", "_entries", "bytes", "version", "_cache", "meter")

    def __init__(self, limit, meter=None):
        self.limit = limit
        self._entries = collections.deque()  # (sender key, payload as broadcast)
        self.bytes = 0
        self.version = 0
        self._cache = None                   # (version, bytes)
        self.meter = HistoryMeter() if meter is None else meter

    def __len__(self):
        return len(self._entries)

    def append(self, sender_key, payload):
        """Remember one broadcast ``message`` payload (with its newline)."""
        if self.limit <= 0:
            return
        self._entries.append((sender_key, payload))
        before = self.bytes
        self.bytes += len(payload) + 1   # in a response: without "\n", with ", "
        while len(self._entries) > self.limit:
            self.bytes -= len(self._entries.popleft()[1]) + 1
        self.meter.bytes += self.bytes - before
        self.version += 1   # _changed, inline: this is every message's path
        if self._cache is not None:
            self.drop_cache()

    def entries(self):
        """(sender key, payload) oldest first (a copy)."""
        return list(self._entries)

    def drop_oldest(self):
        """Forget the oldest message (the memory budget trims an idle room
        this way when no database keeps it); return its payload's size."""
        size = len(self._entries.popleft()[1]) + 1
        self.bytes -= size
        self.meter.bytes -= size
        self._changed()
        return size

    def drop_cache(self):
        """Forget the cached response (nobody is in the room to ask)."""
        if self._cache is not None:
            self.meter.bytes -= len(self._cache[1])
            self._cache = None

    def discard(self, sender_key, payload):
        """Take back the newest entry of ``payload`` (a message the store
        failed to keep, so it was never sent)."""
        entries = self._entries
        for index in range(len(entries) - 1, -1, -1):
            if entries[index][1] == payload and entries[index][0] == sender_key:
                del entries[index]
                self.bytes -= len(payload) + 1
                self.meter.bytes -= len(payload) + 1
                self._changed()
                return

    def clear(self):
        """Forget every message (a cluster node stops reading the room's log
        and will read it again from the stream)."""
        if self._entries:
            self._entries = collections.deque()
            self.meter.bytes -= self.bytes
            self.bytes = 0
            self._changed()

    def purge(self, sender_key):
        """Remove every message from ``sender_key``; return how many."""
        kept = collections.deque(e for e in self._entries if e[0] != sender_key)
        removed = len(self._entries) - len(kept)
        if removed:
            self._entries = kept
            before = self.bytes
            self.bytes = sum(len(e[1]) + 1 for e in kept)
            self.meter.bytes += self.bytes - before
            self._changed()
        return removed

    def _changed(self):
        self.version += 1
        self.drop_cache()

    def response(self, timestamp):
        """The encoded ``history`` response: one bytes object per version."""
        cached = self._cache
        if cached is not None and cached[0] == self.version:
            return cached[1]
        head = protocol.encode_response(timestamp, protocol.SERVER_SENDER,
                                        protocol.HISTORY, [])[:-4]  # cut '[]}\n'
        # each entry without its newline (a slice copies, but only while building)
        data = b"".join((head, b"[", b", ".join([e[1][:-1] for e in self._entries]), b"]}\n"))
        self.drop_cache()
        self._cache = (self.version, data)
        self.meter.bytes += len(data)
        return data


def worst_case_response_bytes(history_limit, max_message_bytes):
    """The largest ``history`` response, in bytes, that these limits allow:
    ``history_limit`` messages from senders with the longest names, each
    with ``max_message_bytes`` of encoded content."""
    stamp = "0" * TIMESTAMP_MAX_LENGTH
    empty = len(protocol.encode_response(stamp, protocol.SERVER_SENDER, protocol.HISTORY, []))
    if history_limit <= 0:
        return empty
    entry = len(protocol.encode_response(stamp, "x" * MAX_USERNAME_LENGTH,
                                         protocol.MESSAGE, "")) - 1 + max_message_bytes
    return empty + history_limit * entry + (history_limit - 1) * len(b", ")
