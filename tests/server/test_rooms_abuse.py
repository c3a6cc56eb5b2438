"""Abuse of the section 4 extensions (issue 9): room churn, room creation
up to the cap, pm floods, password guessing. Behaviour over real sockets;
memory as the sizes of the core's structures (not RSS)."""

import json
import time

from chat.core.history import worst_case_response_bytes

from core_support import Harness
from rooms_support import connect, expect_error, expect_info, make_server  # noqa: F401 (fixtures)


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


def test_room_churn_keeps_the_core_structures_small():
    h = Harness()
    churner = h.login("churner")
    h.login("watcher")
    for i in range(10000):
        h.handle(churner, "join", "r%d" % i)
        h.handle(churner, "leave")
        if i % 1000 == 0:
            h.core.flush_presence()
    h.core.flush_presence()
    assert list(h.core.rooms) == ["lobby"]
    assert len(h.core.lobby.members) == 2
    assert not h.core._presence_rooms
    assert not h.core.lobby.presence


def test_creating_rooms_until_the_cap(make_server, connect):
    srv = make_server("--rate", "0", "--max-rooms", "30")
    creator = connect(srv, "creator")
    for i in range(30):
        creator.join("room%d" % i)
        creator.send("msg", "keep room%d" % i)      # history keeps an empty room alive
        assert creator.reply()["response"] == "message"
    for i in range(30, 40):
        expect_error(creator.request("join", "room%d" % i), r"too many rooms.*at most 30")
    other = connect(srv, "other")
    other.join("room7")                              # existing rooms stay open
    expect_error(other.request("join", "newroom"), "too many rooms")


def test_room_creation_is_bounded_in_rooms_and_bytes():
    limit, max_bytes, max_rooms = 20, 200, 50
    h = Harness(history_limit=limit, max_message_bytes=max_bytes, max_rooms=max_rooms)
    creator = h.login("creator")
    refused = 0
    for i in range(200):
        effects = h.handle(creator, "join", "room%d" % i)
        if len(effects) == 1:
            refused += 1
            continue
        for j in range(limit + 5):
            h.handle(creator, "msg", "\U0001F600" * (max_bytes // 12))
    assert len(h.core.rooms) == max_rooms + 1 and refused == 200 - max_rooms
    bound = worst_case_response_bytes(limit, max_bytes)
    for room in h.core.rooms.values():
        assert len(room.history) <= limit
        assert len(h.core.history_response(room)) <= bound


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


def test_password_guessing_from_many_connections_of_one_address(make_server, connect):
    srv = make_server("--rate", "0")
    owner = connect(srv, "owner")
    owner.request("register", "the-real-password")
    guessers = [connect(srv) for _ in range(8)]
    answers = []
    for i, guesser in enumerate(guessers):
        answers.append(guesser.request("login", "owner guess-number-%d" % i)["content"])
    assert answers[:5] == ["login failed: wrong name or password"] * 5
    assert all(a.startswith("too many failed logins") for a in answers[5:]), answers
    expect_info(owner.request("names"), "owner")             # the owner is unaffected


def test_failed_login_table_is_bounded_by_the_window():
    h = Harness()
    for i in range(3000):
        guesser = h.session()
        guesser.host = "198.51.%d.%d" % (i // 250, i % 250)
        h.handle(guesser, "login", "nobody guess-guess")   # fails without hashing
        h.monotonic.t += 0.1                      # 300 s in all, 600 addresses a minute
    assert len(h.core.failed_logins) <= 2 * 600
