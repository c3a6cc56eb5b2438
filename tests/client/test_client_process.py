"""The command-line client as a real process against our real server.

Each client is ``python -m chat.client`` with pipes, or with a
pseudo-terminal as its controlling terminal where the test is about a
person at a keyboard (Ctrl-C, Ctrl-D, colours). Tests that do not care
what else happens on the server share one module-scoped server (flood
control off) and use distinct usernames; tests that need an exact history
or kill the server get their own.

Nothing sleeps: every wait reads the client's output (or waits for its
exit) with a deadline.
"""

import re
import shlex
import signal
import socket
import subprocess
import sys

import pytest

from client_support import clients, server  # noqa: F401 (fixtures)
from peers.client_process import ROOT, TIMEOUT
from support import Client, ServerProcess

pytestmark = pytest.mark.slow   # client and server processes

STAMP = r"\[\d\d:\d\d\]"
ANSI = "\x1b["


def login(client, name):
    client.send("login " + name)
    client.expect(STAMP + r" \* Login successful")
    client.expect(r"--- history: ")


# -- command line ---------------------------------------------------------------

def test_help_documents_every_option_with_its_default():
    result = subprocess.run([sys.executable, "-m", "chat.client", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0
    text = result.stdout
    for option, default in [("--host", "127.0.0.1"), ("--port", "9998"),
                            ("--pace-ms", "100"), ("--exit-wait", "2.0"),
                            ("--connect-timeout", "10.0"), ("--no-color", "False")]:
        assert option in text
        section = text[text.index(option):]
        assert "(default: %s" % default in section, option
    for word in ("login <name>", "logout", "names", "stdout", "stderr", "exit status"):
        assert word in text


def test_bad_option_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "chat.client", "--pace-ms", "-5"], cwd=ROOT,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert "must not be negative" in result.stderr


# -- chatting -------------------------------------------------------------------

def test_two_clients_chat(server, clients):
    alice = clients(server.port)
    bob = clients(server.port)
    login(alice, "alice")
    login(bob, "bob")
    alice.send("hello bob")                      # a plain line is a message
    bob.expect(STAMP + r" alice: hello bob\n")
    alice.expect(STAMP + r" alice: hello bob\n")  # the sender sees it too
    bob.send("msg hi alice, blåbær ✓")
    alice.expect(STAMP + r" bob: hi alice, blåbær ✓\n")
    bob.send("names")
    bob.expect(STAMP + r" \* Users online \(\d+\): .*alice.*bob")
    alice.send("logout")
    alice.expect(r"\* Logged out")
    assert alice.wait() == 0
    bob.send("/logout")
    assert bob.wait() == 0
    assert "Traceback" not in alice.err + bob.err


def test_late_client_sees_the_history(clients):
    srv = ServerProcess("--rate", "0")
    try:
        early = clients(srv.port)
        login(early, "early")
        early.send("first words", "msg second words")
        early.expect(r"early: first words\n")
        early.expect(r"early: second words\n")
        early.send("logout")
        assert early.wait() == 0
        late = clients(srv.port)
        late.send("login late")
        late.expect(r"\* Login successful\n--- history: 2 messages ---\n"
                    + STAMP + r" early: first words\n" + STAMP + r" early: second words\n")
        late.close_stdin()
        assert late.wait() == 0
    finally:
        srv.stop()


def test_empty_history_says_so(clients):
    srv = ServerProcess()
    try:
        client = clients(srv.port)
        client.send("login first")
        client.expect(r"\* Login successful\n--- history: empty ---\n")
        client.close_stdin()
        assert client.wait() == 0
    finally:
        srv.stop()


def test_errors_and_hints_are_shown(server, clients):
    client = clients(server.port)
    client.send("hello")                           # plain line before login: local hint
    client.expect(r"not logged in", stream="err")
    client.send("msg too early")                   # explicit command: the server refuses
    client.expect(STAMP + r" ! error: .+\n")
    client.send("login")                           # no name: local usage hint
    client.expect(r"usage: login <username>", stream="err")
    client.send("login bad!name")
    client.expect(STAMP + r" ! error: .+\n")
    login(client, "carol")
    client.send("login carol")
    client.expect(STAMP + r" ! error: already logged in.*\n")
    client.send("/frobnicate now")                 # unknown request, forwarded as typed
    client.expect(STAMP + r" ! error: .*frobnicate.*\n")
    client.send("still here")
    client.expect(STAMP + r" carol: still here\n")
    assert "You are not logged in" not in client.out   # hints are not on stdout
    client.close_stdin()
    assert client.wait() == 0


def test_taken_name_is_an_error_and_a_second_login_works(server, clients):
    first = clients(server.port)
    login(first, "dora")
    second = clients(server.port)
    second.send("login DORA", "typed before the answer")
    second.expect(STAMP + r" ! error: Username taken.*\n")
    # The plain line waited for the login's answer, then became a hint.
    second.expect(r"not logged in", stream="err")
    login(second, "dora2")
    second.send("now it goes")
    second.expect(r"dora2: now it goes\n")
    first.close_stdin()
    second.close_stdin()
    assert first.wait() == 0 and second.wait() == 0


def test_control_characters_from_others_are_neutralised(server, clients):
    watcher = clients(server.port)
    login(watcher, "watcher")
    evil = Client(server.port)
    try:
        evil.login("mallory")
        evil.send("msg", "\x1b[2J\x1b]0;pwned\x07 look \u202egnp.exe\nsecond line")
        watcher.expect(STAMP + r" mallory: \^\[\[2J\^\[\]0;pwned\^G look gnp\.exe\n"
                       r" +second line\n")
        assert "\x1b" not in watcher.out and "\u202e" not in watcher.out
    finally:
        evil.close()
    watcher.close_stdin()
    assert watcher.wait() == 0


# -- life cycle ------------------------------------------------------------------

def test_logout_exits_zero_with_stdin_still_open(server, clients):
    client = clients(server.port)
    login(client, "erin")
    client.send("logout")
    client.expect(STAMP + r" \* Logged out")
    assert client.wait() == 0
    assert client.err == ""


def test_piped_script_runs_and_exits():
    srv = ServerProcess()
    try:
        cmd = ("printf 'login bob7\\nmsg hi\\n' | %s -m chat.client --host 127.0.0.1 --port %d"
               % (shlex.quote(sys.executable), srv.port))
        result = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True,
                                timeout=TIMEOUT)
    finally:
        srv.stop()
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(STAMP + r" \* Login successful\n"
                        r"--- history: empty ---\n"
                        + STAMP + r" bob7: hi\n"
                        + STAMP + r" \* Logged out\. Bye, bob7!\n", result.stdout), result.stdout
    assert result.stderr == ""


def run_piped(port, lines, *args):
    """Pipe ``lines`` into a line client all at once; return the finished run."""
    return subprocess.run([sys.executable, "-m", "chat.client", "--line", "--host", "127.0.0.1",
                           "--port", str(port), *args],
                          input="".join(line + "\n" for line in lines), cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture
def flood_controlled():
    """A server with its default flood control (5 requests/s after a burst of 10)."""
    srv = ServerProcess()
    yield srv
    srv.stop()


def test_answers_held_back_by_flood_control_are_all_shown_before_logout(flood_controlled):
    # The client's gap (100 ms) outruns the server (5 answers a second): when the
    # logout goes out, answers to earlier requests are still owed, each an info
    # like the logout's own. Every one is shown, then the logout's, then we exit.
    result = run_piped(flood_controlled.port, ["login pipen"] + ["names"] * 14 + ["logout"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("* Users online (1): pipen\n") == 14, result.stdout
    assert result.stdout.endswith("* Logged out. Bye, pipen!\n"), result.stdout
    assert result.stderr == ""


def test_answers_held_back_are_all_shown_at_end_of_input_without_login(flood_controlled):
    result = run_piped(flood_controlled.port, ["help"] * 14)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("login <username>") == 14, result.stdout
    assert result.stderr == ""


def test_a_backlog_longer_than_the_exit_wait_is_shown_to_the_end():
    # 40 messages answered 20 a second, sent 100 a second: the logout leaves
    # ~1.5 s before its answer, three times --exit-wait, but the server is never
    # silent that long, so the client keeps reading.
    srv = ServerProcess("--rate", "20", "--burst", "2")
    try:
        texts = ["m%d" % i for i in range(40)]
        result = run_piped(srv.port, ["login backlog"] + texts,
                           "--pace-ms", "10", "--exit-wait", "0.5")
    finally:
        srv.stop()
    assert result.returncode == 0, result.stderr
    assert re.findall(r"backlog: (m\d+)\n", result.stdout) == texts, result.stdout
    assert result.stdout.endswith("* Logged out. Bye, backlog!\n"), result.stdout
    assert result.stderr == ""


def test_last_line_without_newline_is_sent(server, clients):
    client = clients(server.port)
    client.write("login frank\nmsg no newline at the end")
    client.close_stdin()
    client.expect(r"frank: no newline at the end\n")
    client.expect(r"\* Logged out")
    assert client.wait() == 0


def test_many_piped_lines_arrive_in_order(server, clients):
    listener = clients(server.port)
    login(listener, "listener")
    client = clients(server.port)
    lines = ["login grace"] + ["line %d" % i for i in range(20)]
    client.send(*lines)   # one write: the client paces them
    client.close_stdin()
    assert client.wait() == 0
    listener.expect(STAMP + r" grace: line 19\n")
    # in order, with nothing lost (a presence notice may come in between)
    lines = re.findall(r"grace: (line \d+)\n", listener.text["out"])
    assert lines == ["line %d" % i for i in range(20)]
    listener.close_stdin()
    assert listener.wait() == 0


def test_input_from_a_file(server, clients, tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("login heidi\nmsg from a file\n")
    with open(script, "rb") as stdin:   # epoll cannot watch a regular file
        client = clients(server.port, stdin=stdin)
        assert client.wait() == 0
    # the message, then the logout's answer; the shared server's presence
    # notices (other tests' users coming and going) may come between
    presence = r"(?:" + STAMP + r" \* [^\n]*(?:joined|left)[^\n]*\n)*"
    assert re.search(r"heidi: from a file\n" + presence + STAMP + r" \* Logged out", client.out)


def test_empty_input_exits_at_once(server, clients):
    client = clients(server.port, stdin=subprocess.DEVNULL)
    assert client.wait() == 0
    assert client.out == "" and client.err == ""


def test_end_of_input_waits_for_the_last_answer(server, clients):
    client = clients(server.port)
    client.send("help")
    client.close_stdin()
    assert client.wait() == 0
    assert re.match(STAMP + r" \* .*login <username>", client.out, re.S)


def test_server_death_exits_one(clients):
    srv = ServerProcess()
    try:
        client = clients(srv.port)
        login(client, "ivan")
        srv.stop(signal.SIGKILL)
        client.expect(r"-- (the server closed the connection|connection lost: .+)\n",
                      stream="err")
        assert client.wait() == 1
    finally:
        srv.stop()


def test_server_shutdown_is_shown_and_exits_one(clients):
    srv = ServerProcess()
    try:
        client = clients(srv.port)
        login(client, "judy")
        srv.stop(signal.SIGTERM)
        client.expect(STAMP + r" \* Server is shutting down\n")
        client.expect(r"-- the server closed the connection "
                      r"\(its last word: Server is shutting down\)\n", stream="err")
        assert client.wait() == 1
    finally:
        srv.stop()


def test_refused_port_exits_one_quickly(clients):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))    # bound, never listening: connects are refused
        port = unused.getsockname()[1]
        client = clients(port)
        assert client.wait(timeout=3) == 1
    assert client.out == ""
    assert client.err == "chat.client: cannot connect to 127.0.0.1:%d: Connection refused\n" % port


def test_unknown_host_exits_one_quickly(clients):
    client = clients(9998, host="no-such-host.invalid")
    assert client.wait(timeout=4) == 1
    assert client.out == ""
    assert re.fullmatch(r"chat\.client: cannot connect to no-such-host\.invalid:9998: .+\n",
                        client.err), client.err


def test_sigint_logs_out_first(server, clients):
    client = clients(server.port)
    login(client, "karl")
    client.signal(signal.SIGINT)
    client.expect(STAMP + r" \* Logged out")
    assert client.wait() == 0
    assert "Traceback" not in client.err


def test_sigterm_when_not_logged_in_exits_at_once(server, clients):
    client = clients(server.port)
    client.send("help")
    client.expect(r"\* ")   # connected and answered
    client.signal(signal.SIGTERM)
    assert client.wait() == 0
    assert client.err == ""


# -- at a terminal ----------------------------------------------------------------

def test_terminal_ctrl_d_logs_out(server, clients):
    client = clients(server.port, terminal=True)
    client.expect(r"-- connected to 127\.0\.0\.1:%d\n" % server.port, stream="err")
    login(client, "liam")
    client.write("msg half a li")   # a partial line, completed later
    client.write("ne\n")
    client.expect(r"liam: half a line\n")
    client.write(b"\x04")           # Ctrl-D at the start of a line
    client.expect(STAMP + r" \* Logged out")
    assert client.wait() == 0


def test_terminal_ctrl_c_logs_out(server, clients):
    client = clients(server.port, terminal=True)
    login(client, "mia")
    client.write(b"\x03")           # the terminal turns it into SIGINT
    client.expect(STAMP + r" \* Logged out")
    assert client.wait() == 0
    assert "Traceback" not in client.err and "KeyboardInterrupt" not in client.err


@pytest.mark.parametrize("args, env, colored", [
    ((), {}, True),
    (("--no-color",), {}, False),
    ((), {"NO_COLOR": "1"}, False),
])
def test_colour_only_on_a_terminal_when_wanted(server, clients, args, env, colored):
    client = clients(server.port, "--line", *args, terminal=True, terminal_stdout=True, env=env)
    client.send("login")                      # a hint on stderr, nothing sent
    client.expect("usage", stream="err")
    client.send("msg not yet")
    client.expect(r"error")
    assert (ANSI in client.out) == colored
    client.close_stdin()
    assert client.wait() == 0


def test_no_colour_into_a_pipe(server, clients):
    client = clients(server.port)
    client.send("msg not yet")
    client.expect(r"! error: ")
    assert ANSI not in client.out
    client.close_stdin()
    assert client.wait() == 0
