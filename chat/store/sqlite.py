"""The SQLite store (``--db PATH``): one file, WAL, one transaction a pass.

Theory of operation
-------------------
Opening is careful, because a file that is not ours must never be
overwritten. In order: the file is opened (created empty if absent) and
locked with ``flock`` (a second server on the same file is refused; the
``sqlite3`` tool, which does not use ``flock``, can still read it for a
backup); a read-only file is refused before SQLite opens it; then the
header and schema are read, and the file is refused if it is not a SQLite
database, is corrupt, belongs to something else or has a newer schema
version than ours. Only then is anything written.
A file of the current version is loaded (the reads that would meet a
corrupt page) before the first write; an older one is checked whole
(``PRAGMA quick_check``) and migrated first. Every refusal is a
``StoreOpenError`` with one line saying why.

Schema: ``PRAGMA user_version`` is its version. A new file is created at
version 1 and brought up by the same ``MIGRATIONS`` an old file goes
through, so the migration path is exercised by every new file. Messages
are rows (room key, sender key, payload bytes) in insertion order; the
index (room, id, sender) makes "the last N of a room" a short index walk, so
start-up time depends on rooms x history limit, not on how much is stored.

Writes: the store's methods only queue statements; ``commit()`` runs the
queue in one ``BEGIN IMMEDIATE ... COMMIT`` (group commit: the glue calls
it once per loop pass). Journal mode WAL; ``synchronous`` NORMAL by
default (a commit survives the process being killed, not a power loss),
FULL with ``fsync=True`` (it survives a power loss too). When a commit
fails (``SQLITE_FULL``, an I/O error) the transaction is rolled back, the
messages of the queue are dropped and reported in ``StoreError``, and the
other statements stay queued for the next commit. ``max_pages`` caps the
file (``PRAGMA max_page_count``): a real ``SQLITE_FULL`` without filling
a disk.

Issue 21. The connection never waits for a lock (``timeout=0``: the loop
must not block); a commit that finds the database locked by another
process (a backup, ``sqlite3`` in a terminal) raises ``StoreBusy`` and
keeps every change queued: the glue holds the messages and tries again
shortly, up to its ``--store-timeout``. ``recent`` reads one room's last
messages back (the index walk above) when the memory budget parked them.
Retention (``retain_messages`` per room, ``retain_days``; both 0 by default:
everything kept) runs in small steps (``retain(batch)``, at most ``batch``
rows deleted each) that the glue calls between loop passes; every row
carries the wall-clock time it was stored (``at``, schema version 4) and
ids grow with time, so age retention reads only the oldest rows.
Checkpoints leave the loop: automatic ones are off on this connection and
a ``Checkpointer`` (``chat/store/checkpoint.py``: one worker thread with
its own connection) runs passive ones, poked after each commit.
"""

import fcntl
import os
import sqlite3
import stat
import time

from . import Snapshot, StoreBusy, StoredMessage, StoreError, StoreOpenError
from .checkpoint import Checkpointer

SCHEMA_VERSION = 4
TABLES = {"rooms", "messages", "accounts", "bans"}

#: Version 1, the first schema.
SCHEMA_V1 = """
CREATE TABLE rooms (key TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, sender TEXT NOT NULL,
                       payload BLOB NOT NULL);
CREATE INDEX messages_by_room ON messages (room, id);
CREATE TABLE accounts (key TEXT PRIMARY KEY, salt BLOB NOT NULL, hash BLOB NOT NULL)
    WITHOUT ROWID;
CREATE TABLE bans (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
                   reason TEXT, host TEXT);
PRAGMA user_version = 1;
"""

#: ``MIGRATIONS[n]``: the statements that take a version ``n`` file to ``n + 1``.
MIGRATIONS = {
    # purge deletes one sender's rows of one room: with the sender in the
    # room's index it reads no row it does not delete. One index instead of
    # (room, id) plus (room, sender): half the cost of storing a message.
    1: ["CREATE INDEX messages_by_room_sender ON messages (room, id, sender)",
        "DROP INDEX messages_by_room"],
    # the scrypt cost of each hash, so it can rise (``--scrypt-n``): the
    # hashes made before were all n=2**11; each is upgraded at its next login
    2: ["ALTER TABLE accounts ADD COLUMN n INTEGER NOT NULL DEFAULT 2048",
        # each ban a record of its own: who banned, and when
        "ALTER TABLE bans ADD COLUMN banned_by TEXT",
        "ALTER TABLE bans ADD COLUMN banned_at TEXT"],
    # retention by age: when each row was stored (rows of older files: now)
    3: ["ALTER TABLE messages ADD COLUMN at REAL",
        "UPDATE messages SET at = CAST(strftime('%s', 'now') AS REAL)"],
}

_INSERT_MESSAGE = "INSERT INTO messages (room, sender, payload, at) VALUES (?, ?, ?, ?)"

#: SQLite's "database is locked" and "table is locked" result codes.
_BUSY_CODES = (5, 6)


def _is_busy(exc):
    code = getattr(exc, "sqlite_errorcode", None)   # Python 3.11+
    if code is not None:
        return code & 0xff in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


class SqliteStore:
    """The durable store on one SQLite file."""

    durable = True

    def __init__(self, path, keep, fsync=False, max_pages=0, retain_messages=0, retain_days=0.0,
                 wall=time.time):
        self.path = path
        self.keep = keep               # messages loaded per room (the history limit)
        self.retain_messages = retain_messages
        self.retain_days = retain_days
        self.wall = wall               # the clock of the rows' ``at``
        self._ops = []                 # StoredMessage, or (sql, params): the next commit
        self._lock_fd = _open_locked(path)
        self._db = None
        self._checkpointer = None
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=0)
            self._snapshot = self._open_schema()
            self._configure(fsync, max_pages)
        except sqlite3.Error as exc:
            self._close_files()
            raise StoreOpenError("%s: cannot use it as a database: %s" % (path, exc)) from None
        except BaseException:
            self._close_files()
            raise
        self._known_rooms = {room[0] for room in self._snapshot.rooms}
        self._to_retain = dict.fromkeys(self._known_rooms)   # rooms retention has to look at
        self._checkpointer = Checkpointer(path)

    # -- opening -----------------------------------------------------------

    def _open_schema(self):
        """Check the file (reads only); migrate an older one; return what it
        holds. Nothing is written to a file this refuses."""
        db = self._db
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreOpenError("%s is not a usable SQLite database (%s)" % (self.path, exc))
        if version > SCHEMA_VERSION:
            raise StoreOpenError("%s has schema version %d, newer than this server's %d: "
                                 "run a newer server" % (self.path, version, SCHEMA_VERSION))
        if version == 0 and tables:
            raise StoreOpenError("%s is a SQLite database of something else (no chat schema "
                                 "version, tables: %s)" % (self.path, ", ".join(sorted(tables))))
        if version > 0 and not TABLES <= tables:
            raise StoreOpenError("%s is damaged: missing tables %s"
                                 % (self.path, ", ".join(sorted(TABLES - tables))))
        if version == SCHEMA_VERSION:
            return self._read_snapshot()   # the reads first: a corrupt page refuses the file
        if version > 0:
            self._check_integrity()
        self._set_wal()
        self._migrate(version)
        return self._read_snapshot()

    def _check_integrity(self):
        try:
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems != ["ok"]:
            raise StoreOpenError("%s is corrupt: %s" % (self.path, problems[0]))

    def _set_wal(self):
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreOpenError("%s: cannot switch to WAL mode (journal mode %s)"
                                 % (self.path, mode))

    def _migrate(self, version):
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if version == 0:
                for statement in SCHEMA_V1.split(";"):
                    if statement.strip():
                        db.execute(statement)
                version = 1
            while version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    db.execute(statement)
                version += 1
                db.execute("PRAGMA user_version = %d" % version)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _configure(self, fsync, max_pages):
        self._set_wal()
        self._db.execute("PRAGMA synchronous = %s" % ("FULL" if fsync else "NORMAL"))
        self._db.execute("PRAGMA wal_autocheckpoint = 0")   # the Checkpointer's job
        if max_pages:
            self._db.execute("PRAGMA max_page_count = %d" % max_pages)

    def _read_snapshot(self):
        db = self._db
        try:
            rooms = []
            if self.keep > 0:
                active = db.execute(
                    "SELECT key, name, (SELECT max(id) FROM messages WHERE room = rooms.key) "
                    "AS last FROM rooms WHERE last IS NOT NULL ORDER BY last DESC").fetchall()
                for key, name, _last in active:
                    rows = db.execute("SELECT sender, payload FROM messages WHERE room = ? "
                                      "ORDER BY id DESC LIMIT ?", (key, self.keep)).fetchall()
                    rows.reverse()
                    rooms.append((key, name, rows))
            accounts = {key: (salt, digest, n) for key, salt, digest, n in
                        db.execute("SELECT key, salt, hash, n FROM accounts")}
            bans = db.execute("SELECT name, reason, host, banned_by, banned_at FROM bans "
                              "ORDER BY id").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreOpenError("%s is corrupt: %s" % (self.path, exc))
        return Snapshot(rooms, accounts, bans)

    # -- the store interface ----------------------------------------------------

    def load(self):
        """What the file held when it was opened (read before any write)."""
        return self._snapshot

    @property
    def checkpoints(self):
        """WAL checkpoints the worker has done (issue 21: off the loop)."""
        return self._checkpointer.checkpoints

    @property
    def pending(self):
        return bool(self._ops)

    def append(self, room_key, room_name, sender_key, payload):
        if room_key not in self._known_rooms:
            self._known_rooms.add(room_key)
            self._ops.append(("INSERT OR IGNORE INTO rooms (key, name) VALUES (?, ?)",
                              (room_key, room_name)))
        self._ops.append(StoredMessage(room_key, sender_key, payload))
        if self.retain_messages:
            self._to_retain[room_key] = None

    def recent(self, room_key, limit):
        """A room's last ``limit`` messages, oldest first, those not yet
        committed included: one indexed query."""
        if limit <= 0:
            return []
        rows = self._db.execute("SELECT sender, payload FROM messages WHERE room = ? "
                                "ORDER BY id DESC LIMIT ?", (room_key, limit)).fetchall()
        rows.reverse()
        rows += [(op.sender_key, op.payload) for op in self._ops
                 if type(op) is StoredMessage and op.room_key == room_key]
        return rows[-limit:]

    def trim(self, room_key, keep):
        """Memory let go of older messages; the file keeps them (retention decides)."""

    def drop_room(self, room_key):
        self._ops = [op for op in self._ops
                     if type(op) is not StoredMessage or op.room_key != room_key]
        self._known_rooms.discard(room_key)
        self._to_retain.pop(room_key, None)
        self._ops.append(("DELETE FROM messages WHERE room = ?", (room_key,)))
        self._ops.append(("DELETE FROM rooms WHERE key = ?", (room_key,)))

    def retain(self, batch):
        """One step of retention: delete at most ``batch`` rows; whether
        there may be more to delete. A locked database: try next time."""
        try:
            if self.retain_days > 0:
                cutoff = self.wall() - self.retain_days * 86400.0
                oldest = self._db.execute("SELECT id, at FROM messages ORDER BY id LIMIT ?",
                                          (batch,)).fetchall()
                old = [row[0] for row in oldest if row[1] is not None and row[1] < cutoff]
                if old:
                    self._db.execute("DELETE FROM messages WHERE id <= ?", (old[-1],))
                    return True
            while self.retain_messages > 0 and self._to_retain:
                room_key = next(iter(self._to_retain))
                row = self._db.execute("SELECT id FROM messages WHERE room = ? ORDER BY id DESC "
                                       "LIMIT 1 OFFSET ?",
                                       (room_key, self.retain_messages)).fetchone()
                if row is None:
                    del self._to_retain[room_key]
                    continue
                deleted = self._db.execute(
                    "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE room = ? "
                    "AND id <= ? ORDER BY id LIMIT ?)", (room_key, row[0], batch)).rowcount
                if deleted < batch:
                    del self._to_retain[room_key]
                return True
        except sqlite3.Error:
            return False
        return False

    def purge(self, room_key, sender_key):
        self._ops.append(("DELETE FROM messages WHERE room = ? AND sender = ?",
                          (room_key, sender_key)))

    def set_account(self, key, salt, digest, n):
        self._ops.append(("INSERT OR REPLACE INTO accounts (key, salt, hash, n) "
                          "VALUES (?, ?, ?, ?)", (key, salt, digest, n)))

    def add_ban(self, key, name, reason, host, by=None, at=None):
        # REPLACE deletes the old row: a renewed ban is listed last, as in memory
        self._ops.append(("INSERT OR REPLACE INTO bans (key, name, reason, host, banned_by, "
                          "banned_at) VALUES (?, ?, ?, ?, ?, ?)",
                          (key, name, reason, host, by, at)))

    def remove_ban(self, key):
        self._ops.append(("DELETE FROM bans WHERE key = ?", (key,)))

    def commit(self):
        """Run everything queued in one transaction, or raise ``StoreError``."""
        ops = self._ops
        if not ops:
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            start = 0
            while start < len(ops):
                end = start
                while end < len(ops) and type(ops[end]) is StoredMessage:
                    end += 1
                if end > start:   # a run of messages: one executemany
                    now = self.wall()
                    db.executemany(_INSERT_MESSAGE, [(*op, now) for op in ops[start:end]])
                else:
                    db.execute(*ops[start])
                    end += 1
                start = end
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the transaction is gone either way
            if _is_busy(exc):
                raise StoreBusy(str(exc)) from None
            self._ops = [op for op in ops if type(op) is not StoredMessage]
            raise StoreError(str(exc), [op for op in ops if type(op) is StoredMessage]) \
                from None
        self._ops = []
        self._checkpointer.poke()

    def give_up(self):
        """Drop the queued messages (the lock outlasted the wait); return them."""
        messages = [op for op in self._ops if type(op) is StoredMessage]
        self._ops = [op for op in self._ops if type(op) is not StoredMessage]
        return messages

    def message_count(self):
        return self._db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def close(self):
        """Release the file; what is queued and not committed is lost."""
        self._close_files()

    def _close_files(self):
        # SQLite's own locks first: closing our descriptor earlier would drop them.
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _open_locked(path):
    """A descriptor on ``path`` (created empty if absent) holding an
    exclusive ``flock``: one server per file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StoreOpenError("%s: cannot open: %s" % (path, exc.strerror or exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreOpenError("%s is not a regular file" % path)
        if not os.access(path, os.W_OK):
            raise StoreOpenError("%s is read-only: the server must be able to write it" % path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreOpenError("%s is in use by another server process" % path) from None
    except BaseException:
        os.close(fd)
        raise
    return fd
