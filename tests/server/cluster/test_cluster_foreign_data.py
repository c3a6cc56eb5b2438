"""Data another writer put into Redis: keys of the wrong type, garbage and
malformed entries in the room and private-message streams and in the
presence events, records nested 100 000 deep, an entry larger than the
reply bound. A node skips what it cannot use, logs it in a bounded line,
and goes on: it starts (or says why not and starts once it can), delivers
every well-formed message around the bad ones, and answers its users.

Real server processes on a real ``redis-server``; the data is written as a
third party would (``cluster_support.redis_commands``). Every wait is for
an event with a deadline; nothing sleeps to synchronise.
"""

import itertools
import json
import os
import socket
import threading
import time

import pytest

from chat import protocol
from cluster_support import (FAST, Chatter, cluster, history,  # noqa: F401 (fixtures)
                             info_containing, messages, poll, redis_commands, try_login)
from redis_support import redis_server  # noqa: F401 (fixture)
from support import ServerProcess

pytestmark = pytest.mark.slow   # nodes and a real redis-server


def read_lines(client, count, timeout=3.0):
    """The next ``count`` payloads as raw lines (not parsed: a test of what
    reaches the wire must see a line that is not JSON as it is)."""
    lines = []
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        while b"\n" not in client.buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "only %d of %d lines: %r" % (len(lines), count, lines)
            client.sock.settimeout(remaining)
            try:
                data = client.sock.recv(65536)
            except socket.timeout:
                continue
            assert data, "connection closed after %r" % lines
            client.buffer += data
        line, client.buffer = client.buffer.split(b"\n", 1)
        lines.append(line)
    return lines


def payload_lines_are_json(lines):
    """Every line one JSON object with the standard's four keys."""
    for line in lines:
        try:
            payload = json.loads(line)
        except ValueError:
            return False
        if not (isinstance(payload, dict)
                and set(payload) == {"timestamp", "sender", "response", "content"}):
            return False
    return True


def drain_log(node):
    """Read the node's log from now on, on a thread (a log line larger than
    the pipe would otherwise stop the node until a test reads it)."""
    def drain():
        while os.read(node.proc.stderr.fileno(), 65536):
            pass
    threading.Thread(target=drain, daemon=True).start()


# -- in the streams ------------------------------------------------------------------------

def test_a_room_key_of_the_wrong_type_does_not_stop_delivery(cluster):
    a = cluster.start()
    alice, carol = a.connect(), a.connect()
    alice.login("alice")
    carol.login("carol")
    alice.send("join", "dev")   # a mirrored room whose stream does not exist yet
    info_containing(alice, "Joined #dev")
    cluster.call("SET", "ktn:room:dev", "not a stream")
    for n in range(3):   # the XREAD in flight may still return one
        carol.send("msg", "lobby %d" % n)
        assert carol.expect("message", timeout=2)["content"] == "lobby %d" % n


def test_garbage_room_entries_never_reach_clients(cluster):
    a = cluster.start()
    carol = a.connect()
    carol.login("carol")
    carol.send("msg", "real")
    assert messages(carol, 1) == [("carol", "real")]
    for payload in (b"garbage\n", b'{"response": "info"}\n', b"{}\n{}\n"):
        cluster.call("XADD", "ktn:room:lobby", "*", "s", "mallory", "r", "lobby",
                     "p", payload)
    carol.send("msg", "after")
    lines = read_lines(carol, 1)
    assert payload_lines_are_json(lines), lines
    assert json.loads(lines[0])["content"] == "after"
    late = a.connect()
    late.send("login", "late")
    lines = read_lines(late, 2)
    assert payload_lines_are_json(lines), lines
    assert history(json.loads(lines[1])) == [("carol", "real"), ("carol", "after")]


def test_garbage_private_message_entries_never_reach_clients(cluster):
    a = cluster.start("--node-id", "a")
    carol = a.connect()
    carol.login("carol")
    marker = protocol.encode_response("2026-01-01T00:00:00+00:00", "mallory -> carol",
                                      protocol.MESSAGE, "marker")
    for payload in (b"garbage\n", marker):   # read in this order
        cluster.call("XADD", "ktn:node:a", "*", "t", "pm", "to", "carol", "p", payload)
    lines = read_lines(carol, 1)
    while b"marker" not in lines[-1]:
        lines += read_lines(carol, 1)
    assert payload_lines_are_json(lines), lines


def test_malformed_presence_events_are_ignored(cluster):
    """Presence events another writer put in ktn:events, with members that
    are not (room, name) strings, change nothing: the node goes on reading
    and names, rooms and messages work."""
    a, b = cluster.start(), cluster.start()
    alice, bob = a.connect(), b.connect()
    alice.login("alice")
    bob.login("bob")
    for state in ('{"x": [5, "ghost"]}', '{"y": ["lobby", 7]}', '{"z": [null, null]}',
                  '{"w": ["", "ghost"]}', '["lobby", "ghost"]'):
        cluster.call("XADD", "ktn:events", "*", "n", "elsewhere", "t", "s", "m", state)
    cluster.call("XADD", "ktn:events", "*", "n", "elsewhere", "t", "j", "r", "lobby",
                 "k", "x y", "u", "not a name")
    bob.send("msg", "still read")
    assert messages(alice, 1) == messages(bob, 1) == [("bob", "still read")]
    for client in (alice, bob):
        client.send("names")
        assert info_containing(client, "Users online") == "Users online (2): alice, bob"
        client.send("rooms")
        assert info_containing(client, "Rooms") == "Rooms (1): #lobby (2)"


def test_a_deeply_nested_entry_costs_no_other_message(cluster):
    """Another writer appends an entry nested 100 000 deep between two
    well-formed messages, in one MULTI (so the node reads all three in one
    reply): the node must skip it and deliver the other two."""
    node = cluster.start()
    carol = node.connect()
    carol.login("carol")
    carol.send("msg", "ready")
    assert carol.expect("message")["content"] == "ready"
    drain_log(node)   # today's error log line is 100 KB: it must not block the node

    def entry(payload):
        return ("XADD", "ktn:room:lobby", "*", "s", "mallory", "r", "lobby", "p", payload)
    well_formed = [
        b'{"timestamp": "2026-01-01T00:00:00+00:00", "sender": "mallory", '
        b'"response": "message", "content": "%s"}\n' % text for text in (b"one", b"two")]
    nested = b'{"timestamp": ' + b"[" * 100_000 + b"}\n"
    replies = redis_commands(cluster.redis, cluster.db, [
        ("MULTI",), entry(well_formed[0]), entry(nested), entry(well_formed[1]), ("EXEC",)])
    assert len(replies[-1]) == 3, replies
    got = [carol.expect("message", timeout=2)["content"] for _ in range(2)]
    assert got == ["one", "two"]


def test_an_entry_over_the_reply_bound_does_not_stop_the_reader(cluster):
    """One entry larger than the reply bound (65 MiB) does not stop the
    node's reader for good: it takes and delivers msgs again."""
    node = cluster.start()
    carol = node.connect()
    carol.login("carol")
    huge = b"x" * (65 << 20)
    assert cluster.call("XADD", "ktn:room:lobby", "*", "s", "mallory", "r", "lobby", "p", huge)
    del huge
    texts = itertools.count()

    def delivered():   # until the node takes msgs again and gives them back
        text = "after %d" % next(texts)
        carol.send("msg", text)
        while True:
            try:
                payload = carol.recv(timeout=1)
            except AssertionError:   # no answer within 1 s
                return False
            if payload["response"] == "error":
                return False
            if payload["response"] == "message" and payload["content"] == text:
                return True
    assert poll(delivered, timeout=2)


def test_a_join_of_a_room_holding_a_deeply_nested_entry_is_answered(cluster):
    """A join of a room whose stream holds an entry nested 100 000 deep is
    answered."""
    node = cluster.start()
    carol = node.connect()
    carol.login("carol")
    drain_log(node)
    assert cluster.call("XADD", "ktn:room:trap", "*", "s", "mallory", "r", "trap", "p",
                        b'{"timestamp": ' + b"[" * 100_000 + b"}\n")
    carol.send("join", "trap")
    assert carol.expect("info", timeout=2, skip=())["content"].startswith("Joined #trap")


# -- where a starting node reads -----------------------------------------------------------

def test_a_node_that_cannot_start_says_why_and_starts_once_it_can(cluster):
    """A key of the wrong type where a starting node reads (the bans hash
    here) is logged, and the start is tried again after a pause: once the
    key is fixed the node becomes ready, with no reconnection to wait for."""
    cluster.call("SET", "ktn:bans", "not a hash")
    node = ServerProcess("--redis", cluster.url(), *cluster.tls_args, *FAST)
    cluster.nodes.append(node)
    node.wait_for_log("reading the accounts and bans failed: WRONGTYPE")
    cluster.call("DEL", "ktn:bans")
    node.wait_for_log("cluster node .* ready")
    Chatter(node, "alice")   # and it serves


def test_a_node_starts_beside_members_that_are_not_a_hash(cluster):
    """Another node's members key of the wrong type is skipped at start-up,
    not a start that never ends."""
    cluster.call("SADD", "ktn:nodes", "ghost")
    cluster.call("SET", "ktn:alive:ghost", "1", "PX", "60000")
    cluster.call("SET", "ktn:members:ghost", "not a hash")
    a = cluster.start()
    assert try_login(a, "alice")


def test_a_node_starts_beside_a_deeply_nested_account(cluster):
    """An account record nested 100 000 deep does not keep a node from
    starting."""
    assert cluster.call("HSET", "ktn:accounts", "bob", b"[" * 100_000) == 1
    node = ServerProcess("--redis", cluster.url(), *cluster.tls_args, *FAST)
    cluster.nodes.append(node)
    node.wait_for_log("cluster node .* ready", timeout=3)   # (reads the 100 KB line)
