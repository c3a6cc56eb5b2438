"""What a scenario is, and the measuring steps the server scenarios share.

Theory of operation
-------------------
``Scenario.run_once`` runs one body against one server: it starts the
server (``bench/servers.py``) and a fresh load generator, gives the body a
hard deadline, and turns a timeout or a failure into a status instead of
an exception, so one stalled server costs a bounded time. A body measures
between two ``snapshot``s (clock, deliveries, accepted messages, CPU) and
reports ``rates``; after the senders stop, ``settle`` and ``settle_total``
wait for the last deliveries, giving up after ``QUIET`` seconds of
silence.

A scenario with ``tls=True`` runs the same body over TLS: the server gets
a TLS port beside its plain one, with a self-signed certificate made once
per run (``tls_files``, ECDSA P-256 as Let's Encrypt issues by default),
and the load generator connects there with TLS, verifying it. Servers
without TLS (the baselines) are skipped.

A scenario with ``websocket=True`` runs the same body with every client
on WebSocket (issue 19): the server gets ``--http-port`` and the body a
``WsLoadGen`` (``bench/wsload.py``), whose clients upgrade ``GET /chat``,
send masked frames and count deliveries frame by frame. Only our server
speaks WebSocket; the others are skipped.
"""

import collections
import os
import ssl
import tempfile

from chat.server.selfsigned import ensure as ensure_certificate

from ..behaviours import TAGS, make_sender, send_messages
from ..loadgen import LoadGen, RunFailed, RunTimeout, clock
from ..servers import ServerFailed, ServerProcess, free_port
from ..wsload import WsLoadGen

#: A run whose generator used at least this share of its CPU may have
#: measured the generator rather than the server: it is flagged.
GENERATOR_BOUND = 0.9

#: Settling after the senders stop: give up once no delivery arrived for
#: this long (the rest is lost, or the server is stuck).
QUIET = 1.0

Metric = collections.namedtuple("Metric", "key label fmt lower_better")

#: The two CPU rows every scenario that runs a server reports.
SERVER_CPU = Metric("server_cpu", "server CPU (share of one core)", "share", True)
GEN_CPU = Metric("gen_cpu", "generator CPU (share of one core)", "share", True)


_tls_dir = []   # the run's certificate directory, once made


def tls_files():
    """(certificate, key) for TLS scenarios, made once per run; RunFailed
    if they cannot be made (no openssl command)."""
    if not _tls_dir:
        directory = tempfile.mkdtemp(prefix="ktn-bench-tls-")
        why = ensure_certificate(directory)
        if why is not None:
            raise RunFailed("no TLS certificate: %s" % why)
        _tls_dir.append(directory)
    return os.path.join(_tls_dir[0], "cert.pem"), os.path.join(_tls_dir[0], "key.pem")


#: Servers that speak no TLS: TLS scenarios skip them.
NO_TLS = {"asyncio": "no TLS in this baseline", "threaded": "no TLS in this baseline",
          "ceiling": "no TLS in the C ceiling"}

#: Servers that speak no WebSocket: WebSocket scenarios skip them.
NO_WEBSOCKET = {"asyncio": "no WebSocket in this baseline",
                "threaded": "no WebSocket in this baseline",
                "ceiling": "no WebSocket in the C ceiling"}


def connect_timeout(n):
    """Seconds allowed to connect and log in ``n`` clients."""
    return 20 + n / 200


class Scenario:
    """A named measurement with its parameters and the metrics it reports."""

    def __init__(self, name, body, params, metrics, server_args=(), aggregate=None,
                 timeout=60.0, in_process=False, skip=None, starts_servers=False, tls=False,
                 websocket=False):
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
        self.tls = tls                 # the body's clients speak TLS to a TLS port
        if tls:
            self.skip.update(NO_TLS)
        self.websocket = websocket     # ... or WebSocket to the --http-port
        if websocket:
            self.skip.update(NO_WEBSOCKET)

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
        args, port, context = list(self.server_args), None, None
        if self.tls:
            cert, key = tls_files()
            port = free_port()
            args += ["--tls-port", str(port), "--tls-cert", cert, "--tls-key", key]
            context = ssl.create_default_context(cafile=cert)
        if self.websocket:
            port = free_port()
            args += ["--http-port", str(port)]
        with ServerProcess(name, template, args, cpu) as server:
            engine = WsLoadGen if self.websocket else LoadGen
            gen = engine(server.host, port or server.port, alive=server.dead, tls=context)
            try:
                return self.body(gen, server, self.params, clock() + self.timeout)
            finally:
                gen.close()


def ms(seconds):
    """Seconds as milliseconds; None stays None (no samples)."""
    return seconds * 1000 if seconds is not None else None


def snapshot(gen, server, receivers, senders):
    return {"t": clock(), "delivered": gen.total(receivers),
            "accepted": sum(c.echoed for c in senders),
            "cpu": gen.cpu(), "server_cpu": server.cpu_seconds()}


def rates(a, b):
    dt = b["t"] - a["t"]
    out = {"deliveries_per_s": (b["delivered"] - a["delivered"]) / dt,
           "accepted_per_s": (b["accepted"] - a["accepted"]) / dt,
           "gen_cpu": (b["cpu"] - a["cpu"]) / dt}
    if a["server_cpu"] is not None and b["server_cpu"] is not None:
        out["server_cpu"] = (b["server_cpu"] - a["server_cpu"]) / dt
        # compares servers that do not saturate their core (issue 22)
        out["deliveries_per_cpu_s"] = (out["deliveries_per_s"] / out["server_cpu"]
                                       if out["server_cpu"] > 0 else None)
    return out


def start_senders(gen, clients, p):
    senders = clients[:p["senders"]]
    for tag, client in zip(TAGS, senders):
        make_sender(gen, client, tag)
    gen.sending = True
    for client in senders:
        send_messages(gen, client, p["inflight"])
    return senders


def settle(gen, receivers, sent, timeout, deadline):
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


def settle_total(gen, clients, expected, timeout, deadline):
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
