"""The server and in-process scenarios, one module per family.

Theory of operation
-------------------
A scenario (``base.Scenario``) is a named measurement with its parameters
and the metrics it reports; its names are part of the interface. Each
server scenario is one function ``body(gen, server, params, deadline)``
that drives a freshly started server through the load generator
(``bench/loadgen.py``) and returns a flat dict of metrics. ``run_once``
wraps it: fresh server, fresh generator, and a hard deadline, so a server
that stalls costs a bounded time and shows as "timeout" or "failed"
instead of hanging the suite. A scenario may skip the servers it cannot
measure (``naive-room`` needs pacing, which the baselines lack): they show
as "n/a", with the reason.

A scenario may also run over another transport: TLS (``tls=True``) or
WebSocket (``websocket=True``, ``bench/wsload.py``), the same body with
another load generator.

The families:

* ``base``: ``Scenario``, ``Metric`` and the measuring steps the server
  scenarios share (snapshots and rates, starting senders, settling);
* ``logins``: ``connect-N`` and ``history-10k``, timed logins;
* ``broadcast``: ``broadcast-N``, ``rooms`` and ``slow-consumer``,
  messages in flight to many receivers;
* ``naive_room``: ``naive-room``, paced naive readers in a busy room;
* ``probes``: ``names-flood`` and ``room-switcher``, a probe's round trip
  while others pipeline heavy requests (its behaviours in
  ``bench/probing.py``);
* ``framing``: ``framing``, our decoder alone, in-process (no server).

Two families live in modules of their own: ``cluster-N``
(``bench/cluster.py``: Redis and one or two nodes per set-up, started from
the server's command; ``python3 -m bench.cluster`` runs it alone) and
``restart`` (``bench/restart.py``: start-up on a database of a million
messages). The suites, which scenarios run in which order with which
timings, are ``bench/suites.py``.
"""
