"""The wire vocabulary of the KTN protocol (PROTOCOL.md sections 1 and 3).

What a request and a response look like, how a response is encoded, and
how a decoded JSON value is checked into a ``Request`` or rejected with a
``RequestError`` naming what is wrong. No sockets, no state.

Encoding follows "be conservative": ``json.dumps`` with the default
``ensure_ascii=True`` (pure ASCII, safe for Python 2 peers), keys in the
standard's order, one ``\\n`` after each payload. A response whose
content is a string (every one but ``history``) is formatted from its
``quote``d strings instead, byte for byte what ``json.dumps`` writes (the
tests hold the two together): a message's text is quoted once, for its
size check and for its payload (``encode_quoted``).
"""

import datetime
import json
import time

SERVER_SENDER = "server"

# Response types (section 1).
ERROR = "error"
INFO = "info"
MESSAGE = "message"
HISTORY = "history"

#: What peers put in ``content`` to mean "no argument" (section 2).
NO_ARGUMENT = (None, "", "None")

_encode = json.JSONEncoder().encode

#: A string as ``json.dumps`` writes it (quoted, escaped, ASCII); C.
quote = json.encoder.encode_basestring_ascii


class RequestError(Exception):
    """A request the peer got wrong; the text is sent back as an ``error``."""


class Request:
    """A checked request: a lower-case name and its content (or None)."""

    __slots__ = ("name", "content")

    def __init__(self, name, content):
        self.name = name
        self.content = content

    def __repr__(self):
        return "Request(%r, %r)" % (self.name, self.content)


def parse_request(value):
    """Check a decoded JSON value; return a ``Request`` or raise ``RequestError``.

    Extra keys are ignored; a missing ``content`` means no argument. The
    request name is matched without regard to case or surrounding spaces.
    """
    if not isinstance(value, dict):
        raise RequestError("a request must be a JSON object with 'request' and "
                           "'content' keys, not %s" % describe_type(value))
    if "request" not in value:
        raise RequestError("the request has no 'request' key")
    name = value["request"]
    if not isinstance(name, str):
        raise RequestError("'request' must be a string, not %s" % describe_type(name))
    return Request(request_name(value), value.get("content"))


def request_name(value):
    """The request name of a decoded JSON value as ``parse_request`` reads
    it (no surrounding spaces, lower case), or None if it names none: the
    server's own checks (password policy, answer budget, metrics) must see
    the request the core will handle, however the client spelled it."""
    if type(value) is dict:
        name = value.get("request")
        if type(name) is str:
            return name.strip().lower()
    return None


def describe_type(value):
    """A short JSON type name for error texts: ``a number``, ``null`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def encode_payload(obj):
    """One payload on the wire: ASCII JSON and a newline."""
    return _encode(obj).encode("ascii") + b"\n"


def encoded_length(text):
    """Bytes a string takes on the wire inside a payload, escapes included
    (``\\u00e5`` is 6 bytes, an emoji 12), without the quotes."""
    return len(quote(text)) - 2


_RESPONSE_KEYS = ["timestamp", "sender", "response", "content"]


def is_message_payload(data):
    """Whether ``data`` is one ``message`` response as ``encode_response``
    writes it: ASCII JSON, the four keys in order, strings, one newline at
    the end. (A cluster node checks what it reads from Redis before a
    client gets it: anyone with access may have written it. ``json.loads``
    is C; it costs about 2 us a message, less than a pattern.)"""
    if not (data.startswith(b'{"timestamp": "') and data.endswith(b"\n")
            and data.isascii() and data.count(b"\n") == 1):
        return False
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):   # RecursionError: nested too deep
        return False
    return (type(value) is dict and list(value) == _RESPONSE_KEYS
            and value["response"] == MESSAGE
            and all(type(v) is str for v in value.values()))


def encode_response(timestamp, sender, response, content):
    """Encode one response with the standard's four keys, in order (the first
    three are strings; ``content`` a string or, for ``history``, a list)."""
    if type(content) is str:
        return encode_quoted(timestamp, sender, response, quote(content))
    return encode_payload({"timestamp": timestamp, "sender": sender,
                           "response": response, "content": content})


def encode_quoted(timestamp, sender, response, quoted_content):
    """``encode_response`` of a string content given ``quote``d."""
    return ('{"timestamp": %s, "sender": %s, "response": %s, "content": %s}\n'
            % (quote(timestamp), quote(sender), quote(response), quoted_content)).encode("ascii")


class Clock:
    """ISO 8601 local timestamps with offset, seconds precision.

    Formatting a datetime costs microseconds; a chat server stamps every
    response, so the string is cached for the current second.
    """

    def __init__(self, now=time.time):
        self._now = now
        self._second = None
        self._text = None

    def timestamp(self):
        second = int(self._now())
        if second != self._second:
            self._second = second
            self._text = datetime.datetime.fromtimestamp(second).astimezone().isoformat(
                timespec="seconds")
        return self._text
