"""A read of whole requests, parsed at once: the framing decoder's shortcut.

Theory of operation
-------------------
Most reads carry nothing but whole requests (a client sends a request or
a few, each complete, and waits). ``decode_whole(data)`` is the shortcut
for that read: the C scanner of the ``json`` module parses the objects
straight from the read's text, one call each, with no decoder made and
no state kept; anything else (a partial value, bad input, a value that is
not an object, a limit reached) makes it return None, and the caller
feeds a ``reactor.framing.JsonStreamDecoder`` instead, which gives the
same values then. The tests hold the two to the same result on arbitrary
input.
"""

import json
import re

from .framing import DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE

_scan_json = json.JSONDecoder().scan_once   # (text, index) -> (value, end); C when available
_WHITESPACE_TEXT = re.compile(r"[ \t\r\n]*")


def decode_whole(data, max_values=None, max_bytes=None, max_size=DEFAULT_MAX_SIZE,
                 max_depth=DEFAULT_MAX_DEPTH):
    """The values in ``data`` (bytes or bytearray) if it holds only complete
    JSON objects and whitespace, else None (see the module docstring).

    A list is exactly what a fresh ``JsonStreamDecoder(max_size,
    max_depth).feed(data, max_values, max_bytes)`` returns when that leaves
    the decoder between values with no backlog; None means "not that
    case", never an error: feed a decoder.
    """
    size = len(data)
    if size > max_size or (max_bytes and size > max_bytes):
        return None   # whether a value or the batch is too large: the decoder's to say
    tail = data.rstrip(b" \t\r\n")
    if tail and not tail.endswith(b"}"):
        return None   # it ends inside a value, or with something else: no use trying
    try:
        text = str(data, "utf-8")
    except UnicodeDecodeError:
        return None
    # Each value's nesting is at most the number of brackets it holds (in
    # strings too): a cheap bound, checked per value only if the read's fails.
    shallow = text.count("{") + text.count("[") <= max_depth
    out = []
    end = len(text)
    at = _WHITESPACE_TEXT.match(text).end()
    while at < end:
        if text[at] != "{":
            return None   # not an object: the decoder's to take or refuse
        try:
            value, stop = _scan_json(text, at)
        except (StopIteration, ValueError, RecursionError):
            return None   # incomplete or bad: the decoder finds where and says what
        if not shallow and text.count("{", at, stop) + text.count("[", at, stop) > max_depth:
            return None
        out.append(value)
        if len(out) == max_values and stop < end:
            return None   # the decoder stops after a batch and keeps the rest
        at = _WHITESPACE_TEXT.match(text, stop).end()
    return out
