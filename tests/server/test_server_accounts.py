"""Accounts and moderation over real sockets (PROTOCOL.md section 4):
register, password logins and their limits, oper, kick, ban, unban, bans,
purge, and the options that configure them."""

import subprocess
import sys
import time

import pytest

from rooms_support import connect, expect_error, expect_info, raw  # noqa: F401 (fixture)
from support import ROOT, make_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # server processes

SECRET = "correct-horse-9"
OPER = "oper-secret-42-4242"


def test_register_then_password_logins(make_server, connect):
    srv = make_server("--rate", "0", "--log-level", "debug")
    alice = connect(srv, "alice")
    text = expect_info(alice.request("register", SECRET), "^alice is now registered")
    assert SECRET not in text
    alice.send("logout")
    alice.wait_closed()
    thief = connect(srv)
    expect_error(thief.request("login", "Alice"), r"^Alice is registered: login Alice <password>$")
    wrong = expect_error(thief.request("login", "alice not-the-password"), "login failed")
    unknown = expect_error(thief.request("login", "nobody some-password"), "login failed")
    assert wrong == unknown
    owner = connect(srv)
    assert owner.request("login", "alice " + SECRET)["content"] == "Login successful"
    assert owner.reply()["response"] == "history"
    expect_info(owner.request("password", SECRET + " brand-new-pw"), "password changed")
    owner.send("logout")
    owner.wait_closed()
    again = connect(srv)
    expect_error(again.request("login", "alice " + SECRET), "login failed")
    assert again.request("login", "alice brand-new-pw")["content"] == "Login successful"
    # passwords never reach the log
    srv.wait_for_log("logged in as alice")
    log = srv.read_log() if srv.proc.poll() is not None else "".join(srv.log_lines)
    for secret in (SECRET, "brand-new-pw", "not-the-password", "some-password"):
        assert secret not in log


def test_password_guessing_is_limited_and_others_are_unaffected(make_server, connect):
    """Five failures a minute per address, counted across its connections
    and whether the owner is online or not; then even the right password is
    refused from that address, while the owner and standard clients are
    unaffected."""
    srv = make_server("--rate", "0")
    owner = connect(srv, "owner")
    owner.request("register", SECRET)
    guessers = [connect(srv) for _ in range(3)]      # one guess each, the owner online
    answers = [guesser.request("login", "owner guess-number-%d" % i)["content"]
               for i, guesser in enumerate(guessers)]
    assert answers == ["login failed: wrong name or password"] * 3
    expect_info(owner.request("names"), "owner")     # the owner is unaffected
    owner.send("logout")
    owner.wait_closed()
    guesser = connect(srv)
    guesser.send_raw(b"".join(
        b'{"request": "login", "content": "owner guess-%04d"}\n' % i for i in range(17)))
    started = time.monotonic()
    answers = [guesser.reply()["content"] for _ in range(17)]
    assert time.monotonic() - started < 3          # every answer comes at once
    assert answers[:2] == ["login failed: wrong name or password"] * 2
    for text in answers[2:]:
        assert text.startswith("too many failed logins, try again in "), text
        assert 55 <= int(text.split()[-2]) <= 60
    # the right password is refused from that address for now ...
    expect_error(guesser.request("login", "owner " + SECRET), "too many failed logins")
    # ... while standard clients from the same (loopback) address log in as ever
    bystander = connect(srv, "bystander")
    expect_info(bystander.request("names"), "bystander")


def test_the_failed_login_window_is_an_option(make_server, connect):
    srv = make_server("--rate", "0", "--failed-login-limit", "1",
                      "--failed-login-window", "0.5")
    owner = connect(srv, "owner")
    owner.request("register", SECRET)
    owner.send("logout")
    owner.wait_closed()
    client = connect(srv)
    expect_error(client.request("login", "owner wrong-password"), "login failed")
    expect_error(client.request("login", "owner " + SECRET), "try again in 1 seconds")
    deadline = time.monotonic() + 5
    while True:   # the window passes (no sleep: each attempt is a round trip)
        reply = client.request("login", "owner " + SECRET)
        if reply["response"] == "info":
            break
        assert time.monotonic() < deadline, reply
    assert reply["content"] == "Login successful"


def test_hashing_waits_off_the_loop_and_a_full_queue_is_busy(make_server, connect):
    """One connection's pipelined password changes are answered one by one
    (its requests wait while its hash runs) while others are served; a
    group with --hash-queue hashes waiting gets "server busy" for more."""
    srv = make_server("--rate", "0", "--failed-login-limit", "0",
                      "--failed-login-group-limit", "0", "--hash-threads", "1",
                      "--hash-queue", "2")
    alice = connect(srv, "alice")
    expect_info(alice.request("register", SECRET), "registered")
    bob = connect(srv, "bob")
    alice.send_raw(raw("password", SECRET + " " + SECRET) * 10)    # 2 hashes each
    expect_info(bob.request("names"), "alice")
    answers = [alice.reply()["content"] for _ in range(10)]
    assert answers == ["password changed for alice"] * 10, answers
    others = [connect(srv, "user%d" % i) for i in range(8)]
    for other in others:
        other.send("register", SECRET)
    answers = [other.reply()["content"] for other in others]
    busy = [a for a in answers if a.startswith("server busy")]
    assert busy and all(a.startswith("server busy") or "now registered" in a
                        for a in answers), answers
    expect_info(bob.request("names"), "bob")                 # standard requests: as ever


def test_no_operators_without_a_configured_password(make_server, connect):
    srv = make_server()
    alice = connect(srv, "alice")
    expect_error(alice.request("oper", "anything"), "no operator password")
    expect_error(alice.request("kick", "bob"), "^kick needs operator rights$")
    srv.wait_for_log(r"operators: disabled")


def test_operator_from_the_environment_kicks(make_server, connect):
    srv = make_server("--rate", "0", env={"KTN_OPER_PASSWORD": OPER})
    op, bob, carol = (connect(srv, name) for name in ("op", "bob", "carol"))
    expect_error(op.request("oper", "wrong"), "^wrong operator password$")
    expect_info(op.request("oper", OPER), "you are now an operator")
    expect_error(carol.request("kick", "bob"), "^kick needs operator rights$")
    op.send("kick", "bob  too loud")
    payloads = bob.wait_closed()
    errors = [p for p in payloads if p["response"] == "error"]
    assert [p["content"] for p in errors] == ["kicked by op: too loud"]
    assert payloads[-1] is errors[0]                     # the error, then the close
    assert carol.notice("kicked") == "bob was kicked by op (too loud)"
    assert op.notice("kicked") == "bob was kicked by op (too loud)"
    again = connect(srv, "bob")                          # a kick is not a ban
    expect_info(again.request("names"), "bob")
    assert OPER not in "".join(srv.log_lines)


def test_operator_from_a_file_bans_unbans_and_purges(make_server, connect, tmp_path):
    secret_file = tmp_path / "oper"
    secret_file.write_text(OPER + "\n")
    srv = make_server("--rate", "0", "--oper-password-file", str(secret_file))
    op, bob, carol = (connect(srv, name) for name in ("op", "bob", "carol"))
    expect_info(op.request("oper", OPER), "operator")
    for text in ("spam one", "hello", "spam two"):
        speaker = carol if text == "hello" else bob
        speaker.send("msg", text)
        for client in (op, bob, carol):
            assert client.reply()["content"] == text
    op.send("purge", "bob")
    for client in (op, bob, carol):
        assert client.notice("removed") == "2 messages from bob were removed by op"
    fresh = connect(srv)
    assert [m["content"] for m in fresh.login("dave")["content"]] == ["hello"]
    op.send("ban", "BOB spamming")
    assert [p["content"] for p in bob.wait_closed() if p["response"] == "error"] == \
        ["banned by op: spamming"]
    assert carol.notice("banned") == "bob was banned by op (spamming)"
    assert op.notice("banned") == "bob was banned by op (spamming)"
    refused = connect(srv)
    expect_error(refused.request("login", "Bob"), "^you are banned: spamming$")
    # loopback is never banned: others from 127.0.0.1 still log in
    connect(srv, "erin")
    expect_info(op.request("bans"), r"^Bans \(1\): bob \(spamming\) by op$")
    expect_info(op.request("ban", "ghost"), "ghost is banned")
    expect_info(op.request("unban", "bob"), "^bob is no longer banned$")
    expect_error(op.request("unban", "bob"), "^bob is not banned$")
    expect_info(op.request("bans"), r"^Bans \(1\): ghost by op$")
    assert connect(srv, "bob")


def test_bad_operator_password_files_stop_the_server_at_start(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path in (str(tmp_path / "missing"), str(empty)):
        proc = subprocess.run([sys.executable, "-m", "chat.server", "--port", "0",
                               "--oper-password-file", path],
                              cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert "--oper-password-file" in proc.stderr
