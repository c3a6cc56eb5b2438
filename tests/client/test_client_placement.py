"""Issue 23, finding 1: commands are never published by a slip
(PROTOCOL.md section 3, "Client conventions"). Pure: ``parse_input``.

A line whose first word is a request the server offers (the five standard
ones, section 4's until the server's ``help`` says otherwise, and every
request the ``help`` names) is sent as that request, with or without the
slash. The full-screen client (``irc=True``) follows IRC habits: ``/msg``,
``/query``, ``/quit``, ``/part``, ``/me``. The line client keeps the
course's ``msg text`` as a room message. What cannot be placed is refused.
"""

import pytest

from chat.client.commands import (LocalHint, SendRequest, parse_input, requests_in_help)

BOTH = [False, True]


@pytest.mark.parametrize("irc", BOTH)
@pytest.mark.parametrize("line, expected", [
    ("pm bob my secret", SendRequest("pm", "bob my secret")),
    ("PM bob my secret", SendRequest("pm", "bob my secret")),
    ("/pm bob my secret", SendRequest("pm", "bob my secret")),
    ("join #dev", SendRequest("join", "#dev")),
    ("rooms", SendRequest("rooms", None)),
    ("leave", SendRequest("leave", None)),
    ("names", SendRequest("names", None)),
    ("register hunter2hunter2", SendRequest("register", "hunter2hunter2")),
    ("hello there", SendRequest("msg", "hello there")),
])
def test_a_request_the_server_offers_is_sent_as_that_request(irc, line, expected):
    assert parse_input(line, True, irc=irc) == expected


@pytest.mark.parametrize("line", ["/msg bob my password is hunter2", "/MSG bob x y",
                                  "/query bob my password is hunter2"])
def test_irc_msg_and_query_are_private(line):
    word, name, text = line.split(" ", 2)
    assert parse_input(line, True, irc=True) == SendRequest("pm", "bob " + text)


def test_the_line_client_keeps_msg_text_as_a_room_message():
    assert parse_input("msg hello there", True) == SendRequest("msg", "hello there")
    assert parse_input("/msg hello there", True) == SendRequest("msg", "hello there")


def test_the_line_client_sends_slash_msg_to_a_known_name_privately():
    assert (parse_input("/msg bob my secret", True, names={"bob"})
            == SendRequest("pm", "bob my secret"))


def test_full_screen_refuses_a_plain_msg_to_a_known_name():
    action = parse_input("msg bob my secret", True, irc=True, names={"Bob"})
    assert isinstance(action, LocalHint) and "/msg bob" in action.text


@pytest.mark.parametrize("line, expected", [
    ("/quit", SendRequest("logout", None)),
    ("/quit see you", SendRequest("logout", None)),
    ("/part", SendRequest("leave", None)),
    ("/me waves", SendRequest("msg", "* alice waves")),
])
def test_irc_habits(line, expected):
    assert parse_input(line, True, irc=True, me="alice") == expected


@pytest.mark.parametrize("irc", BOTH)
@pytest.mark.parametrize("line, usage", [
    ("/join", "/join <room>"), ("join", "/join <room>"), ("pm bob", "/pm <name> <text>"),
    ("/pm", "/pm <name> <text>"), ("/kick", "/kick <name>"),
])
def test_a_request_missing_its_argument_gets_its_usage_not_a_server_error(irc, line, usage):
    action = parse_input(line, True, irc=irc)
    assert isinstance(action, LocalHint) and usage in action.text, action


@pytest.mark.parametrize("line", ["/msg bob", "/query", "/msg", "/me"])
def test_irc_forms_missing_their_text_are_refused(line):
    assert isinstance(parse_input(line, True, irc=True, me="alice"), LocalHint)


@pytest.mark.parametrize("line", ["leave it to me", "rooms are nice"])
def test_extra_words_after_an_argumentless_extension_are_refused(line):
    action = parse_input(line, True)
    assert isinstance(action, LocalHint) and "msg " + line in action.text


HELP_NEW = ("Requests:\n  login <username>  log in\n  logout  log out\n  msg <message>  send\n"
            "  names  list\n  help [request]  this\nmore: join leave pm (help <request> for details)")
HELP_OLD = ("Requests (send ...):\n  login <username>  log in\n  msg <message>  send\n"
            "  rooms  list the rooms\n  pm <name> <text>  private")


def test_requests_are_learned_from_help_old_and_new():
    assert requests_in_help(HELP_NEW) >= {"login", "msg", "join", "leave", "pm"}
    assert "rooms" in requests_in_help(HELP_OLD)
    assert requests_in_help("Login successful") is None


def test_a_server_whose_help_names_no_pm_never_gets_a_pm_published():
    offered = requests_in_help(HELP_OLD.replace("  pm <name> <text>  private", ""))
    action = parse_input("pm bob my secret", True, offered=offered)
    assert isinstance(action, LocalHint), action
    # the room extension it does not offer is a message again
    assert parse_input("join me", True, offered=offered) == SendRequest("msg", "join me")
    assert parse_input("rooms", True, offered=offered) == SendRequest("rooms", None)
