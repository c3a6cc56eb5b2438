"""Clusters for tests: nodes (``python3 -m chat.server --redis``) on a
real redis-server (tests/redis_support.py), their clients, and Redis
driven as a third party would drive it.

The lease, heartbeat, Redis timeout and backoff are shrunk through the
nodes' options (``FAST``); every wait is for an event with a deadline.
"""

import itertools
import random
import socket
import time

import pytest

from reactor.resp import ReplyError, ReplyParser, encode_command
from redis_support import RedisServer, require_redis_server
from support import TIMEOUT, ServerProcess, wait_for_news

UNAVAILABLE = "chat is temporarily unavailable, try again"
OPER_PASSWORD = "operpass-operpass"
FAST = ("--rate", "0", "--redis-timeout", "1", "--redis-backoff-max", "0.2",
        "--redis-block", "1")


def start_node(url, *args):
    """A node on the Redis at ``url``, once it says it is ready."""
    node = ServerProcess("--redis", url, *FAST, *args)
    node.wait_for_log("cluster node .* ready")
    return node


def kill_nodes(*nodes):
    """Kill (if still running) and reap each node."""
    for node in nodes:
        if node.proc.poll() is None:
            node.proc.kill()
        node.proc.wait()


def messages(client, count):
    return [(m["sender"], m["content"]) for m in (client.expect("message")
                                                   for _ in range(count))]


def history(payload):
    return [(m["sender"], m["content"]) for m in payload["content"]]


def poll(attempt, timeout=TIMEOUT, interval=0.05):
    """Call ``attempt()`` until it returns a true value; fail after
    ``timeout``. Between attempts, wait for the next thing a server logs
    (the change the attempt waits for: a node reconnected, a node gone...),
    at most ``interval`` seconds, since some changes (a lease expiring in
    Redis) are logged by no one."""
    deadline = time.monotonic() + timeout
    while True:
        result = attempt()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError("not within %g s" % timeout)
        wait_for_news(min(interval, max(0.0, deadline - time.monotonic())))


def next_answer(client):
    """The next payload that is not a presence notice."""
    while True:
        payload = client.recv()
        if payload["response"] != "info":
            return payload


def try_login(node, name):
    """A client logged in as ``name`` on ``node``, or None if refused."""
    client = node.connect()
    client.send("login", name)
    answer = client.recv()
    if answer["response"] == "info" and answer["content"] == "Login successful":
        client.expect("history")
        return client
    assert answer["response"] == "error", answer
    client.close()
    return None


def oper_password_file(tmp_path):
    """The options of a node whose operator password (``OPER_PASSWORD``) is
    in a file under ``tmp_path``."""
    secret = tmp_path / "oper"
    secret.write_text(OPER_PASSWORD + "\n")
    return ("--oper-password-file", str(secret))


def become_operator(client):
    client.send("oper", OPER_PASSWORD)
    info_containing(client, "you are now an operator")


def info_containing(client, text):
    """The next ``info`` containing ``text`` (presence notices are skipped)."""
    while True:
        content = client.expect("info", skip=("message",))["content"]
        if text in content:
            return content


def port_outside_the_ephemeral_range():
    """A free port that no outgoing connection can be given: a node that
    reconnects to a port where nothing listens may otherwise connect to
    itself, and hold the port that Redis is to be restarted on."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for port in random.sample(range(max(1024, low - 10_000), low), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below %d" % low)


@pytest.fixture
def restartable_redis():
    """A Redis that is not started yet, on a port it can be restarted on."""
    redis = RedisServer(require_redis_server(), "--appendonly", "yes",
                        "--appendfsync", "always")
    redis.port = port_outside_the_ephemeral_range()
    yield redis
    redis.stop()


def redis_command(redis, line):
    """One inline command to ``redis``; its first reply line."""
    with socket.create_connection(("127.0.0.1", redis.port), timeout=TIMEOUT) as sock:
        sock.sendall(line.encode() + b"\r\n")
        return sock.recv(1024)


def redis_commands(redis, db, commands):
    """Commands to database ``db`` of ``redis`` on a connection of their
    own, pipelined, as a third party would send them; their replies."""
    with socket.create_connection(("127.0.0.1", redis.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"".join(encode_command(args) for args in [("SELECT", db), *commands]))
        parser, replies = ReplyParser(), []
        while len(replies) <= len(commands):
            data = sock.recv(65536)
            assert data, "redis closed the connection"
            replies += parser.feed(data)
    assert replies[0] == "OK", replies
    return replies[1:]


_databases = itertools.count(1)


class Cluster:
    """Nodes on one Redis, in a database of their own, emptied first (the
    names, streams and leases of an earlier test's nodes are gone)."""

    def __init__(self, redis):
        self.redis = redis
        self.db = next(_databases) % 16
        self.nodes = []
        redis_commands(redis, self.db, [("FLUSHDB",)])

    def url(self):
        return self.redis.url(self.db)

    def start(self, *args, url=None):
        """A node, ready, on this cluster's database (through ``url`` if given:
        a proxy in front of the Redis); killed by ``kill``."""
        self.nodes.append(start_node(url or self.url(), *args))
        return self.nodes[-1]

    def call(self, *args):
        """One command; its reply (a ``ReplyError`` if refused)."""
        return redis_commands(self.redis, self.db, [args])[0]

    def pipeline(self, commands):
        """Many commands at once; every one must succeed."""
        errors = [reply for reply in redis_commands(self.redis, self.db, commands)
                  if isinstance(reply, ReplyError)]
        assert not errors, errors[:3]

    def kill(self):
        kill_nodes(*self.nodes)


@pytest.fixture
def cluster(redis_server):
    """Nodes on the module's Redis (``redis_support.redis_server``), killed after the test."""
    started = Cluster(redis_server)
    yield started
    started.kill()


class Chatter:
    """A logged-in client that logs every message it gets, and counts the
    msgs it sent and the "unavailable" errors it got. Errors name no msg,
    and a msg cut off in flight may get an error and be delivered too."""

    def __init__(self, node, name):
        self.client = node.connect()
        self.client.login(name)
        self.name = name
        self.seen = []   # (sender, text), in order
        self.sent = 0
        self.errors = 0

    def send(self, text):
        self.client.send("msg", text)
        self.sent += 1

    def next(self):
        """The next message or error (logged); presence notices skipped."""
        while True:
            payload = self.client.recv()
            if payload["response"] == "message":
                self.seen.append((payload["sender"], payload["content"]))
                return payload
            if payload["response"] == "error":
                assert payload["content"] == UNAVAILABLE, payload
                self.errors += 1
                return payload

    def delivered(self, text):
        """Send ``text`` (nothing else in flight); whether it came back."""
        self.send(text)
        while True:
            payload = self.next()
            if payload["response"] == "error":
                return False
            if payload["content"] == text:
                return True

    def answered(self):
        """How many of its msgs came back or got an error (at least)."""
        return sum(1 for sender, _text in self.seen if sender == self.name) + self.errors
