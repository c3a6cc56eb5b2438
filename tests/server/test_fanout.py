"""Broadcast by room (``chat/server/fanout.py``) changes nothing clients see.

The same script of requests is played into two in-process servers on the
real loop and real socket pairs, on the same test clock: one with
batching off (every room smaller than ``fanout_min_members``), one with
it on for every room. Every client must receive the same bytes from both,
in the same order: rooms changing members mid-pass, answers and private
messages between broadcasts, outputs past the pause mark, paced clients.
"""

import json
import re
import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from chat.server.app import ChatServer
from chat.server.config import ServerConfig
from chat.server.connection import ClientConnection
from reactor.tcp import Transport

from loop_support import FakeClock, Loop

CLIENTS = 6
ROOMS = ["#lobby", "#a", "#b"]


def req(name, content=None):
    return json.dumps({"request": name, "content": content}).encode() + b"\n"


class World:
    """One server and CLIENTS connections on socket pairs."""

    def __init__(self, **options):
        self.clock = FakeClock()
        self.loop = Loop(clock=self.clock)
        options.setdefault("login_timeout", 0)
        self.server = ChatServer(self.loop, ServerConfig(**options))
        self.peers = []
        self.received = [bytearray() for _ in range(CLIENTS)]
        for i in range(CLIENTS):
            ours, peer = socket.socketpair()
            peer.setblocking(False)
            transport = Transport(self.loop, ours, ClientConnection(self.server, ("127.0.0.1", 5000 + i)))
            transport.start()
            self.peers.append(peer)

    def send(self, i, data):
        self.peers[i].sendall(data)

    def settle(self, seconds=0.0, passes=3):
        self.clock.now += seconds
        for _ in range(passes):
            self.loop.run_once()
            self.read()

    def read(self):
        for i, peer in enumerate(self.peers):
            while True:
                try:
                    chunk = peer.recv(1 << 20)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                self.received[i] += chunk

    def close(self):
        for peer in self.peers:
            peer.close()
        for _ in range(3):
            self.loop.run_once()
        self.loop.close()


ACTIONS = st.one_of(
    st.tuples(st.just("msg"), st.integers(0, CLIENTS - 1), st.integers(1, 3000)),
    st.tuples(st.just("join"), st.integers(0, CLIENTS - 1), st.sampled_from(ROOMS)),
    st.tuples(st.just("names"), st.integers(0, CLIENTS - 1), st.none()),
    st.tuples(st.just("pm"), st.integers(0, CLIENTS - 1), st.integers(0, CLIENTS - 1)),
    st.tuples(st.just("pass"), st.none(), st.none()),
)


def request(kind, who, arg):
    if kind == "msg":
        return req("msg", "m%d-" % who + "x" * arg)
    if kind == "join":
        return req("join", arg)
    if kind == "names":
        return req("names")
    return req("pm", "u%d hi from %d" % (arg, who))


def play(script, min_members, **options):
    world = World(fanout_min_members=min_members, rate=0, **options)
    try:
        for i in range(CLIENTS):
            world.send(i, req("login", "u%d" % i))
        world.settle()
        for kind, who, arg in script:
            if kind == "pass":
                world.settle(passes=1)
            else:
                world.send(who, request(kind, who, arg))
        world.settle(seconds=0.0, passes=6)
        for _ in range(50):               # paced output leaves on the test's clock
            world.settle(seconds=0.05, passes=2)
        # Timestamps are the wall clock's, which may turn a second between runs.
        return [re.sub(rb'"timestamp": "[^"]*"', b'"timestamp": ""', bytes(data))
                for data in world.received]
    finally:
        world.close()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ACTIONS, max_size=40), st.sampled_from([1 << 16, 4096]),
       st.sampled_from([0.0, 20.0]))
def test_every_client_gets_the_same_bytes_with_and_without_batches(script, pause, pace_ms):
    options = dict(pause_output=pause, max_output=1 << 24, max_total_output=1 << 26,
                   pace_ms=pace_ms, history_limit=20)
    without = play(script, min_members=CLIENTS + 1, **options)
    batched = play(script, min_members=1, **options)
    assert batched == without


def test_a_pass_of_messages_reaches_a_room_in_order():
    """The plain case, spelled out: five senders in one pass, everyone
    (senders included) gets all five, in the order they were read."""
    script = [("msg", i, 10) for i in range(5)]
    received = play(script, min_members=1)
    for data in received:
        messages = [json.loads(line) for line in data.splitlines()]
        texts = [m["content"][:3] for m in messages if m["response"] == "message"]
        assert texts == ["m0-", "m1-", "m2-", "m3-", "m4-"]
