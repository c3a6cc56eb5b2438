"""The pure chat state machine, one module per concern (no sockets, no I/O).

* ``session``: the ``Session`` the glue subclasses, the effects
  (``Send``, ``Broadcast``, ``Close``) and the username rule;
* ``history``: a room's bounded history, kept as the broadcast bytes, and
  the worst-case size of a ``history`` response;
* ``presence``: coalesced join/leave notices;
* ``rooms``: rooms and the ``join``/``leave``/``rooms`` requests;
* ``networks``: address groups, the networks every limit counts;
* ``accounts``: registered names, scrypt hashes (as ``Hash`` effects the
  glue computes off the loop), the failed-login and registration limits;
* ``moderation``: operators, kicks, bans, purges;
* ``hooks``: ``CoreHooks``, the news the glue may want besides effects;
* ``chat``: ``ChatCore``, which owns the state and the standard requests.

The core imports no store and no glue: ``ChatCore(clock, store, hooks)``
is handed the store that remembers (``chat/store``) and the hooks.

``from chat.core import ChatCore, Session, Send, Broadcast, Close`` is the
interface the glue and the tests use.
"""

from .chat import (DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_LENGTH,
                   ChatCore)
from .history import worst_case_response_bytes
from .hooks import CoreHooks
from .session import (MAX_USERNAME_LENGTH, Broadcast, Close, Hash, Publish, RemoteKick, RemotePm,
                      Send, Session, check_username)

__all__ = ["ChatCore", "CoreHooks", "Session", "Send", "Broadcast", "Close", "Hash", "Publish", "RemotePm", "RemoteKick",
           "check_username",
           "worst_case_response_bytes", "MAX_USERNAME_LENGTH", "DEFAULT_HISTORY_LIMIT",
           "DEFAULT_MAX_MESSAGE_LENGTH", "DEFAULT_MAX_MESSAGE_BYTES"]
