"""The pure chat state machine, one module per concern (no sockets, no I/O).

* ``session``: the ``Session`` the glue subclasses, the effects
  (``Send``, ``Broadcast``, ``Close``) and the username rule;
* ``history``: a bounded history kept as the broadcast bytes;
* ``presence``: coalesced join/leave notices;
* ``chat``: ``ChatCore``, which owns the state and the request handlers
  named in the router's table (``chat/router.py``).

``from chat.core import ChatCore, Session, Send, Broadcast, Close`` is the
interface the glue and the tests use.
"""

from .chat import DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_MESSAGE_LENGTH, ChatCore
from .session import MAX_USERNAME_LENGTH, Broadcast, Close, Send, Session, check_username

__all__ = ["ChatCore", "Session", "Send", "Broadcast", "Close", "check_username",
           "MAX_USERNAME_LENGTH", "DEFAULT_HISTORY_LIMIT", "DEFAULT_MAX_MESSAGE_LENGTH"]
