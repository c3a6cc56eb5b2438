"""This node's messages into the room streams.

Theory of operation
-------------------
Each ``msg`` of a user here is one entry of its room's stream
``ktn:room:<key>`` (its fields: ``entries``): ``publish`` appends it
with ``XADD ... MAXLEN ~ N`` and nobody is sent it then; the reader
(``roomlog``) delivers it, on every node, once it reads it back. The
appends of one loop pass leave in one pipelined write, as one
``MULTI``/``EXEC`` block: a reader blocked on the stream, this node's or
another's, is then answered with all of them at once, not with the first
alone, which would cost one more write per recipient for the rest.

N (``stream_length``) is the larger of the history limit and
``--stream-retain`` (10 000): trimming at the history limit itself would
delete entries the readers have not read yet whenever a burst outruns
them; ``--retain-messages`` lowers it (the sweep then trims exactly).

Unsigned, the command's constant start is kept encoded per room
(``append_prefix``) and only the fields are encoded per message
(``append_fields``): the same bytes as ``encode_command``. Each payload is
remembered under its origin (``written``) until the reader gives it back,
which spares checking it again then (``entries.message_of``).
"""

from ...store.redis import room_stream
from .entries import append_fields, append_prefix

#: Appends remembered until read back (``RoomAppends.written``) at most:
#: past this, the oldest is forgotten (it is then checked like anyone's
#: entry). One whose room this node stopped reading before it came back is
#: never read back, so the bound is also one of memory: about
#: ``WRITTEN_BYTES`` of payloads (``written_limit``).
WRITTEN_LIMIT = 4096
WRITTEN_BYTES = 4 * 1024 * 1024

#: Rooms whose XADD start is kept encoded.
PREFIXES_LIMIT = 4096


def stream_length(history_limit, retain, cap=0):
    """The ``MAXLEN ~`` of a room's stream (see the module docstring)."""
    length = max(1, history_limit, retain)
    if cap:   # --retain-messages: about that many (the sweep trims exactly)
        length = max(1, min(length, cap))
    return length


def written_limit(max_payload):
    """How many appends to remember when a payload may be ``max_payload``
    bytes: ``WRITTEN_BYTES`` of them, however large (at least 64; one
    forgotten while still on its way is only checked again when it comes
    back)."""
    return max(64, min(WRITTEN_LIMIT, WRITTEN_BYTES // max(1, max_payload)))


class RoomAppends:
    """Appends this node's messages to their rooms' streams."""

    def __init__(self, redis, length, limit=WRITTEN_LIMIT):
        self.redis = redis                  # pipelined client (``signing.SignedRedis``)
        self.stream_length = length         # MAXLEN ~ (``stream_length``)
        self.limit = limit                  # appends ``written`` keeps (``written_limit``)
        self.written = {}                   # origin -> payload: appended, not read back yet
        self._prefixes = {}                 # room key -> its XADD's encoded start

    def publish(self, room, sender_key, payload, origin):
        """Append one message to the room's stream; return the Reply.
        ``origin`` names this append (node and number) in the entry, so the
        publisher knows its own entry when the reader gives it back."""
        written = self.written
        if len(written) >= self.limit:   # appends never read back (failed, forgotten)
            del written[next(iter(written))]
        written[origin] = payload
        if self.redis.signing:   # the signature is added by the generic call
            reply = self.redis.call("XADD", room_stream(room.key), "MAXLEN", "~",
                                    self.stream_length, "*", "s", sender_key,
                                    "r", room.name, "p", payload, "o", origin, atomic=True)
        else:
            prefix = self._prefixes.get(room.key)
            if prefix is None:
                if len(self._prefixes) >= PREFIXES_LIMIT:
                    self._prefixes.clear()
                prefix = self._prefixes[room.key] = append_prefix(room_stream(room.key),
                                                                  self.stream_length)
            reply = self.redis.call_encoded(
                "XADD", prefix + append_fields(sender_key, room.name, payload, origin),
                atomic=True)
        if reply.done:   # refused at once (Redis down, a queue full): never read back
            written.pop(origin, None)
        return reply

    def not_appended(self, origin):
        """An append judged not to have run will not be read back: forget it
        now rather than when newer ones push it out."""
        self.written.pop(origin, None)
