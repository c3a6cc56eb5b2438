"""Sessions, the effects the core returns, and the username rule.

Theory of operation
-------------------
The glue has one object per connection and it *is* the core's ``Session``
(a subclass), so there is one object per client. The core answers every
input with a list of effects, carried out in order by the glue:

* ``Send(session, data)``: bytes for one session;
* ``Broadcast(data, recipients)``: the same bytes for each session in
  ``recipients`` (encoded once, whatever the number of recipients);
* ``Close(session, reason)``: close that session once its output is sent;
* ``Hash(session, group, urgent, secret, salt, n, then)``: compute a
  password hash off the loop (``accounts``), then carry out the effects
  ``then(digest)`` returns; that session's requests wait meanwhile.

Only a cluster node's core (``shared_log``) returns the two others; the
glue (``chat/server/cluster``) carries them through Redis:

* ``Publish(session, room, payload)``: a ``msg`` for the room's shared
  log; nobody is sent it until the log gives it back (``ChatCore.deliver``);
* ``RemotePm(session, name, text)``: a private message to a user who is
  not on this node; ``RemoteKick(session, name, reason)``: an operator's
  kick of one.
"""

import collections
import re

from .. import protocol
from ..protocol import RequestError

MAX_USERNAME_LENGTH = 32

_USERNAME = re.compile(r"[A-Za-z0-9]+")

Send = collections.namedtuple("Send", "session data")
Broadcast = collections.namedtuple("Broadcast", "data recipients")
Close = collections.namedtuple("Close", "session reason")
Hash = collections.namedtuple("Hash", "session group urgent secret salt n then")
Publish = collections.namedtuple("Publish", "session room payload")
RemotePm = collections.namedtuple("RemotePm", "session name text")
RemoteKick = collections.namedtuple("RemoteKick", "session name reason")

#: A user on another cluster node, as a room's presence notices name it.
RemoteMember = collections.namedtuple("RemoteMember", "name key")


class Session:
    """One client as the core sees it. The glue subclasses it (its
    connection object *is* the session), so there is one object per client."""

    __slots__ = ("name", "key", "host", "room", "operator")

    def __init__(self, host=None):
        self.name = None    # as spelled at login
        self.key = None     # case-folded name, the key in ChatCore.users
        self.host = host    # the peer's address (a str), when the glue knows it
        self.room = None    # the Room it is in, while logged in
        self.operator = False

    @property
    def logged_in(self):
        return self.name is not None

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.name)


def is_username(name):
    """Whether ``name`` (already stripped) could be someone's username."""
    return (len(name) <= MAX_USERNAME_LENGTH and _USERNAME.fullmatch(name) is not None
            and name.lower() != protocol.SERVER_SENDER)


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
