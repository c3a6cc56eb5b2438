"""The C ceiling (bench/baselines/c_server.c) speaks what its scenarios use.

Built with the benchmark's own ``build_ceiling`` (``cc``); without a C
compiler the bench runs without it, and these tests are skipped.
"""

import pytest

from baseline_support import Server
from bench.servers import build_ceiling
from bench.suites import all_scenarios

pytestmark = pytest.mark.slow   # a compiler and a server process


@pytest.fixture
def server():
    path, why = build_ceiling()
    if path is None:
        pytest.skip(why)
    srv = Server([path])
    yield srv
    assert b"listening on 127.0.0.1" in srv.stop()


def test_login_msg_history_and_names(server):
    alice, bob = server.client(), server.client()
    assert alice.login("alice") == []
    assert bob.login("bob") == []
    text = 'h\u00e9 "quoted" \\ \U0001F600 ~1'
    alice.request("msg", text)
    got = alice.expect("message", text)
    assert got["sender"] == "alice" and bob.expect("message", text) == got
    carol = server.client()
    assert carol.login("carol") == [got]
    carol.request("names")
    assert carol.expect("info")["content"].startswith("Users online: ")


def test_rooms_keep_messages_apart(server):
    alice, bob = server.client(), server.client()
    alice.login("alice")
    bob.login("bob")
    bob.request("join", "#dev")
    assert bob.expect("info")["content"].startswith("Joined #dev")
    assert bob.expect("history")["content"] == []
    alice.request("msg", "lobby only")
    alice.expect("message", "lobby only")
    bob.request("msg", "dev only")
    assert bob.expect("message")["content"] == "dev only"
    alice.request("join", "dev")
    alice.expect("info")
    assert [m["content"] for m in alice.expect("history")["content"]] == ["dev only"]


def test_stream_split_anywhere_garbage_and_a_taken_name(server):
    c = server.client()
    stream = (b'{"request": "login", "content": "alice"}'
              b'{"request": "msg", "content": "bl\xc3\xa5"}\r\n\t '
              b'{"request": "names"}\n')
    for start, end in ((0, 5), (5, 50), (50, 71), (71, len(stream))):
        c.send(stream[start:end])
    c.expect("info", "Login successful")
    c.expect("history", [])
    c.expect("message", "bl\u00e5")
    c.expect("info", "Users online: alice")
    c.send(b'garbage {"request": "help", "content": null}\n')
    c.expect_error()
    assert "login" in c.expect("info")["content"]
    other = server.client()
    other.request("login", "ALICE")
    assert "taken" in other.expect_error()["content"]


def test_every_scenario_the_ceiling_cannot_speak_skips_it_with_a_reason():
    """TLS, WebSocket, and anything beyond login, msg, join, names and help:
    a reason in the table, never a 'failed' column (connect-1000-tls was)."""
    for scenario in all_scenarios("full"):
        if scenario.tls or scenario.name.endswith("-ws") or not scenario.name.startswith(
                ("connect-", "broadcast-", "rooms")):
            assert scenario.skip.get("ceiling"), scenario.name
