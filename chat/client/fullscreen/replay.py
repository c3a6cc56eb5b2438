"""Messages already shown, so that a history replayed after a reconnection
shows only what was missed.

Theory of operation
-------------------
After an automatic reconnection the client logs in and rejoins its room,
and the server answers with the room's ``history``: mostly messages the
person has already seen. ``SeenMessages`` keeps a key of every message
shown (a hash of timestamp, sender, content: the server broadcasts each message once
and replays it byte for byte, PROTOCOL.md section 3), bounded to the most
recent ``limit``, and ``filter`` takes the ones seen before out of a
``history`` (JSON-string entries included). A history whose every entry
was seen is not shown at all. Live messages are always shown (and
remembered): two equal messages in one second are two messages, and so
are equal entries within one history.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from ..render import response_kind

__all__ = ["SeenMessages"]


def _key(message: dict) -> int:
    """The process's own (salted, 64-bit) hash of timestamp, sender and
    content: nothing of the text is kept, and a long message costs one
    pass in C (issue 21: a flood of long messages)."""
    fields = (message.get("timestamp"), message.get("sender"), message.get("content"))
    try:
        return hash(fields)
    except TypeError:            # a list or an object in a field
        return hash(json.dumps(fields, default=str))


def _entry(entry: Any) -> Any:
    if isinstance(entry, str):
        try:
            return json.loads(entry)
        except ValueError:
            return entry
    return entry


class SeenMessages:
    """Keys of the last ``limit`` messages shown."""

    def __init__(self, limit: int = 20_000) -> None:
        self._keys: set = set()
        self._order: collections.deque = collections.deque()
        self._limit = limit

    def _remember(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        key = _key(message)
        if key not in self._keys:
            self._keys.add(key)
            self._order.append(key)
            if len(self._order) > self._limit:
                self._keys.discard(self._order.popleft())

    def _seen(self, message: Any) -> bool:
        return isinstance(message, dict) and _key(message) in self._keys

    def filter(self, payload: Any) -> Any:
        """``payload`` without what was shown before, or None: nothing new."""
        kind = response_kind(payload)
        if kind in ("message", "msg"):
            self._remember(payload)
            return payload
        if kind == "history" and isinstance(payload.get("content"), list):
            content = payload["content"]
            fresh = [entry for entry in content if not self._seen(_entry(entry))]
            for entry in fresh:
                self._remember(_entry(entry))
            if content and not fresh:
                return None
            return payload if len(fresh) == len(content) else dict(payload, content=fresh)
        return payload
