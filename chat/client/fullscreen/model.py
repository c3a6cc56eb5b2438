"""The full-screen client's screen, as pure data: conversation, status, input.

Theory of operation
-------------------
``Screen`` holds everything the terminal shows and decides what each key
does; ``frame()`` lays it out for a given size as rows of tagged spans,
which the curses view (``chat.client.fullscreen.view``) only has to paint. Nothing here
touches a terminal, so every rule is unit-tested on its own.

* The **conversation** (``Scrollback``) keeps the last ``MAX_LINES`` lines
  as spans (from ``chat.client.lazy_render.render_lazy``: sanitised, tagged),
  each cut at ``MAX_LINE_CHARS`` characters, in blocks (one per payload)
  whose lines are made only when shown (issue 21: a flood of long
  messages costs what is kept and drawn). Lines are
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
#: A payload of more lines arriving while scrolled up is not measured row by
#: row (``Scrollback.add_block``): a flood would make every line it sends.
MEASURED_LINES = 100
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


class _Block:
    """The lines of one payload (any sequence of span lines: a list, or
    ``chat.client.lazy_render.TextLines``), made into ``_Line``s by ``make``
    only when shown or measured, each once. ``start``: the lines before it
    were dropped (the scrollback was full)."""

    __slots__ = ("source", "make", "start", "made", "gone")

    def __init__(self, source, make, made=None):
        self.source = source
        self.make = make
        self.start = 0
        self.made = made or {}
        self.gone = False           # dropped from the scrollback

    def __len__(self):
        return len(self.source) - self.start

    def line(self, index):
        line = self.made.get(index)
        if line is None:
            line = self.made[index] = self.make(self.source[index])
        return line

    def lines_reversed(self):
        for index in range(len(self.source) - 1, self.start - 1, -1):
            yield self.line(index)

    def drop(self, count):
        """Forget the first ``count`` lines kept."""
        start, self.start = self.start, self.start + count
        if self.made:
            for index in range(start, self.start):   # only the dropped ones: a
                self.made.pop(index, None)            # line a flood, not the block


class Scrollback:
    """Lines of conversation, a scroll offset (rows from the bottom), unread
    count (lines arrived since scrolled up or away).

    Lines come in blocks, one per payload, and a block's lines are made
    (sanitised, cut, decorated, wrapped) only when the screen shows or
    measures them (issue 21): a flood of long messages costs the lines
    kept and shown, not every line sent. While scrolled up, a new block is
    measured at once (its rows keep the view in place), unless it is longer
    than ``MEASURED_LINES`` and what you were reading has left the
    scrollback: then the view is *pinned* to the top of what is kept and
    shows it from the top down, measuring nothing until you scroll."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.blocks: collections.deque = collections.deque()
        self.count = 0              # lines kept, at most max_lines
        self.max_lines = max_lines
        self.offset = 0
        self.unread = 0
        self.away = False           # the terminal lost the focus (focus reports)
        self.width = 80
        self.marker = None          # the unread marker's block, if any
        self.pinned = False         # scrolled up past what is kept: showing the top
        self._top_line = None       # (block, index) of the top row's line, scrolled up

    @property
    def lines(self) -> list:
        """Every line kept, oldest first (each made: for tests and ``top``)."""
        lines = [line for block in reversed(self.blocks) for line in block.lines_reversed()]
        lines.reverse()
        return lines

    def add(self, spans, indent: int = 0) -> None:
        """One line, already made into spans."""
        self.add_block(_Block((None,), None, {0: _Line(spans, indent)}))

    def add_lines(self, source, make) -> None:
        """The lines of one payload: ``source[i]`` spans, ``make(spans)`` a
        ``_Line``, called only for the lines shown."""
        self.add_block(_Block(source, make))

    def add_block(self, block) -> None:
        if not len(block):
            return
        if (self.offset or self.away) and not self.unread:
            self._mark_unread(UNREAD_MARKER if self.offset else AWAY_MARKER)
        self._append(block)
        if self.offset and not self.pinned:
            if len(block) > MEASURED_LINES and not self._top_kept():
                self.pinned = True      # a flood took what you read: no measuring it
            else:                       # keep the view in place
                self.offset += sum(len(line.rows(self.width)) for line in block.lines_reversed())
        if self.offset or self.away:
            self.unread += len(block)

    def _append(self, block) -> None:
        self.blocks.append(block)
        self.count += len(block)
        while self.count > self.max_lines:
            oldest, excess = self.blocks[0], self.count - self.max_lines
            if len(oldest) <= excess:
                self.blocks.popleft().gone = True
                self.count -= len(oldest)
            else:
                oldest.drop(excess)
                self.count -= excess

    def _mark_unread(self, text: str) -> None:
        """The first line arriving while scrolled up or away: a marker line
        before it (the previous marker goes), so coming back shows where to
        read from."""
        if self.marker is not None:
            try:
                self.blocks.remove(self.marker)
                self.count -= len(self.marker)
            except ValueError:
                pass   # already scrolled out of the scrollback
        self.marker = _Block((None,), None, {0: _Line([("marker", text)], 0)})
        self._append(self.marker)
        if self.offset:
            self.offset += sum(len(line.rows(self.width)) for line in self.marker.lines_reversed())

    def _top_kept(self) -> bool:
        if self._top_line is None:
            return False
        block, index = self._top_line
        return not block.gone and index >= block.start

    def _total_rows(self) -> int:
        return sum(len(line.rows(self.width)) for line in self.lines)

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
        if self.pinned:
            top = self._from_the_top(height)
            if top is not None:
                return top
        wanted = self.offset + height
        rows: list = []            # bottom-up
        for block in reversed(self.blocks):
            for index in range(len(block.source) - 1, block.start - 1, -1):
                rows.extend(reversed(block.line(index).rows(self.width)))
                self._top_line = (block, index)
                if len(rows) >= wanted:
                    break
            if len(rows) >= wanted:
                break
        if len(rows) < wanted:
            self.offset = max(0, len(rows) - height)
        shown = rows[self.offset:self.offset + height]
        shown.reverse()
        return shown

    def _from_the_top(self, height: int):
        """Pinned: the first ``height`` rows kept, or None when everything
        fits (then the view is the whole conversation, not pinned)."""
        rows: list = []
        for block in self.blocks:
            for index in range(block.start, len(block.source)):
                rows.extend(block.line(index).rows(self.width))
                if len(rows) > height:
                    return rows[:height]
        self.pinned = False
        return None

    def _unpin(self, height: int) -> None:
        """Back to an offset in rows: measure everything kept (at most
        ``max_lines`` lines, once: it is a key the person pressed)."""
        if self.pinned:
            self.pinned = False
            self.offset = max(0, self._total_rows() - height)

    def scroll(self, rows: int, height: int) -> None:
        """Up by ``rows`` (down when negative), within the conversation."""
        self._unpin(height)
        self.offset = max(0, self.offset + rows)
        self.visible(height)   # clamps at the top
        if self.offset == 0:
            self.unread = 0

    def top(self, height: int) -> None:
        self.pinned = False
        self.scroll(self._total_rows(), height)

    def bottom(self) -> None:
        self.offset = self.unread = 0
        self.pinned = False


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
        self.log.add_block(_Block((None,), None, {0: _make_line(spans, self.name)}))

    def add_lines(self, source) -> None:
        """The lines of one payload (a sequence of span lines), made only
        when shown (``Scrollback``), decorated for the name we have now."""
        name = self.name
        self.log.add_lines(source, lambda spans: _make_line(spans, name))

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


def _make_line(spans, own_name):
    """A line of spans, cut, decorated, with the indent its wrapped rows keep."""
    spans = _cut(spans, MAX_LINE_CHARS)
    prefix = text_width("".join(text for _tag, text in spans[:-1]))
    if spans and spans[0] == ("", CONTINUATION_INDENT):
        # a line inside a multi-line text: its own indent is kept when wrapped
        body = "".join(text for _tag, text in spans[1:])
        prefix = len(CONTINUATION_INDENT) + len(body) - len(body.lstrip(" "))
    return _Line(decorate(spans, own_name), prefix)


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
