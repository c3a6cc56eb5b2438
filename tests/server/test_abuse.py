"""Hold under abuse (issue 5): limits, slow consumers, floods, slowloris, churn,
fd exhaustion, garbage, fuzzing and shutdown under load.

Every server is a ``python -m chat.server`` subprocess on 127.0.0.1 (the
per-address cap also uses another local address of this host, when there is
one: the traffic still never leaves the machine). A thread drains each
server's stderr, so a chatty log never blocks it, and tests wait for log
lines, for bytes on sockets or for EOF, always with a deadline; nothing
sleeps to synchronise. Where a test needs time to pass (trickling bytes,
pacing an observer) it waits in ``poll()`` with a timeout on its sockets.

Resource checks read ``/proc/PID/status`` (VmRSS), ``/proc/PID/fd`` and
``/proc/PID/stat`` (CPU time) of the server process. Every server must exit
0 on SIGTERM and its log must hold no traceback.
"""

import fcntl
import json
import random
import re
import select
import signal
import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chat import limits
from stress_support import (BAD_LOG, HELP_MARK, Peer, Poller, Server, assert_error,
                            assert_server_works, fill_history, is_presence, logged_in,
                            request_bytes, servers, uniq, wait_until)  # noqa: F401 (fixture)
from support import TIMEOUT


@pytest.mark.parametrize("newline", [True, False], ids=["stream", "paced"])
def test_never_reading_client_is_cut_off_at_the_cap_others_get_everything(servers, newline):
    cap = 256 * 1024
    srv = servers("--rate", "0", "--history-limit", "0", "--max-output", str(cap))
    # The non-reader: tiny kernel receive buffer, logs in, then never reads.
    # (paced: it never sent a newline, so its backlog waits in the pacer)
    slow = Peer(srv.port, rcvbuf=4096, newline=newline)
    slow.send_raw(request_bytes("login", "slowpoke", newline=newline))
    srv.wait_for_log(r"logged in as slowpoke")
    senders = [logged_in(srv, "sender%d" % i) for i in range(2)]
    listener = logged_in(srv, "listener")
    readers = senders + [listener]
    rss_before = srv.rss_kib()

    per_sender, size, window = 1250, 4000, 8
    total = per_sender * len(senders)
    padding = "x" * size
    sent = {s.name: 0 for s in senders}
    got = {r: {s.name: 0 for s in senders} for r in readers}   # next index expected
    poller = Poller(readers)
    rss_peak = rss_before
    received = 0
    deadline = time.monotonic() + 30
    while any(sum(got[r].values()) < total for r in readers):
        assert time.monotonic() < deadline, "broadcast did not complete: %r" % got
        for s in senders:
            # keep every reader within a small window of every sender: readers
            # that keep up are never near the cap
            while sent[s.name] < per_sender and \
                    sent[s.name] - min(got[r][s.name] for r in readers) < window:
                s.send("msg", "%s %06d %s" % (s.name, sent[s.name], padding))
                sent[s.name] += 1
        for reader in poller.wait(1.0):
            for payload in reader.pump():
                if is_presence(payload):
                    continue
                assert payload["response"] == "message", payload
                sender = payload["sender"]
                index = int(payload["content"].split()[1])
                assert index == got[reader][sender], "lost or reordered: %s got %s #%d, expected #%d" % (
                    reader.name, sender, index, got[reader][sender])
                got[reader][sender] += 1
                received += 1
                if received % 500 == 0:
                    rss_peak = max(rss_peak, srv.rss_kib())
            assert not reader.closed, "%s was disconnected; log:\n%s" % (reader.name, srv.log_tail())
    rss_peak = max(rss_peak, srv.rss_kib())
    # RSS: an uncapped server would hold the 7+ MB the kernel did not take
    assert total * size >= 10_000_000
    assert rss_peak - rss_before < 3 * 1024, "RSS grew from %d to %d KiB" % (rss_before, rss_peak)

    # the non-reader was cut off, with the reason in the log
    line = srv.wait_for_log(r"slow consumer")
    assert "disconnected" in line
    unsent = int(re.search(r"(\d+) bytes of output unsent", line).group(1))
    assert cap < unsent < cap + 2 * (size + 200) * len(senders), line
    # what it can still read is a prefix of the broadcast, then EOF
    slow.sock.settimeout(TIMEOUT)
    payloads = slow.until_closed(TIMEOUT)
    messages = [p for p in payloads if p["response"] == "message"]
    # (the kernel's socket buffers on loopback hold a few MB of it)
    assert len(messages) < total, len(messages)
    for sender in senders:
        indexes = [int(m["content"].split()[1]) for m in messages if m["sender"] == sender.name]
        assert indexes == list(range(len(indexes))), "not a prefix of what %s sent" % sender.name
    # its name is free, and the server still works
    logged_in(srv, "slowpoke").close()
    for client in readers:
        client.close()
    assert_server_works(srv)


def test_a_full_history_read_slowly_is_not_a_slow_consumer(servers):
    """A 4 MB history under a cap that holds it (the server refuses options
    whose worst-case history the cap cannot hold): a client that logs in and
    reads it slowly is not a slow consumer."""
    history, size = 1000, 4000
    srv = servers("--rate", "0", "--max-output", str(5 * 1024 * 1024),
                  "--max-message-bytes", "4096", "--history-limit", str(history))
    filler = logged_in(srv, "filler")
    for start in range(0, history, 10):
        filler.send_raw(b"".join(request_bytes("msg", "%04d %s" % (i, "h" * size))
                                 for i in range(start, start + 10)))
        for _ in range(10):
            filler.expect("message")
    late = Peer(srv.port, rcvbuf=4096)
    late.send_raw(request_bytes("login", "late"))
    srv.wait_for_log(r"logged in as late|slow consumer")
    for _ in range(3):   # a few more loop passes of the server
        assert "late" in filler.request("names")["content"]
    assert srv.count_log(r"slow consumer") == 0, srv.log_tail()
    assert late.recv()["content"] == "Login successful"
    entries = late.recv(10.0)["content"]
    assert len(entries) == history and entries[-1]["content"].startswith("%04d " % (history - 1))
    assert "late" in late.request("names")["content"]


@pytest.mark.parametrize("newline", [True, False], ids=["stream", "paced"])
def test_pipelining_without_reading_pauses_the_client_not_drops_it(servers, newline):
    """Above --pause-output the server stops reading a client's requests until
    its output drains: a client that pipelines requests and reads the answers
    only later is throttled, never cut off, however many it sends. A paced
    client (it never sent a newline) too: PROTOCOL.md counts the paced
    backlog against the same output limits."""
    cap, pause = 256 * 1024, 64 * 1024
    srv = servers("--rate", "0", "--history-limit", "0", "--max-output", str(cap),
                  "--pause-output", str(pause), "--pace-ms", "1")
    count = 1000
    peer = Peer(srv.port, newline=newline)
    peer.send_raw(b"".join(request_bytes("help", newline=newline) for _ in range(count)))
    other = Peer(srv.port)
    for _ in range(3):   # the server has read the pipeline and answered what it would
        assert HELP_MARK in other.request("help")["content"]
    rss = srv.rss_kib()
    answers = [peer.recv(5.0) for _ in range(count)]
    assert all(HELP_MARK in a["content"] for a in answers)
    assert count * len(json.dumps(answers[0])) > 1.5 * cap    # more than the cap in all
    assert srv.count_log(r"slow consumer") == 0, srv.log_tail()
    assert srv.rss_kib() - rss < 4 * 1024


# == flood control ==========================================================================

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


# == login deadline (slowloris) ===============================================================

LOGIN_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def deadline_server():
    srv = Server("--rate", "0", "--login-timeout", str(LOGIN_TIMEOUT))
    yield srv
    srv.check_clean_exit()


def _trickle_until_closed(peer, data, gap, limit=4.0):
    """Send ``data`` one byte per ``gap`` seconds (waiting in poll) until the
    server closes the connection; return (payloads, seconds, bytes sent)."""
    started = time.monotonic()
    payloads, sent = [], 0
    poller = Poller([peer])
    next_byte = started
    while not peer.closed:
        now = time.monotonic()
        assert now - started < limit, "not closed after %ss (sent %d bytes): %r" % (limit, sent, payloads)
        if now >= next_byte and sent < len(data):
            try:
                peer.sock.send(data[sent:sent + 1])
                sent += 1
            except OSError:
                pass  # closed under us: the read below sees it
            next_byte = now + gap
        if poller.wait(max(0.0, next_byte - time.monotonic())):
            payloads.extend(peer.pump())
    return payloads, time.monotonic() - started, sent


def test_no_login_gets_error_and_close_at_the_deadline(deadline_server):
    started = time.monotonic()
    peer = Peer(deadline_server.port)
    payloads = peer.until_closed(4.0)
    elapsed = time.monotonic() - started
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"login timeout")
    assert LOGIN_TIMEOUT - 0.2 <= elapsed < LOGIN_TIMEOUT + 1.5, elapsed


def test_trickling_bytes_does_not_extend_the_deadline(deadline_server):
    """Slowloris: a login request one byte per 50 ms would take 5 s."""
    data = b'{"request": "login", ' + b" " * 60 + b'"content": "loris"}\n'
    assert len(data) * 0.05 > 4
    payloads, elapsed, sent = _trickle_until_closed(Peer(deadline_server.port), data, 0.05)
    assert sent >= 10, sent
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"login timeout")
    assert LOGIN_TIMEOUT - 0.2 <= elapsed < LOGIN_TIMEOUT + 1.5, elapsed


def test_help_does_not_extend_the_deadline(deadline_server):
    peer = Peer(deadline_server.port)
    started = time.monotonic()
    poller = Poller([peer])
    next_help = started
    payloads = []
    while not peer.closed:
        now = time.monotonic()
        assert now - started < 4.0, "help kept the connection open: %r" % payloads
        if now >= next_help:
            try:
                peer.send("help")
            except OSError:
                pass
            next_help = now + 0.2
        if poller.wait(max(0.0, next_help - time.monotonic())):
            payloads.extend(peer.pump())
    elapsed = time.monotonic() - started
    helps = [p for p in payloads if p["response"] == "info" and HELP_MARK in p["content"]]
    assert len(helps) >= 3, payloads
    assert_error(payloads[-1], r"login timeout")
    assert LOGIN_TIMEOUT - 0.2 <= elapsed < LOGIN_TIMEOUT + 1.5, elapsed


def test_hundreds_of_tricklers_do_not_slow_a_normal_client(deadline_server):
    srv = deadline_server
    count = 200
    data = b'{"request": "login", ' + b" " * 200 + b'"content": "loris"}\n'
    tricklers = {}
    for _ in range(count):
        peer = Peer(srv.port)
        tricklers[peer] = {"opened": time.monotonic(), "closed": None, "payloads": []}
    # a normal client arrives while they trickle: logs in and chats
    started = time.monotonic()
    normal = logged_in(srv, "normal")
    assert time.monotonic() - started < 0.5
    round_trips = []
    poller = Poller(tricklers)
    sent = 0
    next_round = time.monotonic()
    limit = time.monotonic() + LOGIN_TIMEOUT + 4
    while any(info["closed"] is None for info in tricklers.values()):
        now = time.monotonic()
        assert now < limit, "tricklers still open: %d" % sum(
            1 for info in tricklers.values() if info["closed"] is None)
        if now >= next_round:
            # one byte on every open trickler, then one chat round trip
            for peer, info in tricklers.items():
                if info["closed"] is None:
                    try:
                        peer.sock.send(data[sent:sent + 1])
                    except OSError:
                        pass
            sent += 1
            t0 = time.monotonic()
            echo = normal.request("msg", "ping %d" % sent, timeout=2.0)
            round_trips.append(time.monotonic() - t0)
            assert echo["response"] == "message" and echo["content"] == "ping %d" % sent, echo
            next_round = now + 0.1
        for peer in poller.wait(max(0.0, next_round - time.monotonic())):
            info = tricklers[peer]
            info["payloads"].extend(peer.pump())
            if peer.closed:
                info["closed"] = time.monotonic()
                poller.remove(peer)
    assert sent < len(data)
    assert len(round_trips) >= 5, round_trips
    assert max(round_trips) < 0.5, round_trips
    lifetimes = sorted(info["closed"] - info["opened"] for info in tricklers.values())
    assert lifetimes[0] >= LOGIN_TIMEOUT - 0.2, lifetimes[:5]
    assert lifetimes[-1] < LOGIN_TIMEOUT + 2.0, lifetimes[-5:]
    for info in tricklers.values():
        assert [p["response"] for p in info["payloads"]] == ["error"], info["payloads"]
        assert_error(info["payloads"][0], r"login timeout")
    # the normal client is still there
    assert "normal" in normal.request("names")["content"]
    normal.close()
    for peer in tricklers:
        peer.close()


# == garbage ================================================================================

@pytest.fixture(scope="module")
def garbage_server():
    """Default limits (64 KiB requests), flood control off; a short pace gap,
    as random bytes make hundreds of errors for a not yet streaming client."""
    srv = Server("--rate", "0", "--pace-ms", "1")
    yield srv
    srv.check_clean_exit()


def _send_in_thread(sock, data):
    """sendall from a thread (the server may stop reading and close midway)."""
    def run():
        try:
            sock.settimeout(TIMEOUT)
            sock.sendall(data)
        except OSError:
            pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_nul_flood_gets_one_error_then_the_connection_works(garbage_server):
    srv = garbage_server
    peer = Peer(srv.port)
    thread = _send_in_thread(peer.sock, b"\0" * 1_000_000)
    thread.join(TIMEOUT)
    before = peer.help_sentinel()   # the reader resumes at the next "{"
    assert len(before) == 1, before
    assert_error(before[0], r"invalid JSON.*0x00")
    peer.login(uniq("nul"))
    assert peer.request("msg", "after NULs")["content"] == "after NULs"
    peer.close()
    assert_server_works(srv)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes(garbage_server, seed):
    srv = garbage_server
    data = random.Random(seed).randbytes(200_000)
    peer = Peer(srv.port)
    thread = _send_in_thread(peer.sock, data)
    thread.join(TIMEOUT)
    try:
        peer.sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    payloads = peer.until_closed()
    assert payloads, "no error for 200 kB of random bytes"
    for payload in payloads:
        assert_error(payload)
    assert_server_works(srv)


@pytest.mark.parametrize("data", [
    pytest.param(b'{"request": "msg", "content": "\xff\xfe"}', id="invalid-bytes"),
    pytest.param(b'{"request": "msg", "content": "\xc3"}', id="truncated"),
    pytest.param(b'{"request": "msg", "content": "\xc0\xaf"}', id="overlong"),
    pytest.param(b'{"request": "msg", "content": "\xed\xa0\x80"}', id="surrogate"),
    pytest.param(b'{"request\x80": "msg"}', id="in-key"),
    pytest.param(b'{"request": "msg", "content": "ok"}'.replace(b"ok", b"\xf8\x88\x80\x80\x80"), id="5-byte"),
])
def test_invalid_utf8_gets_one_error(garbage_server, data):
    peer = logged_in(garbage_server, uniq("utf"))
    peer.send_raw(data + b"\n")
    before = peer.help_sentinel()
    assert len(before) == 1, before
    assert_error(before[0], r"UTF-8")
    assert peer.request("msg", "fine")["content"] == "fine"
    peer.close()
    assert_server_works(garbage_server)


def test_ten_megabytes_without_a_closing_brace_gets_size_error_then_close(garbage_server):
    srv = garbage_server
    peer = logged_in(srv, uniq("huge"))
    rss_before = srv.rss_kib()
    thread = _send_in_thread(peer.sock, b'{"request": "msg", "content": "' + b"a" * 10_000_000)
    payloads = peer.until_closed(10.0)
    thread.join(TIMEOUT)
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"too large")
    assert srv.rss_kib() - rss_before < 4 * 1024, "the server buffered the 10 MB"
    srv.wait_for_log(r"closing \(huge\d+\): request too large")
    assert_server_works(srv)


@pytest.mark.parametrize("opening, closing", [
    pytest.param(b"[", b"]", id="arrays"),
    pytest.param(b'{"a": ', b"}", id="objects"),
    pytest.param(b'{"request": [', b"]}", id="mixed"),
])
def test_100000_nested_brackets_default_size_limit(garbage_server, opening, closing):
    """100 000 levels are over 64 KiB: the depth error, then the size error and close."""
    srv = garbage_server
    peer = Peer(srv.port)
    data = opening * 100_000 + b"1" + closing * 100_000 + b"\n"
    thread = _send_in_thread(peer.sock, data)
    payloads = peer.until_closed()
    thread.join(TIMEOUT)
    assert [p["response"] for p in payloads] == ["error", "error"], payloads
    assert_error(payloads[0], r"nested")
    assert_error(payloads[1], r"too large")
    assert_server_works(srv)


@pytest.mark.parametrize("opening, closing", [
    pytest.param(b"[", b"]", id="arrays"),
    pytest.param(b'{"a": ', b"}", id="objects"),
])
def test_100000_nested_brackets_within_the_size_limit_one_error(servers, opening, closing):
    """With room for them, 100 000 levels are one bad request; the connection stays."""
    srv = servers("--rate", "0", "--max-request-size", str(2 * 1024 * 1024))
    peer = logged_in(srv, "deep")
    peer.send_raw(opening * 100_000 + b"1" + closing * 100_000 + b"\n")
    before = peer.help_sentinel()
    assert len(before) == 1, before
    assert_error(before[0], r"nested")
    assert peer.request("msg", "deep and fine")["content"] == "deep and fine"
    peer.close()
    assert_server_works(srv)


NOT_OBJECTS = [
    pytest.param(b"[1, 2, 3]", r"array", id="array"),
    pytest.param(b'["login", "bob"]', r"array", id="array-request"),
    pytest.param(b"42", r"number", id="number"),
    pytest.param(b"-1.5e300", r"number", id="float"),
    pytest.param(b'"login bob"', r"string", id="string"),
    pytest.param(b"null", r"null", id="null"),
    pytest.param(b"true", r"boolean", id="boolean"),
]

WRONG_TYPES = [
    b'{}',
    b'{"content": "bob"}',
    b'{"request": null, "content": "bob"}',
    b'{"request": 1, "content": "bob"}',
    b'{"request": true, "content": "bob"}',
    b'{"request": ["login"], "content": "bob"}',
    b'{"request": {"login": "bob"}, "content": "bob"}',
    b'{"request": "login", "content": 5}',
    b'{"request": "login", "content": null}',
    b'{"request": "login", "content": ["bob"]}',
    b'{"request": "login", "content": {"name": "bob"}}',
    b'{"request": "login", "content": false}',
    b'{"request": "login"}',
    b'{"request": "msg", "content": 5}',
    b'{"request": "msg", "content": null}',
    b'{"request": "msg", "content": ["hi"]}',
    b'{"request": "msg", "content": {"text": "hi"}}',
    b'{"request": "msg", "content": true}',
    b'{"request": "msg"}',
    b'{"request": "names", "content": 5}',
    b'{"request": "names", "content": ["x"]}',
    b'{"request": "names", "content": {}}',
    b'{"request": "help", "content": 1.5}',
    b'{"request": "help", "content": []}',
    b'{"request": "logout", "content": {"now": true}}',
    b'{"request": "logout", "content": 0}',
    b'{"request": "nosuch", "content": null}',
]


@pytest.mark.parametrize("data, kind", NOT_OBJECTS)
def test_json_that_is_not_an_object_gets_one_error(garbage_server, data, kind):
    peer = Peer(garbage_server.port)
    peer.send_raw(data + b"\n")
    before = peer.help_sentinel()
    assert len(before) == 1, before
    assert_error(before[0], r"object.*" + kind)
    peer.login(uniq("nob"))
    peer.send_raw(data + b"\n")
    before = peer.help_sentinel()
    assert len(before) == 1, before
    assert_error(before[0], kind)
    peer.close()
    assert_server_works(garbage_server)


@pytest.mark.parametrize("logged", [False, True], ids=["before-login", "after-login"])
def test_wrong_types_in_every_field_each_get_one_error(garbage_server, logged):
    srv = garbage_server
    peer = Peer(srv.port)
    name = uniq("types")
    if logged:
        peer.login(name)
    # one at a time: each gets exactly one error
    for data in WRONG_TYPES:
        peer.send_raw(data + b"\n")
        before = peer.help_sentinel()
        assert len(before) == 1, (data, before)
        assert_error(before[0])
    # all at once, back to back: one error each, in order
    peer.send_raw(b"".join(WRONG_TYPES))
    before = peer.help_sentinel()
    assert [p["response"] for p in before] == ["error"] * len(WRONG_TYPES), before
    if logged:
        assert name in peer.request("names")["content"]
    peer.close()
    assert_server_works(srv)


# == message and request size ===============================================================

def test_message_over_max_message_length_gets_error(servers):
    srv = servers("--rate", "0", "--max-message-length", "100")
    peer = logged_in(srv, "talker")
    assert peer.request("msg", "a" * 100)["content"] == "a" * 100
    assert_error(peer.request("msg", "b" * 101), r"too long.*101.*100")
    assert_error(peer.request("msg", "\u00e6" * 101), r"too long")   # characters, not bytes
    assert peer.request("msg", "\u00e6" * 100)["content"] == "\u00e6" * 100
    assert peer.request("msg", "still here")["content"] == "still here"


def test_request_over_max_request_size_gets_error_then_close(servers):
    srv = servers("--rate", "0", "--max-request-size", "1024", "--max-message-length", "100")
    peer = logged_in(srv, "padder")
    listener = logged_in(srv, "listener")
    # under the size limit, however padded: handled
    under = request_bytes("msg", "under", pad="p" * 900)
    assert len(under) < 1024
    peer.send_raw(under)
    assert peer.reply()["content"] == "under"
    assert listener.reply()["content"] == "under"
    # over it (a valid msg padded with an extra key): error, then close, and
    # the msg is not broadcast
    over = request_bytes("msg", "over", pad="p" * 2000)
    peer.send_raw(over)
    payloads = peer.until_closed()
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"too large")
    assert listener.request("msg", "next")["content"] == "next", "the oversized msg was broadcast"
    # the name is free again
    logged_in(srv, "padder").close()


# == connection caps ========================================================================

def test_max_clients_refuses_the_next_with_server_full(servers):
    srv = servers("--rate", "0", "--max-clients", "3")
    admitted = [Peer(srv.port) for _ in range(3)]
    for peer in admitted:
        assert HELP_MARK in peer.request("help")["content"]
    started = time.monotonic()
    extra = Peer(srv.port)
    payloads = extra.until_closed(2.0)
    assert time.monotonic() - started < 1.0
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"server full")
    srv.wait_for_log(r"refused: server full")
    # the admitted ones are unaffected; when one leaves, a newcomer gets in
    admitted[0].login("first")
    admitted[0].send("logout")
    admitted[0].until_closed()
    newcomer = Peer(srv.port)
    assert HELP_MARK in newcomer.request("help")["content"]
    for peer in admitted[1:]:
        assert HELP_MARK in peer.request("help")["content"]


def test_max_per_ip_does_not_apply_to_loopback(servers):
    srv = servers("--rate", "0", "--max-per-ip", "2")
    peers = [Peer(srv.port) for _ in range(12)]
    for peer in peers:
        assert HELP_MARK in peer.request("help")["content"]
    for i, peer in enumerate(peers[:3]):
        peer.login("loop%d" % i)


def _non_loopback_ipv4():
    """An IPv4 address of a local interface that is not loopback, or None."""
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in interfaces:
            try:
                packed = fcntl.ioctl(sock.fileno(), 0x8915,  # SIOCGIFADDR
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            address = socket.inet_ntoa(packed[20:24])
            if not address.startswith("127."):
                return address
    return None


def test_max_per_ip_caps_a_non_loopback_address(servers):
    """Server and client on this host's own non-loopback address: the server
    sees that address as the peer (the packets still go through loopback)."""
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    srv = servers("--rate", "0", "--max-per-ip", "2", host=address)
    first, second = Peer(srv.port, host=address), Peer(srv.port, host=address)
    for peer in (first, second):
        assert HELP_MARK in peer.request("help")["content"]
    third = Peer(srv.port, host=address)
    payloads = third.until_closed(2.0)
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"too many connections from your address.*2")
    # refused again while two are there; once one leaves, a slot is free
    fourth = Peer(srv.port, host=address)
    assert_error(fourth.until_closed(2.0)[0], r"too many connections")
    first.login("perip")
    first.send("logout")
    first.until_closed()
    fifth = Peer(srv.port, host=address)
    assert HELP_MARK in fifth.request("help")["content"]


def test_admission_logic_in_process():
    """ChatServer.admit with fake hosts: the per-address cap, loopback exempt,
    the overall cap, and slots freed by forget()."""
    from chat.core import Session
    from chat.server.app import ChatServer
    from chat.server.config import ServerConfig
    from reactor.loop import EventLoop

    class FakeConnection(Session):
        def __init__(self, host):
            super().__init__()
            self.host = host

    loop = EventLoop()
    try:
        server = ChatServer(loop, ServerConfig(max_per_ip=2, max_clients=6))
        a1, a2, a3 = (FakeConnection("203.0.113.5") for _ in range(3))
        assert server.admit(a1) is None
        assert server.admit(a2) is None
        assert re.search(r"too many connections.*2", server.admit(a3))
        b1 = FakeConnection("2001:db8::7")
        assert server.admit(b1) is None           # another address has its own count
        loops = [FakeConnection(host) for host in ("127.0.0.1", "127.0.0.2", "::1")]
        for conn in loops:
            assert server.admit(conn) is None     # loopback: exempt
        assert server.admit(FakeConnection("127.0.0.1")).startswith("server full")
        server.forget(a1)
        assert server.admit(a3) is None           # a slot of that address came free
        assert server.admit(FakeConnection("198.51.100.1")).startswith("server full")
        server.forget(loops[0])
        server.forget(a2)
        assert server.admit(FakeConnection("198.51.100.1")) is None
        # --max-per-ip 0: no per-address cap
        open_server = ChatServer(loop, ServerConfig(max_per_ip=0))
        many = [FakeConnection("203.0.113.9") for _ in range(50)]
        assert all(open_server.admit(conn) is None for conn in many)
    finally:
        loop.close()


def test_ipv4_mapped_loopback_is_exempt_from_max_per_ip(servers):
    """A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; from
    127.0.0.1 that is still loopback."""
    srv = servers("--rate", "0", "--max-per-ip", "2", host="::ffff:127.0.0.1")
    peers = [Peer(srv.port) for _ in range(4)]
    for peer in peers:
        reply = peer.request("help")
        assert reply["response"] == "info" and HELP_MARK in reply["content"], reply


def test_ipv4_mapped_loopback_admission_in_process():
    from chat.core import Session
    from chat.server.app import ChatServer
    from chat.server.config import ServerConfig
    from reactor.loop import EventLoop

    class FakeConnection(Session):
        def __init__(self, host):
            super().__init__()
            self.host = host

    loop = EventLoop()
    try:
        server = ChatServer(loop, ServerConfig(max_per_ip=1))
        for _ in range(3):
            assert server.admit(FakeConnection("::ffff:127.0.0.1")) is None
    finally:
        loop.close()


# == idle timeout ==========================================================================

def test_idle_timeout_closes_the_silent_not_the_active(servers):
    idle = 1.0
    srv = servers("--rate", "0", "--idle-timeout", str(idle))
    silent = logged_in(srv, "silent")
    silent_since = time.monotonic()
    active = logged_in(srv, "active")
    poller = Poller([silent, active])
    silent_payloads = []
    silent_closed = None
    next_names = time.monotonic()
    answered = 0
    limit = time.monotonic() + idle + 3
    # run until the silent one is gone and a full idle period more has passed
    while silent_closed is None or time.monotonic() < silent_closed + idle:
        now = time.monotonic()
        assert now < limit, "silent client not closed: %r" % silent_payloads
        if now >= next_names:
            active.send("names")
            next_names = now + 0.25
        for peer in poller.wait(max(0.0, next_names - time.monotonic())):
            payloads = peer.pump()
            if peer is silent:
                silent_payloads.extend(payloads)
                if peer.closed:
                    silent_closed = time.monotonic()
                    poller.remove(peer)
            else:
                assert not peer.closed, "the active client was closed: %r" % payloads
                answered += sum(1 for p in payloads if "Users online" in p.get("content", ""))
    silent_payloads = [p for p in silent_payloads if not is_presence(p)]
    assert len(silent_payloads) == 1, silent_payloads
    assert_error(silent_payloads[0], r"idle timeout")
    assert idle - 0.2 <= silent_closed - silent_since < idle + 1.5, silent_closed - silent_since
    assert answered >= 4
    names = active.request("names")["content"]
    assert "active" in names and "silent" not in names, names


def test_idle_timeout_spares_a_client_whose_requests_are_queued(servers):
    """Flood control delays requests, it never drops them: a client whose
    requests wait for tokens is not idle."""
    srv = servers("--rate", "3", "--burst", "1", "--idle-timeout", "0.5")
    busy = logged_in(srv, "busy")
    busy.send_raw(b"".join(request_bytes("msg", "queued %d" % i) for i in range(6)))
    got = [busy.reply(3.0) for _ in range(6)]
    assert [p["content"] for p in got] == ["queued %d" % i for i in range(6)], got


# == connection churn =======================================================================

def _names_online(peer):
    """Ask ``names``; skip whatever else is queued; return the listed names."""
    peer.send("names")
    deadline = time.monotonic() + TIMEOUT
    while True:
        payload = peer.recv(max(0.01, deadline - time.monotonic()))
        if payload["response"] == "info" and payload["content"].startswith("Users online"):
            listed = payload["content"].split(":", 1)[1].strip()
            return sorted(n.strip() for n in listed.split(",") if n.strip())


def test_connection_churn_leaks_no_names_sockets_or_memory(servers):
    srv = servers("--rate", "0")
    survivor = logged_in(srv, "survivor")

    def churn(first, count, batch=250):
        """Open ``count`` connections in batches and drop them abruptly: some
        at once, some mid-request, some after login, by FIN or by RST."""
        logged = []
        for start in range(first, first + count, batch):
            peers = [Peer(srv.port) for _ in range(batch)]
            waiting = []
            for i, peer in enumerate(peers, start):
                kind, name = i % 8, "churn%d" % i
                if kind in (2, 3):       # mid-request
                    peer.send_raw(b'{"request": "login", "content": "chu')
                elif kind == 4:          # login, gone before the answer
                    peer.send_raw(request_bytes("login", name))
                elif kind >= 5:          # logged in
                    peer.send_raw(request_bytes("login", name))
                    waiting.append((peer, name))
            for peer, name in waiting:
                assert peer.expect("info")["content"] == "Login successful"
                logged.append(name)
            for i, peer in enumerate(peers, start):
                kind = i % 8
                if kind == 6:            # logged in, mid-request
                    peer.send_raw(b'{"request": "msg", "content": "half a messa')
                elif kind == 7:          # logged in, requests in flight, unread output
                    peer.send_raw(b"".join(request_bytes("msg", "bye %d" % j) for j in range(5))
                                  + request_bytes("names"))
                if kind % 2:
                    peer.rst()
                else:
                    peer.close()
        return logged

    def settled(fd_limit):
        return _names_online(survivor) == ["survivor"] and srv.fd_count() <= fd_limit

    # a first round warms up whatever is allocated once; then the baselines
    churn(0, 250)
    wait_until(srv, lambda: settled(1 << 30), 10, "warm-up churn settles")
    fd_base, rss_base = srv.fd_count(), srv.rss_kib()

    started = time.monotonic()
    logged = churn(250, 2000)
    assert len(logged) == 750
    wait_until(srv, lambda: settled(fd_base), 15, "fds back to %d and only survivor listed" % fd_base)
    churn_time = time.monotonic() - started
    rss_after = srv.rss_kib()
    # 2000 leaked connections would be several MB (and fds, and names)
    assert rss_after - rss_base < 3 * 1024, "RSS grew from %d to %d KiB" % (rss_base, rss_after)

    # every name is free again: log in as a sample of them
    sample = random.Random(5).sample(logged, 40) + ["churn%d" % i for i in range(252, 2250, 200)]
    for name in sample:
        client = logged_in(srv, name)
        client.rst()
    wait_until(srv, lambda: settled(fd_base), 10, "sample logins gone")
    assert churn_time < 20
    assert_server_works(srv)


# == file-descriptor exhaustion ===============================================================

def test_fd_exhaustion_backs_off_without_spinning_and_recovers(servers):
    nofile = 64
    srv = servers("--rate", "0", nofile=nofile)
    srv.wait_for_log(r"open-file limit %d is below" % nofile)
    peers = []
    for _ in range(3 * nofile):     # the kernel's accept queue holds what the server cannot
        peer = Peer(srv.port)
        peer.send_raw(request_bytes("help"))
        peers.append(peer)
    srv.wait_for_log(r"accept failed.*(Too many open files|EMFILE)")
    # saturated: the accepted ones are answered, the rest wait in the backlog
    answered = 0
    for peer in Poller(peers).wait(0.5):
        answered += 1
    assert 0 < answered < nofile, answered
    # CPU over the next ten failed accept retries (about a second at 0.1 s backoff)
    failures = srv.count_log(r"accept failed")
    cpu0, t0 = srv.cpu_seconds(), time.monotonic()
    srv.wait_for_log(r"accept failed", timeout=5.0, count=failures + 10)
    cpu1, t1 = srv.cpu_seconds(), time.monotonic()
    assert t1 - t0 >= 0.5, "ten accept retries in %.3fs: no back-off" % (t1 - t0)
    assert (cpu1 - cpu0) / (t1 - t0) < 0.5, "server used %.2fs CPU in %.2fs while saturated" % (
        cpu1 - cpu0, t1 - t0)
    # everyone leaves; the server accepts again, and a newcomer can chat
    for peer in peers:
        peer.rst()
    started = time.monotonic()
    client = logged_in(srv, "newcomer")
    assert client.request("msg", "room again")["content"] == "room again"
    assert time.monotonic() - started < 3.0
    assert_server_works(srv)
    client.close()
    # and it no longer fails accepts
    failures = srv.count_log(r"accept failed")
    for _ in range(5):
        assert_server_works(srv)
    assert srv.count_log(r"accept failed") == failures


# == graceful shutdown under load ===========================================================

def test_sigterm_under_load_every_reader_gets_the_notice_and_exit_is_0(servers):
    # a history larger than what the kernel buffers on loopback (a few MB),
    # so that a client that stops reading it has output queued in the server
    history = 1000
    srv = servers("--rate", "0", "--max-output", str(32 * 1024 * 1024),
                  "--history-limit", str(history))
    notice = "Server is shutting down"
    filler = logged_in(srv, "filler")
    fill_history(filler, ["%04d %s" % (i, "h" * 4000) for i in range(history)])
    casters = [logged_in(srv, "caster%d" % i) for i in range(3)]
    # mid-transfer: this one logs in, reads the first bytes of its history and
    # stops reading until the signal is sent
    late = Peer(srv.port, rcvbuf=16384)
    late.send_raw(request_bytes("login", "late"))
    late._read_some(TIMEOUT)
    assert late.buffer
    # and this one never reads at all (it may be dropped after the grace period)
    mute = Peer(srv.port, rcvbuf=4096)
    mute.send_raw(request_bytes("login", "mute"))
    srv.wait_for_log(r"logged in as mute")
    # connected, not logged in; and a logged-in naive client (paced: no newline)
    stranger = Peer(srv.port)
    assert HELP_MARK in stranger.request("help")["content"]
    naive = logged_in(srv, "naive", newline=False)

    readers = casters + [filler]
    payloads = {peer: [] for peer in readers}
    sent = {peer: 0 for peer in casters}
    echoed = {peer: 0 for peer in casters}
    poller = Poller(readers)
    signalled_at = None
    limit = time.monotonic() + 15
    while any(not peer.closed for peer in readers):
        assert time.monotonic() < limit, "clients not closed after SIGTERM; log:\n%s" % srv.log_tail()
        for peer in casters:
            if not peer.closed and sent[peer] - echoed[peer] < 4:
                try:
                    peer.send("msg", "%s says %d %s" % (peer.name, sent[peer], "b" * 100))
                    sent[peer] += 1
                except OSError:
                    pass  # closed after the notice: the read sees it
        if signalled_at is None and sum(echoed.values()) >= 300:
            srv.proc.send_signal(signal.SIGTERM)   # with requests in flight
            signalled_at = time.monotonic()
        for peer in poller.wait(1.0):
            got = peer.pump()
            payloads[peer].extend(got)
            if peer in echoed:
                echoed[peer] += sum(1 for p in got if p["response"] == "message" and p["sender"] == peer.name)
            if peer.closed:
                poller.remove(peer)
    assert signalled_at is not None
    # the one mid-history reads on now: everything, then the notice, then EOF
    late_payloads = late.until_closed(TIMEOUT)
    status = srv.proc.wait(TIMEOUT)
    exit_after = time.monotonic() - signalled_at
    assert status == 0
    assert exit_after < limits.SHUTDOWN_GRACE + 2.0, exit_after

    # the paced client got every broadcast the reading ones got, in order
    naive_payloads = naive.until_closed(TIMEOUT)
    assert naive_payloads and naive_payloads[-1]["content"] == notice, naive_payloads[-3:]
    broadcast = [p for p in payloads[filler] if p["response"] == "message"]
    assert [p for p in naive_payloads if p["response"] == "message"] == broadcast
    for peer in readers:
        last = [p for p in payloads[peer] if not is_presence(p)][-1]
        assert last["response"] == "info" and last["content"] == notice, (peer.name, last)
        messages = [p for p in payloads[peer] if p["response"] == "message"]
        assert len(messages) > 0
    # the casters' messages reached everyone in order, none lost in the middle
    for peer in casters:
        mine = [int(p["content"].split()[2]) for p in payloads[filler]
                if p["response"] == "message" and p["sender"] == peer.name]
        assert mine == list(range(len(mine))), peer.name
        assert len(mine) >= echoed[peer] - 1
    types = [p["response"] for p in late_payloads]
    assert types[:2] == ["info", "history"], types[:5]
    assert len(late_payloads[1]["content"]) == history
    assert late_payloads[-1]["response"] == "info" and late_payloads[-1]["content"] == notice
    assert set(types[2:-1]) <= {"message", "info"}
    # the one connected but not logged in got it too
    quiet = stranger.until_closed(TIMEOUT)
    assert quiet and quiet[-1]["content"] == notice, quiet
    # the one that never read got the notice, or was dropped after the grace period
    mute_payloads = mute.until_closed(TIMEOUT)
    if not (mute_payloads and mute_payloads[-1]["content"] == notice):
        srv.wait_for_log(r"dropped at shutdown with \d+ bytes unsent")
    srv.wait_for_log(r"shutting down: \d+ connections")
    srv.wait_for_log(r"stopped")


# == fuzzing through real sockets ===============================================================

@pytest.fixture(scope="module")
def fuzz_server():
    srv = Server("--rate", "0", "--pace-ms", "1")
    yield srv
    srv.check_clean_exit()


def _probe(srv):
    """The server stays responsive: a fresh client logs in and gets ``names``."""
    name = uniq("probe")
    client = logged_in(srv, name)
    try:
        names = client.request("names")
        assert names["response"] == "info" and name in names["content"], names
    finally:
        client.rst()
    assert srv.count_log(BAD_LOG.pattern) == 0, srv.log_text()[-5000:]


def _send_split(sock, data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in zip(points, points[1:]):
        sock.sendall(data[start:end])


# Items of a request mix. Each is (bytes, kind, detail); the model below says
# what the server must answer. Non-object values never contain "{", so that
# after a syntax error the reader resumes exactly at the next object item.
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=12))
_NON_OBJECT = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6).filter(
    lambda v: b"{" not in json.dumps(v).encode())
_ANY_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)
_MSG_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda t: t.strip())
_KNOWN = ("login", "logout", "msg", "names", "help")


def _obj(**fields):
    return json.dumps(fields).encode()


_BAD_OBJECTS = st.one_of(
    st.builds(lambda v: json.dumps(v).encode(), _NON_OBJECT),                        # not an object
    st.builds(lambda c: _obj(content=c), _ANY_JSON),                                  # no request
    st.builds(lambda r, c: _obj(request=r, content=c),
              _ANY_JSON.filter(lambda v: not isinstance(v, str)), _ANY_JSON),           # request not a string
    st.builds(lambda r, c: _obj(request=r, content=c),
              st.text(max_size=10).filter(lambda s: s.strip().lower() not in _KNOWN), _ANY_JSON),  # unknown
    st.builds(lambda r, c: _obj(request=r, content=c), st.sampled_from(["login", "msg"]),
              _ANY_JSON.filter(lambda v: not isinstance(v, str))),                    # content not a string
    st.builds(lambda r, c: _obj(request=r, content=c), st.sampled_from(["names", "help"]),
              _ANY_JSON.filter(lambda v: v is not None and not isinstance(v, str))),  # takes no argument
    st.builds(lambda c: _obj(request="login", content=c),
              st.sampled_from(["", "  ", "a b", "x" * 33, "server", "SERVER", "\u00e6", "a-b", "a\nb"])),
    st.builds(lambda c: _obj(request="msg", content=c), st.sampled_from(["", "   ", "\n", "x" * 4097])),
    st.sampled_from([b'{"request": "msg", "content": "\xff"}', b'{"request\xc3": "help"}',
                     b'{"request": "login", "content": "\xed\xa0\x80"}']),            # invalid UTF-8
)
_SYNTAX_ERRORS = st.sampled_from([
    b'{"request": "help",}', b'{"request" "help"}', b'{"request": hlep}', b"{'request': 'help'}",
    b'{"request": "help"]', b'{"request": "names", "content": nul}', b'{"a": 01}', b"{,}",
    b"hello", b"nope", b"1.2.3", b"tru", b"]", b"}", b"\x00\x01\x02", b"\xff\xfe",
])


def _valid_items(tag):
    return st.one_of(
        st.builds(lambda r, c: (_obj(request=r, content=c), "help", None),
                  st.sampled_from(["help", "HELP", " help "]), st.sampled_from([None, "", "None", "x"])),
        st.builds(lambda c: (_obj(request="names", content=c), "names", None), st.sampled_from([None, "", "None"])),
        st.just((b'{"request": "names"}', "names", None)),
        st.builds(lambda t: (_obj(request="msg", content=t), "msg", t), _MSG_TEXT),
        st.builds(lambda n: (_obj(request="login", content=n), "login", n),
                  st.sampled_from([tag, tag.upper(), " %s " % tag])),
    )


@st.composite
def request_mixes(draw):
    tag = uniq("fz")
    item = st.one_of(_valid_items(tag),
                     st.builds(lambda b: (b, "bad", None), _BAD_OBJECTS),
                     st.builds(lambda b: (b, "syntax", None), _SYNTAX_ERRORS))
    items = draw(st.lists(item, min_size=1, max_size=12))
    seps = draw(st.lists(st.sampled_from([b"\n", b" ", b"\r\n", b"\t", b" \n "]),
                         min_size=len(items), max_size=len(items)))
    return tag, items, seps


def _expected(items, seps):
    """What the server must answer, as (response type, content check) pairs."""
    logged = False
    skipping = False
    in_error_run = False   # errors with no value and no newline between them are one error
    out = []
    for (data, kind, detail), sep in zip(items, seps):
        run_ends = b"\n" in sep
        if skipping and not data.startswith(b"{"):
            in_error_run = in_error_run and not run_ends
            continue           # discarded while resynchronising after a syntax error
        skipping = False
        if kind == "syntax" or (kind == "bad" and not _is_utf8(data)):
            if not in_error_run:
                out.append(("error", None))
            in_error_run = not run_ends
            skipping = kind == "syntax"   # then skip to the next "{"
            continue
        in_error_run = False
        if kind == "help":
            out.append(("info", lambda c: HELP_MARK in c))
        elif kind == "names":
            out.append(("info", lambda c: c.startswith("Users online")) if logged else ("error", None))
        elif kind == "msg":
            out.append(("message", lambda c, t=detail: c == t) if logged else ("error", None))
        elif kind == "login":
            if logged:
                out.append(("error", lambda c: "already logged in" in c))
            else:
                out += [("info", lambda c: c == "Login successful"), ("history", None)]
                logged = True
        else:  # a value the core rejects
            out.append(("error", None))
    return out


def _is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mix=request_mixes(), cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8))
def test_fuzz_request_mixes_every_bad_payload_gets_an_error(fuzz_server, mix, cuts):
    tag, items, seps = mix
    data = b"".join(item[0] + sep for item, sep in zip(items, seps))
    expected = _expected(items, seps) + [("info", lambda c: HELP_MARK in c)]   # the sentinel
    peer = Peer(fuzz_server.port)
    try:
        _send_split(peer.sock, data + b'{"request": "help"}\n', cuts)
        got = [peer.reply() for _ in expected]
        for (kind, check), payload in zip(expected, got):
            assert payload["response"] == kind, (items, got)
            assert payload["sender"] == "server" or kind == "message", payload
            if check is not None:
                assert check(payload["content"]), (items, payload)
        assert not peer.buffer, bytes(peer.buffer[:200])
    finally:
        peer.rst()
    _probe(fuzz_server)


def _answers_for(data):
    """How many responses the server owes for a byte stream: one error for each
    framing error or decoded value that is not a request (the decoder is the
    definition of where complete payloads are)."""
    from chat.protocol import RequestError, parse_request
    from reactor.framing import FramingError, JsonStreamDecoder
    count, valid = 0, 0
    for item in JsonStreamDecoder().feed(data):
        if isinstance(item, FramingError):
            count += 1
            continue
        try:
            request = parse_request(item)
        except RequestError:
            count += 1
            continue
        valid += 1 if request.name in _KNOWN else 0
        count += 1
    return count, valid


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b" ", b"\n", b"1",
                              b"\x00", b"\xff", b"\xc3", b"n", b'"request"', b'"msg"', b'"content"']),
             max_size=80).map(b"".join)),
       cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8))
def test_fuzz_random_bytes_every_complete_bad_payload_gets_an_error(fuzz_server, data, cuts):
    count, valid = _answers_for(data)
    peer = Peer(fuzz_server.port)
    try:
        _send_split(peer.sock, data, cuts)
        peer.sock.shutdown(socket.SHUT_WR)    # the server answers what it has, then closes
        payloads = peer.until_closed()
    finally:
        peer.close()
    if not valid:
        assert [p["response"] for p in payloads] == ["error"] * count, (data, payloads)
    else:
        assert len([p for p in payloads if p["response"] == "error"]) <= count
    _probe(fuzz_server)


def test_fuzz_server_log_is_clean(fuzz_server):
    """Runs after the fuzz tests (file order): no exception escaped a callback."""
    _probe(fuzz_server)
    log = fuzz_server.log_text()
    assert not BAD_LOG.search(log), log[-5000:]
