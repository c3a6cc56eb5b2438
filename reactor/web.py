"""HTTP/1.1 and WebSocket connections on the loop.

Theory of operation
-------------------
``HttpConnection`` is the protocol of one accepted TCP (or TLS) transport.
Requests are parsed by ``reactor.http``; each complete one goes to the
``route(request)`` handed in, which answers with the bytes of a response
(``reactor.http.response``) or with a ``WebSocketUpgrade``. Plain answers
honour keep-alive; a malformed request is answered with its status and
the connection closes. A request head has ``head_timeout`` seconds to
arrive whole (slowloris) and a kept-alive connection ``idle_timeout``
seconds between requests; either past closes the connection.

An upgrade is checked here (``Upgrade: websocket``, ``Connection:
Upgrade``, ``Sec-WebSocket-Version: 13``, a well-formed key; else 400 or
426), answered with 101, and from then on the connection's bytes belong to
a ``WebSocketLayer``: the ``HttpConnection`` stays the transport's
protocol and hands every callback on, so nothing sets attributes on the
transport.

``WebSocketLayer`` is to the application protocol what ``reactor.tls``'s
layer is: a transport with the TCP transport's methods (``write``,
``close``, ``abort``, ``buffered``, ``pause_reading``, ...), so a protocol
written for TCP runs unchanged over WebSocket. Its framing rule suits
line-delimited JSON protocols: each text frame received is handed on with
a newline after it, and what the protocol writes is cut at newlines into
one text frame per line. Binary frames close with 1003, a frame over
``max_message`` with 1009, invalid UTF-8 with 1007, any other violation
with 1002 (``reactor.websocket``); pings are answered; a close is answered
and the connection closed. After closing for a violation, and after
refusing a request, the connection lingers (``Transport.close(linger)``):
it sends the close frame or the refusal, shuts down its side, and reads
and discards what the peer still sends until the peer hangs up or
``linger`` seconds pass. Closing at once, with the rest of (say) an
oversized frame or request unread, makes the kernel answer with a reset
that can destroy our close frame or refusal before the peer reads it, so
the peer would never learn why (RFC 6455 section 7.1.1 has the server
close the TCP connection after the close handshake, not before). Nothing
here knows chat.
"""

import collections
import logging

from . import http, websocket

log = logging.getLogger("reactor.web")

#: Seconds a request head may take to arrive whole.
HEAD_TIMEOUT = 10.0
#: Seconds a kept-alive connection may wait for its next request.
IDLE_TIMEOUT = 30.0

#: Seconds a connection closed for a violation, or refused, reads and
#: discards the peer's input at most (see the module docstring).
LINGER = 2.0

def text_frames(data):
    """One text frame per line of ``data`` (its newlines are the cuts)."""
    return b"".join(websocket.encode(websocket.TEXT, line)
                    for line in bytes(data).split(b"\n") if line)


#: The route's answer to a request that asks to become a WebSocket:
#: ``protocol`` is the application protocol for it (its ``connection_made``
#: gets the ``WebSocketLayer``); ``headers`` go with the 101.
WebSocketUpgrade = collections.namedtuple("WebSocketUpgrade", "protocol headers")


class HttpConnection:
    """One HTTP connection; a WebSocket after an upgrade."""

    def __init__(self, loop, route, max_message=websocket.DEFAULT_MAX_MESSAGE,
                 head_timeout=HEAD_TIMEOUT, idle_timeout=IDLE_TIMEOUT, linger=LINGER):
        self.loop = loop
        self.linger = linger
        self.route = route                # fn(Request) -> bytes or WebSocketUpgrade
        self.max_message = max_message
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self.parser = http.RequestParser()
        self.transport = None
        self.websocket = None             # the WebSocketLayer once upgraded
        self._timer = None

    # -- the transport's protocol ----------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        self._arm(self.head_timeout)

    def data_received(self, data):
        if self.websocket is not None:
            self.websocket.feed(data)
            return
        try:
            requests = self.parser.feed(data)
        except http.HttpError as exc:
            self._refuse(exc.status, exc.message)
            return
        for request in requests:
            self._answer(request)
            if self.websocket is not None or self.transport.closed:
                return
        if self.parser.pending:
            if self._timer is None:
                self._arm(self.head_timeout)

    def eof_received(self):
        if self.websocket is not None:
            return self.websocket.eof_received()
        return False   # nothing more to answer: close

    def connection_lost(self, exc):
        self._disarm()
        if self.websocket is not None:
            self.websocket.connection_lost(exc)

    def pause_writing(self):
        if self.websocket is not None:
            self.websocket.pause_writing()

    def resume_writing(self):
        if self.websocket is not None:
            self.websocket.resume_writing()

    # -- requests --------------------------------------------------------------

    def _answer(self, request):
        self._disarm()
        answer = self.route(request)
        if isinstance(answer, WebSocketUpgrade):
            self._upgrade(request, answer)
            return
        self.transport.write(answer)
        if request.keep_alive:
            self._arm(self.idle_timeout)
        else:
            self.transport.close()

    def _upgrade(self, request, upgrade):
        if "websocket" not in request.tokens("upgrade") \
                or "upgrade" not in request.tokens("connection"):
            self._refuse(400, "a WebSocket upgrade needs Upgrade: websocket")
            return
        if request.header("sec-websocket-version") != "13":
            self.transport.write(http.response(426, [("Sec-WebSocket-Version", "13"),
                                                     ("Connection", "close")]))
            self.transport.close()
            return
        key = request.header("sec-websocket-key") or ""
        if not http.valid_websocket_key(key):
            self._refuse(400, "a WebSocket upgrade needs a 16-byte Sec-WebSocket-Key")
            return
        headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Accept", http.websocket_accept(key)), *upgrade.headers]
        self.transport.write(http.response(101, headers))
        self.websocket = WebSocketLayer(self.loop, self.transport, upgrade.protocol,
                                        self.max_message, self.linger)
        self.websocket.start()
        rest = self.parser.take_rest()
        if rest:
            self.websocket.feed(rest)

    def _refuse(self, status, text):
        """Answer ``status`` and close, lingering: the request may not have
        been read whole, and the peer may still be sending it."""
        log.debug("%s: HTTP %d: %s", self.transport.peername, status, text)
        body = (text + "\n").encode("utf-8")
        self.transport.write(http.response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                                    ("Connection", "close")], body))
        self.transport.close(self.linger)

    # -- deadlines -------------------------------------------------------------

    def _arm(self, seconds):
        self._disarm()
        if seconds > 0:
            self._timer = self.loop.call_later(seconds, self.transport.call_guarded,
                                               self._timed_out)

    def _disarm(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self):
        self._timer = None
        if self.websocket is not None or self.transport.closed:
            return
        if self.parser.pending:
            self._refuse(408, "the request took too long")
        else:
            self.transport.close()   # idle between requests


class WebSocketLayer:
    """A transport for a line-delimited protocol, over WebSocket frames."""

    kind = "websocket"   # the way in, as the application counts its connections

    def __init__(self, loop, lower, protocol, max_message, linger=LINGER):
        self.loop = loop                # the transport's (its protocol's timers use it)
        self.lower = lower              # the TCP or TLS transport
        self.protocol = protocol
        self.decoder = websocket.FrameDecoder(max_message)
        self.linger = linger
        self._closing = False

    def start(self):
        self.lower.call_guarded(self.protocol.connection_made, self)

    # -- bytes from the peer (through HttpConnection) ----------------------------

    def feed(self, data):
        if self._closing:
            return   # after our close frame, what comes is discarded
        try:
            events = self.decoder.feed(data)
        except websocket.WebSocketError as exc:
            events = [exc]
        for event in events:
            if self._closing:
                return
            kind = type(event)
            if kind is websocket.Message:
                if event.text is None:
                    self._fail(websocket.UNSUPPORTED_DATA, "binary frames are not spoken here")
                else:
                    self.protocol.data_received(event.text.encode("utf-8") + b"\n")
            elif kind is websocket.Ping:
                self.lower.write(websocket.encode(websocket.PONG, event.data))
            elif kind is websocket.CloseFrame:
                code = event.code if event.code != websocket.NO_STATUS else websocket.NORMAL
                self._fail(code, "")
            elif kind is websocket.WebSocketError:
                self._fail(event.code, event.message)

    def _fail(self, code, reason):
        self._send_close(code, reason)
        if reason:   # a violation: the peer may be sending still (module docstring)
            log.debug("%s: WebSocket closed with %d: %s", self.lower.peername, code, reason)
            self.lower.close(self.linger)
        else:   # answering the peer's close: it has nothing more to send
            self.lower.close()

    def _send_close(self, code, reason=""):
        if not self._closing and not self.lower.closed:
            self._closing = True
            self.lower.write(websocket.close_frame(code, reason))

    def eof_received(self):
        eof = getattr(self.protocol, "eof_received", None)
        return bool(eof and eof())

    def connection_lost(self, exc):
        self.protocol.connection_lost(exc)

    def pause_writing(self):
        pause = getattr(self.protocol, "pause_writing", None)
        if pause:
            pause()

    def resume_writing(self):
        resume = getattr(self.protocol, "resume_writing", None)
        if resume:
            resume()

    # -- the transport the protocol sees ----------------------------------------

    def write(self, data):
        """One text frame per line of ``data`` (its newlines are the cuts).
        (A room's broadcast is framed once for all its members: ``share``.)"""
        if self._closing:
            return
        framed = text_frames(data)
        if framed:
            self.lower.write(framed)

    def share(self, queue):
        """Share ``queue`` (``reactor.tcp.Transport.share``) as frames: the
        lower transport shares its framed encoding, made once for every
        WebSocket sharing it (and only once one does: TLS never shares).
        The transport that shares, or None."""
        if self._closing:
            return None
        return self.lower.share(queue, text_frames)

    def close(self):
        self._send_close(websocket.NORMAL)
        self.lower.close()

    def abort(self):
        self.lower.abort()

    @property
    def closed(self):
        return self.lower.closed

    @property
    def secure(self):
        """Whether the bytes travel encrypted (a WebSocket over TLS)."""
        return getattr(self.lower, "secure", False)

    @property
    def buffered(self):
        return self.lower.buffered

    @property
    def peername(self):
        return self.lower.peername

    @property
    def read_size(self):
        return self.lower.read_size

    @read_size.setter
    def read_size(self, size):
        self.lower.read_size = size

    def pause_reading(self):
        self.lower.pause_reading()

    def resume_reading(self):
        self.lower.resume_reading()

    def set_send_buffer(self, size):
        self.lower.set_send_buffer(size)

    def set_write_buffer_limits(self, high, low=None):
        self.lower.set_write_buffer_limits(high, low)

    def report_drain(self):
        self.lower.report_drain()

    def call_guarded(self, method, *args):
        return self.lower.call_guarded(method, *args)
