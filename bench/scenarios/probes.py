"""A bystander's round trip while others ask for heavy answers (issue 21):
``names-flood`` and ``room-switcher``.

Theory of operation
-------------------
A few probes (``bench/probing.py``), each alone in a room of its own, send
``msg`` to themselves one at a time, every ``probe_interval`` seconds, and
time the echo. Meanwhile the load asks for the answers the server's output
budgets (``--answer-rate``, the bytes of heavy answers per loop pass) and
flood control exist for:

* ``names-flood``: ``clients`` users in ``#lobby``, each keeping
  ``pipeline`` ``names`` requests outstanding (each answer lists every
  user), with the server's default flood control on;
* ``room-switcher``: two rooms filled to ``--history-limit`` messages,
  then ``clients`` switchers each keeping ``pipeline`` ``join`` requests
  outstanding, alternately to either room, so every answer is a full
  history; flood control off (as in every bench run), so only the answer
  budgets bound them.

After a warm-up the window of ``duration`` seconds is measured; the probes
then get up to ``settle`` seconds (the load still on) to answer what they
asked last, and whatever is still unanswered is reported. Our server only:
the baselines have no rooms, so no probe can be alone.
"""

import select

from chat import limits

from ..behaviours import join_rooms, message
from ..loadgen import clock
from ..probing import (HISTORY_MARKER, NAMES_MARKER, Tally, make_pipeliner, make_probe,
                       unanswered)
from ..stats import percentiles
from .base import GEN_CPU, Metric, SERVER_CPU, Scenario, connect_timeout, ms
from .broadcast import NO_ROOMS

PROBE_METRICS = [
    Metric("probe_p50_ms", "probe round trip p50 (ms)", "ms", True),
    Metric("probe_p99_ms", "probe round trip p99 (ms)", "ms", True),
    Metric("probe_max_ms", "probe round trip max (ms)", "ms", True),
    Metric("probe_samples", "probe round trips measured", "int", None),
    Metric("probe_unanswered", "probe requests unanswered at the end (worst run)", "int", True),
]
COMMON_METRICS = [
    Metric("disconnected", "clients disconnected by the server (worst run)", "int", True),
    SERVER_CPU,
    GEN_CPU,
]
NAMES_FLOOD_METRICS = PROBE_METRICS + [
    Metric("answers_per_s", "names answers/s (all users)", "rate", None),
    Metric("received_bytes_per_s", "users' received bytes/s (all)", "rate", None),
] + COMMON_METRICS
SWITCHER_METRICS = PROBE_METRICS + [
    Metric("answers_per_s", "joins answered/s (all switchers)", "rate", None),
    Metric("received_bytes_per_s", "switchers' received bytes/s (all)", "rate", None),
    Metric("received_bytes_per_s_each", "switchers' received bytes/s (each, mean)", "rate",
           None),
] + COMMON_METRICS
PROBE_AGGREGATE = {"probe_unanswered": "max", "disconnected": "max"}

_ROOMS = ("hist-a", "hist-b")
_OUT = select.EPOLLOUT


def names_flood(gen, server, p, deadline):
    """``clients`` users pipelining ``names`` under flood control; the probes' round trip."""
    probes = _probes(gen, p, deadline)
    users = gen.connect(p["clients"], "f", deadline)
    tally = Tally()
    for client in users:
        make_pipeliner(gen, client, [b'{"request": "names", "content": null}'], NAMES_MARKER,
                       p["pipeline"], tally)
    return _measure(gen, server, p, deadline, probes, tally, len(users))


def room_switcher(gen, server, p, deadline):
    """Two full rooms; ``clients`` switchers pipelining ``join`` to either in
    turn; the probes' round trip and the switchers' received bytes."""
    _fill(gen, p["history"], deadline)
    probes = _probes(gen, p, deadline)
    switchers = gen.connect(p["clients"], "w", deadline)
    tally = Tally()
    joins = [b'{"request": "join", "content": "%s"}' % room.encode() for room in _ROOMS]
    for i, client in enumerate(switchers):
        make_pipeliner(gen, client, joins[i % 2:] + joins[:i % 2], HISTORY_MARKER,
                       p["pipeline"], tally)
    metrics = _measure(gen, server, p, deadline, probes, tally, len(switchers))
    metrics["received_bytes_per_s_each"] = metrics["received_bytes_per_s"] / len(switchers)
    return metrics


def _fill(gen, messages, deadline):
    """Fill each room of ``_ROOMS`` with ``messages`` messages (one client,
    pipelined, each echo counted by the engine's ``~`` count), then leave."""
    filler = gen.connect(1, "fill", deadline)[0]

    def on_event(fd, events):
        if events & _OUT:
            gen.flush(filler)
        if events & ~_OUT:
            gen.read(filler)

    gen.handle(filler, on_event)
    target = 0
    for room in _ROOMS:
        gen.write(filler, b'{"request": "join", "content": "%s"}\n' % room.encode())
        gen.write(filler, b"".join([message(b"F", i) for i in range(messages)]))
        target += messages
        gen.run(until=lambda: gen.count[filler.fd] >= target, deadline=deadline,
                what="filling #%s: %d of %d" % (room, gen.count[filler.fd], target))
    gen.write(filler, b'{"request": "join", "content": "lobby"}\n')


def _probes(gen, p, deadline):
    """The probes, each alone in a room of its own; [(tick, state)]."""
    clients = gen.connect(p["probes"], "p", deadline)
    join_rooms(gen, clients, ["probe%d" % i for i in range(len(clients))], deadline)
    tally = Tally()
    return tally, [make_probe(gen, client, tally) for client in clients]


def _measure(gen, server, p, deadline, probes, tally, clients):
    """Warm up, measure a window with the probes ticking, let them answer."""
    probe_tally, ticking = probes
    interval = p["probe_interval"]
    now = clock()
    jobs = [[now + interval * i / len(ticking), interval, tick]
            for i, (tick, _) in enumerate(ticking)]
    gen.run_timed(p["warmup"], jobs, deadline, what="warm-up")
    t0, cpu0, scpu0 = clock(), gen.cpu(), server.cpu_seconds()
    bytes0, answers0 = tally.bytes, tally.answers
    probe_tally.recording = True
    gen.run_timed(p["duration"], jobs, deadline, what="measuring")
    elapsed = clock() - t0
    cpu1, scpu1 = gen.cpu(), server.cpu_seconds()
    received, answers = tally.bytes - bytes0, tally.answers - answers0
    gen.run(seconds=p["settle"], until=lambda: not unanswered(ticking), deadline=deadline,
            what="the probes' last answers")
    (p50, p99), worst = percentiles(probe_tally.round_trips, (0.5, 0.99))
    return {
        "probe_p50_ms": ms(p50), "probe_p99_ms": ms(p99), "probe_max_ms": ms(worst),
        "probe_samples": len(probe_tally.round_trips),
        "probe_unanswered": unanswered(ticking),
        "answers_per_s": answers / elapsed,
        "received_bytes_per_s": received / elapsed,
        "clients": clients,
        "disconnected": gen.lost,
        "server_cpu": (scpu1 - scpu0) / elapsed if scpu0 is not None else None,
        "gen_cpu": (cpu1 - cpu0) / elapsed,
        "server_rss_mib": (server.rss_kib() or 0) / 1024,
    }


def probe_scenarios(duration, warmup, flood_users=2000):
    """names-flood (flood control at the server's defaults) and room-switcher."""
    common = {"probes": 8, "probe_interval": 0.25, "pipeline": 4, "warmup": warmup,
              "duration": duration, "settle": 2.0}
    flood = dict(common, clients=flood_users)
    switch = dict(common, clients=100, history=limits.HISTORY_LIMIT)
    return [
        Scenario("names-flood", names_flood, flood, NAMES_FLOOD_METRICS,
                 server_args=["--rate", str(limits.RATE), "--burst", str(limits.BURST)],
                 aggregate=PROBE_AGGREGATE, skip=NO_ROOMS,
                 timeout=connect_timeout(flood_users) + warmup + duration + 20),
        Scenario("room-switcher", room_switcher, switch, SWITCHER_METRICS,
                 aggregate=PROBE_AGGREGATE, skip=NO_ROOMS,
                 timeout=connect_timeout(100) + warmup + duration + 40),
    ]
