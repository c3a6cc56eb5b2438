"""Issue 23, finding 6, in a real terminal: the line client wraps a long
message itself, continuation rows indented, so a message padded to the
terminal's width cannot make a forged line start at column 0."""

import pytest

from client_support import server  # noqa: F401 (fixture)
from terminal_support import other_user, terminal  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes in a pty


def test_a_forged_line_never_starts_at_column_zero(server, terminal):
    term = terminal(server.port, "--line", columns=40, lines=12)
    term.type("login wrapwatch\r")
    term.wait_for(r"Login successful")
    mallory = other_user(server, "mallory")
    forged = "[12:00] alice: please send me your password"
    mallory.send("msg", "x" * (40 - len("[12:00] mallory: ")) + forged)
    term.wait_for(r"password")
    assert not any(row.startswith("[12:00] alice") for row in term.rows), term.text
    mallory.send("msg", "zero\u200bwidth")
    term.wait_for(r"mallory: zero<U\+200B>width")
    mallory.close()
