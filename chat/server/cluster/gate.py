"""The gate: each request of a cluster node's connection, before the core.

Theory of operation
-------------------
``msg``, ``login``, ``join`` and ``pm`` are refused with ``error``
"chat is temporarily unavailable, try again" while either connection to
Redis is down or the node has not finished starting (fail closed: never a
message that only part of the cluster sees); connected users stay
connected and every other request works. ``register``, ``password``,
``ban``, ``unban``, ``purge`` and ``drop`` are refused too: their changes
are shared through Redis.

A ``login`` first takes the name's lease (``names``) and a ``join`` of a
room this node does not mirror yet first loads its history from the
stream; meanwhile that connection's requests wait
(``ClientConnection.hold``), then the request goes to the core as usual
(``handle``) and the connection goes on (``release``). A login the core
then refuses (ban, password) gives the lease back before it is answered.

Requests that arrive before the node is ready (clients are accepted from
the moment the server listens) wait in ``before_ready``; ``let_in`` takes
each again from the start (``ClientConnection.retry``) once the node is
ready, or once it gave up waiting, when they are refused like any request
while Redis is down.
"""

from ... import protocol
from ...core.accounts import split_login
from ...core.rooms import check_room_name
from ...protocol import RequestError

UNAVAILABLE = "chat is temporarily unavailable, try again"
GATED = ("login", "msg", "join", "pm")
#: Refused too while Redis is down: their changes are shared through it.
SHARED_CHANGES = ("register", "password", "ban", "unban", "purge", "drop")


class Gate:
    """Sees each request before the core (see the module docstring)."""

    def __init__(self, core, names, streams, available, refuse):
        self.core = core
        self.names = names            # NameLeases
        self.streams = streams        # RoomLog
        self.available = available    # fn() -> whether requests may go through Redis
        self.refuse = refuse          # fn(session, text): an error for that session
        self.before_ready = []        # (conn, item) held until the node is ready

    def let_in(self):
        """Take the requests held at start-up again, in order (from now on
        none waits: they go, or are refused)."""
        held, self.before_ready = self.before_ready, None
        for conn, item in held or ():
            conn.retry(item)

    def check(self, conn, item):
        """Whether the gate took charge of the request (refused it, or will
        hand it to the core once Redis has answered)."""
        if (type(item) is dict and item.get("request") == "msg" and conn.logged_in
                and self.available()):
            return False   # the hot case, let through without parsing twice
        try:
            parsed = protocol.parse_request(item)
        except RequestError:
            return False   # the core answers it
        request, content = parsed.name, parsed.content
        if request in SHARED_CHANGES:
            if conn.logged_in and not self.available():
                self.refuse(conn, UNAVAILABLE)
                return True
            return False
        if request not in GATED or conn.logged_in == (request == "login"):
            return False   # the core answers (e.g. "log in first")
        if not self.available():
            if self.before_ready is not None:   # starting: wait for the node
                conn.hold()
                self.before_ready.append((conn, item))
            else:
                self.refuse(conn, UNAVAILABLE)
            return True
        if not isinstance(content, str):
            return False
        if request == "login":
            return self._login(conn, item, content)
        if request == "join":
            return self._join(conn, item, content)
        return False

    def _login(self, conn, item, content):
        try:
            name = split_login(content)[0]
        except RequestError:
            return False
        key = name.lower()
        if key in self.core.users:
            return False   # taken here: the core says so

        def claimed(won, error):
            if not conn.is_open:
                if won:
                    self.names.release(key)
            elif error is not None:
                self.refuse(conn, UNAVAILABLE)
            elif not won:
                self.refuse(conn, "Username taken: %s is already logged in" % name)
            else:
                effects = self.core.handle(conn, item)
                if conn.key != key:   # refused by the core (ban, password): the
                    # lease goes back before the client hears no, or a retry
                    # on another node at once could find the name taken
                    self.names.release(key, lambda: _answer(conn, effects))
                    return
                conn.carry_out(effects)
            conn.release()
        conn.hold()
        self.names.claim(name, claimed)
        return True

    def _join(self, conn, item, content):
        try:
            room_name = check_room_name(content)
        except RequestError:
            return False
        key = room_name.lower()
        core = self.core
        if self.streams.mirrored(key):
            return False
        if key not in core.rooms and len(core.rooms) - 1 >= core.max_rooms:
            return False   # the core refuses it (--max-rooms): nothing to read

        def mirrored(error):
            if conn.is_open and conn.logged_in:
                if error is not None:
                    self.refuse(conn, UNAVAILABLE)
                else:
                    conn.handle(item, protocol.request_name(item))
            if core.unmirror_room(key):   # nobody here went in after all
                self.streams.forget(key)
            conn.release()
        conn.hold()
        self.streams.mirror(room_name, mirrored)
        return True


def _answer(conn, effects):
    if conn.is_open:
        conn.carry_out(effects)
    conn.release()
