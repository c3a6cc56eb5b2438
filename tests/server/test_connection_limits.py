"""Limits on connections, through real sockets against ``python3 -m
chat.server``: the login deadline (slowloris: trickled bytes and help do
not extend it, hundreds of tricklers do not slow a normal client), the
idle timeout, ``--max-clients`` and ``--max-per-ip`` (loopback exempt;
the per-address cap also uses another local address of this host, when
there is one: the traffic still never leaves the machine), connection
churn that leaks no names, sockets or memory, and file-descriptor
exhaustion (backs off without spinning, recovers).

Resource checks read the server's /proc (VmRSS, fds, CPU time). Where a
test needs time to pass (trickling bytes) it waits in ``poll()`` with a
timeout on its sockets; nothing sleeps to synchronise.
"""

import fcntl
import random
import socket
import struct
import time

import pytest

from stress_support import (Peer, Poller, Server, assert_server_works,  # noqa: F401 (fixture)
                            logged_in, servers, wait_until)
from support import HELP_MARK, TIMEOUT, assert_error, is_presence, request_bytes, uniq

pytestmark = pytest.mark.slow   # server processes


# -- the login deadline (slowloris) --------------------------------------------------------

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
    """A client that does not log in gets one error at the deadline and is
    closed; one that logged in meanwhile stays."""
    started = time.monotonic()
    peer = Peer(deadline_server.port)
    member = logged_in(deadline_server, uniq("member"))
    payloads = peer.until_closed(4.0)
    elapsed = time.monotonic() - started
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"login timeout")
    assert LOGIN_TIMEOUT - 0.2 <= elapsed < LOGIN_TIMEOUT + 1.5, elapsed
    assert member.name in member.request("names")["content"]
    member.close()


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


# -- the idle timeout ----------------------------------------------------------------------

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


# -- connection caps -----------------------------------------------------------------------

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
    # one that ends its input without a logout frees its place too
    admitted[1].sock.shutdown(socket.SHUT_WR)
    admitted[1].until_closed()
    latecomer = Peer(srv.port)
    assert HELP_MARK in latecomer.request("help")["content"]


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


def test_ipv4_mapped_loopback_is_exempt_from_max_per_ip(servers):
    """A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; from
    127.0.0.1 that is still loopback."""
    srv = servers("--rate", "0", "--max-per-ip", "2", host="::ffff:127.0.0.1")
    peers = [Peer(srv.port) for _ in range(4)]
    for peer in peers:
        reply = peer.request("help")
        assert reply["response"] == "info" and HELP_MARK in reply["content"], reply


# -- connection churn ----------------------------------------------------------------------

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


# -- file-descriptor exhaustion ------------------------------------------------------------

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
