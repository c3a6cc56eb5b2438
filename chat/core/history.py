"""A bounded chat history kept as the bytes that were broadcast.

Theory of operation
-------------------
Each entry is a ``message`` payload exactly as it was broadcast, without
its newline, oldest first, at most ``limit`` of them. The ``history``
response is assembled from those bytes (never re-encoded) and cached
until the next message or the next clock second.
"""

import collections

from .. import protocol


class History:
    """The most recent messages, as encoded bytes."""

    def __init__(self, limit):
        self.limit = limit
        self._entries = collections.deque()  # encoded messages, no newline
        self.bytes = 0
        self._cache = None                   # (timestamp, bytes)

    def append(self, payload):
        """Remember one broadcast ``message`` payload (with its newline)."""
        if self.limit <= 0:
            return
        entry = payload[:-1]
        self._entries.append(entry)
        self.bytes += len(entry) + 2
        while len(self._entries) > self.limit:
            self.bytes -= len(self._entries.popleft()) + 2
        self._cache = None

    def response(self, timestamp):
        """The encoded ``history`` response, built from the stored bytes."""
        cached = self._cache
        if cached is not None and cached[0] == timestamp:
            return cached[1]
        head = protocol.encode_response(timestamp, protocol.SERVER_SENDER,
                                        protocol.HISTORY, [])[:-4]  # cut '[]}\n'
        data = b"".join((head, b"[", b", ".join(self._entries), b"]}\n"))
        self._cache = (timestamp, data)
        return data
