"""A room's stream entry, both ways: the XADD that writes one, and the
message read back from one.

Theory of operation
-------------------
Every ``msg`` in a cluster is one XADD and one entry read back, so both
ends are kept cheap. Writing: the command's constant start (``XADD
<stream> MAXLEN ~ <n> *``) is encoded once per room (``append_prefix``)
and each message only formats its four fields into it (``append_fields``):
the bytes are exactly ``encode_command``'s for the whole command.
Reading: ``message_of`` takes an entry's flat ``[field, value, ...]`` as
XREAD gives it. Anyone with access to Redis may have written an entry, so
its payload is checked to be one ``message`` response
(``is_message_payload``) unless it is one this process appended itself,
recognised by its origin and its very bytes (``written``: what
``RoomAppends.publish`` appended and the reader has not given back yet).
"""

from reactor.resp import encode_command

from ...protocol import is_message_payload


def entry_fields(flat):
    """XREAD's flat [field, value, ...] list -> dict with text field names."""
    return {flat[i].decode("ascii", "replace") if isinstance(flat[i], bytes) else flat[i]:
            flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def message_of(flat, written=None):
    """(room name, sender key, payload, origin or None) of a room entry, or
    None if malformed. ``written`` (origin -> payload): this process's
    appends not read back yet; an entry with one of their origins and the
    very payload appended under it is taken off and not checked again (it
    was made by our core; any other entry is checked)."""
    if type(flat) is not list:
        return None   # not even a field list: anyone with access to Redis may write
    if (len(flat) == 8 and flat[0] == b"s" and flat[2] == b"r" and flat[4] == b"p"
            and flat[6] == b"o"):
        sender, room, payload, origin = flat[1], flat[3], flat[5], flat[7]   # as written
    else:
        fields = entry_fields(flat)
        sender, room, payload = fields.get("s"), fields.get("r"), fields.get("p")
        origin = fields.get("o")
    if not (isinstance(sender, bytes) and isinstance(room, bytes)
            and isinstance(payload, bytes)):
        return None   # not written by a node: anyone with access to Redis may write
    own = written.pop(origin, None) if written and type(origin) is bytes else None
    if own != payload and not is_message_payload(payload):
        return None
    return room.decode("utf-8", "replace"), sender.decode("utf-8", "replace"), payload, origin


def append_prefix(stream, maxlen):
    """The encoded start of a message's XADD to ``stream``, up to its first
    field: ``XADD stream MAXLEN ~ maxlen *``, in an array of 14."""
    start = encode_command(("XADD", stream, "MAXLEN", "~", maxlen, "*"))
    return b"*14\r\n" + start[start.index(b"\r\n") + 2:]


_FIELDS = (b"$1\r\ns\r\n$%d\r\n%s\r\n$1\r\nr\r\n$%d\r\n%s\r\n"
           b"$1\r\np\r\n$%d\r\n%s\r\n$1\r\no\r\n$%d\r\n%s\r\n")


def append_fields(sender_key, room_name, payload, origin):
    """The encoded rest of that XADD: ``s sender r room p payload o origin``
    (``append_prefix`` + this == ``encode_command`` of the whole)."""
    sender = sender_key.encode("utf-8")
    room = room_name.encode("utf-8")
    return _FIELDS % (len(sender), sender, len(room), room, len(payload), payload,
                      len(origin), origin)
