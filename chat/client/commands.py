"""Turn one line typed by the person into what the client should do.

This is the pure half of the command-line client's input handling: no
sockets, no terminal, so every rule can be tested on its own. The rules
follow PROTOCOL.md section 3, "Client conventions":

- ``login alvaro``, ``logout``, ``msg hello there``, ``names``, ``help``, as
  in the course examples. The keyword matches in any case
  (``LOGIN alvaro``) and is sent in lower case.
- The same with a leading slash: ``/login alvaro``, ``/msg hi``.
- ``/word rest`` sends request ``word`` (spelled as typed) with content
  ``rest``, or ``null`` when there is no rest, so the client can use any
  server extension without knowing it.
- Any other line is a message: sent as ``msg`` once logged in, a local hint
  before that.
- ``//text`` is the escape for a message that starts with a slash: it sends
  ``msg`` with content ``/text``.

Explicit commands (``names``, ``/msg hi``) are sent even when we believe we
are not logged in: that belief is only a guess from the server's replies,
and the server is the judge (it answers with an ``error``). Only plain
lines are held back before login, since they are almost certainly a
mistake. A message that happens to start with a keyword (``help me``) is a
command; ``msg help me`` sends it as a message.

Arguments and message text are stripped of surrounding whitespace
(including the line ending). Argument-less requests given extra text
(``names please``) are still sent, with content ``null``.

Passwords (PROTOCOL.md section 4: ``/register``, ``/oper``, ``/password``
and ``login <name> <password>``) are never shown back: ``secret_spans``
finds them in a line and ``mask_secrets`` replaces each with ``********``
wherever a typed line is displayed. A plain line ``register <one word>``
or ``oper <one word>`` is almost surely a password typed without its
slash: it gets a hint instead of being broadcast to the room.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Action",
    "HELP_TEXT",
    "LocalHint",
    "NOT_LOGGED_IN_HINT",
    "MASK",
    "Nothing",
    "SendRequest",
    "SLASH_COMMANDS",
    "mask_secrets",
    "parse_input",
    "secret_spans",
]


@dataclass(frozen=True)
class SendRequest:
    """Send ``{"request": request, "content": content}`` to the server."""

    request: str
    content: str | None

    def payload(self) -> dict:
        """The request as the JSON object to put on the wire."""
        return {"request": self.request, "content": self.content}


@dataclass(frozen=True)
class LocalHint:
    """Show ``text`` to the person; send nothing."""

    text: str


@dataclass(frozen=True)
class Nothing:
    """A blank line: do nothing."""


Action = SendRequest | LocalHint | Nothing

#: Requests every server supports (PROTOCOL.md section 1).
KNOWN_REQUESTS = frozenset({"login", "logout", "msg", "names", "help"})
#: Known requests that take no argument: extra text after them is ignored.
NO_ARGUMENT = frozenset({"logout", "names", "help"})

NOT_LOGGED_IN_HINT = "You are not logged in: type 'login <name>' first (or 'help')"
LOGIN_USAGE = "usage: login <username>"
MSG_USAGE = "usage: msg <text>"
SLASH_USAGE = "usage: /<request> [content]   (use //text for a message starting with '/')"

HELP_TEXT = """\
login <name>           log in under that name
msg <text>             send a message (once logged in, any other line is a message too)
names                  list the users currently connected
help                   ask the server which requests it supports
logout                 log out and quit
/<request> [content]   send any request, e.g. a server extension (/login alvaro works too)
//text                 send a message that starts with '/'
Servers with rooms, private messages and accounts (PROTOCOL.md section 4):
/join <room>, /leave, /rooms            change room, list the rooms
/pm <name> <text>                       a private message, shown as "alice -> bob"
/register <password>, login <name> <password>, /password <old> <new>
/oper <password>, /kick, /ban, /unban, /bans, /purge   moderation
Passwords are shown as ********. Keywords are case-insensitive; blank lines are ignored."""

#: What Tab completes after a leading slash: the standard requests and
#: those of PROTOCOL.md section 4.
SLASH_COMMANDS = ("/ban", "/bans", "/help", "/join", "/kick", "/leave", "/login", "/logout",
                  "/msg", "/names", "/oper", "/password", "/pm", "/purge", "/register",
                  "/rooms", "/unban")

MASK = "********"
#: Requests whose argument holds passwords -> how many leading words of the
#: argument are not secret (``login alice secret``: the name is not).
_SECRET_ARGUMENTS = {"register": 0, "oper": 0, "password": 0, "login": 1}
#: Plain lines (no slash) taken for a password command only in this shape.
_PLAIN_SECRET_WORDS = {"register": 1, "oper": 1}
_COMMAND_WORD = re.compile(r"\s*(/?)([A-Za-z]+)(?=\s|$)")
_WORD = re.compile(r"\S+")
PASSWORD_HINT = ("not sent: this looks like a password for everyone to read; "
                 "type /%s <password> (or 'msg %s ...' to say it)")


def parse_input(line: str, logged_in: bool) -> Action:
    """Decide what to do with one input ``line``.

    ``logged_in`` is the client's belief that the server accepted a login;
    it only decides whether a plain line is sent as ``msg`` or answered with
    a local hint.
    """
    text = line.strip()
    if not text:
        return Nothing()
    if text.startswith("//"):
        return _message(text[1:], logged_in)
    if text.startswith("/"):
        return _slash_command(text[1:])
    word, rest = _split_word(text)
    request = word.lower()
    if request in KNOWN_REQUESTS:
        return _known(request, rest)
    if logged_in and secret_spans(text):
        return LocalHint(PASSWORD_HINT % (request, request))
    return _message(text, logged_in)


def secret_spans(line: str) -> list[tuple[int, int]]:
    """The (start, end) character ranges of ``line`` that are passwords."""
    match = _COMMAND_WORD.match(line)
    if match is None:
        return []
    slash, word = match.group(1), match.group(2).lower()
    if word not in _SECRET_ARGUMENTS:
        return []
    words = list(_WORD.finditer(line, match.end()))
    if not slash and word != "login" and len(words) != _PLAIN_SECRET_WORDS.get(word):
        return []
    return [m.span() for m in words[_SECRET_ARGUMENTS[word]:]]


def mask_secrets(line: str) -> str:
    """``line`` with every password replaced by ``********``."""
    for start, end in reversed(secret_spans(line)):
        line = line[:start] + MASK + line[end:]
    return line


def _split_word(text: str) -> tuple[str, str]:
    """Split ``text`` into its first word and the stripped rest."""
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    if len(parts) == 1:
        return parts[0], ""
    return parts[0], parts[1].strip()


def _slash_command(text: str) -> Action:
    """``/word rest``: a known request, or any other request as typed."""
    word, rest = _split_word(text)
    if not word or word != text[: len(word)]:
        # "/" alone, or "/ something": no request name.
        return LocalHint(SLASH_USAGE)
    request = word.lower()
    if request in KNOWN_REQUESTS:
        return _known(request, rest)
    return SendRequest(word, rest or None)


def _known(request: str, rest: str) -> Action:
    """One of the five standard requests, with its argument ``rest``."""
    if request in NO_ARGUMENT:
        return SendRequest(request, None)
    if not rest:
        return LocalHint(LOGIN_USAGE if request == "login" else MSG_USAGE)
    return SendRequest(request, rest)


def _message(text: str, logged_in: bool) -> Action:
    """A plain line: a message once logged in, a hint before."""
    if not logged_in:
        return LocalHint(NOT_LOGGED_IN_HINT)
    return SendRequest("msg", text)
