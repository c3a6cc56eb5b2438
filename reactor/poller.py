"""Readiness polling: which watched files are ready, and whose they are.

Theory of operation
-------------------
The loop asks one question per pass: which of the files it watches are
ready to read or write, and which handler owns each. ``selectors`` answers
it with a ``SelectorKey`` (a named tuple) per file, a dictionary from file
descriptor to key and a descriptor integer object per file: about 150
bytes per connection, the largest single cost of an idle one after the
transport and connection objects themselves.

``EpollPoller`` (Linux) asks ``select.epoll`` directly and keeps each
file's handler in a list and its registered events in a byte array, both
indexed by file descriptor. Descriptors are small dense integers (the
kernel hands out the lowest free one), so both are as long as the highest
descriptor in use (grown by a quarter at a time): about 11 bytes per
connection. Handlers are looked up when ``select`` returns, as ``selectors``
does: an event reported before its file was unregistered during the pass
still reaches the handler that was registered, which checks whether it is
closed. A file must be unregistered before it is closed (its descriptor is
gone after), which is what every transport does.

``SelectorPoller`` is the same interface on ``selectors.DefaultSelector``,
for systems without epoll. ``Poller`` is the one this system has.

Events are ``selectors.EVENT_READ`` and ``EVENT_WRITE``. An error or a
hang-up is reported as both, masked by what the file was registered for,
so its handler finds it whichever it waits for (as ``selectors`` does).
"""

import array
import math
import select
import selectors

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


def _fd(fileobj):
    """The descriptor of a file object or an integer; ValueError if closed."""
    fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
    if fd < 0:
        raise ValueError("cannot watch a closed file: %r" % (fileobj,))
    return fd


def _epoll_timeout(timeout):
    """Seconds for epoll.poll: -1 waits for ever; a positive wait is rounded
    up to the millisecond, so a timer is never polled for 0 ms early and
    spun on."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return math.ceil(timeout * 1e3) * 1e-3


class SelectorPoller:
    """The poller interface on ``selectors.DefaultSelector``."""

    def __init__(self):
        self._selector = selectors.DefaultSelector()

    def register(self, fileobj, events, handler):
        self._selector.register(fileobj, events, handler)

    def modify(self, fileobj, events, handler):
        self._selector.modify(fileobj, events, handler)

    def unregister(self, fileobj):
        self._selector.unregister(fileobj)

    def handler(self, fileobj):
        """The handler registered for ``fileobj``, or None."""
        try:
            return self._selector.get_key(fileobj).data
        except KeyError:
            return None

    def select(self, timeout=None):
        """[(handler, events)] of the ready files, waiting up to ``timeout``
        seconds (None: until one is ready)."""
        return [(key.data, events) for key, events in self._selector.select(timeout)]

    def close(self):
        self._selector.close()


# epoll's bits for our events, indexed by READ | WRITE.
_TO_EPOLL = (0, select.EPOLLIN, select.EPOLLOUT, select.EPOLLIN | select.EPOLLOUT) \
    if hasattr(select, "epoll") else None


class EpollPoller:
    """The poller interface on ``select.epoll``, a list slot per descriptor."""

    def __init__(self):
        self._epoll = select.epoll()
        self._handlers = []                # fd -> handler, or None
        self._events = array.array("B")    # fd -> the events registered (0: none)
        self._count = 0         # files registered

    def register(self, fileobj, events, handler):
        fd = _fd(fileobj)
        if fd < len(self._handlers) and self._handlers[fd] is not None:
            raise KeyError("%r is already registered" % (fileobj,))
        self._epoll.register(fd, _TO_EPOLL[events])
        if fd >= len(self._handlers):
            size = len(self._handlers)
            grow = max(fd + 1, size + size // 4 + 64) - size
            self._handlers.extend([None] * grow)
            self._events.extend(bytes(grow))
        self._handlers[fd] = handler
        self._events[fd] = events
        self._count += 1

    def modify(self, fileobj, events, handler):
        fd = self._registered(fileobj)
        if events != self._events[fd]:
            self._epoll.modify(fd, _TO_EPOLL[events])
            self._events[fd] = events
        self._handlers[fd] = handler

    def unregister(self, fileobj):
        fd = self._registered(fileobj)
        self._handlers[fd] = None
        self._events[fd] = 0
        self._count -= 1
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass    # (as selectors: the kernel may have dropped it already)

    def handler(self, fileobj):
        """The handler registered for ``fileobj``, or None."""
        fd = _fd(fileobj)
        return self._handlers[fd] if fd < len(self._handlers) else None

    def _registered(self, fileobj):
        fd = _fd(fileobj)
        if fd >= len(self._handlers) or self._handlers[fd] is None:
            raise KeyError("%r is not registered" % (fileobj,))
        return fd

    def select(self, timeout=None):
        """[(handler, events)] of the ready files, waiting up to ``timeout``
        seconds (None: until one is ready)."""
        handlers = self._handlers
        registered = self._events
        ready = []
        for fd, bits in self._epoll.poll(_epoll_timeout(timeout), max(self._count, 1)):
            events = registered[fd] & ((READ if bits & ~select.EPOLLOUT else 0)
                                       | (WRITE if bits & ~select.EPOLLIN else 0))
            if events:
                ready.append((handlers[fd], events))
        return ready

    def close(self):
        self._epoll.close()
        self._handlers = []
        self._events = array.array("B")
        self._count = 0


Poller = EpollPoller if hasattr(select, "epoll") else SelectorPoller
