"""WebSocket frames (RFC 6455), sans-I/O: bytes in, messages out.

Theory of operation
-------------------
``FrameDecoder`` reads what a client sends: ``feed(data)`` returns the
events complete so far, in order: ``Message`` (a whole text or binary
message, its fragments joined), ``Ping``, ``Pong`` and ``CloseFrame``.
A violation ends the stream with ``WebSocketError`` carrying the close
code to send (RFC 6455 section 7.4.1):

* 1002 (protocol error): an unmasked client frame, reserved bits, an
  unknown opcode, a fragmented or oversized control frame, a continuation
  without a start or a new message inside a fragmented one, a 64-bit
  length with its top bit set, a malformed close payload;
* 1007 (invalid data): a text message, or a close reason, that is not
  UTF-8 (checked incrementally, fragment by fragment, so a split
  character is fine and an invalid byte is caught at once);
* 1009 (too big): a message over ``max_message`` bytes, caught from the
  frame header before its payload is buffered.

Control frames may arrive between the fragments of a message, as the RFC
allows. The buffer is consumed by offset and only compacted once per
``feed``, so a 1 MiB frame in 1-byte pieces costs O(n) work. Unmasking
XORs the payload as one big integer (C speed, no Python loop per byte).

``encode`` writes frames: unmasked from a server, masked from a client
(tests and the load generator speak as clients). Nothing here knows
sockets or chat.
"""

import codecs
import collections
import os
import struct

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = (CONTINUATION, TEXT, BINARY)
CONTROL_OPCODES = (CLOSE, PING, PONG)

NORMAL, GOING_AWAY, PROTOCOL_ERROR, UNSUPPORTED_DATA = 1000, 1001, 1002, 1003
NO_STATUS, INVALID_DATA, POLICY_VIOLATION, TOO_BIG = 1005, 1007, 1008, 1009
INTERNAL_ERROR = 1011

#: The largest message a decoder accepts unless told otherwise.
DEFAULT_MAX_MESSAGE = 64 * 1024
#: A control frame's payload is at most this (RFC 6455 section 5.5).
MAX_CONTROL_PAYLOAD = 125

Message = collections.namedtuple("Message", "text data")   # text: str, or None for binary
Ping = collections.namedtuple("Ping", "data")
Pong = collections.namedtuple("Pong", "data")
CloseFrame = collections.namedtuple("CloseFrame", "code reason")


class WebSocketError(Exception):
    """The peer broke the protocol: close with ``code`` (then hang up)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _valid_close_code(code):
    """Codes a peer may send (RFC 6455 section 7.4)."""
    return (1000 <= code <= 1003 or 1007 <= code <= 1011 or 1012 <= code <= 1014
            or 3000 <= code <= 4999)


def unmask(payload, mask):
    """``payload`` XOR the 4-byte ``mask`` repeated (also masks)."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(n, "big")


class FrameDecoder:
    """A client's frames in, events out (see the module docstring)."""

    def __init__(self, max_message=DEFAULT_MAX_MESSAGE, require_mask=True):
        self.max_message = max_message
        self.require_mask = require_mask    # a server's decoder: client frames are masked
        self._buffer = bytearray()
        self._offset = 0
        self._opcode = None                 # of the fragmented message under way
        self._parts = []
        self._size = 0
        self._utf8 = None                   # incremental decoder of a text message
        self.failed = None

    def feed(self, data):
        """Add ``data``; return the complete events. Raises
        ``WebSocketError`` at the first violation (and on every call after)."""
        if self.failed is not None:
            raise self.failed
        self._buffer += data
        events = []
        try:
            while True:
                frame = self._next_frame()
                if frame is None:
                    break
                event = self._frame(*frame)
                if event is not None:
                    events.append(event)
        except WebSocketError as exc:
            self.failed = exc
            if events:
                return events   # hand those out; the error comes next time
            raise
        finally:
            if self._offset:
                del self._buffer[:self._offset]
                self._offset = 0
        return events

    def _next_frame(self):
        """(fin, opcode, payload) of the next whole frame, or None."""
        buffer, start = self._buffer, self._offset
        available = len(buffer) - start
        if available < 2:
            return None
        first, second = buffer[start], buffer[start + 1]
        fin, rsv, opcode = first & 0x80, first & 0x70, first & 0x0F
        masked, length = second & 0x80, second & 0x7F
        if rsv:
            raise WebSocketError(PROTOCOL_ERROR, "reserved bits set without an extension")
        if opcode not in DATA_OPCODES and opcode not in CONTROL_OPCODES:
            raise WebSocketError(PROTOCOL_ERROR, "unknown opcode %d" % opcode)
        if self.require_mask and not masked:
            raise WebSocketError(PROTOCOL_ERROR, "a client frame must be masked")
        header = 2
        if length == 126:
            if available < 4:
                return None
            length = struct.unpack_from("!H", buffer, start + 2)[0]
            header = 4
        elif length == 127:
            if available < 10:
                return None
            length = struct.unpack_from("!Q", buffer, start + 2)[0]
            if length >> 63:
                raise WebSocketError(PROTOCOL_ERROR, "frame length with its top bit set")
            header = 10
        if opcode in CONTROL_OPCODES:
            if not fin:
                raise WebSocketError(PROTOCOL_ERROR, "a control frame cannot be fragmented")
            if length > MAX_CONTROL_PAYLOAD:
                raise WebSocketError(PROTOCOL_ERROR, "control frame over 125 bytes")
        elif self._size + length > self.max_message:
            raise WebSocketError(TOO_BIG, "message over %d bytes" % self.max_message)
        mask_size = 4 if masked else 0
        end = start + header + mask_size + length
        if len(buffer) < end:
            return None
        payload = bytes(buffer[start + header + mask_size:end])
        if masked:
            payload = unmask(payload, bytes(buffer[start + header:start + header + 4]))
        self._offset = end
        return bool(fin), opcode, payload

    def _frame(self, fin, opcode, payload):
        if opcode == PING:
            return Ping(payload)
        if opcode == PONG:
            return Pong(payload)
        if opcode == CLOSE:
            return _close_frame(payload)
        if opcode == CONTINUATION:
            if self._opcode is None:
                raise WebSocketError(PROTOCOL_ERROR, "continuation frame without a message")
        else:
            if self._opcode is not None:
                raise WebSocketError(PROTOCOL_ERROR, "new message inside a fragmented one")
            self._opcode = opcode
            if opcode == TEXT:
                self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._size += len(payload)
        if self._utf8 is not None:
            try:
                self._parts.append(self._utf8.decode(payload, final=fin))
            except UnicodeDecodeError:
                raise WebSocketError(INVALID_DATA, "text message is not UTF-8") from None
        else:
            self._parts.append(payload)
        if not fin:
            return None
        text = "".join(self._parts) if self._utf8 is not None else None
        data = None if text is not None else b"".join(self._parts)
        self._opcode, self._parts, self._size, self._utf8 = None, [], 0, None
        return Message(text, data)


def _close_frame(payload):
    if not payload:
        return CloseFrame(NO_STATUS, "")
    if len(payload) == 1:
        raise WebSocketError(PROTOCOL_ERROR, "close payload of one byte")
    code = struct.unpack("!H", payload[:2])[0]
    if not _valid_close_code(code):
        raise WebSocketError(PROTOCOL_ERROR, "invalid close code %d" % code)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise WebSocketError(INVALID_DATA, "close reason is not UTF-8") from None
    return CloseFrame(code, reason)


def encode(opcode, payload, fin=True, mask=False):
    """One frame. ``mask``: a client's frame (a random key, or these 4 bytes)."""
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return head + payload
    key = mask if isinstance(mask, bytes) else os.urandom(4)
    return head + key + unmask(payload, key)


def text_frame(text):
    """A server's text frame holding ``text``."""
    return encode(TEXT, text.encode("utf-8"))


def close_frame(code=NORMAL, reason="", mask=False):
    """A close frame (``reason`` cut to fit a control frame)."""
    reason = reason.encode("utf-8")[:MAX_CONTROL_PAYLOAD - 2]
    reason = reason.decode("utf-8", "ignore").encode("utf-8")   # no character cut in two
    payload = struct.pack("!H", code) + reason
    return encode(CLOSE, payload, mask=mask)
