"""The ``restart`` scenario: seconds for our server to start on a database
of a million stored messages (issue 10: under 2 s).

The database is built once per bench process through ``SqliteStore``
itself (same schema, same statements), in ``rooms`` rooms, messages the
size of typical chat lines. Then the server is started on it, as a user
would start it, and timed from ``exec`` until its port accepts; the
server's own log line gives the part spent opening and loading the file.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from chat import protocol
from chat.store.sqlite import SqliteStore

from .scenarios.base import Metric
from .servers import HOST, ROOT, free_port

RESTART_METRICS = [
    Metric("restart_s", "start on the database until accepting (s)", "s", True),
    Metric("load_s", "of which opening and loading the file (s)", "s", True),
    Metric("stored_messages", "messages stored", "int", None),
    Metric("rooms_loaded", "rooms", "int", None),
    Metric("messages_loaded", "messages loaded (history limit per room)", "int", None),
    Metric("db_mib", "database file (MiB)", "mib", None),
    Metric("build_s", "building the database, first run (s)", "s", None),
]

_built = {}   # (messages, rooms) -> (path, seconds to build), for the bench process


def build_database(path, messages, rooms, batch=50000):
    """A database of ``messages`` messages spread over ``rooms`` rooms."""
    store = SqliteStore(path, 0)
    stamp = "2026-11-28T20:00:00+00:00"
    for start in range(0, messages, batch):
        for n in range(start, min(messages, start + batch)):
            room = "room%d" % (n % rooms) if n % rooms else "lobby"
            sender = "user%d" % (n % 997)
            store.append(room, room, sender, protocol.encode_response(
                stamp, sender, protocol.MESSAGE, "message number %d, about lunch" % n))
        store.commit()
    store.close()
    return path


def database(messages, rooms):
    """(path, seconds it took to build) of the database, built on first use."""
    key = (messages, rooms)
    if key not in _built:
        folder = tempfile.mkdtemp(prefix="ktn-bench-db-")
        started = time.monotonic()
        path = build_database(os.path.join(folder, "chat.sqlite3"), messages, rooms)
        _built[key] = (path, time.monotonic() - started)
    return _built[key]


def time_start(path, history_limit, timeout=30.0):
    """(seconds until the port accepts, seconds the server says loading took)."""
    port = free_port()
    argv = [sys.executable, "-m", "chat.server", "--host", HOST, "--port", str(port),
            "--db", path, "--history-limit", str(history_limit)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited: %s" % proc.stderr.read().decode()[-400:])
            if time.monotonic() - started > timeout:
                raise RuntimeError("server did not accept within %g s" % timeout)
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.005)   # polling the port: the deadline bounds it
        accepting = time.monotonic() - started
    finally:
        proc.terminate()
        log = proc.communicate(timeout=timeout)[1].decode("utf-8", "replace")
    loaded = re.search(r"loaded (\d+) rooms, (\d+) messages.* in ([0-9.]+) s", log)
    return accepting, float(loaded.group(3)), int(loaded.group(1)), int(loaded.group(2))


def restart(p):
    path, built = database(p["messages"], p["rooms"])
    accepting, loading, rooms, loaded = time_start(path, p["history_limit"])
    return {"restart_s": accepting, "load_s": loading, "rooms_loaded": rooms,
            "messages_loaded": loaded, "stored_messages": p["messages"],
            "db_mib": os.path.getsize(path) / 2 ** 20, "build_s": built}


def remove_databases():
    for path, _ in _built.values():
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    _built.clear()
