"""The full-screen client: the client engine behind a curses screen.

(Past 400 lines: the glue of the screen's features, keys, paste, locale,
bell and goodbye, each small and each reaching the same curses screen;
the pure parts already live in ``model``, ``input_line``, ``view``,
``attention`` and ``replay``.)

Theory of operation
-------------------
``FullScreenClient`` is a ``chat.client.engine.ClientEngine``, as the line
client is (same connection, pacing, life cycle and exit statuses), with
its own input and output:

* **input**: the loop still watches stdin, but a wake reads keys with
  ``get_wch`` (window in ``nodelay`` mode: the selector does the waiting)
  until ``curses.error``, since one wake can carry a whole paste. Keys go
  through ``PasteParser`` (bracketed paste and focus reports, both
  switched on at start and off at exit) to the pure ``Screen``: a focus
  report only tells the screen the person looked away or came back (the
  unread marker), it is never a key; a line sent with Enter, or each line
  of a paste, joins the same send queue the line client fills from stdin,
  so pasted lines are paced exactly as piped ones. Ctrl-D on an empty line
  is end of input. If a wake brings no key while stdin stays readable with
  nothing to read (``FIONREAD`` 0), the terminal is gone: end of input,
  which logs out, and stdin is no longer watched (no busy loop). SIGHUP
  (the terminal closed, when it is our controlling terminal) is a Ctrl-C.
* **output**: payloads become lines of tagged spans (``render_lazy``:
  sanitised, a live message's lines only once shown) in the ``Screen``; the client's notices and hints become dim
  lines there too. The screen is painted once per loop pass at most
  (``at_end_of_pass``), however many payloads arrived.
* **resizing**: SIGWINCH reaches the loop through its signal wakeup fd (a
  Python handler, which replaces ncurses' own); the handler asks the
  kernel for the size and tells curses (``resizeterm``), then repaints.
* **the terminal is always restored**: ``run_fullscreen`` sets up curses
  (locale first, cbreak, noecho, keypad, a 25 ms Esc delay) and undoes all
  of it in ``finally``, whatever happened. While the screen is up, fd 2 is
  redirected to a temporary file (a stray warning or log line would
  scribble over the screen) and replayed to the real stderr afterwards,
  with the client's last status lines when it exits with an error.
"""

from __future__ import annotations

import collections
import curses
import fcntl
import locale
import os
import select
import signal
import sys
import tempfile
import termios
import traceback

from ..engine import ClientEngine
from ..config import EXIT_FAILURE, EXIT_INTERRUPTED
from ..stdin_lines import MAX_QUEUED_LINES
from ..commands import SendRequest, mask_secrets
from ..dates import DayLines
from ..relogin import backoff
from ..lazy_render import render_lazy
from ..render import response_kind, sanitize, use_color
from ..terminal_locale import LOCALE_WARNING, UTF8
from .attention import calls_me
from .input_line import FOCUS_IN, FOCUS_OUT, PasteParser, key_name
from .model import Screen
from .replay import SeenMessages
from .view import CursesView, translate

__all__ = ["FullScreenClient", "fullscreen_possible", "run_fullscreen"]

#: Milliseconds ncurses waits after a lone Esc for the rest of a sequence.
ESC_DELAY_MS = 25
BRACKETED_PASTE_ON = b"\x1b[?2004h"
BRACKETED_PASTE_OFF = b"\x1b[?2004l"
#: Focus reports (xterm's mode 1004): ESC [I and ESC [O when the window
#: gains or loses the focus; terminals without them ignore the request.
FOCUS_REPORTS_ON = b"\x1b[?1004h"
FOCUS_REPORTS_OFF = b"\x1b[?1004l"
#: A paste of more lines than this waits for Enter before it goes out.
PASTE_CONFIRM_LINES = 5


def fullscreen_possible(stdin_fd: int = 0, stdout_fd: int = 1) -> bool:
    """True at a terminal that can draw: stdin and stdout ttys, TERM set, not dumb."""
    term = os.environ.get("TERM", "")
    try:
        return os.isatty(stdin_fd) and os.isatty(stdout_fd) and term not in ("", "dumb")
    except OSError:
        return False


class FullScreenClient(ClientEngine):
    """A ``ClientEngine`` reading keys and drawing a ``Screen``."""

    IRC_HABITS = True

    def __init__(self, loop, config, window, stdin_fd=0):
        super().__init__(loop, config, stdin_fd=stdin_fd)
        self.screen = Screen(sanitize("%s:%s" % (config.host, config.port)))
        color = use_color(sys.stdout) if config.color is None else config.color
        self.view = CursesView(window, color, config.encoding)
        self.window = window
        self.paste = PasteParser()
        self.screen.input.candidates = self._candidates
        self.recent = collections.deque(maxlen=1)   # the last status line: why we exit
        self.failure = None                         # a bug of ours, shown at exit
        self._redraw_pending = False
        self._terminal_gone = False
        self._dropping = False                      # lines typed into a full queue
        self._ended = None                          # closed unasked: exit status, after a key
        self.days = DayLines()                      # date lines where the day changes
        self._held_paste = None                     # a long paste's lines, until Enter
        self.seen = SeenMessages()                  # a history replayed shows only news
        self._attempts = 0                          # reconnections since the last connect
        self._connected_once = False
        self._skip_lobby_history = False            # reconnecting into a room: its history only
        self.screen.resize(*self.view.size())
        if config.encoding != UTF8:
            self.screen.notice(LOCALE_WARNING % config.encoding)
        self.redraw()

    # -- output -------------------------------------------------------------

    def display(self, payload):
        def add():
            if self._skip_lobby_history and response_kind(payload) in ("history", "error"):
                self._skip_lobby_history = False    # the lobby's, before the rejoin
                return
            shown = self.seen.filter(payload)
            if shown is None:
                return
            self.screen.add_lines(render_lazy(shown, days=self.days))   # made when shown
            if self.config.bell and calls_me(shown, self.session.name):
                curses.beep()
            self.redraw()
        self._guarded(add)

    def notice(self, text):
        self.recent.append("-- " + sanitize(text))
        self.screen.notice(sanitize(text))
        self.redraw()

    def hint(self, text):
        for line in text.splitlines():
            self.screen.add([("hint", sanitize(line))])
        self.redraw()

    def error_line(self, text):
        self.recent.append("chat.client: " + sanitize(text))
        self.screen.notice(sanitize(text))
        self.redraw()

    def session_changed(self, before):
        """Name or room changed. The status line wants the room's user count:
        when the server's answer did not say it (a login; a join on a
        server that gives no count; a kick or ban, which leaves it unknown),
        ask with a ``names``, as IRC clients do."""
        session = self.session
        if session.name and session.users is None and (before[:2] != session.summary()[:2]
                                                       or before[2] is not None):
            self.queue.append("names")
            self.loop.call_soon(self._pump)   # after this payload, paced like any line
        self._sync_status()

    def connection_made(self, transport):
        super().connection_made(transport)
        self._connected_once = True
        self._attempts = 0
        self._sync_status()

    def connection_lost(self, exc):
        super().connection_lost(exc)
        self._sync_status()

    def connection_ended(self, status):
        """Closed unasked (kicked, banned, shut down...): the reason stays on
        screen until a key is pressed, then is printed after the screen."""
        if self.leaving or self._terminal_gone or self.finished:
            self.finish(status)
            return
        if (self.config.reconnect_delay > 0 and self._connected_once and not self.last_was_error
                and self.session.login_content):
            delay = backoff(self.config.reconnect_delay, self.config.reconnect_max,
                            self._attempts)
            self._attempts += 1
            self.notice("reconnecting in %gs (attempt %d); Ctrl-C quits" % (delay, self._attempts))
            self.loop.call_later(delay, self._reconnect)
            return
        self._ended = status
        self.screen.notice("press a key to quit")
        self.redraw()

    def _reconnect(self):
        """Backoff over: connect again, log in, rejoin (``ClientEngine.reconnect``)."""
        if self.finished or self.transport is not None:
            return
        self._skip_lobby_history = (self.session.room or "#lobby").lower() != "#lobby"
        self.screen.state = "connecting"
        self.reconnect()

    def _sync_status(self):
        screen, session = self.screen, self.session
        if self.transport is not None:
            screen.state = "leaving" if self.logout_sent else "connected"
            # the padlock, or say it is not there (issue 18)
            screen.state = ("\U0001F512 " + screen.state if self.secure
                            else screen.state + " (no TLS)")
        elif screen.state != "connecting":
            screen.state = "disconnected"
        screen.name = sanitize(session.name) if session.name else None   # typed, yet
        screen.room, screen.users = session.room, session.users
        self.redraw()

    def redraw(self):
        """Paint at the end of this loop pass (once, however many changes)."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.loop.at_end_of_pass(self._paint)

    def _paint(self):
        self._redraw_pending = False
        if self._terminal_gone or self.failure is not None:
            return
        self._guarded(lambda: self.view.draw(self.screen.frame()))

    # -- input --------------------------------------------------------------

    def _read_stdin(self):
        self._guarded(self._read_keys)

    def _read_keys(self):
        got_key = False
        while not self.finished and self._stdin_mode is not None:
            try:
                key = self.window.get_wch()
            except curses.error:
                break
            got_key = True
            for item in self.paste.feed(key):
                if self._ended is not None and item not in (FOCUS_IN, FOCUS_OUT):
                    self.finish(self._ended)    # the reason was read: go
                    return
                self._handle(item)
        if not got_key and self._stdin_gone():
            self._terminal_gone = True
            if self._ended is not None:
                self.finish(self._ended)
                return
            self._end_of_input()
            self._pump()
        self.redraw()

    def _stdin_gone(self):
        """Readable with nothing to read: the terminal hung up."""
        try:
            readable, _, _ = select.select([self.stdin_fd], [], [], 0)
            if not readable:
                return False
            waiting = bytearray(4)
            fcntl.ioctl(self.stdin_fd, termios.FIONREAD, waiting)
            return int.from_bytes(waiting, sys.byteorder) == 0
        except (OSError, ValueError):
            return True

    def _handle(self, item):
        if item in (FOCUS_IN, FOCUS_OUT):
            self.screen.focus(item == FOCUS_IN)
            return
        if self._held_paste is not None and not isinstance(item, tuple):
            name = translate(item) if isinstance(item, int) else key_name(item)
            if name != "resize":
                self._confirm_paste(name == "enter")
                return
        if isinstance(item, tuple):
            events = [e for e in self.screen.paste(item[1]) if e is not None]
            if sum(e[0] == "send" for e in events) > PASTE_CONFIRM_LINES:
                self._held_paste = [e[1] for e in events if e[0] == "send"]
                self.hint("a paste of %d lines: Enter sends them all, any other key drops "
                          "them" % len(self._held_paste))
                return
        elif isinstance(item, int):
            name = translate(item)
            if name == "resize":    # curses' own note of a resize (resizeterm queues one)
                self._size_changed()
                return
            events = [self.screen.key(name)]
        else:
            name = key_name(item)
            if name == "ctrl-l":
                self.window.clearok(True)
                return
            events = [self.screen.key(name)]
        for event in events:
            if event is None:
                continue
            if event[0] == "send":
                self._submit(event[1])
            elif event[0] == "eof":
                self._end_of_input()
                self._pump()

    def _confirm_paste(self, send):
        lines, self._held_paste = self._held_paste, None
        if not send:
            self.hint("the paste was dropped: nothing was sent")
            return
        for line in lines:
            self._submit(line)

    def _submit(self, line):
        """A line typed (or pasted) and entered: queue it as line mode would."""
        self.screen.log.bottom()
        if len(self.queue) >= MAX_QUEUED_LINES or self._input_ended:
            if not self._dropping:   # one hint for a whole paste, not one per line
                self.hint("%d lines are waiting to be sent: this line and the next are "
                          "dropped until they have gone" % len(self.queue))
            self._dropping = True
            return
        self._dropping = False
        action = self.place(line)
        if not (isinstance(action, SendRequest) and action.request == "msg"
                and action.content == line.strip()):
            self.screen.add([("echo", "> " + sanitize(mask_secrets(line.strip())))])
        self.queue.append(line)
        self._pump()

    def resized(self):
        """SIGWINCH: ask the kernel for the size, tell curses, repaint."""
        def resize():
            try:
                size = os.get_terminal_size(sys.__stdout__.fileno())
                curses.resizeterm(size.lines, size.columns)
            except (OSError, ValueError, curses.error):
                pass
            self._size_changed()
        self._guarded(resize)

    def _size_changed(self):
        """The window has a new size: lay out again, repaint everything.
        (Not ``resizeterm`` again: it would queue yet another KEY_RESIZE.)"""
        self.screen.resize(*self.view.size())
        self.window.clearok(True)
        self.redraw()

    def _candidates(self, prefix):
        lowered = prefix.lower()
        pool = self.session.rooms if prefix.startswith("#") else self.session.names
        return [name for name in pool if name.lower().startswith(lowered)]

    def _guarded(self, action):
        """Run ``action``; a bug of ours ends the client (the terminal is
        restored by ``run_fullscreen``, which then shows the traceback)."""
        try:
            action()
        except Exception:
            if self.failure is None:
                self.failure = traceback.format_exc()
            self.finish(EXIT_FAILURE)


def run_fullscreen(config, loop_factory):
    """Run the full-screen client; return its exit status, or None when the
    terminal cannot do it (the caller falls back to line mode)."""
    locale.setlocale(locale.LC_ALL, "")
    if config.encoding != UTF8:
        # The terminal sends UTF-8 all the same: let curses read it as such
        # (what the locale cannot show is still painted "?": CursesView).
        for name in ("C.UTF-8", "C.utf8", "en_US.UTF-8"):
            try:
                locale.setlocale(locale.LC_CTYPE, name)
                break
            except locale.Error:
                pass
    try:
        window = curses.initscr()
    except curses.error:
        return None
    saved_stderr, captured = _capture_stderr()
    client = None
    status = EXIT_FAILURE
    loop = loop_factory()
    try:
        curses.noecho()
        curses.cbreak()
        window.keypad(True)
        window.nodelay(True)
        curses.set_escdelay(ESC_DELAY_MS)
        _write_terminal(BRACKETED_PASTE_ON + FOCUS_REPORTS_ON)
        client = FullScreenClient(loop, config, window)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, client.interrupt)
        loop.add_signal_handler(signal.SIGWINCH, client.resized)
        client.start()
        loop.run()
        status = EXIT_FAILURE if client.status is None else client.status
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        _restore_terminal(window)
        loop.close()
        _release_stderr(saved_stderr, captured)
    if client is not None:
        if client.failure:
            sys.stderr.write(client.failure)
        elif status != 0:
            sys.stderr.write("".join(line + "\n" for line in client.recent))
        sys.stderr.flush()
    return status


def _restore_terminal(window):
    """Undo every terminal setting of ``run_fullscreen``; never raises."""
    for undo in (lambda: _write_terminal(BRACKETED_PASTE_OFF + FOCUS_REPORTS_OFF),
                 lambda: window.keypad(False),
                 curses.echo, curses.nocbreak, curses.endwin):
        try:
            undo()
        except Exception:
            pass


def _write_terminal(data):
    sys.__stdout__.flush()
    os.write(sys.__stdout__.fileno(), data)


def _capture_stderr():
    """Point fd 2 at a temporary file while the screen is up."""
    try:
        saved = os.dup(2)
        captured = tempfile.TemporaryFile()
        os.dup2(captured.fileno(), 2)
        return saved, captured
    except OSError:
        return None, None


def _release_stderr(saved, captured):
    """Give fd 2 back and replay what was written to it meanwhile."""
    if saved is None:
        return
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(saved, 2)
    os.close(saved)
    captured.seek(0)
    data = captured.read()
    captured.close()
    if data:
        try:
            os.write(2, data)
        except OSError:
            pass
