"""The load generator over WebSocket (issue 19): ``broadcast-1000-ws``.

Theory of operation
-------------------
``WsLoadGen`` is the engine of ``bench/loadgen.py`` with every client on
the server's ``--http-port``, as a browser connects: ``GET /chat`` with an
``Upgrade: websocket`` head (``Origin`` the server's own, a random
``Sec-WebSocket-Key``, its ``Sec-WebSocket-Accept`` checked), then each
request one text frame, masked as RFC 6455 requires of a client (the
project's codec, ``reactor.websocket.encode``), and each response one
unmasked text frame from the server.

The engine counts deliveries by counting the byte ``~``. A raw byte count
would be wrong here: a frame whose payload is 126 bytes or more has the
header ``0x81 0x7E`` plus two length bytes, and ``0x7E`` is ``~``. So every
WebSocket client reads through a ``FrameReader`` that walks the frame
headers and counts ``~`` only inside the payloads of data frames (one
``bytes.count`` per frame, never over a header), keeping an incomplete
frame for the next read. Plain receivers only count; clients with a
behaviour (senders, samplers: ``bench/behaviours.py``) get the payloads
back as lines in ``gen.buf``, each ended with ``\\n``, so the behaviours
read a WebSocket stream exactly as they read a TCP one. Both go through the
same reader, so a client can change role at any byte.
"""

import base64
import os

from reactor import websocket
from reactor.http import websocket_accept

from .loadgen import RECV_SIZE, TILDE, WOULD_BLOCK, LoadGen, explain

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 8192   # an upgrade answer longer than this is not one


class FrameReader:
    """A server's (unmasked) frames, from a byte stream split anywhere."""

    __slots__ = ("pending",)

    def __init__(self):
        self.pending = b""   # the start of a frame not yet complete

    def feed(self, buf, n, payloads=None):
        """Read ``buf[:n]``; return the ``~`` bytes in the payloads of the
        data frames it completed. With a list ``payloads``, append those
        payloads to it too."""
        if self.pending:
            data = self.pending + bytes(buf[:n])
            size = len(data)
        else:
            data, size = buf, n
        tildes = 0
        i = 0
        while size - i >= 2:
            length = data[i + 1] & 0x7F
            head = 2
            if length == 126:
                if size - i < 4:
                    break
                length = (data[i + 2] << 8) | data[i + 3]
                head = 4
            elif length == 127:
                if size - i < 10:
                    break
                length = int.from_bytes(data[i + 2:i + 10], "big")
                head = 10
            end = i + head + length
            if end > size:
                break
            if not data[i] & 0x08:   # a data frame (close, ping and pong have bit 3 set)
                tildes += data.count(TILDE, i + head, end)
                if payloads is not None:
                    payloads.append(bytes(data[i + head:end]))
            i = end
        self.pending = bytes(data[i:size]) if i < size else b""
        return tildes


def upgrade_request(host, port, key):
    """The browser's ``GET /chat`` upgrade, from a page of the server's own origin."""
    return ("GET /chat HTTP/1.1\r\nHost: {h}:{p}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: {k}\r\nSec-WebSocket-Version: 13\r\n"
            "Origin: http://{h}:{p}\r\n\r\n").format(h=host, p=port, k=key).encode("ascii")


def frames(data):
    """Each line of ``data`` as one masked text frame, as a browser sends it."""
    return b"".join([websocket.encode(websocket.TEXT, line, mask=True)
                     for line in bytes(data).split(b"\n") if line])


class WsLoadGen(LoadGen):
    """``LoadGen`` over WebSocket: same behaviours, frame-aware counting."""

    def __init__(self, host, port, alive=None, tls=None):
        super().__init__(host, port, alive, tls)
        self.raw = bytearray(RECV_SIZE)    # what a behaviour's client read, before decoding
        self._readers = {}                 # fd -> FrameReader
        self._heads = {}                   # fd -> (key, bytes of the 101 answer so far)

    # -- the upgrade and the login ----------------------------------------------

    def _greet(self, client):
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self._heads[client.fd] = (key, b"")
        self._readers[client.fd] = FrameReader()
        try:
            client.sock.send(upgrade_request(self.host, self.port, key))
        except OSError as exc:
            return self._fail_login(client, "send: %s" % exc)
        return None

    def _login_request(self, client):
        return frames(b'{"request": "login", "content": "%s"}' % client.name)

    def _read_login(self, client):
        fd = client.fd
        try:
            n = client.sock.recv_into(self.raw)
        except WOULD_BLOCK:
            return None
        except OSError as exc:
            return self._fail_login(client, "recv: %s" % exc)
        if not n:
            return self._fail_login(client, "closed by the server" + explain(client.head))
        start = 0
        if fd in self._heads:   # the answer to the upgrade first
            key, head = self._heads[fd]
            head += bytes(self.raw[:n])
            end = head.find(_HEAD_END)
            if end < 0:
                if len(head) > _MAX_HEAD:
                    return self._fail_login(client, "no end to the upgrade's answer")
                self._heads[fd] = (key, head)
                return None
            del self._heads[fd]
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                return self._fail_login(client, "upgrade refused: %s" % status.decode("latin-1"))
            accept = "sec-websocket-accept: %s" % websocket_accept(key)
            if accept.lower().encode("ascii") not in head[:end].lower():
                return self._fail_login(client, "wrong Sec-WebSocket-Accept")
            start = n - (len(head) - end - len(_HEAD_END))
            self._send_login(client)
        payloads = []
        self.count[fd] += self._readers[fd].feed(self.raw[start:n], n - start, payloads)
        client.bytes += n
        for payload in payloads:
            if not client.head:
                client.head = payload[:512] + b"\n"
                if b'"error"' in payload:
                    return self._fail_login(client, "refused" + explain(client.head))
            client.nl += 1
        if client.nl >= 2:
            self._logged_in(client)
        return None

    # -- receiving -----------------------------------------------------------------

    def _poll(self, timeout):
        buf = self.buf
        counts = self.count
        recv = self._recv
        special = self._special
        readers = self._readers
        for fd, events in self.ep.poll(timeout, self._maxevents):
            handler = special[fd]
            if handler is not None:
                handler(fd, events)
                continue
            try:
                n = recv[fd](buf)
            except WOULD_BLOCK:
                continue
            except OSError:
                n = 0
            if n:
                counts[fd] += readers[fd].feed(buf, n)
            else:
                self._lose(fd)

    def read(self, client):
        """One read, decoded: the payloads of the frames it completed, each
        ended with ``\\n``, in ``gen.buf``; their length (0 if none, or lost)."""
        try:
            n = client.sock.recv_into(self.raw)
        except WOULD_BLOCK:
            return 0
        except OSError:
            n = 0
        if not n:
            client.closed = True
            self._lose(client.fd)
            return 0
        payloads = []
        self.count[client.fd] += self._readers[client.fd].feed(self.raw, n, payloads)
        if not payloads:
            return 0
        payloads.append(b"")
        lines = b"\n".join(payloads)
        self.buf[:len(lines)] = lines   # in place: the behaviours hold this buffer
        return len(lines)

    def write(self, client, data):
        """Each line of ``data`` as one masked text frame."""
        super().write(client, frames(data))
