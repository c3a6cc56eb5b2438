"""The full-screen client's screen, as pure data: conversation, status, input.

Theory of operation
-------------------
``Screen`` holds everything the terminal shows and decides what each key
does; ``frame()`` lays it out for a given size as rows of tagged spans,
which the curses view (``chat.client.fullscreen.view``) only has to paint. Nothing here
touches a terminal, so every rule is unit-tested on its own.

* The **conversation** (``Scrollback``) keeps the last ``MAX_LINES`` lines
  as spans (from ``chat.client.render.render_spans``: sanitised, tagged), each
  cut at ``MAX_LINE_CHARS`` characters. Lines are
  wrapped at the current width when shown (``chat.client.text_cells.wrap_spans``,
  cached per line), bottom-aligned above the status line.
* **Scrolling** is an offset in rows from the bottom. While scrolled up,
  each new line raises the offset by its rows, so what you read stays put,
  and counts as unread; reaching the bottom clears the count. The first
  line arriving while scrolled up, or while the terminal has lost the
  focus (``Screen.focus``: the person looked away), gets a marker line
  above it, so coming back shows where to read from; the marker stays
  until the next one replaces it. PgUp/PgDn
  move a page less one row; Ctrl-Home/Ctrl-End go to the top/bottom, and
  so do Home/End when the input line is empty.
* The **status line** shows the connection state, the server, your name,
  room and its user count, and "more below (N)" while scrolled up.
* The **input line** is ``chat.client.fullscreen.input_line.InputLine``, shown after a prompt
  and scrolled horizontally to keep the cursor visible.
* Your own name as a sender is tagged "self", mentions of it in others'
  messages "mention", so the view can highlight them.
"""

from __future__ import annotations

import collections
import re

from ..render import CONTINUATION_INDENT
from ..text_cells import clip, text_width, window, wrap_spans
from .input_line import InputLine

__all__ = ["AWAY_MARKER", "Frame", "Screen", "Scrollback", "MAX_LINE_CHARS", "MAX_LINES",
           "PROMPT", "UNREAD_MARKER"]

#: Lines of conversation kept for scrolling back.
MAX_LINES = 10_000
#: Characters of one line shown; the rest is counted, not kept (a peer may
#: send megabytes in one message: no one reads them, wrapping would crawl).
MAX_LINE_CHARS = 16 * 1024
PROMPT = "> "
UNREAD_MARKER = "--- new since you scrolled up ---"
AWAY_MARKER = "--- new since you looked away ---"


class _Line:
    __slots__ = ("spans", "indent", "_width", "_rows")

    def __init__(self, spans, indent):
        self.spans = spans
        self.indent = indent
        self._width = None
        self._rows = None

    def rows(self, width):
        if width != self._width:
            self._rows = wrap_spans(self.spans, width, self.indent)
            self._width = width
        return self._rows


class Scrollback:
    """Lines of conversation, a scroll offset (rows from the bottom), unread
    count (lines arrived since scrolled up or away)."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.lines: collections.deque = collections.deque(maxlen=max_lines)
        self.offset = 0
        self.unread = 0
        self.away = False           # the terminal lost the focus (focus reports)
        self.width = 80
        self.marker = None          # the unread marker line, if any

    def add(self, spans, indent: int = 0) -> None:
        line = _Line(spans, indent)
        if (self.offset or self.away) and not self.unread:
            self._mark_unread(UNREAD_MARKER if self.offset else AWAY_MARKER)
        self.lines.append(line)
        if self.offset:
            self.offset += len(line.rows(self.width))
        if self.offset or self.away:
            self.unread += 1

    def _mark_unread(self, text: str) -> None:
        """The first line arriving while scrolled up or away: a marker line
        before it (the previous marker goes), so coming back shows where to
        read from."""
        if self.marker is not None:
            try:
                self.lines.remove(self.marker)
            except ValueError:
                pass   # already scrolled out of the deque
        self.marker = _Line([("marker", text)], 0)
        self.lines.append(self.marker)
        if self.offset:
            self.offset += len(self.marker.rows(self.width))

    def focus(self, present: bool) -> None:
        """The terminal gained (``present``) or lost the focus. Back at the
        bottom, the lines that came meanwhile are read: the count restarts
        (the marker stays above them)."""
        self.away = not present
        if present and not self.offset:
            self.unread = 0

    def visible(self, height: int) -> list:
        """The rows shown in ``height`` rows, top to bottom (fewer when the
        conversation is short). Clamps the offset to the top."""
        wanted = self.offset + height
        rows: list = []            # bottom-up
        for line in reversed(self.lines):
            rows.extend(reversed(line.rows(self.width)))
            if len(rows) >= wanted:
                break
        if len(rows) < wanted:
            self.offset = max(0, len(rows) - height)
        shown = rows[self.offset:self.offset + height]
        shown.reverse()
        return shown

    def scroll(self, rows: int, height: int) -> None:
        """Up by ``rows`` (down when negative), within the conversation."""
        self.offset = max(0, self.offset + rows)
        self.visible(height)   # clamps at the top
        if self.offset == 0:
            self.unread = 0

    def top(self, height: int) -> None:
        total = sum(len(line.rows(self.width)) for line in self.lines)
        self.scroll(total, height)

    def bottom(self) -> None:
        self.offset = self.unread = 0


class Frame:
    """One screenful: conversation rows, the status line, the input line."""

    def __init__(self, rows, status, input_text, cursor):
        self.rows = rows            # list of rows, each a list of (tag, text)
        self.status = status        # list of (tag, text)
        self.input_text = input_text
        self.cursor = cursor        # the cursor's cell column on the input row


class Screen:
    """All the full-screen client shows, and what each key does to it."""

    def __init__(self, server: str = "", max_lines: int = MAX_LINES) -> None:
        self.log = Scrollback(max_lines)
        self.input = InputLine()
        self.server = server
        self.state = "connecting"
        self.name = None
        self.room = None
        self.users = None
        self.width, self.height = 80, 24

    # -- content -------------------------------------------------------

    def add(self, spans) -> None:
        """A line of conversation (spans from the renderer, or our own)."""
        spans = _cut(spans, MAX_LINE_CHARS)
        prefix = text_width("".join(text for _tag, text in spans[:-1]))
        if spans and spans[0] == ("", CONTINUATION_INDENT):
            # a line inside a multi-line text: its own indent is kept when wrapped
            body = "".join(text for _tag, text in spans[1:])
            prefix = len(CONTINUATION_INDENT) + len(body) - len(body.lstrip(" "))
        self.log.add(decorate(spans, self.name), prefix)

    def focus(self, present: bool) -> None:
        """A focus report from the terminal (see ``Scrollback.focus``)."""
        self.log.focus(present)

    def notice(self, text: str) -> None:
        """A line of the client's own (already sanitised)."""
        self.add([("notice", "-- " + text)])

    # -- keys ----------------------------------------------------------

    def key(self, key: str):
        """Apply one key (a name or text); return the input line's event."""
        page = max(1, self.conversation_height() - 1)
        empty = not self.input.text
        if key == "pgup":
            self.log.scroll(page, self.conversation_height())
        elif key == "pgdn":
            self.log.scroll(-page, self.conversation_height())
        elif key == "ctrl-home" or (key == "home" and empty):
            self.log.top(self.conversation_height())
        elif key == "ctrl-end" or (key == "end" and empty):
            self.log.bottom()
        else:
            return self.input.key(key)
        return None

    def paste(self, text: str) -> list:
        """Pasted text: every complete line is sent (as if typed and Enter
        pressed), the last piece stays on the input line."""
        events = []
        first, *rest = re.split(r"\r\n|\r|\n", text)
        self.input.insert(first)
        for piece in rest:
            event = self.input.key("enter")
            if event:
                events.append(event)
            self.input.insert(piece)
        return events

    # -- layout --------------------------------------------------------

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = max(1, width), max(1, height)
        self.log.width = self.width

    def conversation_height(self) -> int:
        return max(0, self.height - 2)

    def frame(self) -> Frame:
        rows = self.log.visible(self.conversation_height()) if self.height > 2 else []
        status = self.status_spans() if self.height > 1 else []
        shown, cursor = self.input.display()
        text, column, self.input.scroll = window(shown, cursor, self.input.scroll,
                                                 self.width - len(PROMPT))
        return Frame(rows, status, PROMPT + text, len(PROMPT) + column)

    def status_spans(self) -> list:
        parts = [self.state]   # the server last: the first thing cut when narrow
        if self.name:
            parts.append(self.name)
        if self.room:
            parts.append(self.room if self.users is None
                         else "%s (%d user%s)" % (self.room, self.users,
                                                  "" if self.users == 1 else "s"))
        parts.append(self.server)
        unread = self.log.unread
        more = ((" more below (%d new) " % unread if unread else " more below ")
                if self.log.offset else "")
        more, used = clip(more, self.width)
        main, _cells = clip(" " + " | ".join(parts) + " ", self.width - used)
        return [("status", main), ("status-more", more)] if more else [("status", main)]


def _cut(spans, limit):
    """``spans`` with at most ``limit`` characters, then how many were left out."""
    total = sum(len(text) for _tag, text in spans)
    if total <= limit:
        return spans
    kept, room = [], limit
    for tag, text in spans:
        if room > 0:
            kept.append((tag, text[:room]))
            room -= len(text[:room])
    return kept + [("odd", " [... %d more characters]" % (total - limit))]


def decorate(spans, own_name):
    """Tag our own name as sender "self" and mentions of it "mention"."""
    if not own_name:
        return spans
    mention = re.compile(r"(?<![A-Za-z0-9])(%s)(?![A-Za-z0-9])" % re.escape(own_name), re.I)
    result, after_sender = [], False
    for tag, text in spans:
        if tag == "sender":
            after_sender = text.lower() != own_name.lower()
            result.append(("self" if not after_sender else tag, text))
        elif tag == "" and after_sender and mention.search(text):
            for index, piece in enumerate(mention.split(text)):
                if piece:
                    result.append(("mention" if index % 2 else "", piece))
        else:
            result.append((tag, text))
    return result
