"""RESP2, the Redis serialization protocol, without I/O.

Theory of operation
-------------------
``encode_command(args)`` turns one command into the bytes Redis expects:
an array of bulk strings. ``ReplyParser.feed(data)`` takes the bytes of
replies as they arrive, split anywhere, and returns the replies completed
so far, in order. A reply becomes a Python value:

    +simple string   str (UTF-8, undecodable bytes kept as surrogates)
    -error           a ReplyError instance (a value, not raised: in an
                     array it sits among the other elements)
    :integer         int
    $bulk string     bytes, or None for the null bulk string ($-1)
    *array           list (nested to any allowed depth), or None for *-1

The parser is a small stack machine, so a reply is never parsed twice:
arrays under construction are kept on a stack between feeds, a line is
searched for its CRLF from where the last search stopped, and a bulk
string is taken in one slice once all its bytes are there. Input
accumulates in a bytearray; a feed that cannot complete a line or the
awaited bulk string returns at once, and one that can parses one
immutable copy of the buffer in a single loop (every slice of it is a
value as it stands), then drops what it consumed from the front. Work is
therefore linear in the input, however it is split. Most of what a
cluster node reads is XREAD's stream entries ([id, [field, value, ...]])
and EXEC's ids, so inside an array three shorter paths come first: a
whole entry with 2 to 16 fields (an even count) is one regular
expression match, a run of bulk strings is appended straight to the
array, and the last 4 to 16 bulk strings that fill it are one match. A
match is kept only if every length agrees with its header and the size
and depth caps allow it whole; anything else (a null, another shape, an
incomplete string) is left to the general loop, and both judge every
input alike (``fast=False`` turns the short paths off, for tests to
compare).

Every reply is bounded: its total size (``max_reply_size``), its nesting
(``max_depth``) and the length of any line (``MAX_LINE``). A declared size
that could never fit is refused as soon as it is read, before any memory
is spent on it. Anything that is not RESP2 raises ``ProtocolError``, and
after that the stream cannot be trusted: the parser keeps raising it.
``encode_reply`` is the inverse of the parser (for tests and fakes).
"""

import re

#: Longest line (simple string, error, or a header) we wait for, in bytes.
#: Redis' own headers are a few bytes; its error messages are short.
MAX_LINE = 64 * 1024

#: Default cap on one reply's total size. Redis allows 512 MB bulk strings;
#: a client that wants those must say so.
DEFAULT_MAX_REPLY_SIZE = 64 * 1024 * 1024

#: Default cap on array nesting (Redis' own replies nest a few levels).
DEFAULT_MAX_DEPTH = 32

# The smallest encoding of one element ("+\r\n"): an array declaring more
# elements than the size budget could hold is refused at its header.
_MIN_ELEMENT_SIZE = 3

# Arguments shorter than this are formatted into their header (one object
# instead of three); longer ones are not copied twice.
_COPY_LIMIT = 4096

# The fast path's patterns: N bulk strings in a row (N from 4 to 16), each
# without CR in its value. A match is taken only if each value's length is
# the one its header declares: then the general parse would read the very
# same values (the first CRLF after a header's digits ends it, and the
# value ends where a CRLF follows); anything else is read one by one.
_RUNS = {n: re.compile(rb"\$([0-9]{1,19})\r\n([^\r]*)\r\n" * n) for n in range(4, 17)}

# The whole-entry path's patterns: one stream entry, [id, [field, value,
# ...]] ("*2", the id, "*K", K bulk strings: what XREAD returns per
# entry), keyed by K as its header writes it (an even count, 2 to 16).
# The same rule as the runs': each length must be the one declared.
_ENTRY_HEAD = re.compile(rb"\*2\r\n\$[0-9]{1,19}\r\n[^\r]*\r\n\*([0-9]{1,2})\r\n")
_ENTRIES = {b"%d" % k: re.compile(rb"\*2\r\n\$([0-9]{1,19})\r\n([^\r]*)\r\n\*%d\r\n" % k
                                  + rb"\$([0-9]{1,19})\r\n([^\r]*)\r\n" * k)
            for k in range(2, 17, 2)}

# Strict decimal numbers: int() alone would accept " 1", "1_0" and "+1".
_INTEGER = re.compile(rb"-?[0-9]{1,19}\Z")


class RedisError(Exception):
    """Base of every error this package raises or delivers."""


class ProtocolError(RedisError):
    """The peer sent something that is not a valid RESP2 reply."""


class ReplyError(RedisError):
    """An error reply from the server (``-WRONGTYPE ...``), as a value."""

    @property
    def code(self):
        """The first word of the message: ``ERR``, ``WRONGTYPE``, ``NOSCRIPT``..."""
        return str(self).split(" ", 1)[0]


# -- encoding ------------------------------------------------------------

def _arg_bytes(arg):
    """The bytes of an argument of any type but the three common ones."""
    if isinstance(arg, bool):
        raise TypeError("a Redis argument cannot be a bool (say 0 or 1)")
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return bytes(arg)
    if isinstance(arg, str):
        return arg.encode("utf-8")
    if isinstance(arg, int):
        return b"%d" % arg
    if isinstance(arg, float):
        return repr(arg).encode("ascii")
    raise TypeError("a Redis argument must be bytes, str, int or float, not %s"
                    % type(arg).__name__)


def encode_command(args):
    """One command (name and arguments) as a RESP array of bulk strings."""
    if not args:
        raise ValueError("a Redis command needs at least a name")
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        # Exact types first: this runs for every argument of every command.
        kind = type(arg)
        if kind is str:
            data = arg.encode("utf-8")
        elif kind is bytes:
            data = arg
        elif kind is int:
            data = b"%d" % arg
        else:
            data = _arg_bytes(arg)
        if len(data) < _COPY_LIMIT:
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        else:   # a large value is copied once, by the join
            parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


def encode_reply(value):
    """The RESP2 encoding of a reply value (the parser's inverse)."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, ReplyError):
        return b"-" + str(value).encode("utf-8", "surrogateescape") + b"\r\n"
    if isinstance(value, str):
        return b"+" + value.encode("utf-8", "surrogateescape") + b"\r\n"
    if isinstance(value, int) and not isinstance(value, bool):
        return b":%d\r\n" % value
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(map(encode_reply, value))
    raise TypeError("no RESP2 encoding for %s" % type(value).__name__)


# -- parsing -------------------------------------------------------------


class ReplyParser:
    """Incremental RESP2 reply parser: ``feed(bytes) -> [reply, ...]``."""

    def __init__(self, max_reply_size=DEFAULT_MAX_REPLY_SIZE, max_depth=DEFAULT_MAX_DEPTH,
                 fast=True):
        self.max_reply_size = max_reply_size
        self.max_depth = max_depth
        self.fast = fast        # the entry and bulk string run paths (off: tests compare)
        self._buf = bytearray()
        self._scan = 0          # where the CRLF search resumes
        self._bulk = -1         # length of the bulk string being waited for
        self._stack = []        # (list, declared length) of unfinished arrays
        self._used = 0          # bytes of the current reply consumed so far
        self._broken = None     # the ProtocolError that ended the stream

    def feed(self, data):
        """Add ``data``; return every reply completed, oldest first."""
        if self._broken is not None:
            raise self._broken
        buf = self._buf
        buf += data
        # Nothing to parse yet: a bulk string or a line still incomplete.
        if self._bulk >= 0 and len(buf) < self._bulk + 2:
            return []
        if self._bulk < 0 and buf.find(b"\r\n", self._scan) < 0:
            if len(buf) > MAX_LINE:
                self._broken = ProtocolError("no line end within %d bytes" % MAX_LINE)
                self._buf = bytearray()
                raise self._broken
            self._scan = max(0, len(buf) - 1)
            return []
        try:
            replies, pos = self._parse(bytes(buf))
        except ProtocolError as exc:
            self._broken = exc
            self._buf = bytearray()
            raise
        del buf[:pos]   # consumed input leaves once per feed
        return replies

    def _parse(self, data):
        """Parse ``data`` (what is buffered) as far as it goes: (replies,
        bytes used). One loop, its state in local variables."""
        replies = []
        stack = self._stack
        top = stack[-1] if stack else None   # the innermost unfinished array
        find = data.find
        size = len(data)
        limit = self.max_reply_size
        used = self._used
        bulk = self._bulk
        fast = self.fast
        pos = 0
        while True:
            if fast and top is not None and bulk < 0:
                # The fast paths: whole stream entries, then a run of bulk
                # strings (an entry's fields, EXEC's ids) go straight into
                # the array, without the dispatch and the stack below.
                # Whatever is not complete and plain is left to the general
                # path, which judges it exactly as it always did.
                items, count = top
                left = count - len(items)
                if data.startswith(b"*2\r\n$", pos) and len(stack) + 2 <= self.max_depth:
                    # Stream entries, whole (the general path would push
                    # two arrays for each: here it must have room for them).
                    pos, used, left = self._entries(data, pos, items, left, used)
                if left in _RUNS:   # all in one match, if each is a short plain one
                    match = _RUNS[left].match(data, pos)
                    if match is not None:
                        found = match.groups()
                        values = found[1::2]
                        if list(map(int, found[0::2])) == list(map(len, values)):
                            used += match.end() - pos
                            if used > limit:
                                raise ProtocolError("reply larger than %d bytes" % limit)
                            items += values
                            pos = match.end()
                            left = 0
                append = items.append
                while left and pos < size and data[pos] == 36:   # $
                    end = find(b"\r\n", pos)
                    if end < 0 or end - pos > 20:
                        break
                    line = data[pos + 1:end]
                    if not line.isdigit():
                        break
                    start = end + 2
                    stop = start + int(line)
                    if stop + 2 > size:
                        break   # the rest comes later: the general path waits
                    used += stop + 2 - pos   # the cap first, as the general path does
                    if used > limit:
                        raise ProtocolError("reply larger than %d bytes" % limit)
                    if data[stop:stop + 2] != b"\r\n":
                        raise ProtocolError("bulk string not followed by CRLF")
                    append(data[start:stop])
                    pos = stop + 2
                    left -= 1
                    if not left:
                        break
                if not left:   # the array is complete: finish it below
                    stack.pop()
                    top = stack[-1] if stack else None
                    value = items
                    bulk = -2   # (no element to read: straight to the completion)
            if bulk == -2:
                bulk = -1
            elif bulk >= 0:   # its header was read in an earlier feed
                end = pos + bulk
                if end + 2 > size:
                    break
                if data[end:end + 2] != b"\r\n":
                    raise ProtocolError("bulk string not followed by CRLF")
                value = data[pos:end]
                pos = end + 2
                bulk = -1
            else:
                end = find(b"\r\n", pos)
                if end < 0:
                    if size - pos > MAX_LINE:
                        raise ProtocolError("no line end within %d bytes" % MAX_LINE)
                    break
                kind = data[pos]
                line = data[pos + 1:end]
                used += end + 2 - pos
                pos = end + 2
                if used > limit:
                    raise ProtocolError("reply larger than %d bytes" % limit)
                if kind == 36:    # $
                    length = (int(line) if line.isdigit() and len(line) < 20
                              else _integer(line))
                    if length < 0:
                        if length != -1:
                            raise ProtocolError("bad bulk string length %d" % length)
                        value = None
                    else:
                        used += length + 2
                        if used > limit:
                            raise ProtocolError("reply larger than %d bytes" % limit)
                        end = pos + length
                        if end + 2 > size:   # the rest comes later: wait for it whole
                            bulk = length
                            break
                        if data[end:end + 2] != b"\r\n":
                            raise ProtocolError("bulk string not followed by CRLF")
                        value = data[pos:end]
                        pos = end + 2
                elif kind == 42:  # *
                    count = _integer(line)
                    if count <= 0:
                        if count < -1:
                            raise ProtocolError("bad array length %d" % count)
                        value = None if count == -1 else []
                    else:
                        if count * _MIN_ELEMENT_SIZE > limit - used:
                            raise ProtocolError("array of %d elements exceeds the reply "
                                                "size cap" % count)
                        if len(stack) >= self.max_depth:
                            raise ProtocolError("arrays nested deeper than %d"
                                                % self.max_depth)
                        top = ([], count)
                        stack.append(top)
                        continue
                elif kind == 43:  # +
                    value = line.decode("utf-8", "surrogateescape")
                elif kind == 58:  # :
                    value = _integer(line)
                elif kind == 45:  # -
                    value = ReplyError(line.decode("utf-8", "surrogateescape"))
                else:
                    raise ProtocolError("unknown reply type %r" % bytes([kind]))
            while top is not None:   # the value completes arrays, innermost first
                items = top[0]
                items.append(value)
                if len(items) < top[1]:
                    break
                stack.pop()
                top = stack[-1] if stack else None
                value = items
            else:
                replies.append(value)
                used = 0
        self._used = used
        self._bulk = bulk
        self._scan = max(0, size - pos - 1)   # no line end in the rest
        return replies, pos

    def _entries(self, data, pos, items, left, used):
        """Append to ``items`` the complete stream entries at ``pos``, one
        pattern match each, while ``left`` are wanted: (pos, used, left).

        An entry is taken only if every length agrees with its header and
        it fits under the size cap: the general path would then read the
        very same values (and no array header of it could fail the early
        size check: its elements are all there, each 3 bytes or more).
        Anything else (another shape, a null, a CR inside a value, an
        entry not all arrived, one that breaks the cap) stops the loop and
        is left to the general path, which says where and how it fails.
        The field count is read from the first entry's header, and again
        whenever an entry does not match the pattern chosen."""
        limit = self.max_reply_size
        pattern = None
        while left:
            match = pattern.match(data, pos) if pattern is not None else None
            if match is None:
                head = _ENTRY_HEAD.match(data, pos)
                fresh = _ENTRIES.get(head[1]) if head is not None else None
                if fresh is None or fresh is pattern:
                    break
                pattern = fresh
                continue
            found = match.groups()
            values = found[1::2]
            end = match.end()
            if (list(map(int, found[0::2])) != list(map(len, values))
                    or used + end - pos > limit):
                break
            items.append([values[0], list(values[1:])])
            used += end - pos
            pos = end
            left -= 1
        return pos, used, left


def _integer(line):
    """A strict decimal number: int() alone would accept " 1", "1_0" and "+1"."""
    if line.isdigit() and len(line) < 20:   # ASCII digits only, for bytes
        return int(line)
    if not _INTEGER.match(line):
        raise ProtocolError("bad integer %r" % bytes(line[:40]))
    return int(line)
