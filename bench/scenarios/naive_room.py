"""Paced naive readers in a busy room: ``naive-room``.

Theory of operation
-------------------
A naive reader sends its requests without a newline, so a server that
paces keeps it paced: one payload per read, as a ``json.loads(recv())``
client needs. Senders send on a clock at a fixed rate; the readers' every
message delay, unclean reads and ``names`` answers go to one tally. The
baselines do not pace, so they are not run.
"""

import functools

from ..behaviours import (TAGS, NaiveTally, ask_names, make_naive_reader, make_sender,
                          send_messages)
from ..loadgen import clock
from ..stats import percentiles
from .base import GEN_CPU, QUIET, SERVER_CPU, Metric, Scenario, connect_timeout, ms, settle

# -- naive-room ------------------------------------------------------------------------

NAIVE_METRICS = [
    Metric("delay_p50_ms", "naive readers' delay p50 (ms)", "ms", True),
    Metric("delay_p99_ms", "naive readers' delay p99 (ms)", "ms", True),
    Metric("delay_max_ms", "naive readers' delay max (ms)", "ms", True),
    Metric("received_pct", "min received by a naive reader, % of sent (worst run)", "pct", False),
    Metric("all_received", "every naive reader got every message", "bool", False),
    Metric("naive_disconnected", "naive readers disconnected by the server (worst run)", "int",
           True),
    Metric("names_answered_pct", "naive readers' names requests answered (worst run)", "pct",
           False),
    Metric("unclean_reads_pct", "naive reads not one whole payload (worst run)", "pct", True),
    Metric("sent_per_s", "room messages sent/s", "rate", None),
    SERVER_CPU,
    GEN_CPU,
]

NAIVE_AGGREGATE = {"received_pct": "min", "min_received": "min", "all_received": "all",
                   "naive_disconnected": "max", "names_answered_pct": "min",
                   "unclean_reads_pct": "max"}

#: The baselines do not pace: a naive reader of theirs gets payloads merged
#: in one read, which is what pacing exists to prevent; nothing to compare.
UNPACED = {"asyncio": "not run: the baseline does not pace naive readers",
           "threaded": "not run: the baseline does not pace naive readers"}

def naive_room(gen, server, p, deadline):
    """Naive readers (requests without newline, so paced) in a busy room.

    Stream-mode senders send on a clock, ``rate`` messages/s each; every
    naive reader reads at once and asks ``names`` every ``names_every``
    seconds. Afterwards, wait for the backlog to drain (at most ``settle``
    seconds, or until nothing arrived for ``QUIET``) and report every
    message's delay, what arrived and who was cut off.
    """
    tally = NaiveTally()
    naive = gen.connect(p["naive"], "n", deadline, naive=True)
    for client in naive:
        make_naive_reader(gen, client, tally)
    senders = gen.connect(p["senders"], "r", deadline)
    for tag, client in zip(TAGS, senders):
        make_sender(gen, client, tag)   # gen.sending stays off: the clock sends
    gen.run(seconds=p["warmup"], deadline=deadline, what="warm-up")   # presence notices
    t0, cpu0, scpu0 = clock(), gen.cpu(), server.cpu_seconds()
    interval = 1.0 / p["rate"]
    jobs = [[t0 + i * interval / len(senders), interval,
             functools.partial(send_messages, gen, client, 1)] for i, client in enumerate(senders)]
    jobs += [[t0 + p["names_every"] * (i + 0.5) / len(naive), p["names_every"],
              functools.partial(ask_names, gen, client, tally)] for i, client in enumerate(naive)]
    gen.run_timed(p["duration"], jobs, deadline, what="busy room")
    elapsed = clock() - t0
    cpu1, scpu1 = gen.cpu(), server.cpu_seconds()
    sent = sum(c.sent for c in senders)
    received = settle(gen, naive, sent, p["settle"], deadline)
    gen.run(seconds=QUIET, until=lambda: tally.names_answered >= tally.names_asked,
            deadline=deadline, what="the last names answers")
    (p50, p99), worst = percentiles(tally.delays, (0.5, 0.99))
    return {
        "delay_p50_ms": ms(p50), "delay_p99_ms": ms(p99), "delay_max_ms": ms(worst),
        "delay_samples": len(tally.delays),
        "sent": sent, "min_received": received,
        "received_pct": 100.0 * received / sent if sent else None,
        "all_received": received >= sent,
        "naive_disconnected": sum(1 for c in naive if c.closed),
        "names_asked": tally.names_asked,
        "names_answered_pct": 100.0 * tally.names_answered / tally.names_asked
        if tally.names_asked else None,
        "reads": tally.reads,
        "unclean_reads_pct": 100.0 * tally.unclean_reads / tally.reads if tally.reads else None,
        "sent_per_s": sent / elapsed,
        "server_cpu": (scpu1 - scpu0) / elapsed if scpu0 is not None else None,
        "gen_cpu": (cpu1 - cpu0) / elapsed,
        "server_rss_mib": (server.rss_kib() or 0) / 1024,
    }


def naive_room_scenario(duration, warmup):
    """naive-room: 20 naive readers in a room of 20 senders x 10 msg/s = 200
    msg/s (issue 8: their p99 delay under 1 s), with the broadcast timings;
    flood control on, above the senders' rate."""
    params = {"naive": 20, "senders": 20, "rate": 10.0, "names_every": 1.0,
              "warmup": warmup, "duration": duration, "settle": 5.0}
    return Scenario(
        "naive-room", naive_room, params, NAIVE_METRICS,
        server_args=["--rate", "20", "--burst", "20"], aggregate=NAIVE_AGGREGATE,
        timeout=connect_timeout(40) + warmup + duration + params["settle"] + 10, skip=UNPACED)
