"""The chat server over real sockets: every rule of PROTOCOL.md sections 1 and 3.

Each server is a ``python -m chat.server`` subprocess (``support.ServerProcess``).
Tests that do not interfere share one module-scoped server (flood control off,
default pacing) and use distinct usernames; tests that need other options, or
an exact view of the history, the user list or the presence notices, get a
fresh server. Every payload any test reads goes through ``check_payload``:
pure ASCII, one ``\\n`` after it, the four keys, an ISO 8601 timestamp with
UTC offset, ``"server"`` as the sender of server responses.

Nothing sleeps: every wait is a read (or a log line) with a deadline, and the
pace gap is observed by reading with a timeout.
"""

import datetime
import json
import re
import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from support import (HELP_MARK, PRESENCE, TIMEOUT, Client, ServerProcess, assert_error,
                     is_presence, read_to_end, request_bytes, uniq)

pytestmark = pytest.mark.slow   # server processes

KEYS = {"timestamp", "sender", "response", "content"}
RESPONSES = {"error", "info", "message", "history"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\Z")
USERNAME = re.compile(r"[A-Za-z0-9]{1,32}\Z")


# -- payload checks -------------------------------------------------------------

def check_response(obj):
    """Assert ``obj`` is a well-formed response (section 1 and 3); return it."""
    assert isinstance(obj, dict), obj
    assert set(obj) == KEYS, obj
    stamp = obj["timestamp"]
    assert isinstance(stamp, str) and TIMESTAMP.match(stamp), obj
    assert datetime.datetime.fromisoformat(stamp).utcoffset() is not None, obj
    response = obj["response"]
    assert response in RESPONSES, obj
    if response == "message":
        assert isinstance(obj["sender"], str) and USERNAME.match(obj["sender"]), obj
        assert isinstance(obj["content"], str), obj
    else:
        assert obj["sender"] == "server", obj
    if response in ("error", "info"):
        assert isinstance(obj["content"], str) and obj["content"], obj
    if response == "history":
        assert isinstance(obj["content"], list), obj
        for entry in obj["content"]:
            check_response(entry)
            assert entry["response"] == "message", entry
    return obj


def check_payload(line):
    """One raw line from the wire (without its newline): check and decode it."""
    assert line.isascii(), line[:200]
    assert b"\r" not in line, line[:200]
    return check_response(json.loads(line))


def presence_count(names):
    """How many users a presence list names: 'a, b, c and 17 others' -> 20."""
    if not names:
        return 0
    m = re.fullmatch(r"(.*) and (\d+) others", names)
    if m:
        return len(m.group(1).split(", ")) + int(m.group(2))
    return len(re.split(r", | and ", names))


class WireClient(Client):
    """``support.Client`` that keeps the raw lines and checks every payload."""

    def __init__(self, port, newline=True):
        super().__init__(port, newline=newline)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lines = []
        self.reset = False

    def recv_line(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no payload within %ss; buffered %r"
                                     % (timeout, self.buffer[:200]))
            if self.closed:
                raise AssertionError("connection closed; buffered %r" % self.buffer[:200])
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                self.reset = True
                data = b""
            if not data:
                self.closed = True
                raise AssertionError("connection closed; buffered %r" % self.buffer[:200])
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        self.lines.append(line)
        return line

    def recv(self, timeout=TIMEOUT):
        return check_payload(self.recv_line(timeout))

    def replies(self, count, timeout=TIMEOUT):
        return [self.reply(timeout) for _ in range(count)]

    def until_closed(self, timeout=TIMEOUT):
        """Read to EOF; the payloads before it (presence notices dropped)."""
        payloads = [p for p in self.wait_closed(timeout) if not is_presence(p)]
        assert self.buffer == b"", "bytes after the last newline: %r" % self.buffer[:200]
        return payloads


def assert_info(payload, pattern):
    assert payload["response"] == "info", payload
    assert re.search(pattern, payload["content"]), payload
    return payload


def listed_names(info):
    """The users a ``names`` reply lists: 'Users online (2): alice, bob'."""
    assert info["response"] == "info", info
    assert ": " in info["content"], info
    return info["content"].rsplit(": ", 1)[1].split(", ")


# -- servers, their logs and clients ----------------------------------------------

class LogWatcher:
    """Reads a server's stderr in a thread, so the pipe never fills, and lets
    tests wait for a log line (an event with a deadline, not a sleep)."""

    def __init__(self, server):
        self.server = server
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for raw in self.server.proc.stderr:
            with self.cond:
                self.server.log_lines.append(raw.decode("utf-8", "replace"))
                self.cond.notify_all()

    def mark(self):
        """A position in the log, for ``wait_for(since=...)``."""
        with self.cond:
            return len(self.server.log_lines)

    def wait_for(self, pattern, timeout=TIMEOUT, since=0):
        regex = re.compile(pattern)
        with self.cond:
            found = self.cond.wait_for(
                lambda: any(regex.search(line) for line in self.server.log_lines[since:]), timeout)
        assert found, "server never logged %r; log:\n%s" % (pattern, self.text())

    def text(self):
        with self.cond:
            return "".join(self.server.log_lines)


def start_server(*args):
    server = ServerProcess(*args)
    server.watcher = LogWatcher(server)
    return server


def stop_server(server):
    status = server.stop()
    server.watcher.thread.join(TIMEOUT)
    log = server.watcher.text()
    assert status == 0, "server exited %s; log:\n%s" % (status, log)
    assert "Traceback" not in log and "error in" not in log, log


@pytest.fixture(scope="module")
def server():
    """Shared by the tests that do not interfere: flood control off."""
    srv = start_server("--rate", "0")
    yield srv
    stop_server(srv)


@pytest.fixture
def make_server():
    """Fresh servers with their own options, stopped (exit 0) after the test."""
    servers = []

    def make(*args):
        srv = start_server(*args)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        stop_server(srv)


@pytest.fixture
def connect():
    """``connect(server, newline=True)`` -> WireClient, closed after the test."""
    clients = []

    def make(srv, newline=True):
        client = WireClient(srv.port, newline=newline)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def logged_in(connect, srv, name=None, newline=True):
    client = connect(srv, newline=newline)
    client.name = name or uniq()
    client.login(client.name)
    return client


# -- login, info, history ---------------------------------------------------------

def test_login_gets_info_then_history(server, connect):
    client = connect(server)
    name = uniq("Alice")
    client.send("login", name)
    info, history = client.replies(2)
    assert_info(info, r"\ALogin successful\Z")
    assert history["response"] == "history"
    assert isinstance(history["content"], list)


def test_fresh_server_sends_empty_history(make_server, connect):
    client = connect(make_server())
    client.send("login", "first")
    info, history = client.replies(2)
    assert info["content"] == "Login successful"
    assert history["response"] == "history" and history["content"] == []


def test_login_while_logged_in_is_an_error(server, connect):
    name = uniq()
    client = logged_in(connect, server, name)
    assert_error(client.request("login", uniq()), "already logged in")
    assert_error(client.request("login", name), "already logged in")
    assert name in listed_names(client.request("names"))


@pytest.mark.parametrize("request_name", ["logout", "msg", "names"])
def test_only_login_and_help_before_login(server, connect, request_name):
    client = connect(server)
    content = "hello" if request_name == "msg" else None
    assert_error(client.request(request_name, content), "not logged in")
    # help works before login, and the connection still takes a login
    assert HELP_MARK in assert_info(client.request("help"), "")["content"]
    client.login(uniq())


@pytest.mark.parametrize("name", ["A", "0", "abcXYZ019", "x" * 32, "None"])
def test_valid_usernames(server, connect, name):
    # unique across the module: a per-test suffix where the length allows
    if len(name) < 32:
        name = uniq(name)[:32]
    client = connect(server)
    client.send("login", name)
    assert client.reply()["content"] == "Login successful"
    assert client.reply()["response"] == "history"
    client.send("msg", "hi")
    assert client.reply()["sender"] == name


@pytest.mark.parametrize("name, rule", [
    ("", r"needs a username"),
    ("   ", r"needs a username"),
    ("x" * 33, r"too long"),
    ("bob smith", r"invalid username.*letters"),
    ("bob!", r"invalid username.*letters"),
    ("bob_1", r"invalid username.*letters"),
    ("b-b", r"invalid username.*letters"),
    ("\u00c5se", r"invalid username.*letters"),
    ("\uff41\uff42", r"invalid username.*letters"),   # fullwidth letters
    ("\u0661\u0662", r"invalid username.*letters"),   # Arabic-Indic digits
    ("server", r"reserved"),
    ("Server", r"reserved"),
    ("SERVER", r"reserved"),
    ("sErVeR", r"reserved"),
])
def test_invalid_usernames_say_which_rule_failed(server, connect, name, rule):
    client = connect(server)
    assert_error(client.request("login", name), rule)
    # still not logged in, still working
    assert_error(client.request("names"), "not logged in")
    client.login(uniq())


@pytest.mark.parametrize("padding", [" ", "\n", "\t", " \r\n "])
def test_whitespace_never_ends_up_in_a_name(server, connect, padding):
    """The server may trim surrounding whitespace or refuse the name; either
    way the name it uses contains only letters and digits."""
    name = uniq("pad")
    client = connect(server)
    reply = client.request("login", padding + name + padding)
    if reply["response"] == "error":
        assert re.search("invalid username", reply["content"]), reply
        return
    assert reply["content"] == "Login successful"
    client.reply()
    assert client.request("msg", "x")["sender"] == name
    assert name in listed_names(client.request("names"))


def test_username_uniqueness_ignores_case_and_keeps_spelling(server, connect):
    base = uniq("aLiCe")
    first = logged_in(connect, server, base)
    for variant in (base.lower(), base.upper(), base):
        other = connect(server)
        assert_error(other.request("login", variant), "taken")
        other.close()
    names = listed_names(first.request("names"))
    assert base in names
    assert base.lower() not in names
    first.send("msg", "spelling")
    assert first.reply()["sender"] == base


def test_history_replays_messages_oldest_first_exactly_as_broadcast(make_server, connect):
    srv = make_server()
    alice = logged_in(connect, srv, "alice")
    bob = logged_in(connect, srv, "bob")
    texts = ["one", "two \u00e5\u00e6\u00f8", "three \U0001F600", "four \"quoted\" \\ \n"]
    broadcast_lines = []
    for i, text in enumerate(texts):
        sender = (alice, bob)[i % 2]
        sender.send("msg", text)
        for client in (alice, bob):
            message = client.reply()
            assert message["response"] == "message" and message["content"] == text
        broadcast_lines.append(alice.lines[-1])
        assert bob.lines[-1] == alice.lines[-1]   # the same bytes to everyone
    carol = connect(srv)
    carol.send("login", "carol")
    assert carol.reply()["content"] == "Login successful"
    history = carol.reply()
    assert history["response"] == "history"
    assert history["content"] == [json.loads(line) for line in broadcast_lines]
    assert [m["sender"] for m in history["content"]] == ["alice", "bob", "alice", "bob"]
    raw = carol.lines[-1]
    positions = [raw.index(line) for line in broadcast_lines]   # byte for byte
    assert positions == sorted(positions)


def test_history_bounded_by_history_limit(make_server, connect):
    srv = make_server("--history-limit", "3")
    alice = logged_in(connect, srv, "alice")
    for i in range(7):
        alice.send("msg", "m%d" % i)
        assert alice.reply()["content"] == "m%d" % i
    bob = connect(srv)
    history = bob.login("bob")
    assert [m["content"] for m in history["content"]] == ["m4", "m5", "m6"]
    assert all(m["sender"] == "alice" for m in history["content"])


def test_history_limit_zero_keeps_nothing(make_server, connect):
    srv = make_server("--history-limit", "0")
    alice = logged_in(connect, srv, "alice")
    alice.send("msg", "gone")
    assert alice.reply()["content"] == "gone"
    assert connect(srv).login("bob")["content"] == []


# -- msg -----------------------------------------------------------------------------

def test_msg_is_broadcast_to_everyone_including_sender(server, connect):
    clients = [logged_in(connect, server, uniq("bc")) for _ in range(3)]
    sender = clients[1]
    text = "hello everyone"
    sender.send("msg", text)
    lines = set()
    for client in clients:
        message = client.reply()
        assert message["response"] == "message"
        assert message["content"] == text
        assert message["sender"] == sender.name
        lines.add(client.lines[-1])
    assert len(lines) == 1   # encoded once: identical bytes for every recipient


def test_msg_content_is_unchanged_and_output_is_ascii(server, connect):
    alice = logged_in(connect, server)
    bob = logged_in(connect, server)
    texts = [
        "bl\u00e5b\u00e6rsyltet\u00f8y",
        "\u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627",
        "emoji \U0001F600\U0001F44D",
        "line one\nline two\r\n\ttabbed",
        "\u2028\u2029 separators",
        "escape \x1b[31mred\x1b[0m and \x00 nul",
        "quotes \" and \\ backslash and {\"request\": \"logout\"}",
        "None",
        "  padded  ",
        "lone surrogate \ud800",
    ]
    for text in texts:
        alice.send("msg", text)
        for client in (alice, bob):
            message = client.reply()
            assert message["content"] == text
            raw = client.lines[-1]
            assert raw.isascii()
            assert json.loads(raw.decode("ascii"))["content"] == text
    assert any(b'"bl\\u00e5b\\u00e6rsyltet\\u00f8y"' in line for line in alice.lines)
    assert any(b'"emoji \\ud83d\\ude00\\ud83d\\udc4d"' in line for line in bob.lines)


@pytest.mark.parametrize("content, rule", [
    ("", r"needs a message"),
    ("   \t\n ", r"needs a message"),
    ("x" * 4097, r"too long"),
    (None, r"must be a string"),
    (42, r"must be a string"),
    (["hi"], r"must be a string"),
    ({"text": "hi"}, r"must be a string"),
    (True, r"must be a string"),
])
def test_bad_msg_content_is_an_error(server, connect, content, rule):
    client = logged_in(connect, server)
    assert_error(client.request("msg", content), rule)
    assert client.help_sentinel() == []


def test_max_message_length_option(make_server, connect):
    """--max-message-length counts characters, not bytes; a message over it
    is an error naming both lengths, and the client goes on."""
    srv = make_server("--max-message-length", "10")
    client = logged_in(connect, srv, "short")
    assert client.request("msg", "x" * 10)["content"] == "x" * 10
    assert_error(client.request("msg", "x" * 11), r"too long.*11.*10")
    assert_error(client.request("msg", "\u00e5" * 11), r"too long")
    assert client.request("msg", "\u00e5" * 10)["content"] == "\u00e5" * 10
    assert client.help_sentinel() == []
    assert client.request("msg", "still here")["content"] == "still here"


def test_msg_at_the_length_limit_is_accepted(server, connect):
    client = logged_in(connect, server)
    text = "x" * 4096
    message = client.request("msg", text)
    assert message["response"] == "message" and message["content"] == text
    text = "\u00e5" * 2730   # 16380 bytes once escaped: within 16 KiB too
    message = client.request("msg", text)
    assert message["response"] == "message" and message["content"] == text


def test_msg_over_the_byte_limit_is_refused_with_a_clear_error(make_server, connect):
    """Issue 8, defect 11: 4096 emoji are 49 KB on the wire; the encoded size
    is bounded too (--max-message-bytes, default 16 KiB)."""
    client = logged_in(connect, make_server(), "emoji")
    assert_error(client.request("msg", "\U0001F600" * 4096), r"too large: 49152 bytes.*16384")
    srv = make_server("--max-message-bytes", "60")
    client = logged_in(connect, srv, "small")
    assert client.request("msg", "\U0001F600" * 5)["response"] == "message"
    assert_error(client.request("msg", "\U0001F600" * 6), r"too large: 72 bytes.*60")
    assert client.help_sentinel() == []


# -- names, help, no-argument forms -------------------------------------------------

def test_names_lists_users_sorted(make_server, connect):
    srv = make_server()
    chosen = ["carol", "Bob", "alice", "B0b", "dave9", "Zed", "a1"]
    clients = [logged_in(connect, srv, name) for name in chosen]
    listed = listed_names(clients[0].request("names"))
    # sorted (PROTOCOL.md names no collation: ignoring case, as we do, or not)
    assert listed in (sorted(chosen, key=lambda n: (n.lower(), n)), sorted(chosen)), listed
    # a user who leaves is no longer listed
    clients[2].send("logout")
    clients[2].until_closed()
    listed = listed_names(clients[0].request("names"))
    assert "alice" not in listed and len(listed) == len(chosen) - 1


def test_help_lists_every_request_with_its_argument(server, connect):
    for client in (connect(server), logged_in(connect, server)):
        info = client.request("help")
        text = assert_info(info, "")["content"]
        for name in ("login", "logout", "msg", "names", "help"):
            assert re.search(r"(?m)^\W*%s\b" % name, text), (name, text)
        assert re.search(r"(?m)^\W*login <\w+>", text), text
        assert re.search(r"(?m)^\W*msg <\w+>", text), text


NO_ARGUMENT_FORMS = [
    pytest.param({"content": None}, id="null"),
    pytest.param({}, id="missing"),
    pytest.param({"content": ""}, id="empty"),
    pytest.param({"content": "None"}, id="None"),
]


def raw_request(request, fields):
    payload = {"request": request}
    payload.update(fields)
    return json.dumps(payload).encode() + b"\n"


@pytest.mark.parametrize("fields", NO_ARGUMENT_FORMS)
def test_no_argument_forms(server, connect, fields):
    name = uniq()
    client = logged_in(connect, server, name)
    client.send_raw(raw_request("names", fields))
    assert name in listed_names(client.reply())
    client.send_raw(raw_request("help", fields))
    assert HELP_MARK in client.reply()["content"]
    client.send_raw(raw_request("logout", fields))
    payloads = client.until_closed()
    assert len(payloads) == 1
    assert_info(payloads[0], r"(?i)log")


@pytest.mark.parametrize("fields", NO_ARGUMENT_FORMS)
def test_help_before_login_with_no_argument_forms(server, connect, fields):
    client = connect(server)
    client.send_raw(raw_request("help", fields))
    assert HELP_MARK in client.reply()["content"]


@pytest.mark.parametrize("request_name", ["names", "help", "logout"])
@pytest.mark.parametrize("content", [5, [], {"a": 1}, True, 1.5])
def test_no_argument_request_with_wrong_content_type(server, connect, request_name, content):
    name = uniq()
    client = logged_in(connect, server, name)
    assert_error(client.request(request_name, content), r"takes no argument")
    # still logged in (a bad logout does not log out)
    assert name in listed_names(client.request("names"))


def test_extra_keys_are_ignored(server, connect):
    client = connect(server)
    client.send_raw(b'{"request": "help", "content": null, "extra": [1, 2], "id": 7}\n')
    assert HELP_MARK in client.reply()["content"]
    name = uniq()
    client.send_raw(json.dumps({"content": name, "x": None, "request": "login"}).encode() + b"\n")
    assert client.reply()["content"] == "Login successful"


# -- logout and disconnects -------------------------------------------------------

@pytest.mark.parametrize("newline", [True, False], ids=["stream", "paced"])
def test_logout_gets_info_then_close_and_frees_the_name(server, connect, newline):
    name = uniq("Leaver")
    client = logged_in(connect, server, name, newline=newline)
    client.send("logout")
    payloads = client.until_closed()
    assert len(payloads) == 1, payloads
    assert_info(payloads[0], r"(?i)log(ged)? ?out")
    # the name is free at once (case-insensitively)
    connect(server).login(name.upper())


def test_login_and_logout_pipelined_paced(server, connect):
    client = connect(server, newline=False)
    client.send_raw(request_bytes("login", uniq(), newline=False)
                    + request_bytes("logout", None, newline=False))
    payloads = client.until_closed()
    assert [p["response"] for p in payloads] == ["info", "history", "info"]
    assert payloads[0]["content"] == "Login successful"


def test_paced_logout_then_newline_still_closes(make_server):
    """Logout while paced output is still queued, then the client sends a
    newline (it reads streams after all): the queued payloads go out at once
    and the connection must still close.

    A regression test: ``ClientConnection._stream_mode`` used to release the
    pacer's queue without closing a connection that was closing; it then
    stayed open (holding a --max-clients slot) even after the client left.
    Now a closing connection discards what it reads (hardening defect 2), so
    the queued payloads keep their pace, and the close comes after them.
    """
    srv = make_server("--pace-ms", "1000")
    with _raw_socket(srv) as sock:
        sock.sendall(request_bytes("login", "lastword", newline=False)
                     + request_bytes("logout", None, newline=False))
        assert _recv_one_payload(sock)["content"] == "Login successful"
        sock.sendall(b"\n")   # history and the logout info still queued (1 s gap)
        data, closed = b"", False
        sock.settimeout(2.0)
        try:
            while not closed:
                chunk = sock.recv(65536)
                data += chunk
                closed = not chunk
        except socket.timeout:
            pass
        payloads = [check_payload(line) for line in data.split(b"\n")[:-1]]
        assert [p["response"] for p in payloads] == ["history", "info"]
        assert closed, "the connection was not closed within 2 s of the logout"


def test_requests_after_logout_are_not_handled(server, connect):
    client = connect(server)
    name = uniq()
    client.send_raw(request_bytes("login", name) + request_bytes("logout")
                    + request_bytes("msg", "after logout") + request_bytes("names"))
    payloads = client.until_closed()
    assert [p["response"] for p in payloads] == ["info", "history", "info"]


def test_half_close_handles_queued_requests_then_closes(server, connect):
    """An abrupt end of input (FIN) after requests: they are handled, the name freed."""
    name = uniq("half")
    observer = logged_in(connect, server)
    client = connect(server)
    client.send_raw(request_bytes("login", name) + request_bytes("msg", "last words"))
    client.sock.shutdown(socket.SHUT_WR)
    payloads = client.until_closed()
    assert [p["response"] for p in payloads] == ["info", "history", "message"]
    assert observer.reply()["content"] == "last words"
    connect(server).login(name)


def _local_peer(client):
    host, port = client.sock.getsockname()[:2]
    return r"%s:%d\b" % (re.escape(host), port)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_abrupt_disconnect_frees_the_name(server, connect, how):
    name = uniq("Abrupt")
    since = server.watcher.mark()
    client = logged_in(connect, server, name)
    peer = _local_peer(client)
    if how == "reset":
        # SO_LINGER on, timeout 0: close() sends RST instead of FIN
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    # the server logs the end of the connection; by then the name is free
    server.watcher.wait_for(r"%s.*(closing|disconnected)" % peer, since=since)
    connect(server).login(name.lower())


def test_server_logs_each_login(server, connect):
    """The operator's log names each login (a regression test: the line was
    once never written because the name was read after the login)."""
    since = server.watcher.mark()
    name = uniq("Logged")
    logged_in(connect, server, name)
    server.watcher.wait_for(r"logged in as %s\b" % name, timeout=1.0, since=since)


def test_others_learn_who_left(make_server, connect):
    srv = make_server("--presence-interval", "0.2")
    observer = logged_in(connect, srv, "observer")
    leaver = logged_in(connect, srv, "leaver")
    quitter = logged_in(connect, srv, "quitter")
    # (users who join and leave within one notice period cancel out: wait
    # until the observer has been told they joined)
    joined = 0
    while joined < 2:
        payload = observer.recv()
        assert is_presence(payload), payload
        joined += presence_count(PRESENCE.match(payload["content"]).group("joined"))
    leaver.send("logout")
    leaver.until_closed()
    quitter.close()
    left = 0
    while left < 2:
        payload = observer.recv()
        assert is_presence(payload), payload
        m = PRESENCE.match(payload["content"])
        if m.group("left"):
            assert set(re.split(r", | and ", m.group("left"))) <= {"leaver", "quitter"}
            left += presence_count(m.group("left"))
    assert left == 2


# -- bad input: one error each, the connection keeps working -----------------------

BAD_INPUT = [
    # invalid JSON
    pytest.param(b'{"request": }', r"invalid JSON", id="json-missing-value"),
    pytest.param(b"{'request': 'help', 'content': None}", r"invalid JSON", id="json-single-quotes"),
    pytest.param(b'{"request": "help",}', r"invalid JSON", id="json-trailing-comma"),
    pytest.param(b'{"request": "help" "content": null}', r"invalid JSON", id="json-missing-comma"),
    pytest.param(b'{"request": "help", "content": nul}', r"invalid JSON", id="json-bad-literal"),
    pytest.param(b'{"request": "help"]', r"invalid JSON", id="json-mismatched-bracket"),
    pytest.param(b"hello world", r"invalid JSON", id="json-stray-text"),
    pytest.param(b"}}]]", r"invalid JSON", id="json-stray-closers"),
    pytest.param(b"\x00" * 500, r"invalid JSON", id="json-nul-flood"),
    pytest.param(b"nonsense", r"invalid JSON", id="json-bad-bare-word"),
    # invalid UTF-8
    pytest.param(b'{"request": "msg", "content": "\xff\xfe"}', r"UTF-8", id="utf8-invalid-bytes"),
    pytest.param(b'{"request": "msg", "content": "\xc3"}', r"UTF-8", id="utf8-truncated"),
    pytest.param(b'{"request": "msg", "content": "\xc0\xaf"}', r"UTF-8", id="utf8-overlong"),
    pytest.param(b'{"request": "msg", "content": "\xed\xa0\x80"}', r"UTF-8", id="utf8-surrogate"),
    pytest.param(b'{"request\xff": "help"}', r"UTF-8", id="utf8-in-key"),
    pytest.param(b'{"request\x80": "msg"}', r"UTF-8", id="utf8-continuation-in-key"),
    pytest.param(b'{"request": "msg", "content": "\xf8\x88\x80\x80\x80"}', r"UTF-8", id="utf8-5-byte"),
    # not an object
    pytest.param(b"[]", r"object.*array", id="array"),
    pytest.param(b'["help", null]', r"object.*array", id="array-request"),
    pytest.param(b"42", r"object.*number", id="number"),
    pytest.param(b"-1.5e300", r"object.*number", id="float"),
    pytest.param(b'"help"', r"object.*string", id="string"),
    pytest.param(b"null", r"object.*null", id="null"),
    pytest.param(b"true", r"object.*boolean", id="boolean"),
    # missing or non-string request
    pytest.param(b'{}', r"no 'request'", id="empty-object"),
    pytest.param(b'{"content": "hi"}', r"no 'request'", id="missing-request"),
    pytest.param(b'{"Request": "help"}', r"no 'request'", id="request-key-case"),
    pytest.param(b'{"request": null, "content": null}', r"'request' must be a string.*null", id="request-null"),
    pytest.param(b'{"request": 5}', r"'request' must be a string.*number", id="request-number"),
    pytest.param(b'{"request": ["help"]}', r"'request' must be a string.*array", id="request-array"),
    pytest.param(b'{"request": {"name": "help"}}', r"'request' must be a string.*object", id="request-object"),
    # unknown request
    pytest.param(b'{"request": "dance", "content": null}', r"unknown request.*dance", id="unknown"),
    pytest.param(b'{"request": "", "content": null}', r"unknown request", id="unknown-empty"),
    pytest.param(b'{"request": "message", "content": "hi"}', r"unknown request", id="unknown-response-name"),
    pytest.param(('{"request": "%s"}' % ("x" * 1000)).encode(), r"unknown request", id="unknown-long"),
    # wrong content type
    pytest.param(b'{"request": "msg", "content": 5}', r"msg.*must be a string.*number", id="msg-number"),
    pytest.param(b'{"request": "msg", "content": null}', r"msg.*must be a string.*null", id="msg-null"),
    pytest.param(b'{"request": "msg"}', r"msg.*must be a string", id="msg-missing"),
    pytest.param(b'{"request": "msg", "content": ["a"]}', r"msg.*must be a string.*array", id="msg-array"),
    pytest.param(b'{"request": "names", "content": 1}', r"names takes no argument", id="names-number"),
    pytest.param(b'{"request": "help", "content": {}}', r"help takes no argument", id="help-object"),
    pytest.param(b'{"request": "logout", "content": []}', r"logout takes no argument", id="logout-array"),
    pytest.param(b'{"request": "login", "content": 7}', r"already logged in|login.*must be a string",
                 id="login-number"),
    # too deep
    pytest.param(b"[" * 100 + b"]" * 100, r"nested|object", id="too-deep"),
]


@pytest.mark.parametrize("newline", [True, False], ids=["newline", "back-to-back"])
@pytest.mark.parametrize("data, problem", BAD_INPUT)
def test_bad_input_gets_one_error_and_the_connection_keeps_working(
        server, connect, data, problem, newline):
    name = uniq()
    client = logged_in(connect, server, name)
    client.send_raw(data + (b"\n" if newline else b""))
    before = client.help_sentinel()
    assert len(before) == 1, before
    assert_error(before[0], problem)
    # still logged in, still broadcasting
    assert name in listed_names(client.request("names"))
    message = client.request("msg", "still here")
    assert message["response"] == "message" and message["sender"] == name


@pytest.mark.parametrize("data, problem", [
    pytest.param(b'{"request": "login", "content": 7}', r"login.*must be a string.*number", id="login-number"),
    pytest.param(b'{"request": "login", "content": null}', r"login.*must be a string.*null", id="login-null"),
    pytest.param(b'{"request": "login"}', r"login.*must be a string", id="login-missing"),
    pytest.param(b'{"request": "login", "content": ["bob"]}', r"login.*must be a string.*array", id="login-array"),
    pytest.param(b'{"request": "msg", "content": "hi"}', r"not logged in", id="msg-before-login"),
    # not an object
    pytest.param(b"[1, 2, 3]", r"object.*array", id="array"),
    pytest.param(b'["login", "bob"]', r"object.*array", id="array-request"),
    pytest.param(b"42", r"object.*number", id="number"),
    pytest.param(b"-1.5e300", r"object.*number", id="float"),
    pytest.param(b'"login bob"', r"object.*string", id="string"),
    pytest.param(b"null", r"object.*null", id="null"),
    pytest.param(b"true", r"object.*boolean", id="boolean"),
])
def test_bad_input_before_login(server, connect, data, problem):
    client = connect(server)
    client.send_raw(data + b"\n")
    before = client.help_sentinel()
    assert len(before) == 1, before
    assert_error(before[0], problem)
    client.login(uniq())


def test_resync_after_syntax_error_at_next_object(server, connect):
    """A broken object immediately followed by good ones: one error, then both handled."""
    name = uniq()
    client = connect(server)
    client.send_raw(b'{"request": "login", "content": nul}'
                    + request_bytes("login", name, newline=False)
                    + request_bytes("names", None, newline=False))
    replies = client.replies(4)
    assert_error(replies[0], "invalid JSON")
    assert [p["response"] for p in replies[1:]] == ["info", "history", "info"]
    assert name in listed_names(replies[3])


def test_many_errors_in_one_write_each_get_one_error(server, connect):
    client = logged_in(connect, server)
    # syntax errors separated by values (a run of syntax errors is one error)
    # ("{bad}" resumes at the next "{": a non-object right after it is skipped)
    bad = [b"[1]", b"{bad}", b'{"request": 1}', b'{"request": "msg", "content": "\xff"}',
           b'{"request": "x"}']
    client.send_raw(b"\n".join(bad) + b"\n")
    before = client.help_sentinel()
    assert [p["response"] for p in before] == ["error"] * len(bad), before


def test_request_over_max_request_size_gets_error_then_close(make_server, connect):
    """A *complete* request over the limit is refused too, not only one still
    incomplete at the end of a read (a regression test: the decoder used to
    emit a whole oversized request that arrived in one read), whatever makes
    it large (its content, or a key of no meaning): error, then close; it is
    not broadcast, and the name is freed."""
    srv = make_server("--max-request-size", "1024")
    listener = logged_in(connect, srv, "listener")
    client = logged_in(connect, srv, "big")
    # just under the limit: fine
    under = {"request": "msg", "content": "u" * 900}
    assert len(json.dumps(under)) < 1024
    assert client.request("msg", under["content"])["response"] == "message"
    assert listener.reply()["content"] == under["content"]
    # over the limit, complete (one write: normally one read at the server)
    client.send("msg", "o" * 2000)
    reply = client.reply()
    assert reply["response"] == "error", "oversized request was handled: %r" % {
        k: str(v)[:40] for k, v in reply.items()}
    assert_error(reply, r"too large")
    assert client.until_closed() == []
    # the name is freed
    connect(srv).login("big")
    # the same, large by a key of no meaning: under the limit handled, over it not
    padder = logged_in(connect, srv, "padder")
    padded = request_bytes("msg", "under", pad="p" * 900)
    assert len(padded) < 1024
    padder.send_raw(padded)
    assert padder.reply()["content"] == "under"
    assert listener.reply()["content"] == "under"
    padder.send_raw(request_bytes("msg", "over", pad="p" * 2000))
    payloads = padder.until_closed()
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"too large")
    assert listener.request("msg", "next")["content"] == "next", "an oversized msg was broadcast"
    connect(srv).login("padder")


def test_unterminated_request_over_max_request_size_gets_error_then_close(make_server, connect):
    srv = make_server("--max-request-size", "1024")
    client = logged_in(connect, srv, "endless")
    client.send_raw(b'{"request": "msg", "content": "' + b"a" * 3000)   # never completes
    payloads = client.until_closed()
    assert len(payloads) == 1, payloads
    assert_error(payloads[0], r"too large")


def test_default_max_request_size_is_64_kib(server, connect):
    client = logged_in(connect, server)
    # 60 KiB is read (and refused as too long a message), the connection stays
    assert_error(client.request("msg", "x" * (60 * 1024)), r"too long")
    assert client.help_sentinel() == []
    # past 64 KiB (still incomplete, so however the reads split): error, then close
    client.send_raw(b'{"request": "msg", "content": "' + b"x" * (64 * 1024))
    payloads = client.until_closed()
    assert len(payloads) == 1
    assert_error(payloads[0], r"too large.*65536")


# -- framing: pipelining, whitespace, splits -----------------------------------------

def _pipeline(name, sep):
    requests = [("login", name), ("names", None), ("help", None), ("msg", "piped \u00e5"),
                ("names", "")]
    return sep.join(json.dumps({"request": r, "content": c}).encode() for r, c in requests)


def _check_pipeline_replies(client, name):
    replies = client.replies(6)
    assert replies[0]["content"] == "Login successful"
    assert replies[1]["response"] == "history"
    assert name in listed_names(replies[2])
    assert HELP_MARK in replies[3]["content"]
    assert replies[4]["response"] == "message" and replies[4]["content"] == "piped \u00e5"
    assert name in listed_names(replies[5])


@pytest.mark.parametrize("sep", [b"", b"\n", b"\r\n", b" ", b"\t", b" \t\r\n\n  "],
                         ids=["back-to-back", "newline", "crlf", "space", "tab", "mixed"])
def test_pipelined_requests_in_one_write(server, connect, sep):
    name = uniq("pipe")
    client = connect(server)
    client.send_raw(_pipeline(name, sep) + sep)
    _check_pipeline_replies(client, name)


@pytest.mark.parametrize("sep", [b"", b"\n"], ids=["back-to-back", "newline"])
def test_requests_split_byte_by_byte(server, connect, sep):
    name = uniq("split")
    client = connect(server)
    for byte in _pipeline(name, sep) + sep:
        client.sock.sendall(bytes([byte]))
    _check_pipeline_replies(client, name)


def test_multibyte_characters_split_across_writes(server, connect):
    client = logged_in(connect, server)
    text = "\u00e5\u20ac\U0001F600\u65e5"
    data = json.dumps({"request": "msg", "content": text}, ensure_ascii=False).encode("utf-8") + b"\n"
    assert len(data) > len(json.dumps({"request": "msg", "content": text}, ensure_ascii=False))
    for byte in data:
        client.sock.sendall(bytes([byte]))
    assert client.reply()["content"] == text


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12),
       sep=st.sampled_from([b"", b"\n", b" ", b"\r\n"]))
def test_arbitrary_splits(server, cuts, sep):
    name = uniq("hyp")
    data = _pipeline(name, sep) + sep
    client = WireClient(server.port)
    try:
        points = sorted({c % len(data) for c in cuts} | {0, len(data)})
        for start, end in zip(points, points[1:]):
            client.sock.sendall(data[start:end])
        _check_pipeline_replies(client, name)
    finally:
        client.close()


_JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20))
_JSON = st.recursive(_JSON_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
_KNOWN = {"login", "logout", "msg", "names", "help"}
_NOT_A_REQUEST = st.one_of(
    _JSON.filter(lambda v: not isinstance(v, dict)),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "request"), _JSON, max_size=4),
    st.builds(lambda req, content: {"request": req, "content": content},
              _JSON.filter(lambda v: not isinstance(v, str)), _JSON),
    st.builds(lambda req, content: {"request": req, "content": content},
              st.text(max_size=12).filter(lambda s: s.strip().lower() not in _KNOWN), _JSON),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=st.lists(_NOT_A_REQUEST, min_size=1, max_size=4))
def test_every_non_request_gets_exactly_one_error(server, values):
    client = WireClient(server.port)
    try:
        client.send_raw(b"".join(json.dumps(v).encode() + b"\n" for v in values))
        before = client.help_sentinel()
        assert [p["response"] for p in before] == ["error"] * len(values), (values, before)
    finally:
        client.close()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(garbage=st.binary(max_size=300))
def test_garbage_never_breaks_the_server(server, garbage):
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(garbage)
    checker = WireClient(server.port)
    try:
        assert HELP_MARK in checker.request("help")["content"]
    finally:
        checker.close()


# -- several clients ------------------------------------------------------------------

def test_several_clients_at_once(server, connect):
    clients = [logged_in(connect, server, uniq("many")) for _ in range(6)]
    per_client = 3
    for i, client in enumerate(clients):
        client.send_raw(b"".join(request_bytes("msg", "c%d m%d" % (i, j)) for j in range(per_client)))
    expected = len(clients) * per_client
    for client in clients:
        messages = [client.reply() for _ in range(expected)]
        assert all(m["response"] == "message" for m in messages)
        contents = [m["content"] for m in messages]
        assert sorted(contents) == sorted("c%d m%d" % (i, j) for i in range(len(clients))
                                          for j in range(per_client))
        for i in range(len(clients)):   # per sender, in order
            mine = [c for c in contents if c.startswith("c%d " % i)]
            assert mine == ["c%d m%d" % (i, j) for j in range(per_client)]
    # every client saw the same bytes for the same message
    by_content = {}
    for client in clients:
        for line in client.lines:
            obj = json.loads(line)
            if obj["response"] == "message":
                by_content.setdefault(obj["content"], set()).add(line)
    assert all(len(lines) == 1 for lines in by_content.values())


def test_a_silent_client_does_not_stall_others(server, connect):
    silent = connect(server)
    silent.send_raw(b'{"request": "msg", "content": "never ends')   # open string, no end
    paced_reader = logged_in(connect, server, newline=False)
    alice = logged_in(connect, server)
    alice.send("msg", "still flowing")
    assert alice.reply()["content"] == "still flowing"
    assert paced_reader.reply()["content"] == "still flowing"


def test_presence_notices_are_coalesced(make_server, connect):
    srv = make_server()
    observer = logged_in(connect, srv, "observer")
    storm = ["storm%d" % i for i in range(20)]
    clients = [connect(srv) for _ in storm]
    for client, name in zip(clients, storm):
        client.send("login", name)
    for client in clients:
        assert client.reply()["content"] == "Login successful"
        assert client.reply()["response"] == "history"

    def collect(kind):
        notices, counted = [], 0
        while counted < len(storm):
            payload = observer.recv()
            assert is_presence(payload), payload
            notices.append(payload["content"])
            group = PRESENCE.match(payload["content"]).group(kind)
            if group:
                named = re.split(r", | and ", re.sub(r" and \d+ others\Z", "", group))
                assert set(named) <= set(storm), payload
                counted += presence_count(group)
        assert counted == len(storm), notices
        return notices

    joined = collect("joined")
    assert len(joined) <= 2, joined   # O(1) notices for a storm, not one per user
    for client in clients:
        client.close()
    left = collect("left")
    assert len(left) <= 2, left


# -- pacing -------------------------------------------------------------------------

def _recv_one_payload(sock, timeout=TIMEOUT):
    """One recv(); assert it holds exactly one complete payload; return it."""
    sock.settimeout(timeout)
    chunk = sock.recv(65536)
    assert chunk, "connection closed"
    assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1, \
        "expected one payload in this read, got %r" % chunk[:300]
    return check_payload(chunk[:-1])


def _raw_socket(srv):
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_paced_login_info_and_history_arrive_in_separate_reads(make_server):
    srv = make_server("--pace-ms", "50")
    with _raw_socket(srv) as sock:
        sock.sendall(request_bytes("login", "naive", newline=False))
        info = _recv_one_payload(sock)
        started = time.monotonic()
        history = _recv_one_payload(sock)
        gap = time.monotonic() - started
        assert info["content"] == "Login successful"
        assert history["response"] == "history"
        # the pace gap: 50 ms, less however late we woke for the first read
        assert gap >= 0.01, gap


# Several payloads queued at once: each must be read before the next gap ends,
# so these use a wider gap than the default 20 ms (robust on a loaded machine).
WIDE_PACE_MS = "100"


def test_paced_pipelined_requests_each_reply_in_its_own_read(make_server):
    srv = make_server("--pace-ms", WIDE_PACE_MS)
    requests = [("login", "naive"), ("names", None), ("help", None), ("msg", "hi"),
                ("names", "None")]
    with _raw_socket(srv) as sock:
        sock.sendall(b"".join(request_bytes(r, c, newline=False) for r, c in requests))
        replies = [_recv_one_payload(sock) for _ in range(6)]
        assert [p["response"] for p in replies] == ["info", "history", "info", "info",
                                                    "message", "info"]
        assert HELP_MARK in replies[3]["content"]
        sock.sendall(request_bytes("logout", None, newline=False))
        assert _recv_one_payload(sock)["response"] == "info"
        sock.settimeout(TIMEOUT)
        assert sock.recv(65536) == b""


def test_paced_broadcasts_each_in_its_own_read(make_server, connect):
    srv = make_server("--pace-ms", WIDE_PACE_MS)
    with _raw_socket(srv) as sock:
        sock.sendall(request_bytes("login", "naive", newline=False))
        _recv_one_payload(sock)
        _recv_one_payload(sock)
        chatty = logged_in(connect, srv, "chatty")
        chatty.send_raw(b"".join(request_bytes("msg", "burst %d" % i) for i in range(5)))
        received = []
        while len(received) < 5:
            payload = _recv_one_payload(sock)
            if payload["response"] == "message":
                received.append(payload["content"])
        assert received == ["burst %d" % i for i in range(5)]


def test_newline_client_gets_everything_in_order(make_server, connect):
    """A client ending requests with newlines reads streams: replies may be
    batched; all of them arrive, in order."""
    srv = make_server("--pace-ms", "50")
    client = connect(srv)
    client.send_raw(b"".join(request_bytes(r, c) for r, c in
                             [("login", "streamer"), ("names", None), ("help", None),
                              ("msg", "a"), ("msg", "b")]))
    replies = client.replies(6)
    assert [p["response"] for p in replies] == ["info", "history", "info", "info",
                                                "message", "message"]
    assert [p["content"] for p in replies[4:]] == ["a", "b"]


def test_paced_client_switches_to_stream_mode_on_newline(make_server):
    srv = make_server("--pace-ms", "200")
    with _raw_socket(srv) as sock:
        sock.sendall(request_bytes("login", "switcher", newline=False))
        _recv_one_payload(sock)
        _recv_one_payload(sock)
        # one request ended by a newline: stream mode for good
        sock.sendall(request_bytes("help", None))
        assert HELP_MARK in _recv_one_payload(sock)["content"]
        started = time.monotonic()
        sock.sendall(b"".join(request_bytes("names", None) for _ in range(5)))
        buf = b""
        while buf.count(b"\n") < 5:
            data = sock.recv(65536)
            assert data
            buf += data
        # paced, five replies would take at least 4 gaps of 200 ms
        assert time.monotonic() - started < 0.8
        assert all(listed_names(check_payload(line)) == ["switcher"] for line in buf.split(b"\n")[:5])


# -- output format ----------------------------------------------------------------------

def test_timestamps_are_iso8601_local_time_with_offset(make_server, connect, monkeypatch):
    monkeypatch.setenv("TZ", "XYZ-05:30")   # POSIX TZ: UTC+05:30, no tz database needed
    srv = make_server()
    client = connect(srv)
    before = datetime.datetime.now(datetime.timezone.utc)
    client.login("stamped")
    client.send("msg", "when")
    client.reply()
    error = client.request("bogus")
    after = datetime.datetime.now(datetime.timezone.utc)
    stamps = [json.loads(line)["timestamp"] for line in client.lines]
    assert error["response"] == "error"
    for stamp in stamps:
        assert TIMESTAMP.match(stamp), stamp
        assert stamp.endswith("+05:30"), stamp
        when = datetime.datetime.fromisoformat(stamp)
        assert before - datetime.timedelta(seconds=2) <= when <= after + datetime.timedelta(seconds=2)


def test_every_payload_is_ascii_and_ends_with_newline(server, connect):
    """Byte-level view of a whole session: nothing but complete ASCII lines."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        name = uniq("raw")
        sock.sendall(request_bytes("login", name) + request_bytes("msg", "\u00e6\u00f8\u00e5 \U0001F600")
                     + request_bytes("bogus") + request_bytes("names") + request_bytes("help")
                     + request_bytes("logout"))
        data = read_to_end(sock)
    assert data.isascii()
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    payloads = [check_payload(line) for line in lines]
    assert [p["response"] for p in payloads if not is_presence(p)] == [
        "info", "history", "message", "error", "info", "info", "info"]
