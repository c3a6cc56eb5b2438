"""Issue 23, daily use in the full-screen client: a date line where the
day changes (history included), an unread marker line, a bell on a private
message or a mention (--bell), a confirmation before a paste of more than
5 lines goes out. Pure parts here; the terminal in test_fullscreen_daily_terminal.py.
"""

import datetime

from chat.client.dates import DayLines, timestamp_date
from chat.client.fullscreen.attention import calls_me
from chat.client.fullscreen.model import Screen
from chat.client.render import render_spans

TODAY = datetime.date(2026, 12, 7)


def _text(lines):
    return ["".join(text for _tag, text in line) for line in lines]


def _msg(stamp, text, sender="bob"):
    return {"timestamp": stamp, "sender": sender, "response": "message", "content": text}


def test_dates_are_read_from_every_common_timestamp():
    assert timestamp_date("2026-12-05T14:03:11+01:00") is not None
    assert timestamp_date("2017-03-20 14:03:11") == datetime.date(2017, 3, 20)
    assert timestamp_date("20-03-2017 14:03:11") == datetime.date(2017, 3, 20)
    assert timestamp_date("14:03") is None and timestamp_date(None) is None
    assert timestamp_date(1489999391) is not None


def test_a_date_line_where_the_day_changes_history_included():
    days = DayLines(today=lambda: TODAY)
    history = {"timestamp": "2026-12-07 10:00:00", "sender": "server", "response": "history",
               "content": [_msg("2026-12-05 09:00:00", "old"), _msg("2026-12-05 10:00:00", "older"),
                           _msg("2026-12-07 08:00:00", "today")]}
    shown = _text(render_spans(history, days=days))
    assert shown[1].startswith("--- Saturday 05 December 2026")
    assert shown[4].startswith("--- Monday 07 December 2026")
    assert [line for line in shown if line.startswith("---") and "2026" in line] == [
        shown[1], shown[4]]
    assert _text(render_spans(_msg("2026-12-07 12:00:00", "same day"), days=days))[0].startswith("[")
    assert _text(render_spans(_msg("2026-12-08 00:01:00", "tomorrow"), days=days))[0].startswith(
        "--- Tuesday 08 December 2026")


def test_no_date_line_for_today_alone():
    days = DayLines(today=lambda: TODAY)
    assert len(render_spans(_msg("2026-12-07 12:00:00", "hi"), days=days)) == 1


def test_an_unread_marker_line_when_scrolled_up():
    screen = Screen("server")
    screen.resize(40, 8)
    for number in range(20):
        screen.add([("", "line %d" % number)])
    screen.key("pgup")
    screen.add([("", "new one")])
    screen.add([("", "new two")])
    screen.key("ctrl-end")
    rows = _text(screen.frame().rows)
    marker = next(i for i, row in enumerate(rows) if "new since you scrolled" in row)
    assert rows[marker + 1:] == ["new one", "new two"]
    screen.key("pgup")
    screen.add([("", "new three")])
    screen.key("ctrl-end")
    rows = _text(screen.frame().rows)
    assert sum("new since you scrolled" in row for row in rows) == 1      # one marker only
    assert rows[-2:] == [rows[-2], "new three"] and "new since" in rows[-2]


def test_the_bell_rule():
    assert calls_me(_msg("t", "psst", sender="bob -> alice"), "alice")
    assert calls_me(_msg("t", "hey Alice!"), "alice")
    assert not calls_me(_msg("t", "malice aforethought"), "alice")
    assert not calls_me(_msg("t", "me, alice", sender="alice"), "alice")
    assert not calls_me(_msg("t", "x", sender="alice -> bob"), "alice")
    assert not calls_me({"response": "info", "content": "alice joined"}, "alice")


def test_messages_older_than_today_carry_their_full_date():
    days = DayLines(today=lambda: TODAY)
    shown = _text(render_spans(_msg("2026-12-05 09:00:00", "old"), days=days))
    assert shown[1].startswith("[2026-12-05 09:00] bob: old"), shown
    shown = _text(render_spans(_msg("2026-12-07 09:00:00", "new"), days=days))
    assert shown[-1].startswith("[09:00] bob: new"), shown
