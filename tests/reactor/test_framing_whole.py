"""``reactor.whole_reads.decode_whole``, the shortcut for a read of whole
requests, held to the general decoder: whenever it answers, a fresh
``JsonStreamDecoder`` fed the same bytes with the same limits gives the
same values and is left between values with no backlog (hypothesis, on
well-formed streams and on arbitrary bytes); and it answers for the reads
clients usually send.
"""

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from reactor.framing import DEFAULT_MAX_DEPTH, FramingError, JsonStreamDecoder
from reactor.whole_reads import decode_whole

# The strategies of test_framing.py, in short.
text = st.text(st.one_of(st.characters(exclude_categories=["Cs"]),
                         st.sampled_from(list('{}[]"\\/\n\r\t \x00') + ["\u00e5", "\U0001F600"])),
               max_size=8)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 30), 10 ** 30),
              st.floats(), text),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(text, children, max_size=3)),
    max_leaves=8)
json_objects = st.dictionaries(text, json_values, max_size=4)
whitespace = st.text(st.sampled_from(" \t\r\n"), max_size=3)
fragments = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b"\n", b" ", b":", b",",
                     b'{"a": 1}', b'{"request": "msg", "content": "hi"}', b"\xff",
                     b"\xe2\x82", b"\xac", b"1", b"true", b"null", b"1e999", b"NaN",
                     b'{"a": NaN}', b"\\u00", b"\\ud800", b"\x00", b"[" * 70, b"]" * 70]))
arbitrary_streams = st.lists(fragments, max_size=40).map(b"".join)

MANY = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

limits = st.fixed_dictionaries({
    "max_values": st.sampled_from([None, 0, 1, 2, 3, 16]),
    "max_bytes": st.sampled_from([None, 0, 8, 40, 64 * 1024]),
    "max_size": st.sampled_from([16, 64, 1024, 64 * 1024]),
    "max_depth": st.sampled_from([1, 2, 3, DEFAULT_MAX_DEPTH]),
})


def general(wire, max_values, max_bytes, max_size, max_depth):
    """What the decoder gives: (items, whether it ends between values with no backlog)."""
    decoder = JsonStreamDecoder(max_size, max_depth)
    items = decoder.feed(wire, max_values, max_bytes)
    return items, decoder.at_boundary and not decoder.backlog


def same_as_general(wire, limit):
    fast = decode_whole(wire, **limit)
    items, clean = general(wire, **limit)
    if fast is not None:
        assert clean
        assert not any(isinstance(item, FramingError) for item in items)
        # repr: NaN compares unequal to itself, and -0.0 equal to 0.0
        assert repr(fast) == repr(items)
        assert [type(v) for v in fast] == [dict] * len(fast)
    return fast, items


@st.composite
def object_streams(draw, values=json_values):
    """Whitespace, then objects each followed by whitespace, as peers send them;
    sometimes with a non-object among them."""
    parts = [draw(whitespace)]
    for _ in range(draw(st.integers(0, 5))):
        value = draw(st.one_of(json_objects, json_objects, values))
        ascii_only = draw(st.booleans())
        parts.append(json.dumps(value, ensure_ascii=ascii_only))
        parts.append(draw(whitespace))
    return "".join(parts).encode("utf-8")


@MANY
@given(object_streams(), limits, st.data())
def test_well_formed_streams_and_their_prefixes_give_what_the_decoder_gives(wire, limit, data):
    same_as_general(wire, limit)
    cut = data.draw(st.integers(0, len(wire)))
    same_as_general(wire[:cut], limit)   # a read that ends inside a value


@MANY
@given(arbitrary_streams, limits)
def test_arbitrary_bytes_give_what_the_decoder_gives_or_none(wire, limit):
    same_as_general(wire, limit)


@MANY
@given(st.lists(json_objects, min_size=1, max_size=5), whitespace)
def test_whole_objects_within_the_limits_are_always_taken(objects, sep):
    wire = b"".join(json.dumps(o).encode() + sep.encode() for o in objects)
    fast, items = same_as_general(wire, {"max_values": 16, "max_bytes": None,
                                         "max_size": 64 * 1024, "max_depth": 64})
    assert repr(fast) == repr(objects)


def test_the_usual_reads_are_taken():
    msg = b'{"request": "msg", "content": "hello \\u00e5"}\n'
    assert decode_whole(msg) == [{"request": "msg", "content": "hello \u00e5"}]
    assert decode_whole(msg * 3, max_values=16) == [{"request": "msg", "content": "hello \u00e5"}] * 3
    assert decode_whole(" \r\n{\"request\": \"names\"}".encode()) == [{"request": "names"}]
    assert decode_whole(b"") == []
    assert decode_whole(b"\n") == []
    assert decode_whole('{"request": "msg", "content": "\u00e5"}'.encode()) is not None


def test_what_it_leaves_to_the_decoder():
    ok = b'{"a": 1}'
    assert decode_whole(ok[:-1]) is None                      # incomplete
    assert decode_whole(ok + b"{") is None                    # a value begins
    assert decode_whole(b"[1]") is None                       # not an object
    assert decode_whole(ok + b" 1") is None
    assert decode_whole(b'{"a": }') is None                   # bad JSON
    assert decode_whole(b'{"a": "\xff"}') is None             # bad UTF-8
    assert decode_whole(ok * 3, max_values=2) is None         # more than a batch
    assert decode_whole(ok * 2 + b"\n", max_values=2) is None   # the decoder keeps the rest
    assert decode_whole(ok * 2, max_values=2) == [{"a": 1}] * 2
    assert decode_whole(ok, max_size=len(ok) - 1) is None     # too large: the decoder says
    assert decode_whole(ok * 2, max_bytes=len(ok)) is None
    deep = b'{"a": ' + b"[" * 3 + b"]" * 3 + b"}"
    assert decode_whole(deep, max_depth=4) == [{"a": [[[]]]}]
    assert decode_whole(deep, max_depth=3) is None
