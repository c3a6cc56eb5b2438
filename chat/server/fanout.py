"""Broadcast by room: a room's payloads of one loop pass, queued once.

Theory of operation
-------------------
A broadcast used to cost one ``Output.send`` (and one ``Transport.write``)
per recipient per message. But the core hands every broadcast to a room
the same ``recipients`` tuple until someone comes or goes
(``Room.recipients``), so within a pass the glue can tell "another message
for the same members" by identity, and queue it once for all of them.

The first broadcast of a pass to a recipients tuple opens a ``RoomBatch``
(a ``reactor.tcp.SharedChunks``): each member whose output is streamed,
not paused, and whose transport has nothing queued *shares* the batch's
chunk list as its transport's queue (``Transport.share``; a WebSocket
shares the batch's framed encoding, framed once for all of them); every
other member (paced, partly written, over its pause mark, TLS) gets the
payload through its ``Output.send`` as before and is kept in ``others``.
Each later broadcast to the same tuple in the pass is one ``list.append``
for all sharing members, plus a ``send`` per other member. At the end of
the pass each sharing transport flushes the whole batch in one
``sendmsg`` of the shared chunks.

What keeps this exactly as before, to the byte and in order:

* a member written to by anything else during the pass (an answer, a
  notice, a broadcast to another tuple) copies the queue first
  (``Transport.write`` unshares) and from then on is among ``others``
  (``RoomBatch.left``), so what it is sent stays in the order produced;
* the caps are checked where they would have been: a batch whose size
  (framed or not) passes the pause mark (below which ``Output.send``
  checks nothing), with its first payload or a later one, dissolves:
  every member on its own queue, with its ``Output.check``;
* ``Fanout`` closes its batches in an end-of-pass hook registered before
  any transport shares one, so no batch grows after a member's flush.

Rooms under ``limits.FANOUT_MIN_MEMBERS`` gain nothing from a batch and
are sent as before.
"""

from reactor.tcp import SharedChunks

from .. import limits


class RoomBatch(SharedChunks):
    """One pass's broadcasts to one recipients tuple."""

    __slots__ = ("recipients", "sharing", "others", "pause_at")

    def __init__(self, recipients, data, pause_at):
        super().__init__(data)
        self.recipients = recipients      # kept alive: its id() keys the batch
        self.pause_at = pause_at
        self.sharing = sharing = {}       # transport -> Output
        self.others = others = []         # Outputs sent to one by one
        for session in recipients:
            output = session.output
            transport = output.share(self)
            if transport is not None:
                sharing[transport] = output
            else:
                output.send(data)
                others.append(output)
        if sharing and self.largest > pause_at:
            self._dissolve()    # checked at once, as Output.send would have

    def add(self, data):
        for output in self.others:    # first: _dissolve adds to them
            output.send(data)
        if self.sharing:
            self.append(data)
            if self.largest > self.pause_at:
                self._dissolve()

    def left(self, transport):
        output = self.sharing.pop(transport, None)
        if output is not None:
            self.others.append(output)

    def close(self):
        """No more payloads this pass: nobody needs to be told of leaving."""
        self.sharing = {}
        self.others = ()

    def _dissolve(self):
        """Past the pause mark: each member on its own queue, caps checked."""
        sharing, self.sharing = self.sharing, {}
        for transport, output in sharing.items():
            transport.unshare()            # calls left(): a no-op now
            self.others.append(output)
            output.check()


class Fanout:
    """Carries out ``Broadcast`` effects, batching by recipients per pass."""

    def __init__(self, loop, pause_at, min_members=limits.FANOUT_MIN_MEMBERS):
        self.loop = loop
        self.pause_at = pause_at
        self.min_members = min_members
        self._open = {}                  # id(recipients) -> RoomBatch, this pass

    def broadcast(self, data, recipients):
        batch = self._open.get(id(recipients))
        if batch is not None:
            batch.add(data)
        elif len(recipients) < self.min_members:
            for session in recipients:
                session.output.send(data)
        else:
            if not self._open:
                self.loop.at_end_of_pass(self._close_all)
            self._open[id(recipients)] = RoomBatch(recipients, data, self.pause_at)

    def _close_all(self):
        batches, self._open = self._open, {}
        for batch in batches.values():
            batch.close()
