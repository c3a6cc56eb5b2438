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
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Action",
    "HELP_TEXT",
    "LocalHint",
    "NOT_LOGGED_IN_HINT",
    "Nothing",
    "SendRequest",
    "parse_input",
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
Keywords are case-insensitive; blank lines are ignored."""


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
    return _message(text, logged_in)


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
