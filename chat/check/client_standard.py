"""The client check: type lines into a client, serve it every shape peers send.

Each check takes the ``ClientRun`` and returns a ``Verdict``. Most need a
live, logged-in session; a check that fails may leave the client crashed
or deaf, so after a failure the next check gets a fresh session (the
client restarted and logged in again), unless it continues the previous
check's exchange. Every message carries a random token, and a check looks
for its token in what the terminal shows after the moment it sent it.
"""

import json
import random
import time

from . import client_robustness as robustness
from .client_session import (CannotStart, CheckingServer, ClientSession, framing_problem,
                             random_word)
from .client_robustness import RULE_SHOW
from .report import Report, failed, passed
from .wire import Pump

RULE_REQUEST = ('PROTOCOL.md 1: every request is {"request": <request>, "content": <content>}; '
                "login and msg carry the name or text as typed")
RULE_HISTORY = "PROTOCOL.md 1: history is a list of earlier message objects, shown in order"


class ClientOptions:
    """Line templates and timing of a client check (all command-line options)."""

    def __init__(self, port=0, timeout=3.0, start_timeout=10.0, login="login {name}",
                 msg="msg {text}", names="names", help="help", logout="logout"):
        self.port = port
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.login = login
        self.msg = msg
        self.names = names
        self.help = help
        self.logout = logout


class ClientRun:
    """The checking server and the current session of the client under test."""

    def __init__(self, command, options, rng=None):
        self.command = command
        self.options = options
        self.rng = rng or random.Random()
        self.pump = Pump()
        self.server = CheckingServer(self.pump, options.port)
        self.session = None
        self.starts = 0
        self.state = {}

    def token(self):
        return random_word(self.rng, 8)

    def start(self):
        """A new session, not logged in."""
        if self.session is not None:
            self.session.close()
        self.session = None
        self.starts += 1
        self.session = ClientSession(self, self.command)
        return self.session

    def logged_in_session(self):
        """The current session if it is alive, else a fresh one logged in."""
        if self.session is not None and self.session.alive and self.session.name:
            return self.session
        session = self.start()
        name = "ck" + random_word(self.rng)
        session.type_line(self.options.login.replace("{name}", name))
        if session.expect_request("login", self.options.timeout) is None:
            raise CannotStart("after a restart the client sent nothing when '%s' was typed"
                              % self.options.login.replace("{name}", name))
        session.send("info", "Login successful")
        session.send("history", [])
        session.name = name
        return session

    def discard(self):
        if self.session is not None:
            self.session.close()
            self.session = None

    def close(self):
        self.discard()
        self.server.close()
        self.pump.close()


def message(sender, text, timestamp=None):
    return {"timestamp": timestamp or "2026-11-28T12:00:00+01:00", "sender": sender,
            "response": "message", "content": text}


def login_request(run):
    session = run.start()
    name = "ck" + random_word(run.rng)
    line = run.options.login.replace("{name}", name)
    session.type_line(line)
    got = session.expect_request("login", run.options.timeout)
    mark = session.terminal.mark()
    first, second = run.token(), run.token()
    bob = "bob" + random_word(run.rng, 3)
    session.send("info", "Login successful")
    session.send("history", [message(bob, "history one %s" % first),
                             message(bob, "history two %s" % second)])
    session.name = name
    run.state["login"] = (session, mark, first, second)
    return _judge_request(got, line, "login", name, session)


def _judge_request(got, line, request, content, session):
    if got is None:
        return failed("typing %r sent nothing" % line, line, "the client showed: %s"
                      % session.terminal.tail(), RULE_REQUEST)
    value, _ = got
    problem = framing_problem(value)
    if problem:
        return failed("typing %r sent a request that is %s" % (line, problem), line,
                      getattr(value, "message", value), RULE_REQUEST)
    if value["request"] != request or value.get("content") != content:
        return failed("typing %r sent the wrong request" % line, line, value, RULE_REQUEST)
    return passed("typing %r sent %s" % (line, json.dumps(value, ensure_ascii=False)))


def shows_login_answer(run):
    session, mark, _, _ = run.state["login"]
    if not session.shows(["Login successful"], mark):
        return failed("the info 'Login successful' was not shown", None,
                      session.terminal.tail(), RULE_SHOW)
    return passed("showed the info 'Login successful'")


def history_objects(run):
    session, mark, first, second = run.state["login"]
    if not session.shows([first, second], mark):
        return failed("the history's two messages (objects) were not both shown", None,
                      session.terminal.tail(), RULE_HISTORY)
    text = session.terminal.text(mark)
    if text.index(first) > text.index(second):
        return failed("the history's messages were shown out of order", None,
                      session.terminal.tail(), RULE_HISTORY)
    return passed("showed both history messages, in order")


def msg_request(run):
    session = run.logged_in_session()
    token = run.token()
    text = "hello %s bl\u00e5b\u00e6r" % token
    line = run.options.msg.replace("{text}", text)
    session.type_line(line)
    got = session.expect_request("msg", run.options.timeout)
    mark = session.terminal.mark()
    session.send("message", text, sender=session.name)
    run.state["own"] = (session, mark, token)
    return _judge_request(got, line, "msg", text, session)


def shows_own_message(run):
    session, mark, token = run.state["own"]
    if not session.shows([token], mark):
        return failed("the echo of its own message was not shown", None,
                      session.terminal.tail(), RULE_SHOW)
    return passed("showed the echo of its own message")


def shows_message(run):
    session = run.logged_in_session()
    token, sender = run.token(), "bob" + random_word(run.rng, 3)
    mark = session.terminal.mark()
    session.send("message", "hi %s from bob" % token, sender=sender)
    if not session.shows([token, sender], mark):
        return failed("a message from another user was not shown with its sender",
                      message(sender, "hi %s from bob" % token), session.terminal.tail(),
                      RULE_SHOW)
    return passed("showed a message from another user with the sender's name")


def shows_error(run):
    session = run.logged_in_session()
    token = run.token()
    mark = session.terminal.mark()
    session.send("error", "check error %s" % token)
    if not session.shows([token], mark):
        return failed("an error response was not shown", None, session.terminal.tail(),
                      RULE_SHOW)
    return passed("showed an error response")


#: (group, title, check, continues the previous check's exchange)
CHECKS = (
    ("standard", "login request", login_request, False),
    ("standard", "shows the login answer", shows_login_answer, True),
    ("standard", "history as objects", history_objects, True),
    ("standard", "msg request", msg_request, False),
    ("standard", "shows its own message", shows_own_message, True),
    ("standard", "shows messages", shows_message, False),
    ("standard", "shows errors", shows_error, False),
    ("standard", "names and help requests", robustness.names_help_requests, False),
    ("framing", "two payloads in one read", robustness.two_in_one_read, False),
    ("framing", "payload split across reads", robustness.split_reads, False),
    ("framing", "split inside a UTF-8 character", robustness.split_utf8, False),
    ("peer compatibility", "history as JSON strings", robustness.history_strings, False),
    ("peer compatibility", "msg as a response type", robustness.msg_response_type, False),
    ("peer compatibility", "numeric timestamps", robustness.numeric_timestamp, False),
    ("peer compatibility", "names as a list", robustness.names_list, False),
    ("safety", "escape sequences in messages", robustness.escapes_in_message, False),
    ("safety", "escape sequences in server notices", robustness.escapes_in_notices, False),
    ("standard", "logout request", robustness.logout_request, False),
    ("peer compatibility", "exits after logout", robustness.exits_after_logout, True),
    ("peer compatibility", "one request per write", robustness.one_request_per_write, True),
    ("peer compatibility", "no-argument requests carry null", robustness.null_content, True),
)


def check_client(command, options=None, rng=None):
    """Run every client check on ``command``; return the ``Report``."""
    options = options or ClientOptions()
    rep = Report("client", " ".join(command))
    started = time.monotonic()
    try:
        run = ClientRun(command, options, rng)
    except OSError as exc:
        rep.fatal = "cannot listen on 127.0.0.1:%d: %s" % (options.port, exc)
        return rep
    gave_up = None
    failed_before = False
    try:
        for group, title, check, continues in CHECKS:
            if gave_up is not None:
                rep.skip(group, title, "not run: %s" % gave_up)
                continue
            if failed_before and not continues:
                run.discard()   # it may be crashed or deaf: start afresh
            try:
                verdict = check(run)
            except CannotStart as exc:
                if run.starts <= 1 and run.session is None:
                    rep.fatal = str(exc)
                    return rep
                gave_up = str(exc)
                rep.skip(group, title, "not run: %s" % exc)
                continue
            except Exception as exc:   # a checker bug must not hide the other verdicts
                rep.skip(group, title, "the checker could not finish this check (%s: %s)"
                         % (type(exc).__name__, exc))
                continue
            rep.add(group, title, verdict)
            failed_before = verdict.ok is False
    finally:
        run.close()
        rep.duration = time.monotonic() - started
        rep.facts["client starts"] = run.starts
    return rep
