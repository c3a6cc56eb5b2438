"""One write queue for many transports: a broadcast's payloads, queued once.

Theory of operation
-------------------
A server that sends the same payloads to many connections in one loop
pass need not copy a reference to each payload into each connection's
queue. A ``SharedChunks`` is that queue, built once; ``Transport.share``
takes it as a transport's own queue, by reference, while the transport
has nothing else queued, and the transport's end-of-pass flush sends it
in one ``sendmsg``. The first write of the transport's own, a partial
send, a close or an abort copies it first (copy on write), so nothing a
transport does changes what the others send, and order is kept.
"""


class SharedChunks:
    """Chunks queued once for many transports (see ``Transport.share``).

    Whoever owns it adds with ``append`` and must stop before the
    end-of-pass flushes of the transports sharing it run (register its own
    end-of-pass hook before sharing). ``left(transport)`` is called when a
    transport stops sharing before its flush (it was written to, or
    aborted): from then on, what is appended does not reach it.

    ``encoded(encode)`` is the same queue as a layer above TCP puts it on
    the wire (a WebSocket's frames): each chunk passed through ``encode``
    once for all the transports sharing it, kept in step by ``append``;
    transports leaving it are reported to this queue's ``left``.
    """

    __slots__ = ("chunks", "size", "_views")

    def __init__(self, data):
        self.chunks = [data]
        self.size = len(data)
        self._views = None               # encode -> _Encoded, made on demand

    def append(self, data):
        self.chunks.append(data)
        self.size += len(data)
        if self._views is not None:
            for encode, view in self._views.items():
                encoded = encode(data)
                view.chunks.append(encoded)
                view.size += len(encoded)

    @property
    def largest(self):
        """The size of the largest of this queue and its encodings."""
        if self._views is None:
            return self.size
        return max(self.size, *(view.size for view in self._views.values()))

    def encoded(self, encode):
        if self._views is None:
            self._views = {}
        view = self._views.get(encode)
        if view is None:
            view = self._views[encode] = _Encoded(self, encode)
        return view

    def left(self, transport):
        pass


class _Encoded(SharedChunks):
    """A ``SharedChunks`` as ``encode`` makes each chunk (see ``encoded``)."""

    __slots__ = ("origin",)

    def __init__(self, origin, encode):
        self.chunks = [encode(chunk) for chunk in origin.chunks]
        self.size = sum(map(len, self.chunks))
        self._views = None
        self.origin = origin

    def left(self, transport):
        self.origin.left(transport)
