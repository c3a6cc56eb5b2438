"""The full-screen client in a real pseudo-terminal, read with a terminal emulator.

Each test runs ``python -m chat.client`` with a pseudo-terminal as stdin,
stdout and controlling terminal (so Ctrl-C is a real SIGINT and a resize a
real SIGWINCH), against our real server (one per module) or a fake
section 4 server. Everything the client writes to the terminal is fed to
``pyte``, which keeps the screen as a terminal would show it; the tests read
that screen (``terminal_support``). Another user is a plain socket client
(``support.Client``).

Nothing sleeps: every wait reads the terminal until the screen shows what
is expected, with a deadline.
"""

import os
import termios
import threading

import pytest

from client_support import own_server, server  # noqa: F401 (fixtures)
from peers.fake_server import FakeServer, response
from terminal_support import (CTRL_END, CTRL_HOME, END, PGUP, TIMEOUT, logged_in,
                              other_user, terminal)  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes in a pty

# -- the input line is never touched ---------------------------------------------

def test_half_typed_line_survives_incoming_messages(server, terminal):
    term = terminal(server.port)
    logged_in(term, "alice")
    term.type("hello every")
    bob = other_user(server, "bob")
    for number in range(3):
        bob.send("msg", "interrupting %d" % number)
    # (one condition: the test may read a repaint half done)
    term.wait_for(lambda t: "bob: interrupting 2" in t.text and t.input_row == "> hello every"
                  and (t.screen.cursor.x, t.screen.cursor.y) == (len("> hello every"), 13))
    assert term.rows.index(next(r for r in term.rows if "interrupting 2" in r)) < 12
    term.type("one\r")
    term.wait_for(r"alice: hello everyone")
    assert term.input_row == ">"
    bob.expect("message")
    assert [bob.expect("message")["content"] for _ in range(3)][-1] == "hello everyone"
    bob.close()


def test_wide_characters_keep_the_cursor_right(server, terminal):
    term = terminal(server.port)
    logged_in(term, "wendy")
    term.type("日本語 ok 👍")
    term.wait_for(lambda t: "👍" in t.input_row
                  and t.screen.cursor.x == len("> ") + 6 + len(" ok ") + 2)
    term.type("\r")
    term.wait_for(r"wendy: 日本語 ok 👍")


# -- scrolling --------------------------------------------------------------------

def test_page_up_shows_older_lines_and_new_ones_do_not_yank(server, terminal):
    term = terminal(server.port, columns=60, lines=10)
    logged_in(term, "carol")
    dave = other_user(server, "dave")
    for number in range(30):
        dave.send("msg", "line %02d" % number)
    term.wait_for(r"dave: line 29")
    assert "line 20" not in term.text
    term.type(PGUP)
    term.wait_for(lambda t: "more below" in t.status_row and "line 29" not in t.text
                  and "line 21" in t.text)
    shown = term.rows[:-2]
    dave.send("msg", "while reading")
    term.wait_for(lambda t: "more below (1 new)" in t.status_row)
    assert term.rows[:-2] == shown                      # the page did not move
    term.type(END)                                      # input empty: End of the conversation
    term.wait_for(lambda t: "while reading" in t.text and "more below" not in t.status_row)
    term.type("typing" + CTRL_HOME)                     # with Ctrl: whatever the input holds
    term.wait_for(lambda t: t.rows[0].startswith("-- connected to")
                  and t.input_row == "> typing")   # (a redraw may arrive in pieces)
    term.type(CTRL_END)
    term.wait_for(lambda t: "while reading" in t.text)
    dave.close()


# -- resizing ------------------------------------------------------------------------


def test_resize_to_20x5_and_back_redraws_correctly(own_server, terminal):
    # Its own server, and Frank in first: no presence notice may change the
    # screen while it is compared with itself.
    server = own_server
    frank = other_user(server, "frank")
    term = terminal(server.port, columns=50, lines=12)
    logged_in(term, "erin")
    frank.send("msg", "a message long enough to be wrapped when the window is small")
    term.wait_for(r"frank: a message")
    term.type("draft")
    term.wait_for(lambda t: t.input_row == "> draft")
    before = term.rows
    term.resize(20, 5)
    term.wait_for(lambda t: t.input_row == "> draft" and "small" in t.text
                  and t.status_row.startswith(" connected"))
    assert all(len(row) <= 20 for row in term.rows)
    term.resize(50, 12)
    term.wait_for(lambda t: t.rows == before)
    term.type(" still typing\r")                     # the keyboard still works
    term.wait_for(r"erin: draft still typing")
    frank.close()


# -- nothing from the network reaches the terminal raw -----------------------------------

def test_escape_sequences_from_others_are_neutralised(server, terminal):
    term = terminal(server.port)
    logged_in(term, "gina")
    hank = other_user(server, "hank")
    hank.send("msg", "\x1b]0;pwned\x07 \x1b[31mred\x1b[0m \x1b[2J \x9b31m")
    term.wait_for(r"hank: \^\[\]0;pwned\^G \^\[\[31mred")
    assert term.screen.title == ""
    assert b"pwned\x07" not in term.raw and b"\x1b]0;" not in term.raw
    row = next(y for y, text in enumerate(term.rows) if "pwned" in text)
    x = term.rows[row].index("red")
    assert term.screen.buffer[row][x].fg == "default"
    hank.close()


# -- passwords ------------------------------------------------------------------------------

def test_typed_password_never_reaches_the_terminal(server, terminal):
    term = terminal(server.port)
    logged_in(term, "ivan")
    term.type("/register hunter2hunter2")
    term.wait_for(lambda t: t.input_row == "> /register ********")
    term.type("\r")
    term.wait_for(r"> /register \*{8}\n")                  # the echo, masked
    term.wait_for(r"ivan is now registered")               # the server's answer
    term.type("\x10")                                      # Up: the password line was
    term.wait_for(lambda t: t.input_row == "> login ivan")  # not remembered
    assert b"hunter2" not in term.raw


# -- paste, exit and the terminal's state --------------------------------------------------

def test_bracketed_paste_sends_the_lines_paced_and_keeps_the_last_piece(server, terminal):
    term = terminal(server.port)
    logged_in(term, "judy")
    kim = other_user(server, "kim")
    term.type(b"\x1b[200~first\rsecond\rthird piece\x1b[201~")
    term.wait_for(r"judy: second")
    assert term.input_row == "> third piece"
    assert [kim.expect("message")["content"] for _ in range(2)] == ["first", "second"]
    kim.close()


def test_ctrl_c_logs_out_and_restores_the_terminal(server, terminal):
    term = terminal(server.port)
    logged_in(term, "liam")
    assert b"\x1b[?2004h" in term.raw                      # bracketed paste on
    term.type(b"\x03")
    assert term.wait_exit() == 0
    server.wait_for_log(r"closing: logged out as liam\b")
    assert termios.tcgetattr(term.slave) == term.initial_modes
    assert term.raw.rindex(b"\x1b[?2004l") > term.raw.rindex(b"\x1b[?2004h")
    assert term.raw.rindex(b"\x1b[?1004l") > term.raw.rindex(b"\x1b[?1004h")   # focus reports
    assert term.err == ""


def test_ctrl_d_on_an_empty_line_logs_out(server, terminal):
    term = terminal(server.port)
    logged_in(term, "mona")
    term.type("not empty\x04")                            # Ctrl-D here deletes nothing
    term.type(b"\x15\x04")                                # Ctrl-U, then Ctrl-D
    assert term.wait_exit() == 0
    server.wait_for_log(r"closing: logged out as mona\b")


@pytest.mark.parametrize("controlling", [False, True])
def test_a_closed_terminal_logs_out_and_exits(server, terminal, controlling):
    # Not the controlling terminal: no SIGHUP, the read must notice; else SIGHUP.
    term = terminal(server.port, controlling=controlling)
    name = "olga" if controlling else "olgax"
    logged_in(term, name)
    os.close(term.master)
    term.master = os.open(os.devnull, os.O_RDONLY)       # for close() and the reads
    assert term.proc.wait(TIMEOUT) == 0
    server.wait_for_log(r"closing: logged out as %s\b" % name)


def test_a_bug_still_restores_the_terminal_and_shows_the_traceback(server, terminal):
    plant = ("import chat.client.fullscreen.model\n"
             "def broken(self):\n    raise RuntimeError('planted bug')\n"
             "chat.client.fullscreen.model.Screen.status_spans = broken\n")
    term = terminal(server.port, code=plant)
    status = term.wait_exit()
    assert status == 1
    assert "RuntimeError: planted bug" in term.err
    assert termios.tcgetattr(term.slave) == term.initial_modes
    assert term.raw.rindex(b"\x1b[?1004l") > term.raw.rindex(b"\x1b[?1004h")   # focus reports


def test_line_mode_when_asked(server, terminal):
    term = terminal(server.port, "--line")
    term.type("login quinn\r")
    term.wait_for(lambda t: b"Login successful" in t.raw)   # (may have scrolled off)
    assert b"\x1b[?1049h" not in term.raw and b"\x1b[?2004h" not in term.raw
    assert b"\x1b[?1004h" not in term.raw


# -- section 4 on the full screen ------------------------------------------------------------

def rooms_server(conn):
    """A section 4 server in a few lines: login, names, join, pm."""
    while True:
        request = conn.recv()
        if request is None:
            return
        kind, content = request["request"], request["content"]
        if kind == "login":
            conn.send(response("info", "Login successful"))
            conn.send(response("history", []))
        elif kind == "names":
            conn.send(response("info", "Users online (1): rita"))
        elif kind == "join":
            conn.send(response("info", "Joined #%s (3 users)" % content.lstrip("#")))
            conn.send(response("history", []))
            conn.send(response("message", "psst", sender="bob -> rita"))
        elif kind == "logout":
            conn.send(response("info", "Bye"))
            return


def test_room_in_the_status_line_and_private_messages_marked(terminal):
    fake = FakeServer(rooms_server)
    try:
        term = terminal(fake.port)
        logged_in(term, "rita")
        term.type("/join dev\r")
        term.wait_for(lambda t: "| rita | #dev (3 users) |" in t.status_row)
        term.wait_for(r"\[pm\] bob -> rita: psst")
        term.type(b"\x04")
        assert term.wait_exit() == 0
    finally:
        fake.close()


# -- colours and exit statuses ----------------------------------------------------------------

def cell(term, text):
    """The screen cell where ``text`` first shows."""
    row = next(y for y, line in enumerate(term.rows) if text in line)
    return term.screen.buffer[row][term.rows[row].index(text)]


@pytest.mark.parametrize("args, env, coloured", [((), {}, True),
                                                 (("--no-color",), {}, False),
                                                 ((), {"NO_COLOR": "1"}, False)])
def test_colours_unless_turned_off(server, terminal, args, env, coloured):
    term = terminal(server.port, *args, env=env)
    name = "rose" if coloured else "sam" + ("nc" if args else "env")
    logged_in(term, name)
    term.type("/nosuchrequest\r")
    term.wait_for(r"! error")
    assert (cell(term, "! error").fg != "default") == coloured
    assert cell(term, "! error").bold                   # attributes stay without colour
    assert (cell(term, "Users online").fg != "default") == coloured


def test_server_closing_unasked_exits_one_with_the_reason_after_the_screen(terminal):
    def close_after_login(conn):
        conn.recv()
        conn.send(response("info", "Login successful"))
        conn.send(response("history", []))
        conn.recv()            # the automatic names; then hang up

    fake = FakeServer(close_after_login)
    try:
        term = terminal(fake.port, "--reconnect-delay", "0")
        term.wait_for(r"-- connected to")
        term.type("login tom\r")
        term.wait_for(r"press a key to quit")
        term.type(" ")
        assert term.wait_exit() == 1
        assert term.err == "-- the server closed the connection\n"
    finally:
        fake.close()


def test_logout_shows_every_answer_until_the_server_closes(terminal):
    """The line client's way of leaving: an info after the logout (here an answer
    owed from before) is shown and does not end the wait; the close does."""
    owed_shown = threading.Event()

    def slow_to_leave(conn):
        while True:
            request = conn.recv()
            if request is None:
                return
            if request["request"] == "login":
                conn.send(response("info", "Login successful"))
                conn.send(response("history", []))
            elif request["request"] == "names":
                conn.send(response("info", "Users online (1): vera"))
            elif request["request"] == "logout":
                conn.send(response("info", "an answer owed from before"))
                owed_shown.wait(TIMEOUT)
                conn.send(response("info", "Logged out, bye"))
                return

    fake = FakeServer(slow_to_leave)
    try:
        term = terminal(fake.port, "--exit-wait", "40")   # the close ends it, not the wait
        logged_in(term, "vera")
        term.type(b"\x04")
        term.wait_for(r"an answer owed from before")
        owed_shown.set()
        term.wait_for(r"Logged out, bye")
        assert term.wait_exit() == 0
    finally:
        owed_shown.set()
        fake.close()


def test_a_pasted_batch_reaches_a_naive_server_one_request_per_read(terminal):
    def naive(conn):
        while True:
            request = conn.recv()          # json.loads(recv(4096)): breaks on two at once
            if request is None or request["request"] == "logout":
                return
            if request["request"] == "login":
                conn.send(response("info", "Login successful"))
                conn.send(response("history", []))
            elif request["request"] == "msg":
                conn.send(response("message", request["content"], sender="uma"))

    fake = FakeServer(naive)
    try:
        term = terminal(fake.port, "--pace-ms", "50")
        term.wait_for(r"-- connected to")
        lines = ["login uma"] + ["pasted %d" % n for n in range(12)]
        term.type("\x1b[200~" + "\r".join(lines) + "\r\x1b[201~")
        term.wait_for(r"a paste of 13 lines")
        term.type("\r")                                # more than 5 lines: confirmed
        term.wait_for(r"uma: pasted 11")
        term.type(b"\x04")
        assert term.wait_exit() == 0
        fake.check_wire()
        assert [r.get("content") for r in fake.requests if r["request"] == "msg"] == \
            ["pasted %d" % n for n in range(12)]
    finally:
        fake.close()
