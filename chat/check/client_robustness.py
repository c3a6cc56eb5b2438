"""Client checks for framing, peer habits, terminal safety and logout.

Framing: real servers write two payloads in one send and TCP splits one
across reads, even inside a UTF-8 character; a client that does
``json.loads(sock.recv(4096))`` loses them. Peer habits (PROTOCOL.md
section 2): history entries as JSON strings, ``msg`` as a response type,
numeric timestamps, ``names`` as a list. Safety: text from the network
must never reach the terminal raw, or any user can clear other people's
screens, retitle their windows or rewrite what they see.
"""

import json
import time

from .client_session import payload_bytes, random_word
from .report import failed, noted, passed

RULE_SHOW = "PROTOCOL.md 3: every response is shown to the person"
RULE_REQUEST = ('PROTOCOL.md 1: every request is {"request": <request>, "content": <content>}, '
                "content null for requests without an argument")
RULE_JOINED = "PROTOCOL.md 2: servers write payloads back to back; one read may hold several"
RULE_SPLIT = ("PROTOCOL.md 2: TCP may split a payload across reads, even inside a multi-byte "
              "UTF-8 character")
RULE_PEERS = "PROTOCOL.md 2: what real servers send; the client should show it all"
RULE_ESCAPES = ("PROTOCOL.md 3: text from the network is shown with control characters "
                "neutralised; another user must not be able to send escape sequences")
RULE_ONE_WRITE = ("PROTOCOL.md 2: many servers json.loads each recv(); two requests in one "
                  "write crash them")
RULE_LOGOUT = "PROTOCOL.md 3: the client exits cleanly on logout when the server closes"

SPLIT_GAP = 0.08


def _message(sender, text, timestamp="2026-11-28T12:00:00+01:00"):
    return {"timestamp": timestamp, "sender": sender, "response": "message", "content": text}


def _shown_or_fail(session, tokens, mark, what, sent, rule):
    if session.shows(tokens, mark):
        return passed("showed %s" % what)
    alive = "" if session.terminal.alive else " (the client exited)"
    return failed("did not show %s%s" % (what, alive), sent,
                  "the client showed: %s" % session.terminal.tail(), rule)


def names_help_requests(run):
    session = run.logged_in_session()
    lines = (run.options.names, run.options.help)
    session.terminal.type("".join(line + "\r" for line in lines))   # pasted at once
    got = []
    for expected, answer in (("names", "Users online (2): %s, bob" % session.name),
                             ("help", "login <name>, logout, msg <text>, names, help")):
        request = session.expect_request(expected, run.options.timeout)
        got.append(request)
        if request is not None:   # at once: the last payload was read long ago
            session.send("info", answer, paced=False)
    run.state["pasted"] = got
    for (expected, line), request in zip((("names", lines[0]), ("help", lines[1])), got):
        if request is None:
            return failed("typing %r sent nothing" % line, line, session.terminal.tail(),
                          RULE_REQUEST)
        value = request[0]
        if not isinstance(value, dict) or value.get("request") != expected:
            return failed("typing %r sent the wrong request" % line, line,
                          getattr(value, "message", value), RULE_REQUEST)
    return passed("typing %r and %r sent names and help" % lines)


def two_in_one_read(run):
    session = run.logged_in_session()
    first, second = run.token(), run.token()
    data = (payload_bytes("message", "one %s" % first, "bob", newline=False)
            + payload_bytes("message", "two %s" % second, "bob", newline=False))
    mark = session.terminal.mark()
    session.peer.write(data)
    return _shown_or_fail(session, [first, second], mark,
                          "both messages of one read (back to back, no delimiter)", data,
                          RULE_JOINED)


def _split_send(session, data, cuts):
    points = [0, *cuts, len(data)]
    pieces = [data[a:b] for a, b in zip(points, points[1:])]
    for index, piece in enumerate(pieces):
        session.peer.write(piece, paced=index == 0)
        if index < len(pieces) - 1:
            session.run.pump.pause(SPLIT_GAP)
    return b" | ".join(pieces)


def split_reads(run):
    session = run.logged_in_session()
    token = run.token()
    data = payload_bytes("message", "split %s" % token, "bob")
    mark = session.terminal.mark()
    sent = _split_send(session, data, (9, len(data) // 2))
    return _shown_or_fail(session, [token], mark, "a message split in three reads", sent,
                          RULE_SPLIT)


def split_utf8(run):
    session = run.logged_in_session()
    token = run.token()
    text = "%s bl\u00e5b\u00e6r \u2713" % token
    data = payload_bytes("message", text, "bob", ensure_ascii=False)
    cuts = (data.index("\u00e5".encode()) + 1, data.index("\u2713".encode()) + 2)
    mark = session.terminal.mark()
    sent = _split_send(session, data, cuts)
    return _shown_or_fail(session, [text], mark,
                          "a message split inside UTF-8 characters, intact", sent, RULE_SPLIT)


def history_strings(run):
    session = run.logged_in_session()
    first, second = run.token(), run.token()
    entries = [json.dumps(_message("bob", "old %s" % first)),
               json.dumps(_message("bob", "old %s" % second))]
    mark = session.terminal.mark()
    session.send("history", entries)
    return _shown_or_fail(session, [first, second], mark,
                          "a history whose entries are JSON strings", entries, RULE_PEERS)


def msg_response_type(run):
    session = run.logged_in_session()
    token = run.token()
    mark = session.terminal.mark()
    session.send("msg", "typed %s" % token, sender="bob")
    return _shown_or_fail(session, [token], mark, "a message with response type 'msg'",
                          _message("bob", token) | {"response": "msg"}, RULE_PEERS)


def numeric_timestamp(run):
    session = run.logged_in_session()
    token = run.token()
    mark = session.terminal.mark()
    stamp = time.time()
    session.send("message", "timed %s" % token, sender="bob", timestamp=stamp)
    return _shown_or_fail(session, [token], mark, "a message whose timestamp is a number",
                          _message("bob", token, stamp), RULE_PEERS)


def names_list(run):
    session = run.logged_in_session()
    first, second = "ann" + random_word(run.rng, 4), "ben" + random_word(run.rng, 4)
    mark = session.terminal.mark()
    session.send("info", [first, second])
    return _shown_or_fail(session, [first, second], mark, "an info whose content is a list",
                          [first, second], RULE_PEERS)


def _escape_probe(run, send):
    """Send text carrying escape sequences; none may reach the terminal raw."""
    session = run.logged_in_session()
    number = run.rng.randrange(10000, 99999)
    token = run.token()
    sequences = ("\x1b]2;ktn%d\x07" % number,     # retitle the window
                 "\x1b[%d;1H" % number,           # move the cursor
                 "\x9b%d;2H" % number)            # the same with the 8-bit CSI
    text = "esc %s" % "".join(sequences) + " end %s" % token
    mark = session.terminal.mark()
    send(session, text)
    shown = session.shows([token], mark)
    raw = bytes(session.terminal.output[mark:])
    leaked = [s for s in sequences if s.encode("utf-8") in raw or s.encode("latin-1") in raw]
    if leaked:
        return failed("printed %d of %d escape sequences raw" % (len(leaked), len(sequences)),
                      text, raw[-200:], RULE_ESCAPES)
    if not shown:
        return failed("did not show the text around the escape sequences", text,
                      session.terminal.tail(), RULE_SHOW)
    return passed("showed the text with the escape sequences neutralised")


def escapes_in_message(run):
    return _escape_probe(run, lambda s, text: s.send("message", text, sender="mallory"))


def escapes_in_notices(run):
    def send(session, text):
        session.send("info", text)
        session.send("error", text)
    return _escape_probe(run, send)


def logout_request(run):
    session = run.logged_in_session()
    line = run.options.logout
    session.type_line(line)
    got = session.expect_request("logout", run.options.timeout)
    run.state["logout"] = (session, got)
    if got is not None:
        session.send("info", "Logged out")
        session.peer.close()
    if got is None:
        return failed("typing %r sent nothing" % line, line, session.terminal.tail(),
                      RULE_REQUEST)
    value = got[0]
    if not isinstance(value, dict) or value.get("request") != "logout":
        return failed("typing %r sent the wrong request" % line, line,
                      getattr(value, "message", value), RULE_REQUEST)
    return passed("typing %r sent logout" % line)


def exits_after_logout(run):
    session, got = run.state["logout"]
    if got is None:
        return noted("no logout was sent, so nothing to judge")
    if not run.pump.wait(lambda: not session.terminal.alive, run.options.timeout):
        return failed("still running %.0f s after logout and the server's close"
                      % run.options.timeout, None, session.terminal.tail(), RULE_LOGOUT)
    return passed("exited with status %s after logout" % session.terminal.proc.returncode)


def one_request_per_write(run):
    got = run.state.get("pasted") or []
    if len(got) < 2 or None in got:
        return noted("names and help were not both sent, so nothing to judge")
    if got[0][1] == got[1][1]:
        return failed("two lines pasted at once reached the server in one read (sent "
                      "without waiting for an answer)", None,
                      [got[0][0], got[1][0]], RULE_ONE_WRITE)
    return passed("two lines pasted at once reached the server in separate reads")


def null_content(run):
    requests = [r[0] for r in run.state.get("pasted") or [] if r is not None]
    logout = run.state.get("logout", (None, None))[1]
    if logout is not None:
        requests.append(logout[0])
    odd = [r for r in requests if isinstance(r, dict) and ("content" not in r
                                                           or r["content"] is not None)]
    if odd:
        return failed("a request without an argument did not carry content null", None,
                      odd[0], RULE_REQUEST)
    return passed("names, help and logout carried content null")
