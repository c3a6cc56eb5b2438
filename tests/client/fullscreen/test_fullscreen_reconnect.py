"""Issue 23, daily use: the full-screen client reconnects by itself.

Our server with ``--db`` is killed (SIGKILL) and restarted on the same
port; the client, in #dev, logs back in under the same name (password held
in memory only), rejoins #dev, shows what it missed through the history,
and shows no message twice.
"""

import signal

import pytest

from support import Client, ServerProcess
from terminal_support import logged_in, terminal  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # server processes killed and restarted, a pty


def test_reconnects_rejoins_and_shows_each_message_once(tmp_path, terminal):
    db = str(tmp_path / "chat.sqlite3")
    first = ServerProcess("--rate", "0", "--db", db)
    port = first.port
    second = None
    try:
        term = terminal(port, "--reconnect-delay", "0.2", columns=70, lines=30)
        logged_in(term, "alice")
        term.type("/register hunter2hunter2\r")
        term.wait_for(r"registered")
        term.type("join #dev\r")
        term.wait_for(r"Joined #dev")
        bob = Client(port)
        bob.login("bob")
        bob.request("join", "#dev")
        bob.send("msg", "before the crash")
        term.wait_for(r"bob: before the crash")
        bob.close()
        first.stop(signal.SIGKILL)
        term.wait_for(r"reconnecting")
        second = ServerProcess("--rate", "0", "--db", db, "--port", str(port))
        carol = Client(port)
        carol.login("carol")
        carol.request("join", "#dev")
        carol.send("msg", "while you were away")
        carol.close()
        term.wait_for(lambda t: "while you were away" in t.text
                      and "| alice | #dev" in t.status_row)
        assert term.text.count("before the crash") == 1, term.text
        assert term.text.count("while you were away") == 1, term.text
        assert "hunter2" not in term.text
        term.type("after\r")
        term.wait_for(r"alice: after")
    finally:
        for srv in (first, second):
            if srv is not None:
                srv.stop(signal.SIGKILL)
