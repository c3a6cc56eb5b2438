"""The sans-I/O RESP2 codec (reactor/resp.py): properties over any reply
tree and any split of its bytes, caps, and garbage."""

import time

import pytest
from hypothesis import given, settings, strategies as st

from reactor.resp import (MAX_LINE, ProtocolError, ReplyError, ReplyParser,
                          encode_command, encode_reply)
from resp_support import comparable, reply_trees


def feed_in_pieces(parser, data, cuts):
    """Feed ``data`` cut at the given offsets; return all replies."""
    replies = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        replies += parser.feed(data[start:cut])
        start = cut
    return replies


@given(st.lists(reply_trees, min_size=1, max_size=5), st.data())
def test_any_replies_at_any_split_parse_back_identically(trees, data):
    encoded = b"".join(map(encode_reply, trees))
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=12))
    replies = feed_in_pieces(ReplyParser(), encoded, cuts)
    assert comparable(replies) == comparable(trees)


def test_byte_by_byte_and_every_split_point():
    tree = [b"a\r\nb", None, "OK", ReplyError("WRONGTYPE no"), [1, [-5, []]], b""]
    encoded = encode_reply(tree) + b"*-1\r\n:7\r\n"
    expected = comparable([tree, None, 7])
    assert comparable(feed_in_pieces(ReplyParser(), encoded, range(len(encoded)))) == expected
    for cut in range(len(encoded) + 1):
        assert comparable(feed_in_pieces(ReplyParser(), encoded, [cut])) == expected


def test_error_reply_is_a_value_with_its_code():
    [error] = ReplyParser().feed(b"-WRONGTYPE Operation against a key\r\n")
    assert isinstance(error, ReplyError)
    assert error.code == "WRONGTYPE"


@given(st.binary(max_size=200))
def test_garbage_raises_only_protocol_error(garbage):
    parser = ReplyParser(max_reply_size=10_000, max_depth=4)
    try:
        parser.feed(garbage)
        parser.feed(b"\r\n" * 3)
    except ProtocolError:
        with pytest.raises(ProtocolError):   # a broken stream stays broken
            parser.feed(b"+OK\r\n")


@given(reply_trees, st.data())
def test_corrupted_replies_raise_only_protocol_error(tree, data):
    encoded = bytearray(encode_reply(tree))
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(encoded) - 1))
        encoded[index] = data.draw(st.integers(0, 255))
    try:
        ReplyParser(max_reply_size=10_000).feed(bytes(encoded))
    except ProtocolError:
        pass


@pytest.mark.parametrize("bad", [
    b"?what\r\n", b":12a\r\n", b": 1\r\n", b":1_0\r\n", b"$-2\r\n", b"*-7\r\n",
    b"$3\r\nabcXY", b":99999999999999999999999\r\n", b"\r\n",
])
def test_protocol_violations(bad):
    with pytest.raises(ProtocolError):
        ReplyParser().feed(bad)


def test_caps_refuse_before_spending_memory():
    with pytest.raises(ProtocolError, match="larger"):
        ReplyParser(max_reply_size=1000).feed(b"$1001\r\n")
    with pytest.raises(ProtocolError, match="exceeds"):
        ReplyParser(max_reply_size=1000).feed(b"*400\r\n")
    with pytest.raises(ProtocolError, match="deeper"):
        ReplyParser(max_depth=3).feed(b"*1\r\n" * 4)
    ReplyParser(max_depth=3).feed(b"*1\r\n" * 3 + b":1\r\n")
    with pytest.raises(ProtocolError, match="line end"):
        ReplyParser().feed(b"+" + b"x" * (MAX_LINE + 1))


def test_the_size_cap_counts_the_whole_reply_and_resets_after_it():
    parser = ReplyParser(max_reply_size=100)
    element = encode_reply(b"x" * 20)   # 27 bytes
    assert parser.feed(encode_reply([b"x" * 20] * 3)) == [[b"x" * 20] * 3]
    assert parser.feed(encode_reply([b"x" * 20] * 3)) == [[b"x" * 20] * 3]
    with pytest.raises(ProtocolError):
        parser.feed(b"*4\r\n" + element * 4)


def test_parsing_is_linear_in_small_pieces():
    """20 000 elements fed 7 bytes at a time: a parser that rescanned its
    buffer on each feed would take minutes, a linear one well under a second."""
    tree = [b"value-%d" % i for i in range(20_000)]
    encoded = encode_reply(tree)
    parser = ReplyParser()
    started = time.monotonic()
    replies = []
    for start in range(0, len(encoded), 7):
        replies += parser.feed(encoded[start:start + 7])
    assert replies == [tree]
    assert time.monotonic() - started < 10


@settings(max_examples=50)
@given(st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=10),
                          st.integers(-2**70, 2**70)), min_size=1, max_size=8))
def test_commands_encode_as_arrays_of_bulk_strings(args):
    # Redis reads a command as a RESP array of bulk strings: our own parser
    # reads it back as the list of the arguments' bytes.
    as_bytes = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    assert ReplyParser().feed(encode_command(args)) == [as_bytes]


def test_command_arguments_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError):
        encode_command(["SET", "k", None])
    with pytest.raises(TypeError):
        encode_command(["SET", "k", True])
    with pytest.raises(ValueError):
        encode_command([])
    assert encode_command(["INCRBYFLOAT", "k", 1.5]).endswith(b"$3\r\n1.5\r\n")
