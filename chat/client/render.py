"""Turn responses from a chat server into lines the person can read safely.

(One module past 400 lines on purpose: sanitising and rendering are one
rule, "nothing from the network reaches the terminal raw", and every
renderer below must apply it the same way.)

Everything shown comes from the network, written by the server or by any
other user, so nothing reaches the terminal raw: control characters would
let another user move the cursor, clear the screen or rewrite earlier
lines, and bidirectional overrides would let them disguise text. Every
string is passed through ``sanitize`` (or split into lines first, so a
message spanning several lines is indented and cannot pose as a message
from someone else); colours, when wanted, are added by us afterwards.

The renderer is liberal in what it accepts (PROTOCOL.md section 2):
``msg`` as well as ``message``, ``history`` entries as objects or as JSON
strings, timestamps in any shape, any sender, ``names`` as a list, unknown
response types and malformed payloads. It never raises.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .text_cells import wrap_spans

__all__ = [
    "CONTINUATION_INDENT",
    "PM_ARROW",
    "Span",
    "format_timestamp",
    "message_prefix",
    "render",
    "render_spans",
    "render_wrapped",
    "response_kind",
    "sanitize",
    "sanitize_multiline",
    "use_color",
]


# --- sanitising --------------------------------------------------------------

def _visible(code: int) -> str:
    """The ASCII replacement shown for the dangerous character ``code``."""
    if code < 0x20:
        return "^" + chr(code + 0x40)  # caret notation: ESC -> ^[, NUL -> ^@
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


#: Bidirectional marks, embeddings, overrides and isolates ("Trojan Source"):
#: removed, since they only reorder how the surrounding text is displayed.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

#: Invisible and zero-width characters that can hide text or pass for a
#: space (issue 23): zero-width space, word joiner and invisible operators,
#: byte order mark, soft hyphen, Hangul fillers, Mongolian vowel separator,
#: combining grapheme joiner, deprecated format controls, tag characters.
#: Shown as <U+XXXX>. (The zero-width joiners U+200C/U+200D are kept: emoji
#: sequences need them.)
_INVISIBLE = [0x00AD, 0x034F, 0x115F, 0x1160, 0x180E, 0x200B, *range(0x2060, 0x2065),
              *range(0x206A, 0x2070), 0x3164, 0xFEFF, 0xFFA0, *range(0xE0000, 0xE0080)]
_INVISIBLE_CLASS = ("\u00ad\u034f\u115f\u1160\u180e\u200b\u2060-\u2064\u206a-\u206f"
                    "\u3164\ufeff\uffa0\U000e0000-\U000e007f")

_REPLACEMENT: dict[str, str] = {}
for _code in [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000),
              0x2028, 0x2029, *_INVISIBLE]:
    # C0, DEL, C1, lone surrogates (unprintable, from JSON "\ud800" escapes),
    # and the Unicode line and paragraph separators: made visible.
    _REPLACEMENT[chr(_code)] = _visible(_code)
for _char in _BIDI:
    _REPLACEMENT[_char] = ""
del _code, _char

_DANGEROUS = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029" + _BIDI + _INVISIBLE_CLASS + "]"
)


def _replace(match: re.Match) -> str:
    return _REPLACEMENT[match.group()]


def sanitize(text: str) -> str:
    """Return ``text`` with nothing in it that a terminal would obey.

    Control characters (C0, DEL, C1), lone surrogates, U+2028/U+2029 and
    invisible or zero-width characters (``_INVISIBLE``) are made visible as
    ASCII (``^[``, ``^@``, ``^?``, ``<U+009B>``, ``<U+D800>``,
    ``<U+200B>``); bidirectional controls are removed. Printable text is
    returned unchanged.
    """
    return _DANGEROUS.sub(_replace, text)


_LINE_BREAK = re.compile(r"\r?\n")


def _sanitized_lines(text: str) -> list[str]:
    """Split ``text`` at ``\\n`` or ``\\r\\n`` and sanitise each line."""
    return [sanitize(line) for line in _LINE_BREAK.split(text)]


def sanitize_multiline(text: str, indent: str = "    ") -> str:
    """Like ``sanitize``, but keep line breaks, indenting each continuation.

    ``\\n`` and ``\\r\\n`` become a line break followed by ``indent``, so a
    line inside a message cannot start at the left margin and pose as a
    message from someone else. Any other control character, a lone ``\\r``
    included, is made visible as by ``sanitize``.
    """
    return ("\n" + indent).join(_sanitized_lines(text))


# --- timestamps --------------------------------------------------------------

_EPOCH_STRING = re.compile(r"[+-]?\d+(?:\.\d*)?")
_DATE_TIME = re.compile(
    r"""
    (?: (?P<year>\d{4}) [-/.] (?P<month>\d{1,2}) [-/.] (?P<day>\d{1,2})     # 2017-03-20
      | (?P<day2>\d{1,2}) [-/.] (?P<month2>\d{1,2}) [-/.] (?P<year2>\d{4})  # 20-03-2017
    )
    (?: [Tt] | \s+ )
    (?P<hour>\d{1,2}) : (?P<minute>\d{2}) (?: : (?P<second>\d{2}) (?: [.,]\d+ )? )?
    \s*
    (?P<offset> [Zz] | (?:UTC|GMT) (?: [+-] \d{2} (?: :? \d{2} )? )? | [+-] \d{2} (?: :? \d{2} )? )?
    """,
    re.VERBOSE | re.ASCII,
)
_TIME_OF_DAY = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::\d{2}(?:[.,]\d+)?)?(?![\d:])", re.ASCII)
_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})?", re.ASCII)

#: The most lines a ``history`` is rendered into, about what the full-screen
#: scrollback keeps (``fullscreen.model.MAX_LINES``): older entries are not
#: even split (issue 21, the newline bomb).
HISTORY_LINES = 10_000

_NO_TIME = "--:--"
_MAX_SHOWN = 20  # characters of an unparseable timestamp shown instead


def format_timestamp(value: Any) -> str:
    """Return ``value`` as ``HH:MM`` in local time when it can be understood.

    Accepts ISO 8601 with an offset or ``Z`` (converted to local time),
    naive date-times (taken as local time, year first or day first), bare
    ``HH:MM[:SS]``, and Unix epochs as numbers or numeric strings (in
    seconds; values too large for seconds are taken as milliseconds, as
    JavaScript peers send). ``None`` and non-scalar values give ``--:--``;
    other unparseable values are shown sanitised and truncated. Never
    raises.
    """
    try:
        if isinstance(value, bool) or value is None:
            return _NO_TIME
        if isinstance(value, (int, float)):
            return _from_epoch(value) or _shorten(str(value))
        if isinstance(value, str):
            return _from_string(value.strip())
        return _NO_TIME
    except Exception:  # a last resort: a timestamp must never stop the client
        return _NO_TIME


def _from_epoch(seconds: float) -> str | None:
    """``HH:MM`` local time of a Unix epoch, or None if out of range."""
    try:
        if abs(seconds) >= 1e11:  # year 5138 in seconds: surely milliseconds
            seconds = seconds / 1000
        return datetime.fromtimestamp(seconds).strftime("%H:%M")
    except (OverflowError, OSError, ValueError):
        return None


def _from_string(text: str) -> str:
    """``HH:MM`` for a timestamp string, or the string itself, shortened."""
    if not text:
        return _NO_TIME
    if _EPOCH_STRING.fullmatch(text):
        shown = _from_epoch(float(text))
        if shown:
            return shown
    match = _DATE_TIME.search(text)
    if match:
        shown = _from_date_time(match)
        if shown:
            return shown
    for match in _TIME_OF_DAY.finditer(text):
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour < 24 and minute < 60:
            return f"{hour:02d}:{minute:02d}"
    return _shorten(text)


def _from_date_time(match: re.Match) -> str | None:
    """``HH:MM`` local time for a ``_DATE_TIME`` match, None if invalid."""
    year = match.group("year") or match.group("year2")
    month = match.group("month") or match.group("month2")
    day = match.group("day") or match.group("day2")
    try:
        moment = datetime(int(year), int(month), int(day),
                          int(match.group("hour")), int(match.group("minute")))
        offset = match.group("offset")
        if offset:
            moment = moment.replace(tzinfo=_parse_offset(offset)).astimezone()
    except (ValueError, OverflowError, OSError):
        return None
    return moment.strftime("%H:%M")


def _parse_offset(text: str) -> timezone:
    """A ``timezone`` for ``Z``, ``+01:00``, ``-0500``, ``+01``, ``GMT+0100``."""
    match = _OFFSET.fullmatch(text)
    if match is None:  # "Z", "z", "UTC" or "GMT"
        return timezone.utc
    sign = -1 if match.group(1) == "-" else 1
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    return timezone(sign * delta)  # ValueError beyond 24 hours


def _shorten(text: str) -> str:
    """``text`` sanitised and cut to a length that fits in a line prefix."""
    shown = sanitize(text[: _MAX_SHOWN * 2])
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    return shown or _NO_TIME


# --- rendering ---------------------------------------------------------------

#: A piece of a rendered line: (tag, text). The tag says what the text is
#: ("stamp", "sender", "pm", "info", "error", "header", "odd", or "" for
#: plain text) so each front end styles it its own way: ANSI codes in line
#: mode, curses attributes on the full screen. The text is always sanitised.
Span = tuple[str, str]

_ANSI = {"stamp": "\x1b[2m", "sender": "\x1b[1m", "pm": "\x1b[35;1m", "info": "\x1b[33m",
         "error": "\x1b[31m", "header": "\x1b[36m", "odd": "\x1b[35m"}
_RESET = "\x1b[0m"

#: Continuation lines of a message are indented past "[HH:MM] ".
CONTINUATION_INDENT = " " * (len("[--:--]") + 3)

#: How a private message's sender looks (PROTOCOL.md section 4): no username
#: contains a space, so " -> " can only come from a server's pm.
PM_ARROW = " -> "


def response_kind(payload: Any) -> str | None:
    """A payload's response type, trimmed and lower-cased (``"message"``,
    ``"info"`` ...), or None when it has none or is not an object."""
    if not isinstance(payload, dict):
        return None
    response = payload.get("response")
    return response.strip().lower() if isinstance(response, str) else None


def render(payload: Any, *, color: bool = False) -> list[str]:
    """Turn one decoded JSON value from a server into printable lines.

    Each returned string is one line, without a line ending, sanitised; it
    contains no control character except our own ANSI colour codes when
    ``color`` is true. Never raises.
    """
    return [_paint(line, color) for line in render_spans(payload)]


def render_wrapped(payload: Any, width: int, *, color: bool = False) -> list[str]:
    """Like ``render``, each line cut into rows of at most ``width`` cells,
    continuation rows indented (``CONTINUATION_INDENT``): a message padded
    to the terminal's width cannot make a forged "[12:00] alice: ..." start
    at the left margin, as the terminal's own wrapping would (issue 23)."""
    return [_paint(row, color) for line in render_spans(payload)
            for row in wrap_spans(line, width, len(CONTINUATION_INDENT))]


def render_spans(payload: Any, days=None) -> list[list[Span]]:
    """Like ``render``, but each line as tagged spans, for front ends that
    style text themselves. ``days`` (a ``dates.DayLines``) puts a date line
    before each message of a new day. Never raises."""
    try:
        return _render(payload, in_history=False, days=days)
    except Exception:  # e.g. RecursionError on absurdly nested content
        return [[_stamp(None), ("", " "), ("odd", "? unprintable payload")]]


def _paint(line: list[Span], color: bool) -> str:
    if not color:
        return "".join(text for _tag, text in line)
    return "".join(f"{_ANSI[tag]}{text}{_RESET}" if tag in _ANSI and text else text
                   for tag, text in line)


def _render(payload: Any, *, in_history: bool, days=None) -> list[list[Span]]:
    if not isinstance(payload, dict):
        # A history entry that is not an object is shown as it is; any other
        # value as JSON, so that e.g. a bare string payload shows its quotes.
        text = _text(payload) if in_history else _json(payload)
        return _lines([_stamp(None), ("", " "), ("odd", "? unexpected:"), ("", " ")], text)
    stamp = _stamp(payload.get("timestamp"))
    response = payload.get("response")
    kind = response_kind(payload)
    if kind is None and in_history and "content" in payload:
        kind = "message"  # a history entry without a type is a message
    content = payload.get("content")
    if kind in ("message", "msg") and days is not None:
        stamp = payload.get("timestamp")
        return days(stamp) + days.dated(_render(payload, in_history=in_history), stamp)
    if kind in ("message", "msg"):
        return _lines(message_prefix(payload), _text(content))
    if kind == "info":
        return _lines([stamp, ("", " "), ("info", "*"), ("", " ")], _text(content), "info")
    if kind == "names":
        return _lines([stamp, ("", " "), ("info", "* users:"), ("", " ")], _text(content), "info")
    if kind == "error":
        return _lines([stamp, ("", " "), ("error", "! error:"), ("", " ")], _text(content),
                      "error")
    if kind == "history" and not in_history:
        return _history(content, days)
    label = "(no response type)" if response is None else _shorten_type(response)
    return _lines([stamp, ("", " "), ("odd", f"? {label}:"), ("", " ")], _text(content))


def message_prefix(payload: dict) -> list[Span]:
    """The spans before a message's text: stamp, sender (or ``[pm] a -> b``)."""
    stamp = _stamp(payload.get("timestamp"))
    sender = _sender(payload.get("sender"))
    if PM_ARROW in sender:
        return [stamp, ("", " "), ("pm", "[pm] " + sender), ("", ": ")]
    return [stamp, ("", " "), ("sender", sender), ("", ": ")]


def _history(content: Any, days=None) -> list[list[Span]]:
    """A header line, then each earlier message in order."""
    if isinstance(content, str):
        decoded = _loads(content)
        if isinstance(decoded, list):
            content = decoded
    if not isinstance(content, list):
        return [[("header", "--- history ---")]] + _lines(
            [("odd", "? unexpected history:"), ("", " ")], _text(content))
    if not content:
        return [[("header", "--- history: empty ---")]]
    count = len(content)
    # Lazily, newest first (issue 21): only the entries whose lines the
    # scrollback keeps are split and sanitised, so a hostile history of
    # 1000 messages of 4000 lines each costs 10 000 lines, not 4 million.
    shown: list[list[list[Span]]] = []
    total = 0
    for entry in reversed(content):
        if total >= HISTORY_LINES:
            break
        if isinstance(entry, str):
            decoded = _loads(entry)
            if isinstance(decoded, dict):
                entry = decoded
        shown.append((entry, _render(entry, in_history=True)))
        total += len(shown[-1][1])
    lines = [[("header", f"--- history: {count} message{'s' if count != 1 else ''} ---")]]
    if len(shown) < count:
        lines.append([("header", f"--- {count - len(shown)} earlier not shown ---")])
    for entry, entry_lines in reversed(shown):
        if (days is not None and isinstance(entry, dict)
                and response_kind(entry) in (None, "message", "msg")):
            # date lines in order, oldest first (the entries were rendered newest first)
            stamp = entry.get("timestamp")
            entry_lines = days(stamp) + days.dated(entry_lines, stamp)
        lines += entry_lines
    return lines


def _loads(text: str) -> Any:
    """``json.loads(text)``, or None when it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _lines(prefix: list[Span], text: str, tag: str = "") -> list[list[Span]]:
    """``prefix`` + the first line of ``text``, then indented continuations.

    ``prefix`` is already safe (sanitised or ours); ``text`` is raw.
    """
    first, *rest = _sanitized_lines(text)
    return [prefix + [(tag, first)]] + [[("", CONTINUATION_INDENT), (tag, line)] for line in rest]


def _stamp(value: Any) -> Span:
    return ("stamp", f"[{format_timestamp(value)}]")


def _sender(value: Any) -> str:
    """The sender's name, sanitised; something visible when odd."""
    if value is None or value == "":
        return "(unknown)"
    if isinstance(value, str):
        return sanitize(value)
    return sanitize(_json(value))


def _shorten_type(value: Any) -> str:
    """An unknown response type, sanitised and cut short."""
    shown = sanitize(value if isinstance(value, str) else _text(value))
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _text(content: Any) -> str:
    """Any JSON content as text: strings as they are, lists joined, else JSON."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list) and all(isinstance(item, str) for item in content):
        return ", ".join(content)
    return _json(content)


def _json(value: Any) -> str:
    """``value`` as JSON text (not ASCII-escaped: ``sanitize`` comes later)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return str(value)


def use_color(stream: Any) -> bool:
    """True when ``stream`` is a terminal and colour is not turned off.

    Colour is off when the ``NO_COLOR`` environment variable is set to a
    non-empty value (https://no-color.org).
    """
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
