"""``RedisClient.flush_first`` (issue 22): the commands a loop pass calls
after it leave before the end-of-pass work registered after it (a cluster
node's appends before the writes of the deliveries of the same pass)."""

import pytest

from reactor.loop import EventLoop
from reactor.redis import RedisClient
from redis_support import redis_server, run_until  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # a real redis-server


class RecordingWrites:
    """Stands in for a connection's transport, noting each write in ``events``."""

    def __init__(self, transport, events):
        self._transport = transport
        self._events = events

    def write(self, data):
        self._events.append("redis")
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


def recording_client(loop, url):
    """A connected client whose writes are noted in the list returned with it."""
    client = RedisClient(loop, url)
    run_until(loop, lambda: client.connected)
    events = []
    client._conn.transport = RecordingWrites(client._conn.transport, events)
    return client, events


@pytest.mark.parametrize("first", [True, False])
def test_commands_called_after_flush_first_leave_before_later_hooks(redis_server, first):  # noqa: F811
    loop = EventLoop()
    try:
        client, events = recording_client(loop, redis_server.url())
        replies = []

        def one_pass():
            if first:
                client.flush_first()
            loop.at_end_of_pass(lambda: events.append("clients"))
            replies.append(client.call("PING"))
        loop.call_soon(one_pass)
        run_until(loop, lambda: replies and replies[0].done)
        assert replies[0].result() == "PONG"
        assert events == (["redis", "clients"] if first else ["clients", "redis"])
        client.close()
    finally:
        loop.close()


def test_flush_first_without_a_command_writes_nothing(redis_server):  # noqa: F811
    loop = EventLoop()
    try:
        client, events = recording_client(loop, redis_server.url())
        done = []
        loop.call_soon(lambda: (client.flush_first(), client.flush_first(),
                                loop.at_end_of_pass(lambda: done.append(True))))
        run_until(loop, lambda: done)
        assert events == []
        reply = client.call("PING")   # and the next pass flushes as ever
        run_until(loop, lambda: reply.done)
        assert events == ["redis"] and reply.result() == "PONG"
        client.close()
    finally:
        loop.close()
