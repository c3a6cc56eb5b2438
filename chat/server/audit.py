"""The audit log: one JSON line per security event.

Theory of operation
-------------------
The core tells its hooks about each security event (``CoreHooks.audit``:
``register``, ``login_failed``, ``login_limited``, ``password_changed``,
``oper``, ``oper_failed``, ``kick``, ``ban``, ``unban``, ``purge``; the
glue adds its own, such as ``proxy_rejected``). ``AuditLog.record`` writes
each as one line of JSON with ``time`` (UTC, ISO 8601), ``event``,
``address``, ``name`` and, for an operator's act, ``by``. The core never
hands it a password or a message text, so none can reach it.

With ``--audit-log FILE`` the lines are appended to that file, created
0600 (it names who failed to log in from where) and written at once (a
line is complete before the request's answer leaves); without it they go
to the server log, as ``audit {...}`` lines of the ``chat.audit`` logger.
A file that cannot be written is reported once in the server log; the
server goes on.
"""

import datetime
import json
import logging
import os

log = logging.getLogger("chat.audit")


class AuditLog:
    """Where the audit lines go: a file of its own, or the server log."""

    def __init__(self, path=None):
        self.path = path
        self._fd = None
        self._failed = False
        if path is not None:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o600)

    def record(self, event, address, name, by=None):
        entry = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(
                     timespec="milliseconds"),
                 "event": event, "address": address, "name": name}
        if by is not None:
            entry["by"] = by
        line = json.dumps(entry, ensure_ascii=True)
        if self._fd is None:
            log.info("audit %s", line)
            return
        try:
            os.write(self._fd, line.encode("ascii") + b"\n")
        except OSError as exc:
            if not self._failed:
                self._failed = True
                logging.getLogger("chat.server").error("audit log %s: %s", self.path,
                                                       exc.strerror or exc)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
