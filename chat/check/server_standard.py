"""The standard checks of a server: PROTOCOL.md section 1, rule by rule.

Each function is one check: it takes the ``ServerSession``, talks to the
server and returns a ``Verdict``. They run in the order of ``CHECKS``;
later ones use the users the earlier ones logged in (``session.state``).
Names are random (``ckA...``), so a run does not collide with real users
or an earlier run, and messages carry random tokens, so the checks
recognise their own among whatever else a live server sends.
"""

import re
import time

from .report import failed, passed
from .server_session import NotRun, describe, silence
from .shapes import STANDARD_REQUESTS, text_of

RULE_HELP = "PROTOCOL.md 1: help gets a text listing every request the server supports"
RULE_GATE = ("PROTOCOL.md 1: a client that is not logged in may only use login and help; "
             "any other request gets an error response")
RULE_LOGIN = "PROTOCOL.md 1: login <username> logs in; a valid name is letters A-Z, a-z, digits"
RULE_HISTORY = ("PROTOCOL.md 1: after a successful login the client receives the history "
                "(a history response, [] when nothing was said yet)")
RULE_NAME = "PROTOCOL.md 1: a username contains only the letters A-Z, a-z and the digits 0-9"
RULE_UNIQUE = "PROTOCOL.md 1: a name already logged in is refused with an error (any case)"
RULE_BROADCAST = ("PROTOCOL.md 1: message responses go to every logged-in client, "
                  "including the sender, with the content unchanged")
RULE_NOT_LOGGED_IN = "PROTOCOL.md 1: messages go to logged-in clients only"
RULE_HISTORY_KEPT = ("PROTOCOL.md 1: history is the list of every earlier message response, "
                     "as sent, in order")
RULE_NAMES = "PROTOCOL.md 1: names lists the usernames currently connected"
RULE_LOGOUT = "PROTOCOL.md 1: logout logs out and disconnects; the name is free again"
RULE_DISCONNECT = "PROTOCOL.md 3: an abrupt disconnect frees the name the same way as logout"

#: Names that break the username rule: each must be refused.
BAD_NAME_SHAPES = (
    ("an underscore", "ck_%s"),
    ("a Unicode letter", "ck\u00e5%s"),
    ("a Unicode digit", "ck\u0663%s"),
    ("a space inside", "ck %s"),
    ("a NUL character", "ck\x00%s"),
    ("a hyphen", "ck-%s"),
)


def help_before_login(session):
    conn = session.connect()
    session.state["gate"] = conn
    conn.send("help")
    got = conn.take_response(session.timeout)
    sent = {"request": "help", "content": None}
    if got is None:
        return failed("help got no answer", sent, silence(conn, session.timeout), RULE_HELP)
    session.state["help_text"] = text_of(got.content)
    if got.response != "info":
        return failed("help was answered with %s, not info" % got.response, sent,
                      got.value, RULE_HELP)
    missing = [r for r in STANDARD_REQUESTS
               if not re.search(r"\b%s\b" % r, session.state["help_text"], re.I)]
    if missing:
        return failed("the help text does not mention %s" % ", ".join(missing), sent,
                      got.value, RULE_HELP)
    return passed("info lists login, logout, msg, names and help")


def requests_before_login(session):
    conn = session.state.get("gate") or session.connect()
    refused = []
    for request, content in (("msg", "hello before login"), ("names", None)):
        conn.send(request, content)
        got = conn.take_response(session.timeout)
        sent = {"request": request, "content": content}
        if got is None or got.response != "error":
            return failed("%s before login was not refused with an error" % request, sent,
                          describe(got) if got else silence(conn, session.timeout), RULE_GATE)
        refused.append(request)
    # logout last, on a connection of its own: a wrong answer may close it
    other = session.connect()
    other.send("logout")
    got = other.take_response(session.timeout)
    other.close()
    if got is None or got.response != "error":
        return failed("logout before login was not refused with an error",
                      {"request": "logout", "content": None},
                      describe(got) if got else silence(other, session.timeout), RULE_GATE)
    return passed("msg, names and logout before login each got an error")


def login(session):
    name = session.name("A")
    conn = session.connect()
    accepted, answer, history = session.login(conn, name, want_history=True)
    sent = {"request": "login", "content": name}
    session.state["first_history"] = (history, conn)
    if answer is None:
        return failed("login got no answer", sent, silence(conn, session.timeout), RULE_LOGIN)
    if not accepted:
        return failed("the valid name %r was refused" % name, sent, answer.value, RULE_LOGIN)
    session.state["alice"] = (conn, name)
    return passed("%r logged in (first answer: %s)" % (name, answer.response))


def history_at_login(session):
    history, conn = session.state.get("first_history", (None, None))
    if "alice" not in session.state:
        raise NotRun("the first login failed")
    if history is None:
        return failed("no history response after the first login (was the history empty? "
                      "send [] anyway)", None, silence(conn, session.timeout), RULE_HISTORY)
    if not isinstance(history.content, list):
        return failed("history content is not a list", None, history.value, RULE_HISTORY)
    return passed("history with %d earlier messages" % len(history.content))


def username_rules(session):
    conn = session.connect()
    suffix = session.token()[:4]
    wrong = []
    for what, shape in BAD_NAME_SHAPES:
        name = shape % suffix
        if conn.closed:
            conn = session.connect()
        accepted, answer, _ = session.login(conn, name)
        if accepted:
            wrong.append((what, name, answer.value))
            conn.close()
        elif answer is None:
            wrong.append((what, name, silence(conn, session.timeout)))
            break   # a silent server: waiting on each name would only add timeouts
    conn.close()
    if wrong:
        what, name, got = wrong[0]
        return failed("accepted (or did not refuse) names with %s"
                      % ", ".join(w for w, _, _ in wrong),
                      {"request": "login", "content": name}, got, RULE_NAME)
    return passed("refused names with %s" % ", ".join(w for w, _ in BAD_NAME_SHAPES))


def _duplicate(session, variant, label):
    if "alice" not in session.state:
        raise NotRun("no user is logged in (the first login failed)")
    _, name = session.state["alice"]
    dup = variant(name)
    conn = session.connect()
    accepted, answer, _ = session.login(conn, dup)
    conn.close()
    sent = {"request": "login", "content": dup}
    if accepted:
        return failed("%r was accepted while %r is logged in" % (dup, name), sent,
                      answer.value, RULE_UNIQUE)
    if answer is None:
        return failed("no answer to a duplicate login", sent, "nothing", RULE_UNIQUE)
    return passed("%s %r refused" % (label, dup))


def duplicate_name(session):
    return _duplicate(session, lambda name: name, "the same name")


def duplicate_name_other_case(session):
    return _duplicate(session, lambda name: name.swapcase(), "the same name in another case")


def _send_message(session, conn, name, observers):
    """``conn`` (logged in as ``name``) sends a message; collect the copies."""
    token = session.token()
    text = "check %s: bl\u00e5b\u00e6r \u2713 \"quoted\" back\\slash \U0001F600" % token
    conn.send("msg", text)
    sent_at = time.monotonic()
    copies = {}
    for label, observer in observers:
        copies[label] = observer.take(
            lambda r: r.response == "message" and token in text_of(r.content), session.timeout)
    return text, sent_at, copies


def messages(session):
    if "alice" not in session.state:
        raise NotRun("no user is logged in (the first login failed)")
    alice, alice_name = session.state["alice"]
    bob_name = session.name("B")
    bob = session.connect()
    accepted, answer, _ = session.login(bob, bob_name)
    if not accepted:
        raise NotRun("a second user could not log in: %s" % describe(answer))
    session.state["bob"] = (bob, bob_name)
    observers = (("sender", alice), ("other", bob))
    sent = []
    for _ in range(2):
        text, sent_at, copies = _send_message(session, alice, alice_name, observers)
        sent.append((text, sent_at, copies))
    session.state["sent"] = sent
    request = {"request": "msg", "content": sent[0][0]}
    for text, _, copies in sent:
        got = copies["other"]
        if got is None:
            return failed("another logged-in user did not get the message", request,
                          silence(bob, session.timeout), RULE_BROADCAST)
        if got.content != text or got.value.get("sender") != alice_name:
            return failed("the message arrived changed (content or sender)", request,
                          got.value, RULE_BROADCAST)
    return passed("both messages reached the other user unchanged, sender %r" % alice_name)


def echo_to_sender(session):
    if "sent" not in session.state:
        raise NotRun("no message was sent")
    alice, alice_name = session.state["alice"]
    for text, _, copies in session.state["sent"]:
        got = copies["sender"]
        request = {"request": "msg", "content": text}
        if got is None:
            return failed("the sender did not get its own message back", request,
                          silence(alice, session.timeout), RULE_BROADCAST)
        if got.content != text or got.value.get("sender") != alice_name:
            return failed("the echo to the sender arrived changed", request, got.value,
                          RULE_BROADCAST)
    return passed("the sender got both messages back unchanged")


def not_logged_in_get_nothing(session):
    gate = session.state.get("gate")
    if gate is None or gate.closed or "sent" not in session.state:
        raise NotRun("no connection stayed open without logging in")
    # help is a barrier: what was sent to this connection before its answer is here
    gate.send("help")
    gate.take(lambda r: r.response == "info", session.timeout)
    session.pump.pause(session.options.settle)
    leaked = [r for r in gate.unread if r.response in ("message", "history")]
    if leaked:
        return failed("a connection that never logged in received %s" % leaked[0].response,
                      None, leaked[0].value, RULE_NOT_LOGGED_IN)
    return passed("a connection that never logged in got no messages")


def names(session):
    if "bob" not in session.state:
        raise NotRun("two users were not logged in")
    alice, alice_name = session.state["alice"]
    _, bob_name = session.state["bob"]

    def lists_both(r):
        text = text_of(r.content).lower()
        return r.response == "info" and alice_name.lower() in text and bob_name.lower() in text

    alice.send("names")
    got = alice.take(lists_both, session.timeout)
    if got is None:
        others = [r.value for r in alice.unread if r.response in ("info", "error")]
        return failed("names did not list both logged-in users %r and %r"
                      % (alice_name, bob_name), {"request": "names", "content": None},
                      others[-1] if others else silence(alice, session.timeout), RULE_NAMES)
    return passed("info lists both logged-in users")
