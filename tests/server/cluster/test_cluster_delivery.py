"""A cluster node delivers what one read of the room streams brings back as
one send per member (issue 13, bench figures): streamed readers get the
same bytes in the same order, and a paced (naive) reader still gets every
message in a read of its own (PROTOCOL.md section 3). After a read the
reader pauses (``--redis-read-pause``, issue 22), so that what is appended
meanwhile comes back in one read."""

import json
import socket
import time

import pytest

from redis_support import redis_server  # noqa: F401 (fixture)
from support import TIMEOUT, ServerProcess

pytestmark = pytest.mark.slow   # a node and a real redis-server


def one_payload_per_read(sock):
    """One recv(): exactly one whole payload, decoded."""
    chunk = sock.recv(65536)
    assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1, chunk[:300]
    return json.loads(chunk)


def request(name, content, newline=True):
    return json.dumps({"request": name, "content": content}).encode() + (b"\n" if newline else b"")


def test_a_burst_reaches_streamed_readers_whole_and_a_paced_one_read_by_read(
        redis_server):  # noqa: F811
    # A wide pace gap: each paced payload must be read before the next leaves.
    node = ServerProcess("--redis", redis_server.url(), "--rate", "0", "--pace-ms", "100")
    try:
        node.wait_for_log("cluster node .* ready")
        with socket.create_connection(("127.0.0.1", node.port), timeout=TIMEOUT) as naive:
            naive.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            naive.sendall(request("login", "naive", newline=False))
            assert one_payload_per_read(naive)["content"] == "Login successful"
            assert one_payload_per_read(naive)["response"] == "history"
            streamed, chatty = node.connect(), node.connect()
            streamed.login("streamed")
            chatty.login("chatty")
            # One write: one pass appends them all, one XREAD reply brings them back.
            burst = ["burst %d" % i for i in range(5)]
            chatty.send_raw(b"".join(request("msg", text) for text in burst))
            assert [streamed.expect("message")["content"] for _ in burst] == burst
            assert [chatty.expect("message")["content"] for _ in burst] == burst
            received = []
            while len(received) < len(burst):
                payload = one_payload_per_read(naive)
                if payload["response"] == "message":
                    received.append(payload["content"])
            assert received == burst
    finally:
        node.stop()


def test_messages_appended_while_the_reader_pauses_come_back_together(
        redis_server):  # noqa: F811
    pause = 1.0   # long, so that the lower bound below holds on a slow machine
    node = ServerProcess("--redis", redis_server.url(), "--rate", "0",
                         "--redis-read-pause", str(pause))
    try:
        node.wait_for_log("cluster node .* ready")
        reader, writer = node.connect(), node.connect()
        reader.login("reader")
        writer.login("writer")
        writer.send("msg", "first")
        assert reader.expect("message")["content"] == "first"
        first_seen = time.monotonic()
        # Appended at once, but read only once the pause after "first"'s read is over.
        writer.send("msg", "second")
        writer.send("msg", "third")
        assert reader.expect("message")["content"] == "second"
        waited = time.monotonic() - first_seen
        assert waited >= pause / 2, waited
        # ... in the same read, so in the same write to each member
        assert reader.buffer.count(b"\n") == 1 and b'"third"' in reader.buffer, reader.buffer
        assert reader.expect("message")["content"] == "third"
    finally:
        node.stop()
