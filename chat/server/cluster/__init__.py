"""Clusters: several server processes sharing rooms, names and private
messages through Redis (``--redis URL``).

* ``roomlog``: a Redis Stream per room, the one order every node delivers
  (and the rooms' history);
* ``names``: one lease per logged-in name, unique across the cluster;
* ``presence``: who is in which room on the other nodes;
* ``shared``: other nodes' accounts, bans and purges applied here (the
  store, ``chat.store.redis``, writes ours through to Redis);
* ``messages``: a room's messages out to its stream and back to the
  members (each sender gets the true answer when an append is cut off);
* ``direct``: private messages and kicks to users on other nodes;
* ``node``: the glue between the core's effects, the connections and Redis
  (start-up, the gate that fails closed while Redis is down, events);
* ``options``: the command-line options and their checks.

Without ``--redis`` only ``options`` is imported.
"""
