"""Interop with a naive Python 2.7 peer client (PROTOCOL.md sections 2 and 3).

``tests/peers/skeleton_client27.py`` is written like the course skeleton and
most published clients: ``sendall(json.dumps(payload))`` with no delimiter
and ``json.loads(sock.recv(4096))``, one read per expected payload. It
crashes on "Extra data" when two payloads share a read, so it passing
against our server (default pacing) shows the pacing works for real peers.

Python 2.7 is found with ``pyenv prefix 2.7.18``; without it the tests skip.
"""

import json
import os
import select
import subprocess
import time

import pytest

from support import ROOT, TIMEOUT, Client, ServerProcess

PEER = os.path.join(ROOT, "tests", "peers", "skeleton_client27.py")


@pytest.fixture(scope="module")
def python27():
    try:
        found = subprocess.run(["pyenv", "prefix", "2.7.18"], capture_output=True,
                               text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip("Python 2.7 not available: 'pyenv prefix 2.7.18' failed (%s)" % exc)
    if found.returncode != 0:
        pytest.skip("Python 2.7 not available: 'pyenv prefix 2.7.18' says %s"
                    % (found.stderr.strip() or found.returncode))
    exe = os.path.join(found.stdout.strip().splitlines()[-1], "bin", "python")
    if not os.access(exe, os.X_OK):
        pytest.skip("Python 2.7 not available: %s is not executable" % exe)
    version = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    if version.stdout.strip() != "2.7":
        pytest.skip("Python 2.7 not available: %s is %r" % (exe, version.stdout.strip()))
    return exe


@pytest.fixture
def make_server():
    servers = []

    def make(*args):
        srv = ServerProcess(*args)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        status = srv.stop()
        assert status == 0, srv.read_log()


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


def test_skeleton_client_session(python27, make_server, peers):
    srv = make_server()   # default pacing
    peer = start_peer(peers, python27, srv, "session", "oldtimer")
    status, stderr = peer.finish()
    assert status == 0, stderr
    assert [e["event"] for e in peer.events][-2:] == ["closed", "done"]
    payloads = received(peer.events)
    assert [p["response"] for p in payloads] == ["info", "history", "message", "info",
                                                 "info", "info"], payloads
    info, history, message, names, help_, bye = payloads
    assert info["content"] == "Login successful"
    assert history["content"] == []
    assert message["sender"] == "oldtimer" and message["content"] == "hello from 2.7 \u00e5"
    assert "oldtimer" in names["content"]
    for request in ("login", "logout", "msg", "names", "help"):
        assert request in help_["content"]
    assert "log" in bye["content"].lower()
    for payload in payloads:
        assert isinstance(payload["timestamp"], str) and payload["sender"]


def _chat_with_peer(python27, srv, peers, lockstep, burst):
    """alice and bob (Python 3) chat while carl (the 2.7 peer) reads.

    ``lockstep`` messages go one at a time, the next once carl printed the
    last; then alice and bob each send ``burst // 2`` in one write, so
    ``burst`` messages queue up for carl at once and only the pacing keeps
    them in reads of their own.
    """
    alice = Client(srv.port)
    bob = Client(srv.port)
    try:
        alice.login("alice")
        bob.login("bob")
        alice.send("msg", "said before you came \u00e6")
        for client in (alice, bob):
            assert client.expect("message")["content"] == "said before you came \u00e6"
        peer = start_peer(peers, python27, srv, "chat", "carl", lockstep + burst)
        assert peer.payload()["content"] == "Login successful"
        history = peer.payload()
        assert history["response"] == "history"
        assert [(m["sender"], m["content"]) for m in history["content"]] == [
            ("alice", "said before you came \u00e6")]

        sent = []
        # one message at a time, the next once the peer has printed the last
        for i in range(lockstep):
            speaker, name = ((alice, "alice"), (bob, "bob"))[i % 2]
            text = "turn %d from %s: bl\u00e5b\u00e6r \U0001F600" % (i, name)
            speaker.send("msg", text)
            sent.append((name, text))
            while True:
                payload = peer.payload()
                if payload["response"] == "message":
                    assert (payload["sender"], payload["content"]) == (name, text)
                    break
                assert payload["response"] == "info", payload   # a presence notice
        # then both talk at once: several messages queued for the peer
        for speaker, name in ((alice, "alice"), (bob, "bob")):
            texts = ["%s burst %d" % (name, j) for j in range(burst // 2)]
            if not texts:
                continue
            speaker.send_raw(b"".join(json.dumps({"request": "msg", "content": t}).encode() + b"\n"
                                      for t in texts))
            sent.extend((name, t) for t in texts)
        status, stderr = peer.finish()
        assert status == 0, stderr
        messages = [(p["sender"], p["content"]) for p in received(peer.events)
                    if p["response"] == "message"]
        assert sorted(messages) == sorted(sent)
        assert messages[:lockstep] == sent[:lockstep]
        for name in ("alice", "bob"):   # each speaker's messages in order
            assert [m for m in messages if m[0] == name] == [m for m in sent if m[0] == name]
        assert [e["event"] for e in peer.events][-2:] == ["closed", "done"]
        # the Python 3 users saw all of it too
        for client in (alice, bob):
            seen = []
            while len(seen) < len(sent):
                payload = client.expect("message")
                seen.append((payload["sender"], payload["content"]))
            assert sorted(seen) == sorted(sent)
    finally:
        alice.close()
        bob.close()


def test_skeleton_client_reads_a_chat(python27, make_server, peers):
    """Default pacing; alice and bob take turns, so at most one message is in
    flight to the peer and the test does not depend on how fast the peer
    process is scheduled (only its login's info/history gap does)."""
    _chat_with_peer(python27, make_server(), peers, lockstep=10, burst=0)


def test_skeleton_client_reads_a_burst(python27, make_server, peers):
    """Messages queued for the peer at once each arrive in a read of their own.

    The pace gap is widened from the default 20 ms so the test does not
    depend on the peer being scheduled within 20 ms of each payload (it
    failed that way on an overloaded machine; with 20 ms it passes whenever
    the machine is not oversubscribed)."""
    _chat_with_peer(python27, make_server("--pace-ms", "150"), peers, lockstep=2, burst=6)


def test_skeleton_client_crashes_without_pacing(python27, make_server, peers):
    """Control: the peer really is naive. With pacing off, info and history
    share one read and json.loads fails with "Extra data"."""
    srv = make_server("--pace-ms", "0")
    peer = start_peer(peers, python27, srv, "login", "crasher")
    status, stderr = peer.finish()
    assert status != 0
    assert "Extra data" in stderr, stderr
    assert "Traceback" in stderr
