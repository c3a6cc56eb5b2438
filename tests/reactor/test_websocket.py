"""reactor/websocket.py: a client's frames in, messages out (RFC 6455)."""

import struct

import pytest
from hypothesis import given, strategies as st

from reactor.websocket import (BINARY, CLOSE, CONTINUATION, INVALID_DATA, PING, PONG,
                               PROTOCOL_ERROR, TEXT, TOO_BIG, CloseFrame, FrameDecoder, Message,
                               Ping, Pong, WebSocketError, close_frame, encode, text_frame, unmask)


def client(opcode, payload, fin=True):
    return encode(opcode, payload, fin=fin, mask=True)


def feed_in_pieces(data, cuts, **options):
    decoder = FrameDecoder(**options)
    events, start = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        events += decoder.feed(data[start:cut])
        start = cut
    return events


@st.composite
def conversations(draw):
    """Frames a client may send: messages (some fragmented, with pings
    between fragments) and the events they must give."""
    frames, expected = [], []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            text = draw(st.text(max_size=300))
            data, opcode, event = text.encode("utf-8"), TEXT, Message(text, None)
        else:
            data = draw(st.binary(max_size=300))
            opcode, event = BINARY, Message(None, data)
        cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=3))))
        pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            frames.append(client(opcode if i == 0 else CONTINUATION, piece, fin=last))
            if not last and draw(st.booleans()):
                frames.append(client(PING, b"between"))
                expected.append(Ping(b"between"))
        expected.append(event)
    return b"".join(frames), expected


@given(conversations(), st.lists(st.integers(0, 4000), max_size=10))
def test_any_split_gives_the_same_messages(conversation, cuts):
    data, expected = conversation
    assert feed_in_pieces(data, [c for c in cuts if c <= len(data)]) == expected


def test_a_character_split_across_fragments_and_reads():
    data = "blåbær 😀".encode("utf-8")
    frames = client(TEXT, data[:3], fin=False) + client(CONTINUATION, data[3:10], fin=False) \
        + client(CONTINUATION, data[10:])
    for cut in range(len(frames) + 1):
        assert feed_in_pieces(frames, [cut]) == [Message("blåbær 😀", None)]


def test_control_frames():
    data = client(PING, b"p") + client(PONG, b"q") + client(CLOSE, struct.pack("!H", 1000) + b"bye")
    assert feed_in_pieces(data, []) == [Ping(b"p"), Pong(b"q"), CloseFrame(1000, "bye")]
    assert feed_in_pieces(client(CLOSE, b""), []) == [CloseFrame(1005, "")]


@pytest.mark.parametrize("data, code", [
    (encode(TEXT, b"unmasked"), PROTOCOL_ERROR),
    (bytes([0x80 | 0x40 | TEXT, 0x80]) + b"\0\0\0\0", PROTOCOL_ERROR),      # RSV1
    (bytes([0x83, 0x80]) + b"\0\0\0\0", PROTOCOL_ERROR),                     # opcode 3
    (client(PING, b"x", fin=False), PROTOCOL_ERROR),
    (client(PING, b"x" * 126), PROTOCOL_ERROR),
    (client(CONTINUATION, b"x"), PROTOCOL_ERROR),
    (client(TEXT, b"a", fin=False) + client(TEXT, b"b"), PROTOCOL_ERROR),
    (bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63), PROTOCOL_ERROR),
    (client(CLOSE, b"\x03"), PROTOCOL_ERROR),
    (client(CLOSE, struct.pack("!H", 999)), PROTOCOL_ERROR),
    (client(CLOSE, struct.pack("!H", 1000) + b"\xff"), INVALID_DATA),
    (client(TEXT, b"\xc3\x28"), INVALID_DATA),
    (client(TEXT, b"ok", fin=False) + client(CONTINUATION, b"\xed\xa0\x80"), INVALID_DATA),
    (client(BINARY, b"x" * 70_000), TOO_BIG),
    (client(TEXT, b"x" * 40_000, fin=False) + client(CONTINUATION, b"x" * 30_000), TOO_BIG),
])
def test_violations_close_with_their_code(data, code):
    decoder = FrameDecoder(max_message=64 * 1024)
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(data)
    assert caught.value.code == code
    with pytest.raises(WebSocketError):
        decoder.feed(client(TEXT, b"after"))


def test_an_oversized_frame_is_refused_from_its_header():
    """A 1 MB frame is refused before its payload arrives: nothing buffered."""
    header = encode(BINARY, b"x" * (1 << 20), mask=b"abcd")[:14]
    decoder = FrameDecoder(max_message=64 * 1024)
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(header)
    assert caught.value.code == TOO_BIG


def test_invalid_text_is_caught_before_the_message_ends():
    decoder = FrameDecoder()
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(client(TEXT, b"\xff", fin=False))
    assert caught.value.code == INVALID_DATA


def test_messages_before_a_violation_are_handed_out_first():
    decoder = FrameDecoder()
    assert decoder.feed(client(TEXT, b"one") + client(TEXT, b"\xff")) == [Message("one", None)]
    with pytest.raises(WebSocketError):
        decoder.feed(b"")


def test_server_frames_and_masking():
    assert text_frame("hi") == b"\x81\x02hi"
    assert len(encode(BINARY, b"x" * 200)) == 2 + 2 + 200
    assert len(encode(BINARY, b"x" * 70_000)) == 2 + 8 + 70_000
    assert unmask(unmask(b"hello world", b"abcd"), b"abcd") == b"hello world"
    assert FrameDecoder(require_mask=False).feed(text_frame("hi")) == [Message("hi", None)]
    close = close_frame(1001, "é" * 100)   # cut to fit, never inside a character
    [event] = FrameDecoder(require_mask=False).feed(close)
    assert event.code == 1001 and set(event.reason) == {"é"} and len(close) <= 2 + 125
