"""The terminal's encoding (chat.client.terminal_locale): typed text taken
exactly or refused, output replaced visibly cell for cell (issue 23, finding 3)."""

import pytest

from chat.client.terminal_locale import decode_typed, shown
from chat.client.text_cells import text_width


@pytest.mark.parametrize("encoding", ["utf-8", "ascii", "iso8859-1"])
def test_valid_utf8_is_taken_as_such_whatever_the_locale(encoding):
    assert decode_typed("typed: blåbær 日本".encode(), encoding) == "typed: blåbær 日本"


def test_a_latin1_terminal_is_read_in_its_encoding():
    assert decode_typed("blåbær".encode("latin-1"), "iso8859-1") == "blåbær"


@pytest.mark.parametrize("raw", [b"bl\xe5b\xe6r", b"\xff\xfe", b"cut \xc3"])
def test_bytes_that_are_not_text_are_refused_never_altered(raw):
    assert decode_typed(raw, "ascii") is None
    assert decode_typed(raw, "utf-8") is None


@pytest.mark.parametrize("text", ["blåbær", "日本 ok", "e\u0301", "👍 x"])
def test_what_ascii_cannot_show_is_a_question_mark_per_cell(text):
    out = shown(text, "ascii")
    assert out.isascii() and "?" in out and out.strip()
    assert text_width(out) >= text_width(text)
    assert shown(text, "utf-8") == text


def test_latin1_keeps_what_it_can_show():
    assert shown("blåbær 日", "iso8859-1") == "blåbær ??"
