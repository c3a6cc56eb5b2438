"""Protocol logic shared by the two comparison baselines.

The baselines differ from each other (and from our server) only in their I/O
model, so the chat semantics live here once: request parsing, validation,
responses, history and presence text.  Everything is written the plain way:
``json.JSONDecoder().raw_decode`` on an accumulated buffer, ``json.dumps`` per
response, a fresh timestamp per response.  There is no pacing, no batching and
no output limit: a send function is called once per payload.

``Chat`` is not thread-safe; the threaded baseline calls it under one lock.
"""

import argparse
import codecs
import collections
import datetime
import json
import re

MAX_MESSAGE = 4096          # characters in a msg
MAX_REQUEST = 64 * 1024     # characters of one unfinished request
HELP_TEXT = ("Requests: login <username> (log in), logout (log out and "
             "disconnect), msg <message> (send a message to everyone), "
             "names (list the users), help (this text)")
NO_ARGUMENT = (None, "", "None")
USERNAME = re.compile(r"[A-Za-z0-9]{1,32}")

# What raw_decode may choke on at the end of a buffer that is merely cut
# short (a literal, a number or a \uXXXX escape split across reads).
_TRUNCATED = re.compile(
    r"(?:|-|[.eE][+-]?|n(?:u(?:l)?)?|t(?:r(?:u)?)?|f(?:a(?:l(?:s)?)?)?"
    r"|u[0-9a-fA-F]{0,4})\Z")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_decoder = json.JSONDecoder()


def timestamp():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def response(sender, kind, content):
    return {"timestamp": timestamp(), "sender": sender,
            "response": kind, "content": content}


def encode(obj):
    return json.dumps(obj).encode() + b"\n"


def server_response(kind, content):
    return encode(response("server", kind, content))


def _truncated(err, text):
    return (err.msg.startswith("Unterminated string")
            or _TRUNCATED.match(text, err.pos) is not None)


class RequestBuffer:
    """Incremental reader: bytes in, complete JSON values (or errors) out."""

    def __init__(self):
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""

    def feed(self, data):
        """Return the values completed by ``data``; an error is a string."""
        try:
            self.text += self.decoder.decode(data)
        except UnicodeDecodeError:
            self.decoder.reset()
            self.text = ""
            return ["Invalid UTF-8 in request"]
        values, pos, text = [], 0, self.text
        while True:
            pos = _WHITESPACE.match(text, pos).end()
            if pos == len(text):
                self.text = ""
                return values
            try:
                value, pos = _decoder.raw_decode(text, pos)
            except json.JSONDecodeError as err:
                if _truncated(err, text):
                    self.text = text[pos:]
                else:           # bad JSON: report it and drop the buffer
                    self.text = ""
                    values.append(f"Invalid JSON: {err.msg}")
                return values
            values.append(value)

    @property
    def overflow(self):
        return len(self.text) > MAX_REQUEST


def _phrase(names):
    if len(names) == 1:
        return names[0]
    if len(names) <= 3:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return f"{names[0]}, {names[1]} and {len(names) - 2} others"


class Chat:
    """Chat state and request handling, independent of the I/O model.

    ``send(conn, data)`` writes one payload to a connection, ``close(conn)``
    closes it once what was sent is written, ``presence_pending()`` is called
    when a presence notice becomes due (the server flushes it within a
    second by calling ``flush_presence``).  A connection object only needs a
    ``username`` attribute (None until logged in).
    """

    def __init__(self, send, close, presence_pending=lambda: None,
                 history_limit=1000):
        self.send, self.close = send, close
        self.presence_pending = presence_pending
        self.users = {}                     # lower-case name -> conn
        self.history = collections.deque(maxlen=max(0, history_limit))
        self.joined, self.left, self.joined_conns = [], [], set()
        self.handlers = {"login": self.login, "logout": self.logout,
                         "msg": self.msg, "names": self.names,
                         "help": self.help}

    def error(self, conn, text):
        self.send(conn, server_response("error", text))

    def handle(self, conn, request):
        """Handle one decoded JSON value, or an error string from the reader."""
        if isinstance(request, str):
            return self.error(conn, request)
        if not isinstance(request, dict):
            return self.error(conn, "A request must be a JSON object")
        name = request.get("request")
        if not isinstance(name, str):
            return self.error(conn, "The 'request' field must be a string")
        handler = self.handlers.get(name)
        if handler is None:
            return self.error(conn, f"Unknown request {name[:40]!r}; "
                                    "send 'help' for the list")
        if conn.username is None and name not in ("login", "help"):
            return self.error(conn, "Not logged in: log in first")
        content = request.get("content")
        if name in ("logout", "names", "help") and content not in NO_ARGUMENT:
            return self.error(conn, f"'{name}' takes no argument")
        handler(conn, content)

    def login(self, conn, name):
        if conn.username is not None:
            return self.error(conn, "Already logged in")
        if not isinstance(name, str):
            return self.error(conn, "Username must be a string")
        if not 1 <= len(name) <= 32:
            return self.error(conn, "Username must be 1 to 32 characters")
        if not USERNAME.fullmatch(name):
            return self.error(conn, "Username may only contain the letters "
                                    "A-Z, a-z and the digits 0-9")
        if name.lower() == "server":
            return self.error(conn, "Username 'server' is reserved")
        if name.lower() in self.users:
            return self.error(conn, "Username taken")
        conn.username = name
        self.users[name.lower()] = conn
        self.send(conn, server_response("info", "Login successful"))
        self.send(conn, server_response("history", list(self.history)))
        self._presence(conn, name, joined=True)

    def logout(self, conn, _content):
        self.send(conn, server_response("info", "Logged out, goodbye"))
        self.disconnect(conn)
        self.close(conn)

    def msg(self, conn, text):
        if not isinstance(text, str):
            return self.error(conn, "Message must be a string")
        if not text:
            return self.error(conn, "Message is empty")
        if len(text) > MAX_MESSAGE:
            return self.error(conn, f"Message is longer than {MAX_MESSAGE} "
                                    "characters")
        message = response(conn.username, "message", text)
        data = encode(message)              # encoded once for everyone
        for other in list(self.users.values()):
            self.send(other, data)
        self.history.append(message)

    def names(self, conn, _content):
        users = sorted((c.username for c in self.users.values()), key=str.lower)
        self.send(conn, server_response("info", "Users: " + ", ".join(users)))

    def help(self, conn, _content):
        self.send(conn, server_response("info", HELP_TEXT))

    def disconnect(self, conn):
        """Forget a connection (logout or lost); idempotent."""
        name, conn.username = conn.username, None
        if name is not None and self.users.get(name.lower()) is conn:
            del self.users[name.lower()]
            self._presence(conn, name, joined=False)

    def _presence(self, conn, name, joined):
        first = not (self.joined or self.left)
        if joined:
            self.joined.append(name)
            self.joined_conns.add(conn)
        else:
            self.left.append(name)
        if first:
            self.presence_pending()

    def flush_presence(self):
        """Send the coalesced presence notice, if any, to the other users."""
        if not (self.joined or self.left):
            return
        parts = []
        if self.joined:
            parts.append(_phrase(self.joined) + " joined")
        if self.left:
            parts.append(_phrase(self.left) + " left")
        data = server_response("info", "; ".join(parts))
        # A notice about nobody but its recipient ("alice joined" to alice)
        # is not sent; one that also names others goes to everyone.
        only = () if len(self.joined) != 1 or self.left else self.joined_conns
        self.joined, self.left, self.joined_conns = [], [], set()
        for conn in list(self.users.values()):
            if conn not in only:
                self.send(conn, data)


def parse_args(kind, argv=None):
    """The command line both baselines share (the harness's interface)."""
    parser = argparse.ArgumentParser(description="Baseline KTN chat server (%s)" % kind)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9998)
    parser.add_argument("--history-limit", type=int, default=1000,
                        help="messages kept for the history (default 1000)")
    parser.add_argument("--rate", type=float, default=None,
                        help="accepted for CLI compatibility and ignored: "
                             "baselines have no flood control")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)
