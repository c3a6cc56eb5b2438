"""Unit tests of chat.core (with chat.protocol and chat.router): every server
rule of PROTOCOL.md sections 1 and 3, driven without sockets.

The core is fed decoded JSON values and returns effects (Send, Broadcast,
Close); the tests decode the effects' bytes and check them. A fake clock
returns a timestamp the test controls.
"""

import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from chat import protocol
from chat import limits
from chat.core import (DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_MESSAGE_BYTES,
                       DEFAULT_MAX_MESSAGE_LENGTH, MAX_USERNAME_LENGTH, Broadcast, Close, Send,
                       check_username, worst_case_response_bytes)
from chat.protocol import RequestError
from chat.router import Route, Router

from core_support import KEYS, TS, Harness, decode

STANDARD_REQUESTS = ["login", "logout", "msg", "names", "help"]
NO_ARGUMENT_FORMS = [{"content": None}, {"content": ""}, {"content": "None"}, {}]
WRONG_TYPES = [
    (5, "a number"), (-1.5, "a number"), ([], "an array"), (["alice"], "an array"),
    ({}, "an object"), ({"name": "alice"}, "an object"), (True, "a boolean"),
    (False, "a boolean"),
]


@pytest.fixture
def h():
    return Harness()


# --- response shape ------------------------------------------------------------


def test_every_response_has_the_four_keys_in_order_and_a_string_timestamp(h):
    alice = h.session()
    effects = []
    effects += h.handle(alice, "help")
    effects += h.handle(alice, "msg", "too early")
    effects += h.handle(alice, "login", "alice")
    effects += h.handle(alice, "msg", "hello")
    effects += h.handle(alice, "names")
    effects += h.handle(alice, "bogus")
    effects += h.core.flush_presence()   # nothing: "alice joined" is no news to alice
    effects += h.handle(alice, "logout")
    data = [e.data for e in effects if not isinstance(e, Close)]
    assert len(data) == 8
    responses = [decode(d) for d in data]
    assert {r["response"] for r in responses} == {"error", "info", "message", "history"}
    assert all(r["timestamp"] == TS for r in responses)


def test_timestamp_comes_from_the_clock(h):
    alice = h.login("alice")
    h.clock.now = "2027-01-01T00:00:00+00:00"
    response = h.only_send(alice, h.handle(alice, "names"))
    assert response["timestamp"] == "2027-01-01T00:00:00+00:00"


def test_real_clock_gives_an_iso8601_string_with_offset():
    stamp = protocol.Clock(now=lambda: 1700000000.5).timestamp()
    assert isinstance(stamp, str)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", stamp), stamp


def test_server_responses_have_sender_server_and_messages_the_username(h):
    alice = h.session()
    assert decode(h.handle(alice, "help")[0].data)["sender"] == "server"
    login = h.handle(alice, "login", "Alice")
    assert [decode(e.data)["sender"] for e in login] == ["server", "server"]
    assert decode(h.handle(alice, "names")[0].data)["sender"] == "server"
    message = decode(h.handle(alice, "msg", "hi")[0].data)
    assert message["sender"] == "Alice" and message["response"] == "message"
    h.login("bob")
    assert decode(h.core.flush_presence()[0].data)["sender"] == "server"
    assert decode(h.handle(alice, "logout")[0].data)["sender"] == "server"


def test_non_ascii_content_is_escaped_on_the_wire(h):
    alice = h.login("alice")
    data = h.handle(alice, "msg", "bl\u00e5b\u00e6r \U0001F600")[0].data
    assert b"\\u00e5" in data and b"\\ud83d\\ude00" in data
    assert decode(data)["content"] == "bl\u00e5b\u00e6r \U0001F600"


# --- login ---------------------------------------------------------------------


def test_login_success_is_info_then_history_for_that_session_only(h):
    alice = h.session()
    effects = h.handle(alice, "login", "alice")
    assert [type(e) for e in effects] == [Send, Send]
    assert all(e.session is alice for e in effects)
    info, history = [decode(e.data) for e in effects]
    assert info == {"timestamp": TS, "sender": "server", "response": "info",
                    "content": "Login successful"}
    assert history == {"timestamp": TS, "sender": "server", "response": "history",
                       "content": []}
    assert alice.logged_in and alice.name == "alice"


def test_history_is_sent_on_every_login_even_when_empty(h):
    for name in ("a", "b", "c"):
        session = h.session()
        effects = h.handle(session, "login", name)
        assert decode(effects[1].data)["response"] == "history"
        assert decode(effects[1].data)["content"] == []


@pytest.mark.parametrize("name", ["a", "Z", "0", "alice", "Alice", "ALICE", "bob42", "42",
                                  "x" * MAX_USERNAME_LENGTH, "serverx", "xserver", "servers",
                                  "None", "null", "help"])
def test_valid_usernames(h, name):
    session = h.login(name)
    assert session.name == name


@pytest.mark.parametrize("raw, kept", [(" alice ", "alice"), ("\tbob\n", "bob"),
                                       ("  Carol\r\n", "Carol")])
def test_surrounding_whitespace_is_stripped(h, raw, kept):
    session = h.login(raw)
    assert session.name == kept


@pytest.mark.parametrize("name, rule", [
    ("", "username"),
    ("   ", "username"),
    ("x" * (MAX_USERNAME_LENGTH + 1), "32"),
    ("x" * 1000, "too long"),
    ("al ice", "A-Z"),
    ("bob!", "A-Z"),
    ("alice_1", "A-Z"),
    ("al-ice", "A-Z"),
    ("\u00e5se", "A-Z"),          # non-ASCII letter
    ("\uff21\uff22", "A-Z"),      # full-width letters
    ("\u0663", "A-Z"),            # Arabic-Indic digit three: isdigit() but not 0-9
    ("\u212a", "A-Z"),            # Kelvin sign: lower() is "k"
    ("a\x00b", "A-Z"),
    ("a\nb", "A-Z"),
    ("server", "reserved"),
    ("Server", "reserved"),
    ("SERVER", "reserved"),
    ("sErVeR", "reserved"),
    (" server ", "reserved"),
])
def test_invalid_usernames_get_an_error_naming_the_rule(h, name, rule):
    session = h.session()
    text = h.error(session, "login", name)
    assert rule in text, text
    assert not session.logged_in
    assert h.core.users == {}


def test_username_rule_errors_are_distinct(h):
    texts = {h.error(h.session(), "login", name) for name in ("", "x" * 33, "a b", "server")}
    assert len(texts) == 4


def test_username_taken_ignores_case_and_keeps_the_first_spelling(h):
    h.login("Alice")
    for other in ("Alice", "alice", "ALICE", " aLiCe "):
        session = h.session()
        text = h.error(session, "login", other)
        assert "taken" in text.lower(), text
        assert not session.logged_in
    assert [s.name for s in h.core.users.values()] == ["Alice"]


def test_username_taken_error_is_the_standard_wording(h):
    h.login("alice")
    assert h.error(h.session(), "login", "alice").startswith("Username taken")


def test_login_while_logged_in_is_an_error_and_changes_nothing(h):
    alice = h.login("alice")
    for name in ("bob", "alice", "ALICE", "not valid!"):
        text = h.error(alice, "login", name)
        assert "already logged in" in text
    assert alice.name == "alice"
    assert list(h.core.users) == ["alice"]
    h.login("bob")  # "bob" was not taken by the failed attempt


def test_login_content_must_be_a_string(h):
    for content, described in WRONG_TYPES + [(None, "null")]:
        session = h.session()
        text = h.error(session, "login", content)
        assert "string" in text and described in text, text
        assert not session.logged_in


def test_login_with_content_missing_is_an_error(h):
    session = h.session()
    response = h.only_send(session, h.core.handle(session, {"request": "login"}))
    assert response["response"] == "error"


def _accepted(text):
    stripped = text.strip()
    return (re.fullmatch(r"[A-Za-z0-9]{1,32}", stripped) is not None
            and stripped.lower() != "server")


usernames = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from("abcXYZ019 \t\n_-!\u00e5\u212a\u0663\uff21"), max_size=40),
    st.from_regex(r"\s*[A-Za-z0-9]{1,34}\s*", fullmatch=True),
    st.sampled_from(["server", "Server", " SERVER ", "servers", "serve"]),
)


@settings(max_examples=200, deadline=None)
@given(usernames)
def test_username_validator_property(text):
    accepted = _accepted(text)
    try:
        name = check_username(text)
    except RequestError as exc:
        assert not accepted, (text, str(exc))
        assert str(exc)
    else:
        assert accepted, text
        assert name == text.strip()


@settings(max_examples=100, deadline=None)
@given(usernames)
def test_login_accepts_exactly_the_valid_usernames(text):
    h = Harness()
    session = h.session()
    first = decode(h.handle(session, "login", text)[0].data)
    if _accepted(text):
        assert first["response"] == "info" and first["content"] == "Login successful"
        assert session.name == text.strip()
    else:
        assert first["response"] == "error"
        assert not session.logged_in and h.core.users == {}


# --- before login ------------------------------------------------------------------


@pytest.mark.parametrize("request_name, content", [("msg", "hi"), ("logout", None),
                                                   ("names", None), ("msg", None)])
def test_before_login_only_login_and_help_are_allowed(h, request_name, content):
    session = h.session()
    text = h.error(session, request_name, content)
    assert "not logged in" in text
    assert "login" in text


def test_before_login_help_works(h):
    session = h.session()
    response = h.only_send(session, h.handle(session, "help"))
    assert response["response"] == "info"
    assert not session.logged_in


def test_before_login_msg_is_not_broadcast(h):
    alice = h.login("alice")
    stranger = h.session()
    effects = h.handle(stranger, "msg", "spam")
    assert not any(isinstance(e, Broadcast) for e in effects)
    assert alice not in h.deliver(effects)
    h.login("bob")
    assert h.core.history_response().count(b"spam") == 0


# --- logout and disconnect ------------------------------------------------------------


@pytest.mark.parametrize("extra", NO_ARGUMENT_FORMS)
def test_logout_is_info_then_close(h, extra):
    alice = h.login("alice")
    effects = h.core.handle(alice, {"request": "logout", **extra})
    assert [type(e) for e in effects] == [Send, Close]
    assert effects[0].session is alice and effects[1].session is alice
    info = decode(effects[0].data)
    assert info["response"] == "info" and info["sender"] == "server"
    assert info["content"]
    assert not alice.logged_in
    assert h.core.users == {}


def test_logout_frees_the_name(h):
    alice = h.login("alice")
    h.handle(alice, "logout")
    again = h.login("ALICE")
    assert again.name == "ALICE"


def test_disconnect_frees_the_name(h):
    alice = h.login("alice")
    h.core.disconnect(alice)
    assert not alice.logged_in
    assert h.core.users == {}
    h.login("alice")


def test_disconnect_is_idempotent_and_harmless_before_login(h):
    stranger = h.session()
    h.core.disconnect(stranger)
    alice = h.login("alice")
    bob = h.login("bob")
    h.core.flush_presence()
    h.core.disconnect(alice)
    h.core.disconnect(alice)
    assert list(h.core.users) == ["bob"]
    effects = h.core.flush_presence()
    assert len(effects) == 1
    assert decode(effects[0].data)["content"] == "alice left"
    assert bob.logged_in


def test_disconnect_after_logout_does_nothing_more(h):
    alice = h.login("alice")
    h.login("bob")
    h.core.flush_presence()
    h.handle(alice, "logout")
    h.core.disconnect(alice)
    effects = h.core.flush_presence()
    assert [decode(e.data)["content"] for e in effects] == ["alice left"]
    assert h.core.flush_presence() == []


def test_disconnect_of_one_user_does_not_free_another_with_the_same_name(h):
    alice = h.login("alice")
    h.handle(alice, "logout")
    alice2 = h.login("alice")
    h.core.disconnect(alice)  # the old session, already logged out
    assert h.core.users == {"alice": alice2}


# --- msg ---------------------------------------------------------------------------------


def test_msg_is_broadcast_to_everyone_including_the_sender(h):
    alice, bob, carol = h.login("alice"), h.login("bob"), h.login("carol")
    stranger = h.session()
    effects = h.handle(alice, "msg", "hello all")
    assert len(effects) == 1 and isinstance(effects[0], Broadcast)
    assert set(effects[0].recipients) == {alice, bob, carol}
    inbox = h.deliver(effects)
    assert set(inbox) == {alice, bob, carol}
    assert stranger not in inbox
    for session in (alice, bob, carol):
        assert inbox[session] == [{"timestamp": TS, "sender": "alice", "response": "message",
                                   "content": "hello all"}]


@pytest.mark.parametrize("text", [
    "hello",
    "  leading and trailing spaces  ",
    "line one\nline two\r\nline three",
    "tab\there",
    "bl\u00e5b\u00e6rsyltet\u00f8y \u4e2d\u6587 \U0001F600\U0001F4A9",
    '{"request": "login", "content": "x"}',
    "back\\slash and \"quotes\"",
    "\x00\x1b[31m control characters \x7f",
    "None",
    "\ud800 lone surrogate",
    "x",
])
def test_msg_content_is_unchanged(h, text):
    alice = h.login("alice")
    effects = h.handle(alice, "msg", text)
    assert decode(effects[0].data)["content"] == text


@settings(max_examples=150, deadline=None)
@given(st.text(st.one_of(st.characters(), st.sampled_from("\n\r\t \"\\{}")), min_size=1,
               max_size=200).filter(lambda t: t.strip()))
def test_msg_content_is_unchanged_property(text):
    h = Harness()
    alice = h.login("alice")
    effects = h.handle(alice, "msg", text)
    assert isinstance(effects[0], Broadcast)
    assert decode(effects[0].data)["content"] == text


@pytest.mark.parametrize("text", ["", " ", "   \n\t\r ", "\u3000\u2003"])
def test_empty_or_blank_msg_is_an_error(h, text):
    alice = h.login("alice")
    assert h.error(alice, "msg", text)
    assert b"message" not in h.core.history_response()


def test_msg_length_limit(h):
    alice = h.login("alice")
    limit = DEFAULT_MAX_MESSAGE_LENGTH
    assert limit == 4096
    effects = h.handle(alice, "msg", "x" * limit)
    assert isinstance(effects[0], Broadcast)
    text = h.error(alice, "msg", "x" * (limit + 1))
    assert "too long" in text and str(limit) in text


def test_msg_character_limit_counts_characters_not_bytes():
    h = Harness(max_message_bytes=10 ** 6)
    alice = h.login("alice")
    assert isinstance(h.handle(alice, "msg", "\U0001F600" * DEFAULT_MAX_MESSAGE_LENGTH)[0],
                      Broadcast)


@given(st.text(max_size=1200))
def test_every_stored_message_is_within_the_byte_bound(text):
    h = Harness(max_message_bytes=600)
    alice = h.login("alice")
    effects = h.handle(alice, "msg", text)
    if isinstance(effects[0], Broadcast):
        assert len(effects[0].data) <= worst_case_response_bytes(1, 600)


def test_msg_is_also_bounded_in_encoded_bytes(h):
    """Issue 8, defect 11: 4096 emoji are 49 KB on the wire (12 bytes each
    once escaped); the byte limit (default 16 KiB) refuses them, so the
    history limit times the byte limit bounds a history in bytes."""
    assert DEFAULT_MAX_MESSAGE_BYTES == 16 * 1024
    alice = h.login("alice")
    text = h.error(alice, "msg", "\U0001F600" * DEFAULT_MAX_MESSAGE_LENGTH)
    assert "too large" in text and "49152 bytes" in text and "16384" in text, text
    assert decode(h.core.history_response())["content"] == []
    # the exact edge: content escapes to 16 KiB is accepted, one byte more is not
    fits = "\u00e5" * (16 * 1024 // 6) + "x" * (16 * 1024 % 6)   # 2734 characters
    assert protocol.encoded_length(fits) == 16 * 1024
    assert isinstance(h.handle(alice, "msg", fits)[0], Broadcast)
    assert "too large" in h.error(alice, "msg", fits + "x")
    assert "too large" in h.error(alice, "msg", "\x01" * 4096)   # ASCII, 6 bytes each: \\u0001


def test_worst_case_history_response_is_a_true_bound():
    """The bound the server checks against its output cap at start-up."""
    h = Harness(history_limit=3, max_message_bytes=120, max_message_length=1000)
    assert h.core.max_history_response_bytes == worst_case_response_bytes(3, 120)
    h.clock.now = "2026-11-23T19:59:04+05:30"
    sender = h.login("u" * 32)
    for _ in range(5):
        text = "\U0001F600" * 10            # exactly 120 bytes once escaped
        assert isinstance(h.handle(sender, "msg", text)[0], Broadcast)
    size = len(h.core.history_response())
    assert size <= h.core.max_history_response_bytes < size + 3 * 16


def test_msg_limit_is_configurable():
    h = Harness(max_message_length=10)
    alice = h.login("alice")
    assert isinstance(h.handle(alice, "msg", "0123456789")[0], Broadcast)
    assert "10" in h.error(alice, "msg", "0123456789a")


def test_msg_content_must_be_a_string(h):
    alice = h.login("alice")
    for content, described in WRONG_TYPES + [(None, "null")]:
        text = h.error(alice, "msg", content)
        assert "string" in text and described in text, text


def test_msg_broadcast_is_encoded_once(h):
    for name in ("a", "b", "c"):
        h.login(name)
    effects = h.handle(h.core.users["a"], "msg", "hi")
    assert len(effects) == 1  # one Broadcast, one bytes object for all


# --- history -------------------------------------------------------------------------------


def test_history_holds_messages_oldest_first_exactly_as_broadcast(h):
    alice = h.login("alice")
    broadcasts = []
    for i in range(5):
        h.clock.now = "2026-11-23T19:59:0%d+01:00" % i
        broadcasts.append(h.handle(alice, "msg", "message %d \u00e5" % i)[0].data)
    h.clock.now = "2026-11-23T20:00:00+01:00"
    bob = h.session()
    history = decode(h.handle(bob, "login", "bob")[1].data)
    assert history["timestamp"] == "2026-11-23T20:00:00+01:00"
    assert history["sender"] == "server"
    assert history["content"] == [decode(b) for b in broadcasts]
    assert [m["timestamp"] for m in history["content"]] == [
        "2026-11-23T19:59:0%d+01:00" % i for i in range(5)]
    for entry in history["content"]:
        assert list(entry) == KEYS


def test_history_bytes_are_the_broadcast_bytes(h):
    alice = h.login("alice")
    broadcasts = [h.handle(alice, "msg", text)[0].data
                  for text in ("one", "tw\u00f8 \U0001F600", 'th"r\\ee\n')]
    data = h.core.history_response()
    entries = b", ".join(b[:-1] for b in broadcasts)
    assert b"[" + entries + b"]" in data
    expected = {"timestamp": TS, "sender": "server", "response": "history",
                "content": [json.loads(b) for b in broadcasts]}
    assert data == json.dumps(expected).encode("ascii") + b"\n"
    decode(data)


def test_history_is_bounded_by_the_limit():
    h = Harness(history_limit=3)
    alice = h.login("alice")
    for i in range(10):
        h.handle(alice, "msg", "m%d" % i)
    history = decode(h.core.history_response())
    assert [m["content"] for m in history["content"]] == ["m7", "m8", "m9"]


def test_history_limit_default():
    h = Harness()
    assert h.core.history_limit == DEFAULT_HISTORY_LIMIT == 1000
    alice = h.login("alice")
    for i in range(1005):
        h.handle(alice, "msg", str(i))
    content = decode(h.core.history_response())["content"]
    assert len(content) == 1000
    assert content[0]["content"] == "5" and content[-1]["content"] == "1004"


def test_history_limit_zero_keeps_nothing():
    h = Harness(history_limit=0)
    alice = h.login("alice")
    h.handle(alice, "msg", "gone")
    bob = h.session()
    assert decode(h.handle(bob, "login", "bob")[1].data)["content"] == []


def test_history_is_up_to_date_within_one_clock_second(h):
    # A new message must show up for the next login in the same second.
    alice = h.login("alice")
    first = decode(h.handle(h.session(), "login", "bob")[1].data)
    h.handle(alice, "msg", "new")
    second = decode(h.handle(h.session(), "login", "carol")[1].data)
    assert first["content"] == []
    assert [m["content"] for m in second["content"]] == ["new"]


def test_history_response_is_one_bytes_object_per_history_version(h):
    """Issue 8, defect 5: the history is built once per version and shared by
    every session (not re-encoded each second), until the history changes."""
    alice = h.login("alice")
    h.handle(alice, "msg", "one")
    first = h.handle(h.session(), "login", "bob")[1].data
    h.clock.now = "2026-11-23T21:00:00+01:00"
    later = h.handle(h.session(), "login", "carol")[1].data
    assert later is first                       # the same object, an hour later
    assert h.core.history_response() is first
    h.handle(alice, "msg", "two")               # a new version
    third = h.handle(h.session(), "login", "dave")[1].data
    assert third is not first
    assert decode(third)["timestamp"] == "2026-11-23T21:00:00+01:00"
    assert [m["content"] for m in decode(third)["content"]] == ["one", "two"]


def test_errors_and_rejected_messages_are_not_in_history(h):
    alice = h.login("alice")
    h.handle(alice, "msg", "")
    h.handle(alice, "msg", 5)
    h.handle(alice, "names")
    h.handle(h.session(), "msg", "not logged in")
    assert decode(h.core.history_response())["content"] == []


def test_history_survives_the_authors_logout(h):
    alice = h.login("alice")
    h.handle(alice, "msg", "still here")
    h.handle(alice, "logout")
    bob = h.session()
    history = decode(h.handle(bob, "login", "bob")[1].data)
    assert [(m["sender"], m["content"]) for m in history["content"]] == [("alice", "still here")]


# --- names -----------------------------------------------------------------------------------


def test_names_lists_users_sorted_case_insensitively_in_a_string(h):
    for name in ("carol", "Bob", "alice", "Dave", "eve9", "0zero"):
        h.login(name)
    alice = h.core.users["alice"]
    response = h.only_send(alice, h.handle(alice, "names"))
    assert response["response"] == "info" and response["sender"] == "server"
    content = response["content"]
    assert isinstance(content, str)
    positions = [re.search(r"\b%s\b" % name, content).start()
                 for name in ("0zero", "alice", "Bob", "carol", "Dave", "eve9")]
    assert positions == sorted(positions), content


def test_names_keeps_spelling_and_follows_logouts(h):
    alice = h.login("ALiCe")
    bob = h.login("bob")
    content = h.only_send(bob, h.handle(bob, "names"))["content"]
    assert "ALiCe" in content and "bob" in content
    h.handle(alice, "logout")
    content = h.only_send(bob, h.handle(bob, "names"))["content"]
    assert "ALiCe" not in content and "bob" in content


@pytest.mark.parametrize("extra", NO_ARGUMENT_FORMS + [{"content": "ignored text"}])
def test_names_accepts_every_form_of_no_argument(h, extra):
    alice = h.login("alice")
    response = h.only_send(alice, h.core.handle(alice, {"request": "names", **extra}))
    assert response["response"] == "info" and "alice" in response["content"]


# --- help ---------------------------------------------------------------------------------------


def test_help_lists_every_route_with_its_argument(h):
    session = h.session()
    text = h.only_send(session, h.handle(session, "help"))["content"]
    assert isinstance(text, str)
    for name in STANDARD_REQUESTS:
        assert re.search(r"\b%s\b" % name, text), name
    for route in h.core.router.routes.values():
        if route.name in STANDARD_REQUESTS:
            assert route.usage() in text and route.summary in text
        else:   # named on the "more:" line; help <request> has the rest
            assert re.search(r"^more: .*\b%s\b" % route.name, text, re.M), route.name
            assert route.summary in h.core.router.help_about(route.name)
    assert "<username>" in text and "<message>" in text


def test_help_is_generated_from_the_router_table(h):
    assert set(STANDARD_REQUESTS) <= set(h.core.router.routes)
    session = h.session()
    text = h.only_send(session, h.handle(session, "help"))["content"]
    assert text == h.core.router.help_text()


def test_router_help_lists_an_added_route():
    router = Router([Route("login", None, "<username>", False, "log in"),
                     Route("whisper", None, "<user> <text>", True, "a private message")])
    text = router.help_text()
    assert "more: whisper (help <request> for details)" in text
    assert "login <username>" in text
    assert router.help_about("whisper") == "whisper <user> <text> (once logged in): a private message"


@pytest.mark.parametrize("extra", NO_ARGUMENT_FORMS)
@pytest.mark.parametrize("logged_in", [False, True])
def test_help_accepts_every_form_of_no_argument(h, extra, logged_in):
    session = h.login("alice") if logged_in else h.session()
    response = h.only_send(session, h.core.handle(session, {"request": "help", **extra}))
    assert response["response"] == "info"
    assert "login" in response["content"]


# --- content of argument-less requests ------------------------------------------------------------


@pytest.mark.parametrize("request_name", ["logout", "names", "help"])
@pytest.mark.parametrize("content, described", WRONG_TYPES)
def test_no_argument_requests_reject_other_content_types(h, request_name, content, described):
    alice = h.login("alice")
    text = h.error(alice, request_name, content)
    assert request_name in text and described in text, text
    assert alice.logged_in  # a rejected logout does not log out


# --- malformed requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("value, needle", [
    ([], "object"),
    (["login", "alice"], "object"),
    ("login", "object"),
    (5, "object"),
    (1.5, "object"),
    (None, "object"),
    (True, "object"),
    ({}, "request"),
    ({"content": "alice"}, "request"),
    ({"Request": "login", "content": "alice"}, "request"),
    ({"request": None, "content": "alice"}, "string"),
    ({"request": 5}, "string"),
    ({"request": ["login"]}, "string"),
    ({"request": {"name": "login"}}, "string"),
    ({"request": True}, "string"),
    ({"request": "frobnicate"}, "unknown"),
    ({"request": ""}, "unknown"),
    ({"request": "message", "content": "hi"}, "unknown"),
    ({"request": "log in", "content": "alice"}, "unknown"),
    ({"request": "x" * 10000}, "unknown"),
])
@pytest.mark.parametrize("logged_in", [False, True])
def test_malformed_requests_get_one_error_naming_the_problem(h, value, needle, logged_in):
    session = h.login("alice") if logged_in else h.session()
    effects = h.core.handle(session, value)
    response = h.only_send(session, effects)
    assert response["response"] == "error" and response["sender"] == "server"
    assert needle in response["content"].lower(), response["content"]
    assert len(response["content"]) < 300  # a long bad name is shortened
    assert session.logged_in is logged_in


def test_the_session_keeps_working_after_errors(h):
    alice = h.login("alice")
    for bad in ([], {"request": 5}, {"request": "nope"}, {"request": "msg", "content": 5}):
        h.core.handle(alice, bad)
    effects = h.handle(alice, "msg", "still fine")
    assert decode(effects[0].data)["content"] == "still fine"


@pytest.mark.parametrize("spelling", ["LOGIN", "Login", "lOgIn", " login ", "login\n"])
def test_request_names_are_matched_case_insensitively(h, spelling):
    session = h.session()
    effects = h.handle(session, spelling, "alice")
    assert decode(effects[0].data)["content"] == "Login successful"


@pytest.mark.parametrize("request_name, content, response", [
    ("MSG", "hi", "message"), ("Names", None, "info"), ("HELP", None, "info"),
    ("LogOut", None, "info"),
])
def test_other_request_names_in_any_case(h, request_name, content, response):
    alice = h.login("alice")
    effects = h.handle(alice, request_name, content)
    assert decode(effects[0].data)["response"] == response


def test_extra_keys_are_ignored(h):
    alice = h.session()
    effects = h.handle(alice, "login", "alice", extra=1, timestamp="x", sender="server",
                       response="error")
    assert decode(effects[0].data)["content"] == "Login successful"
    effects = h.handle(alice, "msg", "hi", to="bob", nested={"a": [1]})
    assert decode(effects[0].data)["content"] == "hi"
    assert decode(effects[0].data)["sender"] == "alice"


# --- presence -----------------------------------------------------------------------------------------


def test_flush_with_nothing_pending_is_empty(h):
    assert h.core.flush_presence() == []
    alice = h.login("alice")
    h.core.flush_presence()
    assert h.core.flush_presence() == []
    h.handle(alice, "msg", "hi")
    h.handle(alice, "names")
    assert h.core.flush_presence() == []


def test_login_itself_broadcasts_nothing(h):
    h.login("alice")
    h.core.flush_presence()
    bob = h.session()
    effects = h.handle(bob, "login", "bob")
    assert not any(isinstance(e, Broadcast) for e in effects)


@pytest.mark.parametrize("n, text", [
    (1, "u0 joined"),
    (2, "u0 and u1 joined"),
    (3, "u0, u1 and u2 joined"),
    (4, "u0, u1, u2 and u3 joined"),
    (5, "u0, u1, u2 and 2 others joined"),
    (20, "u0, u1, u2 and 17 others joined"),
    (500, "u0, u1, u2 and 497 others joined"),
])
def test_n_logins_give_one_coalesced_notice(h, n, text):
    watcher = h.login("watcher")
    h.core.flush_presence()
    joiners = [h.login("u%d" % i) for i in range(n)]
    effects = h.core.flush_presence()
    assert len(effects) == 1 and isinstance(effects[0], Broadcast)
    notice = decode(effects[0].data)
    assert notice["response"] == "info" and notice["sender"] == "server"
    assert notice["content"] == text
    # the joiners hear of each other, unless one joined alone (issue 8, defect 7)
    told = {watcher} | (set(joiners) if n > 1 else set())
    assert set(effects[0].recipients) == told
    assert set(h.deliver(effects)) == told
    assert h.core.flush_presence() == []


def test_a_lone_joiner_is_not_told_about_itself(h):
    h.login("alice")
    assert h.core.flush_presence() == []


def test_users_who_join_in_the_same_second_hear_of_each_other(h):
    """Issue 8, defect 7: "alice and bob joined" reached neither alice nor bob."""
    alice, bob = h.login("alice"), h.login("bob")
    effects = h.core.flush_presence()
    inbox = h.deliver(effects)
    assert set(inbox) == {alice, bob}
    assert [p["content"] for p in inbox[alice]] == ["alice and bob joined"]
    assert [p["content"] for p in inbox[bob]] == ["alice and bob joined"]


def test_a_joiner_hears_a_notice_that_names_someone_else(h):
    carol = h.login("carol")
    h.core.flush_presence()
    alice = h.login("alice")
    h.core.disconnect(carol)
    inbox = h.deliver(h.core.flush_presence())
    assert [p["content"] for p in inbox[alice]] == ["alice joined; carol left"]


def test_leaves_are_coalesced(h):
    watcher = h.login("watcher")
    users = [h.login(name) for name in ("a", "b", "c", "d", "e", "f")]
    h.core.flush_presence()
    for user in users[:3]:
        h.handle(user, "logout")
    for user in users[3:]:
        h.core.disconnect(user)
    effects = h.core.flush_presence()
    assert len(effects) == 1
    assert decode(effects[0].data)["content"] == "a, b, c and 3 others left"
    assert set(h.deliver(effects)) == {watcher}


def test_joins_and_leaves_in_one_notice(h):
    watcher = h.login("watcher")
    carol = h.login("carol")
    h.core.flush_presence()
    alice, bob = h.login("alice"), h.login("bob")
    h.core.disconnect(carol)
    effects = h.core.flush_presence()
    assert len(effects) == 1
    assert decode(effects[0].data)["content"] == "alice and bob joined; carol left"
    inbox = h.deliver(effects)
    assert set(inbox) == {watcher, alice, bob}


def test_join_then_leave_within_one_period_cancels_out(h):
    h.login("watcher")
    h.core.flush_presence()
    alice = h.login("alice")
    h.handle(alice, "logout")
    bob = h.login("bob")
    h.core.disconnect(bob)
    assert h.core.flush_presence() == []


def test_leave_then_rejoin_within_one_period_cancels_out(h):
    h.login("watcher")
    alice = h.login("alice")
    h.core.flush_presence()
    h.handle(alice, "logout")
    h.login("alice")
    assert h.core.flush_presence() == []


def test_presence_names_keep_the_users_spelling(h):
    h.login("watcher")
    h.core.flush_presence()
    alice = h.login("ALiCe")
    assert decode(h.core.flush_presence()[0].data)["content"] == "ALiCe joined"
    h.core.disconnect(alice)
    assert decode(h.core.flush_presence()[0].data)["content"] == "ALiCe left"


def test_login_storm_costs_linear_notices(h):
    # n users logging in with a flush every 10 logins: at most n/10 notices,
    # each delivered to the users present, not O(n^2) messages.
    notices = 0
    for i in range(200):
        h.login("u%d" % i)
        if i % 10 == 9:
            effects = h.core.flush_presence()
            notices += len(effects)
    assert notices == 20


def test_presence_pending_flag(h):
    assert not h.core.presence_pending
    h.login("alice")
    assert h.core.presence_pending
    h.core.flush_presence()
    assert not h.core.presence_pending


# --- fuzz: arbitrary requests from several sessions ------------------------------------------------

json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                        st.text(max_size=10))
json_any = st.recursive(json_leaves,
                        lambda children: st.one_of(st.lists(children, max_size=3),
                                                   st.dictionaries(st.text(max_size=5), children,
                                                                   max_size=3)),
                        max_leaves=6)
request_names = st.one_of(st.sampled_from(STANDARD_REQUESTS + ["LOGIN", " Msg ", "bogus", ""]),
                          json_any)
contents = st.one_of(st.sampled_from(["alice", "Alice", "bob", "server", "", "None", "  ",
                                      "hi", "x" * 40]), json_any)
request_values = st.one_of(
    st.builds(lambda name, content: {"request": name, "content": content},
              request_names, contents),
    st.builds(lambda name: {"request": name}, request_names),
    json_any,
)
operations = st.one_of(
    st.tuples(st.just("handle"), st.integers(0, 3), request_values),
    st.tuples(st.just("disconnect"), st.integers(0, 3), st.none()),
    st.tuples(st.just("flush"), st.none(), st.none()),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(operations, max_size=30))
def test_random_requests_never_raise_and_keep_the_state_consistent(ops):
    h = Harness(history_limit=5)
    sessions = [h.session() for _ in range(4)]
    for op, index, value in ops:
        if op == "handle":
            session = sessions[index]
            effects = h.core.handle(session, value)
            assert isinstance(effects, list) and effects
            for effect in effects:
                assert isinstance(effect, (Send, Broadcast, Close))
                if isinstance(effect, Send):
                    assert effect.session is session
                if isinstance(effect, Close):
                    assert effect.session is session and not session.logged_in
                if not isinstance(effect, Close):
                    response = decode(effect.data)
                    if response["response"] == "error":
                        assert len(effects) == 1
        elif op == "disconnect":
            h.core.disconnect(sessions[index])
            sessions[index] = h.session()  # a new connection takes the slot
        else:
            effects = h.core.flush_presence()
            assert len(effects) <= 1
            for effect in effects:
                assert isinstance(effect, Broadcast)
                assert decode(effect.data)["response"] == "info"
        logged_in = [s for s in sessions if s.logged_in]
        assert sorted(h.core.users.items(), key=lambda kv: kv[0]) == sorted(
            ((s.name.lower(), s) for s in logged_in), key=lambda kv: kv[0])
        for s in logged_in:
            assert re.fullmatch(r"[A-Za-z0-9]{1,32}", s.name) and s.name.lower() != "server"
        history = decode(h.core.history_response())
        assert history["response"] == "history" and len(history["content"]) <= 5
