"""Issue 21: the SQLite store under another process's lock, and retention.

A real second connection (as ``sqlite3`` in a terminal or a backup would)
holds the write lock; nothing is mocked.
"""

import sqlite3
import threading
import time

import pytest

from chat.store import StoreBusy
from chat.store.sqlite import SqliteStore


def payload(sender, text):
    return ('{"timestamp": "t", "sender": "%s", "response": "message", "content": "%s"}\n'
            % (sender, text)).encode()


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "chat.sqlite3")


def test_a_commit_under_another_connections_lock_keeps_its_messages(path):
    # main: StoreError("database is locked") with the messages dropped
    store = SqliteStore(path, 10)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store.append("lobby", "lobby", "alice", payload("alice", "kept"))
    with pytest.raises(StoreBusy) as caught:
        store.commit()
    assert caught.value.messages == []
    assert store.pending
    other.execute("ROLLBACK")
    other.close()
    store.commit()
    assert [p for _s, p in store.recent("lobby", 10)] == [payload("alice", "kept")]
    store.close()


def test_recent_reads_one_room_and_sees_what_is_not_committed_yet(path):
    store = SqliteStore(path, 3)
    for i in range(5):
        store.append("dev", "dev", "bob", payload("bob", "m%d" % i))
    store.commit()
    store.append("dev", "dev", "bob", payload("bob", "m5"))
    assert [p for _s, p in store.recent("dev", 3)] == [payload("bob", "m%d" % i)
                                                        for i in (3, 4, 5)]
    store.close()


def test_retention_keeps_the_last_n_rows_per_room_in_small_batches(path):
    # main: 50 messages with --history-limit 5 left 50 rows for good
    store = SqliteStore(path, 5, retain_messages=5)
    for i in range(50):
        store.append("dev", "dev", "bob", payload("bob", "m%d" % i))
        store.append("lobby", "lobby", "bob", payload("bob", "l%d" % i))
    store.commit()
    assert store.message_count() == 100
    steps = 0
    while store.retain(batch=10):
        steps += 1
        assert steps < 100
    assert steps >= 9            # 90 rows in batches of 10
    assert store.message_count() == 10
    assert [p for _s, p in store.recent("dev", 10)] == [payload("bob", "m%d" % i)
                                                         for i in range(45, 50)]
    store.close()


def test_retention_by_age_deletes_old_rows(path):
    clock = [1_000_000.0]
    store = SqliteStore(path, 10, retain_days=1, wall=lambda: clock[0])
    store.append("dev", "dev", "bob", payload("bob", "old"))
    store.commit()
    clock[0] += 2 * 86400
    store.append("dev", "dev", "bob", payload("bob", "new"))
    store.commit()
    while store.retain(batch=10):
        pass
    assert [p for _s, p in store.recent("dev", 10)] == [payload("bob", "new")]
    store.close()


def test_by_default_everything_is_kept(path):
    store = SqliteStore(path, 5)
    for i in range(20):
        store.append("dev", "dev", "bob", payload("bob", "m%d" % i))
    store.commit()
    assert not store.retain(batch=10)
    assert store.message_count() == 20
    store.close()


def test_checkpoints_run_off_the_loop_on_the_workers_connection(path):
    # main: wal_autocheckpoint 1000 on the loop's own connection
    store = SqliteStore(path, 10)
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for i in range(20):
        store.append("dev", "dev", "bob", payload("bob", "m%d" % i))
    store.commit()
    deadline = time.monotonic() + 5
    while not store.checkpoints:
        assert time.monotonic() < deadline, "no checkpoint within 5 s"
        threading.Event().wait(0.01)
    worker = store._checkpointer._thread
    assert worker.is_alive() and worker is not threading.current_thread()
    store.close()
    assert not worker.is_alive()
