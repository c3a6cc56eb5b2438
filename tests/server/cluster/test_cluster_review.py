"""Review of the cluster work (issue 13): defects found by reading the code,
each shown by a test that failed before its fix (a strict xfail until then).

Real server processes on a real ``redis-server``; every wait is for an
event with a deadline, nothing sleeps to synchronise.
"""

import itertools
import logging
import os
import socket
import threading
import time

import pytest

from cluster_support import FAST, UNAVAILABLE, info_containing, kill_nodes, poll, redis_commands
from reactor.loop import EventLoop
from reactor.redis import RedisClient
from redis_support import redis_server, run_until  # noqa: F401 (fixture)
from support import TIMEOUT, ServerProcess

_databases = itertools.count(9)


def start_node(url, *args):
    node = ServerProcess("--redis", url, *FAST, *args)
    node.wait_for_log("cluster node .* ready")
    return node


@pytest.fixture
def nodes():
    """``nodes(url, *args)`` starts a node; all are killed after the test."""
    started = []

    def start(url, *args):
        started.append(start_node(url, *args))
        return started[-1]
    yield start
    kill_nodes(*started)


def drain_log(node):
    """Read the node's log from now on, on a thread (a log line larger than
    the pipe would otherwise stop the node until a test reads it)."""
    def drain():
        while os.read(node.proc.stderr.fileno(), 65536):
            pass
    threading.Thread(target=drain, daemon=True).start()


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


# -- 1. every room a node's users ever joined stays in its XREAD for good ----------


def test_rooms_left_empty_are_no_longer_read(redis_server, nodes):  # noqa: F811
    """One user joins 30 rooms one after the other (each is empty again
    when left: a single server forgets it, rooms.py). The node's reader
    must not go on reading all of them: its XREAD names at most the rooms
    the node holds (--max-rooms 3, plus the lobby)."""
    db = next(_databases) % 16
    node = nodes(redis_server.url(db), "--max-rooms", "3")
    alice = node.connect()
    alice.login("alice")
    for n in range(30):
        alice.send("join", "hop%d" % n)
        info_containing(alice, "Joined #hop%d" % n)
        alice.expect("history")
    alice.send("leave")
    info_containing(alice, "Joined #lobby")
    alice.expect("history")
    monitor = Monitor(redis_server)
    try:
        alice.send("msg", "wake the reader")   # it reads again at once after this
        assert alice.expect("message")["content"] == "wake the reader"
        xread = monitor.next_command(db, "XREAD")
    finally:
        monitor.close()
    rooms_read = xread.count(b'"ktn:room:')
    assert rooms_read <= 3 + 1, (rooms_read, xread[:300])


# -- 2. a pm that was stored, answered "try again" -----------------------------------


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


def test_a_pm_cut_off_after_it_was_stored_is_not_answered_try_again(
        redis_server, nodes):  # noqa: F811
    """alice on node a (whose Redis connection goes through a proxy) sends
    bob on node b a pm; Redis stores it (bob gets it) but its answer to a
    is lost, so a drops the connection after --redis-timeout. alice must
    not be told "try again" for a pm bob has: she gets her copy."""
    db = next(_databases) % 16
    proxy = Proxy(redis_server, hold_on=b"ktn:node:b")
    try:
        b = nodes(redis_server.url(db), "--node-id", "b")
        a = nodes(proxy.url(db), "--node-id", "a")
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


# -- 3. a msg refused by Redis taken for its stored twin ----------------------------


def test_a_refused_msg_is_not_taken_for_its_stored_twin(redis_server, nodes):  # noqa: F811
    """alice sends "same" twice in one second (one payload, byte for byte).
    The first is stored and answered; the second is refused by Redis (out
    of memory); the first is read back while the second's answer is on
    its way. alice must be told that the second did not go through."""
    db = next(_databases) % 16
    proxy = Proxy(redis_server)
    try:
        a = nodes(proxy.url(db), "--redis-timeout", "3")
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
            assert redis_commands(redis_server, db, [("CONFIG", "SET", "maxmemory", "1")]) \
                == ["OK"]
            main.hold()
            appends = main.sent.count(b"ktn:room:lobby")
            alice.send("msg", "same")   # refused: OOM
            main.wait_sent(b"ktn:room:lobby", appends + 1)
            reader.release()   # the first is read back while the second waits
            assert alice.expect("message")["content"] == "same"
        finally:
            redis_commands(redis_server, db, [("CONFIG", "SET", "maxmemory", "0")])
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
        entries = redis_commands(redis_server, db, [("XRANGE", "ktn:room:lobby", "-", "+")])[0]
        payloads = [dict(zip(fields[::2], fields[1::2]))[b"p"] for _id, fields in entries]
        stored = [p for p in payloads if b'"content": "same"' in p]
        assert len(stored) == 1 and "same" not in answers   # the second is nowhere ...
        assert errors == [UNAVAILABLE], (answers, errors)   # ... and alice must know it
    finally:
        proxy.close()


# -- 4. one deeply nested entry costs the node the messages around it -----------------


def test_a_deeply_nested_entry_costs_no_other_message(redis_server, nodes):  # noqa: F811
    """Another writer appends an entry nested 100 000 deep between two
    well-formed messages, in one MULTI (so the node reads all three in one
    reply): the node must skip it and deliver the other two."""
    db = next(_databases) % 16
    node = nodes(redis_server.url(db))
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
    replies = redis_commands(redis_server, db, [
        ("MULTI",), entry(well_formed[0]), entry(nested), entry(well_formed[1]), ("EXEC",)])
    assert len(replies[-1]) == 3, replies
    got = [carol.expect("message", timeout=2)["content"] for _ in range(2)]
    assert got == ["one", "two"]


# -- 5. a callback's error logs the whole reply ----------------------------------


def test_a_failing_callback_logs_a_bounded_line(redis_server, caplog):  # noqa: F811
    loop = EventLoop()
    client = RedisClient(loop, redis_server.url(next(_databases) % 16))
    try:
        run_until(loop, lambda: client.connected)
        client.call("SET", "big", b"x" * 100_000)
        reply = client.call("GET", "big")

        def bug(_reply):
            raise RuntimeError("a caller's bug")
        reply.add_done_callback(bug)
        with caplog.at_level(logging.ERROR, logger="reactor.redis"):
            run_until(loop, lambda: reply.done)
        [record] = [r for r in caplog.records if "callback" in r.getMessage()]
        assert len(record.getMessage()) < 10_000
    finally:
        client.close()
        loop.close()


# -- 6. a deeply nested account record: no node starts ------------------------------


def test_a_node_starts_beside_a_deeply_nested_account(redis_server):  # noqa: F811
    db = next(_databases) % 16
    assert redis_commands(redis_server, db, [
        ("HSET", "ktn:accounts", "bob", b"[" * 100_000)]) == [1]
    node = ServerProcess("--redis", redis_server.url(db), *FAST)
    try:
        node.wait_for_log("cluster node .* ready", timeout=3)   # (reads the 100 KB line)
    finally:
        kill_nodes(node)


# -- 7. one entry larger than the reply bound stops the reader for good -------------


def test_an_entry_over_the_reply_bound_does_not_stop_the_reader(redis_server, nodes):  # noqa: F811,E501
    db = next(_databases) % 16
    node = nodes(redis_server.url(db))
    carol = node.connect()
    carol.login("carol")
    huge = b"x" * (65 << 20)
    assert redis_commands(redis_server, db, [
        ("XADD", "ktn:room:lobby", "*", "s", "mallory", "r", "lobby", "p", huge)])[0]
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


def test_a_join_of_a_room_holding_a_deeply_nested_entry_is_answered(
        redis_server, nodes):  # noqa: F811
    db = next(_databases) % 16
    node = nodes(redis_server.url(db))
    carol = node.connect()
    carol.login("carol")
    drain_log(node)
    assert redis_commands(redis_server, db, [
        ("XADD", "ktn:room:trap", "*", "s", "mallory", "r", "trap", "p",
         b'{"timestamp": ' + b"[" * 100_000 + b"}\n")])[0]
    carol.send("join", "trap")
    assert carol.expect("info", timeout=2, skip=())["content"].startswith("Joined #trap")


def test_a_kick_cut_off_after_it_was_stored_is_not_answered_try_again(
        redis_server, nodes, tmp_path):  # noqa: F811
    secret = tmp_path / "oper"
    secret.write_text("operpass\n")
    db = next(_databases) % 16
    proxy = Proxy(redis_server, hold_on=b"$4\r\nkick\r\n")
    try:
        b = nodes(redis_server.url(db), "--node-id", "b")
        a = nodes(proxy.url(db), "--node-id", "a", "--oper-password-file", str(secret))
        bob, oper = b.connect(), a.connect()
        bob.login("bob")
        oper.login("oper")
        oper.send("oper", "operpass")
        info_containing(oper, "you are now an operator")
        oper.send("kick", "bob spam")
        assert bob.expect("error", timeout=3)["content"] == "kicked by oper: spam"
        answer = oper.recv(timeout=4)
        while answer["response"] == "info" and "kicked" not in answer["content"]:
            answer = oper.recv(timeout=4)   # presence notices
        assert answer == {**answer, "response": "info", "content": "bob was kicked by oper (spam)"}
    finally:
        proxy.close()


# -- 9. --max-rooms is not enforced on a cluster node ---------------------------------


def test_max_rooms_holds_on_a_cluster_node(redis_server, nodes):  # noqa: F811
    db = next(_databases) % 16
    node = nodes(redis_server.url(db), "--max-rooms", "1")
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
