"""Shared test helpers: a server subprocess and a line-reading test client.

Everything waits for an event with a deadline; nothing sleeps to
synchronise.
"""

import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import weakref

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 5.0
HELP_MARK = "login <"   # the help text lists login with its argument
# "alice joined", "alice and bob joined; carol left", "a, b, c and 17 others left"
_NAMES = r"[A-Za-z0-9]+(?:(?:, | and )[A-Za-z0-9]+)*(?: and \d+ others)?"
PRESENCE = re.compile(r"(?:(?P<joined>%s) joined)?(?:; )?(?:(?P<left>%s) left)?\Z" % (_NAMES, _NAMES))


def is_presence(payload):
    """Whether ``payload`` is a presence notice (an ``info`` naming who
    joined or left)."""
    content = payload.get("content")
    return (payload.get("response") == "info" and isinstance(content, str) and content != ""
            and bool(PRESENCE.match(content)))


def request_bytes(request, content=None, newline=True, **extra):
    """One request on the wire (``extra``: more keys)."""
    payload = {"request": request, "content": content}
    payload.update(extra)
    return json.dumps(payload).encode() + (b"\n" if newline else b"")


def read_to_end(sock):
    """Every byte ``sock`` receives until the peer hangs up."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


_names = itertools.count(1)


def uniq(prefix="user"):
    """A username no other test of the session uses."""
    return "%s%d" % (prefix, next(_names))


def assert_error(payload, pattern=""):
    """``payload`` is an error from the server matching ``pattern`` (any case)."""
    assert payload["response"] == "error", payload
    assert payload["sender"] == "server", payload
    assert re.search(pattern, payload["content"], re.I), payload
    return payload


class ServerProcess:
    """``python3 -m chat.server`` on a free port, logging to a pipe."""

    running = weakref.WeakSet()   # every one started (``wait_for_news`` reads their logs)

    def __init__(self, *args, python=sys.executable, module="chat.server"):
        cmd = [python, "-u", "-m", module, "--host", "127.0.0.1", "--port", "0", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ServerProcess.running.add(self)
        self.log_lines = []
        self._partial = b""
        line = self.wait_for_log(r"listening on [^:]+:(\d+)")
        self.port = int(re.search(r"listening on [^:]+:(\d+)", line).group(1))

    def wait_for_log(self, pattern, timeout=TIMEOUT):
        """Read stderr until a line matches ``pattern``; return that line.

        Reads the pipe's file descriptor directly: a buffered reader could
        hold a second line that ``select`` then never reports.
        """
        for line in self.log_lines:
            if re.search(pattern, line):
                return line
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
            if not ready:
                break
            lines = self._read_pipe()
            if lines is None:
                break
            for line in lines:
                if re.search(pattern, line):
                    return line
        raise AssertionError("server never logged %r; log so far:\n%s"
                             % (pattern, "".join(self.log_lines)))

    def _read_pipe(self):
        """Read what the log pipe holds (it is readable); keep every whole
        line (a later wait may look for any of them) and return the new
        ones, or None at end of file."""
        data = os.read(self.proc.stderr.fileno(), 65536)
        if not data:
            return None
        self._partial += data
        *lines, self._partial = self._partial.split(b"\n")
        lines = [raw.decode("utf-8", "replace") + "\n" for raw in lines]
        self.log_lines.extend(lines)
        return lines

    def read_log(self):
        """Everything the server logged so far (after it has exited)."""
        rest = b""
        if self.proc.poll() is not None:
            rest = self._partial + self.proc.stderr.read()
            self._partial = b""
        return "".join(self.log_lines) + rest.decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        """Send ``sig`` and return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not exit within %ss of signal %s" % (timeout, sig))

    def connect(self, **kwargs):
        return Client(self.port, **kwargs)


def wait_for_news(timeout):
    """Wait until a running server logs something (its state changed: a
    connection to Redis made or lost, a node gone...), at most ``timeout``
    seconds; read it (which also keeps its log pipe from filling). For a
    test that retries an attempt until the servers let it succeed."""
    servers = {server.proc.stderr.fileno(): server for server in list(ServerProcess.running)
               if server.proc.poll() is None}
    ready, _, _ = select.select(list(servers), [], [], timeout)
    for fd in ready:
        servers[fd]._read_pipe()


class Client:
    """A test client that reads newline-delimited payloads with timeouts."""

    def __init__(self, port, host="127.0.0.1", newline=True):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.newline = newline
        self.buffer = b""
        self.closed = False

    def send(self, request, content=None, **extra):
        payload = {"request": request, "content": content}
        payload.update(extra)
        self.send_raw(json.dumps(payload).encode() + (b"\n" if self.newline else b""))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=TIMEOUT):
        """The next payload (a dict); AssertionError if none arrives in time."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no payload within %ss; buffered %r" % (timeout, self.buffer[:200]))
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                self.closed = True
                raise AssertionError("connection closed; buffered %r" % self.buffer[:200])
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def expect(self, response, timeout=TIMEOUT, skip=("info",)):
        """Next payload of type ``response``, skipping presence ``info`` notices."""
        deadline = time.monotonic() + timeout
        while True:
            payload = self.recv(max(0.01, deadline - time.monotonic()))
            if payload["response"] == response:
                return payload
            if payload["response"] not in skip:
                raise AssertionError("expected %s, got %r" % (response, payload))

    def reply(self, timeout=TIMEOUT):
        """The next payload that is not a presence notice."""
        deadline = time.monotonic() + timeout
        while True:
            payload = self.recv(max(0.01, deadline - time.monotonic()))
            if not is_presence(payload):
                return payload

    def request(self, request, content=None, timeout=TIMEOUT, **extra):
        """Send one request and return its reply (presence notices skipped)."""
        self.send(request, content, **extra)
        return self.reply(timeout)

    def help_sentinel(self, timeout=TIMEOUT):
        """Send ``help``; return every reply before its answer (presence
        notices dropped): what the requests sent before it got."""
        self.send("help")
        before = []
        while True:
            payload = self.reply(timeout)
            if payload["response"] == "info" and HELP_MARK in payload["content"]:
                return before
            before.append(payload)

    def login(self, name):
        self.send("login", name)
        info = self.expect("info")
        assert info["content"] == "Login successful", info
        return self.expect("history")

    def wait_closed(self, timeout=TIMEOUT):
        """Read until EOF; return the payloads that came before it."""
        payloads = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                payloads.append(self.recv(max(0.01, deadline - time.monotonic())))
            except AssertionError:
                if self.closed:
                    return payloads
                raise

    def close(self):
        self.sock.close()


def started(start, finish=lambda thing: thing.close()):
    """The body of a fixture that starts things for one test: yields a
    function that calls ``start`` and keeps what it returns, then
    ``finish``es each of them after the test (``yield from started(...)``)."""
    things = []

    def run(*args, **kwargs):
        things.append(start(*args, **kwargs))
        return things[-1]
    yield run
    for thing in things:
        finish(thing)


def _stopped_cleanly(srv):
    assert srv.stop() == 0, srv.read_log()


@pytest.fixture
def make_server():
    """``make_server(*args, env=None)``: a fresh server (``env`` adds
    environment variables), stopped after the test; each must exit 0."""
    def start(*args, env=None):
        saved = dict(os.environ)
        os.environ.update(env or {})
        try:
            return ServerProcess(*args)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    yield from started(start, _stopped_cleanly)

