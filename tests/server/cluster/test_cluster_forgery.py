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

pytestmark = [pytest.mark.slow,   # nodes and a real redis-server
              pytest.mark.xfail(strict=True, reason="issue 20, part 7 (signing) not done")]

SECRET = "correct-horse-battery"


def test_a_forged_room_entry_and_a_planted_account_are_dropped(cluster):
    node = cluster.start()
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
