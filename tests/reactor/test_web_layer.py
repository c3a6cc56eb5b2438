"""``reactor.web.WebSocketLayer.write``: lines in, one text frame each out,
whoever wrote what before, the same bytes object or a buffer changed since."""

from hypothesis import given, strategies as st

from reactor.web import WebSocketLayer
from reactor.websocket import FrameDecoder, Message

from loop_support import Loop


class Lower:
    """The transport under the layer: records what it is given."""

    closed = False
    peername = None

    def __init__(self):
        self.out = bytearray()

    def write(self, data):
        self.out += data


def texts(lower):
    events = FrameDecoder(require_mask=False).feed(bytes(lower.out))
    assert all(type(event) is Message for event in events)
    return [event.text for event in events]


def layer():
    lower = Lower()
    return WebSocketLayer(Loop(), lower, protocol=None, max_message=1 << 20), lower


def test_a_broadcast_reaches_every_layer_as_frames_of_its_lines():
    data = b'{"a": 1}\n{"b": 2}\n'
    pairs = [layer() for _ in range(3)]
    for ws, _ in pairs:
        ws.write(data)
    assert all(texts(lower) == ['{"a": 1}', '{"b": 2}'] for _, lower in pairs)


def test_a_reused_buffer_is_framed_afresh():
    ws, lower = layer()
    buffer = bytearray(b'{"n": 1}\n')
    ws.write(buffer)
    buffer[6:7] = b"2"
    ws.write(buffer)
    assert texts(lower) == ['{"n": 1}', '{"n": 2}']


@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(
    [b"x\n", b"y\nz\n", b'{"k": "v"}\n', b"\n", b"tail"]), st.booleans()), max_size=30))
def test_any_sequence_of_writes_gives_each_layer_its_own_lines(writes):
    pairs = [layer() for _ in range(3)]
    expected = [[], [], []]
    last = b""
    for who, payload, same_object in writes:
        data = last if same_object else bytes(bytearray(payload))   # a new object
        pairs[who][0].write(data)
        expected[who] += [line.decode() for line in data.split(b"\n") if line]
        last = data
    assert [texts(lower) for _, lower in pairs] == expected
