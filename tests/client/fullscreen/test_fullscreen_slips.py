"""Issue 23 in a real terminal: nothing private goes public (finding 1).

``pm bob x`` and ``/msg bob x`` typed in the full-screen client reach bob
privately and nobody else; ``join``/``rooms``/``leave`` without the slash
are requests, not messages. Our server, another user (carol) watching the
room with a socket client.
"""

import pytest

from client_support import own_server  # noqa: F401 (fixture)
from terminal_support import logged_in, other_user, terminal  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # client and server processes in a pty


def test_pm_and_slash_msg_reach_bob_privately_and_nobody_else(own_server, terminal):
    bob, carol = other_user(own_server, "bob"), other_user(own_server, "carol")
    term = terminal(own_server.port, columns=70, lines=16)
    logged_in(term, "alice")
    term.type("pm bob my secret\r")
    term.type("/msg bob my password is hunter2\r")
    term.type("join #dev\r")
    term.wait_for(r"#dev")
    term.type("rooms\r")
    term.type("leave\r")
    term.wait_for(r"Joined #lobby")
    term.type("the end\r")
    term.wait_for(r"alice: the end")
    private = [bob.expect("message", skip=("info", "history")) for _ in range(2)]
    assert [(p["sender"], p["content"]) for p in private] == [
        ("alice -> bob", "my secret"), ("alice -> bob", "my password is hunter2")]
    seen = []
    while True:
        payload = carol.expect("message")
        seen.append(payload["content"])
        if payload["content"] == "the end":
            break
    assert seen == ["the end"], seen          # nothing else reached the room
    for user in (bob, carol):
        user.close()
