"""Issue 23, finding 2: why a connection ended is always shown.

Kicked, banned or shut down, the full-screen client keeps the reason on
screen until a key is pressed, then prints it to the terminal after the
screen is gone (the line client shows it as a line: test_client_process).
Our real server, a real operator.
"""

import signal

import pytest

from support import Client
from terminal_support import logged_in, terminal  # noqa: F401 (fixture)
from support import make_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes in a pty

OPER = "oper-secret-23-issue-23"


def _stays_until_a_key(term, reason):
    term.wait_for(lambda t: reason in t.text and "press a key" in t.text)
    assert term.proc.poll() is None           # still there: the person can read it
    term.type("x")
    assert term.wait_exit() == 1
    assert reason in term.err, term.err


def test_a_kick_reason_stays_on_screen_and_is_printed_after(make_server, terminal):
    srv = make_server("--rate", "0", env={"KTN_OPER_PASSWORD": OPER})
    term = terminal(srv.port)
    logged_in(term, "tom")
    opal = Client(srv.port)
    opal.login("opal")
    opal.request("oper", OPER)
    opal.send("kick", "tom bye now")
    _stays_until_a_key(term, "kicked by opal: bye now")
    opal.close()


def test_a_shutdown_stays_on_screen_and_is_printed_after(make_server, terminal):
    srv = make_server("--rate", "0")
    term = terminal(srv.port, "--reconnect-delay", "0")      # no reconnecting
    logged_in(term, "sam")
    srv.proc.send_signal(signal.SIGTERM)
    _stays_until_a_key(term, "Server is shutting down")


def test_a_shutdown_is_shown_while_reconnecting(make_server, terminal):
    srv = make_server("--rate", "0")
    term = terminal(srv.port, "--reconnect-delay", "30")
    logged_in(term, "sue")
    srv.proc.send_signal(signal.SIGTERM)
    term.wait_for(lambda t: "Server is shutting down" in t.text
                  and "reconnecting in 30s (attempt 1)" in t.text)
    assert srv.proc.wait(10) == 0
