"""Broadcast by room (``chat/server/fanout.py``) changes nothing clients see.

The same script of requests is played into two in-process servers on the
real loop and real socket pairs, on the same test clock: one with
batching off (every room smaller than ``fanout_min_members``), one with
it on for every room. Every client must receive the same bytes from both,
in the same order: rooms changing members mid-pass, answers and private
messages between broadcasts, outputs past the pause mark, paced clients,
and WebSocket clients (which share the batch as frames).
"""

import json
import re
import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from chat.server.app import ChatServer
from chat.server.config import ServerConfig
from chat.server.connection import ClientConnection
from reactor import websocket
from reactor.tcp import Transport
from reactor.web import HttpConnection, WebSocketUpgrade

from loop_support import FakeClock, Loop

CLIENTS = 6
WEBSOCKETS = (4, 5)       # these clients come in over WebSocket
UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
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
        self.gone = set()
        self.received = [bytearray() for _ in range(CLIENTS)]
        for i in range(CLIENTS):
            ours, peer = socket.socketpair()
            peer.setblocking(False)
            address = ("127.0.0.1", 5000 + i)
            if i in WEBSOCKETS:
                conn = ClientConnection(self.server, address)
                protocol = HttpConnection(self.loop, lambda request, conn=conn:
                                          WebSocketUpgrade(conn, []))
            else:
                protocol = ClientConnection(self.server, address)
            Transport(self.loop, ours, protocol).start()
            self.peers.append(peer)
            if i in WEBSOCKETS:
                peer.sendall(UPGRADE)

    def send(self, i, data):
        if i in self.gone:
            return          # logged out: the server has closed it
        if data == req("logout"):
            self.gone.add(i)
        if i in WEBSOCKETS:
            data = b"".join(websocket.encode(websocket.TEXT, line, mask=True)
                            for line in data.split(b"\n") if line)
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
    st.tuples(st.just("logout"), st.integers(0, CLIENTS - 1), st.none()),
    st.tuples(st.just("pass"), st.none(), st.none()),
)


def request(kind, who, arg):
    if kind == "msg":
        return req("msg", "m%d-" % who + "x" * arg)
    if kind == "join":
        return req("join", arg)
    if kind == "names":
        return req("names")
    if kind == "logout":
        return req("logout")
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
        return [bytes(data) for data in world.received]
    finally:
        world.close()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ACTIONS, max_size=40), st.sampled_from([1 << 16, 4096, 1024]),
       st.sampled_from([0.0, 20.0]))
def test_every_client_gets_the_same_bytes_with_and_without_batches(script, pause, pace_ms):
    options = dict(pause_output=pause, max_output=1 << 24, max_total_output=1 << 26,
                   pace_ms=pace_ms, history_limit=20)
    without = play(script, min_members=CLIENTS + 1, **options)
    batched = play(script, min_members=1, **options)
    assert same_timestamps(batched) == same_timestamps(without)


def same_timestamps(received):
    """Timestamps are the wall clock's, which may turn a second between
    runs; they have one length, so frame headers are unchanged."""
    return [re.sub(rb'"timestamp": "[^"]{25}"', b'"timestamp": "' + b"T" * 25 + b'"', data)
            for data in received]


def test_a_pass_of_messages_reaches_a_room_in_order():
    """The plain case, spelled out: five senders in one pass, everyone
    (senders included) gets all five, in the order they were read."""
    script = [("msg", i, 10) for i in range(5)]
    received = play(script, min_members=1)
    for i, data in enumerate(received):
        if i in WEBSOCKETS:
            events = websocket.FrameDecoder(require_mask=False).feed(data.split(b"\r\n\r\n", 1)[1])
            data = b"\n".join(event.text.encode() for event in events)
        messages = [json.loads(line) for line in data.splitlines()]
        texts = [m["content"][:3] for m in messages if m["response"] == "message"]
        assert texts == ["m0-", "m1-", "m2-", "m3-", "m4-"]


def paused_after_one_big_message(min_members):
    """Which clients are paused after one message bigger than the pause
    mark, their peers not reading and the socket buffers small."""
    world = World(fanout_min_members=min_members, rate=0, pace_ms=0.0, pause_output=4096,
                  max_output=1 << 24, max_total_output=1 << 26, max_message_bytes=1 << 20,
                  max_message_length=1 << 20, max_request_size=1 << 21)
    try:
        for i in range(CLIENTS):
            world.send(i, req("login", "u%d" % i))
        world.settle()
        for peer in world.peers:
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for conn in world.server.connections:
            transport = getattr(conn.transport, "lower", conn.transport)   # under a WebSocket
            transport.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        world.send(0, req("msg", "x" * 15000))
        for _ in range(3):
            world.loop.run_once()    # the peers do not read
        return sorted((conn.port, conn.output.paused) for conn in world.server.connections)
    finally:
        world.close()


def test_a_first_payload_past_the_pause_mark_pauses_as_before():
    """The caps are checked where ``Output.send`` checked them: a batch
    whose first payload is already past the pause mark dissolves at once."""
    without = paused_after_one_big_message(min_members=CLIENTS + 1)
    assert all(paused for _, paused in without)
    assert paused_after_one_big_message(min_members=1) == without
