"""The chat server: the glue between the reactor's sockets and the pure core.

``app`` (the ``ChatServer`` and ``main``), ``config`` (options and the
command line), ``connection`` (one client's life cycle), ``output`` and
``pacing`` (what a connection owes its client), ``group_commit`` (durable
before visible), ``store_setup`` (which store the options ask for) and
``cluster/`` (several servers sharing rooms through Redis).
"""
