"""Issue 23, finding 3: typed text is never lost or cut in a non-UTF-8
locale. Under ``LC_ALL=C`` a terminal still sends UTF-8: what is typed
goes out exactly as typed; what cannot be shown in the locale's encoding
is shown as a visible "?" per cell, never blank; a one-line warning says
the locale is not UTF-8.
"""

import pytest

from client_support import own_server  # noqa: F401 (fixture)
from terminal_support import logged_in, other_user, terminal  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes in a pty

C_LOCALE = {"LC_ALL": "C", "LANG": "C", "LC_CTYPE": "C"}


def test_typed_utf8_goes_out_intact_under_lang_c(own_server, terminal):
    bob = other_user(own_server, "bob")
    term = terminal(own_server.port, env=C_LOCALE)
    term.wait_for(r"not UTF-8")
    logged_in(term, "alice")
    term.type("typed: blåbær\r")
    term.type("after\r")
    assert bob.expect("message", skip=("info", "history"))["content"] == "typed: blåbær"
    assert bob.expect("message", skip=("info", "history"))["content"] == "after"
    bob.send("msg", "blåbær 日本")
    term.wait_for(r"bob: bl\?b\?r \?\?\?\?")
    bob.close()


def test_line_client_under_lang_c_sends_utf8_intact(own_server, terminal):
    bob = other_user(own_server, "bob2")
    term = terminal(own_server.port, "--line", env=C_LOCALE)
    term.type("login alice2\r")
    term.type("typed: blåbær\r")
    assert bob.expect("message", skip=("info", "history"))["content"] == "typed: blåbær"
    bob.send("msg", "blåbær")
    term.wait_for(r"bob2: bl\?b\?r")
    term.type("\x04")                                   # Ctrl-D: end of input
    assert term.wait_exit() == 0
    assert "-- the locale (ascii) is not UTF-8" in term.err    # stderr: a pipe here
    bob.close()
