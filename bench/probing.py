"""Behaviours for the probe scenarios (issue 21): pipelining clients, and a
probe that times its own round trip.

Theory of operation
-------------------
Like ``bench/behaviours.py``, each behaviour gives one client an event
handler of its own, reading and writing through the engine
(``LoadGen.read``, ``write``, ``flush``) so the engine's ``~`` count stays
whole; what they count is theirs, in a ``Tally`` shared by a group.

* ``make_pipeliner``: a client that keeps ``depth`` requests outstanding,
  ``names`` (the flood) or ``join`` alternately to two rooms (the room
  switcher). An answer is recognised by a marker it alone carries
  (``MarkerCounter``: one ``bytes.count`` per read, plus the few bytes
  where a marker may be split across two reads), and each answer lets the
  next request go, so what the server holds per client stays bounded. The
  tally counts the bytes received and the answers.
* ``make_probe``: a client alone in a room of its own, sending
  ``msg ~P<seq>`` to itself, one at a time, when ``probe_tick`` comes due
  (the scenarios call it on the engine's clock: ``LoadGen.run_timed``),
  and recording the round trip when its echo comes back. Its requests are
  as cheap as requests get, so its round trip is what the server's other
  work costs a bystander. At one request every 0.25 s it stays under the
  default flood control (5 requests a second).
"""

import select

from .loadgen import clock

_OUT = select.EPOLLOUT

NAMES_MARKER = b"Users online ("                 # in the answer to ``names`` only
HISTORY_MARKER = b'"response": "history"'        # once per answer to ``join``


class Tally:
    """What one group of clients received, all of them together."""

    def __init__(self):
        self.bytes = 0
        self.answers = 0
        self.round_trips = []       # seconds (probes)
        self.recording = False      # probes keep round trips while True


class MarkerCounter:
    """Occurrences of ``marker`` in a stream split anywhere."""

    __slots__ = ("marker", "keep", "tail")

    def __init__(self, marker):
        self.marker = marker
        self.keep = len(marker) - 1
        self.tail = b""             # the last bytes seen, shorter than a marker

    def feed(self, buf, n):
        found = buf.count(self.marker, 0, n)
        if self.tail:   # a marker split across reads has a byte on either side
            found += (self.tail + bytes(buf[:min(n, self.keep)])).count(self.marker)
        self.tail = (self.tail + bytes(buf[max(0, n - self.keep):n]))[-self.keep:]
        return found


def make_pipeliner(gen, client, requests, marker, depth, tally):
    """Keep ``depth`` of ``requests`` (taken in turn, a list of request
    lines without newline) outstanding; an answer carries ``marker``."""
    counter = MarkerCounter(marker)
    buf = gen.buf
    turn = [0]

    def send(k):
        lines = []
        for _ in range(k):
            lines.append(requests[turn[0] % len(requests)] + b"\n")
            turn[0] += 1
        gen.write(client, b"".join(lines))

    def on_event(fd, events):
        if events & _OUT:
            gen.flush(client)
        if not events & ~_OUT:
            return
        n = gen.read(client)
        if not n:
            return
        tally.bytes += n
        answers = counter.feed(buf, n)
        if answers:
            tally.answers += answers
            send(answers)

    gen.handle(client, on_event)
    send(depth)


def make_probe(gen, client, tally):
    """Time ``msg`` to itself (the client is alone in its room); a request
    goes when ``probe_tick`` finds none outstanding."""
    state = {"seq": 0, "sent_at": None, "carry": b""}
    buf = gen.buf

    def on_event(fd, events):
        if events & _OUT:
            gen.flush(client)
        if not events & ~_OUT:
            return
        n = gen.read(client)
        if not n or state["sent_at"] is None:
            return
        marker = b'"~P%d"' % state["seq"]
        seen = state["carry"] + bytes(buf[:n])
        if marker in seen:
            if tally.recording:
                tally.round_trips.append(clock() - state["sent_at"])
            state["sent_at"], state["carry"] = None, b""
        else:
            state["carry"] = seen[-len(marker):]

    def tick():
        if state["sent_at"] is None:
            state["seq"] += 1
            state["sent_at"] = clock()
            gen.write(client, b'{"request": "msg", "content": "~P%d"}\n' % state["seq"])

    gen.handle(client, on_event)
    return tick, state


def unanswered(probes):
    """How many probes still wait for their echo."""
    return sum(1 for _, state in probes if state["sent_at"] is not None)
