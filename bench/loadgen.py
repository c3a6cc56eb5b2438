"""The load generator: thousands of chat clients on one epoll loop.

Theory of operation
-------------------
The generator must cost less per message than the server it measures, or
it measures itself. So the hot path parses nothing: a plain receiver does
one ``recv_into`` into a shared buffer and one ``bytearray.count`` per read.

What it counts is the byte ``~``. Every message the generator sends starts
its content with ``~``, and no other server response in a run contains that
byte (timestamps, usernames, presence and login notices, the empty history
of a fresh server never do), so counting ``~`` counts delivered messages
exactly: one byte cannot be split across reads, and presence notices or
login replies are never mistaken for deliveries.

Only a few clients look closer:

* senders (``make_sender``) send ``~<tag><seq> <send time> <text>`` and pace
  themselves on their own echoes, counted by the two-byte marker ``~<tag>``
  (with one byte of carry for a marker split across reads);
* sample receivers (``make_sampler``) split their stream into lines and
  decode the send times to measure latency; a sampling sender
  (``make_sampling_sender``) does both, for scenarios where everyone sends;
* naive readers (``make_naive_reader``) decode them as samplers do, and
  also note reads that were not exactly one whole payload;
* clients in the middle of connecting and logging in, or joining a room
  (``join_rooms``, for servers with PROTOCOL.md section 4 rooms).

In a room, a sender's tag needs to be unique only among that room's
members: nobody else receives its messages.

Clients are logged in with unique names and end every request with ``\\n``,
so servers that pace naive readers switch them to stream mode at once;
only naive clients (``connect(naive=True)``) end none, and stay paced.
Senders pace themselves on echoes, or send on a clock (``run_timed``).
Everything waits with deadlines; a server that stops answering produces a
``RunTimeout``, one that exits a ``RunFailed``.
"""

import collections
import errno
import json
import math
import os
import re
import resource
import select
import socket
import struct
import time

#: One read takes whatever the kernel holds, up to this much.
RECV_SIZE = 256 * 1024

#: Clients connecting or logging in at once: enough to keep a server busy
#: (so logins/s measures the server, not round trips), and below every
#: server's listen backlog (1024 for all three), so no SYN is retransmitted.
CONNECT_WINDOW = 1000

#: Typical chat text after the marker, sequence number and send time.
TEXT = b"the quick brown fox jumps over the lazy dog"

#: Sender tags, one letter each: part of the echo marker ``~<tag>``.
TAGS = [bytes((c,)) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"]

TILDE = b"~"
NAMES_REQUEST = b'{"request": "names", "content": null}'
NAMES_ANSWER = b"Users online"   # in the answer to ``names``, in no other response
_NEWLINE = ord("\n")
_TILDE = ord("~")
_SEND_TIME = re.compile(rb"~[A-Z]\d+ (\d+\.\d+)")
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)   # SO_LINGER on, 0 s: RST, no TIME_WAIT
_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_HEAD = 512   # bytes of a login reply kept to explain a refusal
_JOINED = b'"Joined #'   # the start of a join's info answer

clock = time.perf_counter


class NaiveTally:
    """What the naive readers of one run saw, all of them together."""

    def __init__(self):
        self.delays = []          # seconds, one per message received
        self.reads = 0
        self.unclean_reads = 0    # reads that were not exactly one whole payload
        self.names_asked = 0
        self.names_answered = 0


class RunTimeout(Exception):
    """The server did not do what was asked before the deadline."""


class RunFailed(Exception):
    """The server refused, dropped clients or exited."""


def raise_fd_limit():
    """Raise the open-file soft limit to the hard limit; return it.

    Servers started afterwards inherit it, which connect-10000 needs on
    both sides.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
    return target


def message(tag, seq):
    """One ``msg`` request carrying the marker, the sequence and the send time."""
    return b'{"request": "msg", "content": "~%s%d %.6f %s"}\n' % (tag, seq, clock(), TEXT)


class Client:
    """One simulated client. Plain receivers are never touched after login."""

    __slots__ = ("sock", "fd", "name", "eol", "connected", "nl", "head", "bytes", "out",
                 "t_login", "tag", "seq", "sent", "echoed", "last_tilde", "carry",
                 "on_done", "closed")

    def __init__(self, sock, name, eol=b"\n"):
        self.sock = sock
        self.fd = sock.fileno()
        self.name = name
        self.eol = eol         # ends every request: b"" for a naive client (stays paced)
        self.connected = False
        self.nl = 0            # newlines seen while logging in
        self.head = b""        # the first bytes received, to explain a refusal
        self.bytes = 0         # bytes received while logging in
        self.out = None        # unsent request bytes
        self.t_login = None
        self.tag = None
        self.seq = self.sent = self.echoed = 0
        self.last_tilde = False
        self.carry = None
        self.on_done = None
        self.closed = False    # login failed, or the server closed it after login


class LoadGen:
    """Clients on one epoll object; ``run`` serves them until told to stop."""

    def __init__(self, host, port, alive=None):
        self.host = host
        self.port = port
        self.alive = alive          # () -> None while the server runs, else why not
        self.ep = select.epoll()
        size = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        size = min(size if size != resource.RLIM_INFINITY else 1 << 16, 1 << 20) + 64
        self.count = [0] * size     # '~' bytes received, by fd
        self._recv = [None] * size  # bound recv_into, by fd
        self._special = [None] * size  # event handler, or None for a plain receiver
        self.clients = []
        self.buf = bytearray(RECV_SIZE)
        self.sending = False        # senders refill on echoes while True
        self.recording = False      # samplers keep latencies while True
        self.latencies = []         # seconds
        self.lost = 0               # clients the server closed after login
        self.failures = collections.Counter()
        self._maxevents = 1024
        self._names = 0

    # -- running ----------------------------------------------------------

    def run(self, seconds=None, until=None, deadline=None, check_every=0.0, what="run"):
        """Serve events for ``seconds`` or until ``until()``; return whether it held.

        ``until`` is evaluated at most every ``check_every`` seconds (some
        predicates look at every client). Past ``deadline``: ``RunTimeout``.
        """
        now = clock()
        end = now + seconds if seconds is not None else math.inf
        limit = min(end, deadline if deadline is not None else math.inf)
        next_check = now
        next_alive = now + 0.5
        while True:
            if until is not None and now >= next_check:
                if until():
                    return True
                next_check = now + check_every
            if now >= end:
                return False
            if deadline is not None and now >= deadline:
                raise RunTimeout("%s: deadline passed" % what)
            if self.alive is not None and now >= next_alive:
                next_alive = now + 0.5
                why = self.alive()
                if why:
                    raise RunFailed("%s: %s" % (what, why))
            self._poll(max(0.0, min(0.05, limit - now)))
            now = clock()

    def _poll(self, timeout):
        buf = self.buf
        count_in = buf.count
        counts = self.count
        recv = self._recv
        special = self._special
        for fd, events in self.ep.poll(timeout, self._maxevents):
            handler = special[fd]
            if handler is not None:
                handler(fd, events)
                continue
            try:
                n = recv[fd](buf)
            except BlockingIOError:
                continue
            except OSError:
                n = 0
            if n:
                counts[fd] += count_in(TILDE, 0, n)
            else:
                self._lose(fd)

    def run_timed(self, seconds, jobs, deadline, what="run"):
        """Serve events for ``seconds`` while running ``jobs`` on the clock.

        A job is a list ``[next_time, interval, action]``: ``action()`` runs
        once per interval as each comes due (a late pass runs it as often as
        it missed, so rates hold on average). Past ``deadline``:
        ``RunTimeout``; a server that exits: ``RunFailed``.
        """
        now = clock()
        end = now + seconds
        next_alive = now + 0.5
        while True:
            for job in jobs:
                while job[0] <= now:
                    job[2]()
                    job[0] += job[1]
            if now >= end:
                return
            if now >= deadline:
                raise RunTimeout("%s: deadline passed" % what)
            if self.alive is not None and now >= next_alive:
                next_alive = now + 0.5
                why = self.alive()
                if why:
                    raise RunFailed("%s: %s" % (what, why))
            soonest = min([job[0] for job in jobs] + [end])
            self._poll(max(0.0, min(0.05, soonest - now)))
            now = clock()

    def cpu(self):
        """CPU seconds this process has used (the generator is this process)."""
        return time.process_time()

    # -- connecting and logging in --------------------------------------------

    def connect(self, n, prefix, deadline, window=CONNECT_WINDOW, rcvbuf=None, naive=False):
        """Connect and log in ``n`` clients; return them once all are in.

        A login is complete when the two replies (``info`` and ``history``)
        arrived; that is when ``Client.t_login`` is taken. ``naive`` clients
        end no request with a newline, so a pacing server keeps them paced.
        """
        done, failed = [], []
        pending = started = 0

        def finished(client, error):
            nonlocal pending
            pending -= 1
            (failed if error else done).append(client)

        while len(done) + len(failed) < n:
            while started < n and pending < window:
                started += 1
                pending += 1
                self._open(prefix, finished, rcvbuf, b"" if naive else b"\n")
            self.run(seconds=0.05, until=lambda: pending < window and started < n
                     or len(done) + len(failed) == n,
                     deadline=deadline, what="%d of %d logged in" % (len(done), n))
        if failed:
            reason, times = self.failures.most_common(1)[0]
            raise RunFailed("%d of %d logins failed (%d times: %s)" % (len(failed), n, times, reason))
        return done

    def _open(self, prefix, on_done, rcvbuf, eol):
        self._names += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        client = Client(sock, b"%s%d" % (prefix.encode(), self._names), eol)
        client.on_done = on_done
        fd = client.fd
        if fd >= len(self.count):
            sock.close()
            self._fail_login(client, "file descriptor %d beyond the generator's table" % fd)
            return
        err = sock.connect_ex((self.host, self.port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self._fail_login(client, "connect: " + os.strerror(err))
            return
        self.count[fd] = 0
        self._recv[fd] = sock.recv_into
        self._special[fd] = lambda fd, events: self._logging_in(client, events)
        self.ep.register(fd, _OUT)
        self.clients.append(client)
        self._maxevents = max(self._maxevents, len(self.clients) + 16)

    def _logging_in(self, client, events):
        sock = client.sock
        if not client.connected:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self._fail_login(client, "connect: " + os.strerror(err))
            if not events & _OUT:
                return
            client.connected = True
            self.ep.modify(client.fd, _IN)
            request = b'{"request": "login", "content": "%s"}%s' % (client.name, client.eol)
            try:
                if sock.send(request) != len(request):
                    return self._fail_login(client, "login request not sent whole")
            except OSError as exc:
                return self._fail_login(client, "send: %s" % exc)
            return
        buf = self.buf
        try:
            n = sock.recv_into(buf)
        except BlockingIOError:
            return
        except OSError as exc:
            return self._fail_login(client, "recv: %s" % exc)
        if not n:
            return self._fail_login(client, "closed by the server" + _explain(client.head))
        self.count[client.fd] += buf.count(TILDE, 0, n)
        client.nl += buf.count(b"\n", 0, n)
        client.bytes += n
        if len(client.head) < _HEAD:
            client.head += bytes(buf[:min(n, _HEAD - len(client.head))])
        if client.nl and b'"error"' in client.head.split(b"\n", 1)[0]:
            return self._fail_login(client, "refused" + _explain(client.head))
        if client.nl >= 2:
            client.t_login = clock()
            self._special[client.fd] = None   # a plain receiver from now on
            client.on_done(client, None)

    def join_rooms(self, clients, rooms, deadline):
        """Send ``join`` for each client (``rooms[i]`` for ``clients[i]``);
        return once each has its ``info`` "Joined #..." answer."""
        waiting = {"n": len(clients)}
        for client, room in zip(clients, rooms):
            self._special[client.fd] = self._joining(client, waiting)
            self._write(client, b'{"request": "join", "content": "%s"}\n' % room.encode())
        self.run(until=lambda: waiting["n"] == 0, deadline=deadline,
                 what="%d of %d joined" % (len(clients) - waiting["n"], len(clients)))

    def _joining(self, client, waiting):
        carry = [b""]

        def on_event(fd, events):
            if events & _OUT:
                self._flush(client)
            if not events & ~_OUT:
                return
            n = self._read(client)
            if not n:
                return
            seen = carry[0] + bytes(self.buf[:n])
            if _JOINED in seen:
                self._special[client.fd] = None   # a plain receiver from now on
                waiting["n"] -= 1
            else:
                carry[0] = seen[-len(_JOINED):]

        return on_event

    def _fail_login(self, client, reason):
        self.failures[reason] += 1
        if not client.closed:
            client.closed = True
            if client in self.clients:
                self.clients.remove(client)
                try:
                    self.ep.unregister(client.fd)
                except (OSError, ValueError):
                    pass
                self._special[client.fd] = None
                _reset_close(client.sock)
        client.on_done(client, reason)

    def _lose(self, fd):
        """The server closed a logged-in client: stop watching it, keep its counts.

        The socket stays open until ``close`` so its fd (the key of every
        table here) cannot be reused by a new client meanwhile.
        """
        self.lost += 1
        try:
            self.ep.unregister(fd)
        except (OSError, ValueError):
            pass

    # -- roles after login --------------------------------------------------------

    def _read(self, client):
        """One read into the shared buffer, counted; 0 if nothing (or lost)."""
        try:
            n = client.sock.recv_into(self.buf)
        except BlockingIOError:
            return 0
        except OSError:
            n = 0
        if not n:
            client.closed = True
            self._lose(client.fd)
            return 0
        self.count[client.fd] += self.buf.count(TILDE, 0, n)
        return n

    def make_sender(self, client, tag):
        """Pace ``client`` on its own echoes: each one back lets one more go."""
        client.tag = tag
        marker = TILDE + tag
        tag_byte = tag[0]
        buf = self.buf

        def on_event(fd, events):
            if events & _OUT:
                self._flush(client)
            if not events & ~_OUT:
                return
            n = self._read(client)
            if not n:
                return
            own = buf.count(marker, 0, n)
            if client.last_tilde and buf[0] == tag_byte:
                own += 1   # the marker was split across two reads
            client.last_tilde = buf[n - 1] == _TILDE
            if own:
                client.echoed += own
                if self.sending:
                    self.send_messages(client, own)

        self._special[client.fd] = on_event

    def send_messages(self, client, k):
        """Send ``k`` messages from a sender, in one write."""
        tag = client.tag
        seq = client.seq
        data = b"".join([message(tag, seq + i) for i in range(k)])
        client.seq = seq + k
        client.sent += k
        self._write(client, data)

    def make_sampler(self, client):
        """Decode the send time of every message this client receives."""
        client.carry = bytearray()
        buf = self.buf
        latencies = self.latencies
        findall = _SEND_TIME.findall

        def on_event(fd, events):
            n = self._read(client)
            if not n:
                return
            now = clock()
            carry = client.carry
            carry += buf[:n]
            cut = carry.rfind(b"\n") + 1
            if cut:
                if self.recording:
                    latencies.extend([now - float(t) for t in findall(carry, 0, cut)])
                del carry[:cut]

        self._special[client.fd] = on_event

    def make_sampling_sender(self, client, tag):
        """A sender that also decodes the send time of every message it
        receives (its room's, its own included), for latency."""
        client.tag = tag
        client.carry = bytearray()
        marker = TILDE + tag
        buf = self.buf
        latencies = self.latencies
        findall = _SEND_TIME.findall

        def on_event(fd, events):
            if events & _OUT:
                self._flush(client)
            if not events & ~_OUT:
                return
            n = self._read(client)
            if not n:
                return
            now = clock()
            carry = client.carry
            carry += buf[:n]
            cut = carry.rfind(b"\n") + 1
            if cut:
                own = carry.count(marker, 0, cut)   # whole lines: no marker is split
                if self.recording:
                    latencies.extend([now - float(t) for t in findall(carry, 0, cut)])
                del carry[:cut]
                if own:
                    client.echoed += own
                    if self.sending:
                        self.send_messages(client, own)

        self._special[client.fd] = on_event

    def make_naive_reader(self, client, tally):
        """Read as a ``json.loads(sock.recv())`` client does, one read at a time.

        Every message's delay (receipt minus the send time it carries) goes
        to ``tally``, with the reads that were not exactly one whole payload
        (a real naive reader fails on those: pacing is what prevents them)
        and the answers to its ``names`` requests (``ask_names``).
        """
        client.carry = bytearray()
        buf = self.buf
        findall = _SEND_TIME.findall

        def on_event(fd, events):
            if events & _OUT:
                self._flush(client)
            if not events & ~_OUT:
                return
            n = self._read(client)
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

        self._special[client.fd] = on_event

    def ask_names(self, client, tally):
        """Send ``names``, ended as the client ends its requests; count it."""
        self._write(client, NAMES_REQUEST + client.eol)
        tally.names_asked += 1

    def freeze(self, client):
        """Never read from ``client`` again (a slow consumer)."""
        self.ep.unregister(client.fd)

    def closed_by_server(self, client, seconds=2.0):
        """Drain a frozen client's socket: True if the server closed it."""
        end = clock() + seconds
        sock = client.sock
        while clock() < end:
            try:
                n = sock.recv_into(self.buf)
            except BlockingIOError:
                return False
            except OSError:
                return True
            if not n:
                return True
        return False

    # -- writing ----------------------------------------------------------------

    def _write(self, client, data):
        if client.out:
            client.out += data
            return
        try:
            sent = client.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return
        if sent < len(data):
            client.out = bytearray(data[sent:])
            self.ep.modify(client.fd, _IN | _OUT)

    def _flush(self, client):
        out = client.out
        if out:
            try:
                sent = client.sock.send(out)
            except BlockingIOError:
                return
            except OSError:
                out.clear()
                sent = 0
            del out[:sent]
        if not out:
            self.ep.modify(client.fd, _IN)

    # -- totals -----------------------------------------------------------------

    def total(self, clients):
        counts = self.count
        return sum([counts[c.fd] for c in clients])

    def minimum(self, clients):
        counts = self.count
        return min([counts[c.fd] for c in clients]) if clients else 0

    def close(self):
        """Reset every connection (no TIME_WAIT left behind) and the epoll object."""
        for client in self.clients:
            _reset_close(client.sock)
        self.clients = []
        self.ep.close()


def _reset_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    except OSError:
        pass
    sock.close()


def _explain(head):
    """': <content of the first reply>' if it decodes, else ''."""
    line = head.split(b"\n", 1)[0]
    try:
        content = json.loads(line).get("content")
    except (ValueError, AttributeError):
        return ""
    return ": %s" % str(content)[:120] if content else ""
