"""The chat server: the glue between the reactor's sockets and the pure core.

* ``app``: the ``ChatServer`` (listeners, admission, effects, shutdown);
  ``cli``: ``main`` (start, run, stop); ``config``: options and checks;
* ``connection`` and ``request_queue``: one client's life cycle and when
  its requests are handled; ``output`` and ``pacing``: what it is owed;
* ``group_commit`` and ``store_setup``: durable before visible, which
  store; ``upkeep``: rooms' expiry and retention on timers;
* ``hashing``: passwords hashed off the loop; ``audit``: security events;
  ``proxy_protocol``: real client addresses behind a proxy;
* ``tls`` and ``selfsigned``: the TLS listener and its certificate;
  ``web`` and ``metrics``: the web client, WebSockets, /healthz, /metrics;
* ``cluster/``: several servers sharing rooms through Redis.
"""
