"""Peer-compatibility and extension checks of a server (warnings, information).

What breaks other people's clients even when the standard is met
(PROTOCOL.md section 2): two payloads in one read (most clients do
``json.loads(sock.recv(4096))``), history entries as JSON strings,
timestamps that are not strings, bytes that are not ASCII for Python 2
peers. And which of section 4's extension requests ``help`` announces.
"""

import json
import re

from .report import failed, noted, passed
from .server_session import describe
from .shapes import EXTENSION_REQUESTS

RULE_ONE_PER_READ = ("PROTOCOL.md 2: most clients json.loads each recv(); info and history "
                     "written back to back reach them in one read and crash them ('Extra data')")
RULE_HISTORY_OBJECTS = ("PROTOCOL.md 1: history is a list of message objects; clients that "
                        "expect objects crash on JSON strings")
RULE_STRING_TIME = ("PROTOCOL.md 2: clients slice or print the timestamp as text; a number "
                    "crashes them")
RULE_ASCII = ("PROTOCOL.md 3: json.dumps with ensure_ascii keeps the wire ASCII, safe for "
              "Python 2 peers")

#: Payloads closer than this count as written back to back: a naive reader
#: (json.loads of each recv) needs about this long to come back for the next.
MIN_GAP = 0.005


def one_payload_per_read(session):
    """A naive client: requests with no newline, one payload expected per read."""
    conn = session.connect()
    name = session.name("N")
    conn.send("login", name, newline=False)
    info = conn.take(lambda r: r.response == "info", session.timeout)
    history = conn.take(lambda r: r.response == "history", session.timeout)
    conn.close()
    if info is None or history is None:
        return noted("login did not answer both info and history (got %s), nothing to judge"
                     % (", ".join(r.response for r in (info, history) if r is not None)
                        or "neither"))
    if info.read == history.read:
        return failed("info and history after login arrived in one read", None,
                      _both(info, history),
                      RULE_ONE_PER_READ)
    gap = abs(history.when - info.when)
    if gap < MIN_GAP:
        return failed("info and history after login were written back to back (%.1f ms "
                      "apart): a reader slower than that gets both in one read" % (gap * 1000),
                      None, _both(info, history),
                      RULE_ONE_PER_READ)
    return passed("info and history after login arrived in separate reads, %.0f ms apart"
                  % (gap * 1000))


def history_as_objects(session):
    example = session.audit.string_history
    if example is not None:
        return failed("history entries are JSON strings, not objects", None, example.payload,
                      RULE_HISTORY_OBJECTS)
    return passed("history entries are objects")


def timestamps_for_peers(session):
    example = session.audit.timestamp
    if example is not None:
        return failed(example.problem, None, example.payload, RULE_STRING_TIME)
    return passed("every timestamp was a string")


def ascii_wire(session):
    for conn in session.seen:
        if any(byte > 0x7f for byte in conn.raw):
            at = next(i for i, byte in enumerate(conn.raw) if byte > 0x7f)
            return failed("the server sends non-ASCII bytes", None,
                          bytes(conn.raw[max(0, at - 40):at + 20]), RULE_ASCII)
    return passed("everything received was ASCII (non-ASCII text escaped)")


def delimiter(session):
    newline = any(b"}\n" in conn.raw for conn in session.seen)
    return noted("payloads end with %s; timestamps look like %s; server responses come from %s"
                 % ("a newline" if newline else "nothing (back to back)",
                    ", ".join(repr(t) for t in session.audit.timestamps[:2]) or "nothing",
                    ", ".join(repr(s) for s in sorted(session.audit.server_senders)) or "nobody"))


def extensions(session):
    text = session.state.get("help_text")
    if text is None:
        return noted("help was not answered, so no extension is known")
    found = [r for r in EXTENSION_REQUESTS if re.search(r"(?<![\w-])%s\b" % r, text, re.I)]
    if not found:
        return noted("help lists none of section 4's requests (%s)"
                     % ", ".join(EXTENSION_REQUESTS))
    return noted("help lists %s" % ", ".join(found))


def _both(info, history):
    return "info %s, then history %s" % (json.dumps(describe(info)), json.dumps(describe(history)))
