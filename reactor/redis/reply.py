"""The future result of one Redis call, and the errors a call can end in.

Theory of operation
-------------------
``RedisClient.call`` returns a ``Reply`` at once; whoever sent the command
settles it later with ``resolve(value, error)``, exactly once. The caller
polls ``done``, or registers ``add_done_callback(fn)``, or calls
``result()`` once done. A callback that raises is logged and costs no one
else their reply. A ``Reply``'s ``repr`` is bounded: it goes into log
lines, and a value may be megabytes.

A call ends in its value or in one of these errors:

* ``ReplyError`` (``reactor.resp``): Redis refused the command;
* ``Unavailable``: refused before it was sent (not connected, or closed),
  and ``Overloaded``, a kind of it: a queue bound was reached;
* ``ConnectionLost``: the connection went after the call was accepted, so
  it may or may not have run;
* ``ProtocolError`` (``reactor.resp``): an atomic call whose ``EXEC``
  answer made no sense.
"""

import logging
import reprlib

from ..resp import RedisError

__all__ = ["ConnectionLost", "Overloaded", "Reply", "Unavailable"]

log = logging.getLogger("reactor.redis")


class Unavailable(RedisError):
    """The call was refused without being sent: not connected, or closed."""


class Overloaded(Unavailable):
    """The call was refused without being sent: a queue bound was reached."""


class ConnectionLost(RedisError):
    """The connection was lost after the call was accepted: it may or may
    not have run."""


class Reply:
    """The future result of one call: ``done``, then ``value`` or ``error``.

    ``add_done_callback(fn)`` calls ``fn(reply)`` once it is done (at once
    if it already is). ``result()`` returns the value or raises the error.
    """

    __slots__ = ("command", "done", "value", "error", "timeout", "_callbacks")

    def __init__(self, command, timeout=None):
        self.command = command
        self.done = False
        self.value = None
        self.error = None
        self.timeout = timeout
        self._callbacks = None

    @property
    def name(self):
        """The command's name as text, for messages."""
        command = self.command
        return command.decode("ascii", "replace") if isinstance(command, bytes) else str(command)

    def add_done_callback(self, fn):
        if self.done:
            _run_callback(fn, self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def result(self):
        if not self.done:
            raise RuntimeError("%s: no reply yet" % self.name)
        if self.error is not None:
            raise self.error
        return self.value

    def resolve(self, value, error):
        """Settle the call (for whoever sent it): ``value``, or ``error``."""
        self.done = True
        self.value = value
        self.error = error
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for fn in callbacks:
                _run_callback(fn, self)

    def __repr__(self):
        # bounded: it goes into log lines, and a value may be megabytes
        state = ("error %s" % _short(self.error) if self.error is not None
                 else "value %s" % _short(self.value) if self.done else "pending")
        return "<Reply %s: %s>" % (self.name, state)


def _short(value):
    return reprlib.repr(value)


def _run_callback(fn, reply):
    # One caller's bug must not cost the other callers their replies.
    try:
        fn(reply)
    except Exception:
        log.exception("error in the callback of %r", reply)
