"""Unit tests of reactor/loop.py and reactor/tcp.py on the loop's injectable
clock (timers fire when the test moves time, not after real waits) and
real socket pairs."""

import logging
import socket

from reactor.tcp import Transport

from loop_support import FakeClock, Loop


def make_loop():
    clock = FakeClock(50.0)
    return Loop(clock=clock), clock


class Recorder:
    """A protocol that records every callback."""

    def __init__(self):
        self.events = []
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.events.append(("data", data))

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")


def pair(loop, protocol=None):
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    protocol = protocol or Recorder()
    transport = Transport(loop, ours, protocol)
    transport.start()
    return transport, protocol, theirs


# -- loop -----------------------------------------------------------------------------------

def test_timers_fire_in_deadline_order_when_their_time_comes_and_cancel_is_lazy():
    loop, clock = make_loop()
    fired = []
    loop.call_later(2.0, fired.append, "b")
    loop.call_later(1.0, fired.append, "a")
    cancelled = loop.call_later(1.5, fired.append, "never")
    cancelled.cancel()
    cancelled.cancel()   # idempotent
    loop.run_once()
    assert fired == []
    clock.now += 1.0
    loop.run_once()
    assert fired == ["a"]
    clock.now += 1.0
    loop.run_once()
    assert fired == ["a", "b"]


def test_many_cancelled_timers_are_compacted_away():
    loop, clock = make_loop()
    handles = [loop.call_later(10.0 + i, lambda: None) for i in range(1000)]
    for handle in handles[:900]:
        handle.cancel()
    assert len(loop._timers) < 1000


def test_call_soon_runs_next_pass_in_order_and_a_raising_callback_does_not_stop_the_loop(
        caplog):
    loop, _ = make_loop()
    ran = []
    loop.call_soon(ran.append, 1)
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(ran.append, 2)
    with caplog.at_level(logging.ERROR):
        loop.run_once()
    assert ran == [1, 2]
    assert "unhandled error in callback" in caplog.text


def test_a_cancelled_call_soon_does_not_run():
    loop, _ = make_loop()
    ran = []
    handle = loop.call_soon(ran.append, "no")
    loop.call_soon(ran.append, "yes")
    handle.cancel()
    loop.run_once()
    assert ran == ["yes"]


def test_callbacks_queued_during_a_pass_run_in_the_next_one_before_its_io():
    loop, _ = make_loop()
    order = []

    def first():
        order.append("first")
        loop.call_soon(order.append, "queued by first")

    loop.call_soon(first)
    loop.at_end_of_pass(lambda: order.append("end of pass"))
    loop.run_once()
    assert order == ["first", "end of pass"]
    loop.run_once()
    assert order == ["first", "end of pass", "queued by first"]


# -- transport ----------------------------------------------------------------------------

def test_writes_of_one_pass_leave_in_one_send():
    loop, _ = make_loop()
    transport, _, theirs = pair(loop)
    for i in range(100):
        transport.write(b"%03d\n" % i)
    assert transport.buffered == 400
    loop.run_once()
    assert transport.buffered == 0
    assert theirs.recv(10000) == b"".join(b"%03d\n" % i for i in range(100))


def test_connection_lost_comes_in_the_next_pass_never_inside_the_caller():
    loop, _ = make_loop()
    transport, protocol, _ = pair(loop)
    transport.abort()
    assert transport.closed and "lost" not in protocol.events
    loop.run_once()
    assert protocol.events.count("lost") == 1
    transport.abort()
    loop.run_once()
    assert protocol.events.count("lost") == 1


def test_a_protocol_callback_that_raises_aborts_only_its_connection(caplog):
    loop, _ = make_loop()

    class Broken(Recorder):
        def data_received(self, data):
            raise RuntimeError("bug")

    broken, _, broken_peer = pair(loop, Broken())
    fine, fine_protocol, fine_peer = pair(loop)
    broken_peer.sendall(b"x")
    fine_peer.sendall(b"y")
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            loop.run_once()
    assert broken.closed and not fine.closed
    assert ("data", b"y") in fine_protocol.events
    assert "error in data_received" in caplog.text


def test_call_guarded_aborts_on_a_raising_timer_callback():
    loop, clock = make_loop()
    transport, protocol, _ = pair(loop)
    loop.call_later(1.0, transport.call_guarded, lambda: 1 / 0)
    clock.now += 1.0
    loop.run_once()
    loop.run_once()
    assert transport.closed and "lost" in protocol.events


def test_close_flushes_then_closes_and_discards_input_meanwhile():
    loop, _ = make_loop()
    transport, protocol, theirs = pair(loop)
    transport.write(b"last words\n")
    transport.close()
    theirs.sendall(b"ignored")
    for _ in range(3):
        loop.run_once()
    assert theirs.recv(100) == b"last words\n"
    assert theirs.recv(100) == b""          # FIN, not a reset
    assert not any(isinstance(e, tuple) for e in protocol.events)


def test_a_lingering_close_sends_then_shuts_down_and_discards_until_the_peer_hangs_up():
    loop, _ = make_loop()
    transport, protocol, theirs = pair(loop)
    transport.write(b"refused\n")
    transport.close(linger=5.0)
    for _ in range(3):
        loop.run_once()
    assert theirs.recv(100) == b"refused\n"
    assert theirs.recv(100) == b""          # our side is shut: the answer is whole
    assert not transport.closed             # ... but we still read what the peer sends
    theirs.sendall(b"the rest of a request we refused")
    loop.run_once()
    assert not transport.closed
    theirs.shutdown(socket.SHUT_WR)         # the peer is done too
    loop.run_once()
    loop.run_once()
    assert transport.closed and "lost" in protocol.events
    assert not any(isinstance(e, tuple) for e in protocol.events)   # nothing delivered
    assert transport not in Transport._linger_deadlines   # its deadline is cancelled, not kept


def test_a_lingering_close_ends_at_its_deadline_if_the_peer_never_hangs_up():
    loop, clock = make_loop()
    transport, protocol, theirs = pair(loop)
    transport.close(linger=2.0)
    loop.run_once()
    assert theirs.recv(100) == b"" and not transport.closed
    clock.now += 1.9
    loop.run_once()
    assert not transport.closed
    clock.now += 0.1
    loop.run_once()
    loop.run_once()
    assert transport.closed and "lost" in protocol.events


class KeepsOpen(Recorder):
    """Stays open after the peer's end of file (to answer it, say)."""

    def eof_received(self):
        super().eof_received()
        return True


def test_a_peer_that_hung_up_first_is_not_lingered_on():
    loop, _ = make_loop()
    transport, protocol, theirs = pair(loop, KeepsOpen())
    theirs.shutdown(socket.SHUT_WR)
    loop.run_once()
    assert "eof" in protocol.events and not transport.closed
    transport.write(b"answer\n")
    transport.close(linger=60.0)
    loop.run_once()
    loop.run_once()
    assert transport.closed and "lost" in protocol.events   # at once, not after 60 s
    assert theirs.recv(100) == b"answer\n"


def test_report_drain_calls_resume_writing_once_below_the_low_mark():
    loop, _ = make_loop()
    transport, protocol, theirs = pair(loop)
    transport.set_send_buffer(4096)
    transport.set_write_buffer_limits(1 << 30, 1000)   # never pauses by itself
    for _ in range(100):
        transport.write(b"z" * 1000)
    loop.run_once()
    assert transport.buffered > 1000
    transport.report_drain()
    while transport.buffered:
        theirs.recv(1 << 20)
        loop.run_once()
    assert "resume" in protocol.events and "pause" not in protocol.events


def test_abort_resets_the_connection_so_the_kernel_keeps_nothing():
    loop, _ = make_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    theirs = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport = Transport(loop, ours, Recorder())
    transport.start()
    transport.set_send_buffer(4096)
    transport.write(b"r" * 200000)
    loop.run_once()                    # the kernel holds what it took
    transport.abort()
    loop.run_once()
    theirs.setblocking(True)
    theirs.settimeout(5)
    got = b""
    try:
        while True:
            chunk = theirs.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        reset = False
    except ConnectionResetError:
        reset = True
    assert reset and len(got) < 200000
