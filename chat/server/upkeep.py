"""What the server does by itself on timers: rooms' expiry, retention.

Theory of operation
-------------------
Issue 21's budgets that no request triggers. With ``--room-ttl`` a timer
asks the core to expire empty rooms whose last member left that long ago
(``ChatCore.expire_rooms``), every quarter of the TTL (at most a minute).
With ``--retain-messages`` or ``--retain-days`` the store deletes what is
past them in small steps (``store.retain(limits.RETAIN_BATCH)``), one a
loop pass while there is more, then every ``retain_interval``; a step
waits while this pass's commit is pending, so retention never takes the
place of a message in a commit.
"""

import logging

from .. import limits

log = logging.getLogger("chat.server")


class Upkeep:
    """The room-expiry and retention timers of one server."""

    def __init__(self, server):
        self.server = server
        self.loop = server.loop
        self.config = server.config
        self._ttl_timer = None
        self._retain_timer = None

    def start(self):
        if self.config.room_ttl > 0:
            self._ttl_timer = self.loop.call_later(self._ttl_period(), self._expire_rooms)
        if self.config.db is not None and (self.config.retain_messages
                                           or self.config.retain_days):
            # (on a cluster the stream sweep applies them: cluster/sweep.py)
            self._retain_timer = self.loop.call_later(0, self._retain)

    def stop(self):
        for timer in (self._ttl_timer, self._retain_timer):
            if timer is not None:
                timer.cancel()

    def _ttl_period(self):
        return min(60.0, max(0.05, self.config.room_ttl / 4))

    def _expire_rooms(self):
        expired = self.server.core.expire_rooms()
        if expired:
            log.info("%d empty room%s expired (--room-ttl %g s)", expired,
                     "" if expired == 1 else "s", self.config.room_ttl)
        self._ttl_timer = self.loop.call_later(self._ttl_period(), self._expire_rooms)

    def _retain(self):
        """One small step of retention; the next soon if there is more."""
        commits = self.server.commits
        if commits is not None and commits.holding:
            more = True   # after this pass's commit
        else:
            more = self.server.core.store.retain(limits.RETAIN_BATCH)
        self._retain_timer = self.loop.call_later(
            0.0 if more else self.config.retain_interval, self._retain)
