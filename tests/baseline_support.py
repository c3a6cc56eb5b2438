"""Talking to a benchmark baseline server over real sockets, with deadlines.

``Server`` runs one as a subprocess on a free port (any command line: the
Python baselines or the C ceiling); ``Client`` reads its newline-ended
responses with short timeouts and never sleeps.
"""

import json
import re
import select
import signal
import socket
import subprocess
import sys
import time

from support import ROOT

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


def python_baseline(module):
    """The command line of a Python baseline (flood control at 5/s)."""
    return [sys.executable, "-m", module, "--rate", "5"]


class Server:
    def __init__(self, command):
        for _attempt in range(3):           # the free port may be taken again
            self.port = free_port()
            self.proc = subprocess.Popen(
                command + ["--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if self._wait_ready():
                break
        else:
            raise AssertionError(f"{command} did not start: {self._output()}")
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
        return err
