"""TCP on the loop: transports, a listener and a nonblocking connect.

Four modules, one job each:

* ``transport``: ``Transport``, a connected socket driven by the loop (the
  write queue, one ``sendmsg`` per pass, flow control, ``close``/``abort``);
* ``listener``: ``listen`` and its ``Listener``, which accept connections
  into transports (and back off when file descriptors run out);
* ``connector``: ``Connector``, a nonblocking connect that ends in a
  transport, or in one ``on_error`` call;
* ``shared``: ``SharedChunks``, one write queue shared by many transports
  (a broadcast's payloads, see ``Transport.share``).

This module only names them: callers write ``from reactor.tcp import
Transport`` (or ``listen``, ``Connector``), one import path whichever side
of a connection they are on. The modules import ``transport`` and never
this one, so the package has no import cycle.
"""

from .connector import Connector
from .listener import Listener, listen
from .shared import SharedChunks
from .transport import Transport

__all__ = ["Connector", "Listener", "SharedChunks", "Transport", "listen"]
