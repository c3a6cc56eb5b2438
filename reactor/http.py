"""HTTP/1.1 requests, sans-I/O: bytes in, requests or one error out.

Theory of operation
-------------------
The server speaks just enough HTTP to serve a page, a few plain answers
and the WebSocket upgrade: requests without a body (``GET``, ``HEAD``).
``RequestParser.feed(data)`` returns every request whose head is complete
(pipelined requests come out in order) and stops at the first malformed
one with an ``HttpError`` carrying the status to answer (then the
connection closes: after a framing error the stream cannot be trusted).
Nothing here knows sockets or chat; the glue writes what ``response``
encodes.

Bounds, each named: the request line, one header line, the whole head and
the number of headers are capped (``431``/``414`` past them), so a peer
that sends a head without end costs at most ``MAX_HEAD`` bytes. The
buffer is scanned from where the last scan stopped, so a head arriving one
byte at a time costs O(n), not O(n^2) (h11's ``_receivebuffer`` idea).

A body is refused (``Content-Length`` above 0 or any
``Transfer-Encoding``: 400 / 501): nothing we serve takes one, and
reading none means no request smuggling through a body we ignored. After
an ``Upgrade`` the bytes that follow the head are no longer HTTP:
``take_rest()`` hands them to the next protocol.
"""

import base64
import collections
import hashlib
import re

#: The longest request line (method, target, version) we read.
MAX_REQUEST_LINE = 8 * 1024
#: The longest head (request line and every header line) we read.
MAX_HEAD = 16 * 1024
#: The most header lines in one request.
MAX_HEADERS = 64

METHODS = ("GET", "HEAD")
#: RFC 6455 section 1.3: appended to the client's key before hashing.
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

REASONS = {101: "Switching Protocols", 200: "OK", 204: "No Content", 301: "Moved Permanently",
           400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 414: "URI Too Long",
           426: "Upgrade Required", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
           505: "HTTP Version Not Supported"}

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/(\d)\.(\d)")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


class HttpError(Exception):
    """The peer sent what HTTP does not allow: answer ``status`` and close."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Request(collections.namedtuple("Request", "method target version headers")):
    """One request head; ``headers``: [(lower-case name, value)], as sent."""

    __slots__ = ()

    def header(self, name):
        """The value of header ``name`` (lower case), repeated ones joined
        with ", " as RFC 9110 allows; None if absent."""
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    def tokens(self, name):
        """A comma-separated header as a set of lower-case tokens."""
        value = self.header(name) or ""
        return {part.strip().lower() for part in value.split(",") if part.strip()}

    @property
    def keep_alive(self):
        """Whether the connection stays open after the answer (HTTP/1.1's
        default unless ``Connection: close``; HTTP/1.0 only if asked)."""
        connection = self.tokens("connection")
        if self.version >= (1, 1):
            return "close" not in connection
        return "keep-alive" in connection

    @property
    def path(self):
        """The target without its query."""
        return self.target.split("?", 1)[0]


class RequestParser:
    """Heads in, ``Request``s out (see the module docstring)."""

    def __init__(self, max_head=MAX_HEAD, max_headers=MAX_HEADERS,
                 max_request_line=MAX_REQUEST_LINE):
        self.max_head = max_head
        self.max_headers = max_headers
        self.max_request_line = max_request_line
        self._buffer = bytearray()
        self._scanned = 0          # where the search for the head's end resumes
        self.failed = None         # the HttpError, once one was raised

    def feed(self, data):
        """Add ``data``; return the requests now complete. Raises
        ``HttpError`` for a malformed one (and for every call after it)."""
        if self.failed is not None:
            raise self.failed
        self._buffer += data
        requests = []
        try:
            while True:
                end = self._buffer.find(b"\r\n\r\n", max(0, self._scanned - 3))
                if end < 0:
                    self._check_partial()
                    self._scanned = len(self._buffer)
                    return requests
                head = bytes(self._buffer[:end])
                del self._buffer[:end + 4]
                self._scanned = 0
                request = self._parse(head)
                requests.append(request)
                if "upgrade" in request.tokens("connection"):
                    return requests   # what follows is another protocol's
        except HttpError as exc:
            self.failed = exc
            if requests:   # answer those first; the error comes at the next feed
                return requests
            raise

    def take_rest(self):
        """The bytes after the last head (after an upgrade: the new protocol's)."""
        rest, self._buffer = bytes(self._buffer), bytearray()
        self._scanned = 0
        return rest

    @property
    def pending(self):
        """Bytes of a head not yet complete."""
        return len(self._buffer)

    def _check_partial(self):
        buffer = self._buffer
        line_end = buffer.find(b"\r\n")
        if line_end < 0 and len(buffer) > self.max_request_line:
            raise HttpError(414, "request line longer than %d bytes" % self.max_request_line)
        if len(buffer) > self.max_head:
            raise HttpError(431, "request head longer than %d bytes" % self.max_head)

    def _parse(self, head):
        if len(head) > self.max_head:
            raise HttpError(431, "request head longer than %d bytes" % self.max_head)
        lines = head.split(b"\r\n")
        request_line = lines[0]
        if len(request_line) > self.max_request_line:
            raise HttpError(414, "request line longer than %d bytes" % self.max_request_line)
        match = _REQUEST_LINE.fullmatch(request_line)
        if match is None:
            raise HttpError(400, "malformed request line")
        method, target, major, minor = match.groups()
        version = (int(major), int(minor))
        if version[0] != 1:
            raise HttpError(505, "only HTTP/1.x is spoken here")
        if len(lines) - 1 > self.max_headers:
            raise HttpError(431, "more than %d header lines" % self.max_headers)
        headers = [_parse_header(line) for line in lines[1:]]
        request = Request(method.decode("ascii"), target.decode("ascii"), version, headers)
        if request.method not in METHODS:
            raise HttpError(405, "only GET and HEAD are served")
        if version >= (1, 1) and request.header("host") is None:
            raise HttpError(400, "an HTTP/1.1 request needs a Host header")
        if request.header("transfer-encoding") is not None:
            raise HttpError(501, "no request takes a body here")
        length = request.header("content-length")
        if length is not None and length.strip() != "0":
            raise HttpError(400, "no request takes a body here")
        return request


def _parse_header(line):
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise HttpError(400, "malformed header line")   # obsolete folding included
    value = value.strip(b" \t")
    if not _FIELD_VALUE.fullmatch(value):
        raise HttpError(400, "control character in a header value")
    return name.decode("ascii").lower(), value.decode("latin-1")


def response(status, headers=(), body=b"", head_only=False):
    """An encoded response head (and ``body`` unless ``head_only``, for
    ``HEAD``); ``Content-Length`` is added unless the status has no body."""
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Unknown"))]
    lines += ["%s: %s" % (name, value) for name, value in headers]
    if status >= 200 and status not in (204, 304):
        lines.append("Content-Length: %d" % len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def websocket_accept(key):
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(key.strip().encode("ascii") + WEBSOCKET_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_websocket_key(key):
    """Whether ``key`` is 16 bytes in base64, as RFC 6455 asks."""
    try:
        return len(base64.b64decode(key.strip().encode("ascii"), validate=True)) == 16
    except (ValueError, UnicodeEncodeError):
        return False
