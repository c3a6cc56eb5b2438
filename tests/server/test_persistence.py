"""Persistence through real server processes (``--db``): restarts keep
rooms, accounts, bans and purges; a ``kill -9`` loses no message anyone
saw; bad files are refused untouched; a full file costs that pass's
messages an ``error`` and nothing else."""

import json
import os
import random
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from chat.store.sqlite import SCHEMA_VERSION, SqliteStore
from support import ROOT, TIMEOUT, ServerProcess

pytestmark = pytest.mark.slow   # server processes, kill -9

OPER = "operator-secret-0123"
NOT_STORED = "message not stored, try again"


def start(db, *args, env_oper=True):
    env_before = os.environ.get("KTN_OPER_PASSWORD")
    os.environ["KTN_OPER_PASSWORD"] = OPER if env_oper else ""
    try:
        return ServerProcess("--db", db, "--rate", "0", "--pace-ms", "0", *args)
    finally:
        if env_before is None:
            del os.environ["KTN_OPER_PASSWORD"]
        else:
            os.environ["KTN_OPER_PASSWORD"] = env_before


def login(server, name, password=None):
    client = server.connect()
    client.send("login", name if password is None else "%s %s" % (name, password))
    assert client.expect("info")["content"] == "Login successful"
    client.expect("history")
    return client


def contents(history):
    return [(m["sender"], m["content"]) for m in history["content"]]


def join(client, room):
    client.send("join", room)
    info = client.expect("info")
    assert info["content"].startswith("Joined"), info
    return client.expect("history")


# -- restarts -------------------------------------------------------------------

def test_a_restart_keeps_rooms_accounts_bans_and_purges(tmp_path):
    db = str(tmp_path / "chat.sqlite3")
    server = start(db)
    alice = login(server, "alice")
    alice.send("register", "alicepass1")
    assert "registered" in alice.expect("info")["content"]
    join(alice, "#Dev")
    alice.send("msg", "in dev")
    alice.expect("message")
    bob = login(server, "bob")
    bob.send("msg", "from bob")
    bob.expect("message")
    bob.send("msg", "hello")
    bob.expect("message")
    bob.send("oper", OPER)
    bob.expect("info")
    bob.send("ban", "mallory spammer")
    assert "mallory is banned" in bob.expect("info")["content"]
    carol = login(server, "carol")
    carol.send("msg", "carol was here")
    carol.expect("message")
    bob.send("purge", "carol")
    assert bob.expect("info", skip=("message",))["content"].startswith("1 messages from carol")
    assert server.stop() == 0
    assert ": 3 messages stored" in server.wait_for_log("messages stored")

    server = start(db)
    try:
        first = server.connect()
        first.send("login", "alice")
        assert "alice is registered" in first.expect("error")["content"]
        first.send("login", "mallory")
        assert first.expect("error")["content"] == "you are banned: spammer"
        alice = login(server, "alice", "alicepass1")
        history = join(alice, "dev")
        assert contents(history) == [("alice", "in dev")]
        alice.send("leave")
        alice.expect("info")
        assert contents(alice.expect("history")) == [("bob", "from bob"), ("bob", "hello")]
    finally:
        server.stop()


def test_a_kill_keeps_an_account_whose_confirmation_was_seen(tmp_path):
    db = str(tmp_path / "chat.sqlite3")
    server = start(db)
    alice = login(server, "alice")
    alice.send("register", "alicepass1")
    assert "registered" in alice.expect("info")["content"]
    server.stop(signal.SIGKILL)
    server = start(db)
    try:
        client = server.connect()
        client.send("login", "alice")
        assert "alice is registered" in client.expect("error")["content"]
    finally:
        server.stop()


# -- crash: kill -9 at a random moment ---------------------------------------------

class RawReader:
    """A socket read as raw payload lines (bytes without the newline)."""

    def __init__(self, client):
        self.sock = client.sock
        self.sock.setblocking(False)
        self.buffer = client.buffer
        self.lines = []
        self.eof = False

    def read(self):
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        self.lines.extend(lines)


def crash_run(db, rng, run):
    """Four clients in two rooms each send ``per_client`` messages; the
    server is killed after a random number of deliveries. Returns what each
    room's clients saw, and how many messages were seen."""
    server = start(db, "--history-limit", "5000", "--max-message-bytes", "200")
    rooms = {"lobby": [], "dev": []}
    readers = []
    for i in range(4):
        client = login(server, "r%dc%d" % (run, i))
        room = "lobby" if i < 2 else "dev"
        if room != "lobby":
            join(client, room)
        rooms[room].append(client)
    per_client = 300
    for room, clients in rooms.items():
        for index, client in enumerate(clients):
            name = "r%dc%d" % (run, (0 if room == "lobby" else 2) + index)
            client.send_raw(b"".join(
                json.dumps({"request": "msg", "content": "%s says %d" % (name, n)}).encode()
                + b"\n" for n in range(per_client)))
            readers.append((room, RawReader(client)))
    kill_after = rng.randrange(20, 4 * 2 * per_client)   # deliveries before the kill
    deadline = time.monotonic() + TIMEOUT
    killed = False
    while not all(reader.eof for _, reader in readers):
        assert time.monotonic() < deadline, "clients never saw the end"
        socks = [reader.sock for _, reader in readers if not reader.eof]
        ready, _, _ = select.select(socks, [], [], 0.5)
        for _, reader in readers:
            if reader.sock in ready:
                reader.read()
        seen = sum(len(reader.lines) for _, reader in readers)
        if not killed and seen >= kill_after:
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            killed = True
        elif not killed and seen >= 4 * 2 * per_client:
            server.proc.send_signal(signal.SIGKILL)   # everything was delivered
            server.proc.wait()
            killed = True
    server.proc.stderr.close()
    seen = {room: [] for room in rooms}
    for room, reader in readers:
        seen[room].append([line for line in reader.lines if b'"response": "message"' in line])
        reader.sock.close()
    return seen


def check_history(history_line, seen_lists):
    """Each client's messages appear in the history, in its order, once."""
    for seen in seen_lists:
        offset = 0
        for line in seen:
            found = history_line.find(line, offset)
            assert found >= 0, "a message a client saw is missing or out of order: %r" % line
            assert history_line.find(line, found + len(line)) < 0, "stored twice: %r" % line
            offset = found + len(line)


def test_kill_9_at_random_moments_loses_no_message_anyone_saw(tmp_path):
    seed = os.environ.get("CRASH_SEED") or str(time.time_ns())
    rng = random.Random(seed)
    db = str(tmp_path / "chat.sqlite3")
    totals = []
    for run in range(3):
        seen = crash_run(db, rng, run)
        server = start(db, "--history-limit", "5000", "--max-message-bytes", "200")
        try:
            for room, seen_lists in seen.items():
                try:
                    check_history(raw_history(server, room, run), seen_lists)
                except AssertionError as exc:
                    raise AssertionError("CRASH_SEED=%s run %d: %s" % (seed, run, exc)) from None
                totals.append(sum(len(s) for s in seen_lists))
        finally:
            server.stop()
    print("crash runs: 3, messages seen per room and run: %s, losses: 0" % totals)


def raw_history(server, room, run):
    """The history response of ``room`` as the bytes the server sent."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    requests = [{"request": "login", "content": "raw%d%s" % (run, room)}]
    if room != "lobby":
        requests.append({"request": "join", "content": room})
    sock.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
    buffer = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        buffer += sock.recv(1 << 20)
        histories = [line for line in buffer.split(b"\n")[:-1]
                     if b'"response": "history"' in line]
        if len(histories) == len(requests):
            sock.close()
            return histories[-1]
    raise AssertionError("no history for %s" % room)


# -- a full file while running ----------------------------------------------------------

def test_a_full_file_costs_that_message_an_error_and_the_server_goes_on(tmp_path):
    db = str(tmp_path / "chat.sqlite3")
    server = start(db, "--db-max-pages", "1")   # 1: the new file may not grow
    try:
        alice = login(server, "alice")
        bob = login(server, "bob")
        alice.send("msg", "\u00e9" * 2700)   # 16 200 bytes escaped: SQLITE_FULL
        assert alice.expect("error")["content"] == NOT_STORED
        server.wait_for_log("database write failed")
        alice.send("msg", "small")      # fits in the pages there are
        assert alice.expect("message")["content"] == "small"
        assert bob.expect("message")["content"] == "small"   # the big one never came
        bob.send("names")
        assert bob.expect("info")["content"].startswith("Users online (2)")
    finally:
        assert server.stop() == 0
    server = start(db)
    try:
        client = server.connect()
        client.send("login", "carol")
        client.expect("info")
        assert contents(client.expect("history")) == [("alice", "small")]
    finally:
        server.stop()


# -- bad files --------------------------------------------------------------------------

def refused(path, expected, prefix=()):
    """Start a server on ``path``: exit 1, one stderr line naming the
    problem, the file's bytes as they were and no WAL file beside it."""
    before = open(path, "rb").read()
    wal_before = os.path.exists(path + "-wal")
    result = subprocess.run([*prefix, sys.executable, "-m", "chat.server", "--port", "0",
                             "--db", path], cwd=ROOT, capture_output=True, timeout=TIMEOUT * 2)
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and expected in lines[0] and path in lines[0], lines
    assert open(path, "rb").read() == before
    assert os.path.exists(path + "-wal") == wal_before


def stored_db(path):
    store = SqliteStore(path, 100)
    for n in range(500):
        store.append("lobby", "lobby", "bob", b'{"n": %d, "pad": "%s"}\n' % (n, b"y" * 300))
    store.commit()
    store.close()
    return path


def test_not_a_database(tmp_path):
    path = str(tmp_path / "notes.txt")
    with open(path, "wb") as f:
        f.write(b"my notes, not a database\n" * 200)
    refused(path, "not a usable SQLite database")


@pytest.mark.parametrize("where", ["schema page", "last page", "truncated"])
def test_a_corrupt_database(tmp_path, where):
    path = stored_db(str(tmp_path / "chat.sqlite3"))
    with open(path, "r+b") as f:
        if where == "schema page":
            f.seek(100)
            f.write(b"\xff" * 400)
        elif where == "last page":
            f.seek(-4096, 2)
            f.write(b"\xa5" * 4096)
        else:
            f.truncate(os.path.getsize(path) // 2)
    refused(path, "database disk image is malformed")


def test_a_newer_schema(tmp_path):
    path = stored_db(str(tmp_path / "chat.sqlite3"))
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = %d" % (SCHEMA_VERSION + 1))
    db.close()
    refused(path, "schema version %d, newer than this server's" % (SCHEMA_VERSION + 1))


def test_another_programs_database(tmp_path):
    path = str(tmp_path / "other.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (n)")
    db.commit()
    db.close()
    refused(path, "database of something else")


def test_a_read_only_database(tmp_path):
    path = stored_db(str(tmp_path / "chat.sqlite3"))
    os.chmod(path, 0o444)
    prefix = ()
    if os.geteuid() == 0:   # root writes any file: start it without that power
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no file is read-only to root")
        prefix = (setpriv, "--bounding-set=-dac_override")
    refused(path, "is read-only", prefix)


def test_a_database_in_use_by_another_server(tmp_path):
    db = str(tmp_path / "chat.sqlite3")
    server = start(db)
    try:
        refused(db, "in use by another server process")
    finally:
        server.stop()


# -- start-up time ----------------------------------------------------------------------

def test_start_up_loads_only_the_last_history_limit_per_room(tmp_path):
    """100 000 messages in 100 rooms (the bench's restart figure uses
    1 000 000): the server loads 100 per room and accepts well within 2 s."""
    from bench.restart import build_database, time_start
    path = build_database(str(tmp_path / "chat.sqlite3"), 100000, 100)
    accepting, loading, rooms, messages = time_start(path, 100)
    assert (rooms, messages) == (100, 100 * 100)
    assert accepting < 2.0, "start-up took %.2f s" % accepting
    server = start(path, "--history-limit", "100")
    try:
        client = login(server, "reader")
        history = join(client, "room7")
        assert [m["content"] for m in history["content"]][-1] == \
            "message number %d, about lunch" % (100000 - 100 + 7)
        assert len(history["content"]) == 100
    finally:
        server.stop()
