"""Framing and robustness checks of a server: how it reads bytes.

Framing (a failure is not conformant, PROTOCOL.md sections 2 and 3): real
clients send requests with no delimiter, TCP joins two requests in one
read and splits one across reads, even inside a UTF-8 character.
Robustness (warnings): invalid JSON, values that are not requests, unknown
requests and an oversized request should each get an error while the
connection, and certainly the server, keep working.
"""

import json

from .report import failed, passed
from .server_session import NotRun, describe, silence
from .shapes import text_of
from .wire import request_bytes

RULE_NO_DELIMITER = ("PROTOCOL.md 2: peer clients send json.dumps(payload) with nothing after "
                     "it; a server must not wait for a newline")
RULE_JOINED = ("PROTOCOL.md 2: TCP may join several requests in one read; each must be "
               "answered")
RULE_SPLIT = ("PROTOCOL.md 2: TCP may split a request across reads, even inside a multi-byte "
              "UTF-8 character")
RULE_BAD_INPUT = ("PROTOCOL.md 3: bad input gets one clear error and the connection keeps "
                  "working; nothing a client sends may crash the server")


def _answers(conn, count, timeout):
    """Wait for ``count`` responses; return the ones that came."""
    got = []
    for _ in range(count):
        answer = conn.take_response(timeout)
        if answer is None:
            break
        got.append(answer)
    return got


def no_delimiter(session):
    conn = session.connect()
    data = request_bytes("help", newline=False)
    conn.send_raw(data)
    got = conn.take_response(session.timeout)
    conn.close()
    if got is None:
        return failed("a request with nothing after it was never answered", data,
                      silence(conn, session.timeout), RULE_NO_DELIMITER)
    return passed("help with no delimiter answered with %s" % got.response)


def _two_in_one_write(session, separator, how):
    conn = session.connect()
    data = request_bytes("help", newline=False) + separator + request_bytes(
        "names", newline=False) + separator
    conn.send_raw(data)
    got = _answers(conn, 2, session.timeout)
    conn.close()
    if len(got) < 2:
        return failed("two requests %s in one write got %d answers" % (how, len(got)), data,
                      silence(conn, session.timeout) if not got else got[0].value, RULE_JOINED)
    return passed("both requests (%s) answered" % how)


def two_requests_one_write(session):
    return _two_in_one_write(session, b"\n", "newline-separated")


def back_to_back(session):
    return _two_in_one_write(session, b"", "back to back, no delimiter")


def split_request(session):
    conn = session.connect()
    data = request_bytes("help")
    pieces = (data[:5], data[5:17], data[17:])
    for piece in pieces:
        conn.send_raw(piece)
        session.pump.pause(session.options.split_gap)
    got = conn.take_response(session.timeout)
    conn.close()
    if got is None:
        return failed("a request split in three writes was never answered",
                      " | ".join(repr(p) for p in pieces), silence(conn, session.timeout),
                      RULE_SPLIT)
    return passed("a request split in three writes answered with %s" % got.response)


def split_utf8(session):
    if "alice" not in session.state:
        raise NotRun("no user is logged in to see the message")
    observer, _ = session.state["alice"]
    conn = session.connect()
    name = session.name("U")
    accepted, answer, _ = session.login(conn, name)
    if not accepted:
        raise NotRun("could not log in: %s" % describe(answer))
    token = session.token()
    text = "split %s bl\u00e5 \u2713" % token
    data = json.dumps({"request": "msg", "content": text}, ensure_ascii=False).encode() + b"\n"
    first = data.index("\u00e5".encode()) + 1       # inside the 2-byte character
    second = data.index("\u2713".encode()) + 2      # inside the 3-byte character
    pieces = (data[:first], data[first:second], data[second:])
    for piece in pieces:
        conn.send_raw(piece)
        session.pump.pause(session.options.split_gap)

    def mine(r):
        return r.response == "message" and token in text_of(r.content)

    copies = [c for c in (conn.take(mine, session.timeout), observer.take(mine, session.timeout))
              if c is not None]
    conn.close()
    if not copies:
        return failed("a message split inside UTF-8 characters never came back (neither the "
                      "echo nor the copy to another user)", " | ".join(repr(p) for p in pieces),
                      silence(conn, session.timeout), RULE_SPLIT)
    wrong = [c for c in copies if c.content != text]
    if wrong:
        return failed("the message came back changed", text, wrong[0].value, RULE_SPLIT)
    return passed("a message split inside two UTF-8 characters arrived intact")


# -- robustness ------------------------------------------------------------

def _probe(session, inputs):
    """Send each bad input on one connection (a new one if it was closed);
    each should get an error, and ``help`` after them an answer."""
    conn = session.connect()
    findings = []
    for data in inputs:
        if conn.closed:
            conn = session.connect()
        conn.send_raw(data)
        got = conn.take_response(session.timeout)
        if got is None or got.response != "error":
            findings.append((data, describe(got) if got else silence(conn, session.timeout)))
    if conn.closed:
        conn = session.connect()
    conn.send("help")
    alive = conn.take_response(session.timeout)
    conn.close()
    if alive is None:
        findings.append((request_bytes("help"), "help after the bad input got no answer"))
    if findings:
        data, got = findings[0]
        return failed("%d of %d inputs were not answered with an error on a working "
                      "connection" % (len(findings), len(inputs) + 1), data, got,
                      RULE_BAD_INPUT)
    return passed("each got an error and the connection kept working")


def invalid_json(session):
    return _probe(session, [b'{"request": "help", "content": nul}\n',
                                      b'{"request": "help" "content": null}\n'])


def not_requests(session):
    return _probe(session, [b'[1, 2]\n', b'"help"\n', b'42\n',
                                      b'{"content": "no request key"}\n'])


def unknown_request(session):
    return _probe(session, [request_bytes("ktncheckunknown", None)])


def oversized_request(session):
    size = session.options.oversize
    conn = session.connect()
    data = json.dumps({"request": "msg", "content": "x" * size}).encode() + b"\n"
    complete = conn.send_raw(data, timeout=session.timeout)
    got = conn.take_response(session.timeout)
    closed = conn.closed or conn.wait_closed(session.options.settle)
    conn.close()
    probe = session.connect()
    probe.send("help")
    alive = probe.take_response(session.timeout)
    probe.close()
    what = "%s; %s" % ("answered %s" % got.response if got else "no answer",
                       "closed the connection" if closed else "kept the connection open")
    if alive is None:
        return failed("after a %d-byte request the server stopped answering (%s)"
                      % (len(data), what), "%d bytes" % len(data), None, RULE_BAD_INPUT)
    if got is None and not closed:
        return failed("a %d-byte request got no answer and the connection stayed open%s"
                      % (len(data), "" if complete else " (the server stopped reading)"),
                      "%d bytes" % len(data), None, RULE_BAD_INPUT)
    return passed("a %d-byte request: %s; the server kept working" % (len(data), what))
