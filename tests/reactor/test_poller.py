"""The pollers (reactor.poller): epoll's list-per-descriptor poller must
answer exactly as the one on ``selectors`` does, on real sockets."""

import select
import socket

import pytest
from hypothesis import given, settings, strategies as st

from reactor.poller import READ, WRITE, EpollPoller, SelectorPoller

POLLERS = [SelectorPoller] + ([EpollPoller] if hasattr(select, "epoll") else [])


@pytest.fixture(params=POLLERS, ids=lambda cls: cls.__name__)
def poller(request):
    made = request.param()
    yield made
    made.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _fill(sock):
    """Write until the kernel takes no more: the socket is not writable."""
    try:
        while True:
            sock.send(b"x" * 65536)
    except BlockingIOError:
        pass


def test_reports_readable_and_writable_with_their_handler(poller, pair):
    a, b = pair
    poller.register(a, READ, "handler-a")
    assert poller.select(0) == []
    b.send(b"hi")
    assert poller.select(0) == [("handler-a", READ)]
    poller.modify(a, READ | WRITE, "handler-a2")
    assert poller.select(0) == [("handler-a2", READ | WRITE)]
    poller.modify(a, WRITE, "handler-a3")
    assert poller.select(0) == [("handler-a3", WRITE)]


def test_unregistered_files_are_silent_and_unknown(poller, pair):
    a, b = pair
    poller.register(a, READ, "h")
    b.send(b"hi")
    assert poller.handler(a) == "h"
    poller.unregister(a)
    assert poller.select(0) == []
    assert poller.handler(a) is None
    with pytest.raises(KeyError):
        poller.unregister(a)
    with pytest.raises(KeyError):
        poller.modify(a, READ, "h")


def test_registering_twice_is_refused(poller, pair):
    a, _b = pair
    poller.register(a, READ, "h")
    with pytest.raises(KeyError):
        poller.register(a, WRITE, "h2")
    assert poller.handler(a) == "h"


def test_a_hang_up_is_reported_within_what_was_asked(poller, pair):
    a, b = pair
    _fill(a)
    poller.register(a, WRITE, "writer")
    assert poller.select(0) == []
    b.close()
    # The peer is gone: the writer learns it from a write event (its send
    # fails), never from a read event it did not ask for.
    assert poller.select(1) == [("writer", WRITE)]


def test_a_descriptor_reused_after_unregister_and_close_is_watched_anew(poller):
    a, b = socket.socketpair()
    poller.register(a, READ, "old")
    fd = a.fileno()
    poller.unregister(a)
    a.close()
    c, d = socket.socketpair()
    try:
        assert fd in (c.fileno(), d.fileno())    # the kernel hands out the lowest free one
        reused = c if c.fileno() == fd else d
        other = d if reused is c else c
        poller.register(reused, READ, "new")
        other.send(b"x")
        assert poller.select(1) == [("new", READ)]
    finally:
        for sock in (b, c, d):
            sock.close()


def test_integers_work_as_files_and_closed_files_are_refused(poller, pair):
    a, b = pair
    poller.register(a.fileno(), READ, "by-fd")
    b.send(b"x")
    assert poller.select(0) == [("by-fd", READ)]
    poller.unregister(a.fileno())
    closed = socket.socket()
    closed.close()
    with pytest.raises(ValueError):
        poller.register(closed, READ, "never")


def test_a_timeout_returns_empty_after_waiting(poller, pair):
    a, _b = pair
    poller.register(a, READ, "h")
    assert poller.select(0.01) == []


OPERATIONS = st.lists(st.tuples(st.sampled_from(["register", "modify", "unregister", "send",
                                                 "drain", "fill"]),
                                st.integers(0, 3), st.sampled_from([READ, WRITE, READ | WRITE])),
                      max_size=30)


@pytest.mark.skipif(not hasattr(select, "epoll"), reason="epoll is Linux only")
@settings(max_examples=60, deadline=None)
@given(OPERATIONS)
def test_epoll_answers_as_selectors_does(operations):
    """The same operations on the same sockets: both pollers report the
    same ready handlers with the same events, and refuse the same calls."""
    pairs = [socket.socketpair() for _ in range(4)]
    for a, b in pairs:
        a.setblocking(False)
        b.setblocking(False)
    pollers = [SelectorPoller(), EpollPoller()]
    try:
        for op, index, events in operations:
            a, b = pairs[index]
            if op == "send":
                b.send(b"x")
            elif op == "drain":
                try:
                    a.recv(1 << 20)
                except BlockingIOError:
                    pass
            elif op == "fill":
                _fill(a)
            else:
                outcomes = []
                for p in pollers:
                    try:
                        if op == "unregister":
                            p.unregister(a)
                        else:
                            getattr(p, op)(a, events, ("h", index, events))
                        outcomes.append("ok")
                    except KeyError:
                        outcomes.append("KeyError")
                assert outcomes[0] == outcomes[1]
            answers = [sorted(p.select(0)) for p in pollers]
            assert answers[0] == answers[1]
    finally:
        for p in pollers:
            p.close()
        for a, b in pairs:
            a.close()
            b.close()
