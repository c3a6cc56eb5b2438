"""A pipelined, reconnecting Redis client on ``reactor.loop.EventLoop``.

Four modules, one job each:

* ``client``: ``RedisClient``, the API (``call`` and its bounds, ``clone``,
  ``close``), its states, the handshake and reconnection with backoff;
* ``connection``: one TCP connection's protocol: the pass's commands in one
  write (pipelining), the FIFO of waiting replies, ``MULTI``/``EXEC`` blocks
  for atomic calls, the watchdog on replies that do not come;
* ``reply``: ``Reply``, the future result of one call, and the errors a
  call can end in;
* ``url``: ``parse_url``, the ``redis://`` URL.

Publish/subscribe and MONITOR, whose replies are not one per command, are
not supported.

This module only names them (and the RESP errors of ``reactor.resp`` a
call can end in): callers write ``from reactor.redis import RedisClient``
and so on. The modules import one another (client, then connection, then
reply), never this one, so the package has no import cycle.
"""

from ..resp import ProtocolError, RedisError, ReplyError
from .client import RedisClient
from .reply import ConnectionLost, Overloaded, Reply, Unavailable
from .url import mask, parse_url, uses_tls

__all__ = ["RedisClient", "Reply", "RedisError", "ReplyError", "ProtocolError",
           "Unavailable", "Overloaded", "ConnectionLost", "mask", "parse_url", "uses_tls"]
