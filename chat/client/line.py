"""The line client: the client engine with stdout and stderr for its face.

Theory of operation
-------------------
``ChatClient`` is a ``chat.client.engine.ClientEngine`` (the connection,
the paced send queue, the life cycle and the exit statuses: see there)
that shows everything as lines on two streams. stdout carries only what
the server said, rendered (``chat.client.render``, coloured when stdout
is a terminal and ``NO_COLOR`` is not set; at a terminal, wrapped by us with
continuation rows indented, so that nothing another user sends can start
at the left margin and pose as a line of its own); stderr carries what the client
itself says (status lines starting with ``-- ``, local hints, the
connection error). Scripts can read stdout alone. At a terminal, a new
name or room gets a status line.

Each write is flushed at once. When nobody reads stdout any more (a broken
pipe), the client leaves as on Ctrl-C, its output going to ``os.devnull``.
"""

from __future__ import annotations

import os
import sys

from .engine import ClientEngine
from .render import render, render_wrapped, sanitize, use_color


class ChatClient(ClientEngine):
    """The line client: a ``ClientEngine`` writing lines to stdout and stderr."""

    def __init__(self, loop, config, stdin_fd=0, out=None, err=None):
        super().__init__(loop, config, stdin_fd)
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.color = use_color(self.out) if config.color is None else config.color

    def display(self, payload):
        """One payload from the server, rendered: stdout, flushed at once."""
        width = self._width()
        self._write(self.out, render_wrapped(payload, width, color=self.color) if width
                    else render(payload, color=self.color))

    def _width(self):
        """The terminal's width in cells, when stdout is a terminal."""
        try:
            return os.get_terminal_size(self.out.fileno()).columns if self.out.isatty() else 0
        except (OSError, ValueError, AttributeError):
            return 0

    def session_changed(self, before):
        """Name, room or user count changed: a status line at a terminal when
        the name or room did (the count moves too often to be worth one)."""
        if self.interactive and self.session.name and before[:2] != self.session.summary()[:2]:
            self.notice("you are " + self.session.describe())

    def notice(self, text):
        """A status line of the client's own: stderr, after ``-- ``."""
        self._write(self.err, ["-- " + sanitize(text)])

    def hint(self, text):
        """A local hint in answer to a line typed: stderr."""
        self._write(self.err, [sanitize(line) for line in text.splitlines()])

    def error_line(self, text):
        """Why the client cannot go on: stderr, after ``chat.client: ``."""
        self._write(self.err, ["chat.client: " + sanitize(text)])

    def _write(self, stream, lines):
        try:
            stream.write("".join(line + "\n" for line in lines))
            stream.flush()
        except (BrokenPipeError, ValueError):
            # Nobody reads our output any more: leave (cleanly if we can).
            if stream is self.out and not self.finished:
                self.out = self.err = open(os.devnull, "w")
                self.loop.call_soon(self.interrupt)
        except OSError:
            pass
