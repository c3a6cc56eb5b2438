"""chat/store/redis.py, the store of a cluster node, against a real
redis-server: what one store writes through, another store fetches."""

import itertools

import pytest

from chat.store.redis import ACCOUNTS, BANS, RedisStore, room_stream
from reactor.loop import EventLoop
from reactor.redis import RedisClient
from redis_support import redis_server, run_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # a real redis-server

_databases = itertools.count(1)


@pytest.fixture
def loop():
    loop = EventLoop()
    yield loop
    loop.close()


@pytest.fixture
def connect(loop, redis_server):  # noqa: F811
    """A connected client on a database of this test's own."""
    url = redis_server.url(next(_databases) % 16)
    clients = []

    def connect():
        client = RedisClient(loop, url)
        run_until(loop, lambda: client.connected)
        clients.append(client)
        return client
    yield connect
    for client in clients:
        client.close()


def store_on(client, keep=10):
    """A RedisStore writing through ``client``; its events are collected
    (each answered, as the node's would be, after the command before it)."""
    store = RedisStore(keep)
    store.events = []
    store.attach(client, lambda **fields: store.events.append(fields) or client.call("PING"),
                 scan=keep)
    return store


def fetch(loop, store):
    got = []
    store.fetch(lambda snapshot, error: got.append((snapshot, error)))
    run_until(loop, lambda: got)
    return got[0]


def wait(loop, reply):
    run_until(loop, lambda: reply.done)
    return reply.result()


def test_what_one_node_writes_another_fetches(loop, connect):
    writer = store_on(connect())
    writer.set_account("bob", b"salt", b"\x00hash", 2 ** 11)
    writer.add_ban("eve", "Eve", "spam", "10.0.0.9", "op", "2026-12-07T01:00:00+00:00")
    writer.add_ban("mallory", "Mallory", "", None)
    writer.remove_ban("mallory")
    writer.set_account("bob", b"salt2", b"hash2", 2 ** 15)   # a password change
    snapshot, error = fetch(loop, store_on(connect()))
    assert error is None
    assert snapshot.rooms == []   # a room's history is its stream, read per room
    assert snapshot.accounts == {"bob": (b"salt2", b"hash2", 2 ** 15)}
    assert snapshot.bans == [("Eve", "spam", "10.0.0.9", "op", "2026-12-07T01:00:00+00:00")]
    assert [e["t"] for e in writer.events] == ["account", "ban", "ban", "unban", "account"]


def test_changes_applied_from_another_node_are_not_written_again(loop, connect):
    client = connect()
    store = store_on(client)
    with store.applying():
        store.set_account("bob", b"s", b"h", 2 ** 15)
        store.add_ban("eve", "Eve", None, None)
    assert store.events == []
    assert wait(loop, client.call("EXISTS", ACCOUNTS, BANS)) == 0
    assert store.load().accounts == {"bob": (b"s", b"h", 2 ** 15)}   # the node's working copy has them


def test_purge_deletes_one_senders_entries_from_the_stream(loop, connect):
    client = connect()
    stream = room_stream("dev")
    for sender, text in (("bob", "one"), ("alice", "mine"), ("bob", "two")):
        client.call("XADD", stream, "*", "s", sender, "r", "dev", "p", text + "\n")
    store_on(client).purge("dev", "bob")
    entries = wait(loop, client.call("XRANGE", stream, "-", "+"))
    assert [fields[1] for _id, fields in entries] == [b"alice"]


def test_malformed_records_are_skipped_not_fatal(loop, connect):
    client = connect()
    for key, record in (("bad1", "not json"), ("bad2", '["zz", "00"]'), ("bad3", "[1]"),
                        ("bad4", '["0a", "0b", 1000]'), ("good", '["0a", "0b"]'),
                        ("new", '["0c", "0d", 32768]')):
        client.call("HSET", ACCOUNTS, key, record)
    for key, record in (("bad1", "{"), ("bad2", "[1, 2, 3]"), ("bad3", '["x", 5, null]'),
                        ("eve", '["Eve", "spam", null]')):
        client.call("HSET", BANS, key, record)
    snapshot, error = fetch(loop, store_on(client))
    assert error is None
    assert snapshot.accounts == {"good": (b"\x0a", b"\x0b", 2 ** 11),   # an older node's
                                 "new": (b"\x0c", b"\x0d", 2 ** 15)}
    assert snapshot.bans == [("Eve", "spam", None, None, None)]   # an older node's


def test_fetch_reports_redis_unreachable(loop, connect):
    client = connect()
    client.close()
    snapshot, error = fetch(loop, store_on(client))
    assert snapshot is None and error is not None
