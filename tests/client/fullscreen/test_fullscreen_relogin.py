"""Issue 23, reconnection: the name still held by the dead session.

The connection is cut on the client's side only (a proxy of the test's
closes the client's socket and keeps the server's open, silent), as when a
network path dies and the server has not noticed yet: the server still
holds alice's session, so the reconnection's ``login alice`` gets
"Username taken". The client must retry with its backoff, saying once that
it waits for the name, and get back in under its own name when the server
lets the old session go (here: the proxy closes it, as an idle timeout or
TCP's own timeout would), rejoin its room and show what it missed once.
"""

import select
import socket
import threading

import pytest

from chat.client.relogin import RELOGIN_ATTEMPTS, NameWait, name_held
from peers.fake_server import FakeServer, response
from support import TIMEOUT, Client, ServerProcess
from terminal_support import logged_in, terminal  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # a server process and a client in a pty

WAITING = "still held by the old connection"


class CutProxy:
    """Relays connections on ``port`` to ``target_port``: test threads, one
    accepting, one per connection, each looking at its flags every ``TICK``.
    ``cut`` closes the client's side of every connection and keeps the
    server's side open and silent until ``release``. ``logins`` counts the
    login requests relayed."""

    TICK = 0.05

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.logins = 0
        self.accepted = 0
        self.relays = []            # [client, upstream, cut requested, cut done]
        self.stale = []             # server sides kept open after a cut
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with self.listener:
            while not self.closed:
                if not select.select([self.listener], [], [], self.TICK)[0]:
                    continue
                client, _ = self.listener.accept()
                self.accepted += 1
                upstream = socket.create_connection(("127.0.0.1", self.target_port), TIMEOUT)
                relay = [client, upstream, threading.Event(), threading.Event()]
                self.relays.append(relay)
                threading.Thread(target=self._relay, args=(relay,), daemon=True).start()

    def _relay(self, relay):
        client, upstream, cut, done = relay
        other = {client: upstream, upstream: client}
        while not self.closed:
            if cut.is_set():
                client.close()
                self.stale.append(upstream)
                done.set()
                return
            for sock in select.select(list(other), [], [], self.TICK)[0]:
                try:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("closed")
                    if sock is client:
                        self.logins += data.count(b'"request": "login"')
                    other[sock].sendall(data)
                except OSError:
                    client.close()
                    upstream.close()
                    return

    def cut(self):
        for relay in list(self.relays):
            relay[2].set()
        for relay in list(self.relays):
            assert relay[3].wait(TIMEOUT)
        self.relays = [r for r in self.relays if not r[3].is_set()]

    def release(self):
        """The server's side of the cut connections closes: the server frees the names."""
        for sock in self.stale:
            sock.close()
        self.stale = []

    def wait_for_logins(self, count):
        done = threading.Event()
        for _ in range(int(TIMEOUT / self.TICK)):
            if self.logins >= count:
                return
            done.wait(self.TICK)
        raise AssertionError("only %d logins relayed" % self.logins)

    def close(self):
        self.closed = True
        self.release()


def _taken(name="alice"):
    return {"timestamp": "t", "sender": "server", "response": "error",
            "content": "Username taken: %s is already logged in" % name}


def test_the_rule_for_a_name_still_held():
    assert name_held(_taken())
    assert name_held(dict(_taken(), content="Username taken"))          # peers say it short
    assert not name_held(dict(_taken(), content="you are banned: spam"))
    assert not name_held({"response": "info", "content": "Username taken"})
    wait = NameWait(delay=1.0, limit=4.0, attempts=3)
    assert [wait.next_delay() for _ in range(4)] == [1.0, 2.0, 4.0, None]   # bounded


@pytest.mark.parametrize("login_timeout, tries", [
    ("60", 3),   # the first refusal and two retries, on one connection
    ("1", 6),    # waits past the server's login timeout: it closes, the client goes on
])
def test_reconnection_waits_for_its_name_and_gets_back_in(terminal, login_timeout, tries):
    srv = ServerProcess("--rate", "0", "--login-timeout", login_timeout)
    proxy = CutProxy(srv.port)
    bob = None
    try:
        term = terminal(proxy.port, "--reconnect-delay", "0.1", "--reconnect-max", "0.3",
                        columns=80, lines=30)
        logged_in(term, "alice")
        term.type("join #dev\r")
        term.wait_for(r"Joined #dev")
        bob = Client(srv.port)
        bob.login("bob")
        bob.request("join", "#dev")
        bob.send("msg", "before the cut")
        term.wait_for(r"bob: before the cut")
        logins, connections = proxy.logins, proxy.accepted
        proxy.cut()
        term.wait_for(WAITING)
        bob.send("msg", "while you were cut off")
        proxy.wait_for_logins(logins + tries)
        if login_timeout == "1":                 # the server closed one we waited on
            assert proxy.accepted >= connections + 2
        proxy.release()
        term.wait_for(lambda t: "while you were cut off" in t.text
                      and "| alice | #dev" in t.status_row)
        text = term.text
        assert text.count("before the cut") == 1, text
        assert text.count("while you were cut off") == 1, text
        assert text.count(WAITING) == 1, text          # one status line, not one per try
        assert "Username taken" not in text, text
        term.type("back\r")
        term.wait_for(r"alice: back")
        assert bob.expect("message", skip=("info", "history"))["content"] == "before the cut"   # bob's own
        assert bob.expect("message", skip=("info", "history"))["content"] == "while you were cut off"
        back = bob.expect("message", skip=("info", "history"))
        assert (back["sender"], back["content"]) == ("alice", "back")
    finally:
        if bob is not None:
            bob.close()
        proxy.close()
        srv.stop()


def fake_that_logs_in_once(refusal):
    """A fake server whose first connection's login succeeds and is then
    closed unasked (the client reconnects); every later login gets
    ``error`` ``refusal(name)``."""
    def script(conn):
        first = len(fake.conns) == 1
        while True:
            request = conn.recv()
            if request is None:
                return
            if request["request"] != "login":
                conn.send(response("error", "not logged in"))
            elif first:
                conn.send(response("info", "Login successful"))
                conn.send(response("history", []))
                return              # closed unasked: the client reconnects
            else:
                conn.send(response("error", refusal(request["content"])))

    fake = FakeServer(script)
    return fake


def taken(name):
    return "Username taken: %s is already logged in" % name


def test_reconnection_gives_up_on_a_name_never_freed(terminal):
    """A server that never lets the name go: a bounded number of tries,
    then the server's error and a way out, never another name."""
    fake = fake_that_logs_in_once(taken)
    try:
        term = terminal(fake.port, "--reconnect-delay", "0.01", "--reconnect-max", "0.02",
                        columns=80, lines=24)
        term.wait_for(r"-- connected to")
        term.type("login alice\r")
        term.wait_for(r"gave up waiting for the name alice")
        logins = [r for r in fake.requests if r["request"] == "login"]
        assert [r["content"] for r in logins] == ["alice"] * (2 + RELOGIN_ATTEMPTS)
        assert term.text.count(WAITING) == 1
        assert "Username taken" in term.text            # the last refusal, as it is
    finally:
        fake.close()


def test_a_refusal_for_another_reason_ends_the_wait_for_the_name(terminal):
    """The reconnection's login is refused for something else (a ban): a
    later "Username taken" for another name the user tries is that refusal,
    shown as it is, never taken for the old session holding a name."""
    fake = fake_that_logs_in_once(
        lambda name: "you are banned: spam" if name == "alice" else taken(name))
    try:
        term = terminal(fake.port, "--reconnect-delay", "0.01", "--reconnect-max", "0.02",
                        columns=80, lines=24)
        term.wait_for(r"-- connected to")
        term.type("login alice\r")
        term.wait_for(r"you are banned: spam")
        term.type("login carol\r")
        term.wait_for(r"Username taken: carol is already logged in")
        logins = [r["content"] for r in fake.requests if r["request"] == "login"]
        assert logins == ["alice", "alice", "carol"]
        assert WAITING not in term.text
    finally:
        fake.close()
