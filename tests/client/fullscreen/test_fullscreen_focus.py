"""Issue 23, the unread marker "when you come back": the full-screen client
turns on the terminal's focus reporting (``ESC [?1004h``); a focus-out
(``ESC [O``) starts an absence, and the first line arriving during it gets
the unread marker line above it (the scrolled-up marker's code, its own
words). Focus sequences never reach the input line, split or whole."""


import pytest

from chat.client.fullscreen.input_line import FOCUS_IN, FOCUS_OUT, PasteParser
from chat.client.fullscreen.model import AWAY_MARKER, UNREAD_MARKER, Screen
from client_support import own_server  # noqa: F401 (fixture)
from terminal_support import logged_in, other_user, terminal  # noqa: F401 (fixture)


def _rows(screen):
    return ["".join(text for _tag, text in row) for row in screen.frame().rows]


def _feed(parser, text):
    items = []
    for char in text:
        items += parser.feed(char)
    return items


def test_focus_sequences_are_events_never_text_even_split():
    parser = PasteParser()
    assert _feed(parser, "a\x1b[Ob\x1b[Ic") == ["a", FOCUS_OUT, "b", FOCUS_IN, "c"]
    assert parser.feed("\x1b") == [] and parser.feed("[") == [] and parser.feed("O") == [FOCUS_OUT]
    # inside a paste they are text, as everything there is
    assert _feed(parser, "\x1b[200~x\x1b[Iy\x1b[201~") == [("paste", "x\x1b[Iy")]


def test_a_marker_above_what_came_while_away_and_only_one():
    screen = Screen("server")
    screen.resize(50, 10)
    for number in range(3):
        screen.add([("", "seen %d" % number)])
    screen.focus(False)
    screen.add([("", "away 1")])
    screen.add([("", "away 2")])
    screen.focus(True)
    rows = _rows(screen)
    assert rows[-3:] == [AWAY_MARKER, "away 1", "away 2"]
    assert screen.log.offset == 0                        # never scrolled by it
    screen.add([("", "back")])                           # present: no new marker
    assert _rows(screen)[-4:] == [AWAY_MARKER, "away 1", "away 2", "back"]
    screen.focus(False)
    screen.add([("", "away again")])
    rows = _rows(screen)
    assert [row for row in rows if "new since" in row] == [AWAY_MARKER]   # the old one went
    assert rows[-2:] == [AWAY_MARKER, "away again"]


def test_focus_lost_and_back_with_nothing_new_leaves_no_marker():
    screen = Screen("server")
    screen.resize(50, 10)
    screen.add([("", "seen")])
    screen.focus(False)
    screen.focus(True)
    screen.add([("", "present")])
    assert _rows(screen) == ["seen", "present"]


def test_scrolled_up_and_away_is_one_marker():
    screen = Screen("server")
    screen.resize(40, 8)
    for number in range(20):
        screen.add([("", "line %d" % number)])
    screen.key("pgup")
    screen.focus(False)
    screen.add([("", "new one")])
    screen.focus(True)
    screen.key("ctrl-end")
    rows = _rows(screen)
    assert rows[-2:] == [UNREAD_MARKER, "new one"]


@pytest.mark.slow   # a server and a client in a pty
def test_coming_back_shows_the_marker_above_exactly_what_came(own_server, terminal):
    term = terminal(own_server.port, columns=70, lines=20)
    logged_in(term, "uma")
    vic = other_user(own_server, "vic")
    term.wait_for(r"vic joined")
    assert b"\x1b[?1004h" in term.raw                   # focus reporting is on
    term.type("draft")
    term.wait_for(lambda t: t.input_row == "> draft")
    term.type("\x1b[O-")                                 # focus out, then a key:
    term.wait_for(lambda t: t.input_row == "> draft-")   # ... so it was read before vic's
    vic.send("msg", "while you were out")
    vic.send("msg", "and this too")
    term.wait_for(r"vic: and this too")
    term.type("\x1b[I!")   # focus in, then a key (split sequences: the parser test above)
    term.wait_for(lambda t: t.input_row == "> draft-!")
    rows = [row for row in term.rows if row]
    marker = next(i for i, row in enumerate(rows) if AWAY_MARKER in row)
    assert [row.split("] ", 1)[-1] for row in rows[marker + 1:marker + 3]] == [
        "vic: while you were out", "vic: and this too"]
    assert "vic joined" in "\n".join(rows[:marker])
    term.type("\r")
    got = [vic.expect("message")["content"] for _ in range(3)]    # vic's own two first
    assert got[2] == "draft-!"                            # nothing of the focus reports
    term.type("/quit\r")
    assert term.wait_exit() == 0
    assert b"\x1b[?1004l" in term.raw                  # turned off at exit
    vic.close()
