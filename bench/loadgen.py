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

Only a few clients look closer: those in the middle of connecting and
logging in, and those given a behaviour (``bench/behaviours.py``: senders,
samplers, naive readers, room joiners), each served by a handler of its
own (``handle``) that reads and writes through ``read``, ``write`` and
``flush`` so the count stays whole.

Clients are logged in with unique names and end every request with ``\\n``,
so servers that pace naive readers switch them to stream mode at once;
only naive clients (``connect(naive=True)``) end none, and stay paced.
Senders pace themselves on echoes, or send on a clock (``run_timed``).
Everything waits with deadlines; a server that stops answering produces a
``RunTimeout``, one that exits a ``RunFailed``.

With ``tls`` (an ``ssl.SSLContext``) every client speaks TLS: a
nonblocking ``ssl.SSLSocket`` whose handshake is driven by the same epoll
events before the login (a connect-N over TLS times handshake and login
together), then counted as above, one TLS record per read.

Over WebSocket, ``bench/wsload.py`` subclasses this engine: the upgrade
before the login (``_greet``), frames instead of lines, and a count of
``~`` that skips frame headers.

Why one module of a little over 400 lines: connecting, logging in and the
counting receive path share the one selector and the per-client state of
this class; the behaviours that did not need them already live apart.
"""

import collections
import errno
import json
import math
import os
import resource
import select
import socket
import ssl
import struct
import time

#: One read takes whatever the kernel holds, up to this much.
RECV_SIZE = 256 * 1024

#: Clients connecting or logging in at once: enough to keep a server busy
#: (so logins/s measures the server, not round trips), and below every
#: server's listen backlog (1024 for all three), so no SYN is retransmitted.
CONNECT_WINDOW = 1000

TILDE = b"~"
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)   # SO_LINGER on, 0 s: RST, no TIME_WAIT
_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_HEAD = 512   # bytes of a login reply kept to explain a refusal

clock = time.perf_counter

# "Nothing to read or write now", on a plain socket or a TLS one.
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class RunTimeout(Exception):
    """The server did not do what was asked before the deadline."""


class RunFailed(Exception):
    """The server refused, dropped clients or exited."""


class Client:
    """One simulated client. Plain receivers are never touched after login."""

    __slots__ = ("sock", "fd", "name", "eol", "connected", "nl", "head", "bytes", "out",
                 "t_login", "tag", "seq", "sent", "echoed", "last_tilde", "carry",
                 "on_done", "closed", "handshaking")

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
        # What a behaviour keeps (bench/behaviours.py):
        self.tag = None
        self.seq = self.sent = self.echoed = 0
        self.last_tilde = False
        self.carry = None
        self.on_done = None
        self.closed = False    # login failed, or the server closed it after login
        self.handshaking = False   # TLS: connected, handshake not done yet


class LoadGen:
    """Clients on one epoll object; ``run`` serves them until told to stop."""

    def __init__(self, host, port, alive=None, tls=None):
        self.host = host
        self.port = port
        self.tls = tls              # an ssl.SSLContext: every client speaks TLS
        self.alive = alive          # () -> None while the server runs, else why not
        self.ep = select.epoll()
        size = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        size = min(size if size != resource.RLIM_INFINITY else 1 << 16, 1 << 20) + 64
        self.count = [0] * size     # '~' bytes received, by fd
        self._recv = [None] * size  # bound recv_into, by fd
        self._special = [None] * size  # event handler, or None for a plain receiver
        self.clients = []
        self.buf = bytearray(RECV_SIZE)
        # The switches the behaviours read, and what the samplers record:
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
            except WOULD_BLOCK:
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

    def port_for(self, index):
        """The port the ``index``-th client opened (0 for the first) connects to."""
        return self.port

    def _open(self, prefix, on_done, rcvbuf, eol):
        port = self.port_for(self._names)
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
        err = sock.connect_ex((self.host, port))
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
            if self.tls is None:
                return self._greet(client)
            client.sock = sock = self.tls.wrap_socket(
                sock, server_hostname=self.host, do_handshake_on_connect=False)
            self._recv[client.fd] = sock.recv_into
            client.handshaking = True
        if client.handshaking:
            try:
                sock.do_handshake()
            except ssl.SSLWantReadError:
                self.ep.modify(client.fd, _IN)
                return
            except ssl.SSLWantWriteError:
                self.ep.modify(client.fd, _IN | _OUT)
                return
            except OSError as exc:
                return self._fail_login(client, "TLS handshake: %s" % exc)
            client.handshaking = False
            self.ep.modify(client.fd, _IN)
            return self._greet(client)
        return self._read_login(client)

    def _greet(self, client):
        """The connection is up (and secured): log in. The WebSocket
        generator (``bench/wsload.py``) upgrades the connection first."""
        return self._send_login(client)

    def _read_login(self, client):
        """The replies to the login: two lines, or a refusal."""
        sock = client.sock
        buf = self.buf
        try:
            n = sock.recv_into(buf)
        except WOULD_BLOCK:
            return
        except OSError as exc:
            return self._fail_login(client, "recv: %s" % exc)
        if not n:
            return self._fail_login(client, "closed by the server" + explain(client.head))
        self.count[client.fd] += buf.count(TILDE, 0, n)
        client.nl += buf.count(b"\n", 0, n)
        client.bytes += n
        if len(client.head) < _HEAD:
            client.head += bytes(buf[:min(n, _HEAD - len(client.head))])
        if client.nl and b'"error"' in client.head.split(b"\n", 1)[0]:
            return self._fail_login(client, "refused" + explain(client.head))
        if client.nl >= 2:
            self._logged_in(client)

    def _logged_in(self, client):
        client.t_login = clock()
        self._special[client.fd] = None   # a plain receiver from now on
        client.on_done(client, None)

    def _login_request(self, client):
        """The login's bytes on the wire (a WebSocket client frames them)."""
        return b'{"request": "login", "content": "%s"}%s' % (client.name, client.eol)

    def _send_login(self, client):
        request = self._login_request(client)
        try:
            if client.sock.send(request) != len(request):
                return self._fail_login(client, "login request not sent whole")
        except OSError as exc:
            return self._fail_login(client, "send: %s" % exc)
        return None

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

    # -- what behaviours use (bench/behaviours.py) -------------------------------

    def handle(self, client, handler):
        """Serve ``client``'s events with ``handler(fd, events)`` from now on;
        None makes it a plain receiver again."""
        self._special[client.fd] = handler

    def unwatch(self, client):
        """Never serve ``client``'s events again (its socket stays open)."""
        self.ep.unregister(client.fd)

    def read(self, client):
        """One read into the shared buffer, counted; 0 if nothing (or lost)."""
        try:
            n = client.sock.recv_into(self.buf)
        except WOULD_BLOCK:
            return 0
        except OSError:
            n = 0
        if not n:
            client.closed = True
            self._lose(client.fd)
            return 0
        self.count[client.fd] += self.buf.count(TILDE, 0, n)
        return n

    def write(self, client, data):
        """Send ``data`` now, or queue what the socket would not take (``flush``)."""
        if client.out:
            client.out += data
            return
        try:
            sent = client.sock.send(data)
        except WOULD_BLOCK:
            sent = 0
        except OSError:
            return
        if sent < len(data):
            client.out = bytearray(data[sent:])
            self.ep.modify(client.fd, _IN | _OUT)

    def flush(self, client):
        """Send what ``write`` queued, once the socket is writable."""
        out = client.out
        if out:
            try:
                sent = client.sock.send(out)
            except WOULD_BLOCK:
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


def explain(head):
    """': <content of the first reply>' if it decodes, else ''."""
    line = head.split(b"\n", 1)[0]
    try:
        content = json.loads(line).get("content")
    except (ValueError, AttributeError):
        return ""
    return ": %s" % str(content)[:120] if content else ""
