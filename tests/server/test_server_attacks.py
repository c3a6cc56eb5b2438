"""Issue 20's attacks over real sockets: rotating loopback addresses, a short
operator password, the hashing cost, the audit trail. Each failed on the
main of 2026-12-07 (noted per test)."""

import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from chat.server.config import parse_args
from rooms_support import RoomClient, connect, expect_error, expect_info  # noqa: F401 (fixture)
from support import ROOT, make_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # server processes

SECRET = "correct-horse-battery"
OPER = "operator-password-0123"


def client_from(srv, host):
    """A client whose connection comes from ``host`` (any 127.x.y.z)."""
    client = RoomClient.__new__(RoomClient)
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((host, 0))
    sock.connect(("127.0.0.1", srv.port))
    client.sock, client.newline, client.buffer, client.closed = sock, True, b"", False
    return client


def test_rotating_loopback_addresses_is_one_network(make_server, connect):
    """Attack 2 on real sockets. On main: 20 guesses from 127.0.0.2-21 were
    all answered "login failed" (each address string had its own limit)."""
    srv = make_server("--rate", "0")
    owner = connect(srv, "owner")
    owner.request("register", SECRET)
    answers = []
    for i in range(20):
        guesser = client_from(srv, "127.0.0.%d" % (i + 2))
        answers.append(guesser.request("login", "owner guess-%03d" % i)["content"])
        guesser.close()
    assert answers[:5] == ["login failed: wrong name or password"] * 5
    assert all(a.startswith("too many failed logins") for a in answers[5:]), answers


def test_a_short_operator_password_refuses_to_start(tmp_path):
    """On main: a one-character operator password was accepted."""
    secret = tmp_path / "oper"
    secret.write_text("x\n")
    os.chmod(secret, 0o600)
    proc = subprocess.run([sys.executable, "-m", "chat.server", "--port", "0",
                           "--oper-password-file", str(secret)], cwd=ROOT,
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2, proc
    assert "at least 16 characters" in proc.stderr
    assert "x\n" not in proc.stdout


def test_the_default_hashing_cost_is_at_least_2_15():
    """Attack 6, the cost. On main: N=2^11 (4.9 ms a hash), and no option."""
    assert parse_args([]).scrypt_n >= 2 ** 15
    assert parse_args(["--scrypt-n", "16384"]).scrypt_n == 2 ** 14


def audit_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_security_events_reach_the_audit_log_without_secrets(make_server, connect, tmp_path):
    """Attack 7. On main: --audit-log was an unknown option, and failed
    logins, oper, register, unban and purge left no line at all."""
    audit = tmp_path / "audit.jsonl"
    secret = tmp_path / "oper"
    secret.write_text(OPER + "\n")
    os.chmod(secret, 0o600)
    srv = make_server("--rate", "0", "--audit-log", str(audit),
                      "--oper-password-file", str(secret))
    alice = connect(srv, "alice")
    expect_info(alice.request("register", SECRET), "now registered")
    expect_error(alice.request("oper", "not-the-operator-pw"), "wrong operator password")
    expect_info(alice.request("oper", OPER), "you are now an operator")
    alice.send("msg", "a secret message text")
    alice.reply()
    thief = connect(srv)
    expect_error(thief.request("login", "alice guess-guess"), "login failed")
    connect(srv, "mallory")
    expect_info(alice.request("ban", "mallory rude"), "banned")
    expect_info(alice.request("unban", "mallory"), "no longer banned")
    expect_info(alice.request("purge", "mallory"), "removed")
    expect_info(alice.request("password", SECRET + " a-new-password-1"), "password changed")
    # (each line is written before the answer of its request leaves)
    lines = audit_lines(audit)
    events = [line["event"] for line in lines]
    for event in ("register", "oper_failed", "oper", "login_failed", "ban", "unban", "purge",
                  "password_changed"):
        assert event in events, (event, events)
    for line in lines:
        assert {"time", "event", "address", "name"} <= set(line), line
    ban = next(line for line in lines if line["event"] == "ban")
    assert ban["by"] == "alice" and ban["name"] == "mallory"
    text = audit.read_text()
    for secret_text in (SECRET, OPER, "not-the-operator-pw", "guess-guess", "a-new-password-1",
                        "a secret message text"):
        assert secret_text not in text
    assert stat.S_IMODE(os.stat(audit).st_mode) == 0o600


def test_a_secret_file_others_can_read_is_warned_about(make_server, connect, tmp_path):
    """Without --audit-log the audit lines go to the server log."""
    secret = tmp_path / "oper"
    secret.write_text(OPER + "\n")
    os.chmod(secret, 0o644)
    srv = make_server("--oper-password-file", str(secret))
    srv.wait_for_log(r"%s holds secrets and others can read it: chmod 600" % secret)
    alice = connect(srv, "alice")
    expect_error(alice.request("oper", "not-the-operator-pw"), "wrong operator password")
    line = srv.wait_for_log(r"audit \{")
    assert json.loads(line.split("audit ", 1)[1])["event"] == "oper_failed"
    assert "not-the-operator-pw" not in line
