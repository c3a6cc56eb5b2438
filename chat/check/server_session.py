"""Running the server checks: shared state, connections, the runner.

Theory of operation
-------------------
A server check run is a list of ``(group, title, function)`` entries run in
order against one ``ServerSession``. Each function gets the session, talks
to the server through ``wire.Connection``\\ s it opens with
``session.connect`` and returns a ``report.Verdict``. Later checks reuse
what earlier ones set up (``session.state``: the logged-in users, the
messages they sent); a check whose prerequisite is missing raises
``NotRun`` and is reported as not run.

Bounded and polite: every wait has a timeout (``--timeout`` for answers,
``--settle`` to see that nothing more arrives), requests on one connection
go one at a time (the next once the previous one was answered, or its wait
ran out), a connection carries at most a handful of requests (flood
control), and only a few connections are open at once. A server that stops
accepting connections halfway is a finding: the check that was running
fails and the rest are reported as not run.
"""

import random
import string
import time

from . import report, wire
from .shapes import Audit


#: After this many checks without one payload from the server, stop.
MUTE_AFTER = 3


class NotRun(Exception):
    """A prerequisite of this check failed earlier; the reason says which."""


class ServerGone(Exception):
    """The server stopped accepting connections."""


class Options:
    """Timing and size knobs of a server check (all command-line options)."""

    def __init__(self, timeout=3.0, settle=0.3, split_gap=0.05, oversize=256 * 1024,
                 history_gap=1.05, budget=45.0, stress=0, tls=None):
        self.timeout = timeout          # seconds to wait for an expected answer
        self.settle = settle            # seconds to confirm nothing else arrives
        self.split_gap = split_gap      # seconds between the pieces of a split request
        self.oversize = oversize        # bytes of the oversized request
        self.history_gap = history_gap  # seconds between a message and the login that
                                        # must see it unchanged (catches restamping)
        self.budget = budget            # seconds after which no further check starts
                                        # (the longest check adds a few timeouts)
        self.stress = stress            # clients at once in the stress check (0: none)
        self.tls = tls                  # an ssl.SSLContext: every connection speaks TLS


class ServerSession:
    """Everything the server checks share during one run."""

    def __init__(self, host, port, options=None, rng=None):
        self.host = host
        self.port = port
        self.options = options or Options()
        self.timeout = self.options.timeout
        self.pump = wire.Pump()
        self.audit = Audit()
        self.rng = rng or random.Random()
        self.connections = 0
        self.open = []
        self.seen = []          # every connection, for the checks of the raw bytes
        self.state = {}
        self.gone = None

    # -- connections and names --------------------------------------------

    def connect(self):
        """A new connection to the server; ``ServerGone`` if it refuses."""
        try:
            conn = wire.Connection(self.pump, self.host, self.port, self.timeout,
                                   on_payload=self._audit, tls=self.options.tls)
        except OSError as exc:
            raise ServerGone("cannot connect to %s:%s any more (%s)"
                             % (self.host, self.port, exc)) from exc
        self.connections += 1
        self.seen.append(conn)
        self.open = [c for c in self.open if not c.closed] + [conn]
        return conn

    def _audit(self, _conn, received):
        self.audit.see(received if not isinstance(received, wire.Received) else received.value)

    def name(self, role):
        """A fresh valid username: letters and a digit, unlikely to be taken."""
        letters = "".join(self.rng.choice(string.ascii_lowercase) for _ in range(5))
        return "ck%s%s%d" % (role, letters, self.rng.randrange(10))

    def token(self):
        """A short random marker that makes a message recognisable."""
        return "".join(self.rng.choice(string.ascii_lowercase) for _ in range(8))

    def login(self, conn, name, want_history=False):
        """Send ``login``; return (accepted, answer, history).

        ``answer`` is the first error/info/history that came back (None if
        nothing did). ``history`` is waited for only when ``want_history``.
        """
        conn.send("login", name)
        answer = conn.take_response(self.timeout, types=("error", "info", "history"))
        if answer is None or answer.response == "error":
            return False, answer, None
        history = answer if answer.response == "history" else None
        if want_history and history is None:
            history = conn.take(lambda r: r.response == "history", self.timeout)
        return True, answer, history

    def login_eventually(self, name, conn=None):
        """Log in as ``name``, retrying while the server may still be freeing
        it (another connection just left). Returns (accepted, conn, last answer)."""
        deadline = time.monotonic() + self.timeout
        answer = None
        while True:
            if conn is None or conn.closed:
                conn = self.connect()
            accepted, answer, _ = self.login(conn, name)
            if accepted or time.monotonic() >= deadline:
                return accepted, conn, answer
            self.pump.pause(min(0.2, max(0.0, deadline - time.monotonic())))

    def close_all(self):
        for conn in self.open:
            conn.close()
        self.open = []
        self.pump.close()

    # -- running ----------------------------------------------------------

    def run(self, checks, rep):
        """Run every check in order, adding each verdict to ``rep``."""
        deadline = time.monotonic() + self.options.budget
        for number, (group, title, check) in enumerate(checks):
            if self.gone is None and time.monotonic() > deadline:
                self.gone = "the time budget of %.0f s ran out" % self.options.budget
            if self.gone is None and number >= MUTE_AFTER and self.audit.payloads == 0:
                self.gone = "the server has not answered a single request (is it a KTN server?)"
            if self.gone is not None:
                rep.skip(group, title, "not run: %s" % self.gone)
                continue
            try:
                verdict = check(self)
            except NotRun as exc:
                rep.skip(group, title, "not run: %s" % exc)
                continue
            except ServerGone as exc:
                if self.connections == 0:   # never reached: nothing was checked
                    rep.fatal = str(exc)
                    return
                self.gone = str(exc)
                rep.add(group, title, report.failed(
                    "the server stopped accepting connections during this check: %s" % exc))
                continue
            except Exception as exc:   # a checker bug must not hide the other verdicts
                rep.skip(group, title, "the checker could not finish this check (%s: %s)"
                         % (type(exc).__name__, exc))
                continue
            rep.add(group, title, verdict)


def describe(received):
    """A received payload for the report (None: nothing arrived)."""
    if received is None:
        return "nothing"
    return received.value


def silence(conn, seconds):
    """What the report says when an answer did not come."""
    if conn.closed:
        return "the server closed the connection without answering"
    return "no answer within %.1f s" % seconds

