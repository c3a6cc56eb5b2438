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

from . import restart
from .cluster import cluster_scenario
from .scenarios.base import Scenario, connect_timeout
from .scenarios.broadcast import (BROADCAST_AGGREGATE, BROADCAST_METRICS, NO_ROOMS,
                                  ROOMS_METRICS, SLOW_METRICS, broadcast, rooms, slow_consumer)
from .scenarios.framing import FRAMING_METRICS, framing
from .scenarios.logins import CONNECT_METRICS, HISTORY_METRICS, connect, history
from .scenarios.naive_room import naive_room_scenario
from .scenarios.probes import probe_scenarios
from .servers import CEILING

# -- the suites -----------------------------------------------------------------------

#: The C ceiling speaks only what these need (login, msg, join, names, help).
CEILING_SCENARIOS = ("connect-", "broadcast-", "rooms")
CEILING_SKIP = "not run: the C ceiling speaks only login, msg, join, names and help"

QUICK = ["connect-1000", "connect-1000-tls", "broadcast-100", "broadcast-1000",
         "broadcast-1000-tls", "broadcast-1000-ws", "rooms", "history-10k", "naive-room", "names-flood", "room-switcher", "framing", "restart"]


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
        if n == 1000:   # the same over TLS: handshake and login (issue 18)
            scenarios.append(Scenario(
                "connect-1000-tls", connect, {"clients": n, "settle": 1.0}, CONNECT_METRICS,
                timeout=connect_timeout(n) + 10, tls=True))
    for n in (100, 1000, 5000):
        params = {"clients": n, "senders": 5 if n >= 5000 else 10, "inflight": 4,
                  "samplers": 4, "warmup": warmup, "duration": duration, "settle": 10.0}
        scenarios.append(Scenario(
            "broadcast-%d" % n, broadcast, params, BROADCAST_METRICS,
            aggregate=BROADCAST_AGGREGATE,
            timeout=connect_timeout(n) + warmup + duration + params["settle"] + 10))
        if n == 1000:   # the same load over TLS (issue 18) and over WebSocket (issue 19)
            scenarios.append(Scenario(
                "broadcast-1000-tls", broadcast, params, BROADCAST_METRICS,
                aggregate=BROADCAST_AGGREGATE, tls=True,
                timeout=connect_timeout(n) + warmup + duration + params["settle"] + 10))
            scenarios.append(Scenario(
                "broadcast-1000-ws", broadcast, params, BROADCAST_METRICS,
                aggregate=BROADCAST_AGGREGATE, websocket=True,
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
    scenarios += probe_scenarios(duration, warmup)   # issue 21: a probe under heavy answers
    for n in (100, 1000):
        scenarios.append(cluster_scenario(n, duration, warmup))
    scenarios.append(Scenario(
        "framing", framing, {"traffic_bytes": 4 * 1024 * 1024, "chunk": 64 * 1024},
        FRAMING_METRICS, in_process=True))
    scenarios.append(Scenario(
        "restart", restart.restart, {"messages": 1000000, "rooms": 100, "history_limit": 1000},
        restart.RESTART_METRICS, in_process=True))
    for scenario in scenarios:
        if not scenario.name.startswith(CEILING_SCENARIOS):
            scenario.skip.setdefault(CEILING, CEILING_SKIP)
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
