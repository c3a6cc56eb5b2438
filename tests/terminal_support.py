"""A client process on a pseudo-terminal, read with a terminal emulator
(``pyte``), for the full-screen client's tests.

``Terminal`` runs ``python -m chat.client`` with a pseudo-terminal as
stdin, stdout and controlling terminal (so Ctrl-C is a real SIGINT and a
resize a real SIGWINCH); everything it writes is fed to ``pyte``, which
keeps the screen as a terminal would show it. Nothing sleeps: every wait
reads the terminal until the screen shows what is expected, with a deadline.

pyte lacks SU/SD (``CSI n S``, ``CSI n T``: scroll the region), which
ncurses uses to scroll the conversation: ``_Screen`` adds them.
"""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pyte
import pytest

from support import ROOT, Client, started

TIMEOUT = 10.0
# Keys as xterm sends them in keypad-transmit mode (curses turns it on).
PGUP, END, CTRL_HOME, CTRL_END = "\x1b[5~", "\x1bOF", "\x1b[1;5H", "\x1b[1;5F"


class _Screen(pyte.Screen):
    def scroll_up(self, count=1, *_args, **_kwargs):
        self._scroll(count, self.margins.bottom if self.margins else self.lines - 1, self.index)

    def scroll_down(self, count=1, *_args, **_kwargs):
        self._scroll(count, self.margins.top if self.margins else 0, self.reverse_index)

    def _scroll(self, count, edge, step):
        x, y = self.cursor.x, self.cursor.y
        self.cursor.y = edge
        for _ in range(max(1, count)):
            step()
        self.cursor.x, self.cursor.y = x, y


class _Stream(pyte.ByteStream):
    csi = dict(pyte.ByteStream.csi, S="scroll_up", T="scroll_down")


def _set_size(fd, columns, lines):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))


class Terminal:
    """A client process on a pseudo-terminal, and the screen it drew."""

    def __init__(self, port, *args, columns=60, lines=14, env=None, controlling=True,
                 code=None):
        self.master, slave = pty.openpty()
        _set_size(slave, columns, lines)
        self.initial_modes = termios.tcgetattr(slave)
        full_env = dict(os.environ, TERM="xterm-256color", LC_ALL="C.UTF-8")
        full_env.pop("NO_COLOR", None)
        full_env.update(env or {})
        if code is None:
            cmd = [sys.executable, "-S", "-m", "chat.client"]
        else:  # run ``code`` first (e.g. to plant a bug), then the client
            cmd = [sys.executable, "-S", "-c", code + "\nfrom chat.client.cli import main\n"
                   "raise SystemExit(main())"]
        cmd += ["--port", str(port), *args]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=(lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0)) if controlling else None)
        self.slave = slave          # kept open: the terminal's modes can be read at the end
        self.screen = _Screen(columns, lines)
        self.stream = _Stream(self.screen)
        self.raw = b""
        os.set_blocking(self.master, False)

    # -- input ---------------------------------------------------------------

    def type(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def resize(self, columns, lines):
        _set_size(self.master, columns, lines)      # the kernel sends SIGWINCH
        self.screen.resize(lines, columns)

    # -- the screen ------------------------------------------------------------

    def _read(self, timeout):
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if ready:
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                return
            self.raw += data
            self.stream.feed(data)

    @property
    def rows(self):
        return [row.rstrip() for row in self.screen.display]

    @property
    def text(self):
        return "\n".join(self.rows)

    @property
    def input_row(self):
        return self.rows[-1]

    @property
    def status_row(self):
        return self.rows[-2]

    def wait_for(self, check, timeout=TIMEOUT):
        """Read until ``check(self)`` is true (or a regex matches the screen)."""
        if isinstance(check, str):
            pattern = re.compile(check)
            check = lambda term: pattern.search(term.text)  # noqa: E731
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError("the screen never showed what was expected:\n"
                                     + self.text)
            self._read(deadline - time.monotonic())

    def wait_exit(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        try:
            status = self.proc.wait(max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AssertionError("the client did not exit:\n" + self.text)
        self._read(0)
        self.err = self.proc.stderr.read().decode("utf-8", "replace")
        return status

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def terminal():
    """``terminal(port, *args, **kw)`` starts a client in a pty; all are
    killed after the test."""
    yield from started(Terminal)


def logged_in(term, name):
    term.wait_for(r"-- connected to")
    term.type("login %s\r" % name)
    term.wait_for(lambda t: re.search(r"\| %s \| #lobby \(\d+ users?\) \|" % name,
                                      t.status_row))   # the count from an automatic names


def other_user(server, name):
    user = Client(server.port)
    user.login(name)
    return user
