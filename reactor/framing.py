"""Incremental JSON stream decoder (sans-I/O).

Theory of operation
-------------------
Peers send JSON values back to back (``{..}{..}``), separated by any JSON
whitespace, split at any byte (even inside a UTF-8 character) and many per
read. ``JsonStreamDecoder.feed(data)`` takes whatever bytes arrived and
returns the complete values found so far, in order, interleaved with
``FramingError`` objects for the bad input it skipped.

Finding where a value ends is the only part done here; parsing it is left
to the C ``json`` module once the value is complete. A request is usually a
complete flat object, which one compiled regular expression recognises in
a single C-speed match. Anything else goes to the boundary scanner, which
keeps its state between feeds (scan offset, open brackets, inside-string
flag), so every byte is examined once: an object of n bytes arriving in k
pieces costs O(n + k). It jumps with compiled regular expressions (to the
next bracket or quote, to the end of a string body), never with a Python
loop over characters. Input is consumed by offset and the buffer compacted
once per feed, so many values in one read cost one memmove.

Bad input and what follows it:

* a syntax error inside a complete value, or a bracket closing the wrong
  kind (``{"a": [1}``, caught when it arrives): one error, then resume at
  the next ``{`` after the offending byte;
* bytes that cannot start a value (NUL floods, stray text): one error for
  the whole run, then resume at the next ``{``;
* invalid UTF-8: one error for that value;
* errors with no valid value and no newline between them collapse into
  the first one (``{]{]{]...``: one error, however long the run; a client
  that ends its requests with newlines gets one error per bad line). The
  rule depends on the bytes alone, never on how they were split;
* nesting deeper than ``max_depth``: one error, the value is discarded
  (without being buffered) until its brackets balance;
* a value larger than ``max_size``, complete or not: a fatal error; the
  stream cannot be trusted after it, and the decoder discards all further
  input. The caller is expected to close the connection.

The decoder never raises: every problem is returned as a ``FramingError``.

Most reads carry nothing but whole requests: ``reactor.whole_reads`` is
the shortcut for those, held to this decoder by the tests.
"""

import json
import re

#: Default cap on one value's size in bytes (PROTOCOL.md: 64 KiB per request).
DEFAULT_MAX_SIZE = 64 * 1024

#: Default cap on bracket nesting. Chat payloads are flat; the cap keeps the
#: C json parser far away from RecursionError on hostile input.
DEFAULT_MAX_DEPTH = 64

_WHITESPACE = re.compile(rb"[ \t\r\n]*")
# Outside strings only brackets and quotes matter.
_STRUCTURAL = re.compile(rb'[{}\[\]"]')
# A string body: anything but quote and backslash, or complete escapes. It
# always matches; what follows the match is the closing quote, a lone
# trailing backslash, or the end of the data received so far.
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
# A bare scalar (number, true, false, null) ends at whitespace or structure.
_SCALAR = re.compile(rb"[A-Za-z0-9+\-.]*")
_SCALAR_START = frozenset(b"-0123456789tfn")

# Fast path: a complete flat object (string keys; string, number, literal
# values), which is what requests are. One C-speed match finds its end; the
# scanner below handles everything else. Every alternative is unambiguous,
# so a failed match costs one pass over the bytes, not backtracking.
_STR = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_SCALAR_VALUE = rb'(?:' + _STR + rb'|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|null|true|false)'
_MEMBER = rb'[ \t\r\n]*' + _STR + rb'[ \t\r\n]*:[ \t\r\n]*' + _SCALAR_VALUE + rb'[ \t\r\n]*'
_FLAT_OBJECT = re.compile(rb'\{(?:' + _MEMBER + rb'(?:,' + _MEMBER + rb')*|[ \t\r\n]*)\}', re.DOTALL)

_OPEN = frozenset(b"{[")
_MATCHING_OPEN = {ord("}"): ord("{"), ord("]"): ord("[")}
_LBRACE = ord("{")
_QUOTE = ord('"')
_EMPTY = b""

_decode_json = json.JSONDecoder().decode


class FramingError(Exception):
    """Bad input from the peer. Returned by ``feed``, never raised by it.

    ``fatal`` errors mean the stream cannot be resynchronised (the size
    limit): the connection should be closed after reporting it.
    """

    def __init__(self, message, fatal=False):
        super().__init__(message)
        self.message = message
        self.fatal = fatal


class JsonStreamDecoder:
    """Split a byte stream into JSON values. See the module docstring."""

    __slots__ = ("max_size", "max_depth", "_buf", "_start", "_pos", "_stack", "_in_value",
                 "_in_string", "_in_scalar", "_skipping", "_too_deep", "_discarded", "_broken",
                 "saw_newline", "_after_value", "_in_error_run", "backlog")

    def __init__(self, max_size=DEFAULT_MAX_SIZE, max_depth=DEFAULT_MAX_DEPTH):
        self.max_size = max_size
        self.max_depth = max_depth
        self._buf = _EMPTY       # a bytearray while anything is held
        self._start = 0          # where unconsumed input (or the current value) starts
        self._pos = 0            # scan position, >= _start
        self._stack = None       # open brackets of the value being scanned
        self._in_value = False   # a value started at _start and is incomplete
        self._in_string = False
        self._in_scalar = False  # a top-level number/literal may continue
        self._skipping = False   # discarding garbage until the next "{"
        self._too_deep = False   # discarding an over-nested value
        self._discarded = 0      # bytes of the current value already dropped
        self._broken = False     # after a fatal error: ignore everything
        #: True once whitespace containing a newline followed a value: the
        #: peer delimits its payloads with newlines (it reads streams too).
        self.saw_newline = False
        self._after_value = False
        self._in_error_run = False  # the last thing reported was a syntax error
        #: True when ``feed`` stopped at its ``max_values``/``max_bytes``
        #: with input left to scan: call ``feed(b"")`` for the rest.
        self.backlog = False

    @property
    def buffered(self):
        """Bytes held for an incomplete value (bounded by ``max_size``)."""
        return len(self._buf)

    @property
    def at_boundary(self):
        """True between values: nothing partial is held, no error is pending,
        so a fresh decoder would carry on identically (``saw_newline`` aside)."""
        return not (self._buf or self._in_value or self._skipping or self._broken
                    or self._in_error_run)

    def feed(self, data, max_values=None, max_bytes=None):
        """Consume ``data``; return the complete values and errors, in order.

        With ``max_values`` or ``max_bytes``, stop once that many items (or
        bytes of input) are out and keep the rest unscanned: ``backlog`` is
        then True and ``feed(b"")`` goes on. A caller that queues requests
        thus holds a bounded batch, however many values one read carries.
        """
        if self._broken:
            return []
        if data:
            if self._buf:
                self._buf += data
            else:
                self._buf = bytearray(data)
        elif not self.backlog:
            return []
        out = []
        stopped = False
        if max_values is None and max_bytes is None:
            while self._step(out):
                pass
        else:
            max_values = max_values or len(self._buf) + 1
            limit = self._start + (max_bytes or len(self._buf) + 1)
            while self._step(out):
                if len(out) >= max_values or self._start >= limit:
                    stopped = self._pos < len(self._buf)
                    break
        self.backlog = stopped
        if self._too_deep:
            self._drop_scanned()  # however the input was split
        if (not stopped and self._in_value
                and self._discarded + len(self._buf) - self._start > self.max_size):
            self._fail(out)
        # Consume by offset during the feed, compact once at its end: many
        # values per read cost one memmove, not one each (nor one per batch
        # while most of the buffer is still waiting).
        if self._start and (not stopped or self._start * 2 >= len(self._buf)):
            del self._buf[:self._start]
            self._pos -= self._start
            self._start = 0
        if not self._buf:
            self._buf = _EMPTY  # idle connections hold no buffer of their own
        return out

    def _syntax_error(self, out, message):
        """Report a syntax error, unless it only continues a run of them:
        ``{]{]{]...`` is one mistake to answer, not one per two bytes."""
        if not self._in_error_run:
            self._in_error_run = True
            out.append(FramingError(message))

    # The scanner. Each _step consumes input and returns True if it made
    # progress that may allow another step, False when it needs more data.

    def _step(self, out):
        if self._broken:
            return False
        if self._skipping:
            return self._skip_garbage()
        if self._in_scalar:
            return self._scan_scalar(out)
        if not self._in_value:
            return self._start_value(out)
        if self._in_string:
            return self._scan_string(out)
        return self._scan_structure(out)

    def _skip_garbage(self):
        buf = self._buf
        at = buf.find(b"{", self._pos)
        end = len(buf) if at < 0 else at
        if self._in_error_run and buf.find(b"\n", self._pos, end) >= 0:
            self._in_error_run = False  # a new line: its mistakes are answered anew
        if at < 0:
            self._start = self._pos = end
            return False
        self._skipping = False
        self._start = self._pos = at
        return True

    def _start_value(self, out):
        buf = self._buf
        pos = self._pos
        end = _WHITESPACE.match(buf, pos).end()
        if end > pos and (self._after_value or self._in_error_run) \
                and buf.find(b"\n", pos, end) >= 0:
            if self._after_value:
                self.saw_newline = True
            self._in_error_run = False  # a new line: its mistakes are answered anew
        self._start = self._pos = end
        if end == len(buf):
            return False
        first = buf[end]
        self._after_value = False
        if first == _LBRACE:
            flat = _FLAT_OBJECT.match(buf, end)
            if flat is not None:
                self._emit(flat.end(), out)
                return True
        if first in _OPEN:
            self._in_value = True
            self._stack = bytearray((first,))
            self._pos = end + 1
            return True
        if first == _QUOTE:
            self._in_value = True
            self._in_string = True
            self._pos = end + 1
            return True
        if first in _SCALAR_START:
            self._in_scalar = True
            self._pos = end
            return self._scan_scalar(out)
        self._syntax_error(
            out, "invalid JSON: unexpected byte 0x%02x where a value should start" % first)
        self._skipping = True
        self._pos = end + 1
        return True

    def _scan_scalar(self, out):
        """A bare number or literal: resume where the last read stopped."""
        stop = _SCALAR.match(self._buf, self._pos).end()
        if stop == len(self._buf):
            self._pos = stop
            if stop - self._start > self.max_size:
                self._fail(out)
            return False  # the scalar may continue in the next read
        self._in_scalar = False
        self._emit(stop, out)
        return True

    def _scan_string(self, out):
        buf = self._buf
        end = _STRING_BODY.match(buf, self._pos).end()
        if end < len(buf) and buf[end] == _QUOTE:
            self._in_string = False
            self._pos = end + 1
            if self._stack is None:  # a top-level string ends at its quote
                self._emit(self._pos, out)
            return True
        self._pos = end  # stops before a trailing backslash, if any
        return False

    def _scan_structure(self, out):
        buf = self._buf
        m = _STRUCTURAL.search(buf, self._pos)
        if m is None:
            self._pos = len(buf)
            return False
        at = m.start()
        char = buf[at]
        self._pos = at + 1
        if char == _QUOTE:
            self._in_string = True
            return True
        stack = self._stack
        if char in _OPEN:
            stack.append(char)
            if len(stack) > self.max_depth and not self._too_deep:
                self._too_deep = True
                self._syntax_error(
                    out, "invalid request: JSON nested deeper than %d levels" % self.max_depth)
            return True
        # A closing bracket. The stack catches "{]" when it arrives, rather
        # than waiting for a "}" that may never come.
        opened = stack.pop()
        if opened != _MATCHING_OPEN[char] and not self._too_deep:
            self._syntax_error(out, "invalid JSON: '%c' does not close '%c'" % (char, opened))
            self._resync(at + 1)
            return True
        if not stack:
            if self._too_deep:
                self._reset_after_value(at + 1)
            else:
                self._emit(at + 1, out)
        return True

    def _drop_scanned(self):
        """While discarding an over-nested value, keep none of it in memory."""
        self._discarded += self._pos - self._start
        self._start = self._pos

    def _emit(self, end, out):
        """Parse buf[_start:end] as one JSON value and consume it."""
        if end - self._start > self.max_size:  # complete, but arrived whole
            self._fail(out)
            return
        raw = bytes(self._buf[self._start:end])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._syntax_error(out, "invalid UTF-8 at byte %d of the request" % exc.start)
            self._reset_after_value(end)
            return
        try:
            value = _decode_json(text)
        except ValueError as exc:
            # RecursionError cannot happen: depth is capped by the scanner.
            self._syntax_error(out, "invalid JSON: %s" % _json_reason(exc))
            offset = len(text[:getattr(exc, "pos", 0)].encode("utf-8"))
            self._resync(self._start + offset + 1)
            return
        out.append(value)
        self._reset_after_value(end)
        self._after_value = True
        self._in_error_run = False

    def _resync(self, after):
        """After a syntax error: drop input up to the next '{' after ``after``."""
        self._reset_after_value(min(after, len(self._buf)))
        self._skipping = True

    def _reset_after_value(self, end):
        self._start = self._pos = end
        self._stack = None
        self._in_value = False
        self._in_string = False
        self._in_scalar = False
        self._too_deep = False
        self._discarded = 0

    def _fail(self, out):
        out.append(FramingError(
            "request too large: over %d bytes" % self.max_size, fatal=True))
        self._broken = True
        self._in_value = False
        self._buf = _EMPTY
        self._start = self._pos = 0


def _json_reason(exc):
    """The json module's message without its line/column suffix."""
    return getattr(exc, "msg", None) or str(exc)
