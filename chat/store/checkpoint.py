"""WAL checkpoints off the event loop: one worker thread, its own connection.

Theory of operation
-------------------
In WAL mode SQLite copies the log back into the database file every 1000
pages by default, inside whichever commit crosses the mark: on the event
loop, for as long as the copy takes. Issue 21 moves that copy off the
loop. The store's own connection turns automatic checkpoints off
(``PRAGMA wal_autocheckpoint = 0``) and ``poke``s a ``Checkpointer``
after each commit; its one worker thread (the only thread the store
starts: a pool of one, bounded by construction) opens its own connection
to the file and runs ``PRAGMA wal_checkpoint(PASSIVE)`` at most once every
``interval`` seconds while pokes arrive. A passive checkpoint never waits
for a lock and never blocks the loop's commits; what it cannot copy now
waits for the next one. Nothing comes back to the loop: a failure is
logged and counted (``failures``), and the log file simply grows until a
checkpoint succeeds. ``close`` stops the worker and joins it before the
store closes its own connection (the last close checkpoints whatever is
left, as SQLite always does).
"""

import logging
import sqlite3
import threading

log = logging.getLogger("chat.store")


class Checkpointer:
    """A worker thread that checkpoints the WAL of ``path`` when poked."""

    def __init__(self, path, interval=1.0):
        self.path = path
        self.interval = interval
        self.checkpoints = 0       # done, for tests and the log
        self.failures = 0
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                        daemon=True)
        self._thread.start()

    def poke(self):
        """A commit wrote to the log: checkpoint soon (cheap, from the loop)."""
        self._wanted.set()

    def close(self):
        self._stopping.set()
        self._wanted.set()
        self._thread.join()

    def _run(self):
        try:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=0,
                                 check_same_thread=True)
        except sqlite3.Error as exc:
            log.error("checkpoint worker cannot open %s: %s", self.path, exc)
            return
        try:
            while True:
                self._wanted.wait()
                if self._stopping.is_set():
                    return
                self._wanted.clear()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    self.failures += 1
                    log.warning("WAL checkpoint failed (retried later): %s", exc)
                # at most one checkpoint an interval; wakes at once to stop
                if self._stopping.wait(self.interval):
                    return
        finally:
            db.close()
