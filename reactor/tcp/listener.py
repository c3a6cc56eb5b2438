"""The TCP listener: accept connections, each into a ``Transport``.

Theory of operation
-------------------
``listen(loop, host, port, protocol_factory)`` binds a socket and returns a
``Listener`` watching it. On every readiness event the listener accepts
until EAGAIN (at most a bounded number per event, so one listener cannot
starve the loop) and hands each new socket, with a new protocol object, to
a ``Transport``. An accept error that concerns only the connection being
accepted is skipped; any other (above all running out of file descriptors
or buffers: EMFILE, ENFILE, ENOBUFS, ENOMEM) stops accepting for
``ACCEPT_BACKOFF`` seconds, since the socket stays readable and the loop
would otherwise spin on it. A protocol factory that raises costs that one
connection, not the listener.

Accepted sockets are the C-level ``_socket.socket``, made from the
descriptor ``accept`` returns: ``socket.socket`` only adds file-object
support (``makefile``, context management) that transports never use, and
costs 40 bytes more per connection.
"""

import errno
import _socket
import logging
import socket

from .transport import Transport

log = logging.getLogger("reactor.tcp")

# accept() errors meaning "out of file descriptors or buffers": back off.
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# accept() errors that concern only the connection being accepted.
_TRANSIENT_ACCEPT_ERRNOS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM}

#: How long the listener waits before accepting again after EMFILE & co.
ACCEPT_BACKOFF = 0.1


class Listener:
    """Accepts connections and hands each to a new protocol object, made by
    ``protocol_factory(peer_address)`` (as Twisted's ``buildProtocol(addr)``:
    the address from ``accept`` costs no ``getpeername`` call).

    Accepts until EAGAIN on every readiness event. When the process runs out
    of file descriptors (EMFILE/ENFILE) it stops watching the socket for
    ``ACCEPT_BACKOFF`` seconds instead of spinning on a listener that stays
    readable.
    """

    def __init__(self, loop, sock, protocol_factory, backlog=1024):
        self.loop = loop
        self.sock = sock
        self.protocol_factory = protocol_factory
        self._kind = (sock.family, sock.type, sock.proto)   # of every accepted socket
        sock.setblocking(False)
        sock.listen(backlog)
        self._retry = None
        self.closed = False
        self.accept_failures = 0
        loop.add_reader(sock, self._on_readable)

    @property
    def address(self):
        return self.sock.getsockname()

    def _on_readable(self):
        for _ in range(1000):  # bounded, so one listener cannot starve the loop
            try:
                # socket's own accept, minus the socket.socket it wraps the
                # descriptor in: ours is a bare _socket.socket (40 bytes less)
                fd, address = self.sock._accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _TRANSIENT_ACCEPT_ERRNOS:
                    continue
                self.accept_failures += 1
                if exc.errno in _RESOURCE_ERRNOS:
                    log.warning("accept failed (%s); pausing accepts for %.1fs",
                                exc.strerror, ACCEPT_BACKOFF)
                else:
                    log.error("accept failed: %s", exc)
                self._back_off()
                return
            conn = _socket.socket(*self._kind, fd)
            try:
                protocol = self.protocol_factory(address)
                Transport(self.loop, conn, protocol).start()
            except Exception:
                log.exception("could not set up an accepted connection")
                conn.close()

    def _back_off(self):
        self.loop.remove_reader(self.sock)
        self._retry = self.loop.call_later(ACCEPT_BACKOFF, self._resume)

    def _resume(self):
        self._retry = None
        if not self.closed:
            self.loop.add_reader(self.sock, self._on_readable)

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self._retry:
            self._retry.cancel()
        try:
            self.loop.remove_reader(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()


def listen(loop, host, port, protocol_factory, backlog=1024):
    """Bind a TCP listener on (host, port) and start accepting."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _canon, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    return Listener(loop, sock, protocol_factory, backlog)
