"""Issue 23, finding 5 (pure parts): the input line comes back after the
window grows again, "more below" never says "(0)", wrapped lines of a
multi-line text keep their own indent, a kick leaves the count unknown
(to be asked again), ``/join`` without a room gets its usage locally."""

from chat.client.commands import LocalHint, parse_input
from chat.client.fullscreen.model import Screen
from chat.client.render import CONTINUATION_INDENT
from chat.client.session_view import SessionView
from chat.client.text_cells import window


def test_the_input_line_scrolls_back_when_the_window_grows():
    text = "a draft typed in a narrow window"
    shown, column, start = window(text, len(text), 0, 10)       # narrow: scrolled
    assert start > 0
    shown, column, start = window(text, len(text), start, 60)   # wide again
    assert (shown, start, column) == (text, 0, len(text))


def test_more_below_never_says_zero():
    screen = Screen("server")
    screen.resize(40, 6)
    for number in range(20):
        screen.add([("", "line %d" % number)])
    screen.key("pgup")
    status = "".join(text for _tag, text in screen.status_spans())
    assert "more below" in status and "(0" not in status
    screen.add([("", "new")])
    assert "more below (1 new)" in "".join(text for _tag, text in screen.status_spans())


def test_a_wrapped_help_line_keeps_its_own_indent():
    screen = Screen("server")
    screen.resize(40, 20)
    screen.add([("", CONTINUATION_INDENT), ("info", "  login <username>  log in under "
                                                    "that name, a long description")])
    rows = ["".join(text for _tag, text in row) for row in screen.frame().rows]
    body = len(CONTINUATION_INDENT) + 2
    assert len(rows) >= 2 and all(row[:body].strip() == "" for row in rows[1:]), rows


def test_a_kick_notice_leaves_the_count_unknown():
    view = SessionView()
    view.request_sent("login", "opal")
    view.logged_in()
    view.observe({"response": "info", "content": "Users online (3): bob, opal, tom"})
    view.observe({"response": "info", "content": "tom was kicked by opal (bye)"})
    assert view.users is None


def test_join_without_a_room_is_answered_locally():
    action = parse_input("/join", True, irc=True)
    assert isinstance(action, LocalHint) and "/join <room>" in action.text
