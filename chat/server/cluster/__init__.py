"""Clusters: several server processes sharing rooms, names and private
messages through Redis (``--redis URL``).

* ``roomlog``: a Redis Stream per room, the one order every node delivers
  (and the rooms' history), read back; ``appends``: this node's messages
  into them; ``entries``: a room entry's XADD and the message read back
  from one;
* ``names``: one lease per logged-in name, unique across the cluster;
* ``presence``: who is in which room on the other nodes;
* ``shared``: other nodes' accounts, bans and purges applied here (the
  store, ``chat.store.redis``, writes ours through to Redis);
* ``messages``: a room's messages out to its stream and back to the
  members (each sender gets the true answer when an append is cut off);
* ``direct``: private messages and kicks to users on other nodes;
* ``events``: the shared events stream, ours out and the others' routed in;
* ``gate``: each request before the core, failing closed while Redis is
  down or the node is starting;
* ``startup``: the reads a node makes before it may serve, and the re-read
  after the events stream was trimmed;
* ``node``: the ``Cluster`` that wires these together between the core's
  effects, the connections and Redis;
* ``options``: the command-line options and their checks.

Without ``--redis`` no ``Cluster`` is made: only ``options`` is used.
"""
