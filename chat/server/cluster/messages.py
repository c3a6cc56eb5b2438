"""A room's messages through its stream: out to Redis, back to the members.

Theory of operation
-------------------
``publish`` appends a ``msg`` (the core's ``Publish``) to its room's stream
(``appends``) and nobody is sent it then; ``deliver`` gets what the reader
(``roomlog``) read back from the streams, every node's messages in the
stream's one order, and sends it to the members here.

*The sender's verdict.* An append that Redis refused is an ``error`` to
its sender at once ("chat is temporarily unavailable, try again"). One
whose connection was lost before the answer may or may not have run, and
"try again" would then invite a duplicate; so each append carries its
origin (this node's id, a token of this process and a number: the
entry's ``o``), the node remembers its unanswered appends by origin, and
an append the reader gives back is in the stream: no error, whatever
became of the answer (Redis answers an append and wakes the readers at
once, on two connections, and a reset can discard the answer after the
reader got the message). Two equal messages (same text, same second)
are two origins: one refused is never taken for the other stored. An append still in
doubt waits until the reader has caught up after the reconnection: read
back by then, it ran; not, it did not (its entry would come after the
last one read), and only then is the sender told to try again. If the
reader has not caught up within ``verdict_wait`` the sender is told
anyway (the message may still appear: the README says so).

*Joined delivery.* A reply holds many messages; a room's consecutive ones
go to the same members (the core shares one recipients tuple until
someone comes or goes), so they leave joined, one send per member instead
of one per member and message: a streamed connection receives the same
bytes in the same order either way. A paced connection (a naive reader,
PROTOCOL.md section 3) still gets them one by one.
"""

import itertools
import os

from reactor.redis import ConnectionLost

from ...core import Broadcast


class _Append:
    """One ``msg`` of ours on its way into a stream."""

    __slots__ = ("session", "read_back")

    def __init__(self, session):
        self.session = session
        self.read_back = False   # the reader delivered it: it is in the stream


class RoomMessages:
    """Publishes this node's messages and delivers every node's."""

    def __init__(self, server, appends, node_id, unavailable, verdict_wait):
        self.server = server
        self.core = server.core
        self.appends = appends              # the RoomAppends
        self.unavailable = unavailable      # fn(session): "try again"
        self.verdict_wait = verdict_wait    # seconds an append may stay in doubt
        self._origin = ("%s/%s/" % (node_id, os.urandom(4).hex())).encode()
        self._count = itertools.count()
        self._appending = {}                # origin -> _Append not settled yet
        self._in_doubt = []                 # origins cut off, unread so far
        self._deadline = None               # the timer that ends the doubt

    def forget_own(self, room_key):
        """Delete what this process appended to a room's stream (a room
        dropped elsewhere that our users spoke in before we heard)."""
        self.core.store.delete_own_entries(room_key, self._origin)

    def publish(self, effect):
        """A ``msg`` into its room's stream (see the module docstring)."""
        session = effect.session
        origin = self._origin + b"%d" % next(self._count)
        append = self._appending[origin] = _Append(session)
        reply = self.appends.publish(effect.room, session.key, effect.payload, origin)

        def appended(reply):
            if reply.error is None or append.read_back:
                self._settle(origin, False)
            elif isinstance(reply.error, ConnectionLost):
                self._doubt(origin)
            else:
                self._settle(origin, True)
        reply.add_done_callback(appended)

    def _doubt(self, origin):
        self._in_doubt.append(origin)
        if self._deadline is None:
            self._deadline = self.server.loop.call_later(self.verdict_wait, self.caught_up)

    def caught_up(self):
        """The reader has read everything there was (or the wait is over):
        an append in doubt that it did not give back did not run."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        doubts, self._in_doubt = self._in_doubt, []
        for origin in doubts:
            self._settle(origin, not self._appending[origin].read_back)

    def _settle(self, origin, failed):
        append = self._appending.pop(origin)
        if failed:
            self.appends.not_appended(origin)
            if append.session.logged_in:
                self.unavailable(append.session)

    def deliver(self, messages):
        """Messages read back from the room streams, in order: one batch of
        effects per reply (see the module docstring)."""
        deliver = self.core.deliver
        appending = self._appending
        runs = []   # [recipients, [payload, ...]]: a run of broadcasts to the same members
        for room_key, room_name, sender_key, payload, origin in messages:
            if appending and origin in appending:   # one of ours, not settled yet
                appending[origin].read_back = True
            for effect in deliver(room_key, room_name, sender_key, payload):
                if runs and effect.recipients is runs[-1][0]:
                    runs[-1][1].append(effect.data)
                else:
                    runs.append([effect.recipients, [effect.data]])
        effects = []
        for recipients, payloads in runs:
            if len(payloads) == 1:
                effects.append(Broadcast(payloads[0], recipients))
                continue
            paced = [session for session in recipients if session.paced]
            if paced:
                recipients = [session for session in recipients if not session.paced]
                effects += [Broadcast(payload, paced) for payload in payloads]
            effects.append(Broadcast(b"".join(payloads), recipients))
        self.server.carry_out(effects)

