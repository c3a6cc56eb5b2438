"""Messages in flight to many receivers: ``broadcast-N``, ``rooms`` and
``slow-consumer``.

Theory of operation
-------------------
A few senders (everyone, in ``rooms``) keep ``inflight`` messages in
flight, each echo letting the next one go; after a warm-up, a fixed window
is measured between two snapshots, with the latency of what a few sampling
clients receive. Then the senders stop and the receivers settle, which
gives what was lost. ``slow-consumer`` measures the others' deliveries
without and then with one logged-in client that never reads.
"""

import collections

from ..behaviours import (TAGS, closed_by_server, freeze, join_rooms, make_sampler,
                          make_sampling_sender, make_sender, send_messages)
from ..loadgen import clock
from ..stats import percentiles
from .base import (GEN_CPU, SERVER_CPU, Metric, ms, rates, settle, settle_total, snapshot,
                   start_senders)

# -- broadcast-N -------------------------------------------------------------------

BROADCAST_METRICS = [
    Metric("accepted_per_s", "messages accepted/s", "rate", False),
    Metric("deliveries_per_s", "deliveries/s", "rate", False),
    Metric("p50_ms", "latency p50 (ms)", "ms", True),
    Metric("p90_ms", "latency p90 (ms)", "ms", True),
    Metric("p99_ms", "latency p99 (ms)", "ms", True),
    Metric("max_ms", "latency max (ms)", "ms", True),
    Metric("received_pct", "min received, % of sent (worst run)", "pct", False),
    Metric("all_received", "every receiver got every message", "bool", False),
    SERVER_CPU,
    Metric("deliveries_per_cpu_s", "deliveries per server CPU-second", "rate", False),
    GEN_CPU,
]

BROADCAST_AGGREGATE = {"received_pct": "min", "min_received": "min", "all_received": "all",
                       "disconnected": "max", "max_received": "max"}


def broadcast(gen, server, p, deadline):
    """N clients; a few senders keep messages in flight; measure a fixed window."""
    clients = gen.connect(p["clients"], "b", deadline)
    senders = start_senders(gen, clients, p)
    others = clients[len(senders):]
    step = max(1, len(others) // p["samplers"])
    for client in others[::step][:p["samplers"]]:
        make_sampler(gen, client)
    gen.run(seconds=p["warmup"], deadline=deadline, what="warm-up")
    before = snapshot(gen, server, clients, senders)
    del gen.latencies[:]
    gen.recording = True
    gen.run(seconds=p["duration"], deadline=deadline, what="broadcast")
    gen.recording = False
    after = snapshot(gen, server, clients, senders)
    gen.sending = False
    sent = sum(c.sent for c in senders)
    received = settle(gen, clients, sent, p["settle"], deadline)
    (p50, p90, p99), worst = percentiles(gen.latencies)
    metrics = rates(before, after)
    metrics.update({
        "p50_ms": ms(p50), "p90_ms": ms(p90), "p99_ms": ms(p99), "max_ms": ms(worst),
        "latency_samples": len(gen.latencies),
        "sent": sent, "min_received": received,
        "max_received": max([gen.count[c.fd] for c in clients]),   # > sent: miscounted
        "received_pct": 100.0 * received / sent if sent else None,
        "all_received": received >= sent,
        "disconnected": gen.lost,
        "server_rss_mib": (server.rss_kib() or 0) / 1024,
    })
    return metrics


# -- rooms ---------------------------------------------------------------------------

ROOMS_METRICS = BROADCAST_METRICS


def rooms(gen, server, p, deadline):
    """N clients in rooms of ``room_size`` (PROTOCOL.md section 4), every
    client sending with ``inflight`` messages in flight; a few of them also
    sample latency. Only servers with rooms can run it."""
    n, size = p["clients"], p["room_size"]
    clients = gen.connect(n, "m", deadline)
    room_of = ["r%d" % (i // size) for i in range(n)]
    join_rooms(gen, clients, room_of, deadline)
    step = max(1, n // p["samplers"])
    for i, client in enumerate(clients):
        tag = TAGS[i % size]
        if i % step == step // 2 and i // step < p["samplers"]:
            make_sampling_sender(gen, client, tag)
        else:
            make_sender(gen, client, tag)
    gen.sending = True
    for client in clients:
        send_messages(gen, client, p["inflight"])
    gen.run(seconds=p["warmup"], deadline=deadline, what="warm-up")
    before = snapshot(gen, server, clients, clients)
    del gen.latencies[:]
    gen.recording = True
    gen.run(seconds=p["duration"], deadline=deadline, what="rooms")
    gen.recording = False
    after = snapshot(gen, server, clients, clients)
    gen.sending = False
    sent_in = collections.Counter()
    for client, room in zip(clients, room_of):
        sent_in[room] += client.sent
    expected = sum(sent_in[room] for room in room_of)   # each member gets its room's
    settle_total(gen, clients, expected, p["settle"], deadline)
    shortfall = [gen.count[c.fd] / sent_in[room] for c, room in zip(clients, room_of)
                 if sent_in[room]]
    (p50, p90, p99), worst = percentiles(gen.latencies)
    metrics = rates(before, after)
    metrics.update({
        "p50_ms": ms(p50), "p90_ms": ms(p90), "p99_ms": ms(p99), "max_ms": ms(worst),
        "latency_samples": len(gen.latencies),
        "sent": sum(sent_in.values()), "expected_deliveries": expected,
        "received_pct": 100.0 * min(shortfall, default=1.0),
        "all_received": gen.total(clients) >= expected and min(shortfall, default=1.0) >= 1.0,
        "disconnected": gen.lost,
        "server_rss_mib": (server.rss_kib() or 0) / 1024,
    })
    return metrics


# -- slow-consumer ------------------------------------------------------------------

SLOW_METRICS = [
    Metric("rss_growth_mib", "server RSS growth with the slow client (MiB, worst run)", "mib", True),
    Metric("without_per_s", "others' deliveries/s, 2nd half, no slow client", "rate", False),
    Metric("with_per_s", "others' deliveries/s, 2nd half, slow client", "rate", False),
    Metric("with_vs_without_pct", "with / without slow client (%)", "pct", False),
    Metric("slow_disconnected", "slow client disconnected by the server", "bool", None),
    GEN_CPU,
]


def _second_half_rate(gen, server, receivers, senders, seconds, deadline, rss_samples=None):
    """Run ``seconds`` of broadcast; return the others' deliveries/s in the second half."""
    end = clock() + seconds
    half = end - seconds / 2
    before = None
    while True:
        now = clock()
        if before is None and now >= half:
            before = snapshot(gen, server, receivers, senders)
        if now >= end:
            break
        gen.run(seconds=min(0.25, (half if before is None else end) - now),
                deadline=deadline, what="broadcast")
        if rss_samples is not None:
            rss_samples.append(server.rss_kib() or 0)
    return rates(before, snapshot(gen, server, receivers, senders))


def slow_consumer(gen, server, p, deadline):
    """Broadcast without, then with, one logged-in client that never reads."""
    clients = gen.connect(p["clients"], "s", deadline)
    senders = start_senders(gen, clients, p)
    without = _second_half_rate(gen, server, clients, senders, p["duration"], deadline)
    # A small receive buffer so the kernel cannot hide the backlog for long.
    slow = gen.connect(1, "slow", deadline, rcvbuf=4096)[0]
    freeze(gen, slow)
    rss_start = server.rss_kib() or 0
    samples = []
    with_slow = _second_half_rate(gen, server, clients, senders, p["duration"], deadline, samples)
    gen.sending = False
    gen.run(seconds=0.5, deadline=deadline, what="draining")
    return {
        "rss_growth_mib": max(0, max(samples, default=rss_start) - rss_start) / 1024,
        "without_per_s": without["deliveries_per_s"],
        "with_per_s": with_slow["deliveries_per_s"],
        "with_vs_without_pct": 100.0 * with_slow["deliveries_per_s"] / without["deliveries_per_s"]
        if without["deliveries_per_s"] else None,
        "slow_disconnected": closed_by_server(gen, slow),
        "server_cpu": with_slow.get("server_cpu"),
        "gen_cpu": max(without["gen_cpu"], with_slow["gen_cpu"]),
    }


NO_ROOMS = {"asyncio": "not run: the baseline has no rooms (PROTOCOL.md section 4)",
            "threaded": "not run: the baseline has no rooms (PROTOCOL.md section 4)"}
