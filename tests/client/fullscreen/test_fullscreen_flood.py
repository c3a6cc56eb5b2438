"""Issue 21/23, the newline bomb in live messages: a hostile server sends
1000 ``message`` responses of 4000 lines each to the full-screen client.
The client keeps the last 10 000 lines and must only split, sanitise and
wrap the ones it keeps (and draws): the flood costs it under a second of
CPU and under 100 MB (read from /proc, the client's own accounting).

A bound on resources, not a timing: the CPU time is the process's own
(utime + stime), whatever else the machine does."""

import datetime
import json
import os
import socket
import threading

import pytest
from hypothesis import given, settings, strategies as st

from chat.client.dates import DayLines
from chat.client.fullscreen.model import MAX_LINES, Screen
from chat.client.lazy_render import render_lazy
from chat.client.render import render_spans
from terminal_support import terminal  # noqa: F401 (fixture)


MESSAGES, LINES = 1000, 4000
CPU_LIMIT = 1.0              # seconds of the client's CPU for the whole flood
RSS_LIMIT = 100 * 1024       # kB


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_kb(pid, key):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s" % key)


def _payload(kind, content, sender="server"):
    return (json.dumps({"timestamp": "2026-12-07T12:00:00+00:00", "sender": sender,
                        "response": kind, "content": content}) + "\n").encode()


class FloodServer:
    """One connection: answers the login, then waits for ``go`` and floods
    (a test thread)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.go = threading.Event()
        self.conn = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(30)
        self.conn.recv(4096)                                   # the login
        self.conn.sendall(_payload("info", "Login successful") + _payload("history", []))
        if not self.go.wait(30):
            return
        body = "." + "\n" * (LINES - 2) + "\nthe bomb ends"   # as test_render_bounds.py
        one = _payload("message", body, sender="mallory")
        for _ in range(MESSAGES):
            self.conn.sendall(one)
        self.conn.sendall(_payload("message", "the flood is over", sender="mallory"))

    def close(self):
        self.go.set()
        for sock in (self.conn, self.listener):
            if sock is not None:
                sock.close()


def test_a_flood_while_scrolled_up_keeps_the_view_and_makes_little():
    screen = Screen("server")
    screen.resize(40, 10)
    for number in range(30):
        screen.add([("", "old %d" % number)])
    screen.key("pgup")
    before = screen.frame().rows
    for number in range(20):
        screen.add_lines(render_lazy({"timestamp": "14:03", "sender": "m", "response": "message",
                                      "content": "x\n" * 3999 + "end"}))
        assert screen.frame().rows == before or number >= 2   # in place while still kept
    assert sum(len(block.made) for block in screen.log.blocks) <= 8 * 4
    screen.add_lines(render_lazy({"timestamp": "14:03", "sender": "m", "response": "message",
                                  "content": "short\nmessage"}))
    screen.key("ctrl-end")
    assert "".join(text for _tag, text in screen.frame().rows[-1]).strip() == "message"


@pytest.mark.slow   # a client in a pty, 8 MB through it
@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_a_flood_of_long_live_messages_costs_little(terminal):
    flood = FloodServer()
    try:
        term = terminal(flood.port, columns=80, lines=24)
        term.wait_for(r"-- connected to")
        term.type("login victim\r")
        term.wait_for(r"Login successful")
        pid = term.proc.pid
        cpu_before = _cpu_seconds(pid)
        flood.go.set()
        term.wait_for(r"the flood is over", timeout=120)
        cpu = _cpu_seconds(pid) - cpu_before
        rss, peak = _memory_kb(pid, "VmRSS"), _memory_kb(pid, "VmHWM")
        print("flood: %.2f s CPU, RSS %d kB, peak %d kB" % (cpu, rss, peak))
        assert "the bomb ends" in term.text                # the last lines are shown
        assert cpu < CPU_LIMIT, "the flood cost %.2f s of CPU" % cpu
        assert peak < RSS_LIMIT, "the flood took %d kB" % peak
    finally:
        flood.close()


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("ab \r\n\x1b\u200b\u2028\t日"))),
       st.sampled_from(["bob", "bob -> alice", "", "\x1b[2J"]),
       st.sampled_from(["2026-12-05 14:03:11", "14:03", None, "2026-12-07T09:00:00Z"]))
def test_lazy_lines_are_exactly_the_eager_ones(text, sender, stamp):
    payload = {"timestamp": stamp, "sender": sender, "response": "message", "content": text}
    today = lambda: datetime.date(2026, 12, 7)  # noqa: E731
    lazy = render_lazy(payload, days=DayLines(today=today))
    eager = render_spans(payload, days=DayLines(today=today))
    assert len(lazy) == len(eager)
    assert list(lazy) == eager and lazy[-1] == eager[-1] and lazy[1:] == eager[1:]


def test_only_the_lines_kept_and_shown_are_made():
    screen = Screen("server")
    screen.resize(40, 10)
    sources = []
    for number in range(50):
        sources.append(render_lazy({"timestamp": "14:03", "sender": "m", "response": "message",
                                    "content": "\n".join("%d.%d" % (number, n)
                                                          for n in range(4000))}))
        screen.add_lines(sources[-1])
        screen.frame()
    rows = screen.frame().rows
    assert "".join(text for _tag, text in rows[-1]).strip() == "49.3999"
    assert screen.log.count == MAX_LINES                  # 10 000 kept of 200 000
    assert sum(len(block.made) for block in screen.log.blocks) <= 8 * 4   # screenfuls made
    assert sum(source._pieces is not None for source in sources) == 50   # each split once
    screen.key("ctrl-home")                               # the top: the oldest kept
    assert "".join(text for _tag, text in screen.frame().rows[0]).strip() == "47.2000"


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["line", "flood", "up", "down", "top", "bottom"]),
                          st.integers(1, 30)), max_size=30), st.integers(1, 8))
def test_scrolling_through_floods_keeps_its_invariants(steps, height):
    screen = Screen("server")
    screen.resize(14, height + 2)
    log = screen.log
    log.max_lines = 300
    last = None
    for number, (step, amount) in enumerate(steps):
        if step in ("line", "flood"):
            last = "%d-%d" % (number, amount)
            count = amount if step == "line" else 150 + amount
            screen.add_lines(render_lazy({"timestamp": "1", "sender": "s", "response": "message",
                                          "content": "w\n" * (count - 1) + last}))
        elif step in ("up", "down"):
            log.scroll(amount if step == "up" else -amount, height)
        elif step == "top":
            log.top(height)
        else:
            log.bottom()
        rows = log.visible(height)
        assert len(rows) <= height and log.offset >= 0 and log.count <= 300
    log.bottom()
    rows = log.visible(height)
    if last is not None:
        assert "".join(text for _tag, text in rows[-1]).strip().endswith(last)
