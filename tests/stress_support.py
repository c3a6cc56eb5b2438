"""A server process watched from outside and clients that misbehave, for
the tests of the server under stress (slow consumers, floods, slowloris,
churn, fd exhaustion, garbage, fuzzing, shutdown under load).

Every server is a ``python -m chat.server`` subprocess (``Server``: a
thread drains its stderr, so a chatty log never blocks it; its memory, fds
and CPU time read from /proc; it must exit 0 on SIGTERM with no traceback
in its log). ``Peer`` is a client that survives resets, skips presence
notices on request and can be driven from a ``Poller`` loop without
blocking. Tests wait for log lines, bytes or EOF, always with a deadline.
"""

import json
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from support import ROOT, TIMEOUT, Client, ServerProcess, is_presence, request_bytes, uniq

LOCALHOST = "127.0.0.1"
BAD_LOG = re.compile(r"Traceback|unhandled error|error in ")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024


# -- the server process --------------------------------------------------------------

class Server(ServerProcess):
    """``support.ServerProcess`` with a thread draining stderr, an optional
    RLIMIT_NOFILE for the child, and readings of the child's /proc."""

    def __init__(self, *args, nofile=None, host=LOCALHOST):
        preexec = None
        if nofile is not None:
            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        cmd = [sys.executable, "-u", "-m", "chat.server", "--host", host, "--port", "0", *args]
        self.host = host
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=preexec)
        self.pid = self.proc.pid
        self.log_lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()
        line = self.wait_for_log(r"listening on \S+:(\d+)")
        self.port = int(re.search(r"listening on \S+:(\d+)", line).group(1))

    def _drain(self):
        for raw in self.proc.stderr:
            with self.cond:
                self.log_lines.append(raw.decode("utf-8", "replace"))
                self.cond.notify_all()
        with self.cond:
            self.log_lines.append("")   # end of log marker (empty: matches nothing useful)
            self.cond.notify_all()

    def wait_for_log(self, pattern, timeout=TIMEOUT, count=1):
        """Wait until ``count`` lines match ``pattern``; return the last of them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen, found = 0, 0
        with self.cond:
            while True:
                for line in self.log_lines[seen:]:
                    if line and regex.search(line):
                        found += 1
                        if found >= count:
                            return line
                seen = len(self.log_lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self.thread.is_alive()):
                    break
                self.cond.wait(remaining)
        raise AssertionError("server logged %r %d times, not %d, within %ss; log tail:\n%s"
                             % (pattern, found, count, timeout, self.log_tail()))

    def wait_log_activity(self, timeout):
        """Block until the server logs anything new, or ``timeout`` passes."""
        with self.cond:
            n = len(self.log_lines)
            self.cond.wait_for(lambda: len(self.log_lines) > n, timeout)

    def count_log(self, pattern):
        regex = re.compile(pattern)
        with self.cond:
            return sum(1 for line in self.log_lines if regex.search(line))

    def log_text(self):
        with self.cond:
            return "".join(self.log_lines)

    def log_tail(self, lines=40):
        with self.cond:
            return "".join(self.log_lines[-lines:])

    def read_log(self):
        return self.log_text()

    # -- /proc ---------------------------------------------------------------

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for the server")

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # after the command: state(0) ... utime(11) stime(12)
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    # -- stopping ------------------------------------------------------------

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not exit within %ss of signal %s; log tail:\n%s"
                                 % (timeout, sig, self.log_tail()))
        self.thread.join(TIMEOUT)
        return status

    def check_clean_exit(self):
        status = self.stop()
        log = self.log_text()
        assert status == 0, "server exited %s; log tail:\n%s" % (status, self.log_tail())
        bad = [line for line in log.splitlines() if BAD_LOG.search(line)]
        assert not bad, "server log shows errors:\n%s" % log[-5000:]


@pytest.fixture
def servers():
    """``servers(*args, **kw)`` starts a server; each must exit 0, cleanly."""
    started = []

    def start(*args, **kwargs):
        srv = Server(*args, **kwargs)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.check_clean_exit()


# -- clients ----------------------------------------------------------------------------

class Peer(Client):
    """``support.Client`` that survives resets, skips presence notices on
    request and can be driven without blocking from a poll loop."""

    def __init__(self, port, host=LOCALHOST, newline=True, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.newline = newline
        self.buffer = bytearray()
        self._scanned = 0
        self.closed = False
        self.reset = False

    def fileno(self):
        return self.sock.fileno()

    def send_raw(self, data):
        self.sock.settimeout(TIMEOUT)
        self.sock.sendall(data)

    def _read_some(self, timeout):
        """One recv (waiting at most ``timeout``); False on timeout."""
        if self.closed:
            raise AssertionError("connection closed; buffered %r" % bytes(self.buffer[:200]))
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.reset = True
            data = b""
        if not data:
            self.closed = True
        self.buffer += data
        return True

    def _next_line(self):
        """The next complete line, or None (scanning each byte once)."""
        at = self.buffer.find(b"\n", self._scanned)
        if at < 0:
            self._scanned = len(self.buffer)
            return None
        line = bytes(self.buffer[:at])
        del self.buffer[:at + 1]
        self._scanned = 0
        return line

    def recv(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line()
            if line is not None:
                return json.loads(line)
            if self.closed:
                raise AssertionError("connection closed; buffered %r" % bytes(self.buffer[:200]))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no payload within %ss; buffered %r"
                                     % (timeout, bytes(self.buffer[:200])))
            self._read_some(remaining)

    def pump(self):
        """For poll loops: read what is there (the socket is readable); return
        the complete payloads. Sets ``closed`` at EOF or reset."""
        self._read_some(0.001)
        payloads = []
        while True:
            line = self._next_line()
            if line is None:
                return payloads
            payloads.append(json.loads(line))

    def until_closed(self, timeout=TIMEOUT):
        """Read to EOF (or reset); the payloads before it, presence notices dropped."""
        deadline = time.monotonic() + timeout
        payloads = []
        while not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("still open after %ss; got %r" % (timeout, payloads))
            self._read_some(remaining)
            line = self._next_line()
            while line is not None:
                payloads.append(json.loads(line))
                line = self._next_line()
        return [p for p in payloads if not is_presence(p)]

    def rst(self):
        """Close abruptly: RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def fill_history(peer, texts, window=10):
    """Send ``msg`` for each text, reading the echoes as we go: a client
    that pipelines megabytes without reading is (rightly) paused."""
    for start in range(0, len(texts), window):
        peer.send_raw(b"".join(request_bytes("msg", text) for text in texts[start:start + window]))
        for _ in texts[start:start + window]:
            peer.expect("message")


def logged_in(srv, name, **kwargs):
    client = Peer(srv.port, host=srv.host, **kwargs)
    client.name = name
    client.login(name)
    return client


def assert_server_works(srv):
    """A fresh client logs in, chats, lists names and logs out, promptly."""
    name = uniq("fresh")
    client = logged_in(srv, name)
    try:
        echo = client.request("msg", "still alive?")
        assert echo["response"] == "message" and echo["sender"] == name, echo
        assert echo["content"] == "still alive?"
        names = client.request("names")
        assert names["response"] == "info" and name in names["content"], names
        assert client.request("logout")["response"] == "info"
        assert client.until_closed() == []
    finally:
        client.close()


class Poller:
    """``select.poll`` over Peers (no FD_SETSIZE limit)."""

    def __init__(self, peers=()):
        self.poll = select.poll()
        self.by_fd = {}
        for peer in peers:
            self.add(peer)

    def add(self, peer):
        self.by_fd[peer.fileno()] = peer
        self.poll.register(peer.fileno(), select.POLLIN)

    def remove(self, peer):
        fd = peer.fileno()
        if fd in self.by_fd:
            del self.by_fd[fd]
            self.poll.unregister(fd)

    def wait(self, timeout):
        """The readable peers, waiting at most ``timeout`` seconds."""
        events = self.poll.poll(max(0, timeout) * 1000)
        return [self.by_fd[fd] for fd, _ in events if fd in self.by_fd]


def wait_until(srv, predicate, timeout, what):
    """Re-check ``predicate`` whenever the server logs, at least every 50 ms."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %ss; log tail:\n%s" % (what, timeout, srv.log_tail()))
        srv.wait_log_activity(0.05)


# == slow consumers ==========================================================================


def read_payloads(peer, until, timeout=TIMEOUT):
    """Read payloads until ``until(payload)`` is true; return them all."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        payload = peer.recv(max(0.01, deadline - time.monotonic()))
        got.append(payload)
        if until(payload):
            return got
