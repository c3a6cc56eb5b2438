"""What the client believes about its session: name, room, users, names seen.

Theory of operation
-------------------
The protocol tags nothing: a server never says "you are alice in #dev".
The client infers it, liberally, from what it sent and what came back:

* the name is the first word of the last ``login`` sent, once the client
  believes that login succeeded (``ClientEngine`` decides that; see there);
* the room is ``#lobby`` after a login (PROTOCOL.md section 4), then the
  room of the latest ``info`` "Joined #room ..." (the answer to ``join``
  and ``leave``), with its user count when the text has one;
* the user count is refreshed by a ``names`` answer ("Users online (3):
  alice, bob, carol", or a list) and moved by presence notices ("alice,
  bob and 12 others joined; carol left"); a kick or ban notice makes it
  unknown (the victim may be in another room; the full-screen face then
  asks with a ``names``);
* names seen (for Tab completion) come from senders, ``names`` answers and
  presence notices; rooms seen from ``rooms`` answers and joins;
* the requests the server offers come from its ``help`` answer
  (``commands.requests_in_help``); until one is seen, ``offered`` is None
  and the input rules assume the five standard requests and section 4's.

Servers without rooms never send "Joined": the room stays ``#lobby``, the
default room every section 4 server puts a standard client in. Anything
unrecognised is ignored; nothing here raises on odd payloads.
"""

from __future__ import annotations

import re
from typing import Any

from .commands import KNOWN_REQUESTS, requests_in_help
from .render import response_kind

__all__ = ["LOBBY", "SessionView"]

LOBBY = "#lobby"
#: Names seen are kept for completion; a flood of presence notices must not
#: grow them without bound.
MAX_NAMES_SEEN = 5000

_NAME = re.compile(r"[A-Za-z0-9]{1,32}")
_ROOM = re.compile(r"#[A-Za-z0-9_-]{1,32}")
_JOINED = re.compile(r"\bJoined (#?[A-Za-z0-9_-]{1,32})\b(?:[^\d;]{0,30}?(\d+))?", re.I)
_NAMES_ANSWER = re.compile(r"[^:()]*\((\d+)\)\s*:\s*(.*)", re.S)
_PRESENCE = re.compile(r"(.+?) (joined|left)", re.S)
_OTHERS = re.compile(r"(\d+) others?")
_REMOVED = re.compile(r"([A-Za-z0-9]{1,32}) was (?:kicked|banned) by ")


class SessionView:
    """The session as the client believes it to be."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.room: str | None = None
        self.users: int | None = None      # in our room, when known
        self.names: set[str] = set()
        self.rooms: set[str] = {LOBBY}
        self.offered: frozenset | None = None   # requests the server's help named
        # In memory only, to log in again after a reconnection: the last
        # login's content, with the password of a /register or /password
        # the server accepted since.
        self.login_content: str | None = None
        self._new_password: str | None = None
        self._login_name: str | None = None

    def summary(self) -> tuple:
        return (self.name, self.room, self.users)

    def describe(self) -> str:
        """E.g. "alice in #dev (3 users)"."""
        text = "%s in %s" % (self.name or "(not logged in)", self.room or LOBBY)
        if self.users is not None:
            text += " (%d user%s)" % (self.users, "" if self.users == 1 else "s")
        return text

    # -- what went out ---------------------------------------------------

    def request_sent(self, request: str, content: str | None) -> None:
        request = request.lower()
        if request == "login" and content:
            self._login_name = content.split()[0]
            self.login_content = content
        elif request in ("register", "password") and content:
            # the password to log in with again, once the server accepts it
            self._new_password = content.split()[-1]

    def logged_in(self) -> None:
        """The client now believes the last login succeeded."""
        if self.name is None:
            self.name = self._login_name
            self.room = LOBBY
            self.users = None
            self._add_name(self.name)

    def logged_out(self) -> None:
        self.name = self.room = self.users = None

    # -- what came back ----------------------------------------------------

    def observe(self, payload: Any) -> None:
        """Learn what can be learnt from one payload; ignore the rest."""
        if not isinstance(payload, dict):
            return
        kind = response_kind(payload)
        content = payload.get("content")
        if kind in ("message", "msg"):
            self._sender(payload.get("sender"))
        elif kind == "history" and isinstance(content, list):
            for entry in content[-200:]:
                if isinstance(entry, dict):
                    self._sender(entry.get("sender"))
        elif kind == "info" and isinstance(content, list):
            self._names_answer(len(content), [str(item) for item in content])
        elif kind == "info" and isinstance(content, str):
            self._info(content)
        if self._new_password and kind in ("info", "error"):
            if kind == "info" and self.name:
                self.login_content = "%s %s" % (self.name, self._new_password)
            self._new_password = None

    def _info(self, text: str) -> None:
        offered = requests_in_help(text)
        if offered:
            self.offered = frozenset(offered | KNOWN_REQUESTS)
            return
        joined = _JOINED.search(text)
        if joined:
            self.room = "#" + joined.group(1).lstrip("#")
            self.users = int(joined.group(2)) if joined.group(2) else None
            self.rooms.add(self.room)
            return
        if text.startswith("Rooms"):
            self.rooms.update(_ROOM.findall(text)[:1000])
            return
        answer = _NAMES_ANSWER.fullmatch(text.strip())
        if answer:
            self._names_answer(int(answer.group(1)), answer.group(2).split(", "))
            return
        removed = _REMOVED.match(text)
        if removed:
            # Told of a kick or ban, the victim may be in another room (an
            # operator hears of it anywhere): the count is no longer known.
            self.users = None
            return
        for part in text.split(";"):
            presence = _PRESENCE.fullmatch(part.strip())
            if presence:
                count = self._presence_names(presence.group(1))
                self._move(count if presence.group(2) == "joined" else -count)

    def _names_answer(self, count: int, names: list[str]) -> None:
        if names and all(_NAME.fullmatch(name.strip()) for name in names):
            self.users = count
            for name in names:
                self._add_name(name.strip())

    def _presence_names(self, who: str) -> int:
        """How many users "alice, bob and 12 others" names (adding the names)."""
        count = 0
        for part in re.split(r", | and ", who):
            others = _OTHERS.fullmatch(part)
            if others:
                count += int(others.group(1))
            elif _NAME.fullmatch(part):
                count += 1
                self._add_name(part)
        return count

    def _move(self, delta: int) -> None:
        if self.users is not None:
            self.users = max(0, self.users + delta)

    def _sender(self, sender: Any) -> None:
        if isinstance(sender, str):
            for name in sender.split(" -> "):
                self._add_name(name)

    def _add_name(self, name: str | None) -> None:
        if name and _NAME.fullmatch(name) and len(self.names) < MAX_NAMES_SEEN:
            self.names.add(name)
