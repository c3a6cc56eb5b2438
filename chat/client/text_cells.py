"""Terminal cells: how wide text is on screen, and how a line wraps.

Theory of operation
-------------------
A terminal draws most characters in one cell, East Asian wide and
fullwidth characters (CJK, most emoji: ``east_asian_width`` W or F) in two,
and combining marks, U+200B ZERO WIDTH SPACE and U+200D ZERO WIDTH JOINER in
none (they join the previous character). ncurses advances the cursor the
same way, so counting cells here is what keeps the cursor under the right
character and stops a line from spilling into the next row.

Wrapping works on tagged spans (``chat.client.render.Span``): the tags survive the
cut, so styling is decided once, by the renderer, not per row. A line is
cut at the last space that fits, or anywhere when a word is longer than a
row; continuation rows start with an indent (the width of the line's
prefix, "[14:03] alice: ", capped at a third of the row) so the text stays
in one column. A wide character never straddles the edge: it moves to the
next row whole.

Everything here is pure and fed only sanitised text (no control
characters), so widths are never negative.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["char_width", "clip", "text_width", "wrap_spans", "window"]

_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")


@lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    """Cells taken by one character: 0, 1 or 2."""
    if char in _ZERO_WIDTH or unicodedata.combining(char):
        return 0
    category = unicodedata.category(char)
    if category in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Cells taken by ``text``."""
    if text.isascii():
        return len(text)
    return sum(char_width(char) for char in text)


def clip(text: str, cells: int) -> tuple[str, int]:
    """The longest start of ``text`` within ``cells`` cells, and its width."""
    used = 0
    for index, char in enumerate(text):
        width = char_width(char)
        if used + width > cells:
            return text[:index], used
        used += width
    return text, used


def wrap_spans(spans: list[tuple[str, str]], width: int,
               indent: int = 0) -> list[list[tuple[str, str]]]:
    """Cut a line of spans into rows of at most ``width`` cells.

    Continuation rows begin with ``indent`` spaces (at most a third of the
    width). Returns at least one row (an empty line is one empty row).
    """
    width = max(1, width)
    text = "".join(text for _tag, text in spans)
    if text_width(text) <= width:
        return [[span for span in spans if span[1]]]      # the common case: it fits
    indent = min(max(0, indent), width // 3)
    rows = []
    for number, (start, end) in enumerate(_row_ranges(text, width, indent)):
        row = [("", " " * indent)] if number and indent else []
        offset = 0
        for tag, piece in spans:
            low, high = max(start, offset), min(end, offset + len(piece))
            if low < high:
                row.append((tag, piece[low - offset:high - offset]))
            offset += len(piece)
        rows.append(row)
    return rows


def _row_ranges(text: str, width: int, indent: int) -> list[tuple[int, int]]:
    """(start, end) of each row's characters: cut after the last space that
    fits, or anywhere in a word longer than the row; continuation rows skip
    their leading spaces (the indent stands for them)."""
    ranges = []
    start, room, length = 0, width, len(text)
    plain = text.isascii()                # one cell per character: no counting
    while start < length:
        if plain:
            end = min(length, start + room)
        else:
            end, used = start, 0
            while end < length and used + char_width(text[end]) <= room:
                used += char_width(text[end])
                end += 1
        if end < length and text[end] != " ":
            space = text.rfind(" ", start + 1, end)
            if space > start:
                end = space + 1
        end = max(end, start + 1)         # a character wider than the row
        ranges.append((start, end))
        start, room = end, width - indent
        while start < length and text[start] == " ":
            start += 1
    return ranges


def window(text: str, cursor: int, start: int, width: int) -> tuple[str, int, int]:
    """The part of a one-row ``text`` shown in ``width`` cells, scrolled so
    that ``cursor`` (a character index) is visible.

    ``start`` is the first character shown last time (the view scrolls only
    when the cursor leaves it). Returns (shown text, the cursor's cell
    column, the new start).
    """
    width = max(1, width)
    cursor = min(max(0, cursor), len(text))
    start = min(max(0, start), cursor)
    # The cursor needs its own cell at the end: at most width - 1 before it.
    while start < cursor and text_width(text[start:cursor]) > width - 1:
        start += 1
    # ... and no further than needed: after the window grew back (a resize),
    # text scrolled out on the left comes back instead of empty cells.
    while start > 0 and text_width(text[start - 1:]) <= width - 1:
        start -= 1
    shown, used = [], 0
    for char in text[start:]:
        cells = char_width(char)
        if used + cells > width:
            break
        shown.append(char)
        used += cells
    return "".join(shown), text_width(text[start:cursor]), start
