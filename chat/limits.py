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
#: group and name within FAILED_LOGIN_WINDOW seconds before further attempts
#: for that name from that group are refused until the window has passed;
#: FAILED_LOGIN_GROUP_LIMIT over all names of a group (PROTOCOL.md section 4).
FAILED_LOGIN_LIMIT = 5
FAILED_LOGIN_GROUP_LIMIT = 30
FAILED_LOGIN_WINDOW = 60.0

#: Address groups (``chat.core.networks``): the networks every per-address
#: limit counts; all of loopback is one group.
IPV4_GROUP_PREFIX = 24
IPV6_GROUP_PREFIX = 64

#: Registrations per address group within REGISTRATION_WINDOW seconds
#: (loopback exempt); 0 turns the limit off.
REGISTRATION_LIMIT = 5
REGISTRATION_WINDOW = 3600.0

#: Password hashing (``chat.server.hashing``): worker threads, and the
#: hashes one address group may have waiting at once (over it: "server
#: busy"). docs/accounts-and-moderation.md has the measurements behind them.
HASH_THREADS = 2
HASH_QUEUE_PER_GROUP = 64

#: With --proxy-protocol: the networks whose connections begin with a PROXY
#: header (a proxy on the same host by default).
TRUSTED_PROXIES = "127.0.0.0/8,::1"

#: The shortest operator password the server starts with.
MIN_OPER_PASSWORD_LENGTH = 16

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

#: Cluster: seconds the reader of the room streams waits after handing out
#: a read before it starts the next (``RoomLog``, "Reading in rounds"), so
#: the messages appended meanwhile come back together: under load, every
#: member gets them in one write instead of two or three. A message to a
#: quiet room is read at once (the blocked read answers); under load one
#: waits at most this long. 0: no wait.
REDIS_READ_PAUSE = 0.0005

#: Cluster: entries a room's stream keeps at least (XADD MAXLEN ~), however
#: short the history: a node that falls further behind than this (cut off
#: from Redis, stalled) may miss messages, and its users are told. Trimming
#: at the history limit itself would drop entries the nodes have not read
#: yet whenever a burst outruns their reader.
STREAM_RETAIN = 10_000

# -- issue 21: memory, disk and output budgets ------------------------------

#: Lines in one ``msg`` or ``pm`` (PROTOCOL.md section 3): a message of
#: thousands of newlines costs every client that renders it.
MAX_MESSAGE_LINES = 100

#: Bytes all the rooms' histories may hold in memory, cached ``history``
#: responses included; past it, rooms without members give theirs back
#: (parked in the database, or trimmed without one). 0: no budget.
MAX_HISTORY_MEMORY = 256 * 1024 * 1024

#: Seconds an empty room with history lives after its last member left
#: (30 days); 0 keeps it for good.
ROOM_TTL = 30 * 86400.0

#: New rooms one address may create an hour (loopback exempt); 0: off.
ROOM_CREATIONS = 20

#: Per connection, bytes a second of answers to ``join`` (history),
#: ``names``, ``rooms`` and ``help``, after a burst that holds one full
#: history; past it those requests wait. 0: off.
ANSWER_RATE = 1024 * 1024

#: Bytes of answers to those requests (``join``, ``names``...) the whole
#: server writes in one loop pass; past it the next such requests wait for
#: the next pass, in turn (round-robin), so no pass spends seconds on a few
#: hundred heavy connections while a normal request waits.
PASS_ANSWER_BYTES = 1024 * 1024

#: Seconds a message may wait for a database another process holds
#: locked before its sender is told "not stored, try again".
STORE_TIMEOUT = 5.0

#: Retention in the database: messages kept per room, and days a message
#: is kept (0: everything, for good, as before).
RETAIN_MESSAGES = 0
RETAIN_DAYS = 0.0

#: Seconds between two retention steps, and rows deleted per step: small
#: batches, so a long purge never holds the loop.
RETAIN_INTERVAL = 1.0
RETAIN_BATCH = 500

# -- issue 21 cluster: what Redis keeps ---------------------------------------

#: Seconds between two sweeps of the room streams (each a SCAN of
#: ``ktn:room:*`` in steps of STREAM_SWEEP_BATCH keys, one EVAL a step):
#: streams of rooms nobody is in are trimmed to the history limit and set
#: to expire after --room-ttl. Off the hot path; Redis expires the keys.
STREAM_SWEEP_INTERVAL = 60.0
STREAM_SWEEP_BATCH = 100

#: A node's inbox (``ktn:node:<id>``, the pms other nodes send its users):
#: entries kept, about (XADD MAXLEN ~), and seconds it outlives its node
#: (renewed with the node's heartbeat and by each pm sent to it), so the
#: inbox of a node that crashed unseen goes too.
INBOX_LENGTH = 10_000
INBOX_TTL = 3600.0


#: Bytes a ``message`` payload adds around its content at most (timestamp,
#: the longest sender, keys, quotes and the ", " between entries): what
#: ``chat.core.worst_case_response_bytes`` counts, kept here so the memory
#: bound below needs no import of the core.
MESSAGE_ENVELOPE = 150

#: Bytes a registered account costs in memory (salt, hash, key, dict slot).
ACCOUNT_BYTES = 200


def memory_bound(max_clients=MAX_CLIENTS, max_rooms=MAX_ROOMS, history_limit=HISTORY_LIMIT,
                 max_message_bytes=MAX_MESSAGE_BYTES, max_history_memory=MAX_HISTORY_MEMORY,
                 max_request_size=MAX_REQUEST_SIZE, pause_output=PAUSE_READING_OUTPUT,
                 max_total_output=MAX_TOTAL_OUTPUT, send_buffer=SEND_BUFFER,
                 max_accounts=MAX_ACCOUNTS):
    """The server's worst case in bytes, summed from every cap: a dict of
    the parts and their ``total`` (docs/server.md quotes it; a test checks
    it is computed from these defaults).

    Histories: rooms without members stay under ``max_history_memory``;
    a room with members is never trimmed below its history limit, so each
    occupied room (at most one per client, at most ``max_rooms`` + the
    lobby) may hold a full history and its cached response on top.
    """
    history = history_limit * (max_message_bytes + MESSAGE_ENVELOPE)
    occupied = min(max_rooms + 1, max_clients)
    parts = {
        "input (request, read, queued)":
            max_clients * (max_request_size + READ_SIZE + QUEUED_REQUEST_BYTES),
        "output in user space": max_total_output + max_clients * pause_output,
        "kernel send buffers": max_clients * 2 * send_buffer,
        "histories of rooms without members": max_history_memory,
        "histories of occupied rooms (entries + cached response)": occupied * 2 * history,
        "accounts": max_accounts * ACCOUNT_BYTES,
    }
    parts["total"] = sum(parts.values())
    return parts


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


class ByteBudget:
    """A byte allowance refilled at ``rate`` per second up to ``burst``,
    spent after the fact: an answer is charged what it cost, the balance
    may go below zero, and the next request waits until it is not
    (issue 21: ``--answer-rate``)."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate, burst, now):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def wait(self, now):
        """0.0 if a request may go now, else the seconds until it may."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def charge(self, cost):
        self.tokens -= cost


# -- the web face (issue 19) --------------------------------------------------

#: Seconds an HTTP request head may take to arrive whole, and a kept-alive
#: HTTP connection may wait for its next request.
HTTP_TIMEOUT = 10.0


# -- TLS (issue 18) -------------------------------------------------------------

#: Seconds a TLS handshake may take from accept (also bounded by the login timeout).
TLS_HANDSHAKE_TIMEOUT = 10.0

#: Ciphertext bytes a client may send before its TLS handshake is done.
TLS_MAX_HANDSHAKE_BYTES = 64 * 1024


# -- broadcast by room (issue 22) ---------------------------------------------

#: Rooms with at least this many members have their broadcasts of one loop
#: pass queued once for all streamed members (``chat/server/fanout.py``);
#: smaller ones are sent payload by payload, as a batch would gain nothing.
FANOUT_MIN_MEMBERS = 4
