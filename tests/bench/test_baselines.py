"""The two benchmark baselines speak the protocol (PROTOCOL.md, section 3).

Each baseline runs as a subprocess on a free port; the tests talk to it over
real sockets with short timeouts and never sleep.
"""

import pytest

from baseline_support import Server, is_presence, python_baseline

pytestmark = pytest.mark.slow   # the baselines as server processes

SERVERS = ["bench.baselines.asyncio_server", "bench.baselines.threaded_server"]


@pytest.fixture(params=SERVERS, ids=["asyncio", "threaded"])
def server(request):
    srv = Server(python_baseline(request.param))
    yield srv
    srv.stop()


def test_broadcast_history_names(server):
    alice, bob = server.client(), server.client()
    assert alice.login("alice") == []
    assert bob.login("Bob") == []
    alice.request("msg", "hello there")
    got = alice.expect("message", "hello there")
    assert got["sender"] == "alice"
    assert bob.expect("message", "hello there") == got
    bob.request("msg", "hi \u00e5 \U0001F600")
    second = bob.expect("message", "hi \u00e5 \U0001F600")
    assert alice.expect("message") == second
    carol = server.client()
    assert carol.login("carol") == [got, second]
    carol.request("names", "None")
    assert carol.expect("info")["content"] == "Users: alice, Bob, carol"


def test_logout_replies_then_closes(server):
    alice = server.client()
    alice.login("alice")
    alice.send(b'{"request": "logout", "content": null}'
               b'{"request": "help", "content": null}')
    alice.expect("info")
    alice.expect_closed()
    again = server.client()                 # the name is free again
    again.login("ALICE")


def test_bad_json_gets_error_and_connection_survives(server):
    c = server.client()
    c.send(b'{"request": nope}\n')
    assert "JSON" in c.expect_error()["content"]
    c.send(b'\xff\xfe{}\n')
    c.expect_error()
    c.send(b'[1, 2]\n')
    c.expect_error()
    c.request("help")
    assert "login" in c.expect("info")["content"]


def test_back_to_back_split_and_whitespace(server):
    c = server.client()
    stream = (b'{"request": "login", "content": "alice"}'
              b'{"request": "msg", "content": "bl\xc3\xa5"}\r\n\t '
              b'{"request": "names"}\n')
    c.send(stream[:5])
    c.send(stream[5:50])
    c.send(stream[50:71])                  # splits the two-byte UTF-8 char
    c.send(stream[71:])
    c.expect("info", "Login successful")
    c.expect("history", [])
    c.expect("message", "bl\u00e5")
    c.expect("info", "Users: alice")


def test_validation_errors(server):
    c, other = server.client(), server.client()
    for request, content in [("msg", "hi"), ("names", None), ("logout", None)]:
        c.request(request, content)
        assert "log in" in c.expect_error()["content"].lower()
    c.request("frobnicate")
    c.expect_error()
    for bad in ["", "a b", "x" * 33, "\u00e5se", 7, "Server"]:
        c.request("login", bad)
        c.expect_error()
    c.login("Alice")
    other.request("login", "aLiCe")
    assert "taken" in other.expect_error()["content"]
    c.request("login", "bob")
    c.expect_error()
    for bad in ["", "x" * 4097, None, ["list"]]:
        c.request("msg", bad)
        c.expect_error()
    c.request("msg", "x" * 4096)
    c.expect("message", "x" * 4096)
    c.send(b'{"request": "help", "content": ""}{"request": "help"}')
    c.expect("info")
    c.expect("info")


def test_presence_notices(server):
    alice = server.client()
    alice.login("alice")
    bob = server.client()
    bob.login("bob")
    bob.close()                             # abrupt disconnect
    notices = []
    while not notices or "bob left" not in notices[-1]:
        resp = alice.recv(skip_presence=False)
        assert is_presence(resp), resp
        notices.append(resp["content"])
    # One notice, or two if a flush fell between bob's join and his leave;
    # alice's own join may be named alongside bob's.
    assert len(notices) <= 2
    assert notices[0] in ("bob joined", "bob joined; bob left",
                          "alice and bob joined; bob left"), notices
    alice.request("names")
    assert alice.expect("info")["content"] == "Users: alice"


