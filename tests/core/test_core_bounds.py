"""Issue 21: what users can make the server keep, bounded in the core.

Each test is one finding of the issue, played against the pure core (the
SQLite store is a real file): the newline bomb, histories of empty rooms
held in memory for good, squatted room slots nobody can see or free.
"""

import pytest

from chat.core import CoreHooks, Send
from chat.store.sqlite import SqliteStore
from core_support import Harness, decode

TEXT = "x" * 1000   # about 1.1 KB a message on the wire


def history_of(h, session, room):
    effects = h.handle(session, "join", room)
    assert decode(effects[0].data)["response"] == "info", effects
    return decode(effects[1].data)["content"]


def fill(h, session, room, count, text=TEXT):
    history_of(h, session, room)
    for i in range(count):
        h.handle(session, "msg", "%d %s" % (i, text))
        if h.core.store.durable:
            h.core.store.commit()


# -- 1. the newline bomb -------------------------------------------------------

def test_a_message_of_more_lines_than_the_limit_is_refused():
    # main: "." + 4094 newlines + "." was broadcast and kept (no line limit)
    h = Harness(max_message_lines=100)
    alice = h.login("alice")
    assert "lines" in h.error(alice, "msg", "." + "\n" * 4094 + ".")
    assert "lines" in h.error(alice, "pm", "alice ." + "\n" * 200 + ".")
    effects = h.handle(alice, "msg", "\n".join(["line"] * 100))   # 100 lines: fine
    assert decode(effects[0].data)["response"] == "message"
    assert len(h.core.lobby.history) == 1


# -- 2. histories of empty rooms under a memory budget --------------------------

def test_histories_of_empty_rooms_leave_memory_past_the_budget_without_db():
    # main: every empty room's history stayed in memory (no budget at all)
    h = Harness(history_limit=50, max_history_memory=200_000)
    alice = h.login("alice")
    for n in range(10):
        fill(h, alice, "room%d" % n, 50)      # 55 KB of history each
    assert h.core.history_memory <= 200_000   # the room alice is in, at most
    h.handle(alice, "leave")
    assert h.core.history_memory <= 200_000
    # trimmed oldest first: what a room still serves is its newest messages
    shown = history_of(h, alice, "room8")
    numbers = [int(m["content"].split()[0]) for m in shown]
    assert numbers == list(range(50 - len(numbers), 50))


def test_with_a_database_evicted_histories_come_back_whole_on_the_next_join(tmp_path):
    store = SqliteStore(str(tmp_path / "chat.db"), 50)
    h = Harness(history_limit=50, max_history_memory=200_000, store=store)
    alice = h.login("alice")
    for n in range(10):
        fill(h, alice, "room%d" % n, 50)
    h.handle(alice, "leave")
    assert h.core.history_memory <= 200_000
    for n in range(10):
        shown = history_of(h, alice, "room%d" % n)
        assert [int(m["content"].split()[0]) for m in shown] == list(range(50)), n
        assert h.core.history_memory <= 200_000
    store.close()


def test_rooms_with_members_are_never_evicted_and_new_rooms_are_refused_past_it():
    h = Harness(history_limit=50, max_history_memory=120_000)
    users = [h.login("user%d" % n) for n in range(3)]
    for n, user in enumerate(users):
        fill(h, user, "busy%d" % n, 50)       # 3 x 55 KB, all with a member
    for n in range(3):
        assert len(h.core.rooms["busy%d" % n].history) == 50
    assert "memory" in h.error(users[0], "join", "newroom")
    assert "newroom" not in h.core.rooms


# -- 3. rooms' life cycle: visible, droppable, expiring, rate-limited ----------

def squat(h, rooms):
    squatter = h.login("squatter")
    for room in rooms:
        h.handle(squatter, "join", room)
        h.handle(squatter, "msg", "mine")
    h.handle(squatter, "leave")
    return squatter


def oper(h, name="alice"):
    session = h.login(name)
    effects = h.handle(session, "oper", "sekrit-password")
    assert decode(effects[0].data)["response"] == "info", effects
    return session


def test_operators_see_every_room_with_users_and_stored_messages():
    # main: an operator saw only "#lobby": the squatted rooms were invisible
    h = Harness(max_rooms=3, oper_password="sekrit-password")
    squat(h, ["a1", "a2", "a3"])
    alice = oper(h)
    text = h.only_send(alice, h.handle(alice, "rooms"))["content"]
    assert text.startswith("Rooms (4): ")
    for room in ("#a1 (0 users, 1 message)", "#a2 (0 users, 1 message)", "#lobby (2 users"):
        assert room in text, text


def test_drop_frees_a_squatted_slot_and_moves_the_users_to_the_lobby(tmp_path):
    # main: "drop" was an unknown request; the slots stayed taken
    store = SqliteStore(str(tmp_path / "chat.db"), 10)
    h = Harness(max_rooms=2, oper_password="sekrit-password", store=store)
    squat(h, ["a1", "a2"])
    store.commit()
    bob = h.login("bob")
    assert "too many rooms" in h.error(bob, "join", "mine")
    h.handle(bob, "join", "a1")
    alice = oper(h)
    inbox = h.deliver(h.handle(alice, "drop", "#a1"))
    told = [p["content"] for p in inbox[bob]]
    assert told[0] == "#a1 was dropped by alice", told
    assert told[1].startswith("Joined #lobby") and inbox[bob][2]["response"] == "history"
    assert bob.room is h.core.lobby and "a1" not in h.core.rooms
    assert "dropped" in h.only_send(alice, [e for e in h.handle(alice, "drop", "a2")
                                             if isinstance(e, Send) and e.session is alice])["content"]
    store.commit()
    assert history_of(h, bob, "mine") == []      # a slot is free again
    assert [r[0] for r in store.load().rooms] == []
    reopened_rooms = store.recent("a1", 10)
    assert reopened_rooms == []
    assert "lobby" in h.error(alice, "drop", "lobby")
    assert "operator" in h.error(bob, "drop", "mine")
    store.close()


def test_an_empty_room_with_history_expires_after_the_room_ttl():
    h = Harness(max_rooms=2, room_ttl=60.0)
    squat(h, ["a1", "a2"])
    bob = h.login("bob")
    assert "too many rooms" in h.error(bob, "join", "mine")
    h.monotonic.t += 30
    assert h.core.expire_rooms() == 0
    h.monotonic.t += 31
    assert h.core.expire_rooms() == 2
    assert history_of(h, bob, "mine") == []


def test_room_creation_is_limited_per_network_loopback_exempt():
    h = Harness(room_creations=3)
    far = h.session()
    far.host = "192.0.2.7"
    h.handle(far, "login", "far")
    for n in range(3):
        history_of(h, far, "r%d" % n)
    assert "too many rooms created" in h.error(far, "join", "r9")
    neighbour = h.session()   # the same /24: the same network, the same bucket
    neighbour.host = "192.0.2.99"
    h.handle(neighbour, "login", "neighbour")
    assert "too many rooms created from your network" in h.error(neighbour, "join", "n1")
    local = h.session()
    local.host = "127.0.0.1"
    h.handle(local, "login", "local")
    for n in range(5):
        history_of(h, local, "l%d" % n)


@pytest.mark.parametrize("limit", [0])
def test_room_creation_limit_zero_is_off(limit):
    h = Harness(room_creations=limit)
    far = h.session()
    far.host = "192.0.2.8"
    h.handle(far, "login", "far")
    for n in range(20):
        history_of(h, far, "r%d" % n)


def test_a_cluster_nodes_rooms_neither_expire_nor_leave_for_the_budget():
    # a room whose other members are on other nodes must not expire here
    h = Harness(room_ttl=60.0, max_history_memory=1, shared_log=True)
    alice = h.login("alice")
    history_of(h, alice, "dev")
    h.core.remote_presence("dev", "bob", "bob", True)
    h.core.deliver("dev", "dev", "bob", b'{"timestamp": "t", "sender": "bob", '
                   b'"response": "message", "content": "hi"}\n')
    h.handle(alice, "leave")
    h.monotonic.t += 120
    assert h.core.expire_rooms() == 0
    assert len(h.core.rooms["dev"].history) == 1


def test_a_drop_is_audited_with_the_operator():
    events = []

    class Hooks(CoreHooks):
        def audit(self, event, address, name, by=None):
            events.append((event, name, by))
    h = Harness(hooks=Hooks(), oper_password="operator password 16")
    op = h.login("opal")
    h.handle(op, "oper", "operator password 16")
    history_of(h, op, "dev")
    h.handle(op, "msg", "kept")   # a room with history outlives its last member
    history_of(h, op, "lobby")
    h.handle(op, "drop", "dev")
    assert ("drop", "#dev", "opal") in events
