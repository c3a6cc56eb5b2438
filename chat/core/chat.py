"""ChatCore: who is logged in, where, what was said, what each request does.

Theory of operation
-------------------
The core never touches a socket or reads a clock it was not given. The
server glue has a ``Session`` per connection and feeds it decoded JSON
values with ``handle()``; what comes back is a list of effects (see
``session``), in order. Requests are dispatched through the router's table
(``chat/router.py``); each row names a handler ``_on_<request>`` here or in
one of the concern mixins (``rooms``, ``accounts``, ``moderation``).

State: ``users`` maps the case-folded name to the logged-in ``Session``
(uniqueness ignores case; the spelling the user chose is kept); ``rooms``
maps the case-folded room name to its ``Room``, ``#lobby`` always among
them; ``accounts``, ``bans``, ``failed_logins``, ``registrations`` and
``groups`` (the address groups every limit counts) serve the section 4
extensions. Presence is coalesced per room: the rooms
with news wait in ``_presence_rooms`` until the glue calls
``flush_presence()`` (at most once a second), which gives one ``info`` per
room. News for the glue that no request answers (a name freed, a move
between rooms, a failed password) goes to the ``CoreHooks`` handed in.

Memory is the working copy; the store (``chat/store``, handed in) remembers. Every
change worth keeping is told to ``store`` as it is made (a message, a
purge, an account, a ban), and what the store remembered is restored at
construction: each room's last ``history_limit`` messages (at most
``max_rooms`` rooms besides the lobby, the most recently active), the
accounts and the bans. The core never learns whether the store writes a
disk; when it failed to (``forget_unstored``), the messages are taken
back out of the histories.

Messages are bounded three times: in characters (``max_message_length``),
in encoded bytes (``max_message_bytes``, escapes included), so a room's
history is bounded in bytes (``max_history_response_bytes``), and in lines
(``max_message_lines``: a message of thousands of newlines costs every
client that renders it, issue 21). All the histories together stay under
``max_history_memory`` (``budget``); rooms live as ``room_life`` says.
"""

import time

from .. import limits, protocol
from ..protocol import RequestError
from ..router import TABLE, build_router
from .accounts import (MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, SCRYPT_N, AccountRequests,
                       Accounts, FailedLogins, SlidingLimit, split_login)
from .budget import HistoryBudget
from .history import HistoryMeter, worst_case_response_bytes
from .hooks import CoreHooks
from .moderation import Bans, ModerationRequests
from .networks import AddressGroups
from .room_life import RoomLife
from .rooms import LOBBY, RoomRequests
from .session import (MAX_USERNAME_LENGTH, Broadcast, Close, Publish, RemoteMember, RemotePm,
                      Send, Session, is_username)

DEFAULT_HISTORY_LIMIT = limits.HISTORY_LIMIT
DEFAULT_MAX_MESSAGE_LENGTH = limits.MAX_MESSAGE_LENGTH
DEFAULT_MAX_MESSAGE_BYTES = limits.MAX_MESSAGE_BYTES


class ChatCore(RoomRequests, RoomLife, AccountRequests, ModerationRequests):
    """Who is logged in, what was said, and what each request produces."""

    def __init__(self, clock, store, hooks=None, history_limit=DEFAULT_HISTORY_LIMIT,
                 max_message_length=DEFAULT_MAX_MESSAGE_LENGTH,
                 max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES, max_rooms=limits.MAX_ROOMS,
                 oper_password=None, failed_login_limit=limits.FAILED_LOGIN_LIMIT,
                 failed_login_window=limits.FAILED_LOGIN_WINDOW,
                 max_accounts=limits.MAX_ACCOUNTS,
                 failed_login_group_limit=limits.FAILED_LOGIN_GROUP_LIMIT,
                 registration_limit=limits.REGISTRATION_LIMIT, scrypt_n=SCRYPT_N,
                 groups=None, now=time.monotonic, shared_log=False,
                 max_message_lines=limits.MAX_MESSAGE_LINES,
                 max_history_memory=limits.MAX_HISTORY_MEMORY, room_ttl=limits.ROOM_TTL,
                 room_creations=limits.ROOM_CREATIONS):
        self.clock = clock                  # .timestamp() -> str
        self.history_limit = history_limit
        self.max_message_length = max_message_length
        self.max_message_bytes = max_message_bytes
        self.max_rooms = max_rooms
        self.max_message_lines = max_message_lines
        self.room_ttl = room_ttl
        self.room_creations = room_creations
        self._creation_buckets = {}         # host -> TokenBucket, least recent first
        self.now = now
        self.shared_log = shared_log        # a cluster node: msg goes through the log
        self.hooks = CoreHooks() if hooks is None else hooks
        self.oper_password = oper_password or None   # "" configures nothing
        self.users = {}                     # case-folded name -> Session
        self.history_meter = HistoryMeter()
        self.lobby = self._new_room(LOBBY)
        self.rooms = {LOBBY: self.lobby}    # case-folded name -> Room
        self._presence_rooms = {}           # Room -> None: rooms with news, in order
        self._membership_version = 0        # +1 whenever anyone enters or leaves a room
        self._rooms_response = None         # ((version, timestamp), bytes)
        self.store = store
        # a cluster node's histories follow the shared log (its own rules): no budget
        self.budget = HistoryBudget(0 if shared_log else max_history_memory,
                                    self.history_meter, store, self._room_gone)
        self.accounts = Accounts(max_accounts, store)
        self.groups = AddressGroups() if groups is None else groups
        self.failed_logins = FailedLogins(failed_login_limit, failed_login_group_limit,
                                          failed_login_window, now, self.hooks.login_failed)
        self.registrations = SlidingLimit(registration_limit, limits.REGISTRATION_WINDOW, now)
        self.scrypt_n = scrypt_n
        self.bans = Bans(self.store)
        self._restore(self.store.load())
        self._login_ok = None               # (timestamp, bytes)
        self.router = build_router(
            {row[0]: getattr(self, "_on_" + row[0]) for row in TABLE},
            max_username_length=MAX_USERNAME_LENGTH, max_message_length=max_message_length,
            min_password=MIN_PASSWORD_LENGTH, max_password=MAX_PASSWORD_LENGTH)
        self._help_text = self.router.help_text()

    def _restore(self, snapshot):
        """Take back what the store remembered (nothing is written back)."""
        kept = 0
        for key, name, messages in snapshot.rooms:   # the most recently active first
            room = self.rooms.get(key)
            if room is None:
                if kept >= self.max_rooms:
                    continue
                kept += 1
                room = self.rooms[key] = self._new_room(name)
            for sender_key, payload in messages:
                room.history.append(sender_key, payload)
            if room is not self.lobby:
                self.budget.room_idle(room, self.now())
        self.budget.enforce()
        self.accounts.restore(snapshot.accounts)
        self.bans.restore(snapshot.bans)

    def forget_unstored(self, messages):
        """The store could not keep ``messages`` (``StoredMessage``s): take
        them back out of the histories; they are never sent."""
        for message in reversed(messages):
            room = self.rooms.get(message.room_key)
            if room is not None:
                room.history.discard(message.sender_key, message.payload)

    # -- the shared log (cluster) -------------------------------------------

    def deliver(self, room_key, room_name, sender_key, payload):
        """A message the shared log gave back: into the room's history, to
        its members here. The room is created if this node lacks it."""
        room = self.rooms.get(room_key)
        if room is None:
            room = self.rooms[room_key] = self._new_room(room_name)
        room.history.append(sender_key, payload)
        recipients = room.recipients()
        return [Broadcast(payload, recipients)] if recipients else []

    def mirror_room(self, room_name, messages):
        """Give the room ``messages`` ((sender key, payload), oldest first)
        as its history, read from the shared log (once per room: the glue
        reads the log on from there)."""
        key = room_name.lower()
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = self._new_room(room_name)
        for sender_key, payload in messages:
            room.history.append(sender_key, payload)

    def unmirror_room(self, room_key):
        """Nobody here is in the room any more and the glue stops reading its
        log: forget its history (the next mirror reads it again). Whether it
        did. The room itself goes as any abandoned room does."""
        room = self.rooms.get(room_key)
        if room is None or room is self.lobby or room.members:
            return False
        room.history.clear()
        return True

    def failed_login_elsewhere(self, group, name):
        """A failed password attempt for ``name`` from address group
        ``group`` on another node: the limit is the cluster's
        (``FailedLogins.record_elsewhere``)."""
        self.failed_logins.record_elsewhere(group, name)

    def remote_presence(self, room_name, key, name, entered, notice=True):
        """A user on another node entered or left a room (with a presence
        notice here unless ``notice`` is false)."""
        room_key = room_name.lower()
        room = self.rooms.get(room_key)
        if entered:
            if room is None:
                room = self.rooms[room_key] = self._new_room(room_name)
            room.add_remote(key, name)
        elif room is None or not room.remove_remote(key):
            return
        self._membership_version += 1
        if notice:
            member = RemoteMember(name, key)
            if entered:
                room.presence.join(member)
            else:
                room.presence.leave(member)
            self._presence_rooms[room] = None
        if room.abandoned and room is not self.lobby:
            del self.rooms[room_key]
            self._presence_rooms.pop(room, None)

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
    def history_memory(self):
        """Bytes the histories hold now (entries and cached responses)."""
        return self.history_meter.bytes

    @property
    def max_history_response_bytes(self):
        """The largest ``history`` response the configured limits allow."""
        return worst_case_response_bytes(self.history_limit, self.max_message_bytes)

    # -- login, logout, msg, pm, names, help --------------------------------

    def _on_login(self, session, content):
        if session.logged_in:
            raise RequestError("already logged in as %s; log out first" % session.name)
        name, password = split_login(content)
        key = name.lower()
        if key == name:
            key = name  # share the string: one per user, not two
        refusal = self.bans.refusal(key, session.host)
        if refusal:
            raise RequestError(refusal)
        if password is not None:
            return self._check_password_login(session, key, password,
                                              lambda: self._log_in(session, name, key))
        if key in self.accounts:
            raise RequestError("%s is registered: login %s <password>" % (name, name))
        return self._log_in(session, name, key)

    def _log_in(self, session, name, key):
        if key in self.users:
            raise RequestError("Username taken: %s is already logged in" % self.users[key].name)
        session.name = name
        session.key = key
        self.users[key] = session
        self._enter_room(session, self.lobby)
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

    def _check_text(self, text, usage):
        """A message text within the limits, quoted for its payload
        (``protocol.quote``: its size is checked on that), or ``RequestError``."""
        if not text.strip():
            raise RequestError("%s needs a message: %s" % (usage.split()[0], usage))
        if len(text) > self.max_message_length:
            raise RequestError("message too long: %d characters, the limit is %d"
                               % (len(text), self.max_message_length))
        lines = text.count("\n") + 1
        if lines > self.max_message_lines:
            raise RequestError("message has too many lines: %d, the limit is %d"
                               % (lines, self.max_message_lines))
        quoted = protocol.quote(text)
        size = len(quoted) - 2   # protocol.encoded_length
        if size > self.max_message_bytes:
            raise RequestError("message too large: %d bytes on the wire (a non-ASCII "
                               "character takes 6 or 12), the limit is %d"
                               % (size, self.max_message_bytes))
        return quoted

    def _on_msg(self, session, text):
        quoted = self._check_text(text, "msg <text>")
        room = session.room
        payload = protocol.encode_quoted(self.clock.timestamp(), session.name,
                                         protocol.MESSAGE, quoted)
        if self.shared_log:
            return [Publish(session, room, payload)]
        room.history.append(session.key, payload)
        self.store.append(room.key, room.name, session.key, payload)
        if self.budget.over:
            self.budget.enforce()
        return [Broadcast(payload, room.recipients())]

    def _on_pm(self, session, content):
        usage = "pm <name> <text>"
        name, space, text = content.lstrip().partition(" ")
        if not space or not is_username(name):
            raise RequestError("pm needs a username and a message: " + usage)
        quoted = self._check_text(text, usage)
        recipient = self.users.get(name.lower())
        if recipient is None:
            if self.shared_log:
                return [RemotePm(session, name, text)]
            raise RequestError("%s is not online" % name)
        payload = protocol.encode_quoted(self.clock.timestamp(),
                                         "%s -> %s" % (session.name, recipient.name),
                                         protocol.MESSAGE, quoted)
        told = (recipient,) if recipient is session else (recipient, session)
        return [Broadcast(payload, told)]

    def _on_names(self, session, _content):
        return [Send(session, session.room.names_response(self.clock.timestamp()))]

    def _on_help(self, session, content):
        if content is None:
            return [self.info(session, self._help_text)]
        return [self.info(session, self.router.help_about(content))]

    def history_response(self, room=None):
        """The encoded ``history`` response of ``room`` (the lobby by default)."""
        return (room or self.lobby).history.response(self.clock.timestamp())

    # -- presence ----------------------------------------------------------

    def _forget(self, session, notice=True):
        key = session.key
        if self.users.get(key) is session:
            del self.users[key]
            self.hooks.name_freed(key)
        self._exit_room(session, notice)
        session.name = session.key = None
        session.operator = False

    @property
    def presence_pending(self):
        return bool(self._presence_rooms)

    def flush_presence(self):
        """One coalesced ``info`` per room about who joined and left there."""
        effects = []
        rooms, self._presence_rooms = self._presence_rooms, {}
        for room in rooms:
            if not room.presence:
                continue
            text, alone = room.presence.take()
            told = room.recipients()
            if alone is not None:
                told = tuple(s for s in told if s is not alone)
            if told:
                effects.append(Broadcast(self._server_response(protocol.INFO, text), told))
        return effects

    def _server_response(self, response, content):
        return protocol.encode_response(self.clock.timestamp(), protocol.SERVER_SENDER,
                                        response, content)
