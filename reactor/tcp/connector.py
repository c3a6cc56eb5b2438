"""The TCP connector: a nonblocking outgoing connect that ends in a ``Transport``.

Theory of operation
-------------------
``Connector(loop, host, port, protocol, on_error)`` resolves the name (a
blocking ``getaddrinfo``, up front: pass a numeric address to avoid it),
then starts a nonblocking ``connect`` to the first address and waits for
the socket to turn writable; ``SO_ERROR`` then says whether it connected.
A refused or unreachable address moves on to the next one, so a name
that resolves to ``::1`` first still reaches a server on 127.0.0.1. On
success the socket becomes a ``Transport`` for ``protocol`` (the same
protocol shape as an accepted connection's). When the name does not
resolve, every address has failed, or none connected within ``timeout``
seconds in all, ``on_error(exc)`` is called, once; ``cancel()`` gives up
the same way.
"""

import errno
import os
import socket

from .transport import Transport


class Connector:
    """A nonblocking outgoing connect; becomes a ``Transport`` on success.

    Every address the name resolves to is tried in turn (``localhost`` may
    be ``::1`` first while the server listens on 127.0.0.1). ``on_error(exc)``
    is called once if none connects within ``timeout`` seconds in all
    (refused, unreachable, timed out). Name resolution itself is a blocking
    ``getaddrinfo``, done up front: pass a numeric address to avoid it.
    """

    def __init__(self, loop, host, port, protocol, on_error, timeout=10.0):
        self.loop = loop
        self.protocol = protocol
        self.on_error = on_error
        self.transport = None
        self.sock = None
        self._done = False
        self._timer = None
        self._label = "%s:%s" % (host, port)
        try:
            self._addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            loop.call_soon(self._fail, exc)
            return
        self._timer = loop.call_later(timeout, self._fail, TimeoutError(
            errno.ETIMEDOUT, "no answer within %g seconds" % timeout))
        self._last_error = None
        self._try_next()

    def _try_next(self):
        """Start connecting to the next address, or fail with the last error."""
        while self._addresses:
            family, socktype, proto, _canon, addr = self._addresses.pop(0)
            sock = socket.socket(family, socktype, proto)
            sock.setblocking(False)
            err = sock.connect_ex(addr)
            if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                self.sock = sock
                self.loop.add_writer(sock, self._on_writable)
                return
            sock.close()
            self._last_error = OSError(err, os.strerror(err))
        self.loop.call_soon(self._fail, self._last_error or OSError("no address to connect to"))

    def _on_writable(self):
        sock, self.sock = self.sock, None
        self.loop.remove_writer(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sock.close()
            self._last_error = OSError(err, os.strerror(err))
            self._try_next()
            return
        self._done = True
        self._timer.cancel()
        self.transport = Transport(self.loop, sock, self.protocol)
        self.transport.start()

    def _fail(self, exc):
        if self._done:
            return
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        if self.sock is not None:
            self.loop.remove_writer(self.sock)
            self.sock.close()
            self.sock = None
        self.on_error(exc)

    def cancel(self):
        self._fail(ConnectionAbortedError(errno.ECONNABORTED, "connect cancelled"))
