"""Small fake peer servers, written the way other implementations are.

A ``FakeServer`` listens on a free port and runs ``script(conn)`` in a
thread per connection, as the course skeleton does. ``PeerConn.recv`` is
the naive reader most peers have: ``json.loads(sock.recv(4096))``. When two
requests arrive in one read it fails like they do ("Extra data"): the
failure is recorded and the connection dropped, so a client that does not
pace its requests loses the conversation. Every chunk received is kept,
so tests can check what went over the wire.
"""

import json
import socket
import threading
import time

#: Socket timeout of the fake server's reads: only there so a broken test
#: cannot hang; generous, since a loaded machine may be slow.
TIMEOUT = 30.0


def response(kind, content, sender="server", timestamp="2017-03-20 14:03:11", **extra):
    """A server payload in the standard four-key shape (plus ``extra`` keys)."""
    payload = {"timestamp": timestamp, "sender": sender, "response": kind, "content": content}
    payload.update(extra)
    return payload


class PeerConn:
    """One accepted connection, seen from a naive peer server."""

    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        sock.settimeout(TIMEOUT)

    def recv(self):
        """The next request (a dict), or None when the client closed.

        Naive on purpose: one ``recv`` must hold exactly one JSON object.
        """
        try:
            data = self.sock.recv(4096)
        except (ConnectionError, socket.timeout):
            return None
        if not data:
            return None
        self.server.chunks.append(data)
        try:
            request = json.loads(data.decode("ascii"))
        except ValueError as exc:
            raise AssertionError("naive reader broke on %r: %s" % (data, exc))
        self.server.requests.append(request)
        return request

    def send(self, *payloads, sep=b"", ensure_ascii=True):
        """All ``payloads`` in one ``sendall``, joined by ``sep`` (default: none)."""
        data = b"".join(json.dumps(p, ensure_ascii=ensure_ascii).encode("utf-8") + sep
                        for p in payloads)
        self.send_raw(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def wait_closed(self):
        """Read until the client closes (the peer that never closes waits here)."""
        while True:
            try:
                data = self.sock.recv(4096)
            except (ConnectionError, socket.timeout):
                return
            if not data:
                return
            self.server.chunks.append(data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FakeServer:
    """Accepts connections and runs ``script(conn)`` for each in its own thread."""

    def __init__(self, script):
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.chunks = []      # every chunk read from clients, as bytes
        self.requests = []    # every request decoded
        self.failures = []    # exceptions raised by scripts
        self.conns = []
        self.threads = []
        self.done = threading.Event()
        self._closed = False
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.threads.append(accept)

    def _accept(self):
        while True:
            try:
                sock, _addr = self.listener.accept()
            except OSError:
                return
            conn = PeerConn(self, sock)
            self.conns.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, conn):
        try:
            self.script(conn)
        except Exception as exc:  # recorded, and the connection dropped, like a peer
            self.failures.append(exc)
        finally:
            conn.close()
            self.done.set()

    def wait_done(self, timeout=10.0):
        """Wait until a connection's script has finished."""
        assert self.done.wait(timeout), "the fake server's script never finished"

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for conn in self.conns:
            conn.close()
        deadline = time.monotonic() + 10.0
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def check_wire(self):
        """Every chunk read held exactly one request: ASCII JSON, a newline, two keys."""
        assert not self.failures, self.failures
        for chunk in self.chunks:
            assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1, chunk
            chunk.decode("ascii")
            request = json.loads(chunk)
            assert set(request) == {"request", "content"}, request
