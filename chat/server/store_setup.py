"""The server's persistence glue: open the store the options ask for, and
close it at the end.

Theory of operation
-------------------
``open_configured_store`` runs before the server listens: the memory store
without ``--db``, else the SQLite store, which refuses a bad file with a
``StoreOpenError`` of one line; that line goes to stderr and the caller
exits 1, so a file that is not ours is never touched. The log says what
was loaded and how long it took, after "listening on". ``close_store`` runs after the loop
stops: the last commit (a failure is logged, not raised: the file stays
consistent, only that commit's changes are lost), the count of stored
messages for the log, then the file is released.
"""

import logging
import sys
import time

from ..store import StoreOpenError
from ..store.memory import MemoryStore
from ..store.redis import RedisStore
from ..store.sqlite import SqliteStore

log = logging.getLogger("chat.server")


def open_store(path, keep, fsync=False, max_pages=0, retain_messages=0, retain_days=0.0):
    """The SQLite store on ``path``, or the memory store if ``path`` is None.
    ``keep``: messages per room to load and keep (the history limit)."""
    if path is None:
        return MemoryStore(keep)
    return SqliteStore(path, keep, fsync, max_pages, retain_messages, retain_days)


def describe(config):
    if config.redis is not None:
        return "cluster (histories, accounts and bans in redis)"
    if config.db is None:
        return "memory only (no --db)"
    return "database %s (synchronous=%s)" % (config.db, "FULL" if config.fsync else "NORMAL")


def open_configured_store(config):
    """(the store the options ask for, loaded; a log line saying what it
    holds), or (None, None) after one stderr line if the file cannot be
    used: it is left as it was. The caller logs the line once it listens
    ("listening on" stays the first log line)."""
    started = time.monotonic()
    if config.redis is not None:
        store = RedisStore(config.history_limit, retry=config.redis_backoff_max)
        return store, "cluster: histories, accounts and bans in redis, read when connected"
    try:
        store = open_store(config.db, config.history_limit, config.fsync, config.db_max_pages,
                           config.retain_messages, config.retain_days)
    except StoreOpenError as exc:
        print("chat.server: error: --db %s" % exc, file=sys.stderr)
        return None, None
    snapshot = store.load()
    return store, ("%s: loaded %d rooms, %d messages, %d accounts, %d bans in %.3f s"
                   % (describe(config), len(snapshot.rooms),
                      sum(len(room[2]) for room in snapshot.rooms), len(snapshot.accounts),
                      len(snapshot.bans), time.monotonic() - started))


def close_store(server):
    """Commit what is pending, log how many messages are stored, release."""
    store = server.core.store
    if server.commits is not None:
        server.commits.commit_now()
    try:
        if server.config.redis is None:   # a node keeps copies; the streams hold the rest
            log.info("%s: %d messages stored", describe(server.config), store.message_count())
    finally:
        store.close()
