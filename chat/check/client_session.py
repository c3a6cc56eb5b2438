"""The checking server and one session of the client under test.

Theory of operation
-------------------
``CheckingServer`` listens on a loopback port and accepts the client's
connections on the ``wire.Pump``'s loop; it decodes what the client sends
with ``JsonStreamDecoder`` (any framing), keeping each request with the
number of the read it arrived in. It never answers on its own: the checks
decide every byte it writes, so they can send exactly the shapes and
splits real servers produce. Ordinary payloads go out one per write, a
short gap apart, as a polite server would (the framing checks break that
rule on purpose).

``ClientSession`` is one run of the client: its ``Terminal`` and its
connection. A check that fails may leave the client crashed or deaf, so the
runner starts a fresh session (and logs in again) before the next check.
"""

import json
import socket
import string
import time

from ..protocol import Clock
from reactor.framing import FramingError, JsonStreamDecoder

from .terminal import Terminal

#: Gap between ordinary payloads, so a naive client reads one per recv.
PAYLOAD_GAP = 0.05

#: How long to keep reading the terminal of a client that went away.
LAST_WORDS = 0.5


class CannotStart(Exception):
    """The client could not be started or never connected."""


class Peer:
    """One accepted connection from the client."""

    def __init__(self, pump, sock):
        self.pump = pump
        self.sock = sock
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = JsonStreamDecoder()
        self.requests = []        # (value or FramingError, read number), in order
        self.taken = 0
        self.reads = 0
        self.closed = False
        self.last_write = 0.0
        pump.loop.add_reader(sock, self._on_readable)

    def _on_readable(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.reads += 1
        for value in self.decoder.feed(data):
            self.requests.append((value, self.reads))

    def next_request(self, timeout):
        """The next request the client sent, as (value, read number), or None."""
        if not self.pump.wait(lambda: len(self.requests) > self.taken or self.closed, timeout):
            return None
        if len(self.requests) <= self.taken:
            return None
        self.taken += 1
        return self.requests[self.taken - 1]

    def write(self, data, paced=True):
        """Write ``data`` in one send; ``paced`` keeps ``PAYLOAD_GAP`` after the last."""
        if paced:
            self.pump.pause(max(0.0, self.last_write + PAYLOAD_GAP - time.monotonic()))
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(2.0)
            self.sock.sendall(data)
        except OSError:
            self.close()
        finally:
            if not self.closed:
                self.sock.setblocking(False)
        self.last_write = time.monotonic()

    def close(self):
        if not self.closed:
            self.closed = True
            self.pump.loop.remove_reader(self.sock)
            self.sock.close()


class CheckingServer:
    """A loopback listener for the client under test."""

    def __init__(self, pump, port=0):
        self.pump = pump
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        pump.loop.add_reader(self.listener, self._on_accept)

    def _on_accept(self):
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.accepted.append(Peer(self.pump, sock))

    def close(self):
        self.pump.loop.remove_reader(self.listener)
        self.listener.close()
        for peer in self.accepted:
            peer.close()


class ClientSession:
    """One run of the client under test: its terminal and its connection."""

    def __init__(self, run, command):
        self.run = run
        self.options = run.options
        self.server = run.server
        seen = len(self.server.accepted)
        argv = [w.replace("{host}", "127.0.0.1").replace("{port}", str(self.server.port))
                for w in command]
        try:
            self.terminal = Terminal(run.pump, argv)
        except OSError as exc:
            raise CannotStart("cannot start %s: %s" % (argv[0], exc)) from exc
        connected = run.pump.wait(lambda: len(self.server.accepted) > seen
                                  or not self.terminal.alive, self.options.start_timeout)
        if not connected or len(self.server.accepted) <= seen:
            self.terminal.stop()
            raise CannotStart("the client did not connect to 127.0.0.1:%d within %.0f s%s; it "
                              "showed: %s" % (self.server.port, self.options.start_timeout,
                                              "" if self.terminal.alive else " and exited",
                                              self.terminal.tail()))
        self.peer = self.server.accepted[seen]
        self.name = None
        # wait until it is ready for input: typeahead may be discarded at start
        self.terminal.settle(0.15, 1.5)

    @property
    def alive(self):
        return self.terminal.alive and not self.peer.closed

    def type_line(self, line):
        return self.terminal.type(line + "\r")

    def expect_request(self, request, timeout):
        """The next ``request`` the client sends, as (value, read number).

        Requests it makes on its own (a full-screen client asks for the
        names after login) are answered as a server would and skipped. If
        no ``request`` comes, the last other request is returned (the
        verdict shows it), or None when nothing came at all.
        """
        deadline = time.monotonic() + timeout
        other = None
        while True:
            got = self.peer.next_request(max(0.0, deadline - time.monotonic()))
            if got is None:
                return other
            value = got[0]
            if framing_problem(value) or value["request"] == request:
                return got
            other = got
            self._answer_unasked(value["request"])

    def _answer_unasked(self, request):
        if request == "names":
            self.send("info", "Users online (2): %s, bob" % (self.name or "you"))
        elif request == "help":
            self.send("info", "login <name>, logout, msg <text>, names, help")
        else:
            self.send("error", "unknown request: %s" % request)

    def send(self, response, content, sender="server", timestamp=None, newline=True,
             paced=True):
        """One payload in the standard shape, in a write of its own (``paced``:
        not sooner than ``PAYLOAD_GAP`` after the previous one)."""
        self.peer.write(payload_bytes(response, content, sender, timestamp, newline), paced)

    def shows(self, texts, since, timeout=None):
        """Wait until every one of ``texts`` is visible after offset ``since``."""
        timeout = self.options.timeout if timeout is None else timeout
        self.run.pump.wait(
            lambda: all(t in self.terminal.text(since) for t in texts) or not self.alive,
            timeout)
        if not self.alive:   # read its last words (a traceback) before judging
            self.run.pump.wait(lambda: self.terminal.eof, LAST_WORDS)
        return all(t in self.terminal.text(since) for t in texts)

    def close(self):
        self.peer.close()
        self.terminal.stop()


_clock = Clock()


def payload_bytes(response, content, sender="server", timestamp=None, newline=True,
                  ensure_ascii=True):
    """A server payload as our server writes it (a newline after it)."""
    data = json.dumps({"timestamp": _clock.timestamp() if timestamp is None else timestamp,
                       "sender": sender, "response": response, "content": content},
                      ensure_ascii=ensure_ascii).encode("utf-8")
    return data + b"\n" if newline else data


def random_word(rng, length=6):
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(length))


def framing_problem(value):
    """Why a decoded request is unusable, or None."""
    if isinstance(value, FramingError):
        return "not valid JSON (%s)" % value.message
    if not isinstance(value, dict):
        return "not a JSON object"
    if not isinstance(value.get("request"), str):
        return "no string 'request' key"
    return None
