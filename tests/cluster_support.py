"""Clusters for tests: nodes (``python3 -m chat.server --redis``) on a
real redis-server (tests/redis_support.py), their clients, and Redis
driven as a third party would drive it.

The lease, heartbeat, Redis timeout and backoff are shrunk through the
nodes' options (``FAST``); every wait is for an event with a deadline.
"""

import random
import socket
import time

import pytest

from reactor.resp import ReplyParser, encode_command
from redis_support import RedisServer, require_redis_server
from support import TIMEOUT, ServerProcess, wait_for_news

UNAVAILABLE = "chat is temporarily unavailable, try again"
FAST = ("--rate", "0", "--redis-timeout", "1", "--redis-backoff-max", "0.2",
        "--redis-block", "1")


def start_node(redis, *args, db=0):
    node = ServerProcess("--redis", redis.url(db), *FAST, *args)
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
