"""What the simulated clients do once logged in: the load generator's behaviours.

Theory of operation
-------------------
The engine (``bench/loadgen.py``) connects and logs in clients, and serves
every event of a plain receiver itself, counting the byte ``~``. That count
is exact because every message a behaviour here sends starts its content
with ``~`` (``message``), and no other server response contains that byte.

A behaviour gives one client an event handler of its own
(``LoadGen.handle``), reading and writing through the engine
(``LoadGen.read``, ``write``, ``flush``) so the ``~`` count stays whole:

* senders (``make_sender``) send ``~<tag><seq> <send time> <text>`` and pace
  themselves on their own echoes, counted by the two-byte marker ``~<tag>``
  (with one byte of carry for a marker split across reads); they refill
  while ``gen.sending`` is on;
* sample receivers (``make_sampler``) split their stream into lines and
  decode the send times to measure latency (into ``gen.latencies``, while
  ``gen.recording`` is on); a sampling sender (``make_sampling_sender``)
  does both, for scenarios where everyone sends;
* naive readers (``make_naive_reader``) decode them as samplers do, and
  also note reads that were not exactly one whole payload, in a
  ``NaiveTally``; ``ask_names`` sends their ``names`` requests;
* clients joining a room (``join_rooms``, for servers with PROTOCOL.md
  section 4 rooms) wait for the answer, then are plain receivers again;
* a slow consumer is ``freeze``-d (never read again), and
  ``closed_by_server`` tells afterwards whether the server cut it off.

In a room, a sender's tag needs to be unique only among that room's
members: nobody else receives its messages.
"""

import re
import select

from .loadgen import TILDE, clock

#: Typical chat text after the marker, sequence number and send time.
TEXT = b"the quick brown fox jumps over the lazy dog"

#: Sender tags, one letter each: part of the echo marker ``~<tag>``.
TAGS = [bytes((c,)) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"]

NAMES_REQUEST = b'{"request": "names", "content": null}'
NAMES_ANSWER = b"Users online"   # in the answer to ``names``, in no other response
_NEWLINE = ord("\n")
_TILDE = ord("~")
_SEND_TIME = re.compile(rb"~[A-Z]\d+ (\d+\.\d+)")
_OUT = select.EPOLLOUT
_JOINED = b'"Joined #'   # the start of a join's info answer


class NaiveTally:
    """What the naive readers of one run saw, all of them together."""

    def __init__(self):
        self.delays = []          # seconds, one per message received
        self.reads = 0
        self.unclean_reads = 0    # reads that were not exactly one whole payload
        self.names_asked = 0
        self.names_answered = 0


def message(tag, seq):
    """One ``msg`` request carrying the marker, the sequence and the send time."""
    return b'{"request": "msg", "content": "~%s%d %.6f %s"}\n' % (tag, seq, clock(), TEXT)


# -- rooms ----------------------------------------------------------------------

def join_rooms(gen, clients, rooms, deadline):
    """Send ``join`` for each client (``rooms[i]`` for ``clients[i]``);
    return once each has its ``info`` "Joined #..." answer."""
    waiting = {"n": len(clients)}
    for client, room in zip(clients, rooms):
        gen.handle(client, _joining(gen, client, waiting))
        gen.write(client, b'{"request": "join", "content": "%s"}\n' % room.encode())
    gen.run(until=lambda: waiting["n"] == 0, deadline=deadline,
            what="%d of %d joined" % (len(clients) - waiting["n"], len(clients)))


def _joining(gen, client, waiting):
    carry = [b""]

    def on_event(fd, events):
        if events & _OUT:
            gen.flush(client)
        if not events & ~_OUT:
            return
        n = gen.read(client)
        if not n:
            return
        seen = carry[0] + bytes(gen.buf[:n])
        if _JOINED in seen:
            gen.handle(client, None)   # a plain receiver from now on
            waiting["n"] -= 1
        else:
            carry[0] = seen[-len(_JOINED):]

    return on_event


# -- senders and samplers ---------------------------------------------------------

def make_sender(gen, client, tag):
    """Pace ``client`` on its own echoes: each one back lets one more go."""
    client.tag = tag
    marker = TILDE + tag
    tag_byte = tag[0]
    buf = gen.buf

    def on_event(fd, events):
        if events & _OUT:
            gen.flush(client)
        if not events & ~_OUT:
            return
        n = gen.read(client)
        if not n:
            return
        own = buf.count(marker, 0, n)
        if client.last_tilde and buf[0] == tag_byte:
            own += 1   # the marker was split across two reads
        client.last_tilde = buf[n - 1] == _TILDE
        if own:
            client.echoed += own
            if gen.sending:
                send_messages(gen, client, own)

    gen.handle(client, on_event)


def send_messages(gen, client, k):
    """Send ``k`` messages from a sender, in one write."""
    tag = client.tag
    seq = client.seq
    data = b"".join([message(tag, seq + i) for i in range(k)])
    client.seq = seq + k
    client.sent += k
    gen.write(client, data)


def make_sampler(gen, client):
    """Decode the send time of every message this client receives."""
    client.carry = bytearray()
    buf = gen.buf
    latencies = gen.latencies
    findall = _SEND_TIME.findall

    def on_event(fd, events):
        n = gen.read(client)
        if not n:
            return
        now = clock()
        carry = client.carry
        carry += buf[:n]
        cut = carry.rfind(b"\n") + 1
        if cut:
            if gen.recording:
                latencies.extend([now - float(t) for t in findall(carry, 0, cut)])
            del carry[:cut]

    gen.handle(client, on_event)


def make_sampling_sender(gen, client, tag):
    """A sender that also decodes the send time of every message it
    receives (its room's, its own included), for latency."""
    client.tag = tag
    client.carry = bytearray()
    marker = TILDE + tag
    buf = gen.buf
    latencies = gen.latencies
    findall = _SEND_TIME.findall

    def on_event(fd, events):
        if events & _OUT:
            gen.flush(client)
        if not events & ~_OUT:
            return
        n = gen.read(client)
        if not n:
            return
        now = clock()
        carry = client.carry
        carry += buf[:n]
        cut = carry.rfind(b"\n") + 1
        if cut:
            own = carry.count(marker, 0, cut)   # whole lines: no marker is split
            if gen.recording:
                latencies.extend([now - float(t) for t in findall(carry, 0, cut)])
            del carry[:cut]
            if own:
                client.echoed += own
                if gen.sending:
                    send_messages(gen, client, own)

    gen.handle(client, on_event)


# -- naive readers ------------------------------------------------------------------

def make_naive_reader(gen, client, tally):
    """Read as a ``json.loads(sock.recv())`` client does, one read at a time.

    Every message's delay (receipt minus the send time it carries) goes
    to ``tally``, with the reads that were not exactly one whole payload
    (a real naive reader fails on those: pacing is what prevents them)
    and the answers to its ``names`` requests (``ask_names``).
    """
    client.carry = bytearray()
    buf = gen.buf
    findall = _SEND_TIME.findall

    def on_event(fd, events):
        if events & _OUT:
            gen.flush(client)
        if not events & ~_OUT:
            return
        n = gen.read(client)
        if not n:
            return
        now = clock()
        tally.reads += 1
        if buf[n - 1] != _NEWLINE or buf.count(b"\n", 0, n) != 1:
            tally.unclean_reads += 1
        carry = client.carry
        carry += buf[:n]
        cut = carry.rfind(b"\n") + 1
        if cut:
            tally.delays.extend([now - float(t) for t in findall(carry, 0, cut)])
            tally.names_answered += carry.count(NAMES_ANSWER, 0, cut)
            del carry[:cut]

    gen.handle(client, on_event)


def ask_names(gen, client, tally):
    """Send ``names``, ended as the client ends its requests; count it."""
    gen.write(client, NAMES_REQUEST + client.eol)
    tally.names_asked += 1


# -- the slow consumer ----------------------------------------------------------------

def freeze(gen, client):
    """Never read from ``client`` again (a slow consumer)."""
    gen.unwatch(client)


def closed_by_server(gen, client, seconds=2.0):
    """Drain a frozen client's socket: True if the server closed it."""
    end = clock() + seconds
    sock = client.sock
    while clock() < end:
        try:
            n = sock.recv_into(gen.buf)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not n:
            return True
    return False
