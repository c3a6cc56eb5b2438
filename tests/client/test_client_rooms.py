"""The line client and PROTOCOL.md section 4: rooms, private messages,
accounts, moderation.

The session tracking and the password masking are pure and tested
directly; the client process is tested against a fake peer server that
speaks section 4 as PROTOCOL.md specifies it (thread per connection, the
naive ``json.loads(recv())`` reader, so pacing is checked too).
"""

import json

import pyte
import pytest
from hypothesis import given, strategies as st

from chat.client.commands import LocalHint, SendRequest, mask_secrets, parse_input, secret_spans
from chat.client.session_view import SessionView
from chat.client.render import render
from peers.client_process import ClientProcess
from peers.fake_server import FakeServer, response

# -- pure: passwords ---------------------------------------------------------------


@pytest.mark.parametrize("line, shown", [
    ("/register hunter2hunter2", "/register ********"),
    ("/REGISTER  hunter2  ", "/REGISTER  ********  "),
    ("/oper s3cret", "/oper ********"),
    ("/password old12345 new12345", "/password ******** ********"),
    ("login alice s3cret", "login alice ********"),
    ("/login alice s3cret", "/login alice ********"),
    ("login alice", "login alice"),
    ("register hunter2hunter2", "register ********"),     # held back, see below
    ("register for the party", "register for the party"),
    ("password reset please", "password reset please"),
    ("//register x", "//register x"),
    ("/join dev", "/join dev"),
])
def test_mask_secrets(line, shown):
    assert mask_secrets(line) == shown


def test_a_password_typed_without_its_slash_is_not_broadcast():
    action = parse_input("register hunter2hunter2", True)
    assert isinstance(action, LocalHint) and "/register" in action.text
    assert "hunter2" not in action.text
    assert parse_input("msg register hunter2", True) == SendRequest("msg", "register hunter2")
    assert parse_input("/register hunter2hunter2", True) == SendRequest("register",
                                                                        "hunter2hunter2")


@given(st.text(alphabet=st.sampled_from(list("/ registopawdlgnRL\tx")), max_size=40))
def test_masking_replaces_every_secret_word_and_nothing_else(line):
    masked = mask_secrets(line)
    spans = secret_spans(line)
    assert [masked[start:end] for start, end in secret_spans(masked)] == ["********"] * len(spans)
    if not spans:
        assert masked == line


# -- pure: what the client believes ----------------------------------------------------

def info(text):
    return {"response": "info", "content": text, "sender": "server", "timestamp": "1"}


def test_session_follows_login_join_names_and_presence():
    session = SessionView()
    session.request_sent("login", "alice s3cret")
    session.logged_in()
    assert (session.name, session.room, session.users) == ("alice", "#lobby", None)
    session.observe(info("Joined #dev (3 users)"))
    assert (session.room, session.users) == ("#dev", 3)
    session.observe(info("bob, carol and 2 others joined; dave left"))
    assert session.users == 6 and {"bob", "carol"} <= session.names
    session.observe(info("bob was kicked by alice (spam)"))
    assert session.users == 5
    session.observe(info("Users online (2): alice, erin"))
    assert session.users == 2 and "erin" in session.names
    session.observe(info(["alice", "erin", "fay"]))
    assert session.users == 3
    session.observe(info("Rooms (3): #lobby (12), #dev (3), #random (1)"))
    assert {"#lobby", "#dev", "#random"} <= session.rooms
    session.observe({"response": "message", "sender": "gus -> alice", "content": "psst"})
    assert "gus" in session.names
    session.observe(info("Joined #lobby"))
    assert (session.room, session.users) == ("#lobby", None)
    assert session.describe() == "alice in #lobby"


def test_a_user_cannot_move_us_by_writing_joined():
    session = SessionView()
    session.request_sent("login", "alice")
    session.logged_in()
    session.observe({"response": "message", "sender": "eve", "content": "Joined #trap (9)"})
    assert session.room == "#lobby"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4),
                           max_leaves=10)


@given(st.lists(json_values | st.fixed_dictionaries(
    {"response": st.sampled_from(["info", "message", "history", "msg"]),
     "content": json_values, "sender": json_values}), max_size=10))
def test_session_never_raises(payloads):
    session = SessionView()
    session.request_sent("login", "alice")
    session.logged_in()
    for payload in payloads:
        session.observe(payload)
    assert session.name == "alice" and session.room.startswith("#")
    assert session.users is None or session.users >= 0


def test_private_messages_are_marked():
    lines = render({"response": "message", "sender": "alice -> bob", "content": "psst",
                    "timestamp": "14:03"})
    assert lines == ["[14:03] [pm] alice -> bob: psst"]
    colored = render({"response": "message", "sender": "alice -> bob", "content": "x"},
                     color=True)
    plain = render({"response": "message", "sender": "alice", "content": "x"}, color=True)
    assert "\x1b[35;1m[pm] alice -> bob" in colored[0] and "\x1b[35" not in plain[0]


# -- the client process against a section 4 server ----------------------------------------

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


@pytest.fixture
def client():
    started = []

    def start(port, *args, **kwargs):
        proc = ClientProcess(port, *args, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


def test_every_extension_goes_out_and_every_answer_is_shown(fake, client):
    proc = client(fake.port)
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


def test_a_password_without_its_slash_is_held_back(fake, client):
    proc = client(fake.port)
    proc.send("login alice", "register hunter2hunter2", "hello")
    proc.close_stdin()
    assert proc.wait() == 0
    assert [r["request"] for r in fake.requests] == ["login", "msg", "logout"]
    assert "/register <password>" in proc.err and "hunter2" not in proc.err


def test_the_room_is_shown_in_status_lines_at_a_terminal(fake, client):
    proc = client(fake.port, terminal=True)
    proc.send("login alice")
    proc.expect(r"-- you are alice in #lobby\n", stream="err")
    proc.send("/join dev")
    proc.expect(r"-- you are alice in #dev \(3 users\)\n", stream="err")
    proc.send("/leave")
    proc.expect(r"-- you are alice in #lobby \(1 user\)\n", stream="err")
    proc.close_stdin()
    assert proc.wait() == 0


def test_a_typed_password_is_wiped_from_the_terminal(fake, client):
    proc = client(fake.port, terminal=True)
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
