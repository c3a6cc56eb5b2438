"""What a reconnection's history replays is shown once (replay.SeenMessages);
live messages, even two equal ones in one second, are always shown."""

from chat.client.fullscreen.replay import SeenMessages


def _msg(text, stamp="2026-12-07T10:00:00+00:00", sender="bob"):
    return {"timestamp": stamp, "sender": sender, "response": "message", "content": text}


def _history(*entries):
    return {"timestamp": "t", "sender": "server", "response": "history", "content": list(entries)}


def test_live_messages_are_always_shown_even_equal_ones():
    seen = SeenMessages()
    assert seen.filter(_msg("ok")) is not None
    assert seen.filter(_msg("ok")) is not None


def test_a_replayed_history_shows_only_what_was_missed():
    seen = SeenMessages()
    seen.filter(_history(_msg("old"), _msg("old")))       # equal entries: both kept
    seen.filter(_msg("live"))
    again = seen.filter(_history(_msg("old"), '{"timestamp": "2026-12-07T10:00:00+00:00", '
                                 '"sender": "bob", "response": "message", "content": "live"}',
                                 _msg("missed")))
    assert again["content"] == [_msg("missed")]
    assert seen.filter(_history(_msg("old"), _msg("missed"))) is None
    assert seen.filter(_history())["content"] == []


def test_memory_is_bounded():
    seen = SeenMessages(limit=3)
    for number in range(10):
        seen.filter(_msg(str(number)))
    assert seen.filter(_history(_msg("0")))["content"] == [_msg("0")]   # forgotten
