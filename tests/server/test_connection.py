"""The connection life cycle and its output policy, driven through a real
socket pair on a real loop whose clock the test owns (no waiting).

The table test (hypothesis) plays random sequences of what a client and
time can do, and checks the life cycle's two promises after every step:
an open connection that nothing holds back reads, and a closing one holds
no input. The other tests pin single rules of ``chat.server.output`` and
``chat.server.pacing``.
"""

import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chat.server.connection import (ADMITTED, CLOSED, CLOSING, LOGGED_IN, OPEN_STATES,
                                    ClientConnection, wants_reading)
from chat.server.pacing import FULL_GAP_BACKLOG, next_gap
from chat.server.app import ChatServer
from chat.server.config import ServerConfig
from reactor.tcp import Transport

from loop_support import FakeClock, Loop


class Rig:
    """A server (not listening), one connection on a socket pair, the peer end."""

    def __init__(self, **options):
        self.clock = FakeClock()
        self.loop = Loop(clock=self.clock)
        options.setdefault("login_timeout", 0)
        self.server = ChatServer(self.loop, ServerConfig(**options))
        ours, self.peer = socket.socketpair()
        self.peer.setblocking(False)
        self.conn = ClientConnection(self.server, ("127.0.0.1", 4242))
        self.transport = Transport(self.loop, ours, self.conn)
        self.transport.start()
        self.eof = False

    def send(self, data):
        try:
            self.peer.sendall(data)
        except (BlockingIOError, OSError):
            pass   # the connection stopped reading, or is gone: the kernel holds it

    def read_all(self):
        data = b""
        while True:
            try:
                chunk = self.peer.recv(1 << 20)
            except (BlockingIOError, OSError):
                return data
            if not chunk:
                return data
            data += chunk

    def settle(self, seconds=0.0, passes=4):
        self.clock.now += seconds
        for _ in range(passes):
            self.loop.run_once()

    def close(self):
        self.peer.close()
        self.transport.abort()
        self.settle()
        self.loop.close()


def req(name, content=None, newline=True):
    return json.dumps({"request": name, "content": content}).encode() + (b"\n" if newline else b"")


# -- the table ---------------------------------------------------------------------------

def test_wants_reading_only_when_open_and_nothing_holds_requests_back():
    for state in (ADMITTED, LOGGED_IN, CLOSING, CLOSED):
        for holds in range(16):
            waiting, held, paused, eof = (bool(holds & bit) for bit in (1, 2, 4, 8))
            expected = state in OPEN_STATES and holds == 0
            assert wants_reading(state, waiting, held, paused, eof) is expected


EVENTS = st.one_of(
    st.tuples(st.just("send"), st.sampled_from([
        req("login", "alice"), req("login", "alice", newline=False), req("names"),
        req("msg", "hello"), req("msg", "x" * 3000, newline=False), req("help", newline=False),
        b"{]" * 500, b"\x00garbage", req("logout"), b"{" + b" " * 70000,
        b"".join(req("msg", "m%d" % i) for i in range(40)),
        b"".join(req("names", newline=False) for _ in range(40)),
    ])),
    st.tuples(st.just("read"), st.none()),
    st.tuples(st.just("time"), st.sampled_from([0.0, 0.001, 0.05, 1.0, 6.0])),
    st.tuples(st.just("broadcast"), st.integers(min_value=1, max_value=40)),
    st.tuples(st.just("eof"), st.none()),
)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(EVENTS, max_size=25), st.sampled_from([0.0, 5.0]), st.booleans())
def test_no_event_sequence_leaves_an_open_idle_connection_unread_or_a_closing_one_holding_input(
        events, rate, paced):
    rig = Rig(rate=rate, burst=10, pace_ms=20.0 if paced else 0.0, pause_output=16384,
              max_output=1 << 20, max_message_bytes=1000, history_limit=100,
              close_deadline=5.0)
    conn = rig.conn
    try:
        for kind, arg in events:
            if kind == "send" and not rig.eof:
                rig.send(arg)
            elif kind == "read":
                rig.read_all()
            elif kind == "time":
                rig.settle(arg, passes=1)
            elif kind == "broadcast" and conn.state is LOGGED_IN:
                for i in range(arg):
                    conn.send(b'{"response": "message", "content": "%s"}\n' % (b"b" * 2000))
            elif kind == "eof" and not rig.eof:
                rig.eof = True
                rig.peer.shutdown(socket.SHUT_WR)
            rig.settle()
            if conn.state in OPEN_STATES:
                held = conn.waiting or conn._wake is not None or conn.output.paused or conn._eof
                if not held:
                    assert rig.transport.reading, "open, nothing held back, but not reading"
                assert conn.output.size <= (1 << 20)
            else:
                assert conn.state in (CLOSING, CLOSED)
                assert conn.decoder is None and conn._batch is None and conn._wake is None
        # and whatever happened, a closing connection is gone by its deadline
        if conn.state is CLOSING:
            rig.settle(6.0)
            assert conn.state is CLOSED
    finally:
        rig.close()


# -- single rules -------------------------------------------------------------------------

def test_output_over_the_mark_pauses_reading_and_a_drain_resumes_it_even_through_the_transport():
    """Defect 6: paused by the pacer's backlog, drained by the transport."""
    rig = Rig(rate=0, pace_ms=1.0, pause_output=8192, max_output=1 << 20)
    conn = rig.conn
    try:
        rig.send(req("login", "paced", newline=False))
        rig.settle()
        assert conn.state is LOGGED_IN and conn.output.paced
        for _ in range(10):
            conn.send(b"p" * 2000 + b"\n")
        rig.settle()
        assert conn.output.paused and not rig.transport.reading
        assert rig.server.meter.bytes == conn.output.size > 8192   # a heavy one: counted
        for _ in range(200):          # the client reads as the pacer sends
            rig.read_all()
            rig.settle(0.002)
            if not conn.output.paused:
                break
        assert not conn.output.paused and rig.transport.reading
        assert rig.server.meter.bytes <= 8192 // 4
    finally:
        rig.close()


def test_defect_6_paced_backlog_pauses_then_the_transport_alone_drains_and_reading_resumes():
    """The stall of hardening defect 6, reproduced exactly: the output crosses
    the pause mark through the pacer's backlog; the pacer empties while the
    transport holds more than the resume mark but never crossed its own high
    mark; then the client reads everything. Before, nobody ever resumed
    reading (the transport had no pause to report the end of)."""
    rig = Rig(rate=0, pace_ms=1.0, pace_min_ms=1.0, pause_output=65536, send_buffer=4096,
              max_output=1 << 20)
    conn = rig.conn
    rig.peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        rig.send(req("login", "paced", newline=False))
        rig.settle()
        rig.read_all()
        for _ in range(18):                   # 72 KB through the pacer: paused
            conn.send(b"q" * 4000 + b"\n")
        assert conn.output.paused
        while conn.output.pacer.queue:        # the pacer hands it all to the transport
            rig.settle(0.01, passes=1)
        limits = conn.output.limits
        assert limits.resume_at < rig.transport.buffered < limits.pause_at
        assert conn.output.paused and not rig.transport.reading
        for _ in range(100):                  # now the client reads it all
            rig.read_all()
            rig.settle()
            if rig.transport.reading:
                break
        assert rig.transport.buffered <= conn.output.limits.resume_at
        assert not conn.output.paused and rig.transport.reading
    finally:
        rig.close()


def test_slow_consumer_is_dropped_past_the_cap_and_the_meter_returns_to_zero():
    rig = Rig(rate=0, pace_ms=0, pause_output=8192, max_output=65536, send_buffer=4096)
    conn = rig.conn
    try:
        rig.send(req("login", "slow"))
        rig.settle()
        for _ in range(200):
            if conn.state is not LOGGED_IN:
                break
            conn.send(b"s" * 4000 + b"\n")
            rig.settle()
        rig.settle()
        assert conn.state is CLOSED
        assert rig.server.meter.bytes == 0
    finally:
        rig.close()


def test_total_cap_drops_a_heavy_holder_but_not_a_light_one():
    rig = Rig(rate=0, pace_ms=0, pause_output=4096, max_output=1 << 20,
              max_total_output=16384, send_buffer=4096)
    conn = rig.conn
    try:
        rig.send(req("login", "heavy"))
        rig.settle()
        conn.send(b"l" * 1000 + b"\n")        # light: under the pause mark
        assert conn.state is LOGGED_IN
        rig.server.meter.bytes += 100000      # others hold a lot
        for _ in range(50):
            if conn.state is not LOGGED_IN:
                break
            conn.send(b"h" * 4000 + b"\n")
        rig.settle()
        assert conn.state is CLOSED
        rig.server.meter.bytes -= 100000
        assert rig.server.meter.bytes == 0
    finally:
        rig.close()


def test_a_closing_connection_that_is_not_read_is_aborted_at_the_close_deadline():
    rig = Rig(rate=0, pace_ms=0, close_deadline=5.0, send_buffer=4096, pause_output=1 << 20,
              max_output=2 << 20)
    conn = rig.conn
    try:
        rig.send(req("login", "leaver"))
        rig.settle()
        for _ in range(100):
            conn.send(b"c" * 4000 + b"\n")
        rig.send(req("logout"))
        rig.settle()
        assert conn.state is CLOSING
        rig.settle(4.9)
        assert conn.state is CLOSING
        rig.settle(0.2)
        assert conn.state is CLOSED
    finally:
        rig.close()


def test_closing_reads_and_discards_input():
    rig = Rig(rate=0, pace_ms=1000.0, close_deadline=30.0)
    conn = rig.conn
    try:
        rig.send(req("login", "x", newline=False) + req("logout", newline=False))
        rig.settle()
        assert conn.state is CLOSING
        for _ in range(20):
            rig.send(b"{}" * 30000)
            rig.settle()
            assert conn.decoder is None and conn._batch is None
        assert rig.transport.reading   # read on (no reset at close), keep nothing
    finally:
        rig.close()


@pytest.mark.parametrize("waiting, gap", [
    (0, 0.02), (FULL_GAP_BACKLOG, 0.02), (FULL_GAP_BACKLOG * 2, 0.01),
    (FULL_GAP_BACKLOG * 10, 0.002), (10000, 0.001)])
def test_pacing_gap_shrinks_with_the_backlog_down_to_the_minimum(waiting, gap):
    assert next_gap(0.02, 0.001, waiting) == pytest.approx(gap)
