"""A room entry both ways (``chat/server/cluster/entries.py``, issue 22):
the pre-encoded XADD is byte for byte ``encode_command``'s, and an entry
read back skips the payload check only when it is this process's own
append, same origin and same bytes."""

import socket

import pytest
from hypothesis import given, strategies as st

from chat.protocol import encode_response
from chat.server.cluster.entries import append_fields, append_prefix, message_of
from chat.core.rooms import Room
from chat.server.cluster.appends import WRITTEN_BYTES, WRITTEN_LIMIT, RoomAppends, written_limit
from chat.server.cluster.signing import SignedRedis
from reactor.loop import EventLoop
from reactor.redis import RedisClient
from reactor.resp import ReplyParser, encode_command

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@given(names, st.integers(1, 10**12), names, names, st.binary(max_size=5000),
       st.binary(max_size=40))
def test_the_pre_encoded_append_is_encode_commands_bytes(room, maxlen, sender, name, payload,
                                                         origin):
    stream = "ktn:room:" + room.lower()
    command = ("XADD", stream, "MAXLEN", "~", maxlen, "*", "s", sender, "r", name,
               "p", payload, "o", origin)
    encoded = append_prefix(stream, maxlen) + append_fields(sender, name, payload, origin)
    assert encoded == encode_command(command)
    assert ReplyParser().feed(encoded) == [
        [a if isinstance(a, bytes) else str(a).encode() for a in command]]


PAYLOAD = encode_response("2026-12-07T05:00:00+00:00", "ann", "message", "hi")


def entry(payload, origin=b"node/abcd/1"):
    return [b"s", b"ann", b"r", b"Lobby", b"p", payload, b"o", origin]


def test_a_valid_entry_is_a_message_whoever_wrote_it():
    assert message_of(entry(PAYLOAD)) == ("Lobby", "ann", PAYLOAD, b"node/abcd/1")
    assert message_of(entry(PAYLOAD), {b"other/1": PAYLOAD}) is not None


def test_an_invalid_payload_is_dropped_unless_it_is_our_own_append_byte_for_byte():
    written = {b"node/abcd/1": b"ours\n", b"node/abcd/2": b"ours\n"}
    # a stranger's entry under our origin, but not the payload we appended: checked
    assert message_of(entry(b"forged\n", b"node/abcd/2"), written) is None
    assert b"node/abcd/2" not in written   # taken off: read back once
    # not an origin of ours: checked
    assert message_of(entry(b"ours\n", b"node/abcd/9"), written) is None
    # ours: the very bytes our core made, not checked again, and taken off
    assert message_of(entry(b"ours\n"), written) == ("Lobby", "ann", b"ours\n", b"node/abcd/1")
    assert written == {}
    assert message_of(entry(b"ours\n"), written) is None   # a replay is checked


def test_an_origin_that_is_not_bytes_is_checked_not_looked_up():
    written = {b"x": PAYLOAD}
    assert message_of(entry(PAYLOAD, [b"x"]), written) is not None   # no TypeError
    assert message_of(entry(b"bad", [b"x"]), written) is None
    assert written == {b"x": PAYLOAD}


def test_an_encoded_command_is_refused_when_writes_are_signed():
    class Wire:
        def call_encoded(self, name, data, **_kwargs):
            return data
    assert SignedRedis(Wire(), None, lambda: 0.0).call_encoded("XADD", b"x") == b"x"
    with pytest.raises(ValueError, match="cannot be signed"):
        SignedRedis(Wire(), b"k" * 32, lambda: 0.0).call_encoded("XADD", b"x")


@pytest.fixture
def unreachable():
    """A Redis client whose server is not there (a port nothing listens
    on): every call is refused at once."""
    loop = EventLoop()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = "redis://127.0.0.1:%d" % unused.getsockname()[1]
    client = RedisClient(loop, url)
    yield SignedRedis(client, None, loop.time)
    client.close()
    loop.close()


def test_an_append_refused_at_once_is_not_remembered_and_the_memory_is_bounded(unreachable):
    """``RoomAppends.written`` holds an append until the reader gives it back:
    one Redis refused at once (not connected) is never read back, so it is
    not kept; appends never read back are forgotten oldest first."""
    log = RoomAppends(unreachable, 10)
    reply = log.publish(Room("Lobby", 10), "ann", PAYLOAD, b"n1/x/1")
    assert reply.done and reply.error is not None
    assert log.written == {}
    for i in range(WRITTEN_LIMIT + 5):   # as if each had been accepted
        log.written[b"n1/x/%d" % i] = PAYLOAD
        log.publish(Room("Lobby", 10), "ann", PAYLOAD, b"refused")
    assert len(log.written) <= WRITTEN_LIMIT
    assert b"n1/x/0" not in log.written and b"n1/x/%d" % (WRITTEN_LIMIT + 4) in log.written


def test_appends_never_read_back_hold_a_bounded_number_of_bytes(unreachable):
    """An append whose room this node stopped reading before it came back
    (join, a large msg, leave in one read) is never read back: however
    large the messages may be, what ``written`` holds stays about
    ``WRITTEN_BYTES``."""
    large = b"x" * (64 * 1024)
    log = RoomAppends(unreachable, 10, written_limit(len(large)))
    for i in range(WRITTEN_LIMIT):   # as if each had been accepted, never read back
        log.written[b"n1/x/%d" % i] = large
        log.publish(Room("Lobby", 10), "ann", large, b"refused")
    assert sum(map(len, log.written.values())) <= WRITTEN_BYTES
    assert written_limit(200) == WRITTEN_LIMIT   # small messages: the count is the bound


@pytest.mark.parametrize("flat", [None, 7, b"s", "s", [b"s"], [b"s", 7, b"r"], {"s": b"x"}])
def test_an_entry_of_any_other_shape_is_malformed_not_a_crash(flat):
    # anyone with access to Redis may write: the reader skips it with a warning
    assert message_of(flat) is None
    assert message_of(flat, {b"o": b"p"}) is None
