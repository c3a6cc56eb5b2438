"""``Transport.share``: one queue for many transports, copied on write.

Real loop, real socket pairs. What one transport does to its queue (a
write of its own, a partial send, an abort) must never change what the
others sharing it send.
"""

import socket

from reactor.tcp import SharedChunks, Transport

from loop_support import Loop


class Quiet:
    def connection_made(self, transport):
        pass

    def data_received(self, data):
        pass

    def connection_lost(self, exc):
        pass


class Recorder(SharedChunks):
    """A queue that remembers who left it."""

    __slots__ = ("gone",)

    def __init__(self, data):
        super().__init__(data)
        self.gone = []

    def left(self, transport):
        self.gone.append(transport)


def pair(loop, sndbuf=None):
    ours, peer = socket.socketpair()
    if sndbuf:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    transport = Transport(loop, ours, Quiet())
    transport.start()
    return transport, peer


def drain(loop, peer, size, passes=2000):
    peer.setblocking(False)
    data = bytearray()
    for _ in range(passes):
        loop.run_once()
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            continue
        data += chunk
        if len(data) >= size:
            break
    return bytes(data)


def test_sharers_send_the_queue_and_a_write_of_ones_own_comes_after_it():
    loop = Loop()
    (a, pa), (b, pb) = pair(loop), pair(loop)
    queue = Recorder(b"one;")
    assert a.share(queue) and b.share(queue)
    queue.append(b"two;")
    a.write(b"private;")              # a copies the queue: it leaves the batch
    queue.append(b"three;")           # so this reaches b only
    assert queue.gone == [a]
    assert a.buffered == len(b"one;two;private;")
    assert drain(loop, pa, 16) == b"one;two;private;"
    assert drain(loop, pb, 14) == b"one;two;three;"
    assert queue.chunks == [b"one;", b"two;", b"three;"]   # nobody cut into it


def test_a_transport_with_something_queued_does_not_share():
    loop = Loop()
    a, pa = pair(loop)
    a.write(b"first;")
    assert not a.share(Recorder(b"x"))
    a.close()
    b, pb = pair(loop)
    b.close()
    assert not b.share(Recorder(b"x"))
    loop.close()


def test_a_partial_send_copies_before_it_cuts():
    loop = Loop()
    big = b"x" * (1 << 20)
    (a, pa), (b, pb) = pair(loop, sndbuf=4096), pair(loop)
    queue = Recorder(big)
    queue.append(b";end")
    assert a.share(queue) and b.share(queue)
    loop.run_once()                   # a's kernel takes a part; b's all of it
    assert queue.chunks == [big, b";end"]
    assert drain(loop, pb, len(big) + 4) == big + b";end"
    assert drain(loop, pa, len(big) + 4, passes=20000) == big + b";end"


def test_an_aborted_sharer_leaves_and_the_others_go_on():
    loop = Loop()
    (a, pa), (b, pb) = pair(loop), pair(loop)
    queue = Recorder(b"one;")
    a.share(queue), b.share(queue)
    a.abort()
    queue.append(b"two;")
    assert queue.gone == [a]
    assert drain(loop, pb, 8) == b"one;two;"


def test_an_encoded_view_is_kept_in_step_and_reports_leavers_to_its_origin():
    loop = Loop()
    (a, pa), (b, pb) = pair(loop), pair(loop)
    queue = Recorder(b"one;")
    upper = queue.encoded(bytes.upper)
    assert queue.encoded(bytes.upper) is upper        # one encoding, however many share it
    assert a.share(queue) is a and b.share(upper) is b
    queue.append(b"two;")
    assert upper.chunks == [b"ONE;", b"TWO;"] and upper.size == 8 and queue.largest == 8
    b.write(b"own;")
    queue.append(b"three;")
    assert queue.gone == [b]
    assert drain(loop, pa, 14) == b"one;two;three;"
    assert drain(loop, pb, 12) == b"ONE;TWO;own;"


def test_a_closing_sharer_sends_what_was_queued_and_nothing_appended_after():
    loop = Loop()
    (a, pa), (b, pb) = pair(loop), pair(loop)
    queue = Recorder(b"one;")
    a.share(queue), b.share(queue)
    a.close()                         # as a write after close would be, later payloads are dropped
    queue.append(b"two;")
    assert drain(loop, pa, 8) == b"one;"
    assert drain(loop, pb, 8) == b"one;two;"


def test_a_layers_encoding_is_made_only_once_a_transport_shares_it():
    loop = Loop()
    (busy, _pa), (free, _pb) = pair(loop), pair(loop)
    queue = Recorder(b"one;")
    busy.write(b"own;")                            # something queued: it cannot share
    assert busy.share(queue, lambda chunk: chunk * 2) is None
    queue.append(b"two;")
    assert queue.largest == queue.size == 8        # no encoding made for nobody
    assert free.share(queue, lambda chunk: chunk * 2) is free
    assert queue.largest == 16
