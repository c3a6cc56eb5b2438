"""The event loop: one poller, a timer heap, a ready queue, signals.

Theory of operation
-------------------
Each pass of ``run()`` does, in order:

1. wait in the poller (``reactor.poller``: epoll, or ``selectors``
   elsewhere) no longer than the next timer's deadline (not at
   all when callbacks are ready);
2. run the callbacks queued with ``call_soon`` before this pass started;
3. dispatch the ready file objects to their handlers (a transport, or
   the reader/writer callbacks given to ``add_reader``/``add_writer``);
4. run the timers that are due;
5. run the end-of-pass hooks (``at_end_of_pass``): the transports use this
   to flush, so every payload queued for one connection during the pass
   leaves in one ``send``.

Timers live on a heap and are cancelled lazily: ``cancel()`` marks the
handle, and the loop drops it when it reaches the top. Signals reach the
loop through ``signal.set_wakeup_fd`` on a nonblocking socket pair, so a
SIGTERM arriving during ``select()`` wakes it at once; the Python-level
handler only queues the user's callback.

Other threads (a small worker pool) hand results back with
``call_soon_threadsafe`` (after ``accept_threads``): the callback joins the ready queue (a deque,
whose append is atomic) and one byte on a second socket pair wakes a
``select()`` that may be waiting. It is the only method another thread
may call.

A callback that raises is logged and the loop goes on: callers that own a
resource (a transport) catch their own errors and close just that resource.
"""

import collections
import heapq
import itertools
import logging
import signal
import socket
import threading
import time

from .poller import READ as _READ, WRITE as _WRITE, Poller

log = logging.getLogger("reactor")


class TimerHandle:
    """A scheduled call. ``cancel()`` is cheap and idempotent."""

    __slots__ = ("when", "callback", "args", "cancelled", "_seq", "_loop")

    def __init__(self, loop, when, seq, callback, args):
        self._loop = loop
        self.when = when
        self._seq = seq
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self):
        if not self.cancelled:
            self.cancelled = True
            self.callback = self.args = None
            if self._loop is not None:
                self._loop._timer_cancelled()

    def __lt__(self, other):
        return (self.when, self._seq) < (other.when, other._seq)


class _Callbacks:
    """Adapts plain reader/writer callbacks to the handler interface."""

    __slots__ = ("reader", "writer")

    def __init__(self):
        self.reader = None
        self.writer = None

    def events(self):
        return (_READ if self.reader else 0) | (_WRITE if self.writer else 0)

    def on_readable(self):
        if self.reader is not None:
            self.reader()

    def on_writable(self):
        if self.writer is not None:
            self.writer()


class EventLoop:
    """A single-threaded reactor on one ``Poller``."""

    def __init__(self, clock=time.monotonic):
        self.time = clock
        self._poller = Poller()
        self._timers = []
        self._cancelled = 0      # cancelled handles still on the heap
        self._seq = itertools.count()
        self._ready = collections.deque()
        self._end_of_pass = []
        self._running = False
        self._stopping = False
        self._signal_socks = None
        self._old_signal_handlers = {}
        self._pass_observer = None   # fn(seconds of one pass's work), if any
        self._waker = None           # (rsock, wsock) once a thread has called in
        self._waker_lock = threading.Lock()

    # -- callbacks and timers -------------------------------------------

    def call_soon(self, callback, *args):
        """Run ``callback(*args)`` at the start of the next pass; returns a
        handle whose ``cancel()`` drops it. (Unlike ``call_later(0)``, never
        in the pass that asked, whatever the clock's resolution.)"""
        handle = TimerHandle(None, 0.0, 0, callback, args)
        self._ready.append(handle)
        return handle

    def accept_threads(self):
        """Let other threads call ``call_soon_threadsafe`` (from the loop's
        thread, before starting them): the wake-up socket pair. Idempotent."""
        with self._waker_lock:
            if self._waker is None:
                rsock, wsock = socket.socketpair()
                rsock.setblocking(False)
                wsock.setblocking(False)
                self._waker = (rsock, wsock)
                self.add_reader(rsock, self._drain_waker)

    def call_soon_threadsafe(self, callback, *args):
        """``call_soon`` for another thread (after ``accept_threads``):
        queue ``callback(*args)`` and wake the loop."""
        with self._waker_lock:
            if self._waker is None:
                return None   # closed: nobody will run it
            wsock = self._waker[1]
        handle = self.call_soon(callback, *args)
        try:
            wsock.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass   # full: the loop has a wake-up owed already
        except OSError:
            pass   # closed: the loop is gone
        return handle

    def _drain_waker(self):
        try:
            while self._waker[0].recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def call_later(self, delay, callback, *args):
        """Run ``callback(*args)`` after ``delay`` seconds; returns a handle."""
        return self.call_at(self.time() + delay, callback, *args)

    def call_at(self, when, callback, *args):
        handle = TimerHandle(self, when, next(self._seq), callback, args)
        heapq.heappush(self._timers, handle)
        return handle

    def _timer_cancelled(self):
        """Rebuild the heap when most of it is cancelled timers."""
        self._cancelled += 1
        if self._cancelled > 256 and self._cancelled * 2 > len(self._timers):
            self._timers = [h for h in self._timers if not h.cancelled]
            heapq.heapify(self._timers)
            self._cancelled = 0

    def observe_passes(self, observer):
        """Call ``observer(seconds)`` after each pass with the time its work
        took (from the end of the wait to the end of the pass)."""
        self._pass_observer = observer

    def at_end_of_pass(self, callback):
        """Run ``callback()`` once, after the I/O and timers of this pass."""
        self._end_of_pass.append(callback)

    # -- file objects ---------------------------------------------------

    def register(self, fileobj, events, handler):
        """Watch ``fileobj`` for ``events`` (``reactor.poller.READ|WRITE``).

        ``handler.on_readable()`` / ``handler.on_writable()`` are called when
        it is ready. Transports are their own handlers and remember what they
        registered, which keeps per-connection memory down (no callback
        tuples, no bound methods) and avoids lookups.
        """
        self._poller.register(fileobj, events, handler)

    def modify(self, fileobj, events, handler):
        self._poller.modify(fileobj, events, handler)

    def unregister(self, fileobj):
        """Stop watching ``fileobj``; before it is closed."""
        self._poller.unregister(fileobj)

    def add_reader(self, fileobj, callback):
        """Call ``callback()`` whenever ``fileobj`` is readable."""
        self._set_callback(fileobj, "reader", callback)

    def remove_reader(self, fileobj):
        self._set_callback(fileobj, "reader", None)

    def add_writer(self, fileobj, callback):
        """Call ``callback()`` whenever ``fileobj`` is writable."""
        self._set_callback(fileobj, "writer", callback)

    def remove_writer(self, fileobj):
        self._set_callback(fileobj, "writer", None)

    def _set_callback(self, fileobj, which, callback):
        handler = self._poller.handler(fileobj)
        if handler is None:
            if callback is None:
                return
            handler = _Callbacks()
            setattr(handler, which, callback)
            self._poller.register(fileobj, handler.events(), handler)
            return
        setattr(handler, which, callback)
        if handler.events():
            self._poller.modify(fileobj, handler.events(), handler)
        else:
            self._poller.unregister(fileobj)

    # -- signals --------------------------------------------------------

    def add_signal_handler(self, signum, callback):
        """Call ``callback()`` from the loop when ``signum`` arrives."""
        if self._signal_socks is None:
            rsock, wsock = socket.socketpair()
            rsock.setblocking(False)
            wsock.setblocking(False)
            self._signal_socks = (rsock, wsock)
            self.add_reader(rsock, self._drain_wakeup)
            signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
        previous = signal.signal(signum, lambda _sig, _frame: self.call_soon(callback))
        self._old_signal_handlers.setdefault(signum, previous)

    def _drain_wakeup(self):
        try:
            while self._signal_socks[0].recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _restore_signals(self):
        for signum, previous in self._old_signal_handlers.items():
            signal.signal(signum, previous)
        self._old_signal_handlers.clear()
        if self._signal_socks is not None:
            signal.set_wakeup_fd(-1)
            self.remove_reader(self._signal_socks[0])
            for sock in self._signal_socks:
                sock.close()
            self._signal_socks = None

    # -- running --------------------------------------------------------

    def run(self):
        """Run passes until ``stop()`` is called."""
        self._running = True
        self._stopping = False
        try:
            while not self._stopping:
                self.run_once()
        finally:
            self._running = False
            self._restore_signals()

    def stop(self):
        """Stop after the current pass."""
        self._stopping = True

    def run_once(self):
        timeout = self._select_timeout()
        events = self._poller.select(timeout)
        started = self.time() if self._pass_observer is not None else 0.0
        # Callbacks queued by the last pass (a closed transport's
        # connection_lost, say) run before this pass's I/O: a slot freed
        # then is free for a connection accepted now.
        for _ in range(len(self._ready)):
            handle = self._ready.popleft()
            if not handle.cancelled:
                self._invoke(handle.callback, handle.args)
        for handler, mask in events:
            try:
                if mask & _READ:
                    handler.on_readable()
                # on_readable may have closed the file: handlers re-check.
                if mask & _WRITE:
                    handler.on_writable()
            except Exception:
                log.exception("unhandled error in I/O handler %r", handler)
        self._run_timers()
        while self._end_of_pass:
            hooks, self._end_of_pass = self._end_of_pass, []
            for hook in hooks:
                self._invoke(hook, ())
        if self._pass_observer is not None:
            self._pass_observer(self.time() - started)

    def _select_timeout(self):
        if self._ready or self._end_of_pass or self._stopping:
            return 0  # (end-of-pass work queued from outside a callback: a flush)
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)._loop = None
            self._cancelled -= 1
        if not self._timers:
            return None
        return max(0.0, self._timers[0].when - self.time())

    def _run_timers(self):
        now = self.time()
        # self._timers, not a local: a callback may compact the heap.
        while self._timers and (self._timers[0].cancelled or self._timers[0].when <= now):
            handle = heapq.heappop(self._timers)
            if handle.cancelled:
                self._cancelled -= 1
                continue
            handle._loop = None  # off the heap: a late cancel() counts nothing
            callback, args = handle.callback, handle.args
            handle.cancel()
            self._invoke(callback, args)

    def _invoke(self, callback, args):
        try:
            callback(*args)
        except Exception:
            log.exception("unhandled error in callback %r", callback)

    def close(self):
        """Release the poller. The loop must not be running."""
        self._restore_signals()
        with self._waker_lock:
            if self._waker is not None:
                self.remove_reader(self._waker[0])
                for sock in self._waker:
                    sock.close()
                self._waker = None
        self._poller.close()
