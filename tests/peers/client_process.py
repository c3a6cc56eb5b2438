"""Run ``python -m chat.client`` as a subprocess and read its output with deadlines.

stdin is a pipe, or a pseudo-terminal (``terminal=True``) that is also the
client's controlling terminal, so typing ``\\x03`` sends it SIGINT and
``\\x04`` at the start of a line is end of input, as for a person.
stdout is a pipe, or with ``terminal_stdout=True`` a second pseudo-terminal
(to see colours). stderr is always a pipe.

Nothing sleeps: ``expect`` reads until a pattern shows up or its deadline
passes.
"""

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 10.0


def _take_terminal():
    """In the child (after setsid): make stdin the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class ClientProcess:
    """One chat client process; ``out`` and ``err`` hold all it wrote so far."""

    def __init__(self, port, *args, host="127.0.0.1", stdin=None, terminal=False,
                 terminal_stdout=False, env=None):
        # -S: the client needs only the standard library, and skipping the
        # site module (and the .pth files of whatever is installed) makes
        # start-up several times faster.
        cmd = [sys.executable, "-S", "-m", "chat.client", "--host", host, "--port", str(port),
               *args]
        full_env = dict(os.environ)
        full_env.pop("NO_COLOR", None)
        full_env.update(env or {})
        self.master = None
        self.out_master = None
        close_in_parent = []
        kwargs = {}
        if terminal:
            self.master, slave = pty.openpty()
            stdin_arg = slave
            close_in_parent.append(slave)
            kwargs.update(start_new_session=True, preexec_fn=_take_terminal)
        elif stdin is not None:
            stdin_arg = stdin
        else:
            stdin_arg = subprocess.PIPE
        if terminal_stdout:
            self.out_master, out_slave = pty.openpty()
            stdout_arg = out_slave
            close_in_parent.append(out_slave)
        else:
            stdout_arg = subprocess.PIPE
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdin=stdin_arg,
                                     stdout=stdout_arg, stderr=subprocess.PIPE, **kwargs)
        for fd in close_in_parent:
            os.close(fd)
        self._fds = {}   # fd -> stream name
        out_fd = self.out_master if terminal_stdout else self.proc.stdout.fileno()
        self._fds[out_fd] = "out"
        self._fds[self.proc.stderr.fileno()] = "err"
        if self.master is not None:
            self._fds[self.master] = "echo"   # the terminal's echo of what we type
        for fd in self._fds:
            os.set_blocking(fd, False)
        self.text = {"out": "", "err": "", "echo": ""}
        self.pos = {"out": 0, "err": 0, "echo": 0}
        self.returncode = None

    @property
    def out(self):
        return self.text["out"]

    @property
    def err(self):
        return self.text["err"]

    # -- input -------------------------------------------------------------

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.master is not None:
            os.write(self.master, data)
        else:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, *lines):
        self.write("".join(line + "\n" for line in lines))

    def close_stdin(self):
        if self.master is not None:
            self.write(b"\x04")   # Ctrl-D: end of input on a terminal
        else:
            self.proc.stdin.close()

    # -- output ------------------------------------------------------------

    def _read(self, timeout):
        """Read whatever is available within ``timeout``; False at EOF on all."""
        if not self._fds:
            return False
        ready, _, _ = select.select(list(self._fds), [], [], max(0.0, timeout))
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:   # EIO: a terminal whose other side is closed
                data = b""
            if data:
                name = self._fds[fd]
                self.text[name] += data.decode("utf-8", "replace").replace("\r\n", "\n")
            else:
                del self._fds[fd]
        return True

    def expect(self, pattern, stream="out", timeout=TIMEOUT):
        """Wait until ``pattern`` (a regex) appears after what earlier
        ``expect`` calls consumed on ``stream``; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.text[stream], self.pos[stream])
            if match:
                self.pos[stream] = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError("client never wrote %r on std%s within %ss;\n"
                                     "stdout so far:\n%s\nstderr so far:\n%s"
                                     % (pattern, stream, timeout, self.out, self.err))

    def wait(self, timeout=TIMEOUT):
        """Wait for the exit (reading all output meanwhile); return the status."""
        deadline = time.monotonic() + timeout
        while self._fds and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
            if self.proc.poll() is not None and not self._fds:
                break
        try:
            self.returncode = self.proc.wait(max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("client did not exit within %ss;\nstdout:\n%s\nstderr:\n%s"
                                 % (timeout, self.out, self.err))
        # Whatever is still buffered in the pipes (a pty may stay open in a grandchild: no).
        while self._fds and self._read(0.05):
            pass
        self.elapsed = time.monotonic() - self.started
        return self.returncode

    def signal(self, signum=signal.SIGINT):
        self.proc.send_signal(signum)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        """Kill if still running; release descriptors."""
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        for fd in (self.master, self.out_master):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.out_master = None
