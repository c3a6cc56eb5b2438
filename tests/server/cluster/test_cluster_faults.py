"""Cluster faults: what a node does when Redis stalls, dies and returns,
when a node is cut off, stopped, killed or restarted while the others go
on, and when Redis runs a command whose answer never reaches the node.
(Data a third party wrote into Redis: test_cluster_foreign_data.py.)

Real server processes on a real ``redis-server``; every wait is for an
event with a deadline. Each test failed before the fix it checks.
"""

import itertools
import json
import signal
import socket
import threading
import time

import pytest

from chat import protocol
from chat.store.redis import RedisStore
from cluster_support import (UNAVAILABLE, Chatter, Cluster, become_operator,  # noqa: F401 (fixtures)
                             cluster, history, info_containing, kill_nodes, messages,
                             oper_password_file, poll, restartable_redis, start_node)
from reactor.loop import EventLoop
from reactor.redis import RedisClient
from redis_support import own_redis_server, redis_server, run_until  # noqa: F401 (fixtures)
from support import TIMEOUT

pytestmark = pytest.mark.slow   # nodes and a real redis-server, kill -9

# Lease and restart semantics, the same over either transport: redis:// only
# (the stalls and cut-offs above and below run over rediss:// too).
PLAIN_ONLY = pytest.mark.parametrize("cluster", ["redis"], indirect=True)


def info_within(client, text, timeout):
    """The first ``info`` containing ``text`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        payload = client.recv(max(0.01, deadline - time.monotonic()))
        if payload["response"] == "info" and text in payload["content"]:
            return payload["content"]


# -- a node stopped or cut off while the others go on -------------------------------


def test_a_nodes_inbox_goes_with_it(cluster):
    """A node's own stream (its private messages) is deleted when it stops,
    and by the others when it dies: with the default id (host:port:pid)
    every process ever started would otherwise leave one behind."""
    timing = ("--lease", "0.5", "--lease-heartbeat", "0.1")
    a, b, c = cluster.start(*timing), cluster.start(*timing), cluster.start(*timing)
    Chatter(a, "alice")
    inbox = {node: "ktn:node:127.0.0.1:%d:%d" % (node.port, node.proc.pid)
             for node in (a, b)}
    assert [cluster.call("EXISTS", inbox[node]) for node in (a, b)] == [1, 1]
    assert b.stop() == 0
    assert cluster.call("EXISTS", inbox[b]) == 0
    a.proc.kill()
    a.proc.wait()
    poll(lambda: cluster.call("EXISTS", inbox[a]) == 0)
    assert c.proc.poll() is None


def test_a_node_reads_a_large_backlog_after_a_stall(cluster):
    """Five rooms each get 1000 messages of the default largest size (16 KiB)
    while a node is stopped: it must read them all and go on."""
    a = cluster.start()
    alice, carol = a.connect(), a.connect()
    alice.login("alice")
    carol.login("carol")
    rooms = ["big%d" % n for n in range(5)]
    for room in rooms:   # a mirrors each room from now on
        alice.send("join", room)
        info_containing(alice, "Joined #" + room)
        alice.expect("history")
    text = "x" * (16 * 1024 - 2)   # the quotes count: 16 KiB encoded
    a.proc.send_signal(signal.SIGSTOP)
    try:
        # cut off too, so that its next XREAD, whatever it had asked
        # before, comes after the whole backlog (as after an outage)
        cluster.call("CLIENT", "KILL", "TYPE", "normal")
        for room in rooms:
            payload = protocol.encode_response("2026-01-01T00:00:00+00:00", "mallory",
                                               protocol.MESSAGE, text)
            cluster.pipeline([
                ("XADD", "ktn:room:" + room, "*", "s", "mallory", "r", room, "p", payload)
                for _ in range(1000)])
        marker = protocol.encode_response("2026-01-01T00:00:00+00:00", "mallory",
                                          protocol.MESSAGE, "marker")
        cluster.call("XADD", "ktn:room:lobby", "*", "s", "mallory", "r", "lobby", "p", marker)
    finally:
        a.proc.send_signal(signal.SIGCONT)
    assert carol.expect("message", timeout=3)["content"] == "marker"


def test_a_purge_while_a_node_was_cut_off_is_not_taken_for_a_trim(cluster):
    """The last entry a node read is deleted (a purge) while the node is cut
    off: older entries remain, so nothing it had not read was trimmed, and
    its users are not told that messages may have been missed."""
    a, b = cluster.start(), cluster.start()
    alice, bob = a.connect(), b.connect()
    alice.login("alice")
    bob.login("bob")
    for text in ("first", "second"):
        bob.send("msg", text)
        assert messages(alice, 1) == messages(bob, 1) == [("bob", text)]
    a.proc.send_signal(signal.SIGSTOP)
    try:
        cluster.call("CLIENT", "KILL", "TYPE", "normal")   # a is cut off
        [(last, _fields)] = cluster.call("XREVRANGE", "ktn:room:lobby", "+", "-", "COUNT", 1)
        assert cluster.call("XDEL", "ktn:room:lobby", last) == 1
    finally:
        a.proc.send_signal(signal.SIGCONT)
    notices = []

    def third_delivered():   # once both nodes are back and reading
        bob.send("msg", "third")
        while True:
            payload = bob.recv()
            if payload["response"] == "error":
                return False   # b is not back yet
            if payload["response"] == "message":
                break
        while True:
            payload = alice.recv()
            if payload["response"] == "message":
                return payload["content"] == "third"
            notices.append(payload["content"])
    poll(third_delivered)
    assert not [text for text in notices if "missed" in text], notices


def test_a_ban_made_while_a_node_was_cut_off_holds_there_too(cluster, tmp_path):
    a, b = cluster.start(*oper_password_file(tmp_path)), cluster.start()
    oper = a.connect()
    oper.login("oper")
    become_operator(oper)
    b.proc.send_signal(signal.SIGSTOP)
    try:
        cluster.call("CLIENT", "KILL", "TYPE", "normal")   # b is cut off

        def banned():   # once a is back (b stays stopped)
            oper.send("ban", "mallory spam")
            answer = oper.recv()
            return answer["response"] == "info" and "banned" in answer["content"]
        poll(banned)
        # The operator's answer does not wait for Redis: a's connection may
        # have died under the ban (CLIENT KILL; through the TLS proxy a
        # notices up to a tick later), and a's store then sends it again
        # once a is back. What this test is about (a ban b never read in
        # the events stream) starts once Redis has it: before, b could not
        # know of it, and a login there would rightly succeed.
        poll(lambda: cluster.call("HEXISTS", "ktn:bans", "mallory") == 1)
        # a busy cluster's next 10 000 events push the ban out of the stream
        cluster.pipeline([
            ("XADD", "ktn:events", "MAXLEN", "~", "10000", "*", "n", "elsewhere", "t", "noop")
            for _ in range(10_300)])
    finally:
        b.proc.send_signal(signal.SIGCONT)

    def answer():
        client = b.connect()
        client.send("login", "mallory")
        content = client.recv()["content"]
        client.close()
        return None if content == UNAVAILABLE else content
    assert poll(answer, timeout=4) == "you are banned: spam"


@PLAIN_ONLY
def test_a_node_stalled_past_the_lease_is_present_again_after_it(cluster):
    """A node stopped past its liveness lease is taken for dead (its users
    "left"); once it runs again, still connected to Redis, the others must
    count its users again."""
    timing = ("--lease", "0.6", "--lease-heartbeat", "0.1")
    a, b = cluster.start(*timing), cluster.start(*timing)
    bob, alice = b.connect(), a.connect()
    bob.login("bob")
    alice.login("alice")
    assert "alice" in info_within(bob, "joined", timeout=3)
    a.proc.send_signal(signal.SIGSTOP)
    try:
        assert info_within(bob, "left", timeout=3) == "alice left"
    finally:
        a.proc.send_signal(signal.SIGCONT)
    assert "alice" in info_within(bob, "joined", timeout=3)
    bob.send("names")
    assert info_containing(bob, "Users online") == "Users online (2): alice, bob"


@PLAIN_ONLY
def test_a_node_restarted_with_its_id_is_not_haunted_by_its_old_users(cluster):
    """kill -9 and restart with the same --node-id within the lease: the
    others learn at once that the old incarnation's users are gone (its
    liveness key is renewed by the new one, so it never expires)."""
    timing = ("--lease", "5", "--lease-heartbeat", "0.2")
    a = cluster.start("--node-id", "same", *timing)
    b = cluster.start(*timing)
    alice, bob = a.connect(), b.connect()
    bob.login("bob")
    alice.login("alice")
    assert "alice" in info_within(bob, "joined", timeout=3)
    a.proc.kill()
    a.proc.wait()
    cluster.start("--node-id", "same", *timing)
    assert info_within(bob, "left", timeout=3) == "alice left"
    bob.send("names")
    assert info_containing(bob, "Users online") == "Users online (1): bob"


# -- a Redis that stops answering (SIGSTOP) but keeps its sockets open --------------


@pytest.fixture
def stalled_cluster(own_redis_server):  # noqa: F811
    """Its own Redis (to SIGSTOP) and two nodes on it; the Redis is
    continued whatever the test did."""
    redis = own_redis_server()
    started = Cluster(redis)
    started.db = 0
    yield started
    redis.resume()
    started.kill()


def test_a_msg_cut_off_by_a_stall_gets_one_answer_the_true_one(stalled_cluster):
    """A msg whose append is cut off (Redis stalled past --redis-timeout)
    may or may not have run: Redis reads what was sent once it continues.
    When it answers again within the wait, the sender gets one answer, the
    true one: its message (stored: everyone has it, and no error) or the
    error (then it is nowhere)."""
    a = stalled_cluster.start("--redis-timeout", "2")
    alice = Chatter(a, "alice")
    assert alice.delivered("before")
    stalled_cluster.redis.pause()
    try:
        alice.send("during")
        a.wait_for_log("redis lost")   # the node gave the append up: in doubt
    finally:
        stalled_cluster.redis.resume()
    first = alice.next()   # the answer to "during": its message or the error
    poll(lambda: alice.delivered("after"))   # (a message stored late shows by then)
    stored = ("alice", "during") in alice.seen
    if first["response"] == "error":
        assert not stored, alice.seen
    else:
        assert first["content"] == "during" and stored
    assert history(a.connect().login("late")) == alice.seen


def test_names_touched_during_a_stall_are_free_after_it(stalled_cluster):
    """A login cut off by the stall, one whose client left meanwhile, and a
    logout while the node knew Redis was gone: once Redis answers again
    each name can be taken at once (not a lease later: 15 s here)."""
    a, b = stalled_cluster.start(), stalled_cluster.start()
    alice, erin = a.connect(), a.connect()
    alice.login("alice")
    erin.login("erin")
    stalled_cluster.redis.pause()
    carol, dave = a.connect(), a.connect()
    carol.send("login", "carol")   # the lease claim goes out and gets no answer
    dave.send("login", "dave")
    dave.close()                   # and this one's user does not wait for it
    alice.send("msg", "during")
    assert carol.expect("error", timeout=4)["content"] == UNAVAILABLE
    assert alice.expect("error", timeout=4)["content"] == UNAVAILABLE
    erin.send("logout")            # the node knows Redis is gone: no release can go out
    erin.wait_closed()
    stalled_cluster.redis.resume()

    def answer(node, name):
        """The first answer to a login that is not "unavailable" (not back yet)."""
        client = node.connect()
        client.send("login", name)
        content = client.recv()["content"]
        client.close()
        return None if content == UNAVAILABLE else content
    answers = {name: poll(lambda: answer(node, name), timeout=4)
               for node, name in ((a, "carol"), (b, "dave"), (b, "erin"))}
    assert answers == dict.fromkeys(answers, "Login successful")


def test_a_stalled_redis_fails_closed_then_nothing_is_lost_or_doubled(stalled_cluster):
    """Redis stops answering: msg, pm and join get the error within
    --redis-timeout, users stay connected; once it answers again both
    nodes deliver one sequence with nothing twice, and give one history."""
    a, b = stalled_cluster.start(), stalled_cluster.start()
    alice, bob = Chatter(a, "alice"), Chatter(b, "bob")
    assert alice.delivered("before")
    bob.next()
    stalled_cluster.redis.pause()
    stalled = time.monotonic()
    alice.send("during")   # may be stored: Redis reads it when continued
    assert alice.next()["response"] == "error"
    # --redis-timeout 1 to give the append up, as long again for the reader
    # to give it back (it is in doubt), and a margin
    assert time.monotonic() - stalled < 1 + 1 + 1.5
    for request, content in (("pm", "alice psst"), ("join", "elsewhere"), ("msg", "b")):
        bob.client.send(request, content)
        assert bob.client.expect("error", timeout=4)["content"] == UNAVAILABLE, request
    for chatter in (alice, bob):   # connected users stay connected
        chatter.client.send("names")
        assert "Users online" in chatter.client.expect("info", timeout=4)["content"]
    stalled_cluster.redis.resume()
    attempts = itertools.count()
    for chatter in (bob, alice):   # until each node delivers again
        poll(lambda: chatter.delivered("%s-%d" % (chatter.name, next(attempts))))
    alice.send("end")
    for chatter in (alice, bob):
        while chatter.seen[-1] != ("alice", "end"):
            chatter.next()
    assert alice.seen == bob.seen
    texts = [text for _sender, text in alice.seen]
    assert len(texts) == len(set(texts)), texts
    for i, node in enumerate((a, b)):
        assert history(node.connect().login("late%d" % i)) == alice.seen


# -- a Redis killed and started again (append-only file) ----------------------------


def test_sends_on_two_nodes_while_redis_dies_and_returns(restartable_redis):
    """Users on both nodes send a burst as Redis is killed and restarted:
    every msg is answered (its message or an error), both nodes' users see
    one sequence with nothing twice, delivery resumes within 5 s, and both
    nodes give the same history."""
    redis = restartable_redis.start()
    a, b = start_node(redis.url()), start_node(redis.url())
    try:
        alice, bob = Chatter(a, "alice"), Chatter(b, "bob")
        pingers = [Chatter(a, "pa"), Chatter(b, "pb")]   # one msg in flight at most
        for n in range(100):
            alice.send("a%d" % n)
            bob.send("b%d" % n)
        alice.next()   # Redis is taking the burst: kill it now
        redis.kill()
        redis.start()
        returned = time.monotonic()
        attempts = itertools.count()
        for pinger in pingers:
            poll(lambda: pinger.delivered("%s-%d" % (pinger.name, next(attempts))))
        assert time.monotonic() - returned < 5
        pingers[0].send("end")
        everyone = [alice, bob, *pingers]
        for chatter in everyone:
            while ("pa", "end") not in chatter.seen:
                chatter.next()
        assert all(chatter.seen[-len(alice.seen):] == alice.seen for chatter in everyone)
        assert alice.seen == bob.seen
        texts = [text for _sender, text in alice.seen]
        assert len(texts) == len(set(texts)), texts
        for chatter in (alice, bob):
            assert chatter.answered() >= chatter.sent, (chatter.name, chatter.answered())
            own = [int(t[1:]) for s, t in chatter.seen if s == chatter.name]
            assert own == sorted(own)   # each sender's order kept
        histories = [history(node.connect().login("late%d" % i)) for i, node in enumerate((a, b))]
        assert histories[0] == histories[1] == alice.seen
    finally:
        kill_nodes(a, b)


def test_a_registration_cut_off_by_redis_holds_on_every_node(restartable_redis):
    """A user told "registered" just before Redis stalls and dies: once it
    is back, every node requires the password (not only the one that
    answered), and it survives in Redis for the nodes started later."""
    redis = restartable_redis.start()
    nodes = [start_node(redis.url()), start_node(redis.url())]
    a, b = nodes
    try:
        bob = a.connect()
        bob.login("bob")
        redis.pause()
        bob.send("register", "secret123")
        assert "registered" in info_containing(bob, "registered")
        redis.kill()   # what the node sent meanwhile was never read
        redis.start()
        bob.send("logout")
        bob.wait_closed()
        refused = "bob is registered: login bob <password>"

        def refuses(node):
            client = node.connect()
            client.send("login", "bob")
            content = client.recv()["content"]
            client.close()
            return content == refused
        for node in (a, b):   # the node that answered re-sends it when Redis is back
            poll(lambda: refuses(node), timeout=3)
        nodes.append(start_node(redis.url()))   # reads the accounts from Redis
        assert refuses(nodes[-1])
    finally:
        kill_nodes(*nodes)


def test_account_changes_cut_off_are_sent_again_in_order(own_redis_server):  # noqa: F811
    """The store's outbox: a change cut off, then one made while Redis is
    away, reach Redis in the order they were made (the newer password wins)."""
    redis = own_redis_server()
    loop = EventLoop()
    client = RedisClient(loop, redis.url(), reply_timeout=0.3, connect_timeout=0.3,
                         backoff_max=0.1)
    try:
        run_until(loop, lambda: client.connected)
        store = RedisStore(10, retry=0.05)
        events = []
        store.attach(client, lambda **fields: events.append(fields["a"]) or client.call("PING"),
                     scan=10)
        redis.pause()
        try:
            store.set_account("bob", b"\x01", b"old", 2 ** 15)   # cut off after 0.3 s
            run_until(loop, lambda: not client.connected)
            store.set_account("bob", b"\x02", b"new", 2 ** 15)   # made while Redis is away
        finally:
            redis.resume()
        run_until(loop, lambda: not store.outbox)
        reply = client.call("HGET", "ktn:accounts", "bob")
        run_until(loop, lambda: reply.done)
        old, new = '["01", "6f6c64", 32768]', '["02", "6e6577", 32768]'
        assert json.loads(reply.value) == json.loads(new)
        assert events == [old, old, new]   # the cut off one again, then the newer
    finally:
        client.close()
        loop.close()


# -- rooms across nodes -------------------------------------------------------------


def test_a_join_during_a_burst_meets_the_stream_with_no_gap_or_overlap(cluster):
    """bob joins, on another node, a room that alice is flooding: his
    history and the messages after it are one contiguous run of alice's."""
    a, b = cluster.start("--history-limit", "10"), cluster.start("--history-limit", "10")
    alice, bob = a.connect(), b.connect()
    alice.login("alice")
    bob.login("bob")
    alice.send("join", "flood")
    info_containing(alice, "Joined #flood")
    alice.expect("history")
    total = 500
    for n in range(total):
        alice.send("msg", "m%d" % n)
    bob.send("join", "flood")   # as the flood goes in (usually well before its end)
    info_containing(bob, "Joined #flood")
    got = history(bob.expect("history"))
    while not got or got[-1] != ("alice", "m%d" % (total - 1)):
        got += messages(bob, 1)
    texts = ["m%d" % n for n in range(total)]
    assert [text for _sender, text in got] == texts[-len(got):]
    assert messages(alice, total) == [("alice", t) for t in texts]


# -- an answer from Redis lost after the command ran (a proxy holds it back) ---------------

class Proxy:
    """A TCP proxy in front of Redis, on threads: each connection through
    it is a ``Pipe`` whose answers from Redis the test can hold back and
    release. With ``hold_on``, a connection that sends those bytes has its
    answers held from then on (the command still goes: Redis runs it, its
    answer does not arrive). Closed by ``close``."""

    def __init__(self, redis, hold_on=None):
        self.upstream = ("127.0.0.1", redis.port)
        self.hold_on = hold_on
        self.pipes = []
        self.changed = threading.Condition()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db):
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            pipe = Pipe(self, client, socket.create_connection(self.upstream))
            with self.changed:
                self.pipes.append(pipe)
            threading.Thread(target=pipe.pump_requests, daemon=True).start()
            threading.Thread(target=pipe.pump_answers, daemon=True).start()

    def pipe_that_sent(self, data, timeout=TIMEOUT):
        """The connection that has sent ``data`` (waits for one)."""
        with self.changed:
            found = self.changed.wait_for(
                lambda: next((p for p in self.pipes if data in p.sent), None), timeout)
        assert found is not None, "no connection sent %r" % data
        return found

    def close(self):
        self.listener.close()
        for pipe in self.pipes:
            pipe.close()


class Pipe:
    """One client connection through a ``Proxy`` and its Redis connection."""

    def __init__(self, proxy, client, server):
        self.proxy = proxy
        self.client, self.server = client, server
        self.sent = bytearray()   # everything the client sent
        self.lock = threading.Lock()
        self.holding = False
        self.held = []

    def pump_requests(self):
        proxy = self.proxy
        while True:
            data = _recv(self.client)
            if not data:
                return self.close()
            with self.lock:
                if proxy.hold_on is not None and proxy.hold_on in data:
                    self.holding = True   # before Redis can answer it
            with proxy.changed:
                self.sent += data
                proxy.changed.notify_all()
            if not _send(self.server, data):
                return self.close()

    def pump_answers(self):
        while True:
            data = _recv(self.server)
            if not data:
                return self.close()
            with self.lock:
                if self.holding:
                    self.held.append(data)
                elif not _send(self.client, data):
                    return self.close()

    def wait_sent(self, data, count, timeout=TIMEOUT):
        """Wait until this connection has sent ``data`` ``count`` times."""
        with self.proxy.changed:
            assert self.proxy.changed.wait_for(lambda: self.sent.count(data) >= count,
                                               timeout), (data, count)

    def hold(self):
        with self.lock:
            self.holding = True

    def release(self):
        with self.lock:
            self.holding = False
            _send(self.client, b"".join(self.held))
            self.held = []

    def close(self):
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _recv(sock):
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _send(sock, data):
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def test_a_pm_cut_off_after_it_was_stored_is_not_answered_try_again(cluster):
    """alice on node a (whose Redis connection goes through a proxy) sends
    bob on node b a pm; Redis stores it (bob gets it) but its answer to a
    is lost, so a drops the connection after --redis-timeout. alice must
    not be told "try again" for a pm bob has: she gets her copy."""
    proxy = Proxy(cluster.redis, hold_on=b"ktn:node:b")
    try:
        b = cluster.start("--node-id", "b")
        a = cluster.start("--node-id", "a", url=proxy.url(cluster.db))
        bob, alice = b.connect(), a.connect()
        bob.login("bob")
        alice.login("alice")
        alice.send("pm", "bob psst")
        got = bob.expect("message", timeout=3)
        assert (got["sender"], got["content"]) == ("alice -> bob", "psst")
        assert any(pipe.holding for pipe in proxy.pipes)
        answer = alice.expect("message", timeout=4, skip=("info",))   # not the error
        assert (answer["sender"], answer["content"]) == ("alice -> bob", "psst")
    finally:
        proxy.close()


def test_a_refused_msg_is_not_taken_for_its_stored_twin(cluster):
    """alice sends "same" twice in one second (one payload, byte for byte).
    The first is stored and answered; the second is refused by Redis (out
    of memory); the first is read back while the second's answer is on
    its way. alice must be told that the second did not go through."""
    proxy = Proxy(cluster.redis)
    try:
        a = cluster.start("--redis-timeout", "3", url=proxy.url(cluster.db))
        alice = a.connect()
        alice.login("alice")
        reader = proxy.pipe_that_sent(b"XREAD")
        main = proxy.pipe_that_sent(b"ktn:name:alice")
        poll(lambda: time.time() % 1 < 0.3, interval=0.01)   # both sends in one second
        reader.hold()   # the first "same" is not read back yet
        alice.send("msg", "same")
        alice.send("pm", "nobody x")   # answered after the first append (one connection)
        assert alice.expect("error")["content"] == "nobody is not online"
        try:
            assert cluster.call("CONFIG", "SET", "maxmemory", "1") == "OK"
            main.hold()
            appends = main.sent.count(b"ktn:room:lobby")
            alice.send("msg", "same")   # refused: OOM
            main.wait_sent(b"ktn:room:lobby", appends + 1)
            reader.release()   # the first is read back while the second waits
            assert alice.expect("message")["content"] == "same"
        finally:
            cluster.call("CONFIG", "SET", "maxmemory", "0")
            main.release()
        alice.send("msg", "after")
        answers, errors = [], []
        while not answers or answers[-1] != "after":
            payload = alice.recv()
            if payload["response"] == "error":
                errors.append(payload["content"])
            elif payload["response"] == "message":
                answers.append(payload["content"])
        alice.send("names")   # answered after any error due
        while True:
            payload = alice.recv()
            if payload["response"] == "error":
                errors.append(payload["content"])
            elif payload["response"] == "info" and "Users online" in payload["content"]:
                break
        entries = cluster.call("XRANGE", "ktn:room:lobby", "-", "+")
        payloads = [dict(zip(fields[::2], fields[1::2]))[b"p"] for _id, fields in entries]
        stored = [p for p in payloads if b'"content": "same"' in p]
        assert len(stored) == 1 and "same" not in answers   # the second is nowhere ...
        assert errors == [UNAVAILABLE], (answers, errors)   # ... and alice must know it
    finally:
        proxy.close()


def test_a_kick_cut_off_after_it_was_stored_is_not_answered_try_again(cluster, tmp_path):
    """A kick Redis stored, whose answer to node a is lost: the operator is
    told it was done (bob was kicked), not "try again"."""
    proxy = Proxy(cluster.redis, hold_on=b"$4\r\nkick\r\n")
    try:
        b = cluster.start("--node-id", "b")
        a = cluster.start("--node-id", "a", *oper_password_file(tmp_path),
                          url=proxy.url(cluster.db))
        bob, oper = b.connect(), a.connect()
        bob.login("bob")
        oper.login("oper")
        become_operator(oper)
        oper.send("kick", "bob spam")
        assert bob.expect("error", timeout=3)["content"] == "kicked by oper: spam"
        answer = oper.recv(timeout=4)
        while answer["response"] == "info" and "kicked" not in answer["content"]:
            answer = oper.recv(timeout=4)   # presence notices
        assert answer == {**answer, "response": "info", "content": "bob was kicked by oper (spam)"}
    finally:
        proxy.close()
