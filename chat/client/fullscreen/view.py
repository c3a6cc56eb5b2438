"""The curses view of the full-screen client: paint a ``Frame``, name keys.

Theory of operation
-------------------
The view knows curses and nothing of chat: ``draw`` paints a
``chat.client.fullscreen.model.Frame`` (conversation rows bottom-aligned, the status line
in reverse video, the input line with the cursor), ``translate`` turns
curses' special key codes into the model's key names. Every string painted
was sanitised by the renderer or is ours, and is cut to the row by cells
(``chat.client.text_cells``), never by characters, so wide characters cannot push
text into the next row.

Curses details handled here: the bottom-right cell cannot be written with
``addstr`` (the cursor would leave the screen: it raises), so the last row
is written with ``insstr``; colours are pairs set up once, one per tag, and
a name's colour is chosen by a stable hash of it (``crc32``) so it is the
same in every session; without colour (``NO_COLOR``, ``--no-color``, or a
terminal without colours) only attributes are used: bold, dim, reverse,
underline. What the terminal's encoding (the locale's) cannot show is
painted as "?" per cell (``terminal_locale.shown``), never blank.
"""

from __future__ import annotations

import curses
import zlib

from ..terminal_locale import shown
from ..text_cells import clip

__all__ = ["CursesView", "translate"]

_SPECIAL_KEYS = {
    curses.KEY_LEFT: "left", curses.KEY_RIGHT: "right", curses.KEY_UP: "up",
    curses.KEY_DOWN: "down", curses.KEY_HOME: "home", curses.KEY_END: "end",
    curses.KEY_BACKSPACE: "backspace", curses.KEY_DC: "delete", curses.KEY_PPAGE: "pgup",
    curses.KEY_NPAGE: "pgdn", curses.KEY_ENTER: "enter", curses.KEY_RESIZE: "resize",
    curses.KEY_BTAB: "ignored",
}
#: Extended key names (terminfo's kHOM5 is Ctrl-Home, 3 Alt, 6 Ctrl-Shift...).
_NAMED_KEYS = {b"kHOM5": "ctrl-home", b"kEND5": "ctrl-end", b"kHOM3": "ctrl-home",
               b"kEND3": "ctrl-end", b"kPRV5": "pgup", b"kNXT5": "pgdn",
               b"kLFT5": "left", b"kRIT5": "right"}

#: Name colours: readable on dark and light backgrounds, none of them red
#: (errors) or the status line's.
_NAME_COLORS = (curses.COLOR_GREEN, curses.COLOR_BLUE, curses.COLOR_MAGENTA,
                curses.COLOR_CYAN, curses.COLOR_YELLOW)
#: tag -> (foreground colour or None, attributes)
_STYLES = {
    "stamp": (None, curses.A_DIM), "self": (None, curses.A_BOLD | curses.A_UNDERLINE),
    "mention": (curses.COLOR_YELLOW, curses.A_BOLD | curses.A_REVERSE),
    "pm": (curses.COLOR_MAGENTA, curses.A_BOLD), "info": (curses.COLOR_YELLOW, 0),
    "error": (curses.COLOR_RED, curses.A_BOLD), "header": (curses.COLOR_CYAN, 0),
    "odd": (curses.COLOR_MAGENTA, 0), "notice": (None, curses.A_DIM),
    "hint": (curses.COLOR_CYAN, 0), "echo": (None, curses.A_DIM),
    "date": (curses.COLOR_CYAN, curses.A_BOLD), "marker": (curses.COLOR_RED, 0),
    "status": (None, curses.A_REVERSE), "status-more": (None, curses.A_REVERSE | curses.A_BOLD),
}


def translate(code: int) -> str:
    """The model's name for a curses special key code ("ignored" if none)."""
    name = _SPECIAL_KEYS.get(code)
    if name is None:
        try:
            name = _NAMED_KEYS.get(curses.keyname(code), "ignored")
        except (ValueError, curses.error):
            name = "ignored"
    return name


class CursesView:
    """Paints frames on a curses window."""

    def __init__(self, window, color: bool, encoding: str = "utf-8") -> None:
        self.window = window
        self.encoding = encoding    # the terminal's: what it cannot show is painted "?"
        self._pairs: dict = {}
        self.color = color and curses.has_colors()
        if self.color:
            curses.start_color()
            try:
                curses.use_default_colors()
                self._background = -1
            except curses.error:
                self._background = curses.COLOR_BLACK

    def size(self) -> tuple[int, int]:
        """(width, height) of the window."""
        height, width = self.window.getmaxyx()
        return width, height

    def draw(self, frame) -> None:
        width, height = self.size()
        self.window.erase()
        conversation = max(0, height - 2)
        top = conversation - len(frame.rows)
        for index, row in enumerate(frame.rows):
            self._paint(top + index, row, width)
        if height > 1:
            self._paint(height - 2, frame.status, width, fill="status")
        self._paint(height - 1, [("", frame.input_text)], width)
        try:
            self.window.move(height - 1, min(frame.cursor, width - 1))
        except curses.error:
            pass
        self.window.noutrefresh()
        curses.doupdate()

    def _paint(self, y: int, spans, width: int, fill: str | None = None) -> None:
        last_row = y == self.window.getmaxyx()[0] - 1
        x = 0
        if fill is not None:
            spans = list(spans) + [(fill, " " * width)]
        for tag, text in spans:
            if x >= width:
                break
            text, cells = clip(shown(text, self.encoding), width - x)
            if not text:
                continue
            try:
                if last_row:
                    self.window.insstr(y, x, text, self._attr(tag, text))
                else:
                    self.window.addstr(y, x, text, self._attr(tag, text))
            except curses.error:
                pass
            x += cells

    def _attr(self, tag: str, text: str) -> int:
        if tag == "sender":
            color = _NAME_COLORS[zlib.crc32(text.lower().encode("utf-8")) % len(_NAME_COLORS)]
            return self._pair(color) | curses.A_BOLD
        color, attr = _STYLES.get(tag, (None, 0))
        return attr | (self._pair(color) if color is not None else 0)

    def _pair(self, color: int) -> int:
        if not self.color:
            return 0
        pair = self._pairs.get(color)
        if pair is None:
            pair = len(self._pairs) + 1
            try:
                curses.init_pair(pair, color, self._background)
            except curses.error:
                return 0
            self._pairs[color] = pair
        return curses.color_pair(pair)
