"""Issue 21: a hostile history (1000 messages of 4000 lines each) is
rendered lazily: only the lines the scrollback keeps are split and
sanitised. Counted in lines, not timed."""

from chat.client import render


def bomb_history(messages=1000, lines=4000):
    entry = {"timestamp": "2026-11-23T19:59:04+01:00", "sender": "mallory",
             "response": "message", "content": "." + "\n" * (lines - 1) + "."}
    return {"timestamp": "2026-11-23T19:59:04+01:00", "sender": "server",
            "response": "history", "content": [dict(entry) for _ in range(messages)]}


def test_a_newline_bomb_history_renders_only_what_the_scrollback_keeps():
    # main: 4 000 001 lines, each split and sanitised (18.7 s, 888 MB in the
    # full-screen client)
    lines = render.render(bomb_history())
    assert len(lines) <= render.HISTORY_LINES + 4000 + 2
    assert "997 earlier not shown" in lines[1]
    assert lines[-1].endswith(".")           # the newest message, whole


def test_a_short_history_is_rendered_whole_and_in_order():
    history = bomb_history(messages=3, lines=2)
    for i, entry in enumerate(history["content"]):
        entry["content"] = "m%d" % i
    lines = render.render(history)
    assert lines[0] == "--- history: 3 messages ---"
    assert [line.rsplit(": ", 1)[1] for line in lines[1:]] == ["m0", "m1", "m2"]
