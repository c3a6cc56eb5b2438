"""Python 2.7 for the tests that run the course-skeleton style peers
(tests/peers/*27.py), and the naive 2.7 client as a subprocess.

Python 2.7 is found with ``pyenv prefix 2.7.18``; without it the tests
that need it skip (or leave the 2.7 peer out), saying why.
"""

import functools
import json
import os
import select
import subprocess
import time

import pytest

from support import ROOT, TIMEOUT

PEER = os.path.join(ROOT, "tests", "peers", "skeleton_client27.py")


@pytest.fixture
def peers():
    """Started peer processes; killed after the test if still running."""
    started = []
    yield started
    for peer in started:
        if peer.proc.poll() is None:
            peer.proc.kill()
        peer.proc.wait()


class Peer:
    """The 2.7 client as a subprocess; its stdout read as JSON lines."""

    def __init__(self, python, port, *args):
        self.proc = subprocess.Popen(
            [python, PEER, "127.0.0.1", str(port), *map(str, args)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            bufsize=0)
        self.buffer = b""
        self.events = []
        self._stderr = None

    def event(self, timeout=TIMEOUT):
        """The next line the peer printed, decoded."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise AssertionError("peer printed nothing within %ss; stderr:\n%s"
                                     % (timeout, self.stderr()))
            data = os.read(fd, 65536)
            if not data:
                raise AssertionError("peer exited (status %s); stderr:\n%s"
                                     % (self.proc.wait(TIMEOUT), self.stderr()))
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        event = json.loads(line)
        self.events.append(event)
        return event

    def payload(self, timeout=TIMEOUT):
        event = self.event(timeout)
        assert event["event"] == "recv", event
        return event["payload"]

    def stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        if self._stderr is None:
            self._stderr = self.proc.stderr.read().decode("utf-8", "replace")
        return self._stderr

    def finish(self, timeout=TIMEOUT):
        """Read the remaining events and the exit status."""
        while True:
            try:
                self.event(timeout)
            except AssertionError:
                break
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("peer did not exit")
        return status, self.stderr()


def start_peer(peers, python, srv, *args):
    peer = Peer(python, srv.port, *args)
    peers.append(peer)
    return peer


def received(events):
    return [e["payload"] for e in events if e["event"] == "recv"]


@functools.lru_cache(maxsize=None)
def find_python27():
    """(path to pyenv's Python 2.7.18, None) or (None, why not): asked of
    pyenv once per session, and checked to run as 2.7."""
    try:
        found = subprocess.run(["pyenv", "prefix", "2.7.18"], capture_output=True,
                               text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, "Python 2.7 not available: 'pyenv prefix 2.7.18' failed (%s)" % exc
    if found.returncode != 0:
        return None, ("Python 2.7 not available: 'pyenv prefix 2.7.18' says %s"
                      % (found.stderr.strip() or found.returncode))
    exe = os.path.join((found.stdout.strip().splitlines() or [""])[-1], "bin", "python")
    if not os.access(exe, os.X_OK):
        return None, "Python 2.7 not available: %s is not executable" % exe
    version = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    if version.stdout.strip() != "2.7":
        return None, "Python 2.7 not available: %s is %r" % (exe, version.stdout.strip())
    return exe, None


def require_python27():
    """The 2.7 interpreter's path, or skip the test saying why there is none."""
    exe, why = find_python27()
    if exe is None:
        pytest.skip(why)
    return exe


@pytest.fixture(scope="module")
def python27():
    return require_python27()

