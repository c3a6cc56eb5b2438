"""Clusters: real server processes sharing one real redis-server: one order
of messages, rooms, private messages, presence, accounts, bans and names
across nodes; nodes that stop, crash or stall; Redis restarted.

Every wait is for an event with a deadline; the lease, heartbeat, Redis
timeout and backoff are shrunk through their options.
"""

import signal
import socket
import time

import pytest

from chat.server.config import ServerConfig
from cluster_support import (FAST, UNAVAILABLE, become_operator, cluster,  # noqa: F401 (fixtures)
                             history, info_containing, kill_nodes, messages, next_answer,
                             oper_password_file, poll, redis_command, restartable_redis,
                             start_node, try_login)
from redis_support import own_redis_server, redis_server  # noqa: F401 (fixtures)
from support import TIMEOUT, ServerProcess

pytestmark = pytest.mark.slow   # nodes and a real redis-server, kill -9


def test_one_order_across_nodes(cluster):
    """Clients on two nodes send into one room at once: every client sees
    the same sequence, and a newcomer's history on either node ends it."""
    # a history far shorter than the burst: the streams keep what readers
    # have not read yet (--stream-retain), the history is the last 20
    a, b = cluster.start("--history-limit", "20"), cluster.start("--history-limit", "20")
    clients = [a.connect(), b.connect(), a.connect(), b.connect()]
    for i, client in enumerate(clients):
        client.login("user%d" % i)
    per_client = 60
    for n in range(per_client):   # all sent before anything is read
        for i, client in enumerate(clients):
            client.send("msg", "m%d-%d" % (i, n))
    total = per_client * len(clients)
    seen = [messages(client, total) for client in clients]
    assert all(s == seen[0] for s in seen[1:])
    for i in range(len(clients)):   # each sender's own order is kept
        mine = [text for sender, text in seen[0] if sender == "user%d" % i]
        assert mine == ["m%d-%d" % (i, n) for n in range(per_client)]
    for node in (a, b):
        assert history(node.connect().login("late" + str(node.port))) == seen[0][-20:]


def test_rooms_and_private_messages_across_nodes(cluster):
    a, b = cluster.start(), cluster.start()
    alice, bob = a.connect(), b.connect()
    alice.login("alice")
    bob.login("Bob")
    alice.send("join", "Dev")
    assert info_containing(alice, "Joined") == "Joined #Dev (1 user)"
    assert alice.expect("history")["content"] == []
    alice.send("msg", "first in dev")
    assert messages(alice, 1) == [("alice", "first in dev")]
    bob.send("join", "dev")   # another node: the room's history comes from its stream
    assert info_containing(bob, "Joined").startswith("Joined #Dev")
    assert history(bob.expect("history")) == [("alice", "first in dev")]
    bob.send("msg", "second")
    assert messages(alice, 1) == messages(bob, 1) == [("Bob", "second")]
    alice.send("pm", "bob hello across")
    expected = [("alice -> Bob", "hello across")]
    assert messages(alice, 1) == messages(bob, 1) == expected
    alice.send("pm", "nobody hi")
    assert alice.expect("error")["content"] == "nobody is not online"


def test_presence_names_and_rooms_across_nodes(cluster):
    """Joins and leaves on one node are told on the others; names and
    rooms count every node; a crashed node's users leave once."""
    quick = ("--presence-interval", "0.1")
    a = cluster.start("--lease", "1", "--lease-heartbeat", "0.2", *quick)
    b = cluster.start("--lease", "1", "--lease-heartbeat", "0.2", *quick)
    alice, bob = a.connect(), b.connect()
    alice.login("alice")
    bob.login("bob")
    info_containing(alice, "bob joined")
    carol_node = cluster.start(*quick)   # starts late: reads the snapshot
    carol = carol_node.connect()
    carol.login("carol")
    carol.send("names")
    assert info_containing(carol, "Users") == "Users online (3): alice, bob, carol"
    info_containing(alice, "carol joined")
    info_containing(bob, "carol joined")
    carol.send("join", "dev")
    assert info_containing(carol, "Joined") == "Joined #dev (1 user)"
    assert info_containing(alice, "left") == info_containing(bob, "left") == "carol left"
    bob.send("rooms")
    assert info_containing(bob, "Rooms") == "Rooms (2): #lobby (2), #dev (1)"
    b.proc.kill()
    assert info_containing(alice, "left") == "bob left"
    # once: for three heartbeats of the nodes (0.6 s) every answer to
    # names comes with no notice before it (a second "bob left" would)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        alice.send("names")
        assert alice.expect("info", skip=())["content"] == "Users online (1): alice"


def test_accounts_bans_and_purges_are_shared(cluster, tmp_path):
    a, b = cluster.start(*oper_password_file(tmp_path)), cluster.start()
    oper, bob = a.connect(), b.connect()
    oper.login("oper")
    bob.login("bob")
    become_operator(oper)
    bob.send("register", "secret123")
    info_containing(bob, "registered")
    for text in ("one", "two"):
        bob.send("msg", text)
        assert messages(bob, 1) == [("bob", text)]
    oper.send("msg", "mine")
    assert messages(bob, 1) == [("oper", "mine")]
    # the operator's node has read bob's messages too (its count of what the
    # purge removed is of its own copy): only then purge
    assert messages(oper, 3) == [("bob", "one"), ("bob", "two"), ("oper", "mine")]
    oper.send("purge", "bob")   # the stream loses bob's messages, every node its copy
    info_containing(oper, "2 messages from bob were removed by oper")
    assert history(a.connect().login("late1")) == [("oper", "mine")]
    carol = b.connect()
    carol.login("carol")
    oper.send("kick", "carol too loud")   # on the other node
    assert [p["content"] for p in carol.wait_closed() if p["response"] == "error"] == [
        "kicked by oper: too loud"]
    info_containing(oper, "carol was kicked by oper (too loud)")
    oper.send("kick", "nobody")
    assert oper.expect("error", skip=("info", "message"))["content"] == "nobody is not online"
    oper.send("ban", "bob spam")   # bob is on the other node
    assert [p["content"] for p in bob.wait_closed() if p["response"] == "error"] == [
        "you are banned: spam"]
    assert try_login(b, "bob") is None
    oper.send("unban", "bob")
    info_containing(oper, "bob")
    # the password registered on b holds on a once bob may log in again
    anon = poll(lambda: try_login(a, "bob secret123"))
    anon.close()
    assert try_login(a, "bob") is None   # registered: a password is needed


def test_names_are_unique_across_nodes(cluster):
    """Simultaneous logins with one name on two nodes: exactly one wins;
    a name freed by logout on one node can be taken on the other."""
    a, b = cluster.start(), cluster.start()
    for round_ in range(15):
        name = "race%d" % round_
        first, second = a.connect(), b.connect()
        first.send("login", name)
        second.send("login", name)
        answers = [first.recv()["content"], second.recv()["content"]]
        assert sorted(answers) == ["Login successful",
                                   "Username taken: %s is already logged in" % name], answers
        first.close()
        second.close()
    alice = a.connect()
    alice.login("alice")
    assert try_login(b, "ALICE") is None
    alice.send("logout")
    alice.wait_closed()
    assert poll(lambda: try_login(b, "alice"))


def test_logins_before_the_node_is_ready_wait_for_it(cluster):
    node = ServerProcess("--redis", cluster.url(), *cluster.tls_args, *FAST)
    try:
        client = node.connect()   # at once: the node may still be starting
        client.login("early")
        client.send("msg", "first")
        assert messages(client, 1) == [("early", "first")]
    finally:
        kill_nodes(node)


def test_a_stopped_node_releases_its_names(cluster):
    a, b = cluster.start(), cluster.start()
    alice = a.connect()
    alice.login("alice")
    assert a.stop() == 0
    assert try_login(b, "alice")   # at once: not after the lease
    log = a.read_log()
    assert "stopped" in log
    assert "memory only" not in log and "messages stored" not in log   # not a lone server's


def test_crashed_node_frees_its_names_within_the_lease(cluster):
    lease = 1.0
    a = cluster.start("--lease", str(lease), "--lease-heartbeat", "0.2")
    b = cluster.start("--lease", str(lease), "--lease-heartbeat", "0.2")
    alice = a.connect()   # kept: a closed socket would log her out
    alice.login("alice")
    bob = b.connect()
    bob.login("bob")
    assert try_login(b, "alice") is None
    a.proc.kill()
    a.proc.wait()
    killed = time.monotonic()
    assert poll(lambda: try_login(b, "alice"), timeout=lease + 2)
    assert time.monotonic() - killed < lease + 1
    bob.send("msg", "still here")
    assert messages(bob, 1) == [("bob", "still here")]


def test_stalled_node_disconnects_a_name_taken_over(cluster):
    a = cluster.start("--lease", "0.5", "--lease-heartbeat", "0.1")
    b = cluster.start("--lease", "0.5", "--lease-heartbeat", "0.1")
    alice = a.connect()
    alice.login("alice")
    a.proc.send_signal(signal.SIGSTOP)
    try:
        taker = poll(lambda: try_login(b, "alice"))   # the lease expired
    finally:
        a.proc.send_signal(signal.SIGCONT)
    told = alice.wait_closed()
    assert [p["content"] for p in told if p["response"] == "error"] == [
        "your name alice was taken by a login on another server; disconnected"]
    taker.send("msg", "mine now")
    assert messages(taker, 1) == [("alice", "mine now")]


def test_redis_restart_fails_closed_then_recovers(restartable_redis):
    redis = restartable_redis.start()
    a, b = start_node(redis.url()), start_node(redis.url())
    try:
        alice, bob = a.connect(), b.connect()
        alice.login("alice")
        bob.login("bob")
        alice.send("msg", "before")
        assert messages(alice, 1) == messages(bob, 1) == [("alice", "before")]

        redis.kill()
        for client, request, content in ((alice, "msg", "during"), (bob, "pm", "alice x"),
                                         (bob, "join", "elsewhere")):
            client.send(request, content)
            assert client.expect("error")["content"] == UNAVAILABLE
        newcomer = a.connect()
        newcomer.send("login", "carol")
        assert newcomer.expect("error")["content"] == UNAVAILABLE
        alice.send("names")   # connected users stay connected
        assert "alice" in info_containing(alice, "Users online")   # no error before it

        redis.start()
        returned = time.monotonic()

        def delivered():
            bob.send("msg", "after")
            answer = next_answer(bob)
            return answer if answer["response"] == "message" else None
        assert poll(delivered)["content"] == "after"
        assert time.monotonic() - returned < 5
        seen_by_alice = []

        def delivered_on_a():   # a may open its gate a little after b
            alice.send("msg", "after 2")
            while True:
                answer = next_answer(alice)
                if answer["response"] != "message":
                    return False   # refused: not stored, so never seen
                seen_by_alice.append((answer["sender"], answer["content"]))
                if answer["content"] == "after 2":
                    return True
        poll(delivered_on_a)
        # exactly once each, in one order, on both nodes (no "during")
        assert seen_by_alice == [("bob", "after"), ("alice", "after 2")]
        assert messages(bob, 1) == [("alice", "after 2")]
        assert history(b.connect().login("dave")) == [
            ("alice", "before"), ("bob", "after"), ("alice", "after 2")]
    finally:
        kill_nodes(a, b)


def test_a_node_started_before_redis_refuses_then_serves(restartable_redis):
    redis = restartable_redis   # nothing listens there yet
    node = ServerProcess("--redis", redis.url(), *FAST)
    try:
        early = node.connect()
        early.send("login", "early")   # held for --redis-timeout, then refused
        assert early.expect("error")["content"] == UNAVAILABLE
        redis.start()
        assert poll(lambda: try_login(node, "later"))
    finally:
        kill_nodes(node)


def test_a_history_trimmed_while_a_node_was_cut_off_is_announced(own_redis_server):  # noqa: F811
    redis = own_redis_server()
    # b's reader lags by at most one batch of 50: a stream that keeps 60 loses
    # nothing b has not read, but soon what a had read last
    a = start_node(redis.url(), "--history-limit", "5", "--stream-retain", "60")
    b = start_node(redis.url(), "--history-limit", "5", "--stream-retain", "60")
    try:
        alice, bob = a.connect(), b.connect()
        alice.login("alice")
        bob.login("bob")
        bob.send("msg", "seen by all")
        assert messages(alice, 1) == messages(bob, 1) == [("bob", "seen by all")]
        a.proc.send_signal(signal.SIGSTOP)
        try:
            redis_command(redis, "CLIENT KILL TYPE normal")   # both nodes are cut off
            assert poll(lambda: try_login(b, "carol"))        # b is back, a is stopped
            for batch in range(6):
                for n in range(50):
                    bob.send("msg", "m%d" % n)
                assert messages(bob, 50)[-1] == ("bob", "m49")
        finally:
            a.proc.send_signal(signal.SIGCONT)
        assert "may have been missed" in info_containing(alice, "missed")
        assert messages(alice, 1)[0][0] == "bob"   # and the chat goes on from the stream
    finally:
        kill_nodes(a, b)


def test_cluster_options_are_checked():
    assert ServerConfig(redis="redis://127.0.0.1:1", db="x.db").check()
    assert ServerConfig(node_id="n1").check()
    assert ServerConfig(redis="http://x").check()
    assert ServerConfig(redis="redis://127.0.0.1:1", lease=1, lease_heartbeat=2).check()
    assert ServerConfig(redis="redis://127.0.0.1:1", redis_timeout=0).check()
    assert ServerConfig(redis="redis://127.0.0.1:1", lease_heartbeat=0).check()
    assert not ServerConfig(redis="redis://127.0.0.1:1/2", node_id="n1").check()


def test_failed_logins_count_on_every_node(cluster):
    """The per-address limit of failed password attempts is the cluster's:
    two failures on one node and one on the other use up a limit of 3."""
    limit = ("--failed-login-limit", "3", "--failed-login-window", "60")
    a, b = cluster.start(*limit), cluster.start(*limit)
    bob = a.connect()
    bob.login("bob")
    bob.send("register", "secret123")
    info_containing(bob, "registered")
    bob.send("logout")
    bob.wait_closed()

    def failed(node):
        client = node.connect()
        client.send("login", "bob wrong-password")
        answer = client.expect("error")["content"]
        client.close()
        return answer
    assert failed(a) == failed(a) == "login failed: wrong name or password"
    assert failed(b) == "login failed: wrong name or password"
    # b's failure reaches a through Redis (this wait may add a failure on a
    # itself); the decisive check: b, with one failure of its own, refuses
    assert poll(lambda: failed(a).startswith("too many failed logins"))
    # b has read a's failures once it has read what a published after them
    # (one events stream, read in order): a login on a, seen in b's names
    witness, watcher = a.connect(), b.connect()
    witness.login("witness")
    watcher.login("watcher")
    assert poll(lambda: "witness" in watcher.request("names")["content"])
    assert failed(b).startswith("too many failed logins")


# -- what a node reads, what it holds ------------------------------------------------------

class Monitor:
    """A MONITOR connection: the commands Redis runs, as its log lines."""

    def __init__(self, redis):
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=TIMEOUT)
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.buffer = b""
        assert self.line() == b"+OK"

    def line(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "MONITOR: no line within %g s" % timeout
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            assert data, "MONITOR connection closed"
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def next_command(self, db, name, timeout=TIMEOUT):
        """The next command ``name`` run in database ``db``: its log line."""
        deadline = time.monotonic() + timeout
        prefix = b"[%d " % db
        while True:
            line = self.line(max(0.01, deadline - time.monotonic()))
            if prefix in line and (b'] "%s"' % name.encode()) in line:
                return line

    def close(self):
        self.sock.close()


def test_rooms_left_empty_are_no_longer_read(cluster):
    """One user joins 30 rooms one after the other (each is empty again
    when left: a single server forgets it, rooms.py). The node's reader
    must not go on reading all of them: its XREAD names at most the rooms
    the node holds (--max-rooms 3, plus the lobby)."""
    node = cluster.start("--max-rooms", "3")
    alice = node.connect()
    alice.login("alice")
    for n in range(30):
        alice.send("join", "hop%d" % n)
        info_containing(alice, "Joined #hop%d" % n)
        alice.expect("history")
    alice.send("leave")
    info_containing(alice, "Joined #lobby")
    alice.expect("history")
    monitor = Monitor(cluster.redis)
    try:
        alice.send("msg", "wake the reader")   # it reads again at once after this
        assert alice.expect("message")["content"] == "wake the reader"
        xread = monitor.next_command(cluster.db, "XREAD")
    finally:
        monitor.close()
    rooms_read = xread.count(b'"ktn:room:')
    assert rooms_read <= 3 + 1, (rooms_read, xread[:300])


def test_max_rooms_holds_on_a_cluster_node(cluster):
    """--max-rooms holds on a cluster node as on a single server."""
    node = cluster.start("--max-rooms", "1")
    alice, bob = node.connect(), node.connect()
    alice.login("alice")
    bob.login("bob")
    alice.send("join", "one")
    info_containing(alice, "Joined #one")
    bob.send("join", "two")   # alice is still in #one: a second room is one too many
    while True:   # presence notices skipped
        answer = bob.recv(timeout=2)
        if answer["response"] == "error" or answer["content"].startswith("Joined"):
            break
    assert answer["response"] == "error" and answer["content"].startswith("too many rooms"), \
        answer
