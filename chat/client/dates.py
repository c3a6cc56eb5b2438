"""Dates for the full-screen client's date lines.

Theory of operation
-------------------
Messages are shown with ``[HH:MM]`` only (``render.format_timestamp``),
which is ambiguous once the history survives restarts. So the full-screen
client puts a date line ("--- Saturday 05 December 2026 ---") before the
first message of each day, in the history as in live messages, as IRC
clients do: ``DayLines`` remembers the day of the last message shown and
answers, for the next one, the lines to put before it. A day that cannot
be read from a timestamp (a bare "14:03", as some peers send) changes
nothing. The first day seen gets a line only when it is not today. A
message older than today also gets its full date in its stamp
(``[2026-12-05 14:03]``, ``dated``), so it reads right even scrolled
away from its date line.

Timestamps come in every shape (PROTOCOL.md section 2): ISO 8601 with or
without an offset (converted to local time, as the clock shown is), year
first or day first, Unix epochs in seconds or milliseconds.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

__all__ = ["DayLines", "timestamp_date"]

_YEAR_FIRST = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[Tt ]+(\d{1,2}):(\d{2}))?", re.A)
_DAY_FIRST = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", re.A)
_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}:?\d{2})\s*$", re.A)


def timestamp_date(value: Any) -> datetime.date | None:
    """The local date of a timestamp in any common shape, or None."""
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)) or (isinstance(value, str)
                                                 and re.fullmatch(r"\d{9,13}(\.\d*)?", value)):
            seconds = float(value)
            if abs(seconds) >= 1e11:
                seconds /= 1000
            return datetime.datetime.fromtimestamp(seconds).date()
        if not isinstance(value, str):
            return None
        text = value.strip()
        match = _YEAR_FIRST.search(text)
        if match:
            if match.group(4) and _OFFSET.search(text):
                moment = datetime.datetime.fromisoformat(
                    text.replace("Z", "+00:00").replace("z", "+00:00").replace(" ", "T", 1))
                return moment.astimezone().date()
            return datetime.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        match = _DAY_FIRST.search(text)
        if match:
            return datetime.date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    except (ValueError, OverflowError, OSError):
        return None
    return None


class DayLines:
    """The date lines to show before each message, in the order shown."""

    def __init__(self, today=datetime.date.today) -> None:
        self.last: datetime.date | None = None
        self._today = today

    def __call__(self, timestamp: Any) -> list:
        """Lines of spans to show before a message stamped ``timestamp``."""
        day = timestamp_date(timestamp)
        if day is None or day == self.last:
            return []
        first, self.last = self.last is None, day
        if first and day == self._today():
            return []
        return [[("date", "--- %s ---" % day.strftime("%A %d %B %Y"))]]

    def dated(self, lines: list, timestamp: Any) -> list:
        """``lines`` of a message, its stamp with the full date when the
        message is older than today."""
        day = timestamp_date(timestamp)
        if day is None or day >= self._today() or not lines or not lines[0]:
            return lines
        tag, text = lines[0][0]
        if tag != "stamp" or not text.startswith("["):
            return lines
        return [[(tag, "[%s %s" % (day.isoformat(), text[1:]))] + lines[0][1:]] + lines[1:]
