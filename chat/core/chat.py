"""ChatCore: who is logged in, what was said, and what each request produces.

Theory of operation
-------------------
The core never touches a socket or reads a clock it was not given. The
server glue has a ``Session`` per connection and feeds it decoded JSON
values with ``handle()``; what comes back is a list of effects (see
``session``), in order.

State: ``users`` maps the case-folded name to the logged-in ``Session``
(uniqueness ignores case; the spelling the user chose is kept); a
``History`` of the broadcast bytes; a ``Presence`` of joins and leaves,
which the glue turns into one ``info`` at most once a second by calling
``flush_presence()``. Requests are dispatched through the router's table;
each row names a handler here (``_on_<request>``).
"""

from .. import protocol
from ..protocol import RequestError
from ..router import build_router
from .history import History
from .presence import Presence
from .session import MAX_USERNAME_LENGTH, Broadcast, Close, Send, Session, check_username

DEFAULT_HISTORY_LIMIT = 1000
DEFAULT_MAX_MESSAGE_LENGTH = 4096


class ChatCore:
    """Who is logged in, what was said, and what each request produces."""

    def __init__(self, clock, history_limit=DEFAULT_HISTORY_LIMIT,
                 max_message_length=DEFAULT_MAX_MESSAGE_LENGTH):
        self.clock = clock                  # .timestamp() -> str
        self.history_limit = history_limit
        self.max_message_length = max_message_length
        self.users = {}                     # case-folded name -> Session
        self.history = History(history_limit)
        self.presence = Presence()
        self._login_ok = None               # (timestamp, bytes)
        self.router = build_router(
            {name: getattr(self, "_on_" + name) for name in
             ("login", "logout", "msg", "names", "help")},
            max_username_length=MAX_USERNAME_LENGTH, max_message_length=max_message_length)
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

    @property
    def history_bytes(self):
        """Bytes of the stored history (the glue sizes output caps on it)."""
        return self.history.bytes

    # -- request handlers ------------------------------------------------

    def _on_login(self, session, content):
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
        self.presence.join(session)
        return [Send(session, self._login_successful()),
                Send(session, self.history_response())]

    def _login_successful(self):
        """The same bytes for every login within a second (login storms)."""
        timestamp = self.clock.timestamp()
        if self._login_ok is None or self._login_ok[0] != timestamp:
            self._login_ok = (timestamp, self._server_response(protocol.INFO, "Login successful"))
        return self._login_ok[1]

    def _on_logout(self, session, _content):
        name = session.name
        self._forget(session)
        return [self.info(session, "Logged out. Bye, %s!" % name),
                Close(session, "logged out as %s" % name)]

    def _on_msg(self, session, text):
        if not text.strip():
            raise RequestError("msg needs a message: msg <text>")
        if len(text) > self.max_message_length:
            raise RequestError("message too long: %d characters, the limit is %d"
                               % (len(text), self.max_message_length))
        payload = protocol.encode_response(self.clock.timestamp(), session.name,
                                           protocol.MESSAGE, text)
        self.history.append(payload)
        return [Broadcast(payload, list(self.users.values()))]

    def _on_names(self, session, _content):
        names = sorted((s.name for s in self.users.values()), key=lambda n: (n.lower(), n))
        return [self.info(session, "Users online (%d): %s" % (len(names), ", ".join(names)))]

    def _on_help(self, session, _content):
        return [self.info(session, self._help_text)]

    def history_response(self):
        """The encoded ``history`` response, built from the stored bytes."""
        return self.history.response(self.clock.timestamp())

    # -- presence ----------------------------------------------------------

    def _forget(self, session):
        key = session.key
        if self.users.get(key) is session:
            del self.users[key]
        self.presence.leave(session)
        session.name = session.key = None

    @property
    def presence_pending(self):
        return bool(self.presence)

    def flush_presence(self):
        """One coalesced ``info`` about who joined and left; [] if nothing."""
        if not self.presence:
            return []
        text, joined = self.presence.take()
        exclude = frozenset(joined)
        data = self._server_response(protocol.INFO, text)
        return [Broadcast(data, [s for s in self.users.values() if s not in exclude])]

    def _server_response(self, response, content):
        return protocol.encode_response(self.clock.timestamp(), protocol.SERVER_SENDER,
                                        response, content)
