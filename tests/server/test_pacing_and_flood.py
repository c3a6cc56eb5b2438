"""Flood control and pacing under load, through real sockets against
``python3 -m chat.server``: a flood is delayed at the rate, never dropped,
while the others are answered promptly; over the rate the flooder's socket
is not read at all (its writes block, the server's memory stays flat); and
a naive reader (no newline: paced) keeps up with a busy room and has its
requests answered.
"""

import json
import select
import time

import pytest

from stress_support import (Peer, Poller, assert_server_works, logged_in,  # noqa: F401 (fixture)
                            servers)
from support import is_presence, request_bytes

pytestmark = pytest.mark.slow   # server processes


# -- flood control -------------------------------------------------------------------------

def test_flood_is_delayed_at_the_rate_never_dropped_others_served_promptly(servers):
    rate, burst, count = 200, 10, 1000
    srv = servers("--rate", str(rate), "--burst", str(burst))
    flooder = logged_in(srv, "flooder")
    receiver = logged_in(srv, "receiver")
    observer = logged_in(srv, "observer")
    got = {flooder: [], receiver: []}
    latencies = []
    asked_at = None
    next_ask = 0.0
    poller = Poller([flooder, receiver, observer])

    started = time.monotonic()
    flooder.send_raw(b"".join(request_bytes("msg", "flood %04d" % i) for i in range(count)))
    deadline = started + 20
    while len(got[receiver]) < count or len(got[flooder]) < count:
        now = time.monotonic()
        assert now < deadline, "flood not delivered: %d/%d" % (len(got[receiver]), count)
        if asked_at is None and now >= next_ask:
            observer.send("names")
            asked_at = now
        wait = 0.5 if asked_at is not None else next_ask - now
        for peer in poller.wait(min(wait, deadline - now)):
            for payload in peer.pump():
                if is_presence(payload):
                    continue
                if peer is observer:
                    if payload["response"] == "message":
                        continue  # the flood reaches it too
                    assert payload["response"] == "info" and "flooder" in payload["content"], payload
                    latencies.append(time.monotonic() - asked_at)
                    asked_at = None
                    next_ask = time.monotonic() + 0.2
                else:
                    assert payload["response"] == "message" and payload["sender"] == "flooder", payload
                    got[peer].append(payload["content"])
            assert not peer.closed, "%r was disconnected" % peer
        if asked_at is not None:
            assert time.monotonic() - asked_at < 0.5, "names not answered within 0.5 s during the flood"
    elapsed = time.monotonic() - started
    expected = ["flood %04d" % i for i in range(count)]
    assert got[receiver] == expected
    assert got[flooder] == expected
    # the rate was applied: the requests beyond the burst came at <= rate/s
    assert elapsed >= (count - burst) / rate - 1.0, elapsed
    assert elapsed < 3 * count / rate, elapsed
    assert len(latencies) >= 10, latencies
    assert max(latencies) < 0.5, latencies


def test_flood_control_stops_reading_the_flooder(servers):
    """Over the rate the server does not read the flooder's socket: its writes
    block once the kernel buffers are full, and the server's memory stays flat."""
    srv = servers("--rate", "5", "--burst", "10")
    flooder = logged_in(srv, "flooder")
    rss_before = srv.rss_kib()
    request = request_bytes("msg", "f" * 4000)
    flooder.sock.setblocking(False)
    written, stalled = 0, False
    chunk = request * 64
    limit = 64 * 1024 * 1024
    while written < limit:
        try:
            written += flooder.sock.send(chunk[written % len(chunk):])
        except BlockingIOError:
            # wait for room; none within half a second: the server stopped reading
            _, writable, _ = select.select([], [flooder.sock], [], 0.5)
            if not writable:
                stalled = True
                break
    assert stalled, "the server read %d bytes from a client over its rate" % written
    assert srv.rss_kib() - rss_before < 8 * 1024, (rss_before, srv.rss_kib())
    assert written < limit
    flooder.rst()
    assert_server_works(srv)


# -- pacing a naive reader -----------------------------------------------------------------

def test_naive_reader_keeps_up_with_200_messages_a_second_and_is_answered(servers):
    """Before: one payload per 20 ms at most (50/s), so at 200 msg/s the naive
    reader fell 0.75 s behind every second, its ``names`` went unanswered
    and it was cut off as a slow consumer."""
    srv = servers("--rate", "500", "--burst", "500")
    naive = Peer(srv.port, newline=False)     # json.dumps without newline: paced
    naive.send_raw(request_bytes("login", "naive", newline=False))
    assert naive.recv()["content"] == "Login successful"
    senders = [logged_in(srv, "s%d" % i) for i in range(4)]
    poller = Poller(senders + [naive])
    per_sender, rate, delays, names_answered, names_sent = 150, 50.0, [], 0, 0
    start = time.monotonic()
    sent = 0
    while len(delays) < per_sender * len(senders) or names_answered < names_sent:
        now = time.monotonic()
        assert now - start < 20, "naive reader got %d of %d" % (len(delays), sent)
        due = min(per_sender, int((now - start) * rate) + 1)
        while sent < due * len(senders):
            senders[sent % len(senders)].send("msg", "%.6f" % time.time())
            sent += 1
            if sent % 100 == 0:
                naive.send_raw(request_bytes("names", None, newline=False))
                names_sent += 1
        for peer in poller.wait(0.002):
            if peer is naive:
                naive._read_some(0)
                line = naive._next_line()
                while line is not None:
                    payload = json.loads(line)
                    if payload["response"] == "message":
                        delays.append(time.time() - float(payload["content"]))
                    elif str(payload["content"]).startswith("Users online"):
                        names_answered += 1
                    line = naive._next_line()
                assert not naive.closed, srv.log_tail()
            else:
                peer.pump()
    delays.sort()
    assert delays[int(len(delays) * 0.99)] < 1.0, delays[-10:]
    assert names_answered == names_sent == sent // 100
    assert srv.count_log(r"slow consumer") == 0
