"""The line client's keyboard: stdin read into lines on the loop.

Theory of operation
-------------------
``StdinLines`` is the half of ``chat.client.engine.ClientEngine`` that reads
its input. stdin is read with ``os.read`` on the file descriptor when the loop
says it is readable (made nonblocking first, except a terminal, see
``_start_stdin``; a regular file, which epoll cannot watch, is read from
``call_soon`` instead) and split into lines here, so a partial line waits
for its end and a last line without a newline still counts at end of
input. Each line goes on the client's send queue as it is, followed at end
of input by the ``END_OF_INPUT`` marker. Reading pauses while
``MAX_QUEUED_LINES`` wait (a huge piped file is not read ahead of the
pacing) and resumes below half of it.

At a terminal, the terminal itself echoes what is typed: a line holding a
password (``chat.client.commands.secret_spans``) is overwritten on the
terminal with its masked form as soon as it is read.

The host class provides ``loop``, ``queue``, ``finished``, ``leaving``,
``notice``, ``hint`` and ``_pump``, and calls ``_init_stdin`` first.
"""

from __future__ import annotations

import errno
import os

from .commands import mask_secrets, secret_spans
from .render import sanitize
from .terminal_locale import decode_typed
from .text_cells import text_width

__all__ = ["END_OF_INPUT", "MAX_QUEUED_LINES", "StdinLines"]

#: Bytes read from stdin per call.
READ_SIZE = 64 * 1024
#: Cap on one input line; a longer line is dropped (with a hint), so a
#: stream without newlines cannot grow the buffer without bound.
MAX_INPUT_LINE = 1024 * 1024
#: Lines queued before we stop reading stdin until the queue drains; keeps
#: a huge piped file from being read into memory ahead of the pacing.
MAX_QUEUED_LINES = 1000
RESUME_QUEUED_LINES = MAX_QUEUED_LINES // 2

END_OF_INPUT = object()   # queue marker: stdin ended after the lines before it


class StdinLines:
    """Reads stdin into the send queue, one line per entry (a mixin)."""

    def _init_stdin(self, stdin_fd):
        self.stdin_fd = stdin_fd
        self.interactive = _isatty(stdin_fd)
        self._stdin_mode = None         # "select", "poll" (regular files) or None
        self._stdin_was_blocking = None
        self._stdin_buf = bytearray()
        self._discarding_line = False
        self._input_ended = False

    def _start_stdin(self):
        fd = self.stdin_fd
        try:
            blocking = os.get_blocking(fd)
            # A terminal usually shares its open file (and so the O_NONBLOCK
            # flag) with stdout: making it nonblocking would make our writes
            # to a slow terminal fail. A terminal read after select() says
            # readable returns the line typed without blocking anyway.
            if not self.interactive:
                os.set_blocking(fd, False)
                self._stdin_was_blocking = blocking
        except OSError:
            # No usable stdin (closed): nothing will ever be typed.
            self._end_of_input()
            return
        self._resume_stdin()

    def _resume_stdin(self):
        if self._input_ended or self.finished or self._stdin_mode is not None:
            return
        try:
            self.loop.add_reader(self.stdin_fd, self._read_stdin)
            self._stdin_mode = "select"
        except (PermissionError, ValueError, OSError):
            # epoll refuses regular files and /dev/null; they never block,
            # so read them from call_soon instead.
            self._stdin_mode = "poll"
            self.loop.call_soon(self._poll_stdin)

    def _stop_stdin(self):
        if self._stdin_mode == "select":
            try:
                self.loop.remove_reader(self.stdin_fd)
            except (KeyError, ValueError, OSError):
                pass
        self._stdin_mode = None

    def restore_stdin(self):
        """Give stdin back as we found it (blocking mode is shared with the shell)."""
        if self._stdin_was_blocking is not None:
            try:
                os.set_blocking(self.stdin_fd, self._stdin_was_blocking)
            except OSError:
                pass
            self._stdin_was_blocking = None

    def _poll_stdin(self):
        if self._stdin_mode != "poll":
            return
        self._read_stdin()
        if self._stdin_mode == "poll":
            self.loop.call_soon(self._poll_stdin)

    def _read_stdin(self):
        try:
            data = os.read(self.stdin_fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the terminal went away
                self.notice("cannot read input: %s" % (os.strerror(exc.errno) if exc.errno else exc))
            data = b""
        if data:
            self._take_input(data)
            if len(self.queue) >= MAX_QUEUED_LINES:
                self._stop_stdin()
        else:
            self._end_of_input()
        self._pump()

    def _take_input(self, data):
        """Split ``data`` into lines; keep a partial line for later."""
        buf = self._stdin_buf
        buf += data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            if self._discarding_line:
                self._discarding_line = False
            else:
                line = bytes(buf[start:end])
                if self.interactive and end + 1 == len(buf):
                    self._hide_echoed_password(line)
                self._add_line(line)
            start = end + 1
        del buf[:start]
        if len(buf) > MAX_INPUT_LINE:
            if not self._discarding_line:
                self.hint("input line longer than %d bytes: ignored" % MAX_INPUT_LINE)
            self._discarding_line = True
            del buf[:]

    def _add_line(self, raw):
        line = decode_typed(raw, self.config.encoding)
        if line is None:   # never sent altered: refused, and said why
            self.hint("not sent: this line is neither UTF-8 nor %s; nothing was sent"
                      % self.config.encoding)
        elif line.strip():
            self.queue.append(line)

    def _hide_echoed_password(self, raw):
        """The terminal echoed a line holding a password: overwrite it, masked.

        Only for the last line of a read (a terminal returns one line per
        read), so the echo is the text just above the cursor.
        """
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if not secret_spans(line):
            return
        try:
            columns = os.get_terminal_size(self.stdin_fd).columns or 80  # 0: unknown
            rows = max(1, -(-text_width(line) // columns))
            os.write(self.stdin_fd, ("\x1b[%dF\x1b[J%s\r\n"
                                     % (rows, sanitize(mask_secrets(line)))).encode("utf-8"))
        except OSError:
            pass

    def _end_of_input(self):
        if self._input_ended:
            return
        self._stop_stdin()
        self._input_ended = True
        if self._stdin_buf and not self._discarding_line:
            self._add_line(bytes(self._stdin_buf))  # a last line without newline
        self._stdin_buf = bytearray()
        self.queue.append(END_OF_INPUT)

    def _maybe_resume_stdin(self):
        if (self._stdin_mode is None and not self._input_ended and not self.leaving
                and not self.finished and len(self.queue) <= RESUME_QUEUED_LINES):
            self._resume_stdin()


def _isatty(fd):
    try:
        return os.isatty(fd)
    except OSError:
        return False
