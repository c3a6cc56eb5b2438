"""Issue 23, finding 7: ``help`` and every error a standard client can
trigger stay under 1 KiB on the wire (PROTOCOL.md section 3, "Server
semantics"), because several published clients read with ``recv(1024)``
and ``json.loads`` each read. ``help <request>`` gives one request's
usage; an unknown one gets ``error``.

The sizes are measured on the bytes the core hands the glue (exactly what
goes on the wire); one test reads ``help`` the naive way over a real socket.
"""

import json
import socket

import pytest

from chat.router import TABLE
from core_support import Harness, decode
from support import make_server  # noqa: F401 (fixture)

WIRE_LIMIT = 1024
STANDARD = ["login", "logout", "msg", "names", "help"]
EXTENSIONS = [row[0] for row in TABLE if row[0] not in STANDARD]


@pytest.fixture
def h():
    return Harness(oper_password="operpass")


def _only(h, session, request, content=None):
    effects = h.handle(session, request, content)
    assert len(effects) == 1, effects
    return effects[0].data, decode(effects[0].data)


@pytest.mark.parametrize("logged_in", [False, True])
def test_help_is_under_one_kib_and_names_every_request(h, logged_in):
    session = h.login("alice") if logged_in else h.session()
    data, reply = _only(h, session, "help")
    assert reply["response"] == "info"
    assert len(data) < WIRE_LIMIT, len(data)
    text = reply["content"]
    for name in STANDARD:
        line = next((ln for ln in text.splitlines() if ln.strip().startswith(name)), None)
        assert line is not None and len(line.split()) > 2, (name, text)   # with a description
    more = next(ln for ln in text.splitlines() if ln.startswith("more:"))
    assert more.split()[1:1 + len(EXTENSIONS)] == EXTENSIONS, more
    assert "(help <request> for details)" in more


@pytest.mark.parametrize("name", [row[0] for row in TABLE])
def test_help_about_one_request_gives_its_usage_and_rules(h, name):
    session = h.login("alice")
    data, reply = _only(h, session, "help", name.upper() if name == "pm" else name)
    route = h.core.router.routes[name]
    assert reply["response"] == "info", reply
    assert route.usage() in reply["content"] and route.summary in reply["content"]
    assert len(data) < WIRE_LIMIT


@pytest.mark.parametrize("content", ["frobnicate", "x" * 5000, "join leave"])
def test_help_about_an_unknown_request_is_an_error(h, content):
    data, reply = _only(h, h.session(), "help", content)
    assert reply["response"] == "error" and "help" in reply["content"], reply
    assert len(data) < WIRE_LIMIT


LONG = "\u00e5" * 5000   # ensure_ascii: 6 bytes a character on the wire
BAD_REQUESTS = [
    ("x" * 5000, None), (LONG, None), ("login", LONG), ("login", "a" * 40), ("login", "server"),
    ("login", "bad name"), ("login", 5), ("login", None), ("msg", "x"), ("names", None),
    ("logout", None), ("help", [1]), ("names", {"a": LONG}),
]
LOGGED_IN_BAD = [
    ("msg", LONG), ("msg", ""), ("msg", "\n" * 500), ("msg", None), ("msg", [LONG]),
    ("login", "alice"), ("login", LONG), ("names", 5), ("logout", [LONG]), (LONG, LONG),
    ("join", LONG), ("join", None), ("pm", LONG), ("pm", "nobody " + LONG), ("kick", LONG),
    ("register", LONG), ("oper", LONG), ("password", LONG), ("purge", LONG), ("unban", LONG),
]


@pytest.mark.parametrize("request_name, content", BAD_REQUESTS + LOGGED_IN_BAD)
def test_every_error_a_standard_client_can_trigger_is_under_one_kib(h, request_name, content):
    session = h.login("alice") if (request_name, content) in LOGGED_IN_BAD else h.session()
    for effect in h.core.handle(session, {"request": request_name, "content": content}):
        data = getattr(effect, "data", b"")
        if data and decode(data)["response"] in ("error", "info"):
            assert len(data) < WIRE_LIMIT, decode(data)


@pytest.mark.slow
def test_a_naive_recv_1024_reader_gets_help_whole(make_server):
    """A published client's reader: ``json.loads(sock.recv(1024))``, no
    newline after its requests (so the server paces it)."""
    srv = make_server()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        for request, content in (("help", None), ("login", "naive"), ("help", None)):
            sock.sendall(json.dumps({"request": request, "content": content}).encode())
            reply = json.loads(sock.recv(1024))
            if request == "login":
                json.loads(sock.recv(1024))   # the history, paced into its own read
            else:
                assert reply["response"] == "info" and "login" in reply["content"]
        sock.sendall(json.dumps({"request": "logout", "content": None}).encode())
