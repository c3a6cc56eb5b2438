"""Live messages rendered lazily, for the full-screen scrollback (issue 21).

Theory of operation
-------------------
A peer can send a message of thousands of lines, and a hostile server a
thousand of them: splitting, sanitising and wrapping every line costs
seconds of CPU, while the scrollback keeps 10 000 lines and the screen
shows a few dozen. ``render_lazy`` returns a message's lines as a
sequence (``TextLines``) whose length is known at once (a count of
newlines, in C) and whose items are rendered only when asked for, each
exactly as ``render.render_spans`` would render it (the same prefix, the
same line breaks, ``sanitize`` on each line, continuation lines indented).
The scrollback (``fullscreen.model.Scrollback``) asks only for the lines
it keeps and draws. Every other payload is rendered at once, as before
(``history`` is already bounded by ``render.HISTORY_LINES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .render import CONTINUATION_INDENT, message_prefix, render_spans, response_kind, sanitize

__all__ = ["TextLines", "render_lazy"]


class TextLines(Sequence):
    """``before`` (span lines, e.g. a date line), then ``prefix`` and the
    first line of ``text``, then its other lines indented; each rendered on
    demand. The text is split once, the first time a line is asked for."""

    def __init__(self, before: list, prefix: list, text: str) -> None:
        self.before = before
        self.prefix = prefix
        self.text = text
        self._count = text.count("\n") + 1   # as many lines as ``\r?\n`` splits into
        self._pieces = None

    def __len__(self) -> int:
        return len(self.before) + self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index < len(self.before):
            return self.before[index]
        number = index - len(self.before)
        if self._pieces is None:
            self._pieces = self.text.split("\n")
        piece = self._pieces[number]
        if number < self._count - 1 and piece.endswith("\r"):
            piece = piece[:-1]                   # "\r\n" is one line break
        if number == 0:
            return self.prefix + [("", sanitize(piece))]
        return [("", CONTINUATION_INDENT), ("", sanitize(piece))]


def render_lazy(payload: Any, days=None) -> Sequence:
    """``render.render_spans(payload, days)``, as a sequence whose lines a
    live message renders only when asked for."""
    content = payload.get("content") if isinstance(payload, dict) else None
    if response_kind(payload) not in ("message", "msg") or not isinstance(content, str):
        return render_spans(payload, days=days)
    prefix = message_prefix(payload)
    before = []
    if days is not None:
        stamp = payload.get("timestamp")
        before = days(stamp)
        prefix = days.dated([prefix], stamp)[0]
    return TextLines(before, prefix, content)
