"""Group commit in one process: a real loop, real socket pairs, a real
SQLite file. The test writes to the sockets and runs loop passes itself,
so it decides what happens within one pass."""

import json
import socket

import pytest

from chat.server.connection import ClientConnection
from chat.server.group_commit import NOT_STORED
from chat.server.store_setup import close_store
from chat.server.app import ChatServer
from chat.server.config import ServerConfig
from chat.store.sqlite import SqliteStore
from reactor.tcp import Transport

from loop_support import Loop


class Rig:
    def __init__(self, path, max_pages=0):
        self.loop = Loop()
        self.store = SqliteStore(path, 100, max_pages=max_pages)
        config = ServerConfig(login_timeout=0, rate=0, pace_ms=0, store_retry=0.0)
        self.server = ChatServer(self.loop, config, self.store)
        self.peers = {}

    def connect(self, name):
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        conn = ClientConnection(self.server, ("127.0.0.1", 5000 + len(self.peers)))
        Transport(self.loop, ours, conn).start()
        self.peers[name] = peer
        self.send(name, ("login", name))
        self.passes()
        self.read(name)
        return peer

    def send(self, name, *requests):
        self.peers[name].sendall(b"".join(
            json.dumps({"request": r, "content": c}).encode() + b"\n" for r, c in requests))

    def passes(self, count=3):
        for _ in range(count):
            self.loop.run_once()

    def read(self, name):
        """(payloads, whether the server closed the connection)."""
        data = b""
        while True:
            try:
                chunk = self.peers[name].recv(1 << 20)
            except BlockingIOError:
                return [json.loads(line) for line in data.splitlines()], False
            if not chunk:
                return [json.loads(line) for line in data.splitlines()], True
            data += chunk

    def close(self):
        close_store(self.server)
        for peer in self.peers.values():
            peer.close()
        self.loop.close()


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "chat.sqlite3")


def test_a_message_then_logout_in_one_read_arrive_in_order_then_close(db):
    rig = Rig(db)
    rig.connect("alice")
    rig.send("alice", ("msg", "last words"), ("logout", None), ("names", None))
    rig.passes()
    payloads, closed = rig.read("alice")
    assert [(p["response"], p["content"]) for p in payloads] == [
        ("message", "last words"), ("info", "Logged out. Bye, alice!")]
    assert closed
    rig.close()
    assert SqliteStore(db, 10).load().rooms[0][2][0][1].endswith(b'"last words"}\n')


def test_a_message_then_end_of_input_still_reaches_its_sender(db):
    rig = Rig(db)
    rig.connect("alice")
    rig.send("alice", ("msg", "bye"))
    rig.peers["alice"].shutdown(socket.SHUT_WR)
    rig.passes()
    payloads, closed = rig.read("alice")
    assert [p["content"] for p in payloads] == ["bye"] and closed
    rig.close()


def test_a_failed_commit_sends_nothing_that_was_not_stored(db):
    """A message that does not fit: its sender gets the error in its place,
    the others get nothing, and a history built in the same pass (the
    sender's own leave) is rebuilt without it. The server goes on."""
    rig = Rig(db, max_pages=1)
    rig.connect("alice")
    rig.connect("bob")
    rig.send("alice", ("join", "dev"))
    rig.passes()
    rig.read("alice")
    rig.read("bob")
    rig.send("alice", ("leave", None), ("msg", "\u00e9" * 2700), ("join", "dev"), ("leave", None))
    rig.passes()
    payloads, closed = rig.read("alice")
    assert [p["response"] for p in payloads] == ["info", "history", "error", "info", "history",
                                                 "info", "history"]
    assert payloads[2]["content"] == NOT_STORED
    assert payloads[-1]["content"] == [] and not closed
    others, _ = rig.read("bob")
    assert all(p["response"] == "info" for p in others)   # presence only
    rig.send("alice", ("msg", "small"))
    rig.passes()
    assert [p["content"] for p in rig.read("alice")[0]] == ["small"]
    assert [p["content"] for p in rig.read("bob")[0] if p["response"] == "message"] == ["small"]
    rig.close()
    [(key, _, messages)] = SqliteStore(db, 10).load().rooms
    assert key == "lobby" and len(messages) == 1
