"""The two benchmark baselines speak the protocol (PROTOCOL.md, section 3).

Each baseline runs as a subprocess on a free port; the tests talk to it over
real sockets with short timeouts and never sleep.
"""

import json
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from support import ROOT

pytestmark = pytest.mark.slow   # the baselines as server processes

SERVERS = ["bench.baselines.asyncio_server", "bench.baselines.threaded_server"]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\Z")
PRESENCE = re.compile(r".* (joined|left)\Z")
TIMEOUT = 3.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A test client with a small incremental newline-splitting reader."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, payload):
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
        self.sock.sendall(payload)

    def request(self, request, content=None):
        self.send({"request": request, "content": content})

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
            raise AssertionError(f"no response within {TIMEOUT}s; have {self.buf!r}")
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
        self.buf += data

    def recv(self, skip_presence=True):
        """The next response (presence notices skipped unless asked for)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\n" not in self.buf:
                if self.eof:
                    raise AssertionError(f"connection closed; have {self.buf!r}")
                self._fill(deadline)
            line, self.buf = self.buf.split(b"\n", 1)
            line.decode("ascii")            # ensure_ascii on the wire
            resp = json.loads(line)
            assert set(resp) == {"timestamp", "sender", "response", "content"}
            assert TIMESTAMP.match(resp["timestamp"]), resp
            if not (skip_presence and is_presence(resp)):
                return resp

    def expect(self, kind, content=None):
        resp = self.recv()
        assert resp["response"] == kind, resp
        if kind != "message":
            assert resp["sender"] == "server", resp
        if content is not None:
            assert resp["content"] == content, resp
        return resp

    def expect_error(self):
        return self.expect("error")

    def expect_closed(self):
        deadline = time.monotonic() + TIMEOUT
        while not self.eof:
            self._fill(deadline)
        assert all(is_presence(json.loads(l)) for l in self.buf.splitlines())

    def login(self, name):
        self.request("login", name)
        self.expect("info", "Login successful")
        return self.expect("history")["content"]

    def close(self):
        self.sock.close()


def is_presence(resp):
    return (resp["response"] == "info" and isinstance(resp["content"], str)
            and PRESENCE.match(resp["content"]) is not None)


class Server:
    def __init__(self, module):
        for _attempt in range(3):           # the free port may be taken again
            self.port = free_port()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, "--host", "127.0.0.1",
                 "--port", str(self.port), "--rate", "5"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if self._wait_ready():
                break
        else:
            raise AssertionError(f"{module} did not start: {self._output()}")
        self.clients = []

    def _wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                try:                        # waits a little, and sees a crash
                    self.proc.wait(timeout=0.02)
                    return False
                except subprocess.TimeoutExpired:
                    pass
        self.proc.kill()
        self.proc.wait()
        return False

    def _output(self):
        out, err = self.proc.communicate(timeout=5)
        return (out + err).decode(errors="replace")

    def client(self):
        c = Client(self.port)
        self.clients.append(c)
        return c

    def stop(self):
        """SIGTERM with clients still connected: exits 0, promptly, quietly."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            for c in self.clients:
                c.close()
        assert self.proc.returncode == 0, err.decode(errors="replace")
        assert out == b"" and b"Traceback" not in err, (out, err)


@pytest.fixture(params=SERVERS, ids=["asyncio", "threaded"])
def server(request):
    srv = Server(request.param)
    yield srv
    srv.stop()


def test_broadcast_history_names(server):
    alice, bob = server.client(), server.client()
    assert alice.login("alice") == []
    assert bob.login("Bob") == []
    alice.request("msg", "hello there")
    got = alice.expect("message", "hello there")
    assert got["sender"] == "alice"
    assert bob.expect("message", "hello there") == got
    bob.request("msg", "hi \u00e5 \U0001F600")
    second = bob.expect("message", "hi \u00e5 \U0001F600")
    assert alice.expect("message") == second
    carol = server.client()
    assert carol.login("carol") == [got, second]
    carol.request("names", "None")
    assert carol.expect("info")["content"] == "Users: alice, Bob, carol"


def test_logout_replies_then_closes(server):
    alice = server.client()
    alice.login("alice")
    alice.send(b'{"request": "logout", "content": null}'
               b'{"request": "help", "content": null}')
    alice.expect("info")
    alice.expect_closed()
    again = server.client()                 # the name is free again
    again.login("ALICE")


def test_bad_json_gets_error_and_connection_survives(server):
    c = server.client()
    c.send(b'{"request": nope}\n')
    assert "JSON" in c.expect_error()["content"]
    c.send(b'\xff\xfe{}\n')
    c.expect_error()
    c.send(b'[1, 2]\n')
    c.expect_error()
    c.request("help")
    assert "login" in c.expect("info")["content"]


def test_back_to_back_split_and_whitespace(server):
    c = server.client()
    stream = (b'{"request": "login", "content": "alice"}'
              b'{"request": "msg", "content": "bl\xc3\xa5"}\r\n\t '
              b'{"request": "names"}\n')
    c.send(stream[:5])
    c.send(stream[5:50])
    c.send(stream[50:71])                  # splits the two-byte UTF-8 char
    c.send(stream[71:])
    c.expect("info", "Login successful")
    c.expect("history", [])
    c.expect("message", "bl\u00e5")
    c.expect("info", "Users: alice")


def test_validation_errors(server):
    c, other = server.client(), server.client()
    for request, content in [("msg", "hi"), ("names", None), ("logout", None)]:
        c.request(request, content)
        assert "log in" in c.expect_error()["content"].lower()
    c.request("frobnicate")
    c.expect_error()
    for bad in ["", "a b", "x" * 33, "\u00e5se", 7, "Server"]:
        c.request("login", bad)
        c.expect_error()
    c.login("Alice")
    other.request("login", "aLiCe")
    assert "taken" in other.expect_error()["content"]
    c.request("login", "bob")
    c.expect_error()
    for bad in ["", "x" * 4097, None, ["list"]]:
        c.request("msg", bad)
        c.expect_error()
    c.request("msg", "x" * 4096)
    c.expect("message", "x" * 4096)
    c.send(b'{"request": "help", "content": ""}{"request": "help"}')
    c.expect("info")
    c.expect("info")


def test_presence_notices(server):
    alice = server.client()
    alice.login("alice")
    bob = server.client()
    bob.login("bob")
    bob.close()                             # abrupt disconnect
    notices = []
    while not notices or "bob left" not in notices[-1]:
        resp = alice.recv(skip_presence=False)
        assert is_presence(resp), resp
        notices.append(resp["content"])
    # One notice, or two if a flush fell between bob's join and his leave;
    # alice's own join may be named alongside bob's.
    assert len(notices) <= 2
    assert notices[0] in ("bob joined", "bob joined; bob left",
                          "alice and bob joined; bob left"), notices
    alice.request("names")
    assert alice.expect("info")["content"] == "Users: alice"


