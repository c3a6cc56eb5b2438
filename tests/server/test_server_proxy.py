"""The PROXY protocol over real sockets: tests speak from any address on
loopback, and the address a header gives is the one limits, bans and logs
use. Also issue 20's attack 1 end to end: one network registering as fast
as it can never fails another network's correct login."""

import ipaddress
import os
import socket
import struct
import time

import pytest

from chat.server.proxy_protocol import V2_SIGNATURE
from rooms_support import RoomClient, expect_error, expect_info
from support import TIMEOUT, make_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # server processes

SECRET = "correct-horse-battery"
OPER = "operator-password-0123"


def v1(host):
    family = "TCP6" if ":" in host else "TCP4"
    dest = "::1" if ":" in host else "127.0.0.1"
    return ("PROXY %s %s %s 40000 9998\r\n" % (family, host, dest)).encode()


def v2(host):
    address = ipaddress.ip_address(host)
    dest = ipaddress.ip_address("127.0.0.1")
    body = address.packed + dest.packed + struct.pack("!HH", 40000, 9998)
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, len(body)) + body


def from_(srv, host, header=v1, source="127.0.0.1"):
    """A client that the server sees as ``host`` (through a PROXY header)."""
    client = RoomClient.__new__(RoomClient)
    sock = socket.socket()
    sock.settimeout(TIMEOUT)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", srv.port))
    sock.sendall(header(host))
    client.sock, client.newline, client.buffer, client.closed = sock, True, b"", False
    return client


def logged_in(srv, name, host, header=v1):
    client = from_(srv, host, header)
    assert client.login(name)["response"] == "history"
    return client


def test_one_networks_registrations_never_fail_anothers_logins(make_server):
    """Attack 1. On main (no PROXY protocol) four sockets registering from
    one address made a user's correct logins from another fail 22 of 22
    times with "server busy" (see tests/core/test_core_attacks.py)."""
    srv = make_server("--rate", "0", "--proxy-protocol", "--max-per-ip", "0")
    alice = logged_in(srv, "alice", "198.51.100.20")
    expect_info(alice.request("register", SECRET), "now registered")
    alice.send("logout")
    alice.wait_closed()
    bots = [from_(srv, "203.0.113.%d" % (1 + i % 4)) for i in range(20)]   # 4 addresses
    for i, bot in enumerate(bots):
        bot.login("bot%d" % i)
    for bot in bots:
        bot.send("register", SECRET)   # 20 registrations in flight
    logins = []
    for attempt in range(5):
        owner = from_(srv, "198.51.100.%d" % (30 + attempt), header=v2)
        started = time.monotonic()
        logins.append((owner.request("login", "alice " + SECRET, timeout=10)["content"],
                       time.monotonic() - started))
        owner.close()
    assert [text for text, _ in logins] == ["Login successful"] * 5, logins
    answers = [bot.reply(timeout=10)["content"] for bot in bots]
    assert sum("now registered" in a for a in answers) == 5, answers   # one network: 5 an hour
    assert sum(a.startswith("too many registrations from your network, try again in ")
               for a in answers) == 15, answers


def test_bans_and_logs_use_the_address_from_the_header(make_server, tmp_path):
    secret = tmp_path / "oper"
    secret.write_text(OPER + "\n")
    os.chmod(secret, 0o600)
    srv = make_server("--rate", "0", "--proxy-protocol", "--oper-password-file", str(secret))
    op = logged_in(srv, "op", "198.51.100.1")
    expect_info(op.request("oper", OPER), "operator")
    mallory = logged_in(srv, "mallory", "203.0.113.66", header=v2)
    srv.wait_for_log(r"203\.0\.113\.66:\d+ logged in as mallory")
    expect_info(op.request("ban", "mallory spam"), "banned")
    mallory.wait_closed()
    expect_info(op.request("bans"), r"mallory from 203\.0\.113\.66 \(spam\) by op")
    again = from_(srv, "203.0.113.66")
    expect_error(again.request("login", "newcomer"), "you are banned: spam")
    other = from_(srv, "203.0.113.67")          # the same network, another address
    assert other.login("newcomer")["response"] == "history"


def test_a_malformed_or_untrusted_header_closes_with_a_log_line(make_server):
    srv = make_server("--proxy-protocol", "--trusted-proxies", "127.0.0.2/32")
    untrusted = from_(srv, "203.0.113.9")            # from 127.0.0.1: not a trusted proxy
    assert untrusted.wait_closed() == []
    srv.wait_for_log(r"closed: a PROXY header from a peer that is not a trusted proxy")
    garbage = from_(srv, "x", header=lambda _host: b"PROXY TCP4 nonsense\r\n",
                    source="127.0.0.2")
    assert garbage.wait_closed() == []
    srv.wait_for_log(r"closed: malformed PROXY v1 header")
    direct = RoomClient(srv.port)                     # a direct client, no header
    assert direct.login("direct")["response"] == "history"
    trusted = from_(srv, "203.0.113.9", source="127.0.0.2")
    assert trusted.login("proxied")["response"] == "history"
    srv.wait_for_log(r"203\.0\.113\.9:\d+ logged in as proxied")
