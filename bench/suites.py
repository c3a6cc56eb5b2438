"""The two suites: which scenarios run, in which order, with which timings.

Theory of operation
-------------------
``all_scenarios`` builds every scenario for a suite (``quick`` takes
shorter broadcasts than ``full``); ``select`` picks the suite's share, or
the scenarios named on the command line, any of them.
``SCENARIO_NAMES`` is the list ``--help`` prints. The scenarios themselves
are in ``bench/scenarios/`` and, for ``cluster-N`` and ``restart``, in
``bench/cluster.py`` and ``bench/restart.py``.
"""

from . import cluster, restart
from .scenarios.base import Metric, Scenario, connect_timeout
from .scenarios.broadcast import (BROADCAST_AGGREGATE, BROADCAST_METRICS, NO_ROOMS,
                                  ROOMS_METRICS, SLOW_METRICS, broadcast, rooms, slow_consumer)
from .scenarios.framing import FRAMING_METRICS, framing
from .scenarios.logins import CONNECT_METRICS, HISTORY_METRICS, connect, history
from .scenarios.naive_room import naive_room_scenario

# -- cluster-N: broadcast through Redis (bench/cluster.py) ------------------------------

_SETUP_LABELS = {"single": "1 node", "redis": "1 node --redis", "cluster2": "2 nodes --redis"}
CLUSTER_METRICS = (
    [Metric("%s_deliveries_per_s" % s, "deliveries/s, %s" % label, "rate", False)
     for s, label in _SETUP_LABELS.items()]
    + [Metric("redis_vs_single", "1 node --redis / 1 node, deliveries (goal >= 0.6)", "ratio",
              False),
       Metric("cluster2_vs_single", "2 nodes / 1 node, deliveries", "ratio", False)]
    + [Metric("%s_%s_ms" % (s, p), "latency %s (ms), %s" % (p, label), "ms", True)
       for p in ("p50", "p99") for s, label in _SETUP_LABELS.items()]
    + [Metric("received_pct", "min received, % of sent (worst set-up and run)", "pct", False),
       Metric("all_received", "every receiver got every message", "bool", False)]
    + [Metric("%s_server_cpu" % s, "server CPU (share of one core), %s" % label, "share", True)
       for s, label in _SETUP_LABELS.items()]
    + [Metric("gen_cpu", "generator CPU (share of one core, busiest set-up)", "share", True)])

#: Only our server has --redis; with --db it refuses --redis.
NO_REDIS = {"ours-db": "not run: --db and --redis exclude each other",
            "asyncio": "not run: the baseline has no --redis (issue 13)",
            "threaded": "not run: the baseline has no --redis (issue 13)"}


def cluster_compare(template, p, deadline, cpu):
    """The broadcast scenario on one node, one node with Redis and two
    nodes sharing Redis, one after another (``bench.cluster.compare``)."""
    return cluster.compare(broadcast, template, p, deadline, cpu)


def cluster_scenario(n, duration, warmup):
    params = {"clients": n, "senders": 10, "inflight": 4, "samplers": 4,
              "warmup": warmup, "duration": duration, "settle": 10.0}
    one_setup = connect_timeout(n) + warmup + duration + params["settle"] + 10
    return Scenario(
        "cluster-%d" % n, cluster_compare, params, CLUSTER_METRICS,
        aggregate=BROADCAST_AGGREGATE, timeout=len(cluster.SETUPS) * one_setup,
        skip=NO_REDIS, starts_servers=True)


# -- restart: start-up on a database of a million messages (bench/restart.py) --

RESTART_METRICS = [
    Metric("restart_s", "start on the database until accepting (s)", "s", True),
    Metric("load_s", "of which opening and loading the file (s)", "s", True),
    Metric("stored_messages", "messages stored", "int", None),
    Metric("rooms_loaded", "rooms", "int", None),
    Metric("messages_loaded", "messages loaded (history limit per room)", "int", None),
    Metric("db_mib", "database file (MiB)", "mib", None),
    Metric("build_s", "building the database, first run (s)", "s", None),
]


# -- the suites -----------------------------------------------------------------------

QUICK = ["connect-1000", "broadcast-100", "broadcast-1000", "rooms", "history-10k", "naive-room",
         "framing", "restart"]


def all_scenarios(suite_name="full", duration=None, warmup=None):
    """Every scenario, in running order, with the timings of ``suite_name``.

    ``duration`` and ``warmup`` override the broadcast and naive-room
    timings (the smoke test uses a fraction of a second).
    """
    quick = suite_name == "quick"
    if duration is None:
        duration = 3.0 if quick else 8.0
    if warmup is None:
        warmup = 1.0 if quick else 2.0
    scenarios = []
    for n in (1000, 5000, 10000):
        scenarios.append(Scenario(
            "connect-%d" % n, connect, {"clients": n, "settle": 1.0}, CONNECT_METRICS,
            timeout=connect_timeout(n) + 10))
    for n in (100, 1000, 5000):
        params = {"clients": n, "senders": 5 if n >= 5000 else 10, "inflight": 4,
                  "samplers": 4, "warmup": warmup, "duration": duration, "settle": 10.0}
        scenarios.append(Scenario(
            "broadcast-%d" % n, broadcast, params, BROADCAST_METRICS,
            aggregate=BROADCAST_AGGREGATE,
            timeout=connect_timeout(n) + warmup + duration + params["settle"] + 10))
    params = {"clients": 1000, "room_size": 10, "inflight": 2, "samplers": 4,
              "warmup": warmup, "duration": duration, "settle": 10.0}
    scenarios.append(Scenario(
        "rooms", rooms, params, ROOMS_METRICS, aggregate=BROADCAST_AGGREGATE,
        timeout=connect_timeout(1000) + warmup + duration + params["settle"] + 20,
        skip=NO_ROOMS))
    scenarios.append(Scenario(
        "history-10k", history, {"messages": 10000, "logins": 50}, HISTORY_METRICS,
        server_args=["--history-limit", "10000"], aggregate={"entries_min": "min"},
        timeout=90.0))
    params = {"clients": 100, "senders": 10, "inflight": 4, "duration": 10.0}
    scenarios.append(Scenario(
        "slow-consumer", slow_consumer, params, SLOW_METRICS,
        aggregate={"rss_growth_mib": "max", "slow_disconnected": "all"},
        timeout=connect_timeout(100) + 2 * params["duration"] + 15))
    scenarios.append(naive_room_scenario(duration, warmup))
    for n in (100, 1000):
        scenarios.append(cluster_scenario(n, duration, warmup))
    scenarios.append(Scenario(
        "framing", framing, {"traffic_bytes": 4 * 1024 * 1024, "chunk": 64 * 1024},
        FRAMING_METRICS, in_process=True))
    scenarios.append(Scenario(
        "restart", restart.restart, {"messages": 1000000, "rooms": 100, "history_limit": 1000},
        RESTART_METRICS, in_process=True))
    return scenarios


def select(suite_name, names=None, duration=None, warmup=None):
    """The scenarios to run: the suite's, or the ones named (any of them)."""
    scenarios = all_scenarios(suite_name, duration, warmup)
    known = [s.name for s in scenarios]
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError("unknown scenario %s; known: %s" % (", ".join(unknown), ", ".join(known)))
        return [s for s in scenarios if s.name in names]
    if suite_name == "quick":
        return [s for s in scenarios if s.name in QUICK]
    return scenarios


SCENARIO_NAMES = [s.name for s in all_scenarios()]
