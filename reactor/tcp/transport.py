"""The TCP transport: one connected nonblocking socket on the loop.

Theory of operation
-------------------
A ``Transport`` owns one connected nonblocking socket and talks to a
*protocol* object, the asyncio/Twisted shape::

    connection_made(transport)   once, before any data
    data_received(data)          bytes as they arrive, any split
    eof_received()               the peer shut its side (optional method)
    connection_lost(exc)         once, in the loop pass after the socket is closed
    pause_writing() / resume_writing()   (optional) output above/below marks

Writes never block. ``write()`` appends to a list of chunks and asks the
loop for an end-of-pass flush, so everything queued for a connection during
one loop pass leaves in one ``sendmsg`` (scatter/gather, no joining of
buffers). Whatever the kernel does not take stays queued, and only then is
the socket watched for writability; it is unwatched as soon as the queue is
empty. ``share(queue)`` takes a ``SharedChunks`` (``reactor.tcp.shared``:
one broadcast's payloads, queued once for many transports) as the queue by reference, while the
queue is empty: appending to it queues for every transport sharing it, and
the first write of the transport's own copies the queue (copy on write),
so order is kept. ``close()`` flushes, then closes (discarding input meanwhile);
``abort()`` closes at once and drops the queue. Both are idempotent.

``close(linger=seconds)`` is for closing on a peer that may still be
sending (a request refused before it was read whole): closing a socket
with unread input makes the kernel answer with a reset, which can destroy
the answer just sent before the peer reads it. So once the queue is sent
the transport shuts down its sending side (the peer reads the answer, then
end of file) and reads and discards until the peer hangs up too, or
``linger`` seconds after the ``close`` call, whichever comes first.

Every callback into the protocol is guarded: an exception there is logged
and aborts this connection only.

Where the socket comes from is another module's job: ``reactor.tcp.listener``
hands in accepted sockets, ``reactor.tcp.connector`` connected ones.
"""

import logging
import socket
import struct

from ..poller import READ as _READ, WRITE as _WRITE

log = logging.getLogger("reactor.tcp")

#: Bytes asked of the kernel per read: large, so a burst costs few calls.
RECV_SIZE = 256 * 1024

#: Chunks handed to one sendmsg call (Linux IOV_MAX is 1024).
MAX_IOV = 512

#: Default high/low water marks for pause_writing/resume_writing.
DEFAULT_HIGH_WATER = 256 * 1024
DEFAULT_LOW_WATER = 64 * 1024

# Shared "nothing queued" value: an idle connection holds no list of its own.
_NO_CHUNKS = ()


# A transport's sizes: (bytes asked per read, high water mark, low water mark).
_READ_SIZE, _HIGH, _LOW = 0, 1, 2
_DEFAULT_SIZES = (RECV_SIZE, DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER)
_SIZES = {_DEFAULT_SIZES: _DEFAULT_SIZES}


def _shared_sizes(read_size, high, low):
    """One tuple per set of sizes: a server's thousands of transports all
    use the same ones, and share one tuple instead of holding three
    integers each (the table is bounded; past it, a set is not shared)."""
    sizes = (read_size, high, low)
    if len(_SIZES) < 64:
        return _SIZES.setdefault(sizes, sizes)
    return _SIZES.get(sizes, sizes)


# Where a transport is in its life: open; closing (close() called: flush,
# then close; input is discarded); closing, then lingering (close(linger)
# called: flush, shut down our side, discard input until the peer's end of
# file or the deadline); closed (the socket is closed).
_OPEN, _CLOSING, _CLOSED, _CLOSING_TO_LINGER, _LINGERING = 0, 1, 2, 3, 4


#: SO_LINGER on, 0 seconds: close() resets the connection and frees its buffers.
_LINGER_RESET = struct.pack("ii", 1, 0)

_sendmsg = socket.socket.sendmsg
_recv = socket.socket.recv


class Transport:
    """A connected nonblocking TCP socket driven by an ``EventLoop``."""

    kind = "tcp"   # the way in, as the application counts its connections (TLS: "tls"...)

    # The deadline timers of lingering transports (close(linger)), cancelled
    # when they close: few at a time, where a slot would cost every
    # connection 16 bytes.
    _linger_deadlines = {}

    __slots__ = ("loop", "sock", "protocol", "_chunks", "buffered", "_interest", "_state",
                 "_sizes", "_writing_paused", "_shared")

    def __init__(self, loop, sock, protocol):
        self.loop = loop
        self.sock = sock
        self.protocol = protocol
        self._chunks = _NO_CHUNKS    # queued output, oldest first (a list)
        self.buffered = 0            # bytes in _chunks
        self._interest = 0           # the events watched: READ, and WRITE while the kernel is full
        self._state = _OPEN
        self._sizes = _DEFAULT_SIZES  # read size and water marks, shared (see _shared_sizes)
        self._writing_paused = False
        self._shared = None          # the SharedChunks that _chunks is, if any
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    @property
    def peername(self):
        """The peer's address, or None once closed."""
        try:
            return self.sock.getpeername()
        except OSError:
            return None

    @property
    def closed(self):
        """Whether the socket is closed (``close`` has finished, or ``abort``)."""
        return self._state == _CLOSED

    @property
    def read_size(self):
        """Bytes asked of the kernel per read."""
        return self._sizes[_READ_SIZE]

    @read_size.setter
    def read_size(self, size):
        sizes = self._sizes
        self._sizes = _shared_sizes(size, sizes[_HIGH], sizes[_LOW])

    @property
    def reading(self):
        """Whether the transport is watching for input (not paused, not closed)."""
        return bool(self._interest & _READ)

    def start(self):
        """Begin reading, then tell the protocol (which may pause or close)."""
        self.resume_reading()
        self._guard(self.protocol.connection_made, self)

    def set_send_buffer(self, size):
        """Cap the kernel's send buffer (SO_SNDBUF): bytes a peer that does
        not read can pin in the kernel, outside every user-space cap."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:
            pass

    def _watch(self, new):
        """Tell the poller what we wait for; the transport is the handler."""
        old = self._interest
        self._interest = new
        if new == old:
            return
        if not old:
            self.loop.register(self.sock, new, self)
        elif not new:
            self.loop.unregister(self.sock)
        else:
            self.loop.modify(self.sock, new, self)

    # -- reading --------------------------------------------------------

    def pause_reading(self):
        if self._interest & _READ and self._state != _CLOSED:
            self._watch(self._interest & _WRITE)

    def resume_reading(self):
        if not self._interest & _READ and self._state == _OPEN:
            self._watch(self._interest | _READ)

    def on_readable(self):
        if not self._interest & _READ:  # paused or closed earlier in this pass
            return
        try:
            data = _recv(self.sock, self._sizes[_READ_SIZE])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force_close(exc)
            return
        if data:
            if self._state == _OPEN:
                self._guard(self.protocol.data_received, data)
            # else: closing discards input (see close())
            return
        # End of file: the peer will send nothing more.
        self.pause_reading()
        if self._state != _OPEN:
            if self._state == _LINGERING:
                self._force_close(None)   # what we sent was read: both sides are done
            elif self._state == _CLOSING_TO_LINGER:
                self._state = _CLOSING    # nothing more will come: no need to linger
            return
        eof_received = getattr(self.protocol, "eof_received", None)
        keep_open = eof_received is not None and self._guard(eof_received) is True
        if not keep_open:
            self.close()

    # -- writing --------------------------------------------------------

    def write(self, data):
        """Queue ``data``; it leaves at the end of this loop pass."""
        if self._state != _OPEN:
            return
        if self._shared is not None:
            self.unshare()
        if self._chunks is _NO_CHUNKS:
            # First chunk since the last flush: flush at the end of the pass
            # (unless the kernel is full and on_writable will do it).
            self._chunks = [data]
            if not self._interest & _WRITE:
                self.loop.at_end_of_pass(self._flush)
        else:
            self._chunks.append(data)
        self.buffered += len(data)
        if self.buffered > self._sizes[_HIGH] and not self._writing_paused:
            self._pause_writing()

    def share(self, queue, encode=None):
        """Make ``queue`` (a ``SharedChunks``) this transport's queue, by
        reference, if nothing else is queued: this transport, or None
        (nothing done) if something is. With ``encode`` (a layer above that
        frames what it sends), the queue's encoding by it (``encoded``, made
        once for all the transports sharing it). ``buffered`` counts the
        queue as it was when shared (and as it is at the flush, or at
        ``unshare``)."""
        if self._chunks is not _NO_CHUNKS or self._state != _OPEN or self._interest & _WRITE:
            return None
        if encode is not None:
            queue = queue.encoded(encode)
        self._chunks = queue.chunks
        self._shared = queue
        self.buffered = queue.size
        self.loop.at_end_of_pass(self._flush)
        return self

    def unshare(self):
        """Copy the shared queue into one of our own; tell its owner."""
        if self._shared is None:
            return
        self.buffered = self._shared.size
        self._own_chunks()
        if self.buffered > self._sizes[_HIGH] and not self._writing_paused:
            self._pause_writing()

    def _pause_writing(self):
        """Above the high-water mark: tell the protocol, once."""
        self._writing_paused = True
        pause = getattr(self.protocol, "pause_writing", None)
        if pause:
            self._guard(pause)

    def _own_chunks(self):
        queue, self._shared = self._shared, None
        self._chunks = list(self._chunks)
        queue.left(self)
        return self._chunks

    def report_drain(self):
        """Call the protocol's ``resume_writing`` once the queue is at or
        below the low-water mark, even if it never rose above the high one
        (the protocol paused for output it holds itself, a paced backlog)."""
        if self.buffered > self._sizes[_LOW]:
            self._writing_paused = True

    def set_write_buffer_limits(self, high, low=None):
        self._sizes = _shared_sizes(self._sizes[_READ_SIZE], high,
                                    high // 4 if low is None else low)

    def _flush(self):
        """Send what the kernel takes, in as few calls as possible."""
        if self._state == _CLOSED:
            return
        shared = self._shared
        if shared is not None:
            self.buffered = shared.size
            if len(self._chunks) > MAX_IOV:
                self.unshare()
        chunks = self._chunks
        try:
            while chunks:
                if len(chunks) > MAX_IOV:
                    batch = chunks[:MAX_IOV]
                    wanted = sum(map(len, batch))
                else:
                    batch, wanted = chunks, self.buffered
                sent = _sendmsg(self.sock, batch)
                self.buffered -= sent
                if sent == wanted and batch is chunks:
                    chunks = _NO_CHUNKS  # all of it: the common case
                    self._shared = None
                    break
                if self._shared is not None:
                    chunks = self._own_chunks()   # never cut into the shared list
                self._consume(sent)
                if sent < wanted:
                    break  # the kernel's buffer is full
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self._force_close(exc)
            return
        if chunks:
            if self._shared is not None:   # the kernel took none of it
                chunks = self._own_chunks()
            self._chunks = chunks
            if not self._interest & _WRITE:
                self._watch(self._interest | _WRITE)
        else:
            self._chunks = _NO_CHUNKS
            if self._interest & _WRITE:
                self._watch(self._interest & _READ)
            if self._state != _OPEN:
                self._sent_before_close()
                return
        if self._writing_paused and self.buffered <= self._sizes[_LOW]:
            self._writing_paused = False
            resume = getattr(self.protocol, "resume_writing", None)
            if resume:
                self._guard(resume)

    def on_writable(self):
        if self._interest & _WRITE and self._state != _CLOSED:
            self._flush()

    def _consume(self, sent):
        """Drop ``sent`` bytes from the front of the queue."""
        chunks = self._chunks
        done = 0
        while sent and done < len(chunks):
            size = len(chunks[done])
            if sent >= size:
                sent -= size
                done += 1
            else:
                chunks[done] = memoryview(chunks[done])[sent:]
                sent = 0
        del chunks[:done]

    # -- closing --------------------------------------------------------

    def close(self, linger=0.0):
        """Send what is queued, then close. Idempotent.

        Input that arrives meanwhile is read and discarded, never delivered:
        closing a socket with unread input makes the kernel send a reset,
        which can destroy the very output we are flushing before the peer
        reads it (a client that wrote again after its ``logout``). With
        ``linger`` (seconds), once the output is sent, shut down our side
        and go on discarding until the peer hangs up, at most that long
        from now (see the module docstring).
        """
        if self._state != _OPEN:
            return
        self.resume_reading()  # to discard, see above
        if self._shared is not None:
            self.unshare()     # what is appended to a shared queue from now on is not ours
        if linger > 0:
            self._state = _CLOSING_TO_LINGER
            self._linger_deadlines[self] = self.loop.call_later(linger, self._linger_over)
        else:
            self._state = _CLOSING
        if not self._chunks:
            self._sent_before_close()
        # else: the pending flush (end of pass or on_writable) gets there.

    def _linger_over(self):
        del self._linger_deadlines[self]
        self._force_close(None)

    def _sent_before_close(self):
        """Everything queued before ``close`` is sent: close, or linger."""
        if self._state == _LINGERING:
            return   # sent, shut down, and waiting for the peer already
        if self._state != _CLOSING_TO_LINGER:
            self._force_close(None)
            return
        self._state = _LINGERING
        try:
            self.sock.shutdown(socket.SHUT_WR)   # the peer reads our answer, then end of file
        except OSError as exc:
            self._force_close(exc)

    def abort(self):
        """Close now and drop queued output, the kernel's too: a reset, not
        a FIN, so a peer that does not read cannot keep the socket's buffers
        alive in the kernel after we are done with it. Idempotent."""
        if not self.closed:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            except OSError:
                pass
        self._force_close(None)

    def _force_close(self, exc):
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        if self._linger_deadlines:
            deadline = self._linger_deadlines.pop(self, None)
            if deadline is not None:
                deadline.cancel()
        if self._shared is not None:
            self._shared.left(self)
            self._shared = None
        self._chunks = _NO_CHUNKS
        self.buffered = 0
        try:
            # Unregister before closing: the fd number may be reused at once.
            self._watch(0)
        except (KeyError, ValueError, OSError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        # As asyncio does: never re-enter the protocol from inside whatever
        # closed us (a broadcast loop, another callback); tell it next pass.
        self.loop.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc):
        try:
            self.protocol.connection_lost(exc)
        except Exception:
            log.exception("error in connection_lost")

    def call_guarded(self, method, *args):
        """Call ``method`` (a protocol's own timer callback, say) as the
        transport calls the protocol: if it raises, abort this connection,
        so a callback that fails on every pass cannot spin or leak it."""
        if not self.closed:
            return self._guard(method, *args)
        return None

    def _guard(self, method, *args):
        """Call into the protocol; on a bug there, abort this connection only."""
        try:
            return method(*args)
        except Exception:
            log.exception("error in %s for %s; closing the connection",
                          getattr(method, "__name__", method), self.peername)
            self._force_close(None)
            return None
