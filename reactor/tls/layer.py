"""TLS on the loop: a layer between a TCP ``Transport`` and a protocol.

Theory of operation
-------------------
Which mechanism, and why: ``ssl.SSLObject`` over two ``ssl.MemoryBIO``s,
not a nonblocking ``SSLSocket``. The TCP ``Transport`` (``reactor.tcp``)
keeps doing all the socket work it already does well (the write queue,
one ``sendmsg`` per pass, flow control, ``close``/``abort`` with its
reset), and TLS is pure computation between bytes in and bytes out. A
nonblocking ``SSLSocket`` would need a second transport with its own
``SSLWantRead``/``SSLWantWrite`` dance around every ``send`` and ``recv``,
and could not batch a pass's writes into one ``SSLObject.write``.

``TLSLayer`` is two things at once:

* the *protocol* of the TCP transport: ciphertext arrives in
  ``data_received``, goes into the incoming BIO, and whatever plaintext it
  completes is read out and handed on;
* the *transport* of the application protocol, with the same methods and
  attributes as ``reactor.tcp.Transport`` (``write``, ``close``, ``abort``,
  ``pause_reading``, ``buffered``, ``closed``, ...), so a protocol cannot
  tell TLS from plain TCP.

Writes: plaintext written during a loop pass is queued and encrypted once
at the end of the pass (one ``SSLObject.write`` per connection per pass,
however many payloads a broadcast queued for it), and the ciphertext goes
to the TCP transport, which sends it in the same pass. ``buffered`` counts
queued plaintext plus the TCP transport's queue, so output caps hold.

Reads: every plaintext record a TCP read completes is read out and handed
on in one ``data_received`` call, as one ``recv`` is on plain TCP.

The handshake is driven by the loop: it proceeds as bytes arrive, has a
deadline (``handshake_timeout``) and a size bound (``max_handshake_bytes``
of ciphertext received before it completes). A stall, garbage, a
handshake too large, or a close mid-record costs that connection only,
with one log line at debug level.

Server side (``early=True``) the application protocol is told of the
connection at once, at accept, so admission caps and the login deadline
count from accept and a refusal written before the handshake completes is
sent once it does. Client side (``early=False``) it is told only after the
handshake (and the certificate check) succeeded; a failure goes to
``on_handshake_error(exc)`` instead.

``connect_tls`` is the client side: a ``reactor.tcp.Connector`` whose
protocol is a ``TLSLayer``. Contexts come from ``reactor.tls.contexts``.
"""

import errno
import logging
import ssl

from ..tcp import Connector

log = logging.getLogger("reactor.tls")

#: Seconds a handshake may take, from accept (or connect) to done.
HANDSHAKE_TIMEOUT = 10.0
#: Ciphertext bytes a peer may send before its handshake is done.
MAX_HANDSHAKE_BYTES = 64 * 1024
#: Plaintext bytes read out of the TLS object per call.
_READ_CHUNK = 256 * 1024

_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


def connect_tls(loop, host, port, protocol, on_error, context, timeout=HANDSHAKE_TIMEOUT,
                server_hostname=None):
    """A ``Connector`` whose transport speaks TLS: ``protocol`` is told of
    the connection once the handshake and the certificate check succeeded;
    a refused connect or a failed handshake is one ``on_error(exc)`` call
    (``describe_failure(exc)`` says why in words). ``timeout`` bounds the
    connect and, again, the handshake."""
    layer = TLSLayer(loop, context, protocol, server_side=False,
                     server_hostname=server_hostname or host, handshake_timeout=timeout,
                     on_handshake_error=on_error)
    return Connector(loop, host, port, layer, on_error, timeout=timeout)


class TLSLayer:
    """The TCP transport's protocol and the application's transport."""

    kind = "tls"   # the way in, as the application counts its connections

    def __init__(self, loop, context, protocol, server_side, server_hostname=None,
                 early=None, handshake_timeout=HANDSHAKE_TIMEOUT,
                 max_handshake_bytes=MAX_HANDSHAKE_BYTES, on_handshake_error=None):
        self.loop = loop
        self.protocol = protocol
        self.raw = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side,
                                     server_hostname=server_hostname)
        self._early = server_side if early is None else early
        self._handshake_timeout = handshake_timeout
        self._max_handshake_bytes = max_handshake_bytes
        self._on_handshake_error = on_handshake_error
        self._handshaking = True
        self._handshake_bytes = 0
        self._timer = None
        self._told = False           # protocol.connection_made called
        self._pending = []           # plaintext written, not yet encrypted
        self._pending_bytes = 0
        self._flush_armed = False
        self._app_reading = True
        self._closing = False
        self._linger = 0.0           # seconds the TCP side lingers (close)
        self._lost = False
        self._eof = False
        self._drain_wanted = False   # report_drain asked while plaintext waited

    # -- what the application sees: the Transport's shape -----------------

    @property
    def closed(self):
        return self.raw is None or self.raw.closed

    @property
    def buffered(self):
        return self._pending_bytes + (self.raw.buffered if self.raw is not None else 0)

    @property
    def read_size(self):
        return self.raw.read_size

    @read_size.setter
    def read_size(self, size):
        self.raw.read_size = size

    @property
    def peername(self):
        return self.raw.peername if self.raw is not None else None

    @property
    def secure(self):
        """True: this transport is TLS (a plain ``Transport`` has no such attribute)."""
        return True

    def cipher(self):
        return None if self._handshaking else self._tls.cipher()

    def set_send_buffer(self, size):
        self.raw.set_send_buffer(size)

    def set_write_buffer_limits(self, high, low=None):
        self.raw.set_write_buffer_limits(high, low)

    def share(self, queue, encode=None):
        """Never: each connection's bytes are encrypted on their own, so a
        queue shared between connections cannot be sent (the callers write
        to each one instead)."""
        return None

    def report_drain(self):
        """As the TCP transport's, counting plaintext not yet encrypted: asked
        again once this pass's encryption has handed it to the TCP side."""
        if self._pending_bytes:
            self._drain_wanted = True
        self.raw.report_drain()

    def pause_reading(self):
        self._app_reading = False
        if not self._handshaking:
            self.raw.pause_reading()

    def resume_reading(self):
        self._app_reading = True
        self.raw.resume_reading()

    def write(self, data):
        if self._closing or self.closed:
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if not self._flush_armed and not self._handshaking:
            self._flush_armed = True
            self.loop.at_end_of_pass(self._encrypt)

    def close(self, linger=0.0):
        """Encrypt what is queued, say close_notify, then close the TCP side
        (which flushes; ``linger`` as for ``Transport.close``). Before the
        handshake is done: once it is."""
        if self._closing:
            return
        self._closing = True
        self._linger = linger
        if not self._handshaking:
            self._finish_close()

    def abort(self):
        self._closing = True
        self._cancel_timer()
        if self.raw is not None:
            self.raw.abort()

    def call_guarded(self, method, *args):
        """As ``Transport.call_guarded``: a protocol's own callback, guarded."""
        if self.closed:
            return None
        return self._guard(method, *args)

    # -- what the TCP transport sees: the protocol's shape ----------------

    def connection_made(self, raw):
        self.raw = raw
        self._timer = self.loop.call_later(self._handshake_timeout, self._handshake_expired)
        if self._early:
            self._tell_made()
        self._do_handshake()

    def data_received(self, data):
        if self._handshaking:
            self._handshake_bytes += len(data)
            if self._handshake_bytes > self._max_handshake_bytes:
                self._fail(ConnectionError(errno.EPROTO, "handshake over %d bytes"
                                           % self._max_handshake_bytes))
                return
            self._incoming.write(data)
            self._do_handshake()
            return
        self._incoming.write(data)
        self._read_records()

    def eof_received(self):
        """The peer closed its TCP side, with or without close_notify."""
        if self._eof:
            return True
        self._eof = True
        self._incoming.write_eof()
        if self._handshaking:
            self._fail(ConnectionResetError(errno.ECONNRESET, "closed during the handshake"))
            return None
        if self._told and not self._closing:
            eof = getattr(self.protocol, "eof_received", None)
            if eof is not None and self._guard(eof) is True:
                return True
        self.close()
        return None

    def connection_lost(self, exc):
        self._cancel_timer()
        if self._lost:
            return
        self._lost = True
        if self._told:
            self.protocol.connection_lost(exc)
        elif self._handshaking and self._on_handshake_error is not None:
            self._on_handshake_error(exc or ConnectionResetError(
                errno.ECONNRESET, "connection closed during the TLS handshake"))

    def pause_writing(self):
        if self._told:
            pause = getattr(self.protocol, "pause_writing", None)
            if pause is not None:
                self._guard(pause)

    def resume_writing(self):
        if self._told:
            resume = getattr(self.protocol, "resume_writing", None)
            if resume is not None:
                self._guard(resume)

    # -- the machinery ---------------------------------------------------------

    def _tell_made(self):
        self._told = True
        self._guard(self.protocol.connection_made, self)

    def _guard(self, method, *args):
        try:
            return method(*args)
        except Exception:
            log.exception("error in %s for %s; closing the connection",
                          getattr(method, "__name__", method), self.peername)
            self.abort()
            return None

    def _send_outgoing(self):
        if self._outgoing.pending and self.raw is not None:
            self.raw.write(self._outgoing.read())

    def _do_handshake(self):
        try:
            self._tls.do_handshake()
        except _WANT:
            self._send_outgoing()
            return
        except (ssl.SSLError, OSError) as exc:
            self._send_outgoing()   # the alert, if any: tells the peer why
            self._fail(exc)
            return
        self._handshaking = False
        self._cancel_timer()
        self._send_outgoing()
        if not self._told:
            self._tell_made()
        if self.closed:
            return
        if not self._app_reading:
            self.raw.pause_reading()
        if self._pending:
            self._flush_armed = True
            self.loop.at_end_of_pass(self._encrypt)
        if self._closing:
            self._finish_close()
            return
        self._read_records()   # application data that came with the handshake's end

    def _read_records(self):
        chunks = []
        exc = None
        done = False
        try:
            while True:
                chunk = self._tls.read(_READ_CHUNK)
                if not chunk:
                    done = True   # close_notify: the peer is done
                    break
                chunks.append(chunk)
        except _WANT:
            pass
        except ssl.SSLZeroReturnError:
            done = True
        except (ssl.SSLError, OSError) as error:
            exc = error
        self._send_outgoing()   # a TLS 1.3 key update, or an alert
        if chunks and self._told and not self._closing and not self.closed:
            self._guard(self.protocol.data_received,
                        chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if exc is not None:
            log.debug("TLS error from %s: %s; closing", self.peername, exc)
            self.abort()
        elif done and not self.closed:
            self.eof_received()

    def _encrypt(self):
        self._flush_armed = False
        if not self._pending or self.closed:
            self._pending = []
            self._pending_bytes = 0
            return
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        self._pending_bytes = 0
        try:
            self._tls.write(data)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS write to %s failed: %s; closing", self.peername, exc)
            self.abort()
            return
        self._send_outgoing()
        if self._drain_wanted:
            self._drain_wanted = False
            self.raw.report_drain()

    def _finish_close(self):
        self._encrypt()
        if self.closed:
            return
        try:
            self._tls.unwrap()
        except (ssl.SSLError, OSError, ValueError):
            pass   # we said close_notify; the peer's answer is not awaited
        self._send_outgoing()
        self.raw.close(self._linger)

    def _handshake_expired(self):
        self._timer = None
        if self._handshaking:
            self._fail(TimeoutError(errno.ETIMEDOUT, "TLS handshake not done within %g seconds"
                                    % self._handshake_timeout))

    def _cancel_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, exc):
        """The handshake failed: this connection ends, and nothing else."""
        if not self._handshaking or self.closed:
            return
        log.debug("TLS handshake with %s failed: %s", self.peername, exc)
        self._cancel_timer()
        if not self._told and self._on_handshake_error is not None:
            callback, self._on_handshake_error = self._on_handshake_error, None
            self.raw.close()   # the alert we queued still leaves
            callback(exc)
            return
        self.raw.close()
