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
- A line whose first word is a request the server offers is sent as that
  request, with or without the slash (``pm bob hi``, ``join #dev``). What
  the server offers: the five standard requests, and section 4's until the
  server's ``help`` answer names its own (``requests_in_help``). A plain
  line whose words do not fit the request (``join me for lunch``,
  ``leave it to me``) is refused with a hint, never published; so is a
  ``pm`` the server does not offer: text meant for one person never
  reaches a room by a slip.
- IRC habits: ``/quit`` is ``logout``, ``/part`` is ``leave``,
  ``/query <name> <text>`` is ``pm``, ``/me <text>`` is the message
  "* alice <text>". ``/msg <name> <text>`` is a ``pm`` in the full-screen
  client (``irc=True``), where a plain ``msg <name> ...`` to a name seen is
  refused; the line client keeps the course's ``msg text`` as a room
  message, and its ``/msg <name> <text>`` is a ``pm`` only when the name is
  one it has seen.
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
or ``oper <one word>`` is a password typed without its slash: sent as the
request when the server offers it, else a hint, never broadcast.
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
    "requests_in_help",
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
NO_ARGUMENT = frozenset({"logout", "names"})
#: PROTOCOL.md section 4's requests -> their arguments (None: none; <x>
#: required, [x] optional; <text> and [reason] take the rest of the line).
#: Assumed offered until the server's ``help`` names what it offers.
EXTENSIONS = {"join": "<room>", "leave": None, "rooms": None, "pm": "<name> <text>",
              "register": "<password>", "password": "<old> <new>", "oper": "<password>",
              "kick": "<name> [reason]", "ban": "<name> [reason]", "unban": "<name>",
              "bans": None, "purge": "<name>"}
#: What a server offers when its ``help`` was not seen (or not understood).
ASSUMED_OFFER = KNOWN_REQUESTS | frozenset(EXTENSIONS)
#: First words that mean "to one person": never published as a room message.
PRIVATE_WORDS = frozenset({"pm", "query", "tell", "whisper", "dm"})
#: IRC habits -> the request they stand for.
ALIASES = {"quit": "logout", "part": "leave", "query": "pm"}

NOT_LOGGED_IN_HINT = "You are not logged in: type 'login <name>' first (or 'help')"
LOGIN_USAGE = "usage: login <username>"
MSG_USAGE = "usage: msg <text>"
SLASH_USAGE = "usage: /<request> [content]   (use //text for a message starting with '/')"
USAGE = "usage: /%s %s"
NOT_PLACED = ("not sent: '%s' is a request (/%s%s); to say this line in the room, "
              "type 'msg %s'")
NO_PM_HINT = ("not sent: this server's help names no private messages; to say this line "
              "in the room, type 'msg %s'")
IRC_MSG_HINT = ("not sent: for %s alone type /msg %s <text>; for the room, type the text "
                "alone")

HELP_TEXT = """\
login <name>           log in under that name
msg <text>             send a message (once logged in, any other line is a message too)
names                  list the users currently connected
help [request]         ask the server which requests it supports (or about one)
logout                 log out and quit
/<request> [content]   send any request, e.g. a server extension (/login alvaro works too)
//text                 send a message that starts with '/'
Servers with rooms, private messages and accounts (PROTOCOL.md section 4):
join <room>, leave, rooms               change room, list the rooms (slash optional)
pm <name> <text>                        a private message, shown as "alice -> bob"
/query <name> <text>, /quit, /part, /me <text>   as in IRC (full-screen: /msg <name> <text>)
/register <password>, login <name> <password>, /password <old> <new>
/oper <password>, /kick, /ban, /unban, /bans, /purge   moderation
Passwords are shown as ********. Keywords are case-insensitive; blank lines are ignored."""

#: What Tab completes after a leading slash: the standard requests and
#: those of PROTOCOL.md section 4.
SLASH_COMMANDS = ("/ban", "/bans", "/help", "/join", "/kick", "/leave", "/login", "/logout",
                  "/me", "/msg", "/names", "/oper", "/part", "/password", "/pm", "/purge",
                  "/query", "/quit", "/register", "/rooms", "/unban")

MASK = "********"
#: Requests whose argument holds passwords -> how many leading words of the
#: argument are not secret (``login alice secret``: the name is not).
_SECRET_ARGUMENTS = {"register": 0, "oper": 0, "password": 0, "login": 1}
#: Plain lines (no slash) taken for a password command only in this shape.
_PLAIN_SECRET_WORDS = {"register": 1, "oper": 1, "password": 2}
_COMMAND_WORD = re.compile(r"\s*(/?)([A-Za-z]+)(?=\s|$)")
_WORD = re.compile(r"\S+")
_HELP_MORE = re.compile(r"\s*more:\s*([^(]*)", re.I)
_HELP_ENTRY = re.compile(r"(?:\s+/?([a-z][a-z0-9_-]*)\b|/?([a-z][a-z0-9_-]*)(?=\s+[<\[:-]|$))")
PASSWORD_HINT = ("not sent: this looks like a password for everyone to read; "
                 "type /%s <password> (or 'msg %s ...' to say it)")


def parse_input(line: str, logged_in: bool, *, offered=None, irc: bool = False,
                names=(), me: str | None = None) -> Action:
    """Decide what to do with one input ``line``.

    ``logged_in`` is the client's belief that the server accepted a login;
    it only decides whether a plain line is sent as ``msg`` or answered with
    a local hint. ``offered``: the requests the server's ``help`` named
    (None: not known, ``ASSUMED_OFFER``). ``irc``: the full-screen client's
    IRC habits. ``names``: the user names seen. ``me``: our name, for /me.
    """
    offered = ASSUMED_OFFER if offered is None else offered
    known_names = {name.lower() for name in names}
    text = line.strip()
    if not text:
        return Nothing()
    if text.startswith("//"):
        return _message(text[1:], logged_in)
    if text.startswith("/"):
        return _slash_command(text[1:], irc, known_names, me)
    word, rest = _split_word(text)
    request = word.lower()
    if request == "msg" and irc and rest and _split_word(rest)[0].lower() in known_names:
        name = _split_word(rest)[0]
        return LocalHint(IRC_MSG_HINT % (name, name))
    if request in KNOWN_REQUESTS:
        return _known(request, rest)
    if request in offered:
        return _extension(request, rest, slash=False)
    if request in PRIVATE_WORDS:
        return LocalHint(NO_PM_HINT % text)
    if logged_in and secret_spans(text):
        return LocalHint(PASSWORD_HINT % (request, request))
    return _message(text, logged_in)


def requests_in_help(text) -> set | None:
    """The requests a ``help`` answer names, or None when ``text`` does not
    look like one (it must name ``login`` and ``msg``). Understands ours
    (indented "  login <username>  ..." lines and "more: join leave ...
    (help <request> for details)") and the usual "login <username> - ..."."""
    if not isinstance(text, str):
        return None
    found = set()
    for entry in text.splitlines():
        more = _HELP_MORE.match(entry)
        if more:
            found.update(w.lower() for w in more.group(1).replace(",", " ").split()
                         if w.isalpha())
            continue
        match = _HELP_ENTRY.match(entry)
        if match:
            found.add((match.group(1) or match.group(2)).lower())
    return found if {"login", "msg"} <= found else None


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


def _slash_command(text: str, irc: bool, known_names, me) -> Action:
    """``/word rest``: a known request, an IRC habit, or any request as typed."""
    word, rest = _split_word(text)
    if not word or word != text[: len(word)]:
        # "/" alone, or "/ something": no request name.
        return LocalHint(SLASH_USAGE)
    request = word.lower()
    if request == "me":
        if not rest or not me:
            return LocalHint("usage: /me <text>, once logged in")
        return SendRequest("msg", "* %s %s" % (me, rest))
    if request == "msg" and (irc or _split_word(rest)[0].lower() in known_names):
        if irc and len(rest.split()) < 2:
            return LocalHint(USAGE % ("msg", "<name> <text>   (a private message)"))
        if len(rest.split()) >= 2:
            request = "pm"
    request = ALIASES.get(request, request)
    if request in KNOWN_REQUESTS:
        return _known(request, rest)
    if request in EXTENSIONS:
        return _extension(request, rest, slash=True)
    return SendRequest(word, rest or None)


def _extension(request: str, rest: str, slash: bool) -> Action:
    """A request beyond the five. Its usage decides: too few words get the
    usage; a plain line with too many is refused (``join me for lunch`` is
    more likely a message than a join), never sent to the room."""
    if request not in EXTENSIONS:
        return SendRequest(request, rest or None)   # named by the server's help
    usage = EXTENSIONS[request]
    tokens = usage.split() if usage else []
    words = rest.split()
    if len(words) < sum(token.startswith("<") for token in tokens):
        return LocalHint(USAGE % (request, usage))
    free = bool(tokens) and tokens[-1] in ("<text>", "[reason]")
    if not free and len(words) > len(tokens) and not slash:
        return LocalHint(NOT_PLACED % (request, request, " " + usage if usage else "",
                                       " ".join([request] + words)))
    if not tokens:
        return SendRequest(request, None)
    return SendRequest(request, rest)


def _known(request: str, rest: str) -> Action:
    """One of the five standard requests, with its argument ``rest``."""
    if request in NO_ARGUMENT:
        return SendRequest(request, None)
    if request == "help":
        return SendRequest(request, rest or None)   # help <request>: about that one
    if not rest:
        return LocalHint(LOGIN_USAGE if request == "login" else MSG_USAGE)
    return SendRequest(request, rest)


def _message(text: str, logged_in: bool) -> Action:
    """A plain line: a message once logged in, a hint before."""
    if not logged_in:
        return LocalHint(NOT_LOGGED_IN_HINT)
    return SendRequest("msg", text)
