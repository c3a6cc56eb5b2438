"""``ChatServer.admit`` in one process, with fake hosts: the per-address
cap (loopback exempt, IPv4-mapped loopback too), the overall cap, and the
slots ``forget`` frees. The same caps through real sockets are in
test_connection_limits.py.
"""

import re

import pytest

from chat.core import Session
from chat.server.app import ChatServer
from chat.server.config import ServerConfig
from reactor.loop import EventLoop


class FakeConnection(Session):
    """A session from ``host`` (all that admission looks at)."""

    def __init__(self, host):
        super().__init__()
        self.host = host


@pytest.fixture
def loop():
    loop = EventLoop()
    yield loop
    loop.close()


def test_admission_logic_in_process(loop):
    """ChatServer.admit with fake hosts: the per-address cap, loopback exempt,
    the overall cap, and slots freed by forget()."""
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


def test_ipv4_mapped_loopback_admission_in_process(loop):
    server = ChatServer(loop, ServerConfig(max_per_ip=1))
    for _ in range(3):
        assert server.admit(FakeConnection("::ffff:127.0.0.1")) is None
