"""TLS on the loop: a layer between a TCP transport and a protocol.

Two modules, one job each:

* ``layer``: ``TLSLayer``, ``ssl.SSLObject`` over two ``MemoryBIO``s
  between a ``reactor.tcp`` transport and a protocol that cannot tell it
  from plain TCP (why this and not a nonblocking ``SSLSocket``: there),
  and ``connect_tls``, the client side;
* ``contexts``: ``server_context``, ``client_context`` (TLS 1.2 minimum,
  renegotiation off), ``TLSFileError`` and ``describe_failure``.

This module only names them: ``from reactor.tls import TLSLayer`` and so
on. The modules never import this one, so the package has no import cycle.
"""

from .contexts import TLSFileError, client_context, describe_failure, server_context
from .layer import HANDSHAKE_TIMEOUT, MAX_HANDSHAKE_BYTES, TLSLayer, connect_tls

__all__ = ["HANDSHAKE_TIMEOUT", "MAX_HANDSHAKE_BYTES", "TLSFileError", "TLSLayer",
           "client_context", "connect_tls", "describe_failure", "server_context"]
