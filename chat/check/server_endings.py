"""Standard checks that end sessions, and the audit of every response seen.

They run after the framing checks: the history check waits until a second
has passed since the messages were sent (a server that restamps history
entries at login would otherwise often produce the same timestamp), and
logout and the abrupt disconnect end the users the other checks need.
"""

import time

from .report import failed, passed
from .server_session import NotRun, describe, silence
from .server_standard import RULE_DISCONNECT, RULE_HISTORY_KEPT, RULE_LOGOUT
from .shapes import history_entries

RULE_SHAPE = ("PROTOCOL.md 1: every response is a JSON object with exactly the keys "
              "timestamp, sender, response (error, info, message or history) and content")
RULE_TIMESTAMP = "PROTOCOL.md 1: timestamp must be a string"


def history_keeps_messages(session):
    sent = session.state.get("sent")
    if not sent:
        raise NotRun("no message was sent")
    copies = [(text, c["other"] or c["sender"]) for text, _, c in sent]
    if any(copy is None for _, copy in copies):
        raise NotRun("the messages never came back, so there is nothing to compare")
    wait = sent[0][1] + session.options.history_gap - time.monotonic()
    if wait > 0:
        session.pump.pause(wait)
    conn = session.connect()
    name = session.name("C")
    accepted, answer, history = session.login(conn, name, want_history=True)
    if not accepted:
        raise NotRun("a third user could not log in: %s" % describe(answer))
    if history is None:
        return failed("no history response at login", {"request": "login", "content": name},
                      silence(conn, session.timeout), RULE_HISTORY_KEPT)
    entries = history_entries(history.content)
    positions = []
    for text, copy in copies:
        if copy.value in entries:
            positions.append(entries.index(copy.value))
            continue
        similar = [e for e in entries if isinstance(e, dict) and e.get("content") == text]
        if similar:
            changed = sorted(k for k in set(similar[0]) | set(copy.value)
                             if similar[0].get(k) != copy.value.get(k))
            return failed("a message is in the history but changed (%s differs from the "
                          "broadcast)" % ", ".join(changed), copy.value, similar[0],
                          RULE_HISTORY_KEPT)
        return failed("an earlier message is missing from the history", copy.value,
                      history.value, RULE_HISTORY_KEPT)
    if positions != sorted(positions):
        return failed("the history holds the messages out of order", None, history.value,
                      RULE_HISTORY_KEPT)
    conn.close()
    return passed("a later login's history holds both messages, in order, exactly as broadcast")


def logout(session):
    if "bob" not in session.state:
        raise NotRun("the second user is not logged in")
    bob, name = session.state["bob"]
    bob.send("logout")
    closed = bob.wait_closed(session.timeout)
    replies = [r.response for r in bob.unread if r.response in ("info", "error")]
    behaviour = "%s and %s" % ("replied " + "/".join(replies) if replies else "did not reply",
                               "closed the connection" if closed else "kept it open")
    bob.close()
    accepted, conn, answer = session.login_eventually(name)
    conn.close()
    if not accepted:
        return failed("after logout the name %r is still taken (the server %s)"
                      % (name, behaviour), {"request": "login", "content": name},
                      describe(answer), RULE_LOGOUT)
    return passed("the server %s; the name was free again" % behaviour)


def abrupt_disconnect(session):
    if "alice" not in session.state:
        raise NotRun("no user is logged in")
    alice, name = session.state.pop("alice")
    alice.close(abrupt=True)
    accepted, conn, answer = session.login_eventually(name)
    conn.close()
    if not accepted:
        return failed("%r dropped the connection without logout and the name stayed taken"
                      % name, {"request": "login", "content": name}, describe(answer),
                      RULE_DISCONNECT)
    return passed("the name of a client that vanished was free again")


def response_shape(session):
    audit = session.audit
    if audit.invalid_json is not None:
        return failed("the server sent bytes that are not JSON (%d times): %s"
                      % (audit.invalid_json.count, audit.invalid_json.problem), None, None,
                      RULE_SHAPE)
    if audit.shape is not None:
        return failed("%d of %d responses broke the shape; first: %s"
                      % (audit.shape.count, audit.payloads, audit.shape.problem), None,
                      audit.shape.payload, RULE_SHAPE)
    return passed("all %d responses had the four keys and a standard type" % audit.payloads)


def timestamps_are_strings(session):
    audit = session.audit
    if audit.timestamp is not None:
        return failed("%d responses had a timestamp that is not a string; first: %s"
                      % (audit.timestamp.count, audit.timestamp.problem), None,
                      audit.timestamp.payload, RULE_TIMESTAMP)
    return passed("every timestamp was a string, e.g. %s"
                  % ", ".join(repr(t) for t in audit.timestamps[:2]))
