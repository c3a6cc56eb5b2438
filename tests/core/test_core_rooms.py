"""Pure core tests of PROTOCOL.md section 4: rooms and private messages,
including a hypothesis state machine over join/leave/msg/pm/logout across
several sessions."""

import pytest
from hypothesis import given, settings, strategies as st

from chat.core import Broadcast, Close, Send
from chat.core import rooms as rooms_module
from chat.core.history import worst_case_response_bytes
from chat.router import TABLE

from core_support import Harness, decode

@pytest.fixture
def h():
    return Harness()


def contents(effects):
    return [decode(e.data)["content"] for e in effects if not isinstance(e, Close)]


def join(h, session, room):
    effects = h.handle(session, "join", room)
    assert [type(e) for e in effects] == [Send, Send], contents(effects)
    info, history = (decode(e.data) for e in effects)
    assert info["response"] == "info" and history["response"] == "history"
    return info["content"], history["content"]


# --- rooms ---------------------------------------------------------------------------


def test_login_puts_the_session_in_the_lobby(h):
    alice = h.login("alice")
    assert alice.room is h.core.lobby and h.core.lobby.label == "#lobby"
    assert h.only_send(alice, h.handle(alice, "names"))["content"] == "Users online (1): alice"


def test_join_creates_the_room_and_answers_info_then_its_history(h):
    alice = h.login("alice")
    text, history = join(h, alice, "dev")
    assert text == "Joined #dev (1 user)" and history == []
    assert alice.room.label == "#dev"
    bob = h.login("bob")
    text, _ = join(h, bob, "#DEV")            # '#' optional, any case: the same room
    assert text == "Joined #dev (2 users)"    # the creator's spelling is kept
    assert bob.room is alice.room
    assert sorted(h.core.rooms) == ["dev", "lobby"]


@pytest.mark.parametrize("name, rule", [
    ("", "join needs a room"), ("#", "join needs a room"), ("  ", "join needs a room"),
    ("x" * 33, "too long"), ("#" + "x" * 33, "too long"), ("a b", "invalid room name"),
    ("caf\u00e9", "invalid room name"), ("a.b", "invalid room name"),
    ("##dev", "invalid room name"),
])
def test_invalid_room_names_get_an_error_naming_the_rule(h, name, rule):
    alice = h.login("alice")
    assert rule in h.error(alice, "join", name)
    assert alice.room is h.core.lobby and list(h.core.rooms) == ["lobby"]


@pytest.mark.parametrize("name", ["a", "x" * 32, "#x-y_z", "Dev-2", "_", "-", "0"])
def test_valid_room_names(h, name):
    alice = h.login("alice")
    text, _ = join(h, alice, name)
    assert text == "Joined #%s (1 user)" % name.lstrip("#")


def test_join_of_the_room_you_are_in_is_an_error(h):
    alice = h.login("alice")
    assert "already in #lobby" in h.error(alice, "join", "#Lobby")
    join(h, alice, "dev")
    assert "already in #dev" in h.error(alice, "join", "DEV")


def test_leave_goes_back_to_the_lobby_like_join_lobby(h):
    alice, bob = h.login("alice"), h.login("bob")
    h.handle(bob, "msg", "lobby talk")
    join(h, alice, "dev")
    assert "#lobby" in h.error(bob, "leave")           # in the lobby: error
    effects = h.handle(alice, "leave")
    assert [type(e) for e in effects] == [Send, Send]
    info, history = (decode(e.data) for e in effects)
    assert info["content"] == "Joined #lobby (2 users)"
    assert [m["content"] for m in history["content"]] == ["lobby talk"]
    assert alice.room is h.core.lobby


def test_msg_reaches_only_the_senders_room_and_its_history(h):
    alice, bob, carol = h.login("alice"), h.login("bob"), h.login("carol")
    join(h, alice, "dev")
    join(h, bob, "dev")
    effects = h.handle(alice, "msg", "in dev")
    assert set(effects[0].recipients) == {alice, bob}
    effects = h.handle(carol, "msg", "in lobby")
    assert set(effects[0].recipients) == {carol}
    assert [m["content"] for m in decode(h.core.history_response())["content"]] == ["in lobby"]
    dave = h.login("dave")
    _, history = join(h, dave, "dev")
    assert [m["content"] for m in history] == ["in dev"]


def test_names_lists_the_users_of_your_room(h):
    alice, bob, carol = h.login("alice"), h.login("Bob"), h.login("carol")
    join(h, carol, "dev")
    join(h, alice, "dev")
    assert h.only_send(alice, h.handle(alice, "names"))["content"] == \
        "Users in #dev (2): alice, carol"
    assert h.only_send(bob, h.handle(bob, "names"))["content"] == "Users online (1): Bob"


def test_names_is_cached_until_presence_in_the_room_changes(h, monkeypatch):
    """Issue 8, defect 8: no sort per request."""
    sorts = []

    def counting_sorted(*args, **kwargs):
        sorts.append(1)
        return sorted(*args, **kwargs)

    monkeypatch.setattr(rooms_module, "sorted", counting_sorted, raising=False)
    users = [h.login("u%d" % i) for i in range(50)]
    first = h.handle(users[0], "names")[0].data
    for user in users:
        assert h.handle(user, "names")[0].data is first   # one bytes object per second
    h.clock.now = "2026-11-23T20:00:00+01:00"
    later = decode(h.handle(users[1], "names")[0].data)
    assert later["timestamp"] == h.clock.now and later["content"] == decode(first)["content"]
    assert len(sorts) == 1
    join(h, users[2], "elsewhere")                        # presence changed in the lobby
    content = decode(h.handle(users[0], "names")[0].data)["content"]
    assert content.startswith("Users online (49):") and "u2," not in content
    assert len(sorts) == 2


def test_rooms_lists_rooms_with_users_and_counts(h):
    users = [h.login("u%d" % i) for i in range(6)]
    for user in users[:3]:
        join(h, user, "dev")
    join(h, users[3], "random")
    join(h, users[4], "quiet")
    h.handle(users[4], "msg", "keeps #quiet alive")
    h.handle(users[4], "leave")
    text = h.only_send(users[0], h.handle(users[0], "rooms"))["content"]
    assert text == "Rooms (3): #dev (3), #lobby (2), #random (1)"
    assert "quiet" in h.core.rooms                          # history keeps it, unlisted


def test_a_room_without_users_and_history_ceases_to_exist(h):
    alice = h.login("alice")
    join(h, alice, "tmp")
    h.handle(alice, "leave")
    assert list(h.core.rooms) == ["lobby"]
    join(h, alice, "kept")
    h.handle(alice, "msg", "remember me")
    h.handle(alice, "logout")
    assert sorted(h.core.rooms) == ["kept", "lobby"]
    bob = h.login("bob")
    _, history = join(h, bob, "KEPT")
    assert [m["content"] for m in history] == ["remember me"]


def test_the_lobby_always_exists_even_empty():
    h = Harness(history_limit=0)
    alice = h.login("alice")
    h.handle(alice, "logout")
    assert list(h.core.rooms) == ["lobby"]


def test_the_number_of_rooms_is_bounded_and_the_lobby_not_counted():
    h = Harness(max_rooms=2)
    alice, bob = h.login("alice"), h.login("bob")
    join(h, alice, "one")
    join(h, bob, "two")
    carol = h.login("carol")
    text = h.error(carol, "join", "three")
    assert "too many rooms" in text and "2" in text
    join(h, carol, "one")            # existing rooms stay open
    h.handle(bob, "leave")           # #two ceases to exist: a slot is free
    join(h, carol, "three")


def test_presence_notices_go_to_the_room_concerned(h):
    alice, bob, carol = h.login("alice"), h.login("bob"), h.login("carol")
    join(h, carol, "dev")
    h.core.flush_presence()
    join(h, bob, "dev")
    inbox = h.deliver(h.core.flush_presence())
    assert [p["content"] for p in inbox[alice]] == ["bob left"]
    assert [p["content"] for p in inbox[carol]] == ["bob joined"]
    assert bob not in inbox          # a lone joiner is not told about itself
    h.handle(bob, "logout")
    inbox = h.deliver(h.core.flush_presence())
    assert set(inbox) == {carol} and inbox[carol][0]["content"] == "bob left"


def test_joining_and_leaving_many_rooms_leaves_nothing_behind(h):
    """Hopping through 2000 rooms, then 10 000 rooms each joined and left
    (notices flushed now and then): only the lobby is left, with its two
    members, and no presence news pending anywhere."""
    alice = h.login("alice")
    watcher = h.login("watcher")
    h.core.flush_presence()
    for i in range(2000):
        join(h, alice, "r%d" % i)
    h.handle(alice, "leave")
    assert list(h.core.rooms) == ["lobby"]
    assert len(h.core._presence_rooms) <= 1
    assert h.deliver(h.core.flush_presence()) == {}   # left and came back: no news
    assert not h.core._presence_rooms
    assert h.core.lobby.members.keys() == {alice, watcher}
    for i in range(10000):
        h.handle(alice, "join", "r%d" % i)
        h.handle(alice, "leave")
        if i % 1000 == 0:
            h.core.flush_presence()
    h.core.flush_presence()
    assert list(h.core.rooms) == ["lobby"]
    assert len(h.core.lobby.members) == 2
    assert not h.core._presence_rooms
    assert not h.core.lobby.presence


# --- private messages ---------------------------------------------------------------------


def test_pm_reaches_the_recipient_in_any_room_and_the_sender(h):
    alice, bob, carol = h.login("alice"), h.login("Bob"), h.login("carol")
    join(h, bob, "dev")
    effects = h.handle(alice, "pm", "bob  hi there ")
    assert len(effects) == 1 and isinstance(effects[0], Broadcast)
    inbox = h.deliver(effects)
    assert set(inbox) == {alice, bob}
    for session in (alice, bob):
        [message] = inbox[session]
        assert message["response"] == "message"
        assert message["sender"] == "alice -> Bob"
        assert message["content"] == " hi there "      # the text unchanged
    assert carol not in inbox
    assert decode(h.core.history_response())["content"] == []
    assert decode(h.core.history_response(bob.room))["content"] == []


def test_pm_to_yourself_arrives_once(h):
    alice = h.login("alice")
    effects = h.handle(alice, "pm", "ALICE note to self")
    assert effects[0].recipients == (alice,)
    assert decode(effects[0].data)["sender"] == "alice -> alice"


@pytest.mark.parametrize("content, needle", [
    ("bob", "pm needs a username and a message"),
    ("", "pm needs a username and a message"),
    (" ", "pm needs a username and a message"),
    ("bob ", "pm needs a message"),
    ("bob    ", "pm needs a message"),
    ("b!b hi", "pm needs a username"),
    ("server hi", "pm needs a username"),
    ("x" * 33 + " hi", "pm needs a username"),
])
def test_malformed_pm_gets_an_error(h, content, needle):
    alice = h.login("alice")
    h.login("bob")
    assert needle in h.error(alice, "pm", content)


def test_pm_to_someone_offline(h):
    alice = h.login("alice")
    assert h.error(alice, "pm", "bob hello") == "bob is not online"
    for wrong in (None, 5, ["bob", "hi"]):
        assert "string" in h.error(alice, "pm", wrong)


def test_pm_text_has_the_msg_limits():
    h = Harness(max_message_length=10, max_message_bytes=30)
    alice, _ = h.login("alice"), h.login("bob")
    assert "too long" in h.error(alice, "pm", "bob " + "x" * 11)
    assert "too large" in h.error(alice, "pm", "bob " + "\u00e5" * 6)
    assert isinstance(h.handle(alice, "pm", "bob " + "\u00e5" * 5)[0], Broadcast)


def test_pm_before_login_is_refused(h):
    h.login("bob")
    assert "not logged in" in h.error(h.session(), "pm", "bob hi")


# --- hypothesis: rooms stay consistent under any sequence ------------------------------------

NAMES = ["ann", "ben", "cat", "dan"]
ROOMS = ["lobby", "dev", "#Dev", "ops", "x"]

actions = st.one_of(
    st.tuples(st.just("login"), st.integers(0, 3), st.none()),
    st.tuples(st.just("join"), st.integers(0, 3), st.sampled_from(ROOMS)),
    st.tuples(st.just("leave"), st.integers(0, 3), st.none()),
    st.tuples(st.just("msg"), st.integers(0, 3), st.none()),
    st.tuples(st.just("pm"), st.integers(0, 3), st.sampled_from(NAMES)),
    st.tuples(st.just("logout"), st.integers(0, 3), st.none()),
    st.tuples(st.just("disconnect"), st.integers(0, 3), st.none()),
    st.tuples(st.just("flush"), st.none(), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(actions, max_size=40), st.integers(0, 3))
def test_rooms_stay_consistent_under_any_sequence(ops, history_limit):
    h = Harness(history_limit=history_limit, max_rooms=2)
    core = h.core
    sessions = [h.session() for _ in NAMES]
    for op, i, arg in ops:
        session = sessions[i] if i is not None else None
        if op == "login":
            effects = h.handle(session, "login", NAMES[i])
        elif op == "join":
            before = session.room
            effects = h.handle(session, "join", arg)
            if session.logged_in and isinstance(effects[0], Send) and len(effects) == 2:
                assert session.room.key == arg.lstrip("#").lower() and session.room is not before
        elif op == "leave":
            effects = h.handle(session, "leave")
        elif op == "msg":
            room = session.room
            effects = h.handle(session, "msg", "hello from %s" % NAMES[i])
            if room is not None:
                # exactly the sessions in the sender's room at that moment
                [broadcast] = effects
                assert set(broadcast.recipients) == {s for s in sessions if s.room is room}
        elif op == "pm":
            effects = h.handle(session, "pm", "%s psst" % arg)
            target = core.users.get(arg)
            if session.logged_in and target is not None:
                assert set(effects[0].recipients) == {session, target}
        elif op == "logout":
            effects = h.handle(session, "logout")
            if any(isinstance(e, Close) for e in effects):
                sessions[i] = h.session()
        elif op == "disconnect":
            core.disconnect(session)
            sessions[i] = h.session()
        else:
            for effect in core.flush_presence():
                assert decode(effect.data)["response"] == "info"
                assert effect.recipients
                for recipient in effect.recipients:
                    assert recipient.logged_in
        # every logged-in session is in exactly one room; counts match
        logged_in = [s for s in sessions if s.logged_in]
        assert set(core.users.values()) == set(logged_in)
        for s in logged_in:
            assert [r for r in core.rooms.values() if s in r.members] == [s.room]
        for s in sessions:
            if not s.logged_in:
                assert s.room is None
        assert sum(len(r.members) for r in core.rooms.values()) == len(logged_in)
        for room in core.rooms.values():
            assert room.recipients() == tuple(room.members)
            assert all(s.room is room for s in room.members)
            assert room is core.lobby or not room.abandoned
            assert len(room.history) <= history_limit
        assert len(core.rooms) - 1 <= 2


def test_rooms_listing_is_shared_until_membership_changes(h):
    alice, bob = h.login("alice"), h.login("bob")
    first = h.handle(alice, "rooms")[0].data
    assert h.handle(bob, "rooms")[0].data is first
    join(h, bob, "dev")
    assert decode(h.handle(alice, "rooms")[0].data)["content"] == \
        "Rooms (2): #dev (1), #lobby (1)"


# --- fuzz: every request of the table, any content, several sessions -----------------------


texts = st.one_of(
    st.sampled_from(["ann", "ben pw-pw-pw-pw", "ben", "#dev", "dev", "lobby", "ann hi",
                     "0per-pass", "pw-pw-pw-pw", "pw-pw-pw-pw pw2-pw2-pw2", "ben spam", ""]),
    st.text(max_size=20),
    st.text(st.sampled_from("ab #-_\ud800\U0001F600 "), max_size=12),
    st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2),
)
any_request = st.tuples(st.integers(0, 3), st.sampled_from([row[0] for row in TABLE]), texts)


@settings(max_examples=300, deadline=None)
@given(st.lists(any_request, max_size=40))
def test_any_request_sequence_never_raises_and_answers_each_request(ops):
    h = Harness(oper_password="0per-pass", history_limit=3, max_rooms=3)
    core = h.core
    sessions = [h.session() for _ in range(4)]
    for i, name, content in ops:
        session = sessions[i]
        effects = core.handle(session, {"request": name, "content": content})
        assert effects, (name, content)
        for effect in effects:
            if not isinstance(effect, Close):
                decode(effect.data)
            else:
                index = sessions.index(effect.session)
                sessions[index] = h.session()    # that connection is gone
        logged_in = [s for s in core.users.values()]
        assert sum(len(r.members) for r in core.rooms.values()) == len(logged_in)
        for s in logged_in:
            assert s in s.room.members and core.rooms[s.room.key] is s.room
        assert len(core.rooms) - 1 <= 3


# -- abuse: room creation, bounded --------------------------------------------------------


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
