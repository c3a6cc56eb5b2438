"""Unit tests of chat.client.session_view: what the line client believes of
its session (name, room, users, names and rooms it has heard of) from the
requests it sent and the payloads it got (PROTOCOL.md section 4), never
moved by what another user writes, never raising on odd payloads.
"""

from hypothesis import given, strategies as st

from chat.client.session_view import SessionView


def info(text):
    return {"response": "info", "content": text, "sender": "server", "timestamp": "1"}


def test_session_follows_login_join_names_and_presence():
    session = SessionView()
    session.request_sent("login", "alice s3cret")
    session.logged_in()
    assert (session.name, session.room, session.users) == ("alice", "#lobby", None)
    session.observe(info("Joined #dev (3 users)"))
    assert (session.room, session.users) == ("#dev", 3)
    session.observe(info("bob, carol and 2 others joined; dave left"))
    assert session.users == 6 and {"bob", "carol"} <= session.names
    session.observe(info("bob was kicked by alice (spam)"))
    assert session.users is None        # the victim may be elsewhere: asked again
    session.observe(info("Users online (2): alice, erin"))
    assert session.users == 2 and "erin" in session.names
    session.observe(info(["alice", "erin", "fay"]))
    assert session.users == 3
    session.observe(info("Rooms (3): #lobby (12), #dev (3), #random (1)"))
    assert {"#lobby", "#dev", "#random"} <= session.rooms
    session.observe({"response": "message", "sender": "gus -> alice", "content": "psst"})
    assert "gus" in session.names
    session.observe(info("Joined #lobby"))
    assert (session.room, session.users) == ("#lobby", None)
    assert session.describe() == "alice in #lobby"


def test_a_user_cannot_move_us_by_writing_joined():
    session = SessionView()
    session.request_sent("login", "alice")
    session.logged_in()
    session.observe({"response": "message", "sender": "eve", "content": "Joined #trap (9)"})
    assert session.room == "#lobby"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4),
                           max_leaves=10)


@given(st.lists(json_values | st.fixed_dictionaries(
    {"response": st.sampled_from(["info", "message", "history", "msg"]),
     "content": json_values, "sender": json_values}), max_size=10))
def test_session_never_raises(payloads):
    session = SessionView()
    session.request_sent("login", "alice")
    session.logged_in()
    for payload in payloads:
        session.observe(payload)
    assert session.name == "alice" and session.room.startswith("#")
    assert session.users is None or session.users >= 0
