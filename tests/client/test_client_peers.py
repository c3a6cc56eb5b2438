"""The client against servers that behave like other implementations do.

One fake peer server per quirk of PROTOCOL.md section 2 (``peers.fake_server``:
thread per connection, the naive ``json.loads(recv(4096))`` reader), and the
course-skeleton style Python 2.7 server (``peers/skeleton_server27.py``) run
under pyenv's 2.7.18 when it is installed.

Every fake server is a naive reader, so every test also checks the client's
pacing: each read on the server held exactly one request (ASCII JSON, one
newline, two keys), and none of them broke the server's reader. The client's
input is written in one go (as when pasted or piped), the hard case.
"""

import datetime
import json
import os
import re
import select
import subprocess
import threading

import pytest

from client_support import clients  # noqa: F401 (fixture)
from peers.fake_server import FakeServer, response
from py27_support import require_python27
from support import ROOT, started

pytestmark = pytest.mark.slow   # client processes, Python 2.7 peers

STAMP = r"\[\d\d:\d\d\]"
SKELETON_SERVER = os.path.join(ROOT, "tests", "peers", "skeleton_server27.py")
STOP = object()


# -- a configurable naive server -------------------------------------------------

def login_ok(conn, name):
    """The common case: info, then the history, back to back, no delimiter."""
    conn.send(response("info", "Login successful"), response("history", []))


def echo_msg(conn, text, sender="bob"):
    conn.send(response("message", text, sender=sender))


def names_string(conn, _content):
    conn.send(response("info", "bob"))


def logout_reply_close(conn, _content):
    conn.send(response("info", "Logged out"))
    return STOP


def serve(**handlers):
    """A script answering each request with ``handlers[request](conn, content)``
    until a handler returns ``STOP`` or the client leaves."""
    table = {"login": login_ok, "msg": echo_msg, "names": names_string,
             "logout": logout_reply_close}
    table.update(handlers)

    def script(conn):
        while True:
            request = conn.recv()
            if request is None:
                return
            handler = table.get(request["request"])
            if handler is None:
                conn.send(response("error", "Unknown request"))
            elif handler(conn, request.get("content")) is STOP:
                return
    return script


@pytest.fixture
def peer():
    """``peer(script)`` starts a fake server; all are closed at the end."""
    yield from started(FakeServer)


def requests_of(server):
    return [(r["request"], r["content"]) for r in server.requests]


def run_script(peer, clients, script, lines, *args):
    """Paste ``lines`` at once into a client of a fake server running ``script``;
    end the input; return (server, client) once the client has exited 0."""
    server = peer(script)
    proc = clients(server.port, *args)
    proc.send(*lines)
    proc.close_stdin()
    status = proc.wait()
    assert status == 0, (status, proc.out, proc.err)
    server.check_wire()
    return server, proc


# -- framing ----------------------------------------------------------------------

def test_no_delimiter_back_to_back_and_split_inside_a_character(peer, clients):
    def split_echo(conn, text):
        data = json.dumps(response("message", text, sender="bob"), ensure_ascii=False).encode()
        cut = data.index("å".encode()) + 1          # inside the two bytes of "å"
        conn.send_raw(data[:cut])
        conn.send_raw(data[cut:] + json.dumps(response("info", "and more")).encode())

    server, proc = run_script(peer, clients, serve(msg=split_echo),
                              ["login alice", "msg blåbær"])
    assert re.fullmatch(r"\[14:03\] \* Login successful\n"
                        r"--- history: empty ---\n"
                        r"\[14:03\] bob: blåbær\n"
                        r"\[14:03\] \* and more\n"
                        r"\[14:03\] \* Logged out\n", proc.out), proc.out
    assert requests_of(server) == [("login", "alice"), ("msg", "blåbær"), ("logout", None)]
    assert b"\\u00e5" in server.chunks[1]           # ASCII on the wire


def test_newline_delimited_server_works_too(peer, clients):
    def login(conn, _name):
        conn.send(response("info", "Login successful"), response("history", []), sep=b"\r\n")

    _server, proc = run_script(peer, clients, serve(login=login), ["login alice"])
    assert "* Login successful\n--- history: empty ---\n" in proc.out


# -- timestamps and senders ------------------------------------------------------------

def test_timestamps_in_any_shape(peer, clients):
    epoch = 1490018591.25

    def login(conn, _name):
        conn.send(response("info", "Login successful", timestamp=epoch),
                  response("history", [
                      response("message", "as an int", sender="bob", timestamp=int(epoch)),
                      response("message", "as HH:MM", sender="bob", timestamp="09:41"),
                      response("message", "day first", sender="bob", timestamp="20-03-2017 14:05:11"),
                      response("message", "no timestamp", sender="bob", timestamp=None),
                  ]))

    _server, proc = run_script(peer, clients, serve(login=login), ["login alice"])
    local = datetime.datetime.fromtimestamp(epoch).strftime("%H:%M")
    assert proc.out.startswith("[%s] * Login successful\n"
                               "--- history: 4 messages ---\n"
                               "[%s] bob: as an int\n"
                               "[09:41] bob: as HH:MM\n"
                               "[14:05] bob: day first\n"
                               "[--:--] bob: no timestamp\n" % (local, local)), proc.out


def test_senders_of_every_shape(peer, clients):
    def login(conn, _name):
        conn.send(response("info", "Login successful", sender="[Server]"))
        conn.send(response("history", [], sender="SERVER"))

    def msg(conn, text):
        conn.send(response("info", "empty sender", sender=""),
                  response("info", "null sender", sender=None),
                  response("error", "Error sender", sender="[Error]"),
                  response("info", "capital", sender="Server"),
                  response("message", "anonymous", sender=""),
                  response("message", "nobody", sender=None),
                  response("message", "from the server", sender="Server"))

    _server, proc = run_script(peer, clients, serve(login=login, msg=msg),
                               ["login alice", "msg hi"])
    assert "[14:03] * empty sender\n[14:03] * null sender\n" in proc.out
    assert "[14:03] ! error: Error sender\n[14:03] * capital\n" in proc.out
    assert "[14:03] (unknown): anonymous\n[14:03] (unknown): nobody\n" in proc.out
    assert "[14:03] Server: from the server\n" in proc.out


# -- login answers -------------------------------------------------------------------

def history_entry(text, sender="carol"):
    return response("message", text, sender=sender, timestamp="2017-03-20 13:59:00")


def test_history_before_info(peer, clients):
    def login(conn, _name):
        conn.send(response("history", [history_entry("earlier")]))
        conn.send(response("info", "Login successful"))

    server, proc = run_script(peer, clients, serve(login=login), ["login alice", "hello"])
    assert proc.out.startswith("--- history: 1 message ---\n[13:59] carol: earlier\n"
                               "[14:03] * Login successful\n")
    # The plain line waited for the login's answer and went out as a message.
    assert requests_of(server) == [("login", "alice"), ("msg", "hello"), ("logout", None)]


def test_history_only_no_info(peer, clients):
    def login(conn, _name):
        conn.send(response("history", [history_entry("earlier")]))

    server, proc = run_script(peer, clients, serve(login=login), ["login alice", "hello"])
    assert "[13:59] carol: earlier\n[14:03] bob: hello\n" in proc.out
    assert requests_of(server) == [("login", "alice"), ("msg", "hello"), ("logout", None)]


def test_history_as_json_strings(peer, clients):
    def login(conn, _name):
        conn.send(response("info", "Login successful"),
                  response("history", [json.dumps(history_entry("one")),
                                       json.dumps(history_entry("two", sender="dave"))]))

    _server, proc = run_script(peer, clients, serve(login=login), ["login alice"])
    assert ("--- history: 2 messages ---\n[13:59] carol: one\n[13:59] dave: two\n"
            in proc.out), proc.out


def test_no_history_old_messages_replayed(peer, clients):
    def login(conn, _name):
        conn.send(response("info", "Login successful"))
        conn.send(history_entry("replayed one"), history_entry("replayed two"))

    server, proc = run_script(peer, clients, serve(login=login), ["login alice", "hello"])
    assert proc.out.startswith("[14:03] * Login successful\n"
                               "[13:59] carol: replayed one\n[13:59] carol: replayed two\n"
                               "[14:03] bob: hello\n"), proc.out
    assert "history" not in proc.out
    assert requests_of(server) == [("login", "alice"), ("msg", "hello"), ("logout", None)]


def test_no_history_and_no_info(peer, clients):
    """A silent successful login: the plain line waits (bounded), then is a hint;
    explicit commands still go out."""
    def login(_conn, _name):
        pass

    server, proc = run_script(peer, clients, serve(login=login),
                              ["login alice", "hello", "msg explicit"], "--exit-wait", "0.3")
    assert "not logged in" in proc.err
    assert requests_of(server) == [("login", "alice"), ("msg", "explicit")]


def test_login_error(peer, clients):
    def login(conn, _name):
        conn.send(response("error", "Username taken"))

    server, proc = run_script(peer, clients, serve(login=login), ["login alice", "hello"])
    assert "[14:03] ! error: Username taken\n" in proc.out
    assert "not logged in" in proc.err
    assert requests_of(server) == [("login", "alice")]   # no logout: never logged in


# -- other responses -------------------------------------------------------------------

def test_msg_as_response_type(peer, clients):
    def msg(conn, text):
        conn.send(response("msg", text, sender="alice"))

    _server, proc = run_script(peer, clients, serve(msg=msg), ["login alice", "hi there"])
    assert "[14:03] alice: hi there\n" in proc.out


def test_names_as_a_list(peer, clients):
    def names(conn, _content):
        conn.send(response("info", ["alice", "bob", "carol"]))

    server, proc = run_script(peer, clients, serve(names=names), ["login alice", "names"])
    assert "[14:03] * alice, bob, carol\n" in proc.out
    assert ("names", None) in requests_of(server)


def test_odd_payloads_are_shown_and_survived(peer, clients):
    def msg(conn, _text):
        conn.send({"response": "message", "content": "no timestamp, no sender"},
                  response("presence", "bob joined"),
                  response("info", "with extras", room="lobby", id=7),
                  [1, 2, 3])
        conn.send_raw(b"{not json}")
        conn.send(response("info", "still talking"))

    _server, proc = run_script(peer, clients, serve(msg=msg), ["login alice", "hi"])
    assert "[--:--] (unknown): no timestamp, no sender\n" in proc.out
    assert "[14:03] ? presence: bob joined\n" in proc.out
    assert "[14:03] * with extras\n" in proc.out
    assert "? unexpected: [1, 2, 3]\n" in proc.out
    assert "[14:03] * still talking\n" in proc.out
    assert "bad data from the server" in proc.err


# -- logout and closing --------------------------------------------------------------

def test_server_replies_to_logout_and_never_closes(peer, clients):
    def logout(conn, _content):
        conn.send(response("info", "Bye"))
        conn.wait_closed()           # waits for the client to hang up
        return STOP

    server = peer(serve(logout=logout))
    proc = clients(server.port, "--exit-wait", "2")
    proc.send("login alice", "logout")
    assert proc.wait() == 0
    assert proc.out.endswith("[14:03] * Bye\n")
    assert proc.err == ""            # the reply shortened the wait: no "no answer"
    server.wait_done()               # and the client did hang up
    server.check_wire()


def test_server_closes_without_replying_to_logout(peer, clients):
    def logout(_conn, _content):
        return STOP

    server = peer(serve(logout=logout))
    proc = clients(server.port, "--exit-wait", "30")
    proc.send("login alice", "logout")
    assert proc.wait() == 0
    assert proc.err == ""
    server.check_wire()


def test_server_neither_replies_nor_closes(peer, clients):
    def logout(conn, _content):
        conn.wait_closed()
        return STOP

    server = peer(serve(logout=logout))
    proc = clients(server.port, "--exit-wait", "0.3")
    proc.send("login alice", "logout")
    assert proc.wait() == 0
    assert "no answer to logout" in proc.err
    server.wait_done()
    server.check_wire()


def test_server_closing_unasked_exits_one(peer, clients):
    def msg(_conn, _text):
        return STOP                  # e.g. the peer's thread crashed

    server = peer(serve(msg=msg))
    proc = clients(server.port)
    proc.send("login alice")
    proc.expect(r"history: empty")
    proc.send("hello")
    proc.expect(r"-- the server closed the connection\n", stream="err")
    assert proc.wait() == 1


# -- pacing for naive readers ------------------------------------------------------------

def test_naive_reader_paced_by_responses(peer, clients):
    lines = ["login alice"] + ["msg number %d" % i for i in range(8)] + ["names", "help"]
    server, proc = run_script(peer, clients, serve(help=names_string), lines)
    assert requests_of(server) == ([("login", "alice")]
                                   + [("msg", "number %d" % i) for i in range(8)]
                                   + [("names", None), ("help", None), ("logout", None)])
    assert "".join("[14:03] bob: number %d\n" % i for i in range(8)) in proc.out


def test_naive_reader_paced_by_the_gap_when_nothing_answers(peer, clients):
    def silent(_conn, _content):
        pass

    server, proc = run_script(peer, clients,
                              serve(login=silent, msg=silent, names=silent, logout=silent),
                              ["login alice", "msg one", "msg two", "names"],
                              "--pace-ms", "250", "--exit-wait", "0.3")
    # Nothing answered: the client never believed it was logged in, so no logout.
    assert requests_of(server) == [("login", "alice"), ("msg", "one"), ("msg", "two"),
                                   ("names", None)]
    assert proc.out == ""


def split_login(conn, _name):
    """info and history in two writes: the client may read them apart."""
    conn.send(response("info", "Login successful"))
    conn.send(response("history", []))


def history_only(conn, _name):
    conn.send(response("history", []))


def login_error(conn, _name):
    conn.send(response("error", "Username taken"))


@pytest.mark.parametrize("answer, logged_in", [
    (login_ok, True), (split_login, True), (history_only, True), (login_error, False)])
def test_lines_held_for_a_login_answered_after_the_gap_go_once_it_comes(
        peer, clients, answer, logged_in):
    """A plain line waits for the login's answer; the pace gap may end first
    (a slow or loaded server). The answer must then let the line go: it is
    the only event left to wake the queue."""
    gap_over = threading.Event()

    def late_login(conn, name):
        assert gap_over.wait(30), "the test never saw the gap end"
        answer(conn, name)

    server = peer(serve(login=late_login))
    proc = clients(server.port, "--exit-wait", "1")
    try:
        proc.send("login alice", "msg", "hi there", "hello")
        proc.close_stdin()
        # "msg" alone gets a local hint, given only once the gap is over; the
        # same pass then holds "hi there" back for the login's answer.
        proc.expect(r"usage: msg <text>\n", stream="err")
    finally:
        gap_over.set()
    assert proc.wait(timeout=5) == 0, proc.err
    server.check_wire()
    if logged_in:
        assert requests_of(server) == [("login", "alice"), ("msg", "hi there"), ("msg", "hello"),
                                       ("logout", None)]
        assert "[14:03] bob: hello\n" in proc.out
    else:
        assert requests_of(server) == [("login", "alice")]
        assert proc.err.count("not logged in") == 2
    assert "hunter2" not in proc.err + proc.out


# -- the course skeleton on Python 2.7 -----------------------------------------------------


@pytest.fixture
def skeleton27():
    python = require_python27()
    proc = subprocess.Popen([python, "-u", SKELETON_SERVER, "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 5.0)
        line = proc.stdout.readline().decode() if ready else ""
        match = re.match(r"listening on (\d+)", line)
        assert match, "the Python 2.7 server did not start: %r" % line
        yield int(match.group(1)), proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_python27_skeleton_server(skeleton27, clients):
    port, server = skeleton27
    alice = clients(port)
    alice.send("login alice")
    alice.expect(r"\* Login successful\n--- history: empty ---\n")
    alice.send("blåbær og ✓")
    alice.expect(STAMP + r" alice: blåbær og ✓\n")
    # Everything pasted at once: the thread-per-client reader must see one per read.
    bob = clients(port)
    bob.send("login bob", "msg one", "msg two", "names", "help", "logout")
    bob.expect(r"\* Login successful\n--- history: 1 message ---\n"
               + STAMP + r" alice: blåbær og ✓\n"
               + STAMP + r" bob: one\n" + STAMP + r" bob: two\n"
               + STAMP + r" \* alice, bob\n"
               + STAMP + r" \* login <username>.*\n"
               + STAMP + r" \* Logged out\n")
    assert bob.wait() == 0
    alice.expect(STAMP + r" bob: one\n" + STAMP + r" bob: two\n")
    alice.close_stdin()
    assert alice.wait() == 0
    assert alice.out.endswith("* Logged out\n")
    assert server.poll() is None, "the Python 2.7 server died"
    server.kill()
    server.wait()
    errors = server.stderr.read().decode("utf-8", "replace")
    assert "Traceback" not in errors, errors
