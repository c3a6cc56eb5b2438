"""Clusters: several server processes sharing rooms, names and private
messages through Redis (``--redis URL``).

* ``roomlog``: a Redis Stream per room, the one order every node delivers
  (and the rooms' history);
* ``names``: one lease per logged-in name, unique across the cluster;
* ``node``: the glue between the core's effects, the connections and Redis
  (the gate that fails closed while Redis is down, private messages).

Without ``--redis`` nothing here is imported.
"""

from .node import Cluster, default_node_id

__all__ = ["Cluster", "default_node_id"]
