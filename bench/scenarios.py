"""The scenarios (their names are part of the interface) and the two suites.

Each server scenario is one function ``body(gen, server, params, deadline)``
that drives a freshly started server through the load generator and returns
a flat dict of metrics. ``run_once`` wraps it: fresh server, fresh
generator, and a hard deadline, so a server that stalls costs a bounded time
and shows as "timeout" or "failed" instead of hanging the suite. The
``framing`` scenario needs no server: it times our decoder in-process. The
``cluster-N`` scenarios start their own processes from the server's command
(``starts_servers``: Redis and one or two nodes per set-up, see
``bench/cluster.py``). A scenario may skip the servers it cannot measure
(``naive-room`` needs pacing, which the baselines lack): they show as
"n/a", with the reason.
"""

import collections
import functools
import json
import random
import time

from . import cluster, restart
from .loadgen import TAGS, LoadGen, NaiveTally, RunFailed, RunTimeout, clock
from .servers import ServerFailed, ServerProcess
from .stats import percentiles

#: A run whose generator used at least this share of its CPU may have
#: measured the generator rather than the server: it is flagged.
GENERATOR_BOUND = 0.9

#: Settling after the senders stop: give up once no delivery arrived for
#: this long (the rest is lost, or the server is stuck).
QUIET = 1.0

Metric = collections.namedtuple("Metric", "key label fmt lower_better")


def connect_timeout(n):
    """Seconds allowed to connect and log in ``n`` clients."""
    return 20 + n / 200


class Scenario:
    """A named measurement with its parameters and the metrics it reports."""

    def __init__(self, name, body, params, metrics, server_args=(), aggregate=None,
                 timeout=60.0, in_process=False, skip=None, starts_servers=False):
        self.name = name
        self.body = body
        self.params = params
        self.metrics = metrics
        self.server_args = list(server_args)
        self.aggregate = aggregate or {}
        self.timeout = timeout
        self.in_process = in_process
        self.starts_servers = starts_servers   # body(template, params, deadline, cpu)
        self.skip = dict(skip or {})   # server name -> why this scenario does not run it

    def run_once(self, name, template, cpu=None):
        """One run against one server; always returns a dict with "status"."""
        try:
            if self.in_process:
                return dict(status="ok", **self.body(self.params))
            if self.starts_servers:
                metrics = self.body(template, self.params, clock() + self.timeout, cpu)
            else:
                metrics = self._against_server(name, template, cpu)
        except RunTimeout as exc:
            return {"status": "timeout", "error": str(exc)}
        except (RunFailed, ServerFailed) as exc:
            return {"status": "failed", "error": str(exc)}
        metrics["generator_bound"] = (metrics.get("gen_cpu") or 0) >= GENERATOR_BOUND
        return dict(status="ok", **metrics)

    def _against_server(self, name, template, cpu):
        with ServerProcess(name, template, self.server_args, cpu) as server:
            gen = LoadGen(server.host, server.port, alive=server.dead)
            try:
                return self.body(gen, server, self.params, clock() + self.timeout)
            finally:
                gen.close()


# -- connect-N ------------------------------------------------------------------

CONNECT_METRICS = [
    Metric("logins_per_s", "logins/s", "rate", False),
    Metric("last_history_s", "time to last history (s)", "s", True),
    Metric("rss_per_conn_kib", "server RSS per connection (KiB)", "kib", True),
    Metric("server_rss_mib", "server RSS (MiB)", "mib", True),
    Metric("server_cpu", "server CPU (share of one core)", "share", True),
    Metric("gen_cpu", "generator CPU (share of one core)", "share", True),
]


def connect(gen, server, p, deadline):
    """Log in N clients at a bounded window; time it; memory per connection."""
    n = p["clients"]
    rss_idle = server.rss_kib()
    t0, cpu0, scpu0 = clock(), gen.cpu(), server.cpu_seconds()
    clients = gen.connect(n, "c", deadline)
    t1 = max(c.t_login for c in clients)
    cpu1, scpu1 = gen.cpu(), server.cpu_seconds()
    # Let the coalesced presence notice go out and drain before measuring.
    gen.run(seconds=p["settle"], deadline=deadline, what="settling")
    rss = server.rss_kib()
    if gen.lost:
        raise RunFailed("%d clients disconnected after login" % gen.lost)
    elapsed = t1 - t0
    return {
        "logged_in": len(clients),
        "logins_per_s": n / elapsed,
        "last_history_s": elapsed,
        "rss_per_conn_kib": (rss - rss_idle) / n,
        "server_rss_mib": rss / 1024,
        "server_cpu": (scpu1 - scpu0) / elapsed if scpu0 is not None else None,
        "gen_cpu": (cpu1 - cpu0) / elapsed,
    }


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
    Metric("server_cpu", "server CPU (share of one core)", "share", True),
    Metric("gen_cpu", "generator CPU (share of one core)", "share", True),
]

BROADCAST_AGGREGATE = {"received_pct": "min", "min_received": "min", "all_received": "all",
                       "disconnected": "max"}


def _snapshot(gen, server, receivers, senders):
    return {"t": clock(), "delivered": gen.total(receivers),
            "accepted": sum(c.echoed for c in senders),
            "cpu": gen.cpu(), "server_cpu": server.cpu_seconds()}


def _rates(a, b):
    dt = b["t"] - a["t"]
    out = {"deliveries_per_s": (b["delivered"] - a["delivered"]) / dt,
           "accepted_per_s": (b["accepted"] - a["accepted"]) / dt,
           "gen_cpu": (b["cpu"] - a["cpu"]) / dt}
    if a["server_cpu"] is not None and b["server_cpu"] is not None:
        out["server_cpu"] = (b["server_cpu"] - a["server_cpu"]) / dt
    return out


def _start_senders(gen, clients, p):
    senders = clients[:p["senders"]]
    for tag, client in zip(TAGS, senders):
        gen.make_sender(client, tag)
    gen.sending = True
    for client in senders:
        gen.send_messages(client, p["inflight"])
    return senders


def _settle(gen, receivers, sent, timeout, deadline):
    """After the senders stop: wait until every receiver has every message,
    or until nothing arrived for ``QUIET`` seconds; return the minimum count."""
    last = {"total": -1, "since": clock()}

    def settled():
        if gen.minimum(receivers) >= sent:
            return True
        total = gen.total(receivers)
        now = clock()
        if total != last["total"]:
            last.update(total=total, since=now)
            return False
        return now - last["since"] > QUIET

    gen.run(seconds=timeout, until=settled, check_every=0.1, deadline=deadline, what="settling")
    return gen.minimum(receivers)


def broadcast(gen, server, p, deadline):
    """N clients; a few senders keep messages in flight; measure a fixed window."""
    clients = gen.connect(p["clients"], "b", deadline)
    senders = _start_senders(gen, clients, p)
    others = clients[len(senders):]
    step = max(1, len(others) // p["samplers"])
    for client in others[::step][:p["samplers"]]:
        gen.make_sampler(client)
    gen.run(seconds=p["warmup"], deadline=deadline, what="warm-up")
    before = _snapshot(gen, server, clients, senders)
    del gen.latencies[:]
    gen.recording = True
    gen.run(seconds=p["duration"], deadline=deadline, what="broadcast")
    gen.recording = False
    after = _snapshot(gen, server, clients, senders)
    gen.sending = False
    sent = sum(c.sent for c in senders)
    received = _settle(gen, clients, sent, p["settle"], deadline)
    (p50, p90, p99), worst = percentiles(gen.latencies)
    ms = lambda v: v * 1000 if v is not None else None   # noqa: E731
    metrics = _rates(before, after)
    metrics.update({
        "p50_ms": ms(p50), "p90_ms": ms(p90), "p99_ms": ms(p99), "max_ms": ms(worst),
        "latency_samples": len(gen.latencies),
        "sent": sent, "min_received": received,
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
    gen.join_rooms(clients, room_of, deadline)
    step = max(1, n // p["samplers"])
    for i, client in enumerate(clients):
        tag = TAGS[i % size]
        if i % step == step // 2 and i // step < p["samplers"]:
            gen.make_sampling_sender(client, tag)
        else:
            gen.make_sender(client, tag)
    gen.sending = True
    for client in clients:
        gen.send_messages(client, p["inflight"])
    gen.run(seconds=p["warmup"], deadline=deadline, what="warm-up")
    before = _snapshot(gen, server, clients, clients)
    del gen.latencies[:]
    gen.recording = True
    gen.run(seconds=p["duration"], deadline=deadline, what="rooms")
    gen.recording = False
    after = _snapshot(gen, server, clients, clients)
    gen.sending = False
    sent_in = collections.Counter()
    for client, room in zip(clients, room_of):
        sent_in[room] += client.sent
    expected = sum(sent_in[room] for room in room_of)   # each member gets its room's
    _settle_total(gen, clients, expected, p["settle"], deadline)
    shortfall = [gen.count[c.fd] / sent_in[room] for c, room in zip(clients, room_of)
                 if sent_in[room]]
    (p50, p90, p99), worst = percentiles(gen.latencies)
    ms = lambda v: v * 1000 if v is not None else None   # noqa: E731
    metrics = _rates(before, after)
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


def _settle_total(gen, clients, expected, timeout, deadline):
    """Wait until ``expected`` deliveries arrived in all, or nothing came
    for ``QUIET`` seconds."""
    last = {"total": -1, "since": clock()}

    def settled():
        total = gen.total(clients)
        if total >= expected:
            return True
        now = clock()
        if total != last["total"]:
            last.update(total=total, since=now)
            return False
        return now - last["since"] > QUIET

    gen.run(seconds=timeout, until=settled, check_every=0.1, deadline=deadline, what="settling")


# -- history-10k ------------------------------------------------------------------

HISTORY_METRICS = [
    Metric("history_s", "time to full history, all logins (s)", "s", True),
    Metric("mb_per_s", "history MB/s", "rate", False),
    Metric("history_mib", "one history (MiB)", "mib", None),
    Metric("entries_min", "entries in the shortest history", "int", False),
    Metric("server_cpu", "server CPU (share of one core)", "share", True),
    Metric("gen_cpu", "generator CPU (share of one core)", "share", True),
]


def history(gen, server, p, deadline):
    """Fill the history with one pipelining client, then log in fresh clients."""
    size = p["messages"]
    filler = gen.connect(1, "filler", deadline)[0]
    gen.make_sender(filler, TAGS[0])
    gen.send_messages(filler, size)   # gen.sending is off: no refills
    gen.run(until=lambda: filler.echoed >= size, deadline=deadline, what="filling the history")
    t0, cpu0, scpu0 = clock(), gen.cpu(), server.cpu_seconds()
    fresh = gen.connect(p["logins"], "h", deadline)
    elapsed = max(c.t_login for c in fresh) - t0
    cpu1, scpu1 = gen.cpu(), server.cpu_seconds()
    received = sum(c.bytes for c in fresh)
    return {
        "history_s": elapsed,
        "mb_per_s": received / elapsed / 1e6,
        "history_mib": received / len(fresh) / 2 ** 20,
        "entries_min": gen.minimum(fresh),
        "server_cpu": (scpu1 - scpu0) / elapsed if scpu0 is not None else None,
        "gen_cpu": (cpu1 - cpu0) / elapsed,
    }


# -- slow-consumer ------------------------------------------------------------------

SLOW_METRICS = [
    Metric("rss_growth_mib", "server RSS growth with the slow client (MiB, worst run)", "mib", True),
    Metric("without_per_s", "others' deliveries/s, 2nd half, no slow client", "rate", False),
    Metric("with_per_s", "others' deliveries/s, 2nd half, slow client", "rate", False),
    Metric("with_vs_without_pct", "with / without slow client (%)", "pct", False),
    Metric("slow_disconnected", "slow client disconnected by the server", "bool", None),
    Metric("gen_cpu", "generator CPU (share of one core)", "share", True),
]


def _second_half_rate(gen, server, receivers, senders, seconds, deadline, rss_samples=None):
    """Run ``seconds`` of broadcast; return the others' deliveries/s in the second half."""
    end = clock() + seconds
    half = end - seconds / 2
    before = None
    while True:
        now = clock()
        if before is None and now >= half:
            before = _snapshot(gen, server, receivers, senders)
        if now >= end:
            break
        gen.run(seconds=min(0.25, (half if before is None else end) - now),
                deadline=deadline, what="broadcast")
        if rss_samples is not None:
            rss_samples.append(server.rss_kib() or 0)
    return _rates(before, _snapshot(gen, server, receivers, senders))


def slow_consumer(gen, server, p, deadline):
    """Broadcast without, then with, one logged-in client that never reads."""
    clients = gen.connect(p["clients"], "s", deadline)
    senders = _start_senders(gen, clients, p)
    without = _second_half_rate(gen, server, clients, senders, p["duration"], deadline)
    # A small receive buffer so the kernel cannot hide the backlog for long.
    slow = gen.connect(1, "slow", deadline, rcvbuf=4096)[0]
    gen.freeze(slow)
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
        "slow_disconnected": gen.closed_by_server(slow),
        "server_cpu": with_slow.get("server_cpu"),
        "gen_cpu": max(without["gen_cpu"], with_slow["gen_cpu"]),
    }


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
    Metric("server_cpu", "server CPU (share of one core)", "share", True),
    Metric("gen_cpu", "generator CPU (share of one core)", "share", True),
]

NAIVE_AGGREGATE = {"received_pct": "min", "min_received": "min", "all_received": "all",
                   "naive_disconnected": "max", "names_answered_pct": "min",
                   "unclean_reads_pct": "max"}

#: The baselines do not pace: a naive reader of theirs gets payloads merged
#: in one read, which is what pacing exists to prevent; nothing to compare.
UNPACED = {"asyncio": "not run: the baseline does not pace naive readers",
           "threaded": "not run: the baseline does not pace naive readers"}
NO_ROOMS = {"asyncio": "not run: the baseline has no rooms (PROTOCOL.md section 4)",
            "threaded": "not run: the baseline has no rooms (PROTOCOL.md section 4)"}


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
        gen.make_naive_reader(client, tally)
    senders = gen.connect(p["senders"], "r", deadline)
    for tag, client in zip(TAGS, senders):
        gen.make_sender(client, tag)   # gen.sending stays off: the clock sends
    gen.run(seconds=p["warmup"], deadline=deadline, what="warm-up")   # presence notices
    t0, cpu0, scpu0 = clock(), gen.cpu(), server.cpu_seconds()
    interval = 1.0 / p["rate"]
    jobs = [[t0 + i * interval / len(senders), interval,
             functools.partial(gen.send_messages, client, 1)] for i, client in enumerate(senders)]
    jobs += [[t0 + p["names_every"] * (i + 0.5) / len(naive), p["names_every"],
              functools.partial(gen.ask_names, client, tally)] for i, client in enumerate(naive)]
    gen.run_timed(p["duration"], jobs, deadline, what="busy room")
    elapsed = clock() - t0
    cpu1, scpu1 = gen.cpu(), server.cpu_seconds()
    sent = sum(c.sent for c in senders)
    received = _settle(gen, naive, sent, p["settle"], deadline)
    gen.run(seconds=QUIET, until=lambda: tally.names_answered >= tally.names_asked,
            deadline=deadline, what="the last names answers")
    (p50, p99), worst = percentiles(tally.delays, (0.5, 0.99))
    ms = lambda v: v * 1000 if v is not None else None   # noqa: E731
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


# -- framing (in-process) --------------------------------------------------------------

FRAMING_METRICS = [
    Metric("newline_mb_s", "typical requests, newline-separated (MB/s)", "rate", False),
    Metric("back_to_back_mb_s", "typical requests, back to back (MB/s)", "rate", False),
    Metric("back_to_back_vs_newline", "back to back / newline-separated speed", "ratio", False),
]
_SIZES = [("10KB", 10 * 1024), ("100KB", 100 * 1024), ("1MB", 1024 * 1024)]
_CHUNKS = [("1KB", 1024), ("1B", 1)]
for _chunk, _ in _CHUNKS:
    for _size, _ in _SIZES:
        FRAMING_METRICS.append(Metric("obj_%s_by_%s_us_per_kb" % (_size, _chunk),
                                      "one %s object in %s chunks (us per KB)" % (_size, _chunk),
                                      "us", True))
    FRAMING_METRICS.append(Metric("linear_%s" % _chunk,
                                  "%s chunks: 1 MB costs at most 2x per KB of 10 KB" % _chunk,
                                  "bool", None))


def _typical_requests(total_bytes, seed=4):
    """Encoded requests shaped like chat traffic: mostly msg, some others."""
    rng = random.Random(seed)
    words = ("hei hallo ok yes no maybe lunch meeting the a to of and in "
             "server client chat bench epoll \u00e6\u00f8\u00e5 \u2603").split()
    out, size = [], 0
    while size < total_bytes:
        roll = rng.random()
        if roll < 0.9:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
            payload = {"request": "msg", "content": text}
        elif roll < 0.95:
            payload = {"request": "names", "content": None}
        elif roll < 0.98:
            payload = {"request": "help", "content": None}
        else:
            payload = {"request": "login", "content": "user%d" % rng.randint(1, 10 ** 6)}
        data = json.dumps(payload).encode()
        out.append(data)
        size += len(data) + 1
    return out


def _feed_all(decoder_class, data, chunk, **options):
    """Seconds to feed ``data`` in ``chunk``-byte pieces; checks what came out."""
    decoder = decoder_class(**options)
    feed = decoder.feed
    values = 0
    start = time.perf_counter()
    for i in range(0, len(data), chunk):
        values += len(feed(data[i:i + chunk]))
    return time.perf_counter() - start, values


def framing(p):
    """Our JSON stream decoder alone: throughput, and cost of one big object."""
    from reactor.framing import JsonStreamDecoder

    requests = _typical_requests(p["traffic_bytes"])
    metrics = {}
    for key, joined in (("newline_mb_s", b"\n".join(requests) + b"\n"),
                        ("back_to_back_mb_s", b"".join(requests))):
        seconds, values = _feed_all(JsonStreamDecoder, joined, p["chunk"])
        if values != len(requests):
            raise RunFailed("framing: %d values decoded from %d requests" % (values, len(requests)))
        metrics[key] = len(joined) / seconds / 1e6
    metrics["back_to_back_vs_newline"] = metrics["back_to_back_mb_s"] / metrics["newline_mb_s"]
    for chunk_name, chunk in _CHUNKS:
        per_kb = {}
        for size_name, size in _SIZES:
            obj = json.dumps({"request": "msg", "content": "x" * (size - 32)}).encode()
            seconds, values = _feed_all(JsonStreamDecoder, obj, chunk, max_size=4 * size)
            if values != 1:
                raise RunFailed("framing: a %s object decoded to %d values" % (size_name, values))
            per_kb[size_name] = seconds * 1e6 / (len(obj) / 1024)
            metrics["obj_%s_by_%s_us_per_kb" % (size_name, chunk_name)] = per_kb[size_name]
        metrics["linear_%s" % chunk_name] = per_kb["1MB"] <= 2 * per_kb["10KB"]
    return metrics


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
