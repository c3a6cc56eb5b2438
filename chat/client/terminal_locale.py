"""The terminal's encoding, as the locale declares it, and what follows.

Theory of operation
-------------------
Terminals send UTF-8 even when the locale says otherwise (``LANG=C`` in a
UTF-8 terminal is common: a remote shell, a cron-like environment, a
container). So typed bytes are read as UTF-8 when they are valid UTF-8,
else in the locale's encoding (a Latin-1 terminal), and a line that is
neither is refused with a hint: what is typed is sent exactly as typed or
not at all, never altered or cut.

Output follows the locale's encoding: a character it cannot show becomes
"?" for each of its cells (``shown``), so the layout, computed in cells,
is unchanged and nothing is ever blank. When the locale is not UTF-8 the
client says so once at start-up (``LOCALE_WARNING``).
"""

from __future__ import annotations

import codecs
import locale

from .text_cells import char_width

__all__ = ["LOCALE_WARNING", "UTF8", "decode_typed", "locale_encoding", "shown"]

UTF8 = "utf-8"
LOCALE_WARNING = ("the locale (%s) is not UTF-8: text it cannot show appears as '?'; "
                  "typed UTF-8 is sent as typed (LANG=C.UTF-8 shows everything)")


def locale_encoding() -> str:
    """The codec of the locale's character set (LC_CTYPE from the
    environment, set here), e.g. "utf-8", "ascii", "iso8859-1"."""
    try:
        locale.setlocale(locale.LC_CTYPE, "")
    except locale.Error:
        pass
    try:
        return codecs.lookup(locale.nl_langinfo(locale.CODESET) or "ascii").name
    except (LookupError, AttributeError, ValueError):
        return "ascii"


def decode_typed(raw: bytes, encoding: str) -> str | None:
    """Typed bytes as text: valid UTF-8 as such, else in the locale's
    encoding when that is another and they fit it; None when neither (the
    line must be refused, never sent altered)."""
    try:
        return raw.decode(UTF8)
    except UnicodeDecodeError:
        pass
    if encoding not in (UTF8, "ascii"):
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            pass
    return None


def shown(text: str, encoding: str) -> str:
    """``text`` with each character ``encoding`` cannot show replaced by
    "?" for each cell it takes (one for a zero-width one)."""
    if encoding == UTF8 or text.isascii():
        return text
    out = []
    for char in text:
        try:
            char.encode(encoding)
            out.append(char)
        except (UnicodeEncodeError, LookupError):
            out.append("?" * max(1, char_width(char)))
    return "".join(out)
