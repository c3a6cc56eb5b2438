"""``python3 -m chat.check client``: verdicts on real clients under a pseudo-terminal.

Our client must pass every client check. Clients with one chosen flaw
(tests/peers/naive_client.py) fail the check of that flaw, the same client
without it passes (the control), and the course-skeleton client for
Python 2.7 gets the verdicts its known quirks predict. The checker runs as
a subprocess with ``--json``; the runs start together, since they mostly
wait.
"""

import json
import os
import subprocess
import sys

import pytest

from check_support import CheckRun, statuses
from py27_support import find_python27
from support import ROOT

pytestmark = pytest.mark.slow   # the checker and clients as processes

NAIVE = os.path.join(ROOT, "tests", "peers", "naive_client.py")
SKELETON = os.path.join(ROOT, "tests", "peers", "skeleton_chat_client27.py")
RUN_TIMEOUT = 90.0
FAILING_GROUPS = ("standard", "framing", "safety")


class ClientCheck(CheckRun):
    """``python3 -m chat.check client --json ARGS -- CMD`` in the background."""

    def __init__(self, command, *args, env=None):
        super().__init__(["client", "--json", *args, "--", *command], RUN_TIMEOUT, env)


def not_passed(report):
    return {r["check"]: r["status"] for r in report["results"] if r["status"] != "pass"}


@pytest.fixture(scope="module")
def runs():
    """Every client, all checked at once."""
    started = {
        "ours": ClientCheck([sys.executable, "-m", "chat.client", "--host", "{host}",
                          "--port", "{port}"]),
        "control": ClientCheck([sys.executable, NAIVE, "{host}", "{port}", "--ask-names"],
                            "--timeout", "1.5"),
        "loads-each-recv": ClientCheck([sys.executable, NAIVE, "{host}", "{port}",
                                     "--flaw", "loads-each-recv"], "--timeout", "1"),
        "raw-escapes": ClientCheck([sys.executable, NAIVE, "{host}", "{port}", "--flaw",
                                 "raw-escapes"], "--timeout", "1.5"),
    }
    python27, _ = find_python27()
    if python27 is not None:
        started["python27"] = ClientCheck([python27, SKELETON, "{host}", "{port}"], "--timeout",
                                       "1", env={"PYTHONIOENCODING": "utf-8"})
    try:
        for run in started.values():
            run.result()
        yield started
    finally:
        for run in started.values():
            run.kill()


def test_our_client_passes_every_client_check(runs):
    status, report, err, wall = runs["ours"].result()
    assert status == 0, json.dumps(report, indent=1)
    assert not not_passed(report), json.dumps(report, indent=1)
    assert report["facts"]["client starts"] == 1   # never had to restart it
    assert err == ""


def test_flawless_naive_client_passes(runs):
    """It also asks for the names on its own after login: requests nobody
    typed are answered and do not count as the answer to a typed line."""
    status, report, _, _ = runs["control"].result()
    assert status == 0, json.dumps(report, indent=1)
    assert not {c for c, s in not_passed(report).items() if s == "fail"}


def test_client_that_loads_each_recv_fails_framing(runs):
    status, report, _, _ = runs["loads-each-recv"].result()
    assert status == 1
    by_check = statuses(report)
    assert by_check["two payloads in one read"] == "fail"
    assert by_check["payload split across reads"] == "fail"
    failed = [r for r in report["results"] if r["check"] == "two payloads in one read"][0]
    assert "Extra data" in failed["got"]        # its traceback, as the terminal showed it
    assert by_check["escape sequences in messages"] == "pass"


def test_client_that_prints_escapes_raw_fails_safety(runs):
    status, report, _, _ = runs["raw-escapes"].result()
    assert status == 1
    by_check = statuses(report)
    assert by_check["escape sequences in messages"] == "fail"
    assert by_check["escape sequences in server notices"] == "fail"
    assert {c for c, s in not_passed(report).items() if s == "fail"} == {
        "escape sequences in messages", "escape sequences in server notices"}


def test_python27_skeleton_client_verdicts(runs):
    if "python27" not in runs:
        pytest.skip(find_python27()[1])
    status, report, err, _ = runs["python27"].result()
    assert status == 1
    # its known quirks: json.loads(recv(4096)) in a receiver thread that dies,
    # raw printing, string concatenation of timestamp and content, only the
    # four standard response types, no exit after logout
    assert not_passed(report) == {
        "two payloads in one read": "fail",
        "payload split across reads": "fail",
        "split inside a UTF-8 character": "fail",
        "escape sequences in messages": "fail",
        "escape sequences in server notices": "fail",
        "history as JSON strings": "warn",
        "msg as a response type": "warn",
        "numeric timestamps": "warn",
        "names as a list": "warn",
        "exits after logout": "warn",
        **({"one request per write": "warn"}
           if statuses(report)["one request per write"] == "warn" else {}),
    }, json.dumps(report, indent=1)
    assert err == ""


def test_client_that_cannot_start_exits_2():
    status, report, _, _ = ClientCheck([os.path.join(ROOT, "no-such-client")]).result()
    assert status == 2
    assert "cannot start" in report["fatal"]


def test_client_that_never_connects_exits_2():
    status, report, _, wall = ClientCheck(
        [sys.executable, "-c", "import sys; print('hello', flush=True); sys.stdin.read()"],
        "--start-timeout", "0.5").result()
    assert status == 2
    assert "did not connect" in report["fatal"] and "hello" in report["fatal"]
    assert wall < 20    # it was stopped, not waited for


def test_client_command_is_required():
    proc = subprocess.run([sys.executable, "-m", "chat.check", "client"], cwd=ROOT,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 2 and "command" in proc.stderr
