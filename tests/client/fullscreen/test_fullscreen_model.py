"""Unit tests of the full-screen client's pure parts, without a terminal:
cell widths and wrapping, the input line, paste parsing, the scrollback and
the screen's layout."""

import unicodedata

from hypothesis import given, settings, strategies as st

from chat.client.render import render_spans
from chat.client.text_cells import char_width, clip, text_width, window, wrap_spans
from chat.client.fullscreen.input_line import InputLine, PasteParser, key_name
from chat.client.fullscreen.model import MAX_LINE_CHARS, MAX_LINES, Screen, Scrollback, decorate


def typed(line, *keys):
    for key in keys:
        if len(key) == 1:
            line.key(key)
        else:
            event = line.key(key)
            if event is not None:
                return event
    return None


def type_text(line, text):
    for char in text:
        line.key(char)


def plain(row):
    return "".join(text for _tag, text in row)


# -- cell widths ------------------------------------------------------------------

def test_widths():
    assert [char_width(c) for c in "a日ｱＡ👍é"] == [1, 2, 1, 2, 2, 1]
    assert char_width("\u0301") == 0          # combining acute
    assert char_width("\u200b") == 0 and char_width("\u200d") == 0
    assert text_width("e\u0301") == 1
    assert text_width("👩\u200d💻") == 4        # two emoji and a joiner: ncurses draws two
    assert text_width("日本語 ok") == 9


def test_clip_never_cuts_a_wide_character_in_half():
    assert clip("日本語", 5) == ("日本", 4)
    assert clip("abc", 10) == ("abc", 3)


text_with_wide = st.text(alphabet=st.sampled_from(list("ab cd日本語👍é\u0301\u200b")), max_size=80)


@settings(max_examples=200)
@given(text_with_wide, st.integers(1, 40), st.integers(0, 20))
def test_wrapped_rows_fit_and_keep_every_character(text, width, indent):
    rows = wrap_spans([("", "x: "), ("", text)], width, indent)
    assert rows
    for row in rows:
        assert text_width(plain(row)) <= max(width, 2)    # a wide char in a 1-cell row
    joined = "".join(plain(row) for row in rows).replace(" ", "")
    assert joined == ("x: " + text).replace(" ", "")


def test_wrap_keeps_tags_and_indents_continuations():
    spans = render_spans({"response": "message", "sender": "bob", "timestamp": "14:03",
                          "content": "one two three four five six"})[0]
    rows = wrap_spans(spans, 20, 13)
    assert plain(rows[0]) == "[14:03] bob: one two"
    assert rows[0][0] == ("stamp", "[14:03]") and ("sender", "bob") in rows[0]
    assert all(plain(row).startswith(" " * 6) for row in rows[1:])   # a third of 20


def test_window_scrolls_to_keep_the_cursor_visible():
    text = "0123456789"
    shown, column, start = window(text, 10, 0, 5)
    assert (shown, column, start) == ("6789", 4, 6)
    shown, column, start = window(text, 2, start, 5)        # back left: scrolls back
    assert (shown, column, start) == ("23456", 0, 2)
    shown, column, _ = window("日本語日本語", 6, 0, 5)
    assert (shown, column) == ("本語", 4)


# -- the input line ------------------------------------------------------------------

def test_editing_keys():
    line = InputLine()
    type_text(line, "hello world")
    typed(line, "ctrl-a", "right", "backspace")
    assert (line.text, line.cursor) == ("ello world", 0)
    typed(line, "end", "left", "left", "ctrl-k")
    assert line.text == "ello wor"
    typed(line, "ctrl-w")
    assert line.text == "ello "
    typed(line, "home", "delete", "ctrl-e")
    assert (line.text, line.cursor) == ("llo ", 4)
    type_text(line, "x")
    typed(line, "left", "ctrl-u")
    assert (line.text, line.cursor) == ("x", 0)


def test_insert_in_the_middle_and_control_characters_are_dropped():
    line = InputLine()
    type_text(line, "ac")
    typed(line, "left")
    line.insert("b\x1b[31m\tz")
    assert line.text == "ab[31m zc"
    assert key_name("\x1b") == "ignored" and key_name("é") == "é"


def test_enter_sends_and_clears():
    line = InputLine()
    type_text(line, "hi")
    assert line.key("enter") == ("send", "hi")
    assert line.text == "" and line.key("enter") is None


def test_ctrl_d_is_end_of_input_only_on_an_empty_line():
    line = InputLine()
    type_text(line, "ab")
    typed(line, "home")
    assert line.key("ctrl-d") is None and line.text == "b"
    line.key("ctrl-u")
    line.key("delete")
    assert line.key("ctrl-d") == ("eof",) or line.text == ""


def test_history_up_and_down_keeps_the_draft():
    line = InputLine()
    for text in ("one", "two", "/register secret123"):
        type_text(line, text)
        line.key("enter")
    type_text(line, "draft")
    typed(line, "up")
    assert line.text == "two"                 # the password line is not remembered
    typed(line, "up", "up")
    assert line.text == "one"
    typed(line, "down", "down")
    assert (line.text, line.cursor) == ("draft", 5)


def test_tab_completes_commands_then_names_and_cycles():
    line = InputLine()
    line.candidates = lambda prefix: [n for n in ("alice", "Albert", "bob")
                                      if n.lower().startswith(prefix.lower())]
    type_text(line, "/jo")
    typed(line, "tab")
    assert line.text == "/join "
    line.key("ctrl-u")
    type_text(line, "/pm al")
    typed(line, "tab")
    assert line.text == "/pm Albert "
    typed(line, "tab")
    assert line.text == "/pm alice "
    type_text(line, "hi")
    assert line.text == "/pm alice hi"


def test_passwords_are_masked_and_the_cursor_follows():
    line = InputLine()
    type_text(line, "/password old12345 new12345")
    assert line.display() == ("/password ******** ********", 27)
    typed(line, "home")
    assert line.display()[1] == 0
    line.key("ctrl-k")
    type_text(line, "login alice pw")
    assert line.display() == ("login alice ********", 20)
    line.key("ctrl-u")
    type_text(line, "hello")
    assert line.display() == ("hello", 5)


# -- paste ---------------------------------------------------------------------------

def feed_all(parser, text):
    items = []
    for char in text:
        items += parser.feed(char)
    return items


def test_bracketed_paste_is_one_item():
    parser = PasteParser()
    items = feed_all(parser, "a\x1b[200~one\rtwo\x1b[1m\x1b[201~b")
    assert items == ["a", ("paste", "one\rtwo\x1b[1m"), "b"]


def test_unknown_escape_sequences_are_dropped_and_alt_keys_kept():
    parser = PasteParser()
    assert feed_all(parser, "\x1b[1;5Dx\x1bqy") == ["x", "q", "y"]
    assert parser.feed(260) == [260]          # curses special keys pass through


@given(st.text(alphabet=st.sampled_from(list("ab\r\n日"))), st.text(alphabet="xy"))
def test_any_paste_comes_through_whole(pasted, typed_text):
    parser = PasteParser()
    items = feed_all(parser, typed_text + "\x1b[200~" + pasted + "\x1b[201~" + typed_text)
    assert items == list(typed_text) + [("paste", pasted)] + list(typed_text)


def test_paste_sends_complete_lines_and_keeps_the_rest():
    screen = Screen()
    type_text(screen.input, "say ")
    events = screen.paste("one\r\ntwo\n\nthree")
    assert events == [("send", "say one"), ("send", "two")]
    assert screen.input.text == "three"


# -- the scrollback --------------------------------------------------------------------

def lines_of(log, height):
    return [plain(row) for row in log.visible(height)]


def test_new_lines_do_not_move_a_scrolled_view():
    log = Scrollback()
    for number in range(20):
        log.add([("", "line %d" % number)])
    assert lines_of(log, 3) == ["line 17", "line 18", "line 19"]
    log.scroll(5, 3)
    assert lines_of(log, 3) == ["line 12", "line 13", "line 14"]
    for number in range(20, 23):
        log.add([("", "line %d" % number)])
    assert lines_of(log, 3) == ["line 12", "line 13", "line 14"]
    assert log.unread == 3
    log.scroll(-100, 3)
    assert lines_of(log, 3) == ["line 20", "line 21", "line 22"] and log.unread == 0


def test_scrolling_stops_at_the_top_and_keeps_at_most_max_lines():
    log = Scrollback(max_lines=50)
    for number in range(60):
        log.add([("", "line %d" % number)])
    log.top(4)
    assert lines_of(log, 4) == ["line 10", "line 11", "line 12", "line 13"]
    log.scroll(1000, 4)
    assert lines_of(log, 4)[0] == "line 10"
    log.bottom()
    assert lines_of(log, 4)[-1] == "line 59"
    assert MAX_LINES >= 10_000


@given(st.lists(st.tuples(st.sampled_from(["add", "up", "down", "top", "bottom"]),
                          st.integers(1, 30)), max_size=40), st.integers(1, 8))
def test_scroll_position_invariants(steps, height):
    log = Scrollback(max_lines=40)
    log.width = 12
    for step, amount in steps:
        if step == "add":
            log.add([("", "w" * amount)])
        elif step == "up":
            log.scroll(amount, height)
        elif step == "down":
            log.scroll(-amount, height)
        elif step == "top":
            log.top(height)
        else:
            log.bottom()
        rows = log.visible(height)
        assert len(rows) <= height and log.offset >= 0
        if log.offset == 0:
            assert not rows or rows[-1] == log.lines[-1].rows(12)[-1]
        total = sum(len(line.rows(12)) for line in log.lines)
        assert log.offset <= max(0, total - height)


# -- the screen ----------------------------------------------------------------------

def message(sender, text):
    return render_spans({"response": "message", "sender": sender, "content": text,
                         "timestamp": "14:03"})[0]


def test_frame_layout_and_status_line():
    screen = Screen("127.0.0.1:9998")
    screen.resize(40, 6)
    screen.state, screen.name, screen.room, screen.users = "connected", "alice", "#dev", 3
    for number in range(6):
        screen.add(message("bob", "number %d" % number))
    type_text(screen.input, "typing")
    frame = screen.frame()
    assert [plain(row) for row in frame.rows] == ["[14:03] bob: number %d" % n for n in (2, 3, 4, 5)]
    assert plain(frame.status) == " connected | alice | #dev (3 users) | 12"
    assert (frame.input_text, frame.cursor) == ("> typing", 8)
    screen.key("pgup")
    assert "more below " in plain(screen.frame().status)
    screen.add(message("bob", "new"))
    assert "more below (1 new)" in plain(screen.frame().status)
    screen.key("end")                                 # input not empty: the input's End
    assert "more below" in plain(screen.frame().status)
    screen.key("ctrl-end")
    assert "more below" not in plain(screen.frame().status)


def test_tiny_screen_still_has_an_input_line():
    screen = Screen()
    screen.resize(20, 1)
    frame = screen.frame()
    assert frame.rows == [] and frame.status == [] and frame.input_text == "> "
    screen.resize(20, 5)
    screen.add(message("bob", "x" * 100))
    assert len(screen.frame().rows) == 3
    assert all(text_width(plain(row)) <= 20 for row in screen.frame().rows)


def test_own_name_and_mentions_are_tagged():
    spans = decorate(message("bob", "hi Alice and alicebob"), "alice")
    assert ("mention", "Alice") in spans and ("", " and alicebob") in spans
    own = decorate(message("alice", "I am alice"), "alice")
    assert ("self", "alice") in own and not any(tag == "mention" for tag, _ in own)


def test_everything_shown_is_sanitised():
    screen = Screen()
    screen.add(message("eve\x1b[2J", "\x1b]0;title\x07\u202e"))
    text = "".join(plain(row) for row in screen.frame().rows)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert all(unicodedata.category(c) != "Cc" for c in text)


def test_continuation_rows_are_indented_under_the_text_even_with_a_mention():
    screen = Screen()
    screen.resize(30, 10)
    screen.name = "alice"
    screen.add(message("carol", "hi alice, this wraps onto a second row"))
    rows = [plain(row).rstrip() for row in screen.frame().rows]
    assert rows[0] == "[14:03] carol: hi alice, this"
    assert rows[1].startswith(" " * 10 + "wraps")       # a third of 30, not past "alice"


keys = st.one_of(st.sampled_from(["left", "right", "home", "end", "ctrl-a", "ctrl-e",
                                  "backspace", "delete", "ctrl-u", "ctrl-k", "ctrl-w", "up",
                                  "down", "tab", "enter", "ctrl-d", "pgup", "pgdn",
                                  "ctrl-home", "ctrl-end", "ignored"]),
                 st.sampled_from(list("ab /日👍\u0301")),
                 st.builds(lambda text: ("paste", text), st.text(max_size=12)))


@settings(max_examples=200)
@given(st.lists(keys, max_size=60), st.integers(3, 30), st.integers(1, 8))
def test_any_keys_keep_the_screen_consistent(sequence, width, height):
    screen = Screen("server")
    screen.resize(width, height)
    screen.input.candidates = lambda prefix: ["alice", "albert"]
    for key in sequence:
        if isinstance(key, tuple):
            screen.paste(key[1])
        else:
            screen.key(key)
        screen.add(message("bob", "x" * (len(screen.input.text) % 7)))
        line = screen.input
        assert 0 <= line.cursor <= len(line.text)
        frame = screen.frame()
        assert text_width(frame.input_text) <= width
        assert 0 <= frame.cursor < width or width <= len("> ")
        assert len(frame.rows) <= max(0, height - 2)
        assert text_width(plain(frame.status)) <= width


def test_a_huge_line_is_cut_and_says_how_much_is_missing():
    screen = Screen()
    screen.resize(80, 24)
    screen.add(message("bob", "y" * (MAX_LINE_CHARS * 3)))
    line = screen.log.lines[-1]
    assert sum(len(text) for _tag, text in line.spans) < MAX_LINE_CHARS + 100
    assert line.spans[-1][1].endswith("more characters]")
    assert plain(screen.frame().rows[-1]).rstrip().endswith("more characters]")
