"""Servers under test: each one its own process, on its own CPU.

A server command is a template with ``{host}``, ``{port}`` and optionally
``{python}`` (the harness's interpreter), ``{tmpdir}`` (a fresh
directory for this process, removed when it stops: a database file) and
``{ceiling}`` (the C ceiling server, ``bench/baselines/c_server.c``,
compiled with ``cc`` once per version of its source). The harness picks a free loopback
port, starts the command (under ``taskset`` on one CPU when it exists, while
the load generator keeps the other), waits until the port accepts, reads
memory and CPU time from /proc while it runs, and stops it with SIGTERM
(SIGKILL if it lingers). Linux only: /proc and epoll are what we measure
with. The harness process is set up here too: ``cpu_plan`` and ``pin_self``
keep the load generator off the server's CPU, ``raise_fd_limit`` lifts the
open-file limit that the servers started afterwards inherit.
"""

import functools
import hashlib
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"

#: The default contestants. Ours runs with its defaults except what would
#: refuse the load itself: flood control off (the issue asks for --rate 0),
#: no per-address cap (loopback is exempt anyway), the connection cap
#: raised for connect-10000, and messages of at most 2 KiB on the wire (the
#: generator's are ~100 bytes), so that history-10k's --history-limit 10000
#: stays within --max-output (else the server refuses to start). Its login
#: deadline stays on, as in production.
DEFAULT_SERVERS = {
    "ours": "{python} -m chat.server --host {host} --port {port} --rate 0 --log-level warning"
            " --max-per-ip 0 --max-clients 20000 --max-message-bytes 2048",
    # the same with persistence (issue 10): a fresh database per server process
    "ours-db": "{python} -m chat.server --host {host} --port {port} --rate 0 --log-level warning"
               " --max-per-ip 0 --max-clients 20000 --max-message-bytes 2048"
               " --db {tmpdir}/bench.sqlite3",
    "asyncio": "{python} -m bench.baselines.asyncio_server --host {host} --port {port} --rate 0",
    "threaded": "{python} -m bench.baselines.threaded_server --host {host} --port {port} --rate 0",
    # the machine's limit: a small C server (epoll, a queue per client, one flush per pass)
    "ceiling": "{ceiling} --host {host} --port {port}",
}

BASELINE = "asyncio"
CEILING = "ceiling"
CEILING_SOURCE = os.path.join(ROOT, "bench", "baselines", "c_server.c")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@functools.lru_cache(maxsize=None)
def build_ceiling():
    """(path of the compiled C ceiling server, None) or (None, why not).
    Built once per version of the source, in the temporary directory."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler (cc) on PATH"
    with open(CEILING_SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    path = os.path.join(tempfile.gettempdir(), "ktn-bench-ceiling-%s" % digest)
    if not os.access(path, os.X_OK):
        partial = "%s.%d" % (path, os.getpid())
        built = subprocess.run([cc, "-O2", "-o", partial, CEILING_SOURCE],
                               capture_output=True, text=True)
        if built.returncode != 0:
            return None, "cc failed: %s" % (built.stderr.strip().splitlines() or ["?"])[-1]
        os.replace(partial, path)
    return path, None


def parse_server(text):
    """'NAME=CMD' -> (NAME, CMD); a bare default name -> its default command."""
    name, sep, command = text.partition("=")
    name = name.strip()
    if not sep:
        if name not in DEFAULT_SERVERS:
            raise ValueError("unknown server %r: give NAME=COMMAND or one of %s"
                             % (name, ", ".join(DEFAULT_SERVERS)))
        return name, DEFAULT_SERVERS[name]
    if not name or not command.strip():
        raise ValueError("server must be NAME=COMMAND, got %r" % text)
    if "{port}" not in command:
        raise ValueError("server command for %r must contain {port}" % name)
    return name, command.strip()


def in_turn(servers, run):
    """The servers in the order they take their turns in run number ``run``
    (from 0): the given order, reversed every other run, so that no server
    always goes first or last (in bench.cluster's 1000-client --redis
    set-up the server that went last in a run measured up to 1.5x the
    other)."""
    return list(servers) if run % 2 == 0 else list(servers)[::-1]


def cpu_plan():
    """(server CPU, generator CPU), or (None, None) when pinning is impossible."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None, None
    return cpus[0], cpus[1]


def pin_self(cpu):
    """Keep the load generator (this process) off the server's CPU."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def raise_fd_limit():
    """Raise the open-file soft limit to the hard limit; return it.

    Servers started afterwards inherit it, which connect-10000 needs on
    both sides.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
    return target


def free_port(host=HOST):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerFailed(Exception):
    """The server did not start, or exited."""


class ServerProcess:
    """One running server. Use as a context manager: it is always stopped."""

    def __init__(self, name, template, extra_args=(), cpu=None, host=HOST):
        self.name = name
        self.host = host
        self.port = free_port(host)
        self.tmpdir = tempfile.mkdtemp(prefix="ktn-bench-") if "{tmpdir}" in template else None
        ceiling = build_ceiling()[0] if "{ceiling}" in template else None
        argv = shlex.split(template.format(host=host, port=self.port,
                                           python=shlex.quote(sys.executable),
                                           tmpdir=shlex.quote(self.tmpdir or ""),
                                           ceiling=shlex.quote(ceiling or "false")))
        argv += list(extra_args)
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv   # taskset execs: same pid
        self.argv = argv
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log,
                                     start_new_session=True)

    def __enter__(self):
        try:
            self.wait_accepting()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def wait_accepting(self, timeout=15.0):
        """Poll-connect until the port accepts (a server need not log anything)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            why = self.dead()
            if why:
                raise ServerFailed("%s did not start: %s" % (self.name, why))
            try:
                probe = socket.create_connection((self.host, self.port), timeout=0.5)
            except OSError:
                time.sleep(0.02)   # not listening yet; the deadline bounds the wait
                continue
            probe.close()
            return
        raise ServerFailed("%s did not accept connections within %g s" % (self.name, timeout))

    def dead(self):
        """None while running, else a short explanation with the log's tail."""
        code = self.proc.poll()
        if code is None:
            return None
        return "exited with status %s%s" % (code, self.log_tail())

    def rss_kib(self):
        """Resident memory (VmRSS) in KiB, from /proc."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def cpu_seconds(self):
        """User plus system CPU time of the whole process (all threads)."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def log_tail(self, size=600):
        try:
            self._log.seek(0, os.SEEK_END)
            end = self._log.tell()
            self._log.seek(max(0, end - size))
            text = self._log.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return "; log: ..." + text[-size:] if text else ""

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after ``timeout``; return the exit status."""
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._log.close()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return proc.returncode
