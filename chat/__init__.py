"""The KTN chat protocol: a server, two clients and a checker.

* ``protocol``, ``router``, ``limits``: the wire and the rules, shared by all;
* ``core/``: the pure state machine (no I/O; its store and hooks handed in);
* ``store/``: what the server remembers (memory, SQLite, Redis);
* ``server/``: the glue between sockets and the core (``cluster/`` inside);
* ``client/``: the line client and the full-screen one (``fullscreen/``);
* ``check/``: the conformance checker for other implementations.
"""
