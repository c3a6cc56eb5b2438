"""Moderation: operators, kicks, bans and purges.

Theory of operation
-------------------
A session becomes an operator with ``oper <password>`` against the
password the server was started with; without one, nobody can. Failed
``oper`` attempts count against the same per-network limits as failed
password logins, for the name ``oper``. The router refuses the moderation requests to everyone
else ("kick needs operator rights").

A kick or a ban is, for the victim, an ``error`` followed by ``Close``;
the victim leaves its room at once, without a "left" notice (the room is
told "bob was kicked by alice (reason)" instead). A ban also refuses the
name (any case) from then on, and the address the victim was connected
from unless it is loopback, where every local user shares it. ``purge``
removes a user's messages from the operator's room's history, so later
logins and joins no longer see them. Bans and purges write through to the
store, so they outlast a restart. Bans are independent records: several
bans may hold one address, and lifting one leaves the others in force.
Every operator's act, and every ``oper`` attempt, is told to the hooks'
``audit``.
"""

import hmac

from .. import protocol
from ..protocol import RequestError
from .accounts import TOO_MANY, secret_bytes
from .networks import is_loopback
from .session import Broadcast, Close, RemoteKick, Send, is_username

__all__ = ["Bans", "ModerationRequests", "is_loopback"]


class Bans:
    """Banned names (case-folded) and the addresses banned with them,
    written through to the store. Each ban is a record of its own: (name,
    reason, host, by, at), ``by`` the operator, ``at`` the time."""

    def __init__(self, store):
        self.store = store
        self.names = {}   # key -> (name as given, reason, host or None, by, at)
        self.hosts = {}   # host -> {key of each ban that holds it: None}

    def restore(self, bans):
        """The bans a store remembered: (name, reason, host[, by, at]),
        oldest first."""
        for ban in bans:
            self._add(ban[0].lower(), *_full(ban))

    def __len__(self):
        return len(self.names)

    def refusal(self, key, host):
        """The ``error`` text for a banned name or address, else None."""
        ban = self.names.get(key)
        if ban is None and host in self.hosts:
            ban = self.names[next(iter(self.hosts[host]))]
        if ban is None:
            return None
        return "you are banned: %s" % ban[1] if ban[1] else "you are banned"

    def add(self, name, reason, host, by=None, at=None):
        key = name.lower()
        if host is not None and is_loopback(host):
            host = None
        self._add(key, name, reason, host, by, at)
        self.store.add_ban(key, name, reason, host, by, at)

    def _add(self, key, name, reason, host, by, at):
        self._remove(key)
        self.names[key] = (name, reason, host, by, at)
        if host is not None:
            self.hosts.setdefault(host, {})[key] = None

    def remove(self, key):
        removed = self._remove(key)
        if removed:
            self.store.remove_ban(key)
        return removed

    def _remove(self, key):
        ban = self.names.pop(key, None)
        if ban is None:
            return False
        holders = self.hosts.get(ban[2]) if ban[2] is not None else None
        if holders is not None:
            holders.pop(key, None)
            if not holders:
                del self.hosts[ban[2]]
        return True

    def listing(self):
        parts = []
        for name, reason, host, by, _at in self.names.values():
            text = name + (" from %s" % host if host else "")
            parts.append(text + (" (%s)" % reason if reason else "") + (" by %s" % by if by else ""))
        return "Bans (%d): %s" % (len(parts), ", ".join(parts)) if parts else "Bans (0)"


def _full(ban):
    """A ban record of 3 fields (an older store's) or 5 -> 5 fields."""
    return tuple(ban) if len(ban) == 5 else (*ban[:3], None, None)


def _target(content, request, usage):
    """'<name> [reason]' -> (name, reason or '')."""
    name, _, reason = content.strip().partition(" ")
    if not is_username(name):
        raise RequestError("%s needs a username: %s" % (request, usage))
    return name, reason.strip()


class ModerationRequests:
    """The ``oper``, ``kick``, ``ban``, ``unban``, ``bans`` and ``purge``
    handlers of ``ChatCore``."""

    def _on_oper(self, session, content):
        if self.oper_password is None:
            raise RequestError("no operator password is configured on this server: "
                               "nobody can become an operator")
        if session.operator:
            raise RequestError("you are already an operator")
        group = self.groups.group(session.host)
        wait = self.failed_logins.wait(group, "oper")
        if wait:
            if self.failed_logins.first_refusal(group, "oper"):
                self.hooks.audit("login_limited", session.host, session.name)
            raise RequestError(TOO_MANY % wait)
        if not hmac.compare_digest(secret_bytes(content), secret_bytes(self.oper_password)):
            self.failed_logins.record(group, "oper")
            self.hooks.audit("oper_failed", session.host, session.name)
            raise RequestError("wrong operator password")
        session.operator = True
        self.hooks.audit("oper", session.host, session.name)
        return [self.info(session, "you are now an operator: kick, ban, unban, bans and "
                                   "purge are yours")]

    def _on_kick(self, session, content):
        name, reason = _target(content, "kick", "kick <name> [reason]")
        if self.shared_log and name.lower() not in self.users:
            self.hooks.audit("kick", None, name, session.name)
            return [RemoteKick(session, name, reason)]   # perhaps on another node
        return self._remove_user(session, self._online(name, "kick"), "kicked", reason)

    def kicked_from_elsewhere(self, victim, operator_name, reason):
        """A cluster node's operator kicked ``victim``, who is here."""
        return self._removal(victim, operator_name, "kicked", reason, ())

    def _on_ban(self, session, content):
        name, reason = _target(content, "ban", "ban <name> [reason]")
        victim = self.users.get(name.lower())
        if victim is None:
            self.bans.add(name, reason, None, session.name, self.clock.timestamp())
            self.hooks.audit("ban", None, name, session.name)
            return [self.info(session, "%s is banned (not online: the name alone)" % name)]
        if victim is session:
            raise RequestError("you cannot ban yourself")
        self.bans.add(victim.name, reason, victim.host, session.name, self.clock.timestamp())
        self.hooks.audit("ban", victim.host, victim.name, session.name)
        return self._remove_user(session, victim, "banned", reason)

    def _on_unban(self, session, content):
        name, _ = _target(content, "unban", "unban <name>")
        if not self.bans.remove(name.lower()):
            raise RequestError("%s is not banned" % name)
        self.hooks.audit("unban", None, name, session.name)
        return [self.info(session, "%s is no longer banned" % name)]

    def _on_bans(self, session, _content):
        return [self.info(session, self.bans.listing())]

    def _on_purge(self, session, content):
        name, _ = _target(content, "purge", "purge <name>")
        room = session.room
        removed = room.history.purge(name.lower())
        self.store.purge(room.key, name.lower())
        self.hooks.audit("purge", None, name, session.name)
        notice = self._server_response(
            protocol.INFO, "%d messages from %s were removed by %s" % (removed, name, session.name))
        return [Broadcast(notice, room.recipients())]

    def _online(self, name, request):
        victim = self.users.get(name.lower())
        if victim is None:
            raise RequestError("%s is not online" % name)
        return victim

    def _remove_user(self, operator, victim, what, reason):
        """Kick or ban ``victim``: its error and close, then its room's notice
        (the operator hears it wherever it is)."""
        if victim is operator:
            raise RequestError("you cannot kick yourself: use logout")
        also_told = () if operator.room is victim.room else (operator,)
        if what == "kicked":
            self.hooks.audit("kick", victim.host, victim.name, operator.name)
        return self._removal(victim, operator.name, what, reason, also_told)

    def _removal(self, victim, operator_name, what, reason, also_told):
        room = victim.room
        victim_name = victim.name
        self._forget(victim, notice=False)
        to_victim = "%s by %s%s" % (what, operator_name, ": " + reason if reason else "")
        to_room = "%s was %s by %s%s" % (victim_name, what, operator_name,
                                         " (%s)" % reason if reason else "")
        return [Send(victim, self._server_response(protocol.ERROR, to_victim)),
                Close(victim, "%s by %s" % (what, operator_name)),
                Broadcast(self._server_response(protocol.INFO, to_room),
                          room.recipients() + also_told)]
