"""Connections to the implementation under test, and waiting with deadlines.

Theory of operation
-------------------
The checks are written as plain sequential scripts ("send this, wait for
that"), but several sockets (and, for the client check, a pseudo-terminal)
must be read at the same time, so that what arrives on one connection while
the script waits on another is not lost and the reads are seen as they
happened. ``Pump`` puts every file on one ``reactor.loop.EventLoop`` and
runs passes of it until a condition holds or a deadline passes: every wait
has a timeout, nothing blocks.

``Connection`` is one TCP connection from the checker to a server. It
decodes what arrives with ``reactor.framing.JsonStreamDecoder`` (any
framing, any split), keeps the payloads not yet taken by a check in arrival
order, and remembers per payload which read it came in (two payloads in one
read break naive peers) and the raw bytes (for the ASCII check). Every
payload is also shown to the ``on_payload`` hook, the audit of response
shapes.
"""

import json
import select
import socket
import ssl
import struct
import time

from reactor.framing import FramingError, JsonStreamDecoder
from reactor.loop import EventLoop

#: A history can be large; the checker is a reader, so it allows much.
MAX_PAYLOAD = 64 * 1024 * 1024

_RECV_SIZE = 256 * 1024

#: Longest stretch between two tests of a waited-for condition (seconds).
TICK = 0.02


class Pump:
    """One event loop for every file the checks watch."""

    def __init__(self):
        self.loop = EventLoop()

    def wait(self, condition, timeout):
        """Run the loop until ``condition()`` is true; False if ``timeout`` passed first.

        The condition is also tested every ``TICK`` seconds, since some
        (a process exiting, a quiet spell) come with no I/O event.
        """
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wake = self.loop.call_later(min(remaining, TICK), _nothing)
            self.loop.run_once()
            wake.cancel()
        return True

    def poll(self):
        """Read whatever is ready now, without waiting."""
        wake = self.loop.call_later(0, _nothing)
        self.loop.run_once()
        wake.cancel()

    def pause(self, seconds):
        """Keep reading everything for ``seconds`` (to see what else arrives)."""
        self.wait(lambda: False, seconds)

    def close(self):
        self.loop.close()


def _nothing():
    pass


class Received:
    """One payload from the peer: the decoded value and the read it came in."""

    __slots__ = ("value", "read", "when")

    def __init__(self, value, read, when):
        self.value = value
        self.read = read
        self.when = when

    @property
    def response(self):
        return self.value.get("response") if isinstance(self.value, dict) else None

    @property
    def content(self):
        return self.value.get("content") if isinstance(self.value, dict) else None


class Connection:
    """A checker's TCP connection to the server under test."""

    def __init__(self, pump, host, port, timeout, on_payload=None, tls=None):
        """``tls``: an ``ssl.SSLContext`` to speak TLS (the handshake and the
        certificate check happen here, blocking, bounded by ``timeout``)."""
        self.pump = pump
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
            except OSError:
                self.sock.close()
                raise
        self.sock.setblocking(False)
        self.decoder = JsonStreamDecoder(max_size=MAX_PAYLOAD)
        self.on_payload = on_payload
        self.unread = []          # Received, not yet taken by a check
        self.reads = 0
        self.closed = False
        self.raw = bytearray()    # the first bytes received, for the wire checks
        pump.loop.add_reader(self.sock, self._on_readable)

    def _recv(self):
        """One read: what the socket holds now (over TLS, every record that
        is complete, as a naive TLS reader's loop would get them)."""
        data = self.sock.recv(_RECV_SIZE)
        pending = getattr(self.sock, "pending", None)
        while data and pending is not None and pending():
            data += self.sock.recv(_RECV_SIZE)
        return data

    def _on_readable(self):
        try:
            data = self._recv()
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        self.reads += 1
        if len(self.raw) < 1 << 20:
            self.raw += data
        now = time.monotonic()
        for value in self.decoder.feed(data):
            if isinstance(value, FramingError):
                if self.on_payload is not None:
                    self.on_payload(self, value)
                continue
            received = Received(value, self.reads, now)
            self.unread.append(received)
            if self.on_payload is not None:
                self.on_payload(self, received)

    def _gone(self):
        if not self.closed:
            self.closed = True
            self.pump.loop.remove_reader(self.sock)
            self.sock.close()

    # -- sending ----------------------------------------------------------

    def send_raw(self, data, timeout=5.0):
        """Write ``data`` in one go (as far as the kernel allows); False if the
        connection is closed or the peer did not take it within ``timeout``."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view and not self.closed:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                select.select([], [self.sock], [], min(remaining, 0.05))
                self.pump.wait(lambda: True, 0)   # keep reading meanwhile
                continue
            except OSError:
                return False   # the reader sees the close (and any answer before it)
            view = view[sent:]
        return not view

    def send(self, request, content=None, newline=True):
        return self.send_raw(request_bytes(request, content, newline))

    # -- receiving --------------------------------------------------------

    def take(self, predicate=None, timeout=3.0):
        """The first unread payload matching ``predicate`` (removed from the
        unread list), waiting up to ``timeout``; None if none came."""
        found = []

        def match():
            for index, received in enumerate(self.unread):
                if predicate is None or predicate(received):
                    found.append(self.unread.pop(index))
                    return True
            return self.closed

        self.pump.wait(match, timeout)
        return found[0] if found else None

    def take_response(self, timeout=3.0, types=("error", "info", "history", "message")):
        return self.take(lambda r: r.response in types, timeout)

    def wait_closed(self, timeout):
        return self.pump.wait(lambda: self.closed, timeout)

    def close(self, abrupt=False):
        """Close our side; ``abrupt`` resets the connection (no FIN), as a crash would."""
        if self.closed:
            return
        if abrupt:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._gone()


def request_bytes(request, content=None, newline=True):
    """A request as a typical client writes it (our client adds the newline)."""
    data = json.dumps({"request": request, "content": content}).encode("ascii")
    return data + b"\n" if newline else data
