"""Issue 21 on a cluster: what Redis keeps is bounded too.

Room streams of rooms nobody is in (on any node) are trimmed to the
history limit and expire after --room-ttl; --retain-messages caps every
stream; private-message inboxes are capped and expire once their node has
been away; an operator's ``drop`` removes a room on every node; /metrics
shows Redis' round trips. Real nodes on a real redis-server; every wait is
for an event with a deadline.
"""

import signal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chat.server.config import ServerConfig
from cluster_support import (FAST, become_operator, cluster,  # noqa: F401 (fixtures)
                             history, info_containing, kill_nodes, messages,
                             oper_password_file, poll)
from redis_support import redis_server  # noqa: F401 (fixtures)
from web_support import WebServer, http_get

pytestmark = pytest.mark.slow   # nodes and a real redis-server

#: the sweep of room streams, shrunk; a node with SLOW never sweeps in a test
SWEEP = ("--stream-sweep-interval", "0.05")
SLOW = ("--stream-sweep-interval", "3600")

#: Trimming and expiry are Redis commands whatever the link: these run over
#: redis:// only (drop and the round-trip metrics run over both).
PLAIN_ONLY = pytest.mark.parametrize("cluster", ["redis"], indirect=True)


def stream(room):
    return "ktn:room:" + room


def join(client, room):
    client.send("join", room)
    info_containing(client, "Joined #%s" % room)
    return client.expect("history")


def leave(client):
    client.send("leave")
    info_containing(client, "Joined #lobby")
    client.expect("history")


def say(client, count, prefix="m"):
    for n in range(count):
        client.send("msg", "%s%d" % (prefix, n))
    return messages(client, count)


@PLAIN_ONLY
def test_streams_of_rooms_nobody_is_in_are_trimmed_then_expire(cluster, tmp_path):
    """Node a sweeps; b never does in this test. Bob, on b, keeps #kept
    occupied: a knows it (presence) and leaves its stream alone; once he
    leaves, a trims it to the history limit and it expires after the TTL,
    and is gone from every node."""
    ttl = ("--history-limit", "5", "--room-ttl", "1")
    a = cluster.start(*ttl, *SWEEP, *oper_password_file(tmp_path))
    b = cluster.start(*ttl, *SLOW, *oper_password_file(tmp_path))
    alice, bob = a.connect(), b.connect()
    alice.login("alice")
    bob.login("bob")
    for who in (alice, bob):
        join(who, "kept")
    say(alice, 12)
    assert messages(bob, 12)[-1] == ("alice", "m11")
    leave(alice)
    join(alice, "gone")   # the witness: a room nobody is in, swept by a
    say(alice, 12)
    leave(alice)
    poll(lambda: cluster.call("XLEN", stream("gone")) == 5
         and cluster.call("PTTL", stream("gone")) > 0)
    # the sweep that trimmed #gone knew bob (on b) was in #kept
    assert cluster.call("XLEN", stream("kept")) == 12
    assert cluster.call("PTTL", stream("kept")) == -1
    leave(bob)
    poll(lambda: cluster.call("XLEN", stream("kept")) == 5
         and cluster.call("PTTL", stream("kept")) > 0)
    poll(lambda: cluster.call("EXISTS", stream("kept")) == 0
         and cluster.call("EXISTS", stream("gone")) == 0)
    for node in (a, b):   # gone from rooms, even an operator's, on every node
        oper = node.connect()
        oper.login("op%d" % node.port)
        become_operator(oper)
        oper.send("rooms")
        listing = info_containing(oper, "Rooms (")
        assert "#kept" not in listing and "#gone" not in listing, listing
    carol = b.connect()
    carol.login("carol")
    assert history(join(carol, "kept")) == []


@PLAIN_ONLY
def test_retain_messages_caps_every_stream(cluster):
    """--retain-messages N: a stream keeps at most N entries, even of a
    room with members (the sweep trims exactly; XADD's MAXLEN ~ alone
    keeps whole stream nodes)."""
    a = cluster.start("--history-limit", "5", "--retain-messages", "8", *SWEEP)
    alice = a.connect()
    alice.login("alice")
    join(alice, "busy")
    say(alice, 20)
    poll(lambda: cluster.call("XLEN", stream("busy")) == 8)
    assert cluster.call("PTTL", stream("busy")) == -1   # alice is in it: it stays


@PLAIN_ONLY
def test_retain_days_trims_by_age(cluster):
    """--retain-days D: entries older than D days leave every stream (an
    entry's id is its time in ms: XTRIM MINID). 0.00002 days: 1.7 s."""
    a = cluster.start("--retain-days", "0.00002", *SWEEP)
    alice = a.connect()
    alice.login("alice")
    join(alice, "old")
    say(alice, 3)
    assert cluster.call("XLEN", stream("old")) == 3
    poll(lambda: cluster.call("XLEN", stream("old")) == 0, timeout=10)


def test_the_cluster_bounds_options_are_checked():
    url = "redis://127.0.0.1:1"
    assert not ServerConfig(redis=url, retain_messages=5, retain_days=1).check()
    assert ServerConfig(retain_messages=5).check()   # neither --db nor --redis
    assert ServerConfig(redis=url, inbox_ttl=10, lease=15).check()
    assert ServerConfig(redis=url, stream_sweep_interval=0).check()
    assert ServerConfig(redis=url, inbox_length=0).check()


@PLAIN_ONLY
def test_inboxes_are_capped_and_expire_once_their_node_is_gone(cluster):
    """Node b's inbox (its own stream, where other nodes put pms for its
    users) holds at most --inbox-length entries (about: MAXLEN ~, so the
    test makes Redis' stream nodes small; every node has the same option), has a TTL of --inbox-ttl renewed
    while b lives, and expires once b is gone, even when no other node
    notices b's death (it had no users left)."""
    old = cluster.call("CONFIG", "GET", "stream-node-max-entries")[1]
    cluster.call("CONFIG", "SET", "stream-node-max-entries", "5")
    try:
        inbox_options = ("--inbox-ttl", "2", "--lease", "1", "--inbox-length", "20")
        a = cluster.start(*inbox_options)   # the sender's option caps what it sends
        b = cluster.start(*inbox_options, "--node-id", "inboxb")
        inbox = "ktn:node:inboxb"
        alice, bob = a.connect(), b.connect()
        alice.login("alice")
        bob.login("bob")
        for n in range(60):   # one at a time: a burst past the cap could be trimmed unread
            alice.send("pm", "bob hello %d" % n)
            assert bob.expect("message")["content"] == "hello %d" % n
        assert cluster.call("XLEN", inbox) <= 20 + 5
        assert 0 < cluster.call("PTTL", inbox) <= 2000
        bob.close()
        kill_nodes(b)   # kill -9: nobody deletes its inbox
        poll(lambda: cluster.call("EXISTS", inbox) == 0, timeout=10)
    finally:
        cluster.call("CONFIG", "SET", "stream-node-max-entries", old)


def test_an_operators_drop_removes_the_room_on_every_node(cluster, tmp_path):
    a = cluster.start(*oper_password_file(tmp_path))
    b = cluster.start()
    oper, alice, bob = a.connect(), a.connect(), b.connect()
    oper.login("oper")
    alice.login("alice")
    bob.login("bob")
    become_operator(oper)
    join(alice, "doomed")
    join(bob, "doomed")
    say(bob, 3)
    assert messages(alice, 3)[-1] == ("bob", "m2")
    oper.send("drop", "doomed")
    assert info_containing(oper, "dropped") == \
        "#doomed dropped: 2 users moved to #lobby, 3 messages deleted"
    for who in (alice, bob):   # each told, then moved as by leave
        info_containing(who, "#doomed was dropped by oper")
        info_containing(who, "Joined #lobby")
        who.expect("history")
    poll(lambda: cluster.call("EXISTS", stream("doomed")) == 0)
    carol = b.connect()
    carol.login("carol")
    assert history(join(carol, "doomed")) == []
    bob.send("rooms")
    assert "#doomed (1)" in info_containing(bob, "Rooms (")


def test_a_drop_heard_late_spares_the_room_made_again_since(cluster, tmp_path):
    """Node b, stopped, hears of the drop of #again only after carol on a
    has made the room again and spoken there. b moves bob out, and deletes
    what its own users said in the dropped room, never carol's message."""
    a = cluster.start(*oper_password_file(tmp_path))
    b = cluster.start()
    oper, carol, bob = a.connect(), a.connect(), b.connect()
    oper.login("oper")
    carol.login("carol")
    bob.login("bob")
    become_operator(oper)
    join(bob, "again")

    def seen_on_a():
        oper.send("rooms")
        return "#again (1 user" in info_containing(oper, "Rooms (")   # an operator's list
    poll(seen_on_a)
    b.proc.send_signal(signal.SIGSTOP)
    try:
        oper.send("drop", "again")
        info_containing(oper, "dropped")
        join(carol, "again")
        carol.send("msg", "made again")
        assert messages(carol, 1) == [("carol", "made again")]
    finally:
        b.proc.send_signal(signal.SIGCONT)
    info_containing(bob, "#again was dropped by oper")
    info_containing(bob, "Joined #lobby")
    bob.expect("history")
    bob.send("rooms")                 # b has handled the drop before answering this
    info_containing(bob, "Rooms (")
    dave = a.connect()
    dave.login("dave")
    assert history(join(dave, "again")) == [("carol", "made again")]
    assert cluster.call("XLEN", stream("again")) == 1


def test_metrics_show_redis_round_trips(cluster):
    node = WebServer("--redis", cluster.url(), *cluster.tls_args, *FAST)
    cluster.nodes.append(node)
    node.wait_for_log("cluster node .* ready")
    alice = node.connect()
    alice.login("alice")
    say(alice, 3)
    status, _headers, body = http_get(node.http_port, "/metrics")
    assert status == 200
    found = {family.name: family for family in
             text_string_to_metric_families(body.decode("utf-8"))}
    family = found["chat_redis_round_trip_seconds"]
    assert family.type == "histogram"
    samples = {s.name: s.value for s in family.samples if "le" not in s.labels}
    assert samples["chat_redis_round_trip_seconds_count"] > 0
    assert samples["chat_redis_round_trip_seconds_sum"] > 0
    buckets = [s for s in family.samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == samples["chat_redis_round_trip_seconds_count"]

