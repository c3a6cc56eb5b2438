"""The real event loop on a clock the test owns, for in-process tests of
the reactor and of the server's connections: timers fire when the test
moves time, and ``select`` never waits (``run_once`` is one pass).
"""

from reactor.loop import EventLoop


class FakeClock:
    """The loop's injectable monotonic clock; tests move ``now``."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


class Loop(EventLoop):
    """The real loop, never blocking in select (on the test's clock when
    given one, else the real one)."""

    def _select_timeout(self):
        return 0
