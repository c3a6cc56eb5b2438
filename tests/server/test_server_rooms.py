"""Rooms and private messages over real sockets (PROTOCOL.md section 4),
and their abuse: room churn, room creation up to the cap, a pm flood."""

import json
import re
import time

import pytest

from rooms_support import connect, expect_error, expect_info  # noqa: F401 (fixture)
from support import make_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # server processes


def test_join_leave_rooms_names_and_msg_per_room(make_server, connect):
    srv = make_server("--rate", "0")
    alice, bob, carol = (connect(srv, name) for name in ("alice", "bob", "carol"))
    bob.send("msg", "lobby talk")
    for client in (alice, bob, carol):
        assert client.reply()["content"] == "lobby talk"
    text, history = alice.join("#Dev")
    assert text == "Joined #Dev (1 user)" and history == []
    text, history = carol.join("dev")
    assert text == "Joined #Dev (2 users)"
    carol.send("msg", "in dev \u00e5")
    for client in (alice, carol):
        message = client.reply()
        assert (message["sender"], message["content"]) == ("carol", "in dev \u00e5")
    expect_info(bob.request("names"), r"^Users online \(1\): bob$")
    expect_info(alice.request("names"), r"^Users in #Dev \(2\): alice, carol$")
    expect_info(bob.request("rooms"), r"^Rooms \(2\): #Dev \(2\), #lobby \(1\)$")
    expect_error(alice.request("join", "dev"), "already in #Dev")
    expect_error(bob.request("leave"), "#lobby")
    expect_error(bob.request("join", "no spaces"), "invalid room name")
    alice.send("leave")
    expect_info(alice.reply(), r"^Joined #lobby \(2 users\)$")
    history = alice.reply()
    assert history["response"] == "history"
    assert [m["content"] for m in history["content"]] == ["lobby talk"]
    # bob never saw the #Dev message, and a later joiner of #dev sees it in history
    assert bob.request("names")["content"] == "Users online (2): alice, bob"
    dave = connect(srv, "dave")
    _, history = dave.join("DEV")
    assert [(m["sender"], m["content"]) for m in history] == [("carol", "in dev \u00e5")]


def test_presence_notices_go_to_the_room_concerned(make_server, connect):
    srv = make_server("--rate", "0", "--presence-interval", "0.1")
    alice, bob = connect(srv, "alice"), connect(srv, "bob")
    alice.notice("^bob joined$")
    bob.join("dev")
    assert alice.notice("left") == "bob left"
    alice.join("dev")
    assert bob.notice("joined") == "alice joined"


def test_joiners_in_the_same_second_hear_of_each_other(make_server, connect):
    """Issue 8, defect 7 (d_presence.py): "alice and bob joined" reached
    neither alice nor bob."""
    srv = make_server("--rate", "0")
    w1, w2 = connect(srv), connect(srv)
    w1.send("login", "w1")
    w2.send("login", "w2")
    w1.notice("w2 joined$")     # a notice just went out: the next is a second away
    alice, bob = connect(srv, "alice"), connect(srv, "bob")
    assert alice.notice("joined") == "alice and bob joined"
    assert bob.notice("joined") == "alice and bob joined"


def test_max_rooms(make_server, connect):
    """Rooms are created up to --max-rooms (an empty room with a history
    counts: the history keeps it alive); past it joins of new rooms are
    refused and existing rooms stay open; a room that ceases to exist
    frees its place."""
    srv = make_server("--rate", "0", "--max-rooms", "32")
    creator = connect(srv, "creator")
    for i in range(30):
        creator.join("room%d" % i)
        creator.send("msg", "keep room%d" % i)      # history keeps an empty room alive
        assert creator.reply()["response"] == "message"
    alice, bob, carol = (connect(srv, name) for name in ("alice", "bob", "carol"))
    alice.join("one")
    bob.join("two")
    for i in range(30, 40):
        expect_error(carol.request("join", "room%d" % i), r"too many rooms.*at most 32")
    expect_error(carol.request("join", "three"), r"too many rooms.*at most 32")
    carol.join("room7")    # existing rooms stay open, empty ones kept by their history too
    carol.join("one")
    bob.request("leave")
    bob.reply()            # the lobby's history
    carol.join("three")    # #two ceased to exist


def test_pm_reaches_the_recipient_in_another_room_and_the_sender(make_server, connect):
    srv = make_server("--rate", "0")
    alice, bob, carol = (connect(srv, name) for name in ("alice", "Bob", "carol"))
    bob.join("dev")
    alice.send("pm", "bob meet me in #dev \U0001F600")
    for client in (alice, bob):
        message = client.reply()
        assert message["response"] == "message"
        assert message["sender"] == "alice -> Bob"
        assert message["content"] == "meet me in #dev \U0001F600"
    expect_error(alice.request("pm", "dave hello"), "^dave is not online$")
    expect_error(alice.request("pm", "bob"), "pm needs a username and a message")
    carol.send("help", "pm")
    assert "pm <name> <text>" in carol.reply()["content"]   # nothing else came to carol
    dave = connect(srv)
    assert dave.login("dave")["content"] == []              # not in any history
    _, history = dave.join("dev")
    assert history == []


def test_a_join_is_answered_like_a_login_for_paced_clients(make_server, connect):
    """A naive client (no newline: paced) gets the join's info and history
    in reads of their own, as at login."""
    srv = make_server("--rate", "0", "--pace-ms", "200")
    naive = connect(srv, newline=False)
    naive.send("login", "naive")
    naive.recv()
    naive.recv()
    naive.send("join", "dev")
    naive.sock.settimeout(5)
    first = naive.sock.recv(65536)
    arrived = time.monotonic()
    assert first.count(b"\n") == 1 and b'"Joined #dev (1 user)"' in first, first
    second = naive.sock.recv(65536)
    assert time.monotonic() - arrived > 0.1
    assert second.count(b"\n") == 1 and b'"history"' in second, second


def test_help_lists_every_section_4_request(make_server, connect):
    srv = make_server()
    client = connect(srv)
    text = client.request("help")["content"]
    for usage in ("join <room>", "leave", "rooms", "pm <name> <text>", "register <password>",
                  "password <old> <new>", "oper <password>", "kick <name> [reason]",
                  "ban <name> [reason]", "unban <name>", "bans", "purge <name>"):
        name = usage.split()[0]
        assert re.search(r"^more: .*\b%s\b" % name, text, re.M), name   # named in help
        assert client.request("help", name)["content"].startswith(usage + " ")   # detailed


# -- abuse: room churn, a pm flood -------------------------------------------------------------

def test_joining_and_leaving_10000_rooms_leaves_nothing_behind(make_server, connect):
    srv = make_server("--rate", "0")
    churner, watcher = connect(srv, "churner"), connect(srv, "watcher")
    n = 10000
    churner.send_raw(b"".join(b'{"request": "join", "content": "r%d"}\n{"request": "leave"}\n' % i
                              for i in range(n)))
    joined = 0
    deadline = time.monotonic() + 20
    while joined < 2 * n:
        payload = churner.reply(timeout=max(0.1, deadline - time.monotonic()))
        if payload["response"] == "info" and payload["content"].startswith("Joined #"):
            joined += 1
    expect_info(watcher.request("rooms"), r"^Rooms \(1\): #lobby \(2\)$")


def test_a_pm_flood_is_held_by_flood_control(make_server, connect):
    srv = make_server("--rate", "5", "--burst", "10")
    flooder, victim, bystander = (connect(srv, name) for name in ("flooder", "victim", "bystander"))
    started = time.monotonic()
    flooder.send_raw(b"".join(json.dumps({"request": "pm", "content": "victim flood %d" % i})
                              .encode() + b"\n" for i in range(200)))
    expect_info(bystander.request("names"), "bystander")   # others are answered meanwhile
    received = 0
    window_end = time.monotonic() + 1.0
    while time.monotonic() < window_end:
        try:
            payload = victim.reply(timeout=max(0.01, window_end - time.monotonic()))
        except AssertionError:
            break
        if payload["response"] == "message":
            assert payload["sender"] == "flooder -> victim"
            received += 1
    elapsed = time.monotonic() - started
    assert 10 <= received <= 10 + 5 * elapsed + 1, (received, elapsed)
