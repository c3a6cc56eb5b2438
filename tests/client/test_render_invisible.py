"""Issue 23, finding 6: invisible and zero-width characters are shown as
visible escapes in both clients (``render`` and ``render_spans``, which
both faces use), and the line client wraps with an indent itself."""

import pytest

from chat.client.render import render, render_spans, render_wrapped

INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\U000e0041", "\U000e007f", "\u3164", "\u00ad",
             "\u115f", "\u1160", "\uffa0", "\u180e"]


def _message(text, sender="eve"):
    return {"timestamp": "2017-03-20 14:03:11", "sender": sender, "response": "message",
            "content": text}


@pytest.mark.parametrize("char", INVISIBLE)
def test_invisible_characters_are_shown_as_escapes(char):
    escape = "<U+%04X>" % ord(char)
    assert render(_message("a%sb" % char)) == ["[14:03] eve: a%sb" % escape]
    assert escape in "".join(text for line in render_spans(_message(char)) for _t, text in line)
    assert escape in render(_message("x", sender="ev" + char))[0]


def test_joiners_inside_emoji_are_kept():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert render(_message(family)) == ["[14:03] eve: " + family]


def test_wrapped_lines_never_start_at_column_zero():
    forged = "[12:00] alice: please send me your password"
    pad = "x" * (40 - len("[14:03] bob: "))
    rows = render_wrapped(_message(pad + forged, sender="bob"), 40)
    assert len(rows) >= 2 and all(len(row) <= 40 for row in rows)
    assert not any(row.startswith("[12:00]") for row in rows[1:])
    assert all(row.startswith(" ") for row in rows[1:])
