"""``python3 -m chat.check server``: verdicts on real servers over TCP.

Our server must pass every standard and framing check; the mutant server
(tests/peers/mutant_server.py, correct unless told to break one rule) must
pass as a control and fail, naming the rule, with each mutation; the
Python 2.7 skeleton server gets the verdicts its known quirks predict.
The checker runs as a subprocess (its real command line, ``--json``); the
runs of one module start together, since they mostly wait.
"""

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

from check_support import CheckRun, statuses
from py27_support import find_python27
from support import ROOT, ServerProcess

pytestmark = pytest.mark.slow   # the checker and servers as processes

MUTANT = os.path.join(ROOT, "tests", "peers", "mutant_server.py")
SKELETON_SERVER = os.path.join(ROOT, "tests", "peers", "skeleton_server27.py")
RUN_TIMEOUT = 60.0

#: Each mutation and the check that must fail because of it.
MUTATIONS = {
    "no-echo": "echo to the sender",
    "word-chars": "username characters",
    "newline-framing": "request with no delimiter",
    "restamp": "history keeps earlier messages",
    "float-timestamp": "timestamps are strings",
    "unlogged-broadcast": "nothing for clients not logged in",
    "keep-name": "abrupt disconnect frees the name",
    "no-duplicate-check": "duplicate name",
    "no-empty-history": "history at login",
    "names-before-login": "requests before login",
}

FAILING_GROUPS = ("standard", "framing")


class Peer:
    """A server process that prints 'listening on PORT' on stdout."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + 10
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if select.select([fd], [], [], deadline - time.monotonic())[0]:
                data = os.read(fd, 100)
                if not data:
                    break
                line += data
        assert line.startswith(b"listening on"), line
        self.port = int(line.split()[2])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class ServerCheck(CheckRun):
    """``python3 -m chat.check server 127.0.0.1:PORT --json ARGS`` in the background."""

    def __init__(self, port, *args):
        super().__init__(["server", "127.0.0.1:%d" % port, "--json", *args], RUN_TIMEOUT)


def failing(report):
    return {r["check"] for r in report["results"]
            if r["group"] in FAILING_GROUPS and r["status"] != "pass"}


class SilentServer:
    """Accepts connections and never says a word (not a KTN server at all)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])
            except OSError:
                return

    def stop(self):
        self.listener.close()
        for sock in self.accepted:
            sock.close()


@pytest.fixture(scope="module")
def runs():
    """Our server, every mutant (and the control) and the 2.7 skeleton, checked at once."""
    peers = {}
    started = {}
    ours = ServerProcess()
    silent = SilentServer()
    try:
        started["ours"] = ServerCheck(ours.port, "--stress", "50")
        started["silent"] = ServerCheck(silent.port, "--timeout", "1")
        for mutation in ["none", "crash-on-msg", *MUTATIONS]:
            peers[mutation] = Peer([sys.executable, MUTANT, "--mutation", mutation])
            started[mutation] = ServerCheck(peers[mutation].port, "--timeout", "1")
        python27, _ = find_python27()
        if python27 is not None:
            peers["python27"] = Peer([python27, "-u", SKELETON_SERVER, "0"])
            started["python27"] = ServerCheck(peers["python27"].port, "--timeout", "1")
        for run in started.values():
            run.result()
        started["ours-log"] = ours
        yield started
    finally:
        for run in started.values():
            if isinstance(run, CheckRun):
                run.kill()
        for peer in peers.values():
            peer.stop()
        silent.stop()
        assert ours.stop() == 0


def test_our_server_passes_every_standard_and_framing_check(runs):
    status, report, err, wall = runs["ours"].result()
    assert status == 0, json.dumps(report, indent=1)
    assert not failing(report)
    assert report["counts"]["fail"] == 0 and report["counts"]["skip"] == 0
    assert report["counts"]["warn"] == 0, [r for r in report["results"] if r["status"] == "warn"]
    assert wall < 60
    assert report["facts"]["connections"] <= 30 + 50    # 50: --stress
    assert statuses(report)["many clients at once (--stress)"] == "pass"
    assert err == ""
    # the server logged nothing alarming while being checked
    assert "Traceback" not in "".join(runs["ours-log"].log_lines)


def test_mutant_control_passes(runs):
    status, report, err, _ = runs["none"].result()
    assert status == 0, json.dumps(report, indent=1)
    assert not failing(report)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_mutation_fails_naming_its_rule(runs, mutation):
    status, report, err, _ = runs[mutation].result()
    assert status == 1, json.dumps(report, indent=1)
    broken = [r for r in report["results"] if r["check"] == MUTATIONS[mutation]]
    assert broken and broken[0]["status"] == "fail", json.dumps(report, indent=1)
    assert broken[0]["rule"].startswith("PROTOCOL.md")
    assert report["counts"]["skip"] == 0      # every check could run
    assert err == ""


def test_a_server_that_dies_halfway_is_a_finding(runs):
    status, report, err, _ = runs["crash-on-msg"].result()
    assert status == 1
    by_check = statuses(report)
    assert by_check["login"] == "pass"
    assert by_check["message to everyone"] in ("fail", "skip")
    assert report["counts"]["skip"] >= 5        # the rest: not run
    assert any("stopped accepting" in r["summary"] or "cannot connect" in r["summary"]
               for r in report["results"])
    assert err == ""                            # no traceback from the checker


def test_a_silent_server_is_given_up_on_quickly(runs):
    status, report, err, wall = runs["silent"].result()
    assert status == 1
    assert statuses(report)["help before login"] == "fail"
    assert any("not answered a single request" in r["summary"] for r in report["results"])
    assert report["duration_s"] < 15           # not a timeout per check
    assert err == ""


def test_unreachable_server_exits_2():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]   # bound, never listening: refused
        proc = subprocess.run([sys.executable, "-m", "chat.check", "server",
                               "127.0.0.1:%d" % port], cwd=ROOT, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 2
    assert "could not check" in proc.stdout and "refused" in proc.stdout.lower()


def test_bad_address_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "chat.check", "server", "nowhere"], cwd=ROOT,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 2 and "HOST:PORT" in proc.stderr


def test_python27_skeleton_server_verdicts(runs):
    if "python27" not in runs:
        pytest.skip(find_python27()[1])
    status, report, err, _ = runs["python27"].result()
    assert status == 1
    # its known quirks: json.loads(recv(4096)) per request, no login check on
    # names, case-sensitive names, a handler thread that dies on bad input
    assert failing(report) == {
        "requests before login", "duplicate name in another case",
        "two requests in one write", "requests back to back",
        "request split across writes", "split inside a UTF-8 character"}, \
        json.dumps(report, indent=1)
    by_check = statuses(report)
    assert by_check["request with no delimiter"] == "pass"
    assert by_check["invalid JSON"] == "warn"
    assert by_check["values that are not requests"] == "warn"
    assert by_check["unknown request"] == "pass"
    assert err == ""
