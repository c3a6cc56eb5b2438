"""Issue 23, daily use in a real terminal: the date line in the history,
the paste confirmation, the bell (--bell) on a pm or a mention."""

import pytest

from client_support import server  # noqa: F401 (fixture)
from peers.fake_server import FakeServer, response
from terminal_support import logged_in, other_user, terminal  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes in a pty

PASTE = "\x1b[200~%s\x1b[201~"


def test_history_from_other_days_gets_date_lines(terminal):
    def old_history(conn):
        conn.recv()
        conn.send(response("info", "Login successful"))
        conn.send(response("history", [
            response("message", "from the old days", sender="bob",
                     timestamp="2025-03-20 14:03:11"),
            response("message", "next day", sender="bob", timestamp="2025-03-21 09:00:00")]))
        while conn.recv() is not None:
            pass

    fake = FakeServer(old_history)
    try:
        term = terminal(fake.port, columns=60, lines=14)
        term.wait_for(r"-- connected to")
        term.type("login tina\r")
        term.wait_for(r"next day")
        rows = term.rows
        first = rows.index(next(r for r in rows if "Thursday 20 March 2025" in r))
        assert "from the old days" in rows[first + 1]
        assert "Friday 21 March 2025" in rows[first + 2] and "next day" in rows[first + 3]
    finally:
        fake.close()


def test_a_long_paste_waits_for_enter_and_a_short_one_does_not(server, terminal):
    term = terminal(server.port, columns=70, lines=16)
    logged_in(term, "pia")
    quinn = other_user(server, "quinn")
    term.type(PASTE % "".join("line %d\r" % n for n in range(7)))
    term.wait_for(r"a paste of 7 lines: Enter sends them all")
    term.type("x")                                      # any other key: dropped
    term.wait_for(r"the paste was dropped")
    term.type(PASTE % "".join("again %d\r" % n for n in range(7)))
    term.wait_for(r"a paste of 7 lines")
    term.type("\r")
    term.wait_for(r"pia: again 6")
    got = [quinn.expect("message")["content"] for _ in range(7)]
    assert got == ["again %d" % n for n in range(7)]    # nothing of the dropped one
    term.type(PASTE % "short 1\rshort 2\r")
    term.wait_for(r"pia: short 2")
    quinn.close()


def test_the_bell_rings_on_a_pm_or_a_mention_only(server, terminal):
    term = terminal(server.port, "--bell", columns=70, lines=16)
    logged_in(term, "rosa")
    sven = other_user(server, "sven")
    sven.send("msg", "nothing for anyone")
    term.wait_for(r"nothing for anyone")
    assert term.raw.count(b"\x07") == 0
    sven.send("pm", "rosa psst")
    term.wait_for(r"psst")
    assert term.raw.count(b"\x07") == 1
    sven.send("msg", "hey Rosa, look")
    term.wait_for(r"look")
    assert term.raw.count(b"\x07") == 2
    sven.close()
