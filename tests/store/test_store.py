"""The store interface, one suite over both implementations (memory and
SQLite), plus what only the SQLite file does: schema versions, migration,
a real SQLITE_FULL, refusing files that are not ours."""

import os
import sqlite3

import pytest

from chat.store import StoreError, StoreOpenError
from chat.store.memory import MemoryStore
from chat.store.sqlite import MIGRATIONS, SCHEMA_V1, SCHEMA_VERSION, SqliteStore


def payload(sender, text):
    return ('{"timestamp": "t", "sender": "%s", "response": "message", "content": "%s"}\n'
            % (sender, text)).encode()


class Memory:
    """The memory store 'reopened' is itself: what it holds, it holds."""

    def open(self, keep=3):
        self.store = MemoryStore(keep)
        return self.store

    def reopen(self, store, keep=3):
        store.commit()
        store.keep = keep
        return store


class Sqlite:
    def __init__(self, tmp_path):
        self.path = str(tmp_path / "chat.sqlite3")

    def open(self, keep=3):
        return SqliteStore(self.path, keep)

    def reopen(self, store, keep=3):
        store.commit()
        store.close()
        return SqliteStore(self.path, keep)


@pytest.fixture(params=["memory", "sqlite"])
def kind(request, tmp_path):
    return Memory() if request.param == "memory" else Sqlite(tmp_path)


def test_a_new_store_is_empty(kind):
    snapshot = kind.open().load()
    assert snapshot.rooms == [] and snapshot.accounts == {} and snapshot.bans == []


def test_messages_come_back_oldest_first_the_last_keep_per_room(kind):
    store = kind.open(keep=3)
    sent = [payload("alice", "m%d" % i) for i in range(5)]
    for message in sent:
        store.append("lobby", "lobby", "alice", message)
    store.append("dev", "Dev", "bob", payload("bob", "hi"))
    store = kind.reopen(store, keep=3)
    rooms = store.load().rooms
    assert rooms[0] == ("dev", "Dev", [("bob", payload("bob", "hi"))])  # most recent first
    assert rooms[1] == ("lobby", "lobby", [("alice", m) for m in sent[-3:]])
    assert all(type(p) is bytes for _, _, messages in rooms for _, p in messages)


def test_purge_removes_one_senders_messages_of_one_room(kind):
    store = kind.open(keep=10)
    store.append("lobby", "lobby", "bob", payload("bob", "1"))
    store.append("lobby", "lobby", "alice", payload("alice", "2"))
    store.append("dev", "dev", "bob", payload("bob", "3"))
    store.purge("lobby", "bob")
    store.append("lobby", "lobby", "bob", payload("bob", "4"))   # after the purge: kept
    store = kind.reopen(store, keep=10)
    rooms = {key: messages for key, _, messages in store.load().rooms}
    assert rooms["lobby"] == [("alice", payload("alice", "2")), ("bob", payload("bob", "4"))]
    assert rooms["dev"] == [("bob", payload("bob", "3"))]
    assert store.message_count() == 3


def test_a_room_purged_empty_is_not_loaded(kind):
    store = kind.open()
    store.append("dev", "dev", "bob", payload("bob", "1"))
    store.purge("dev", "bob")
    assert kind.reopen(store).load().rooms == []


def test_accounts_and_bans(kind):
    store = kind.open()
    store.set_account("alice", b"salt", b"hash1", 2 ** 11)
    store.set_account("alice", b"salt2", b"hash2", 2 ** 15)   # a changed password replaces
    store.set_account("bob", b"s", b"h", 2 ** 15)
    store.add_ban("carol", "Carol", "spam", "10.0.0.1")
    store.add_ban("dave", "dave", None, None)
    store.add_ban("carol", "CAROL", "again", None, "op", "2026-12-07T01:00:00+00:00")  # last
    store.add_ban("erin", "erin", None, None)
    store.remove_ban("erin")
    snapshot = kind.reopen(store).load()
    assert snapshot.accounts == {"alice": (b"salt2", b"hash2", 2 ** 15),
                                 "bob": (b"s", b"h", 2 ** 15)}
    assert snapshot.bans == [("dave", None, None, None, None),
                             ("CAROL", "again", None, "op", "2026-12-07T01:00:00+00:00")]


def test_keep_zero_loads_no_messages(kind):
    store = kind.open(keep=0)
    store.append("lobby", "lobby", "a", payload("a", "x"))
    assert kind.reopen(store, keep=0).load().rooms == []


# -- SQLite only ---------------------------------------------------------------

def test_commit_groups_and_pending(tmp_path):
    store = SqliteStore(str(tmp_path / "db"), 10)
    assert not store.pending
    store.append("lobby", "lobby", "a", payload("a", "x"))
    assert store.pending
    store.commit()
    assert not store.pending
    store.close()


def test_a_full_file_drops_that_commits_messages_and_keeps_the_rest(tmp_path):
    """max_page_count gives a real SQLITE_FULL: the commit's messages come
    back in StoreError, nothing of that commit is in the file, the account
    stays queued and the next commit stores it."""
    path = str(tmp_path / "db")
    store = SqliteStore(path, 1000, max_pages=1)  # 1: no growth past the new file's size
    big = [payload("bob", "%d" % i + "x" * 9000) for i in range(3)]
    store.append("lobby", "lobby", "alice", payload("alice", "small"))
    for message in big:
        store.append("lobby", "lobby", "bob", message)
    store.set_account("bob", b"s", b"h", 2 ** 15)
    with pytest.raises(StoreError) as failure:
        store.commit()
    assert [m.payload for m in failure.value.messages] == [payload("alice", "small")] + big
    assert store.pending   # the account and the room are still queued
    store.commit()         # they fit
    assert not store.pending
    store.append("lobby", "lobby", "alice", payload("alice", "fits"))
    store.commit()
    store.close()
    snapshot = SqliteStore(path, 1000).load()
    assert snapshot.accounts == {"bob": (b"s", b"h", 2 ** 15)}
    assert snapshot.rooms == [("lobby", "lobby", [("alice", payload("alice", "fits"))])]


def test_a_new_file_goes_through_every_migration(tmp_path):
    path = str(tmp_path / "db")
    SqliteStore(path, 10).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "messages_by_room_sender" in indexes and "messages_by_room" not in indexes
    plan = " ".join(str(row) for row in db.execute(
        "EXPLAIN QUERY PLAN SELECT payload FROM messages WHERE room = 'a' ORDER BY id DESC "
        "LIMIT 5"))
    assert "USING INDEX messages_by_room_sender" in plan and "TEMP B-TREE" not in plan
    db.close()


def test_a_version_1_file_is_migrated_and_keeps_its_rows(tmp_path):
    path = str(tmp_path / "db")
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    db.execute("INSERT INTO rooms VALUES ('dev', 'Dev')")
    db.execute("INSERT INTO messages (room, sender, payload) VALUES ('dev', 'bob', ?)",
               (payload("bob", "old"),))
    db.execute("INSERT INTO accounts VALUES ('bob', X'01', X'02')")
    db.execute("INSERT INTO bans (key, name, reason, host) VALUES ('eve', 'Eve', 'spam', "
               "'10.0.0.9')")
    db.commit()
    db.close()
    assert 1 in MIGRATIONS
    store = SqliteStore(path, 10)
    assert store.load().rooms == [("dev", "Dev", [("bob", payload("bob", "old"))])]
    assert store.load().accounts == {"bob": (b"\x01", b"\x02", 2 ** 11)}   # the old cost
    assert store.load().bans == [("Eve", "spam", "10.0.0.9", None, None)]
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def refused(path, text):
    before = open(path, "rb").read()
    with pytest.raises(StoreOpenError, match=text):
        SqliteStore(path, 10)
    assert open(path, "rb").read() == before
    assert not os.path.exists(path + "-wal")


def test_files_that_are_not_ours_are_refused_untouched(tmp_path):
    path = str(tmp_path / "db")
    with open(path, "wb") as f:
        f.write(b"not a database at all\n" * 100)
    refused(path, "not a usable SQLite database")
    other = str(tmp_path / "other")
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE things (x)")
    db.commit()
    db.close()
    refused(other, "of something else")
    newer = str(tmp_path / "newer")
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = %d" % (SCHEMA_VERSION + 1))
    db.close()
    refused(newer, "newer than this server")


def test_a_second_store_on_the_same_file_is_refused(tmp_path):
    path = str(tmp_path / "db")
    store = SqliteStore(path, 10)
    with pytest.raises(StoreOpenError, match="in use by another server process"):
        SqliteStore(path, 10)
    store.close()
    SqliteStore(path, 10).close()   # released on close
