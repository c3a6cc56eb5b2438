"""The RESP parser's fast path (runs of bulk strings inside an array, the
shape of XREAD and EXEC replies, issue 22) against its general path
(``ReplyParser(fast=False)``): the same replies, feed by feed, and the same
errors, for any replies, any corruption, any cap and any split."""

from hypothesis import given, settings, strategies as st

from reactor.resp import ReplyError, encode_reply
from resp_support import both, comparable, reply_trees


# XREAD's shape: [[stream, [[id, [field, value, ...]], ...]], ...]
fields = st.lists(st.binary(max_size=30), max_size=10)
entries = st.lists(st.tuples(st.binary(min_size=1, max_size=20), fields).map(list),
                   max_size=6)
xread_replies = st.lists(st.tuples(st.binary(min_size=1, max_size=20), entries).map(list),
                         max_size=4)
# anything, and bulk-string runs with a stray null, integer or error among them
mixed_runs = st.lists(st.one_of(st.binary(max_size=30), st.none(), st.integers(-5, 5),
                                st.just(ReplyError("ERR x"))), max_size=12)
# what the one-match path takes: 4 to 16 short values, \r-free or not
short_runs = st.lists(st.binary(max_size=8), min_size=4, max_size=16)
trees = st.one_of(reply_trees, xread_replies, mixed_runs, short_runs, st.binary(max_size=8),
                  st.lists(st.one_of(short_runs, st.binary(max_size=8)), max_size=4))


@settings(max_examples=300)
@given(st.lists(trees, min_size=1, max_size=4), st.data())
def test_fast_path_agrees_on_any_replies_at_any_split(replies, data):
    encoded = b"".join(map(encode_reply, replies))
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=12))
    fast, general = both(encoded, cuts)
    assert fast == general
    assert [r for feed in fast for r in feed] == comparable(replies)


@settings(max_examples=300)
@given(trees, st.data())
def test_fast_path_agrees_on_corrupted_replies(tree, data):
    encoded = bytearray(encode_reply(tree) + encode_reply([b"after", b"it"]))
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(encoded) - 1))
        encoded[index] = data.draw(st.sampled_from(b"$*:+-\r\n0123456789x"))
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=6))
    fast, general = both(bytes(encoded), cuts, max_reply_size=10_000)
    assert fast == general


@settings(max_examples=200)
@given(st.lists(xread_replies, min_size=1, max_size=3), st.integers(3, 400), st.data())
def test_fast_path_agrees_at_any_size_cap(replies, cap, data):
    encoded = b"".join(map(encode_reply, replies))
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=6))
    fast, general = both(encoded, cuts, max_reply_size=cap)
    assert fast == general


def test_an_xread_reply_byte_by_byte():
    reply = [[b"ktn:room:lobby", [[b"1-%d" % i, [b"s", b"ann", b"p", b"{}\n", b"o", b"n/%d" % i]]
                                  for i in range(3)]]]
    encoded = encode_reply(reply) + encode_reply([b"1-0", None, b"1-1"])
    fast, general = both(encoded, range(len(encoded)))
    assert fast == general
    assert [r for feed in fast for r in feed] == [reply, [b"1-0", None, b"1-1"]]


def test_a_bulk_string_without_its_crlf_is_refused_on_the_fast_path():
    fast, general = both(b"*2\r\n$1\r\naXY$1\r\nb\r\n", [])
    assert fast == general == [("ProtocolError", "bulk string not followed by CRLF")]


def test_an_array_filled_in_one_match_takes_nothing_after_it():
    """A pattern match fills the array; a bulk string after it belongs to
    the parent, or is the next reply (an EXEC reply, then a GET's)."""
    for replies in ([[b"", b"", b"", b""], b""], [[[b"a"] * 5, b"b"], b"c"],
                    [[b"1-%d" % i for i in range(16)], b"v", [b"w"] * 4, None]):
        encoded = b"".join(map(encode_reply, replies))
        for cut in range(len(encoded) + 1):
            fast, general = both(encoded, [cut])
            assert fast == general
            assert [r for feed in fast for r in feed] == replies
