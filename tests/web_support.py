"""A blocking WebSocket client for the tests, on reactor's own codec.

``WebSocketClient`` does the upgrade by hand (so a test can send a bad
one), masks what it sends, and reads frames with deadlines; an independent
implementation (the ``websockets`` package) is used in the tests too.
"""

import base64
import json
import os
import socket
import time

from reactor import websocket
from support import TIMEOUT, ServerProcess, read_to_end


class WebServer(ServerProcess):
    """A server with its web face on a free port (``http_port``)."""

    def __init__(self, *args, http_port=0):
        if http_port is not None:
            args = ("--http-port", str(http_port), *args)
        super().__init__(*args)
        self.http_port = self._web_port("http") if http_port is not None else None
        self.https_port = self._web_port("https") if "--https-port" in args else None

    def _web_port(self, scheme):
        line = self.wait_for_log(r"web client on %s://[^:]+:(\d+)/" % scheme)
        return int(line.rsplit(":", 1)[1].strip("/\n"))


def http_get(port, path, headers=(), method="GET"):
    """(status, headers dict, body) of one request on a fresh connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port,
                 "Connection: close", *("%s: %s" % h for h in headers)]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = read_to_end(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in found.items()}, body


class WebSocketClient:
    """One WebSocket to our server's /chat (or a refusal to read)."""

    def __init__(self, port, origin=None, version="13", key=None, path="/chat"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: " + version]
        if origin:
            lines.append("Origin: " + origin)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.decoder = websocket.FrameDecoder(max_message=1 << 26, require_mask=False)
        self.events = []
        self.closed = False

    def _read_until(self, mark):
        deadline = time.monotonic() + TIMEOUT
        while mark not in self.buffer:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("closed before %r; have %r" % (mark, self.buffer))
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(mark)
        return head

    def send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(websocket.encode(opcode, payload, fin=fin, mask=True))

    def send(self, request, content=None):
        self.send_frame(websocket.TEXT, json.dumps({"request": request, "content": content})
                        .encode())

    def event(self, timeout=TIMEOUT):
        """The next frame event from the server (Message, Ping, CloseFrame)."""
        deadline = time.monotonic() + timeout
        while not self.events:
            if self.buffer:
                data, self.buffer = self.buffer, b""
            else:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    raise AssertionError("no frame within %ss" % timeout) from None
                if not data:
                    self.closed = True
                    raise AssertionError("closed without a close frame")
            self.events += self.decoder.feed(data)
        return self.events.pop(0)

    def recv(self, timeout=TIMEOUT):
        """The next response object (each text frame holds exactly one)."""
        event = self.event(timeout)
        assert isinstance(event, websocket.Message) and event.text is not None, event
        return json.loads(event.text)

    def reply(self, timeout=TIMEOUT):
        """The next response that is not a presence notice."""
        while True:
            payload = self.recv(timeout)
            if not (payload["response"] == "info" and payload["content"].endswith(
                    (" joined", " left"))):
                return payload

    def close_code(self, timeout=TIMEOUT):
        """Read past responses to the close frame; its code."""
        while True:
            event = self.event(timeout)
            if isinstance(event, websocket.CloseFrame):
                return event.code

    def close(self):
        self.sock.close()
