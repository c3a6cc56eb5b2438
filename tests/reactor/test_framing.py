"""Tests of reactor.framing.JsonStreamDecoder (PROTOCOL.md section 3, "Reading").

Properties (hypothesis) and examples: back-to-back values split at any byte,
top-level non-objects, garbage and resynchronisation, UTF-8 splits and
invalid UTF-8, the size limit, deep nesting, the never-raise fuzz invariant,
``saw_newline`` and the chunking sweep (ARCHITECTURE.md practice 11).
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from reactor.framing import DEFAULT_MAX_DEPTH, FramingError, JsonStreamDecoder

FAST = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

JSON_WHITESPACE = " \t\r\n"
OK = {"ok": 1}
OK_BYTES = b'{"ok": 1}'


# --- helpers -----------------------------------------------------------------


def feed_chunks(chunks, decoder=None, **kwargs):
    """Feed every chunk; return (all items, decoder)."""
    decoder = decoder if decoder is not None else JsonStreamDecoder(**kwargs)
    out = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out, decoder


def split_at(data, points):
    """``data`` cut at the given offsets (any order, duplicates allowed)."""
    cuts = sorted(set(p for p in points if 0 < p < len(data)))
    bounds = [0] + cuts + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def byte_by_byte(data):
    return [data[i:i + 1] for i in range(len(data))]


def normalise(items):
    """Items in a comparable form: errors become ('ERROR', message, fatal)."""
    return [("ERROR", item.message, item.fatal) if isinstance(item, FramingError)
            else ("VALUE", item) for item in items]


def values(items):
    return [item for item in items if not isinstance(item, FramingError)]


def errors(items):
    return [item for item in items if isinstance(item, FramingError)]


def is_json_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v) for k, v in value.items())
    return False


# --- strategies ----------------------------------------------------------------

# Text with the characters that matter to a boundary scanner, non-BMP
# characters (4-byte UTF-8, surrogate pairs with ensure_ascii) and anything
# else hypothesis likes except lone surrogates (not encodable in UTF-8).
tricky_chars = st.one_of(
    st.characters(exclude_categories=["Cs"]),
    st.sampled_from(list('{}[]"\\/\n\r\t \x00\x7f') + ["\u00e5", "\u2028", "\u20ac",
                                                       "\U0001F600", "\U00010348"]),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
)
json_text = st.text(tricky_chars, max_size=12)

json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=False, allow_infinity=False),
    json_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(json_text, children, max_size=4)),
    max_leaves=8,
)
json_objects = st.dictionaries(json_text, json_values, max_size=4)
# Cheap objects for properties about what lies between them.
simple_objects = st.dictionaries(
    st.text(tricky_chars, max_size=4),
    st.one_of(st.integers(), st.none(), st.text(tricky_chars, max_size=6)), max_size=3)
whitespace = st.text(st.sampled_from(JSON_WHITESPACE), max_size=4)


@st.composite
def chunked(draw, data):
    """``data`` cut at random points (sometimes byte by byte)."""
    if not data:
        return [data]
    if draw(st.integers(0, 9)) == 0:
        return byte_by_byte(data)
    points = draw(st.lists(st.integers(0, len(data)), max_size=min(len(data), 30)))
    return split_at(data, points)


@st.composite
def object_stream(draw, objects_strategy=json_objects):
    """(objects, bytes on the wire, separators after each object)."""
    objects = draw(st.lists(objects_strategy, min_size=1, max_size=4))
    ensure_ascii = draw(st.booleans())
    leading = draw(whitespace)
    parts = [leading.encode()]
    after = []
    for obj in objects:
        sep = draw(whitespace)
        after.append(sep)
        parts.append(json.dumps(obj, ensure_ascii=ensure_ascii).encode("utf-8"))
        parts.append(sep.encode())
    return objects, b"".join(parts), after


# --- well-formed streams ---------------------------------------------------------


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_objects_in_any_chunks_decode_to_the_same_list(data):
    objects, wire, _ = data.draw(object_stream())
    chunks = data.draw(chunked(wire))
    assert b"".join(chunks) == wire
    out, decoder = feed_chunks(chunks)
    assert out == objects
    assert decoder.buffered == 0


@SLOW
@given(object_stream())
def test_objects_fed_byte_by_byte(stream):
    objects, wire, _ = stream
    out, decoder = feed_chunks(byte_by_byte(wire))
    assert out == objects
    assert decoder.buffered == 0


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(json_values, min_size=1, max_size=4), st.booleans(),
       st.lists(st.text(st.sampled_from(JSON_WHITESPACE), min_size=1, max_size=3),
                min_size=4, max_size=4),
       st.data())
def test_any_top_level_values_come_out_as_values(items, ensure_ascii, seps, data):
    # Scalars need a delimiter after them; the caller rejects non-objects.
    wire = b"".join(json.dumps(v, ensure_ascii=ensure_ascii).encode() + sep.encode()
                    for v, sep in zip(items, seps))
    out, _ = feed_chunks(data.draw(chunked(wire)))
    assert out == items


@pytest.mark.parametrize("wire, expected", [
    (b'[1, 2, {"a": []}]', [[1, 2, {"a": []}]]),
    (b'"a string"', ["a string"]),
    (b'"with {braces} and [brackets] and \\"quotes\\""',
     ['with {braces} and [brackets] and "quotes"']),
    (b"12 ", [12]),
    (b"-3.5e+2\n", [-350.0]),
    (b"true false null ", [True, False, None]),
    (b'[]{"a": 1}', [[], {"a": 1}]),
    (b'"x"{"a": 1}', ["x", {"a": 1}]),
    (b'7{"a": 1}', [7, {"a": 1}]),
    (b'[1]"s"{}[]', [[1], "s", {}, []]),
])
def test_top_level_non_objects_come_out_as_values(wire, expected):
    for chunks in ([wire], byte_by_byte(wire)):
        out, _ = feed_chunks(chunks)
        assert out == expected


def test_a_number_waits_for_its_end():
    decoder = JsonStreamDecoder()
    assert decoder.feed(b"12") == []
    assert decoder.feed(b"34") == []
    assert decoder.feed(b" ") == [1234]


def test_back_to_back_objects_without_delimiter_in_one_read():
    payloads = [{"request": "login", "content": "alice"},
                {"request": "msg", "content": "hi {there}"},
                {"request": "logout", "content": None}]
    wire = b"".join(json.dumps(p).encode() for p in payloads)
    assert JsonStreamDecoder().feed(wire) == payloads


def test_strings_with_structural_characters_and_escapes():
    obj = {"a": '}{"][\\', "b\\": "\\\\\"", "c": ["}", "{", "\\u0000"], "\u00e5": "\U0001F600"}
    for ensure_ascii in (True, False):
        wire = json.dumps(obj, ensure_ascii=ensure_ascii).encode()
        for i in range(len(wire) + 1):
            out, _ = feed_chunks([wire[:i], wire[i:]])
            assert out == [obj], (ensure_ascii, i)


def test_escaped_backslash_before_closing_quote_split_everywhere():
    # "\\" then the closing quote: the scanner must not take \" as an escape.
    wire = b'{"a": "x\\\\", "b": "\\\\\\"y"}'
    assert json.loads(wire) == {"a": "x\\", "b": '\\"y'}
    for i in range(len(wire) + 1):
        for j in range(i, len(wire) + 1):
            out, _ = feed_chunks([wire[:i], wire[i:j], wire[j:]])
            assert out == [json.loads(wire)], (i, j)


def test_empty_feed_returns_nothing():
    decoder = JsonStreamDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b'{"a"') == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b": 1}") == [{"a": 1}]


def test_whitespace_only_is_not_buffered():
    decoder = JsonStreamDecoder()
    assert decoder.feed(b" \t\r\n" * 1000) == []
    assert decoder.buffered == 0


def test_accepts_bytearray_and_memoryview():
    decoder = JsonStreamDecoder()
    assert decoder.feed(bytearray(b'{"a": ')) == []
    assert decoder.feed(memoryview(b'1}')) == [{"a": 1}]


# --- multi-byte UTF-8 ---------------------------------------------------------


UNICODE_OBJECT = {"\u00e5": "\u00e6\u00f8\u00e5 \u20ac \u4e2d\u6587 \U0001F600\U00010348",
                  "k": ["\u00e9", "\U0001F4A9", "\u0800", "\uffff"]}


def test_multibyte_utf8_split_at_every_byte():
    wire = (json.dumps(UNICODE_OBJECT, ensure_ascii=False).encode("utf-8")
            + json.dumps("\U0001F600\u00e5", ensure_ascii=False).encode("utf-8") + OK_BYTES)
    expected = [UNICODE_OBJECT, "\U0001F600\u00e5", OK]
    for i in range(len(wire) + 1):
        out, _ = feed_chunks([wire[:i], wire[i:]])
        assert out == expected, i
    out, _ = feed_chunks(byte_by_byte(wire))
    assert out == expected


@FAST
@given(st.text(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), min_size=1,
               max_size=30), st.data())
def test_non_ascii_text_split_anywhere(text, data):
    obj = {"msg": text}
    wire = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    out, _ = feed_chunks(data.draw(chunked(wire)))
    assert out == [obj]


@pytest.mark.parametrize("bad", [
    b"\xff",                 # never valid
    b"\xc3(",                # bad continuation
    b"\xc0\xaf",             # overlong "/"
    b"\xed\xa0\x80",         # a UTF-16 surrogate encoded in UTF-8
    b"\xe2\x82",             # truncated 3-byte sequence before the quote
    b"\xf4\x90\x80\x80",     # beyond U+10FFFF
    b"\x80",                 # lone continuation byte
])
def test_invalid_utf8_inside_an_object_is_one_error_and_the_stream_continues(bad):
    wire = b'{"a": "x' + bad + b'y"}' + OK_BYTES
    for chunks in ([wire], byte_by_byte(wire)):
        out, decoder = feed_chunks(chunks)
        assert len(errors(out)) == 1
        assert "UTF-8" in errors(out)[0].message
        assert not errors(out)[0].fatal
        assert values(out) == [OK]
        assert isinstance(out[0], FramingError)


def test_invalid_utf8_in_a_key_and_at_top_level():
    wire = b'{"\xfe": 1}"\xff"' + OK_BYTES
    out, _ = feed_chunks([wire])
    assert [type(x) for x in out] == [FramingError, dict]  # one run, one error
    out, _ = feed_chunks([b'{"\xfe": 1}' + OK_BYTES + b'"\xff"' + OK_BYTES])
    assert [type(x) for x in out] == [FramingError, dict, FramingError, dict]
    assert out[1] == out[3] == OK


# --- garbage and resynchronisation -------------------------------------------------

# A byte that cannot start a JSON value (not whitespace, bracket, quote,
# digit, minus or the first letter of true/false/null), then anything
# without a "{": the whole run is one error.
_VALUE_START = set(JSON_WHITESPACE.encode()) | set(b'{["-0123456789tfn')
garbage_start = st.integers(0, 255).filter(lambda b: b not in _VALUE_START)
garbage = st.builds(lambda first, rest: bytes([first]) + rest.replace(b"{", b""),
                    garbage_start, st.binary(max_size=60))


@FAST
@given(st.lists(st.tuples(simple_objects, st.one_of(st.just(b""), garbage), whitespace),
                min_size=1, max_size=5),
       garbage, st.data())
def test_garbage_between_objects_is_one_error_per_run(items, first_garbage, data):
    wire = first_garbage
    expected = []
    for obj, junk, sep in items:
        wire += json.dumps(obj).encode() + sep.encode() + junk
        expected.append(("VALUE", obj))
        if junk:
            expected.append(("ERROR",))
    wire += OK_BYTES
    expected = [("ERROR",)] + expected + [("VALUE", OK)]
    out, _ = feed_chunks(data.draw(chunked(wire)))
    got = [("ERROR",) if isinstance(x, FramingError) else ("VALUE", x) for x in out]
    assert got == expected
    assert not any(e.fatal for e in errors(out))


@pytest.mark.parametrize("junk", [
    b"\x00" * 100000,
    b"hello world",
    b"nonsense",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"}}}]]]",
    b"\xff\xfe\xfd" * 1000,
    b"\x0b\x0c",             # whitespace to Python, not to JSON
    b"\x1b[31mred\x1b[0m",
])
def test_stray_bytes_then_a_valid_object(junk):
    wire = junk + OK_BYTES
    for chunks in ([wire], split_at(wire, range(0, len(wire), 7)), [junk, OK_BYTES]):
        out, decoder = feed_chunks(chunks)
        assert len(out) == 2
        assert isinstance(out[0], FramingError) and not out[0].fatal
        assert out[1] == OK
        assert decoder.buffered == 0


def test_nul_flood_in_small_reads_is_not_buffered():
    decoder = JsonStreamDecoder(max_size=1024)
    out = []
    for _ in range(1000):
        out.extend(decoder.feed(b"\x00" * 100))
        assert decoder.buffered == 0
    out.extend(decoder.feed(OK_BYTES))
    assert len(errors(out)) == 1 and not errors(out)[0].fatal
    assert values(out) == [OK]


@pytest.mark.parametrize("bad", [
    b'{"a": bad}',
    b'{"a" 1}',
    b'{"a": 1,}',
    b"{'a': 1}",
    b'{"a": 1]',
    b'{"a": [1}',
    b'{"a": "x\\qy"}',       # invalid escape
    b'{"a": 01}',
    b'{"a": "tab\there"}',   # raw control character inside a string
    b'{"a": 1 "b": 2}',
    b'{a: 1}',
    b'{"a": tru}',
    b'{"a": 1}}',            # one stray brace after a valid object
])
def test_syntax_error_is_one_error_and_the_next_object_comes_out(bad):
    wire = bad + OK_BYTES
    for chunks in ([wire], byte_by_byte(wire), [bad, OK_BYTES]):
        out, _ = feed_chunks(chunks)
        errs = errors(out)
        assert len(errs) == 1, normalise(out)
        assert not errs[0].fatal
        assert errs[0].message
        assert values(out)[-1] == OK
        # nothing invented from the broken object except a valid prefix value
        assert values(out) in ([OK], [{"a": 1}, OK])


def test_syntax_error_message_names_the_problem():
    out = JsonStreamDecoder().feed(b'{"a": bad}')
    assert len(out) == 1 and "invalid JSON" in out[0].message


@pytest.mark.parametrize("bad", [b'{"a": [1, 2}', b'{"a": {"b": 1]', b'[{]', b'{"a": [}'])
def test_mismatched_bracket_is_reported_when_it_arrives(bad):
    # Counting depth alone misses these: "{ [ }" leaves the depth at 1, so
    # the decoder would wait for a "}" that never comes, swallow every
    # following request and end in the fatal size error (connection closed).
    decoder = JsonStreamDecoder()
    out = decoder.feed(bad)
    assert len(out) == 1 and isinstance(out[0], FramingError) and not out[0].fatal
    assert decoder.feed(OK_BYTES) == [OK]
    assert decoder.buffered == 0


def test_integer_too_long_for_python_is_an_error_not_an_exception():
    out = JsonStreamDecoder().feed(b'{"a": ' + b"1" * 5000 + b"}" + OK_BYTES)
    assert isinstance(out[0], FramingError)
    assert out[1:] == [OK]


# --- size limit ---------------------------------------------------------------------


@SLOW
@given(st.integers(20, 400), st.data())
def test_oversized_unterminated_object_is_one_fatal_error(max_size, data):
    small_objects = st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).filter(
        lambda o: len(json.dumps(o)) <= max_size)
    before = data.draw(st.lists(small_objects, max_size=3))
    body = b'{"k": "' + b"x" * (max_size + data.draw(st.integers(0, 300)))
    wire = b"".join(json.dumps(o).encode() for o in before) + body
    chunks = data.draw(chunked(wire)) + [b"more", b'"}', OK_BYTES, b"\x00" * 10]
    decoder = JsonStreamDecoder(max_size=max_size)
    out = []
    for chunk in chunks:
        got = decoder.feed(chunk)
        if any(isinstance(x, FramingError) and x.fatal for x in out):
            assert got == [], "output after a fatal error"
        out.extend(got)
        assert decoder.buffered <= max_size + len(chunk)
    fatal = [e for e in errors(out) if e.fatal]
    assert len(fatal) == 1 and len(errors(out)) == 1
    assert "too large" in fatal[0].message
    assert out[-1] is fatal[0]
    assert values(out) == before
    assert decoder.buffered == 0


def test_after_a_fatal_error_feed_returns_nothing():
    decoder = JsonStreamDecoder(max_size=100)
    out = decoder.feed(b"{" + b" " * 200)
    assert len(out) == 1 and out[0].fatal
    for chunk in (OK_BYTES, b"}", b"\x00", b'{"a": 1}\n' * 10):
        assert decoder.feed(chunk) == []
        assert decoder.buffered == 0


def test_unterminated_string_and_scalar_are_bounded():
    for body in (b'"' + b"a" * 5000, b"1" * 5000, b"[" + b"1," * 3000):
        decoder = JsonStreamDecoder(max_size=1000)
        out = []
        for i in range(0, len(body), 64):
            chunk = body[i:i + 64]
            out.extend(decoder.feed(chunk))
            assert decoder.buffered <= 1000 + len(chunk)
        assert [(type(e), e.fatal) for e in out] == [(FramingError, True)], body[:5]


def test_object_of_exactly_max_size_is_accepted_in_any_chunks():
    max_size = 200
    obj = {"k": "x" * (max_size - len(b'{"k": ""}'))}
    wire = json.dumps(obj).encode()
    assert len(wire) == max_size
    for chunks in ([wire], byte_by_byte(wire), [wire[:100], wire[100:]]):
        out, _ = feed_chunks(chunks, max_size=max_size)
        assert out == [obj]


@pytest.mark.parametrize("split", ["whole", "halves", "byte_by_byte"])
def test_complete_object_larger_than_max_size_is_rejected_however_it_arrives(split):
    # PROTOCOL.md: "A payload larger than the limit gets an error and the
    # connection is closed". Whether that happens must not depend on how TCP
    # split the bytes (chunking-sweep invariant): a large recv() can deliver
    # a whole oversized object in one read.
    max_size = 100
    wire = json.dumps({"k": "x" * 300}).encode() + OK_BYTES
    chunks = {"whole": [wire],
              "halves": [wire[:len(wire) // 2], wire[len(wire) // 2:]],
              "byte_by_byte": byte_by_byte(wire)}[split]
    out, decoder = feed_chunks(chunks, max_size=max_size)
    assert len(out) == 1 and isinstance(out[0], FramingError) and out[0].fatal, normalise(out)


def test_object_one_byte_over_max_size_fed_byte_by_byte_is_rejected():
    max_size = 200
    obj = {"k": "x" * (max_size + 1 - len(b'{"k": ""}'))}
    wire = json.dumps(obj).encode()
    assert len(wire) == max_size + 1
    out, _ = feed_chunks(byte_by_byte(wire), max_size=max_size)
    assert len(out) == 1 and isinstance(out[0], FramingError) and out[0].fatal, normalise(out)


def test_many_small_objects_in_one_big_read_are_fine():
    # The limit is per value, not per read.
    wire = OK_BYTES * 10000
    out = JsonStreamDecoder(max_size=100).feed(wire)
    assert out == [OK] * 10000


# --- deep nesting ---------------------------------------------------------------------


@pytest.mark.parametrize("opener, closer", [
    (b"[", b"]"),
    (b"{", b"}"),
    (b'{"a":', b"}"),
    (b'[{"a":', b"}]"),
])
@pytest.mark.parametrize("chunk_size", [None, 1000, 7])
def test_deep_nesting_is_one_error_and_never_recursion(opener, closer, chunk_size):
    n = 100000
    if chunk_size == 7 or len(opener) > 1:
        n = 20000  # keep the test fast
    wire_open = opener * n + (b"1" if opener.endswith(b":") else b"")
    wire = wire_open + closer * n + OK_BYTES
    if chunk_size is None:
        chunks = [wire_open, closer * n + OK_BYTES]
    else:
        chunks = [wire[i:i + chunk_size] for i in range(0, len(wire), chunk_size)]
    decoder = JsonStreamDecoder(max_size=10 * len(wire))
    out = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))  # RecursionError would propagate here
    errs = errors(out)
    assert len(errs) == 1 and not errs[0].fatal, normalise(out)
    assert "nested" in errs[0].message
    assert values(out) == [OK]
    assert decoder.buffered == 0


def test_deep_nesting_unclosed_buffers_little():
    decoder = JsonStreamDecoder(max_size=10 ** 7)
    out = []
    for _ in range(30):
        out.extend(decoder.feed(b"[" * 10000))
        assert decoder.buffered <= 10000 + 4096 + 1
    assert len(out) == 1 and not out[0].fatal


def test_deep_nesting_counts_against_the_size_limit():
    decoder = JsonStreamDecoder(max_size=50000)
    out = []
    for _ in range(20):
        out.extend(decoder.feed(b"[" * 10000))
    assert [e.fatal for e in out] == [False, True]


def test_nesting_at_the_depth_limit_is_accepted_and_one_deeper_is_not():
    def nested(depth):
        return b'{"a":' * depth + b"1" + b"}" * depth

    def expect(depth):
        value = 1
        for _ in range(depth):
            value = {"a": value}
        return value

    out = JsonStreamDecoder().feed(nested(DEFAULT_MAX_DEPTH) + OK_BYTES)
    assert out == [expect(DEFAULT_MAX_DEPTH), OK]
    out = JsonStreamDecoder().feed(nested(DEFAULT_MAX_DEPTH + 1) + OK_BYTES)
    assert len(errors(out)) == 1 and values(out) == [OK]


def test_brackets_inside_strings_do_not_count_as_nesting():
    obj = {"a": "[" * 1000 + "{" * 1000, "b": "]}" * 500}
    wire = json.dumps(obj).encode()
    assert JsonStreamDecoder().feed(wire) == [obj]
    out, _ = feed_chunks(byte_by_byte(wire))
    assert out == [obj]


def test_strings_inside_an_over_nested_value_are_skipped_correctly():
    # A "]" inside a string must not close the discarded value early.
    wire = b"[" * 100 + b'"]]]]"' + b"]" * 100 + OK_BYTES
    out = JsonStreamDecoder().feed(wire)
    assert len(errors(out)) == 1 and values(out) == [OK]


# --- fuzz: never raise ------------------------------------------------------------------

fragments = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b"\n", b" ", b":", b",",
                     b'{"a": 1}', b'{"request": "msg", "content": "hi"}', b"\xff",
                     b"\xe2\x82", b"\xac", b"1", b"-", b"true", b"null", b"1e999",
                     b"NaN", b"\\u00", b"\\ud800", b"\x00", b"[" * 70, b"]" * 70]),
)
arbitrary_streams = st.lists(fragments, max_size=40).map(b"".join)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(arbitrary_streams, st.sampled_from([16, 64, 1024, 64 * 1024]), st.data())
def test_arbitrary_bytes_never_raise(wire, max_size, data):
    chunks = data.draw(chunked(wire))
    decoder = JsonStreamDecoder(max_size=max_size)
    out = []
    fatal_seen = False
    for chunk in chunks:
        got = decoder.feed(chunk)
        if fatal_seen:
            assert got == []
        for item in got:
            assert isinstance(item, FramingError) or is_json_value(item), item
            if isinstance(item, FramingError):
                assert isinstance(item.message, str) and item.message
                if item.fatal:
                    assert not fatal_seen
                    fatal_seen = True
        out.extend(got)
        assert decoder.buffered <= max_size + len(chunk)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(arbitrary_streams, st.data())
def test_arbitrary_bytes_decode_the_same_however_split(wire, data):
    # With a limit no value reaches, the result must not depend on chunking.
    whole = JsonStreamDecoder(max_size=10 ** 6)
    expected = normalise(whole.feed(wire))
    out, decoder = feed_chunks(data.draw(chunked(wire)), max_size=10 ** 6)
    assert normalise(out) == expected
    assert decoder.saw_newline == whole.saw_newline
    assert decoder.buffered == whole.buffered


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.binary(max_size=300), st.data())
def test_random_binary_never_raises(wire, data):
    out, _ = feed_chunks(data.draw(chunked(wire)), max_size=64)
    for item in out:
        assert isinstance(item, FramingError) or is_json_value(item)


# --- saw_newline -------------------------------------------------------------------------


@pytest.mark.parametrize("chunks, expected", [
    ([b'{"a": 1}'], False),
    ([b'{"a": 1}\n'], True),
    ([b'{"a": 1}\r\n'], True),
    ([b'{"a": 1}', b"\n"], True),
    ([b'{"a": 1}', b" ", b"\t", b"\n"], True),
    ([b'{"a": 1} {"b": 2}'], False),
    ([b'{"a": 1}{"b": 2}'], False),
    ([b'{"a": 1}\r{"b": 2}'], False),
    ([b'{\n"a": 1\n}'], False),
    ([b'{\n  "a": [\n    1\n  ]\n}'], False),
    ([b'\n{"a": 1}'], False),
    ([b"\n\n\n"], False),
    ([b'{"a": "x\\ny"}'], False),
    ([b'{\n"a": 1\n}', b'{\n"b": 2\n}'], False),
    ([b'{\n"a": 1\n}\n', b'{\n"b": 2\n}'], True),
    ([b'{"a": 1', b"\n", b"}"], False),
])
def test_saw_newline(chunks, expected):
    out, decoder = feed_chunks(chunks)
    assert not errors(out)
    assert decoder.saw_newline is expected


def test_saw_newline_stays_true():
    decoder = JsonStreamDecoder()
    decoder.feed(b'{"a": 1}\n')
    assert decoder.saw_newline
    decoder.feed(b'{"b": 2}{"c": 3}')
    assert decoder.saw_newline


def test_pretty_printed_object_alone_is_not_a_newline_peer():
    obj = {"request": "msg", "content": "hi", "nested": {"a": [1, 2]}}
    wire = json.dumps(obj, indent=2).encode()
    out, decoder = feed_chunks(byte_by_byte(wire))
    assert out == [obj] and not decoder.saw_newline


@FAST
@given(object_stream(simple_objects), st.data())
def test_saw_newline_iff_a_newline_follows_a_value(stream, data):
    objects, wire, after = stream
    _, decoder = feed_chunks(data.draw(chunked(wire)))
    assert decoder.saw_newline == any("\n" in sep for sep in after)


# --- the chunking sweep ------------------------------------------------------------------

TRANSCRIPT = b"".join([
    b'{"request": "login", "content": "alice"}',
    b'{"request": "msg", "content": "h\xc3\xa6 \xf0\x9f\x98\x80 {[\\"\\\\"}',
    b" \t\r\n",
    b'{"request": "msg", "content": "\\ud83d\\ude00 \\u00e5"}\n',
    b"\x00\x00garbage\xff",
    b'{"a": bad}',
    b'{"a": "\xff"}',
    b'[1, 2]',
    b'"top level string"',
    b" 42 ",
    b"[" * 80 + b"]" * 80,
    b'{"a": 1]',
    b'{\n  "request": "names",\n  "content": null\n}',
    b'{"request": "logout"}',
])


def _sweep_expected():
    decoder = JsonStreamDecoder()
    return normalise(decoder.feed(TRANSCRIPT)), decoder.saw_newline


def test_transcript_has_the_expected_shape():
    items, saw = _sweep_expected()
    kinds = [kind for kind, *_ in items]
    # consecutive errors (garbage, bad JSON, bad UTF-8; too deep, bad bracket)
    # collapse into the first of each run
    assert kinds == ["VALUE", "VALUE", "VALUE", "ERROR", "VALUE", "VALUE",
                     "VALUE", "ERROR", "VALUE", "VALUE"], items
    assert items[1][1]["content"] == 'h\u00e6 \U0001F600 {["\\'
    assert items[2][1]["content"] == "\U0001F600 \u00e5"
    assert items[-1][1] == {"request": "logout"}
    assert saw


def test_chunking_sweep_every_split_point():
    expected, saw = _sweep_expected()
    for i in range(len(TRANSCRIPT) + 1):
        out, decoder = feed_chunks([TRANSCRIPT[:i], TRANSCRIPT[i:]])
        assert normalise(out) == expected, i
        assert decoder.saw_newline == saw
        assert decoder.buffered == 0


def test_chunking_sweep_byte_by_byte_and_fixed_sizes():
    expected, saw = _sweep_expected()
    for size in (1, 2, 3, 5, 8, 13, 64, 4096):
        chunks = [TRANSCRIPT[i:i + size] for i in range(0, len(TRANSCRIPT), size)]
        out, decoder = feed_chunks(chunks)
        assert normalise(out) == expected, size
        assert decoder.saw_newline == saw


def test_chunking_sweep_every_pair_of_split_points_of_a_short_transcript():
    wire = b'{"a": "\xc3\xa6\\""}\x00{"b" 1}[2]\n{"c": "\xf0\x9f\x98\x80"}'
    expected = normalise(JsonStreamDecoder().feed(wire))
    # resync after the syntax error skips to the next "{", so "[2]" is dropped
    assert [k for k, *_ in expected] == ["VALUE", "ERROR", "VALUE"]
    for i in range(len(wire) + 1):
        for j in range(i, len(wire) + 1):
            out, _ = feed_chunks([wire[:i], wire[i:j], wire[j:]])
            assert normalise(out) == expected, (i, j)


# --- large values in tiny reads ----------------------------------------------------------


def test_200kb_object_fed_one_byte_at_a_time():
    obj = {"request": "msg",
           "content": ("h\u00e6lla \U0001F600 {[\"\\]} " * 4000)[:60000],
           "list": [{"i": i, "s": "x" * 10} for i in range(2500)]}
    wire = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    assert len(wire) > 150000
    decoder = JsonStreamDecoder(max_size=10 ** 6)
    out = []
    for i in range(len(wire)):
        out.extend(decoder.feed(wire[i:i + 1]))
    assert out == [obj]
    assert decoder.buffered == 0


def test_long_top_level_string_and_number_fed_one_byte_at_a_time():
    wire = json.dumps("\u00e5" * 20000, ensure_ascii=False).encode() + b" " + b"7" * 2000 + b" "
    decoder = JsonStreamDecoder(max_size=10 ** 6)
    out = []
    for i in range(len(wire)):
        out.extend(decoder.feed(wire[i:i + 1]))
    assert out == ["\u00e5" * 20000, int("7" * 2000)]


# --- at_boundary ----------------------------------------------------------------------------


def test_at_boundary_states():
    decoder = JsonStreamDecoder(max_size=100)
    assert decoder.at_boundary
    decoder.feed(b'{"a"')
    assert not decoder.at_boundary
    decoder.feed(b": 1} \n")
    assert decoder.at_boundary
    decoder.feed(b"12")            # a number that may continue
    assert not decoder.at_boundary
    decoder.feed(b" ")
    assert decoder.at_boundary
    decoder.feed(b"\x00junk")      # skipping garbage until the next "{"
    assert not decoder.at_boundary
    decoder.feed(b"{" + b" " * 200)  # fatal
    assert not decoder.at_boundary


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(arbitrary_streams)
def test_at_boundary_means_a_fresh_decoder_carries_on_identically(wire):
    # Feed byte by byte; wherever the decoder says it is at a boundary, a
    # fresh decoder fed the rest must produce what the old one produced.
    decoder = JsonStreamDecoder(max_size=10 ** 6)
    outputs, boundaries = [], []
    for i in range(len(wire)):
        outputs.append(normalise(decoder.feed(wire[i:i + 1])))
        if decoder.at_boundary:
            boundaries.append(i + 1)
    for cut in boundaries[::max(1, len(boundaries) // 8)]:
        expected = [item for out in outputs[cut:] for item in out]
        fresh, _ = feed_chunks(byte_by_byte(wire[cut:]), max_size=10 ** 6)
        assert normalise(fresh) == expected, cut


# --- bounded batches and error runs (hardening, defect 3) --------------------------------


def test_bad_lines_each_get_an_error_but_a_run_on_one_line_gets_one():
    wire = (b'{"request": "help" "content": null}\n{]\n{]{]{]\n' + OK_BYTES
            + b"\x00\x00\n\x00" + OK_BYTES)
    for chunks in ([wire], byte_by_byte(wire)):
        out, _ = feed_chunks(chunks)
        assert [type(x) for x in out] == [FramingError] * 3 + [dict, FramingError, dict], out


def test_a_run_of_syntax_errors_of_any_length_is_one_error_and_later_values_survive():
    wire = b"{]" * 131072 + OK_BYTES
    for chunks in ([wire], [wire[i:i + 65536] for i in range(0, len(wire), 65536)]):
        out, _ = feed_chunks(chunks)
        assert [type(x) for x in out] == [FramingError, dict]


def test_feed_with_max_values_hands_out_bounded_batches_in_order():
    wire = b"".join(json.dumps({"request": "msg", "content": str(i)}).encode() for i in range(1000))
    decoder = JsonStreamDecoder()
    batches = [decoder.feed(wire, max_values=16)]
    while decoder.backlog:
        batches.append(decoder.feed(b"", max_values=16))
    assert all(len(batch) <= 16 for batch in batches)
    assert [v["content"] for batch in batches for v in batch] == [str(i) for i in range(1000)]
    assert decoder.buffered == 0 and decoder.at_boundary


def test_feed_with_max_bytes_stops_after_that_much_input():
    one = json.dumps({"request": "msg", "content": "x" * 1000}).encode()
    decoder = JsonStreamDecoder()
    first = decoder.feed(one * 100, max_bytes=4096)
    assert 1 <= len(first) <= 5 and decoder.backlog
    total = len(first)
    while decoder.backlog:
        total += len(decoder.feed(b"", max_bytes=4096))
    assert total == 100


@given(st.lists(st.sampled_from([OK_BYTES, b"{]", b"\x00", b'{"a": bad}', b" \n", b"[1]", b"\n",
                                 b"x\ny"]),
                max_size=40),
       st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=7))
def test_batched_feeding_gives_the_same_items_as_unbounded_feeding(parts, batch, size):
    wire = b"".join(parts)
    expected = normalise(JsonStreamDecoder().feed(wire))
    decoder = JsonStreamDecoder()
    out = []
    for i in range(0, len(wire), size):
        out += decoder.feed(wire[i:i + size], max_values=batch)
        while decoder.backlog:
            out += decoder.feed(b"", max_values=batch)
    assert normalise(out) == expected
