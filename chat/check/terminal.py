"""A program running under a pseudo-terminal, as a person would run it.

Theory of operation
-------------------
The client under test gets a new pseudo-terminal as its controlling
terminal and as stdin, stdout and stderr, 200 columns by 50 rows, so it
behaves exactly as in a person's terminal (line editing, echo, colours, a
full-screen mode). The checker types into the master side (lines end with
``\\r``, the Enter key) and reads everything the program writes, on the
``wire.Pump``'s event loop, so the terminal never fills up while a check
waits on the network.

``visible`` turns the raw output into the text a person would read: escape
sequences (colours, cursor movement, titles) and other control characters
removed. Checks look for their tokens in it; the safety checks look at the
raw output for escape sequences that came from the network.
"""

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import time

COLUMNS = 200
ROWS = 50

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI ... final byte (colours, cursor)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST (titles)
    r"|\x1b[ -/]*[0-~]"                 # other escapes
    r"|[\x00-\x08\x0b-\x1f\x7f\x9b]")   # other controls (tabs and newlines stay)


def visible(raw):
    """What a person would read in ``raw`` terminal output (bytes)."""
    return _CONTROL.sub("", raw.decode("utf-8", "replace"))


def _take_terminal():
    """In the child, after setsid: the pty on stdin becomes the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``argv`` running under a new pseudo-terminal; ``output`` is all it wrote."""

    def __init__(self, pump, argv, env=None):
        self.pump = pump
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        environment = dict(os.environ if env is None else env)
        environment.setdefault("TERM", "xterm-256color")
        environment["COLUMNS"], environment["LINES"] = str(COLUMNS), str(ROWS)
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                         start_new_session=True, preexec_fn=_take_terminal,
                                         env=environment, close_fds=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        os.set_blocking(master, False)
        self.output = bytearray()
        self.eof = False
        self.last_output = time.monotonic()
        pump.loop.add_reader(master, self._on_readable)

    def _on_readable(self):
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:    # EIO: every slave descriptor closed, the program is gone
            data = b""
        if not data:
            self.eof = True
            self.pump.loop.remove_reader(self.master)
            return
        self.output += data
        self.last_output = time.monotonic()

    @property
    def alive(self):
        return self.proc.poll() is None

    def type(self, text):
        """Type ``text`` (a ``\\r`` is the Enter key)."""
        data = text.encode("utf-8")
        deadline = time.monotonic() + 2.0
        while data and time.monotonic() < deadline:
            try:
                data = data[os.write(self.master, data):]
            except (BlockingIOError, InterruptedError):
                self.pump.pause(0.01)
            except OSError:
                return False
        return not data

    def mark(self):
        """Read what is pending now; the offset after it (for ``since``)."""
        self.pump.poll()
        return len(self.output)

    def text(self, since=0):
        return visible(bytes(self.output[since:]))

    def settle(self, quiet, limit):
        """Wait until the program has written nothing for ``quiet`` seconds
        (it is waiting for input), at most ``limit`` seconds."""
        self.pump.wait(lambda: time.monotonic() - self.last_output >= quiet, limit)

    def tail(self, lines=6):
        """The last lines a person would see, for the report."""
        shown = [line for line in self.text().replace("\r", "").split("\n") if line.strip()]
        return " | ".join(shown[-lines:]) or "(nothing)"

    def stop(self, grace=1.0):
        """End the program (its process group: the session we started) and reap it."""
        if self.master is None:
            return
        if self.alive:
            for sig in (signal.SIGHUP, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        if not self.eof:
            self.pump.loop.remove_reader(self.master)
        os.close(self.master)
        self.master = None
        self.eof = True
