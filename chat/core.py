"""The chat state machine: sessions, names, history, presence (pure).

Theory of operation
-------------------
The core never touches a socket or reads a clock it was not given. The
server glue has a ``Session`` per connection and feeds it decoded JSON
values with ``handle()``; what comes back is a list of effects, in order:

* ``Send(session, data)``: bytes for one session;
* ``Broadcast(data, recipients)``: the same bytes for each session in
  ``recipients`` (encoded once, whatever the number of recipients);
* ``Close(session, reason)``: close that session once its output is sent.

State: ``users`` maps the case-folded name to the logged-in ``Session``
(uniqueness ignores case; the spelling the user chose is kept). The history
keeps the encoded ``message`` payloads exactly as broadcast, oldest first,
bounded by ``history_limit``; the ``history`` response is assembled from
those bytes without re-encoding them and cached until the next message.

Presence is coalesced: logins and logouts accumulate, and the glue calls
``flush_presence()`` at most once a second, which yields one ``info``
("alice, bob and 12 others joined; carol left") for everyone logged in who
was not among the joiners. A login storm of n users costs O(n) notices.
"""

import collections
import re

from . import limits, protocol
from .protocol import RequestError
from .router import Route, Router

MAX_USERNAME_LENGTH = 32
DEFAULT_HISTORY_LIMIT = 1000
DEFAULT_MAX_MESSAGE_LENGTH = 4096

_USERNAME = re.compile(r"[A-Za-z0-9]+")

Send = collections.namedtuple("Send", "session data")
Broadcast = collections.namedtuple("Broadcast", "data recipients")
Close = collections.namedtuple("Close", "session reason")


class Session:
    """One client as the core sees it. The glue subclasses it (its
    connection object *is* the session), so there is one object per client."""

    __slots__ = ("name", "key", "host")

    def __init__(self, host=None):
        self.name = None    # as spelled at login
        self.key = None     # case-folded name, the key in ChatCore.users
        self.host = host    # the peer's address (a str), when the glue knows it

    @property
    def logged_in(self):
        return self.name is not None

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.name)


def check_username(name):
    """Return the cleaned name or raise ``RequestError`` naming the rule."""
    name = name.strip()
    if not name:
        raise RequestError("login needs a username: login <username>")
    if len(name) > MAX_USERNAME_LENGTH:
        raise RequestError("username too long: at most %d characters" % MAX_USERNAME_LENGTH)
    if not _USERNAME.fullmatch(name):
        raise RequestError("invalid username: use only the letters A-Z, a-z and the digits 0-9")
    if name.lower() == protocol.SERVER_SENDER:
        raise RequestError("the username %r is reserved" % name)
    return name


class ChatCore:
    """Who is logged in, what was said, and what each request produces."""

    def __init__(self, clock, history_limit=DEFAULT_HISTORY_LIMIT,
                 max_message_length=DEFAULT_MAX_MESSAGE_LENGTH,
                 max_message_bytes=limits.MAX_MESSAGE_BYTES):
        self.clock = clock                  # .timestamp() -> str
        self.history_limit = history_limit
        self.max_message_length = max_message_length
        self.max_message_bytes = max_message_bytes
        self.users = {}                     # case-folded name -> Session
        self._history = collections.deque()  # encoded messages, no newline
        self.history_bytes = 0
        self._history_cache = None          # (timestamp, bytes)
        self._login_ok = None               # (timestamp, bytes)
        self._joined = {}                   # key -> Session, since last flush
        self._left = {}                     # key -> name, since last flush
        self.router = Router([
            Route("login", self._login, "<username>", False,
                  "log in under that name (1-%d letters A-Z, a-z or digits)"
                  % MAX_USERNAME_LENGTH),
            Route("logout", self._logout, None, True, "log out and disconnect"),
            Route("msg", self._msg, "<message>", True,
                  "send a message to everyone (at most %d characters)" % max_message_length),
            Route("names", self._names, None, True, "list the users logged in"),
            Route("help", self._help, None, False, "show this help"),
        ])
        self._help_text = self.router.help_text()

    # -- sessions -------------------------------------------------------

    def open_session(self):
        """A new session; glue code may pass instances of a subclass instead."""
        return Session()

    def handle(self, session, value):
        """Handle one decoded JSON value from ``session``; return effects."""
        try:
            request = protocol.parse_request(value)
            return self.router.dispatch(session, request)
        except RequestError as exc:
            return [self.error(session, str(exc))]

    def disconnect(self, session):
        """The connection is gone (or closing): free the name. Idempotent."""
        if session.logged_in:
            self._forget(session)

    def error(self, session, text):
        """An ``error`` response for ``session`` (used by the glue too)."""
        return Send(session, self._server_response(protocol.ERROR, text))

    def info(self, session, text):
        return Send(session, self._server_response(protocol.INFO, text))

    def info_to_all(self, text):
        return Broadcast(self._server_response(protocol.INFO, text), list(self.users.values()))

    # -- request handlers ------------------------------------------------

    def _login(self, session, content):
        if session.logged_in:
            raise RequestError("already logged in as %s; log out first" % session.name)
        name = check_username(content)
        key = name.lower()
        if key == name:
            key = name  # share the string: one per user, not two
        if key in self.users:
            raise RequestError("Username taken: %s is already logged in" % self.users[key].name)
        session.name = name
        session.key = key
        self.users[key] = session
        if key in self._left:
            del self._left[key]   # left and came back within one notice period
        else:
            self._joined[key] = session
        return [Send(session, self._login_successful()),
                Send(session, self.history_response())]

    def _login_successful(self):
        """The same bytes for every login within a second (login storms)."""
        timestamp = self.clock.timestamp()
        if self._login_ok is None or self._login_ok[0] != timestamp:
            self._login_ok = (timestamp, self._server_response(protocol.INFO, "Login successful"))
        return self._login_ok[1]

    def _logout(self, session, _content):
        name = session.name
        self._forget(session)
        return [self.info(session, "Logged out. Bye, %s!" % name),
                Close(session, "logged out as %s" % name)]

    def _msg(self, session, text):
        if not text.strip():
            raise RequestError("msg needs a message: msg <text>")
        if len(text) > self.max_message_length:
            raise RequestError("message too long: %d characters, the limit is %d"
                               % (len(text), self.max_message_length))
        payload = protocol.encode_response(self.clock.timestamp(), session.name,
                                           protocol.MESSAGE, text)
        size = len(protocol.encode_payload(text)) - 3  # the escaped text, no quotes/newline
        if size > self.max_message_bytes:
            raise RequestError("message too long: %d bytes once encoded (non-ASCII characters "
                               "take 6 bytes, emoji 12), the limit is %d"
                               % (size, self.max_message_bytes))
        self._remember(payload)
        return [Broadcast(payload, list(self.users.values()))]

    def _names(self, session, _content):
        names = sorted((s.name for s in self.users.values()), key=lambda n: (n.lower(), n))
        return [self.info(session, "Users online (%d): %s" % (len(names), ", ".join(names)))]

    def _help(self, session, _content):
        return [self.info(session, self._help_text)]

    # -- history ---------------------------------------------------------

    def _remember(self, payload):
        if self.history_limit <= 0:
            return
        entry = payload[:-1]  # the object without its newline
        self._history.append(entry)
        self.history_bytes += len(entry) + 2
        while len(self._history) > self.history_limit:
            self.history_bytes -= len(self._history.popleft()) + 2
        self._history_cache = None

    def history_response(self):
        """The encoded ``history`` response, built from the stored bytes."""
        timestamp = self.clock.timestamp()
        cached = self._history_cache
        if cached is not None and cached[0] == timestamp:
            return cached[1]
        head = protocol.encode_response(timestamp, protocol.SERVER_SENDER,
                                        protocol.HISTORY, [])[:-4]  # cut '[]}\n'
        data = b"".join((head, b"[", b", ".join(self._history), b"]}\n"))
        self._history_cache = (timestamp, data)
        return data

    # -- presence ----------------------------------------------------------

    def _forget(self, session):
        key = session.key
        if self.users.get(key) is session:
            del self.users[key]
        if key in self._joined:
            del self._joined[key]  # joined and left within one notice period
        else:
            self._left[key] = session.name
        session.name = session.key = None

    @property
    def presence_pending(self):
        return bool(self._joined or self._left)

    def flush_presence(self):
        """One coalesced ``info`` about who joined and left; [] if nothing."""
        if not self.presence_pending:
            return []
        parts = []
        if self._joined:
            parts.append("%s joined" % _list_names([s.name for s in self._joined.values()]))
        if self._left:
            parts.append("%s left" % _list_names(list(self._left.values())))
        exclude = frozenset(self._joined.values())
        self._joined = {}
        self._left = {}
        data = self._server_response(protocol.INFO, "; ".join(parts))
        return [Broadcast(data, [s for s in self.users.values() if s not in exclude])]

    def _server_response(self, response, content):
        return protocol.encode_response(self.clock.timestamp(), protocol.SERVER_SENDER,
                                        response, content)


def _list_names(names, shown=3):
    """'alice', 'alice and bob', 'alice, bob, carol and 5 others'."""
    if len(names) == 1:
        return names[0]
    if len(names) <= shown + 1:
        return "%s and %s" % (", ".join(names[:-1]), names[-1])
    return "%s and %d others" % (", ".join(names[:shown]), len(names) - shown)
