"""Every limit the server enforces, as a named default, plus the token bucket.

Each constant here is also a command-line option of ``chat.server`` and a
line in the README. The values follow what serious servers do (Redis client
output buffer limits, ergo's max-sendq, InspIRCd's flood control).
"""

#: Largest request, in bytes, before it completes (PROTOCOL.md: 64 KiB).
#: Past it the client gets an ``error`` and is closed: the stream cannot be
#: trusted after a runaway payload.
MAX_REQUEST_SIZE = 64 * 1024

#: Longest ``msg`` content, in characters. Longer ones get an ``error``.
MAX_MESSAGE_LENGTH = 4096

#: Largest ``msg`` or ``pm`` content once encoded for the wire, in bytes
#: (``ensure_ascii`` escapes included: a non-ASCII character costs 6 bytes,
#: an emoji 12). Bounds a room's history in bytes, see
#: ``chat.core.history.worst_case_response_bytes``.
MAX_MESSAGE_BYTES = 16 * 1024

#: Messages kept per room for the ``history`` sent at login and ``join``.
HISTORY_LIMIT = 1000

#: Rooms at once besides ``#lobby`` (PROTOCOL.md section 4).
MAX_ROOMS = 1000

#: Registered accounts at most (each costs ~200 bytes of salt and hash).
MAX_ACCOUNTS = 100000

#: Failed password logins (and ``oper``/``password`` attempts) per address
#: within FAILED_LOGIN_WINDOW seconds before further attempts are refused
#: until the window has passed (loopback included).
FAILED_LOGIN_LIMIT = 5
FAILED_LOGIN_WINDOW = 60.0

#: Password hashes (scrypt, ``chat.core.accounts``) the whole server
#: computes per second after a burst of HASH_BURST; over it, a request that
#: would hash (``register``, ``password``, a password ``login``) gets
#: "server busy" at once. Hashing runs on the event loop, so this bounds
#: the share of the loop that hashing can take however many clients ask
#: (a ``password`` change is two hashes); docs/benchmarks.md, "Password
#: hashing", has the measurements behind the number.
HASHES_PER_SECOND = 25.0
HASH_BURST = 10

#: Hard cap on a client's unsent output, in bytes. A client that lets more
#: pile up (it does not read) is disconnected. It must hold one full
#: ``history`` response (``chat.core.worst_case_response_bytes``: about
#: HISTORY_LIMIT x (MAX_MESSAGE_BYTES + 150), 16.5 MB by default): the
#: server refuses to start otherwise.
MAX_OUTPUT = 32 * 1024 * 1024

#: Above this much unsent output, stop reading the client's own requests
#: until its output drains below a quarter of it. Also the most a client
#: may hold while all clients together are over MAX_TOTAL_OUTPUT.
PAUSE_READING_OUTPUT = 64 * 1024

#: Unsent output of the clients past PAUSE_READING_OUTPUT, together, in
#: bytes. Above it, any client holding more than PAUSE_READING_OUTPUT is
#: disconnected as a slow consumer, so a crowd of non-readers cannot take
#: the server to gigabytes. (History payloads are one shared bytes object,
#: but each client's copy is counted, so the real memory is lower.)
MAX_TOTAL_OUTPUT = 256 * 1024 * 1024

#: Kernel send buffer per client socket (SO_SNDBUF; Linux doubles it): what
#: a client that does not read can pin in kernel memory, outside every
#: user-space cap. 0 leaves the kernel's autotuning (up to 4 MB a socket).
SEND_BUFFER = 64 * 1024

#: Bytes asked of the kernel per read of a client socket. Requests are
#: small; a read is what may wait in user space while flood control holds
#: a client back, so it is part of the per-connection worst case.
READ_SIZE = 64 * 1024

#: Decoded requests a connection holds at once (and the most it handles in
#: one loop pass); the rest of a read waits undecoded in its decoder.
QUEUED_REQUESTS = 16
QUEUED_REQUEST_BYTES = 64 * 1024

#: Flood control per connection: a token bucket of BURST requests, refilled
#: at RATE per second. Over the rate the server stops reading the client
#: until the next token, so nothing is dropped. RATE 0 turns it off.
RATE = 5.0
BURST = 10

#: Seconds a connection may take to log in, counted from accept and not
#: reset by traffic (slowloris).
LOGIN_TIMEOUT = 60.0

#: Seconds a logged-in client may stay silent; 0 turns it off.
IDLE_TIMEOUT = 0.0

#: Connections at once; beyond it a newcomer gets "server full" and is closed.
MAX_CLIENTS = 10000

#: Connections at once from one address (loopback exempt); 0 turns it off.
MAX_PER_IP = 16

#: Gap between payloads to a client in paced mode (PROTOCOL.md section 3),
#: and the shortest it shrinks to while a long backlog waits (chat/server/pacing.py):
#: a paced client receives up to 1000 payloads a second.
PACE_MS = 20.0
PACE_MIN_MS = 1.0

#: Seconds a graceful shutdown waits for output to drain.
SHUTDOWN_GRACE = 2.0

#: Seconds a closing connection (logout, timeouts, kick) may take to receive
#: its last output; then it is aborted and its slot is free.
CLOSE_DEADLINE = 5.0

#: Coalesced presence notices go out at most this often (seconds).
PRESENCE_INTERVAL = 1.0

#: After a failed database write (disk full, I/O error), the changes that
#: must not be lost (accounts, bans, purges) are retried with the next
#: pass's commit, or after this many seconds if no message brings one.
STORE_RETRY_INTERVAL = 1.0

#: Cluster (--redis): seconds a name's lease lasts without renewal (a dead
#: node's names are free within it), and how long to wait for Redis to
#: answer before its connection counts as dead (a socket that never
#: closes); the longest wait between reconnection attempts; how long one
#: XREAD blocks (its reply is awaited this long plus REDIS_TIMEOUT).
LEASE = 15.0
REDIS_TIMEOUT = 5.0
REDIS_BACKOFF_MAX = 2.0
REDIS_BLOCK = 5.0

#: Cluster: entries a room's stream keeps at least (XADD MAXLEN ~), however
#: short the history: a node that falls further behind than this (cut off
#: from Redis, stalled) may miss messages, and its users are told. Trimming
#: at the history limit itself would drop entries the nodes have not read
#: yet whenever a burst outruns their reader.
STREAM_RETAIN = 10_000


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate, burst, now):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now, cost=1.0):
        """Take ``cost`` tokens (at most ``burst``): return 0.0, or the
        seconds to wait for them."""
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= cost:
            self.tokens = tokens - cost
            return 0.0
        self.tokens = tokens
        return (cost - tokens) / self.rate

# -- TLS (issue 18) -------------------------------------------------------------

#: Seconds a TLS handshake may take from accept (also bounded by the login timeout).
TLS_HANDSHAKE_TIMEOUT = 10.0

#: Ciphertext bytes a client may send before its TLS handshake is done.
TLS_MAX_HANDSHAKE_BYTES = 64 * 1024
