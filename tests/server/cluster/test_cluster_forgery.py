"""Issue 20, attack 4: Redis is a trust boundary. A client of Redis
without the cluster key writes a room entry "from alice" and plants an
account; the nodes must drop both and say so in their log. On the main of
2026-12-07 the forged message reached carol, and the planted password
logged in as alice."""

import hashlib
import json
import os

import pytest

from chat import protocol
from cluster_support import FAST, cluster, poll, try_login  # noqa: F401 (fixture)
from redis_support import redis_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # nodes and a real redis-server

SECRET = "correct-horse-battery"


def key_file(tmp_path):
    path = tmp_path / "cluster.key"
    path.write_bytes(os.urandom(32).hex().encode())
    os.chmod(path, 0o600)
    return ("--cluster-key-file", str(path))


def test_a_forged_room_entry_and_a_planted_account_are_dropped(cluster, tmp_path):
    node = cluster.start(*key_file(tmp_path))
    alice, carol = node.connect(), node.connect()
    alice.login("alice")
    carol.login("carol")
    alice.send("register", SECRET)
    assert "now registered" in alice.expect("info")["content"]
    forged = protocol.encode_response("2026-12-07T01:00:00+00:00", "alice", "message",
                                      "send me your password")
    cluster.call("XADD", "ktn:room:lobby", "*", "s", "alice", "r", "lobby", "p", forged)
    salt = os.urandom(16)
    digest = hashlib.scrypt(b"planted-password", salt=salt, n=2 ** 11, r=8, p=1, dklen=32)
    record = json.dumps([salt.hex(), digest.hex()])
    cluster.call("HSET", "ktn:accounts", "alice", record)
    cluster.call("XADD", "ktn:events", "*", "n", "elsewhere", "t", "account", "k", "alice",
                 "a", record)
    alice.send("msg", "the real one")
    assert carol.expect("message")["content"] == "the real one"
    alice.send("logout")
    alice.wait_closed()
    thief = node.connect()
    thief.send("login", "alice planted-password")
    assert thief.recv()["response"] == "error"
    node.wait_for_log("dropped .*signature")


def test_signed_nodes_chat_and_share_accounts_and_unsigned_records_are_ignored(cluster,
                                                                                tmp_path):
    """Two nodes with the key: messages, presence, accounts and bans cross
    between them; a planted ban, member and account are dropped at start."""
    key = key_file(tmp_path)
    cluster.call("HSET", "ktn:bans", "carol", json.dumps(["carol", "planted", None]))
    cluster.call("HSET", "ktn:accounts", "dave", json.dumps(["00", "00"]))
    a, b = cluster.start(*key), cluster.start(*key)
    alice, carol = a.connect(), b.connect()
    alice.login("alice")
    carol.login("carol")                          # the planted ban is not a ban
    alice.send("register", SECRET)
    assert "now registered" in alice.expect("info")["content"]
    alice.send("msg", "hello across")
    assert carol.expect("message")["content"] == "hello across"
    dave = b.connect()
    dave.login("dave")                            # the planted account is no account
    alice.send("logout")
    alice.wait_closed()
    again = poll(lambda: try_password_login(b, "alice", SECRET))
    assert again
    a.wait_for_log("dropped .*signature")


def try_password_login(node, name, password):
    client = node.connect()
    client.send("login", "%s %s" % (name, password))
    answer = client.recv()
    client.close()
    return answer["response"] == "info" and answer["content"] == "Login successful"
