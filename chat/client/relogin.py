"""Reconnecting: the backoff, and waiting for a name the server still holds.

Theory of operation
-------------------
When a connection dies on the way (a network path, a NAT, a laptop
lid), the client may notice before the server does: the server still
holds the old session, and the reconnection's ``login alice`` gets
``error`` "Username taken: alice is already logged in" (``chat.core.chat``;
peers say "Username taken" too, PROTOCOL.md section 1). The name comes
free when the server drops the dead session (its ``--idle-timeout``, or
TCP's own timeout), so the client asks again, on the same connection,
with the reconnection's backoff (``backoff``: ``--reconnect-delay``
doubling up to ``--reconnect-max``), a bounded number of times
(``NameWait``), rather than giving up at once or taking another name.
Pure: the engine (``chat.client.engine``) owns the timers.
"""

from __future__ import annotations

from typing import Any

from .render import response_kind

__all__ = ["RELOGIN_ATTEMPTS", "NameWait", "backoff", "name_held"]

#: Tries to log in again under a name still held before giving up (with the
#: default backoff, 1 s doubling to 60 s: about five minutes).
RELOGIN_ATTEMPTS = 10


def backoff(delay: float, limit: float, attempt: int) -> float:
    """The wait before try ``attempt`` (0 first): ``delay`` doubled each
    time, never more than ``limit``."""
    return min(limit, delay * 2 ** min(attempt, 30))


def name_held(payload: Any) -> bool:
    """True when ``payload`` refuses a login because the name is in use."""
    content = payload.get("content") if isinstance(payload, dict) else None
    return (response_kind(payload) == "error" and isinstance(content, str)
            and content.lower().startswith("username taken"))


class NameWait:
    """The tries left to log in again under a held name, and their waits."""

    def __init__(self, delay: float, limit: float, attempts: int = RELOGIN_ATTEMPTS) -> None:
        self.delay, self.limit, self.attempts = delay, limit, attempts
        self.tries = 0

    def next_delay(self) -> float | None:
        """The wait before the next try, or None: give up."""
        if self.tries >= self.attempts:
            return None
        self.tries += 1
        return backoff(self.delay, self.limit, self.tries - 1)
