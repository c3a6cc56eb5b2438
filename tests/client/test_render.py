"""Tests of chat.client.render: every response type and every peer quirk of
PROTOCOL.md section 2, plus properties of the sanitiser."""

import io
import json
import re
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from chat.client.render import format_timestamp, render, sanitize, sanitize_multiline, use_color

# --- helpers -----------------------------------------------------------------

C0 = [chr(c) for c in range(0x00, 0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)]
SURROGATES = [chr(c) for c in (0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xDABC)]
DANGEROUS = C0 + ["\x7f"] + C1 + BIDI + SURROGATES + ["\u2028", "\u2029"]


def is_dangerous(ch: str) -> bool:
    code = ord(ch)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
        or code in (0x200E, 0x200F, 0x061C, 0x2028, 0x2029)
        or is_invisible(ch)
    )


def is_invisible(ch: str) -> bool:
    """Zero-width and invisible characters (issue 23): shown as <U+XXXX>."""
    code = ord(ch)
    return (code in (0x00AD, 0x034F, 0x115F, 0x1160, 0x180E, 0x200B, 0x3164, 0xFEFF, 0xFFA0)
            or 0x2060 <= code <= 0x2064 or 0x206A <= code <= 0x206F
            or 0xE0000 <= code <= 0xE007F)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def local_hhmm(moment: datetime) -> str:
    """HH:MM of an aware datetime in this machine's local time."""
    return moment.astimezone().strftime("%H:%M")


def message(content, sender="alice", timestamp="14:03", response="message"):
    return {"timestamp": timestamp, "sender": sender, "response": response, "content": content}


def one_line(payload, **kwargs):
    lines = render(payload, **kwargs)
    assert len(lines) == 1, lines
    return lines[0]


# --- sanitize ----------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x1b[2J", "^[[2J"),
        ("\x00", "^@"),
        ("\x07", "^G"),
        ("\t", "^I"),
        ("\r", "^M"),
        ("\n", "^J"),
        ("\x1f", "^_"),
        ("\x7f", "^?"),
        ("\x9b", "<U+009B>"),
        ("\x80", "<U+0080>"),
        ("\x9f", "<U+009F>"),
        ("\ud800", "<U+D800>"),
        ("\udfff", "<U+DFFF>"),
        ("\u2028", "<U+2028>"),
        ("a\u202eb\u2066c\u2069d\u200e\u200f\u061ce", "abcde"),
        ("hello, world", "hello, world"),
        ("blåbær 😀 日本語 ü", "blåbær 😀 日本語 ü"),
        ("", ""),
    ],
)
def test_sanitize_examples(raw, shown):
    assert sanitize(raw) == shown


def test_sanitize_every_dangerous_character():
    for ch in DANGEROUS:
        out = sanitize(ch)
        assert not any(is_dangerous(c) for c in out), repr(ch)
        assert out == "" if ch in BIDI else out.isascii() and out.isprintable() and out


dangerous_chars = st.sampled_from(DANGEROUS)
any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
nasty_text = st.text(alphabet=st.one_of(any_char, dangerous_chars))
safe_text = st.text(alphabet=any_char.filter(lambda c: not is_dangerous(c)))


@given(nasty_text)
def test_sanitize_leaves_nothing_dangerous(text):
    out = sanitize(text)
    assert not any(is_dangerous(c) for c in out)
    out.encode("utf-8")  # no lone surrogate: printable to a UTF-8 terminal
    assert sanitize(out) == out


@given(safe_text)
def test_sanitize_keeps_printable_text(text):
    assert sanitize(text) == text


def test_sanitize_multiline():
    assert sanitize_multiline("one\ntwo\r\nthree", "  ") == "one\n  two\n  three"
    assert sanitize_multiline("a\rb\x1b", "  ") == "a^Mb^["
    assert sanitize_multiline("", "  ") == ""
    assert sanitize_multiline("x\n", ">") == "x\n>"


@given(nasty_text)
def test_sanitize_multiline_only_our_line_breaks(text):
    out = sanitize_multiline(text, "    ")
    lines = out.split("\n")
    assert len(lines) == text.replace("\r\n", "\n").count("\n") + 1
    for line in lines[1:]:
        assert line.startswith("    ")
    assert not any(is_dangerous(c) for c in out.replace("\n", ""))


# --- format_timestamp ---------------------------------------------------------

def test_timestamp_iso_with_offset_is_converted_to_local_time():
    moment = datetime(2026, 11, 23, 19, 59, 4, tzinfo=timezone.utc)
    for text in ("2026-11-23T19:59:04Z", "2026-11-23T19:59:04z", "2026-11-23T19:59:04+00:00",
                 "2026-11-23T20:59:04+01:00", "2026-11-23T14:59:04-0500",
                 "2026-11-23T20:59:04.123456+01:00", "2026-11-23T19:59:04.123456789Z",
                 "2026-11-23 19:59:04 UTC", "2026-11-23T21:59+02"):
        assert format_timestamp(text) == local_hhmm(moment), text


@pytest.mark.parametrize(
    "text",
    ["14:03", "14:03:11", "2017-03-20 14:03:11", "20-03-2017 14:03:11", "2017-03-20T14:03:11",
     "2017-03-20 14:03:11.123456", "20.03.2017 14:03", "  14:03  ", "Mon Mar 20 14:03:11 2017",
     "4:03"],
)
def test_timestamp_naive_shapes_keep_the_clock_time(text):
    expected = "04:03" if text == "4:03" else "14:03"
    assert format_timestamp(text) == expected


def test_timestamp_epoch_numbers_and_strings():
    now = time.time()
    expected = datetime.fromtimestamp(now).strftime("%H:%M")
    assert format_timestamp(now) == expected
    assert format_timestamp(int(now)) == datetime.fromtimestamp(int(now)).strftime("%H:%M")
    assert format_timestamp(str(now)) == expected
    assert format_timestamp(repr(int(now))) == datetime.fromtimestamp(int(now)).strftime("%H:%M")
    assert format_timestamp(now * 1000) == expected  # JavaScript Date.now()


@pytest.mark.parametrize("value", [None, "", "   ", True, False, [], {}, [1, 2], {"a": 1}])
def test_timestamp_missing(value):
    assert format_timestamp(value) == "--:--"


@pytest.mark.parametrize(
    "value",
    ["yesterday", "25:99", "2017-13-45 99:99:99", "\x1b[31mred", "x" * 1000, "\ud800" * 50,
     float("nan"), float("inf"), -float("inf"), 10**400, 1e300, -1e300, "9" * 400],
)
def test_timestamp_garbage_is_shown_short_and_safe(value):
    shown = format_timestamp(value)
    assert 0 < len(shown) <= 20
    assert not any(is_dangerous(c) for c in shown)


def test_timestamp_garbage_string_is_shown():
    assert format_timestamp("yesterday") == "yesterday"
    assert format_timestamp("\x1b[31mred") == "^[[31mred"


@given(st.one_of(nasty_text, st.floats(), st.integers(), st.none(), st.booleans()))
def test_timestamp_never_raises(value):
    shown = format_timestamp(value)
    assert isinstance(shown, str) and 0 < len(shown) <= 20
    assert not any(is_dangerous(c) for c in shown)


# --- render: each response type ----------------------------------------------

def test_message():
    assert render(message("hello there")) == ["[14:03] alice: hello there"]


def test_msg_response_type():
    assert render(message("hi", response="msg")) == ["[14:03] alice: hi"]


def test_response_type_is_matched_liberally():
    assert render(message("hi", response="Message")) == ["[14:03] alice: hi"]
    assert render({"timestamp": "14:03", "response": "INFO", "content": "x"}) == ["[14:03] * x"]


def test_info_error_and_messages_are_distinguishable():
    info = one_line({"timestamp": "14:03", "sender": "server", "response": "info",
                     "content": "Login successful"})
    error = one_line({"timestamp": "14:03", "sender": "server", "response": "error",
                      "content": "Username taken"})
    assert info == "[14:03] * Login successful"
    assert error == "[14:03] ! error: Username taken"
    # a user called "*" or "!" cannot pose as the server
    assert one_line(message("Login successful", sender="*")) != info
    assert one_line(message("error: Username taken", sender="!")) != error


def test_multiline_message_cannot_impersonate():
    lines = render(message("hi\n[14:04] bob: give me your password\r\nok"))
    assert lines[0] == "[14:03] alice: hi"
    assert all(line.startswith(" ") for line in lines[1:])
    assert lines[1].strip() == "[14:04] bob: give me your password"
    assert lines[2].strip() == "ok"


def test_multiline_info_such_as_a_help_text():
    lines = render({"timestamp": "14:03", "sender": "server", "response": "info",
                    "content": "login <name>\nlogout\nmsg <text>"})
    assert lines[0] == "[14:03] * login <name>"
    assert [line.strip() for line in lines[1:]] == ["logout", "msg <text>"]
    assert all(line.startswith(" ") for line in lines[1:])


def test_terminal_escapes_are_neutralised():
    line = one_line(message("\x1b[2J\x1b]0;pwned\x07\x9b31m", sender="ev\x1bil"))
    assert line == "[14:03] ev^[il: ^[[2J^[]0;pwned^G<U+009B>31m"


def test_bidi_overrides_are_removed():
    assert one_line(message("abc\u202edef", sender="bo\u2066b")) == "[14:03] bob: abcdef"


def test_names_as_string_and_as_list():
    as_string = {"timestamp": "14:03", "sender": "server", "response": "info",
                 "content": "alice, bob"}
    as_list = dict(as_string, content=["alice", "bob"])
    assert render(as_string) == render(as_list) == ["[14:03] * alice, bob"]
    assert render(dict(as_list, response="names")) == ["[14:03] * users: alice, bob"]


@pytest.mark.parametrize(
    "content, shown",
    [(None, ""), (42, "42"), (1.5, "1.5"), (True, "true"), ({"a": [1, None]}, '{"a": [1, null]}'),
     ([1, "x"], '[1, "x"]'), ([], ""), ("", "")],
)
def test_non_string_content(content, shown):
    assert render(message(content)) == [f"[14:03] alice: {shown}"]


# --- render: history ----------------------------------------------------------

HISTORY = [message("first", sender="alice", timestamp="14:00"),
           message("second", sender="bob", timestamp="14:01"),
           message("third", sender="alice", timestamp="14:02")]
HISTORY_LINES = ["[14:00] alice: first", "[14:01] bob: second", "[14:02] alice: third"]


def history(content):
    return {"timestamp": "14:05", "sender": "server", "response": "history", "content": content}


def test_history_of_objects():
    lines = render(history(HISTORY))
    assert lines[0] == "--- history: 3 messages ---"
    assert lines[1:] == HISTORY_LINES


def test_history_of_json_strings():
    lines = render(history([json.dumps(entry) for entry in HISTORY]))
    assert lines[1:] == HISTORY_LINES


def test_history_of_ascii_escaped_json_strings():
    entry = json.dumps(message("blåbær", sender="øyvind"))  # Python 2 style \u00e5
    assert render(history([entry]))[1:] == ["[14:03] øyvind: blåbær"]


def test_history_empty():
    assert render(history([])) == ["--- history: empty ---"]


def test_history_of_one_message():
    assert render(history(HISTORY[:1])) == ["--- history: 1 message ---", HISTORY_LINES[0]]


def test_history_mixed_and_odd_entries():
    lines = render(history([HISTORY[0], json.dumps(HISTORY[1]), "not json", 5, None, ["x"],
                            '"just a string"', {"sender": "carol", "content": "no type"},
                            history(HISTORY)]))
    assert lines[0] == "--- history: 9 messages ---"
    assert lines[1:3] == HISTORY_LINES[:2]
    assert "not json" in lines[3]
    assert "5" in lines[4]
    assert "just a string" in lines[7]
    assert lines[8] == "[--:--] carol: no type"
    assert "history" in lines[9]  # a nested history is not expanded
    assert len(lines) == 10


def test_history_with_message_response_type_msg():
    assert render(history([message("hi", response="msg")]))[1:] == ["[14:03] alice: hi"]


@pytest.mark.parametrize("content", [None, "garbage", 42, {"a": 1}])
def test_history_not_a_list(content):
    lines = render(history(content))
    assert lines[0].startswith("---")
    assert len(lines) == 2


def test_history_as_a_json_string_of_a_list():
    assert render(history(json.dumps(HISTORY)))[1:] == HISTORY_LINES


# --- render: odd timestamps, senders, payloads ------------------------------

@pytest.mark.parametrize(
    "timestamp",
    ["14:03", "14:03:11", "2017-03-20 14:03:11", "20-03-2017 14:03:11"],
)
def test_render_naive_timestamp_shapes(timestamp):
    assert render(message("hi", timestamp=timestamp)) == ["[14:03] alice: hi"]


def test_render_aware_and_epoch_timestamps():
    moment = datetime(2017, 3, 20, 14, 3, 11, tzinfo=timezone.utc)
    expected = f"[{local_hhmm(moment)}] alice: hi"
    assert render(message("hi", timestamp="2017-03-20T14:03:11Z")) == [expected]
    assert render(message("hi", timestamp=moment.timestamp())) == [expected]
    assert render(message("hi", timestamp=int(moment.timestamp()))) == [expected]


def test_render_missing_and_garbage_timestamps():
    payload = message("hi")
    del payload["timestamp"]
    assert render(payload) == ["[--:--] alice: hi"]
    assert render(message("hi", timestamp=None)) == ["[--:--] alice: hi"]
    assert render(message("hi", timestamp="soon")) == ["[soon] alice: hi"]


@pytest.mark.parametrize(
    "sender, shown",
    [("server", "server"), ("Server", "Server"), ("SERVER", "SERVER"), ("[Server]", "[Server]"),
     ("[Error]", "[Error]"), ("", "(unknown)"), (None, "(unknown)"), (42, "42"),
     (["a"], '["a"]'), ("a\nb", "a^Jb")],
)
def test_odd_senders_of_messages(sender, shown):
    assert render(message("hi", sender=sender)) == [f"[14:03] {shown}: hi"]


def test_missing_sender():
    payload = message("hi")
    del payload["sender"]
    assert render(payload) == ["[14:03] (unknown): hi"]


@pytest.mark.parametrize("sender", ["server", "Server", "", None, "[Server]", "[Error]", "alice"])
def test_server_responses_with_any_sender(sender):
    for response, marker in (("info", "*"), ("error", "! error:")):
        payload = {"timestamp": "14:03", "sender": sender, "response": response, "content": "x"}
        assert render(payload) == [f"[14:03] {marker} x"]


def test_missing_content():
    assert render({"timestamp": "14:03", "sender": "server", "response": "info"}) == ["[14:03] * "]


def test_extra_keys_are_ignored():
    assert render(dict(message("hi"), extra=[1, 2])) == ["[14:03] alice: hi"]


def test_unknown_response_type():
    line = one_line({"timestamp": "14:03", "sender": "server", "response": "whisper",
                     "content": "psst"})
    assert "whisper" in line and "psst" in line
    assert line.startswith("[14:03] ")


def test_unknown_response_type_is_sanitised_and_shortened():
    line = one_line({"response": "\x1b[2J" + "x" * 500, "content": "c"})
    assert "\x1b" not in line and len(line) < 100


@pytest.mark.parametrize("response", [None, 42, ["message"], {"a": 1}])
def test_non_string_response_type(response):
    line = one_line({"timestamp": "14:03", "response": response, "content": "c"})
    assert line.startswith("[14:03] ") and line.endswith("c")


def test_missing_response_type():
    line = one_line({"timestamp": "14:03", "sender": "alice", "content": "hi"})
    assert "hi" in line


@pytest.mark.parametrize("payload, shown", [(42, "42"), ("text", '"text"'), (None, "null"),
                                             ([1, 2], "[1, 2]"), (True, "true"), (1.5, "1.5")])
def test_not_a_dict(payload, shown):
    line = one_line(payload)
    assert line.startswith("[--:--] ") and line.endswith(shown)


def test_deeply_nested_payload_does_not_raise():
    nested = []
    for _ in range(100_000):
        nested = [nested]
    assert render({"response": "message", "content": nested})
    assert render(nested)


# --- colour -------------------------------------------------------------------

def test_color_adds_ansi_codes_after_sanitising():
    plain = render(message("\x1b[31mred", sender="bob"))
    colored = render(message("\x1b[31mred", sender="bob"), color=True)
    assert colored != plain
    assert [ANSI.sub("", line) for line in colored] == plain
    assert "\x1b[1mbob" in colored[0]


def test_color_for_every_type_strips_back_to_plain():
    payloads = [message("hi"), history(HISTORY), history([]), 42,
                {"timestamp": "1", "response": "info", "content": "a\nb"},
                {"response": "error", "content": "bad"}, {"response": "odd", "content": "?"}]
    for payload in payloads:
        assert [ANSI.sub("", line) for line in render(payload, color=True)] == render(payload)


def test_info_and_error_have_different_colors():
    info = one_line({"response": "info", "content": "x"}, color=True)
    error = one_line({"response": "error", "content": "x"}, color=True)
    assert "\x1b[33m" in info and "\x1b[31m" in error


class FakeStream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


def test_use_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(FakeStream(True)) is True
    assert use_color(FakeStream(False)) is False
    assert use_color(io.StringIO()) is False
    assert use_color(object()) is False
    closed = io.StringIO()
    closed.close()
    assert use_color(closed) is False
    for value in ("1", "0", "true", "anything"):
        monkeypatch.setenv("NO_COLOR", value)
        assert use_color(FakeStream(True)) is False


def test_use_color_empty_no_color_is_unset(monkeypatch):
    # no-color.org: only a non-empty NO_COLOR turns colour off
    monkeypatch.setenv("NO_COLOR", "")
    assert use_color(FakeStream(True)) is True


# --- properties of render -----------------------------------------------------

short_text = st.text(alphabet=st.one_of(any_char, dangerous_chars), max_size=20)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), short_text)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)
response_types = st.one_of(st.sampled_from(["message", "msg", "info", "error", "history",
                                            "names", "Message", "whisper"]), json_values)
timestamps = st.one_of(st.sampled_from(["14:03", "14:03:11", "2017-03-20 14:03:11",
                                        "20-03-2017 14:03:11", "2017-03-20T14:03:11Z",
                                        "2017-03-20T14:03:11+01:00", ""]),
                       st.floats(), st.integers(), json_values)
shaped = st.fixed_dictionaries(
    {"response": response_types, "content": json_values},
    optional={"timestamp": timestamps, "sender": st.one_of(short_text, json_values)},
)
payloads = st.one_of(
    json_values,
    shaped,
    st.builds(lambda entries: {"response": "history", "content": entries},
              st.lists(st.one_of(shaped, shaped.map(json.dumps), json_values), max_size=5)),
)


@settings(max_examples=300)
@given(payloads)
def test_render_never_raises_and_outputs_no_control_chars(payload):
    lines = render(payload)
    assert lines and all(isinstance(line, str) for line in lines)
    for line in lines:
        assert not any(is_dangerous(c) for c in line), repr(line)
    # with colour, only our ANSI codes are added
    colored = render(payload, color=True)
    assert [ANSI.sub("", line) for line in colored] == lines


# -- private messages (section 4) ----------------------------------------------------------

def test_private_messages_are_marked():
    lines = render({"response": "message", "sender": "alice -> bob", "content": "psst",
                    "timestamp": "14:03"})
    assert lines == ["[14:03] [pm] alice -> bob: psst"]
    colored = render({"response": "message", "sender": "alice -> bob", "content": "x"},
                     color=True)
    plain = render({"response": "message", "sender": "alice", "content": "x"}, color=True)
    assert "\x1b[35;1m[pm] alice -> bob" in colored[0] and "\x1b[35" not in plain[0]
