"""The RESP parser's whole-entry path (issue 22): XREAD's stream entries,
[id, [field, value, ...]], each read in one pattern match, held to the
general path (``ReplyParser(fast=False)``) on well-formed replies and on
replies written wrong on purpose (lengths off by a little, zero-padded,
nulls, CRs in values, other field counts, huge values), cut anywhere, at
any size cap and depth cap: the same replies feed by feed, the same error."""

from hypothesis import given, settings, strategies as st

from reactor.resp import encode_reply
from resp_support import both

# How one bulk string or array header may be written: mostly right, and
# in half the entries all right (so that many reach the whole-entry path).
FLAWS = ["ok"] * 12 + ["longer", "shorter", "padded", "null", "error", "cr"]
values = st.one_of(st.binary(max_size=12), st.sampled_from([b"", b"lobby", b'{"t":1}\n']),
                   st.just(b"x" * 3000))


@st.composite
def bulk(draw, flaws, value=None):
    """One bulk string, perhaps written wrong."""
    if value is None:
        value = draw(values)
    flaw = draw(flaws)
    if flaw == "longer":
        return b"$%d\r\n%s\r\n" % (len(value) + draw(st.integers(1, 3)), value)
    if flaw == "shorter" and value:
        return b"$%d\r\n%s\r\n" % (len(value) - draw(st.integers(1, len(value))), value)
    if flaw == "padded":
        return b"$0%d\r\n%s\r\n" % (len(value), value)
    if flaw == "null":
        return b"$-1\r\n"
    if flaw == "error":
        return b"-ERR not a string\r\n"
    if flaw == "cr":
        value += b"\r"
    return b"$%d\r\n%s\r\n" % (len(value), value)


@st.composite
def array(draw, flaws, elements, length):
    """An array header, perhaps declaring the wrong count, then its elements."""
    flaw = draw(flaws)
    if flaw == "longer":
        length += 1
    elif flaw == "shorter" and length:
        length -= 1
    elif flaw == "padded":
        return b"*0%d\r\n" % length + b"".join(elements)
    elif flaw == "null":
        return b"*-1\r\n"
    return b"*%d\r\n" % length + b"".join(elements)


@st.composite
def entry(draw):
    flaws = draw(st.sampled_from([st.just("ok"), st.sampled_from(FLAWS)]))
    count = draw(st.one_of(st.sampled_from([2, 8, 8, 16]), st.integers(0, 18)))
    fields = [draw(bulk(flaws)) for _ in range(count)]
    inner = draw(array(flaws, fields, count))
    return draw(array(flaws, [draw(bulk(flaws, draw(st.binary(min_size=1, max_size=20)))),
                              inner], 2))


@st.composite
def xread(draw):
    flaws = draw(st.sampled_from([st.just("ok"), st.sampled_from(FLAWS)]))
    streams = []
    for _ in range(draw(st.integers(1, 2))):
        entries = draw(st.lists(entry(), max_size=6))
        key = draw(bulk(flaws, b"ktn:room:lobby"))
        streams.append(draw(array(flaws, [key, draw(array(flaws, entries, len(entries)))], 2)))
    return draw(array(flaws, streams, len(streams)))


@settings(max_examples=400)
@given(xread(), st.data())
def test_entries_written_any_way_parse_as_the_general_path_parses_them(reply, data):
    encoded = reply + encode_reply([b"after", b"it"]) + b"+OK\r\n"
    caps = {}
    if data.draw(st.booleans()):   # a size cap near the reply's own size
        caps["max_reply_size"] = data.draw(st.one_of(
            st.integers(len(reply) - 3, len(reply)), st.integers(3, len(reply) + 3)))
    if data.draw(st.booleans()):   # XREAD's arrays nest 5 deep
        caps["max_depth"] = data.draw(st.one_of(st.just(4), st.integers(1, 6)))
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=3))
    fast, general = both(encoded, cuts, **caps)
    assert fast == general


# XREAD replies written right, each entry's field count even, up to 16
clean_entries = st.lists(st.tuples(st.binary(min_size=1, max_size=20),
                                   st.lists(st.binary(max_size=30), max_size=8)
                                   .map(lambda half: half + half)).map(list),
                         min_size=1, max_size=5)
clean_xread = st.lists(st.tuples(st.binary(min_size=1, max_size=20), clean_entries).map(list),
                       min_size=1, max_size=2)


@settings(max_examples=300)
@given(clean_xread, st.data())
def test_entries_under_a_size_cap_ending_anywhere_in_them(reply, data):
    """Where the whole-entry path takes most: the cap falling in the last
    entries, or anywhere, and every depth cap around XREAD's own 5."""
    encoded = encode_reply(reply)
    caps = {}
    if data.draw(st.booleans()):
        caps["max_reply_size"] = data.draw(st.integers(max(3, len(encoded) - 60),
                                                       len(encoded) + 1)
                                           | st.integers(3, len(encoded)))
    if data.draw(st.booleans()):
        caps["max_depth"] = data.draw(st.just(4) | st.integers(1, 6))
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=3))
    fast, general = both(encoded + b"+OK\r\n", cuts, **caps)
    assert fast == general


# -- each edge the whole-entry path handles itself -------------------------

def message(i, fields=None):
    return [b"1765092000123-%d" % i, fields or [b"s", b"ann", b"r", b"lobby",
                                                 b"p", b'{"text":"hi"}\n', b"o", b"n/%d" % i]]


def agree(encoded, cuts=None, **caps):
    """Fast and general alike, fed whole and cut at every point (or those
    given), every cut giving the same replies and error in all: those, as
    one list."""
    whole = flatten(both(encoded, [], **caps)[0])
    for cut in range(len(encoded) + 1) if cuts is None else cuts:
        fast, general = both(encoded, [cut], **caps)
        assert fast == general
        assert flatten(fast) == whole
    return whole


def flatten(feeds):
    """The replies of every feed, in order, then the error if there was one."""
    return [reply for feed in feeds for reply in (feed if isinstance(feed, list) else [feed])]


def test_a_realistic_xread_reply_byte_by_byte():
    reply = [[b"ktn:room:lobby", [message(i) for i in range(5)]],
             [b"ktn:room:dev", [message(9)]]]
    encoded = encode_reply(reply) + encode_reply([b"1-1", b"1-2"])
    fast, general = both(encoded, range(len(encoded)))
    assert fast == general
    assert [r for feed in fast for r in feed] == [reply, [b"1-1", b"1-2"]]
    assert agree(encoded) == [reply, [b"1-1", b"1-2"]]


def test_field_counts_change_between_entries():
    """The pattern is chosen by the first entry's count and chosen again
    when one differs; odd counts, none, and more than 16 are general."""
    counts = [8, 8, 2, 16, 8, 3, 0, 18, 8, 6, 6]
    entries = [message(i, [b"f%d" % n for n in range(k)] or None) if k else [b"1-%d" % i, []]
               for i, k in enumerate(counts)]
    reply = [[b"ktn:room:lobby", entries]]
    assert agree(encode_reply(reply)) == [reply]


def test_a_length_that_disagrees_with_its_value():
    """The pattern matches these, the lengths do not: the general path
    judges them (a CRLF missing; a longer value read across CRLFs)."""
    good = encode_reply(message(1))
    for wrong in (good.replace(b"$3\r\nann", b"$4\r\nann"),
                  good.replace(b"$3\r\nann", b"$2\r\nann")):
        assert agree(b"*1\r\n" + wrong) == [("ProtocolError",
                                              "bulk string not followed by CRLF")]
    across = b"*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$9\r\nab\r\n$1\r\nx\r\n$1\r\ny\r\n+OK\r\n"
    assert agree(across) == [[[b"1-1", [b"ab\r\n$1\r\nx", b"y"]]], "OK"]


def test_a_zero_padded_length_is_read_by_the_general_path():
    encoded = b"*1\r\n*2\r\n$03\r\n1-1\r\n*2\r\n$1\r\nk\r\n$01\r\nv\r\n"
    assert agree(encoded) == [[[b"1-1", [b"k", b"v"]]]]


def test_nulls_crs_and_huge_values_inside_entries():
    big = b"x" * 100_000
    reply = [message(1, [b"s", None, b"p", b"a\r\nb"]), message(2, [b"p", big]),
             [None, [b"k", b"v"]], message(3), [b"1-4", None]]
    encoded = encode_reply(reply)
    cuts = [*range(0, 400), *range(400, len(encoded) - 400, 997), *range(len(encoded) - 400,
                                                                        len(encoded) + 1)]
    assert agree(encoded, cuts) == [reply]


def test_an_entry_ending_exactly_at_the_size_cap():
    """Taken whole when it fits to the byte; one byte less and the general
    path says where the reply broke the cap, as it always did."""
    encoded = encode_reply([message(1), message(2)])
    assert agree(encoded, max_reply_size=len(encoded)) == [[message(1), message(2)]]
    for cap in (len(encoded) - 1, len(encoded) - 20, 40, 20):
        [error] = agree(encoded, max_reply_size=cap)
        assert error[0] == "ProtocolError"


def test_an_entry_one_level_too_deep_for_the_depth_cap():
    """Its two arrays must both fit under max_depth, or the general path
    refuses the second, as it always did."""
    encoded = encode_reply([message(1)])
    assert agree(encoded, max_depth=3) == [[message(1)]]
    assert agree(encoded, max_depth=2) == [("ProtocolError", "arrays nested deeper than 2")]


def test_a_stream_that_looks_like_an_entry():
    """[key, entries] starts as an entry does ("*2", a string, "*N"), and
    an entry can end where its array does, before the next reply."""
    reply = [[b"k", [message(1), message(2)]], [b"k2", [message(3)] * 8]]
    encoded = encode_reply(reply) + encode_reply(message(4)) + encode_reply([message(5)])
    assert agree(encoded) == [reply, message(4), [message(5)]]
