"""The full-screen client's input line: editing, history, completion, paste.

Theory of operation
-------------------
Pure state, no terminal. Keys arrive as names ("left", "ctrl-w", "enter"
...; ``key_name`` maps the characters a terminal sends in cbreak mode, and
the curses view maps its special key codes) or as printable text to insert.
``InputLine.key`` applies one and returns what the glue must do: nothing,
``("send", line)`` for Enter, or ``("eof",)`` for Ctrl-D on an empty line.

* Editing is readline's: insert anywhere, Left/Right (Ctrl-B/F), Home/End
  (Ctrl-A/E), Backspace, Delete (Ctrl-D when not empty), Ctrl-U (to the
  start), Ctrl-K (to the end), Ctrl-W (the word before the cursor).
* Up/Down (Ctrl-P/N) walk through the lines sent; the line being typed is
  kept and comes back below the newest. Lines holding a password are not
  remembered.
* Tab completes the word before the cursor: a leading ``/word`` against
  the commands, ``#room`` against rooms seen, anything else against names
  seen. Pressing Tab again cycles through the candidates.
* ``display`` is what the screen shows: passwords masked as ``********``
  (``chat.client.commands.secret_spans``), with the cursor moved along.
* ``PasteParser`` finds bracketed paste (``ESC [200~`` ... ``ESC [201~``) in
  the stream of characters: the terminal sends it as plain characters. It
  also finds the terminal's focus reports (``ESC [I`` focus in, ``ESC [O``
  focus out, once ``ESC [?1004h`` turned them on): events, never text,
  however the reads split them.
"""

from __future__ import annotations

import re

from ..commands import MASK, SLASH_COMMANDS, secret_spans

__all__ = ["FOCUS_IN", "FOCUS_OUT", "InputLine", "PasteParser", "key_name"]

#: Lines remembered for Up/Down.
MAX_HISTORY = 500
#: Characters held by the input line (a paste beyond it is cut).
MAX_INPUT = 64 * 1024

_CONTROL_KEYS = {
    "\x01": "ctrl-a", "\x02": "left", "\x04": "ctrl-d", "\x05": "ctrl-e", "\x06": "right",
    "\x08": "backspace", "\x7f": "backspace", "\t": "tab", "\n": "enter", "\r": "enter",
    "\x0b": "ctrl-k", "\x0c": "ctrl-l", "\x0e": "down", "\x10": "up", "\x15": "ctrl-u",
    "\x17": "ctrl-w",
}
_WORD_BEFORE = re.compile(r"\S*$")
#: ``PasteParser`` items for the terminal's focus reports.
FOCUS_IN, FOCUS_OUT = ("focus", True), ("focus", False)
_FOCUS_REPORTS = {"\x1b[I": FOCUS_IN, "\x1b[O": FOCUS_OUT}


def key_name(char: str) -> str:
    """The name of a control character's key; printable text is itself;
    other control characters are "ignored"."""
    name = _CONTROL_KEYS.get(char)
    if name is not None:
        return name
    if len(char) == 1 and (ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0):
        return "ignored"
    return char


def printable(text: str) -> str:
    """Text fit for the input line: tabs as spaces, other controls dropped."""
    text = text.replace("\t", " ")
    return "".join(char for char in text if key_name(char) == char)


class InputLine:
    """The line being typed, its cursor, and the lines sent before."""

    def __init__(self) -> None:
        self.text = ""
        self.cursor = 0
        self.scroll = 0                 # first character shown (the view's business)
        self.history: list[str] = []
        self._browse = None             # index into history while walking it
        self._draft = ""
        self._completion = None         # (start, candidates, index) while cycling
        self.candidates = lambda prefix: []

    # -- editing ---------------------------------------------------------

    def insert(self, text: str) -> None:
        text = printable(text)[: MAX_INPUT - len(self.text)]
        self.text = self.text[: self.cursor] + text + self.text[self.cursor:]
        self.cursor += len(text)

    def key(self, key: str):
        """Apply one key; return None, ("send", line) or ("eof",)."""
        if key != "tab":
            self._completion = None
        handler = _KEYS.get(key)
        if handler is not None:
            return handler(self)
        if key_name(key) == key and len(key) == 1:
            self.insert(key)
        return None

    def _enter(self):
        line, self.text, self.cursor = self.text, "", 0
        self._browse = None
        if line.strip() and not secret_spans(line):
            if not self.history or self.history[-1] != line:
                self.history.append(line)
                del self.history[:-MAX_HISTORY]
        return ("send", line) if line.strip() else None

    def _ctrl_d(self):
        if not self.text:
            return ("eof",)
        self._delete()
        return None

    def _left(self):
        self.cursor = max(0, self.cursor - 1)

    def _right(self):
        self.cursor = min(len(self.text), self.cursor + 1)

    def _home(self):
        self.cursor = 0

    def _end(self):
        self.cursor = len(self.text)

    def _backspace(self):
        if self.cursor:
            self.text = self.text[: self.cursor - 1] + self.text[self.cursor:]
            self.cursor -= 1

    def _delete(self):
        self.text = self.text[: self.cursor] + self.text[self.cursor + 1:]

    def _kill_start(self):
        self.text, self.cursor = self.text[self.cursor:], 0

    def _kill_end(self):
        self.text = self.text[: self.cursor]

    def _kill_word(self):
        before = self.text[: self.cursor].rstrip(" ")
        start = len(before) - len(_WORD_BEFORE.search(before).group())
        self.text = self.text[:start] + self.text[self.cursor:]
        self.cursor = start

    # -- history ---------------------------------------------------------------

    def _up(self):
        if not self.history or self._browse == 0:
            return
        if self._browse is None:
            self._draft, self._browse = self.text, len(self.history)
        self._browse -= 1
        self._show(self.history[self._browse])

    def _down(self):
        if self._browse is None:
            return
        self._browse += 1
        if self._browse >= len(self.history):
            self._browse = None
            self._show(self._draft)
        else:
            self._show(self.history[self._browse])

    def _show(self, text):
        self.text, self.cursor = text, len(text)

    # -- completion ---------------------------------------------------------------

    def _tab(self):
        if self._completion is None:
            word = _WORD_BEFORE.search(self.text[: self.cursor]).group()
            start = self.cursor - len(word)
            if not word:
                return
            if word.startswith("/") and start == 0:
                options = [c for c in SLASH_COMMANDS if c.startswith(word.lower())]
            else:
                options = sorted(self.candidates(word), key=str.lower)
            if not options:
                return
            self._completion = (start, options, -1)
        start, options, index = self._completion
        index = (index + 1) % len(options)
        self._completion = (start, options, index)
        rest = self.text[self.cursor:]
        choice = options[index] + ("" if rest.startswith(" ") else " ")
        self.text = self.text[:start] + choice + rest
        self.cursor = start + len(choice)

    # -- what the screen shows ---------------------------------------------------

    def display(self) -> tuple[str, int]:
        """(the text as shown, the cursor's index in it): passwords masked."""
        shown, cursor, shift = self.text, self.cursor, 0
        for start, end in secret_spans(self.text):
            start, end = start + shift, end + shift
            shown = shown[:start] + MASK + shown[end:]
            if cursor > start:
                cursor = start + len(MASK) if cursor <= end else cursor + len(MASK) - (end - start)
            shift += len(MASK) - (end - start)
        return shown, cursor


_KEYS = {
    "enter": InputLine._enter, "ctrl-d": InputLine._ctrl_d, "left": InputLine._left,
    "right": InputLine._right, "home": InputLine._home, "ctrl-a": InputLine._home,
    "end": InputLine._end, "ctrl-e": InputLine._end, "backspace": InputLine._backspace,
    "delete": InputLine._delete, "ctrl-u": InputLine._kill_start,
    "ctrl-k": InputLine._kill_end, "ctrl-w": InputLine._kill_word, "up": InputLine._up,
    "down": InputLine._down, "tab": InputLine._tab,
}


class PasteParser:
    """Split a stream of keys into keys and bracketed pastes.

    ``feed(key)`` returns a list of items: keys (str or int) to handle one by
    one, ``("paste", text)`` for each complete paste, and ``FOCUS_IN`` or
    ``FOCUS_OUT`` for a focus report (outside a paste). Other escape
    sequences curses did not know are dropped (``ESC [ ... final``), and
    Alt+key (``ESC key``) is the key alone.
    """

    START, END = "\x1b[200~", "\x1b[201~"

    def __init__(self) -> None:
        self._pending = ""      # a possible marker, seen in part
        self._paste = None      # the text of a paste in progress
        self._skipping = False  # inside an unknown CSI sequence

    def feed(self, key) -> list:
        if not isinstance(key, str):
            if self._paste is not None:
                return []       # no special keys inside a paste
            self._pending, self._skipping = "", False
            return [key]
        if self._skipping:
            self._skipping = not ("@" <= key <= "~")
            return []
        marker = self.END if self._paste is not None else self.START
        if self._pending or key == "\x1b":
            if self._pending and key == "\x1b":
                return self._mismatch("") + self.feed(key)   # a new sequence starts
            self._pending += key
            if self._paste is None and self._pending in _FOCUS_REPORTS:
                report, self._pending = _FOCUS_REPORTS[self._pending], ""
                return [report]
            if not marker.startswith(self._pending):
                return self._mismatch(key)
            if self._pending != marker:
                return []
            self._pending = ""
            if self._paste is None:
                self._paste = ""
                return []
            text, self._paste = self._paste, None
            return [("paste", text)]
        if self._paste is not None:
            if len(self._paste) < MAX_INPUT * 16:
                self._paste += key
            return []
        return [key]

    def _mismatch(self, key: str) -> list:
        """The pending characters were not a marker after all."""
        pending, self._pending = self._pending, ""
        if self._paste is not None:
            self._paste += pending
            return []
        if pending.startswith("\x1b[") and len(pending) > 2:
            self._skipping = bool(key) and not "@" <= key <= "~"   # an unknown CSI: drop it
            return []
        return [pending[1:]] if len(pending) > 1 and pending[1] != "[" else []
