"""The one check that is not polite, run only when asked (``--stress N``).

N clients connect at once and log in together, ten of them send a message
each, and every one of the N must receive all ten. It shows whether a
server holds more than a classroom's worth of clients, and how long the
logins and the deliveries took. A refused connection, a lost login or a
lost message is a warning with the numbers.
"""

import time

from .report import failed, passed
from .server_session import ServerGone

RULE_STRESS = ("PROTOCOL.md 1: message responses go to every logged-in client; "
               "a server should hold many clients at once")

#: How many of the clients speak.
SPEAKERS = 10


def many_clients(session):
    count = session.options.stress
    conns = []
    try:
        for _ in range(count):
            conns.append(session.connect())
    except ServerGone as exc:
        for conn in conns:
            conn.close()
        return failed("connection %d of %d was refused (%s)" % (len(conns) + 1, count, exc),
                      None, None, RULE_STRESS)
    try:
        return _chat(session, conns)
    finally:
        for conn in conns:
            conn.close()


def _chat(session, conns):
    count = len(conns)
    patience = session.timeout * 3
    started = time.monotonic()
    for conn in conns:
        conn.send("login", session.name("S"))

    def answered(conn):
        return conn.closed or any(r.response in ("info", "history", "error") for r in conn.unread)

    session.pump.wait(lambda: all(answered(c) for c in conns), patience)
    login_time = time.monotonic() - started
    inside = [c for c in conns if any(r.response in ("info", "history") for r in c.unread)
              and not any(r.response == "error" for r in c.unread)]
    if len(inside) < count:
        return failed("only %d of %d clients logged in within %.0f s"
                      % (len(inside), count, patience), None, None, RULE_STRESS)
    tokens = []
    started = time.monotonic()
    for conn in inside[:SPEAKERS]:
        token = session.token()
        tokens.append(token)
        conn.send("msg", "stress %s" % token)

    def got_all(conn):
        return sum(1 for r in conn.unread if r.response == "message") >= len(tokens)

    session.pump.wait(lambda: all(got_all(c) for c in inside), patience)
    delivery_time = time.monotonic() - started
    short = [c for c in inside if not set(tokens) <= {
        token for r in c.unread if r.response == "message" for token in tokens
        if token in str(r.content)}]
    if short:
        return failed("%d of %d clients missed some of the %d messages (waited %.0f s)"
                      % (len(short), count, len(tokens), patience), None, None, RULE_STRESS)
    return passed("%d clients logged in at once in %.2f s; %d messages reached all of them "
                  "(%d deliveries) in %.2f s" % (count, login_time, len(tokens),
                                                  count * len(tokens), delivery_time))
