"""The line client process and PROTOCOL.md section 4: rooms, private
messages, accounts, moderation, against a fake peer server that speaks
section 4 as PROTOCOL.md specifies it (thread per connection, the naive
``json.loads(recv())`` reader, so pacing is checked too). The pure parts
(password masking, the session view, marking private messages) are tested
in test_commands.py, test_session_view.py and test_render.py.
"""

import json

import pyte
import pytest

from client_support import clients  # noqa: F401 (fixture)
from peers.fake_server import FakeServer, response

pytestmark = pytest.mark.slow   # client processes


def section4(conn):
    """Rooms, pm, accounts and moderation as PROTOCOL.md section 4 answers them."""
    room, name = "lobby", None
    while True:
        request = conn.recv()
        if request is None:
            return
        kind, content = request["request"], request.get("content")
        if kind == "login":
            name = content.split()[0]
            conn.send(response("info", "Login successful"))
            conn.send(response("history", []))
        elif kind in ("join", "leave"):
            room = "lobby" if kind == "leave" else content.lstrip("#")
            conn.send(response("info", "Joined #%s (%d users)" % (room, 3 if room != "lobby"
                                                                    else 1)))
            conn.send(response("history", [response("message", "earlier in #" + room,
                                                     sender="carol")]))
        elif kind == "rooms":
            conn.send(response("info", "Rooms (2): #lobby (1), #dev (3)"))
        elif kind == "pm":
            to, text = content.split(" ", 1)
            conn.send(response("message", text, sender="%s -> %s" % (name, to)))
        elif kind == "register":
            conn.send(response("info", "alice is now registered"))
        elif kind == "oper":
            conn.send(response("error", "wrong operator password"))
        elif kind == "kick":
            conn.send(response("error", "kick needs operator rights"))
        elif kind == "logout":
            conn.send(response("info", "Bye"))
            return
        else:
            conn.send(response("error", "Unknown request"))


@pytest.fixture
def fake():
    server = FakeServer(section4)
    yield server
    server.close()


def test_every_extension_goes_out_and_every_answer_is_shown(fake, clients):
    proc = clients(fake.port)
    proc.send("login alice", "/join #dev", "/rooms", "/pm bob see you at 5", "/leave",
              "/register hunter2hunter2", "/oper s3cretpw", "/kick bob spam")
    proc.close_stdin()
    assert proc.wait() == 0, proc.err
    fake.check_wire()
    assert [(r["request"], r["content"]) for r in fake.requests] == [
        ("login", "alice"), ("join", "#dev"), ("rooms", None), ("pm", "bob see you at 5"),
        ("leave", None), ("register", "hunter2hunter2"), ("oper", "s3cretpw"),
        ("kick", "bob spam"), ("logout", None)]
    assert ("[14:03] * Joined #dev (3 users)\n--- history: 1 message ---\n"
            "[14:03] carol: earlier in #dev\n") in proc.out
    assert "[14:03] * Rooms (2): #lobby (1), #dev (3)\n" in proc.out
    assert "[14:03] [pm] alice -> bob: see you at 5\n" in proc.out
    assert "[14:03] ! error: kick needs operator rights\n" in proc.out
    assert proc.err == ""                           # piped: no status lines
    assert "hunter2" not in proc.out and "s3cret" not in proc.out


def test_a_password_without_its_slash_goes_as_the_request_never_to_the_room(fake, clients):
    proc = clients(fake.port)
    proc.send("login alice", "register hunter2hunter2", "pm bob psst", "join me for lunch",
              "hello")
    proc.close_stdin()
    assert proc.wait() == 0
    assert [(r["request"], r["content"]) for r in fake.requests] == [
        ("login", "alice"), ("register", "hunter2hunter2"), ("pm", "bob psst"),
        ("msg", "hello"), ("logout", None)]
    assert "msg join me for lunch" in proc.err and "hunter2" not in proc.err + proc.out


def test_the_room_is_shown_in_status_lines_at_a_terminal(fake, clients):
    proc = clients(fake.port, terminal=True)
    proc.send("login alice")
    proc.expect(r"-- you are alice in #lobby\n", stream="err")
    proc.send("/join dev")
    proc.expect(r"-- you are alice in #dev \(3 users\)\n", stream="err")
    proc.send("/leave")
    proc.expect(r"-- you are alice in #lobby \(1 user\)\n", stream="err")
    proc.close_stdin()
    assert proc.wait() == 0


def test_a_typed_password_is_wiped_from_the_terminal(fake, clients):
    proc = clients(fake.port, terminal=True)
    proc.send("login alice s3cretpw")
    proc.expect(r"Login successful")
    proc.send("/register hunter2hunter2")
    proc.expect(r"is now registered")
    proc.close_stdin()
    assert proc.wait() == 0
    screen = pyte.Screen(80, 24)
    pyte.Stream(screen).feed(proc.text["echo"].replace("\n", "\r\n"))
    shown = "\n".join(screen.display)
    assert "login alice ********" in shown and "/register ********" in shown
    assert "hunter2" not in shown and "s3cretpw" not in shown
    assert "hunter2" not in proc.out + proc.err
    assert json.dumps("hunter2hunter2")[1:-1] in json.dumps(fake.requests)   # it was sent
