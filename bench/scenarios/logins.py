"""Timed logins: ``connect-N`` and ``history-10k``.

Theory of operation
-------------------
A login is complete when the server's two replies (``info`` and
``history``) arrived. ``connect`` logs in N clients at a bounded window and
reports logins/s and the server's memory per connection; ``history`` first
fills the history with one pipelining client, then times fresh logins that
each receive all of it.
"""

from ..behaviours import TAGS, make_sender, send_messages
from ..loadgen import RunFailed, clock
from .base import GEN_CPU, Metric, SERVER_CPU

# -- connect-N ------------------------------------------------------------------

CONNECT_METRICS = [
    Metric("logins_per_s", "logins/s", "rate", False),
    Metric("last_history_s", "time to last history (s)", "s", True),
    Metric("rss_per_conn_kib", "server RSS per connection (KiB)", "kib", True),
    Metric("server_rss_mib", "server RSS (MiB)", "mib", True),
    SERVER_CPU,
    GEN_CPU,
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


# -- history-10k ------------------------------------------------------------------

HISTORY_METRICS = [
    Metric("history_s", "time to full history, all logins (s)", "s", True),
    Metric("mb_per_s", "history MB/s", "rate", False),
    Metric("history_mib", "one history (MiB)", "mib", None),
    Metric("entries_min", "entries in the shortest history", "int", False),
    SERVER_CPU,
    GEN_CPU,
]


def history(gen, server, p, deadline):
    """Fill the history with one pipelining client, then log in fresh clients."""
    size = p["messages"]
    filler = gen.connect(1, "filler", deadline)[0]
    make_sender(gen, filler, TAGS[0])
    send_messages(gen, filler, size)   # gen.sending is off: no refills
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
