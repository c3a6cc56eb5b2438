"""Durable before visible: hold a pass's effects until its commit.

Theory of operation
-------------------
With a durable store (``--db``) a message must be committed before any
client is sent it, and commits are grouped: one transaction per loop pass.
``GroupCommit`` does that in the glue, so the core stays pure and a
broadcast is still encoded once:

* as soon as the store has something queued, the effects the server is
  asked to carry out are *held*, in order, and the end of the pass is
  booked (``EventLoop.at_end_of_pass``); everything sent earlier in the
  pass has nothing to wait for and went out already;
* a ``Close`` is not held: the connection stops handling requests at once,
  as without a store; only its output's close waits (``defer``), so it
  still comes after the bytes held for it;
* at the end of the pass the store commits once, then the held effects
  are carried out in order (the transports flush in the same pass).

When the commit fails (disk full, I/O error) the store reports the
messages it dropped. They are taken out of the histories, the broadcast
of each becomes an ``error`` for its sender ("message not stored, try
again"), and a held ``history`` that contained one is rebuilt without it:
nothing that was not stored is sent. The other changes stay queued and
are retried with the next pass's commit, or after ``retry_interval`` if no
pass brings one.

A database locked by another process (``StoreBusy``: a backup, ``sqlite3``
in a terminal) is not a failure: the held effects stay held, later
passes' effects join them in order, and the commit is tried again every
``BUSY_RETRY`` seconds from a timer (the loop never waits on the lock).
Only when the lock outlasts ``store_timeout`` are the waiting messages
given up (``store.give_up``) and their senders told "not stored, try
again", as for any failed commit.
"""

import logging

from ..core import Broadcast, Close, Send
from ..store import StoreBusy

log = logging.getLogger("chat.server")

NOT_STORED = "message not stored, try again"

#: Seconds between two tries of a commit that found the database locked.
BUSY_RETRY = 0.05


class _Deferred:
    """A call held in order with the effects (an output's close)."""

    __slots__ = ("call",)

    def __init__(self, call):
        self.call = call


class GroupCommit:
    """Holds effects while the store has uncommitted changes; commits and
    releases them once per loop pass."""

    def __init__(self, loop, store, core, carry_out_now, retry_interval, store_timeout=5.0,
                 timed=None):
        self.loop = loop
        self.store = store
        self.core = core
        self.carry_out_now = carry_out_now        # the server's way of doing effects
        self.retry_interval = retry_interval
        self.timed = timed                # fn(seconds): how long a commit took (metrics)
        self._held = None                 # list while a commit is booked this pass
        self._retry = None
        self._failing = False
        self.store_timeout = store_timeout
        self._busy_since = None           # loop time the lock was first met

    @property
    def holding(self):
        return self._held is not None

    def hold(self, effects):
        """Hold ``effects`` if a commit is owed; return whether they were."""
        held = self._held
        if held is None:
            if not self.store.pending:
                return False
            held = self._begin()
        for effect in effects:
            if type(effect) is Close:
                effect.session.close(effect.reason)   # its output's close is deferred
            else:
                held.append(effect)
        return True

    def defer(self, call):
        """Run ``call()`` after the effects held so far."""
        self._held.append(_Deferred(call))

    def commit_now(self):
        """Commit outside a pass (shutdown); return whether it worked."""
        if self._held is not None:
            self._commit()
        try:
            self.store.commit()
        except Exception as exc:   # StoreError: say so, the caller still closes
            log.error("database commit at shutdown failed: %s", exc)
            return False
        return True

    def _begin(self):
        held = self._held = []
        self.loop.at_end_of_pass(self._commit)
        return held

    def _commit(self):
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        held, self._held = self._held, None
        if held is None:
            return   # committed already (shutdown)
        started = self.loop.time()
        try:
            self.store.commit()
        except StoreBusy as exc:
            now = self.loop.time()
            if self._busy_since is None:
                self._busy_since = now
                log.warning("database locked by another process: messages wait (at most "
                            "%g s)", self.store_timeout)
            if now - self._busy_since < self.store_timeout:
                self._held = held          # still held; later effects join them
                self._retry = self.loop.call_later(BUSY_RETRY, self._commit)
                return
            self._busy_since = None
            held = self._not_stored(held, self.store.give_up(), exc)
            if self.store.pending:
                self._retry = self.loop.call_later(self.retry_interval, self._retry_now)
        except Exception as exc:   # StoreError; anything else is as bad
            self._busy_since = None
            held = self._not_stored(held, getattr(exc, "messages", []), exc)
            if self.store.pending:
                self._retry = self.loop.call_later(self.retry_interval, self._retry_now)
        else:
            if self.timed is not None:
                self.timed(self.loop.time() - started)
            if self._busy_since is not None:
                self._busy_since = None
                log.warning("database lock released: waiting messages stored")
            if self._failing:
                self._failing = False
                log.warning("database writes work again")
        self._release(held)

    def _retry_now(self):
        self._retry = None
        if self._held is None and self.store.pending:
            self._begin()

    def _release(self, held):
        batch = []
        for item in held:
            if type(item) is _Deferred:
                if batch:
                    self.carry_out_now(batch)
                    batch = []
                item.call()
            else:
                batch.append(item)
        if batch:
            self.carry_out_now(batch)

    def _not_stored(self, held, messages, exc):
        """The held effects with nothing that was not stored."""
        log.error("database write failed: %s; %d message%s not stored%s", exc, len(messages),
                  "" if len(messages) == 1 else "s",
                  "; retrying the other changes" if self.store.pending else "")
        self._failing = True
        core = self.core
        core.forget_unstored(messages)
        lost = {id(m.payload): m for m in messages}
        entries = [(m.payload[:-1], m.room_key) for m in messages]
        kept = []
        for effect in held:
            kind = type(effect)
            if kind is Broadcast and id(effect.data) in lost:
                sender = core.users.get(lost[id(effect.data)].sender_key)
                if sender is not None:
                    kept.append(core.error(sender, NOT_STORED))
                continue
            if kind is Send:
                room_key = next((key for entry, key in entries if entry in effect.data), None)
                if room_key is not None:   # a history that showed a lost message
                    room = core.rooms.get(room_key)
                    effect = Send(effect.session, core.history_response(room))
            kept.append(effect)
        return kept
