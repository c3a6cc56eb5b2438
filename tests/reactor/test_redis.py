"""reactor/redis.py against a real redis-server (tests/redis_support.py):
pipelining, errors, blocking reads, scripts, and the server's death."""

import logging
import socket
import time

import pytest

from reactor.loop import EventLoop
from reactor.redis import (ConnectionLost, Overloaded, RedisClient, ReplyError,
                           Unavailable, parse_url)
from redis_support import own_redis_server, redis_server, run_until  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow   # a real redis-server

# Compare-and-delete: release a lease only if we still hold it.
RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1]) else return 0 end"""


@pytest.fixture
def loop():
    loop = EventLoop()
    yield loop
    loop.close()


def connect(loop, url, **options):
    client = RedisClient(loop, url, **options)
    run_until(loop, lambda: client.connected)
    return client


def wait(loop, *replies):
    run_until(loop, lambda: all(r.done for r in replies))
    return [r.result() for r in replies]


def test_set_get_and_database_from_the_url(loop, redis_server):
    one = connect(loop, redis_server.url(1))
    zero = connect(loop, redis_server.url(0))
    assert wait(loop, one.call("SET", "greeting", "hello"),
                one.call("GET", "greeting"), zero.call("GET", "greeting"),
                one.call("INCRBY", "n", 41), one.call("INCR", "n")) == \
        ["OK", b"hello", None, 41, 42]
    assert wait(loop, one.call("DEL", "greeting", "n")) == [2]
    one.close()
    zero.close()


class CountingWrites:
    """Stands in for a connection's transport, counting its writes."""

    def __init__(self, transport, writes):
        self._transport = transport
        self._writes = writes

    def write(self, data):
        self._writes.append(len(data))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


def test_ten_thousand_pipelined_commands_leave_in_one_write_and_answer_in_order(
        loop, redis_server):
    client = connect(loop, redis_server.url())
    writes = []
    client._conn.transport = CountingWrites(client._conn.transport, writes)
    replies = [client.call("RPUSH", "pipelined", i) for i in range(10_000)]
    everything = client.call("LRANGE", "pipelined", 0, -1)
    wait(loop, everything)
    assert len(writes) == 1
    assert [r.result() for r in replies] == list(range(1, 10_001))
    assert everything.result() == [b"%d" % i for i in range(10_000)]
    client.call("DEL", "pipelined")
    client.close()


def test_round_trips_are_heard_once_per_reply_from_the_write_that_carried_it(
        loop, redis_server):
    """``on_round_trip`` (issue 19's /metrics histogram) hears each reply
    once: the handshake's PING, pipelined calls, and a MULTI block (MULTI,
    each QUEUED, EXEC); a blocked read's round trip covers its wait. A
    clone may be given none (a node's blocking reader)."""
    heard = []
    client = connect(loop, redis_server.url(), on_round_trip=heard.append)
    assert len(heard) == 1   # the handshake's PING
    wait(loop, *[client.call("PING") for _ in range(3)])
    assert len(heard) == 4
    wait(loop, client.call("SET", "rt", "1", atomic=True), client.call("GET", "rt", atomic=True))
    assert len(heard) == 4 + 4   # MULTI, two QUEUED, EXEC
    assert all(0 <= seconds < 5 for seconds in heard)
    blocking = client.clone(reply_timeout=None)
    silent = client.clone(on_round_trip=None)
    run_until(loop, lambda: blocking.connected and silent.connected)
    del heard[:]
    wait(loop, blocking.call("XREAD", "BLOCK", 200, "STREAMS", "rt-nothing", "$"))
    assert len(heard) == 1 and heard[0] >= 0.19   # the read's wait is in its round trip
    wait(loop, silent.call("PING"))
    assert len(heard) == 1
    client.call("DEL", "rt")
    for c in (client, blocking, silent):
        c.close()


def test_large_values_cross_many_reads(loop, redis_server):
    client = connect(loop, redis_server.url())
    big = bytes(range(256)) * 20_000   # 5 MB, many 256 KiB reads
    assert wait(loop, client.call("SET", "big", big), client.call("GET", "big"),
                client.call("STRLEN", "big")) == ["OK", big, len(big)]
    client.call("DEL", "big")
    client.close()


def test_an_error_reply_reaches_its_own_caller_only(loop, redis_server):
    client = connect(loop, redis_server.url())
    before = client.call("SET", "a-string", "x")
    wrong = client.call("LPUSH", "a-string", "y")
    after = client.call("GET", "a-string")
    nested = [client.call("MULTI"), client.call("INCR", "a-string"), client.call("EXEC")]
    run_until(loop, lambda: nested[-1].done)
    assert before.result() == "OK" and after.result() == b"x"
    assert isinstance(wrong.error, ReplyError) and wrong.error.code == "WRONGTYPE"
    with pytest.raises(ReplyError):
        wrong.result()
    # An error inside EXEC's array is a value in it, not the call's failure.
    [result] = nested[2].result()
    assert isinstance(result, ReplyError) and result.code == "ERR"
    client.close()


def test_blocking_read_on_its_own_connection(loop, redis_server):
    client = connect(loop, redis_server.url())
    blocking = client.clone(reply_timeout=None)
    run_until(loop, lambda: blocking.connected)
    read = blocking.call("XREAD", "BLOCK", 5000, "STREAMS", "events", "$")
    # The main connection keeps working while the other one blocks.
    assert wait(loop, client.call("PING")) == ["PONG"]
    assert not read.done
    added = client.call("XADD", "events", "*", "body", "hi")
    run_until(loop, lambda: read.done and added.done)   # two connections: either may answer first
    [[stream, [[entry_id, fields]]]] = read.result()
    assert (stream, entry_id, fields) == (b"events", added.result(), [b"body", b"hi"])
    blocking.close()
    client.close()


def test_atomic_calls_of_one_pass_reach_a_blocked_reader_in_one_reply(loop, redis_server):
    """Consecutive atomic calls leave as one MULTI/EXEC block, in call order
    with the plain calls around them; a reader blocked on their stream is
    answered with all of the block (Redis answers a blocked reader after
    each command otherwise: with the first entry alone)."""
    client = connect(loop, redis_server.url())
    blocking = client.clone(reply_timeout=None)
    run_until(loop, lambda: blocking.connected)
    read = blocking.call("XREAD", "BLOCK", 5000, "STREAMS", "together", "$")
    run_until(loop, lambda: b"blocked_clients:1" in wait(loop, client.call("INFO", "clients"))[0])
    first = [client.call("XADD", "together", "*", "n", i, atomic=True) for i in range(3)]
    plain = client.call("INCR", "between")
    second = [client.call("XADD", "together", "*", "n", i, atomic=True) for i in (3, 4)]
    ids = wait(loop, *first, plain, *second)
    assert ids[3] == 1 and ids[:3] + ids[4:] == sorted(ids[:3] + ids[4:])
    run_until(loop, lambda: read.done)
    [[_stream, entries]] = read.result()
    assert [entry_id for entry_id, _fields in entries] == ids[:3]
    blocking.close()
    client.close()


def test_atomic_calls_get_their_own_errors(loop, redis_server):
    client = connect(loop, redis_server.url())
    client.call("SET", "a-string", "x")
    # Failing when run: that call alone fails.
    ran = [client.call("LPUSH", "a-string", "y", atomic=True),
           client.call("INCR", "counted", atomic=True)]
    run_until(loop, lambda: all(r.done for r in ran))
    assert ran[0].error.code == "WRONGTYPE" and ran[1].result() == 1
    # Refused when queued (wrong arity): it has its refusal, the block is not run.
    refused = [client.call("INCR", "counted", atomic=True), client.call("XADD", "k", atomic=True)]
    run_until(loop, lambda: all(r.done for r in refused))
    assert refused[0].error.code == "EXECABORT" and refused[1].error.code == "ERR"
    assert wait(loop, client.call("GET", "counted")) == [b"1"]
    # Lost before EXEC left: every call hears of it, once.
    outcomes = []
    lost = [client.call("INCR", "counted", atomic=True) for _ in range(2)]
    for reply in lost:
        reply.add_done_callback(lambda r: outcomes.append(r.error))
    client.close()
    assert len(outcomes) == 2 and all(isinstance(e, ConnectionLost) for e in outcomes)


def test_compare_and_delete_script(loop, redis_server):
    client = connect(loop, redis_server.url())
    client.call("SET", "lease:alice", "node-1", "NX", "PX", 10_000)
    assert wait(loop, client.call("EVAL", RELEASE, 1, "lease:alice", "node-2"),
                client.call("GET", "lease:alice"),
                client.call("EVAL", RELEASE, 1, "lease:alice", "node-1"),
                client.call("EXISTS", "lease:alice")) == [0, b"node-1", 1, 0]
    client.close()


def test_state_callbacks_and_recovery_when_the_server_dies(loop, own_redis_server):
    server = own_redis_server()
    events = []
    client = connect(loop, server.url(), backoff_initial=0.01, backoff_max=0.1,
                     backoff_jitter=0, on_connected=lambda: events.append("up"),
                     on_disconnected=lambda exc: events.append("down"))
    assert events == ["up"]
    # Stopped first, so the calls are surely sent and not yet answered.
    server.pause()
    outcomes = {}
    in_flight = [client.call("INCR", "counter") for _ in range(100)]
    for reply in in_flight:
        reply.add_done_callback(lambda r: outcomes.setdefault(id(r), []).append(r.error))
    run_until(loop, lambda: not client._conn.out)   # written to the socket
    server.kill()
    run_until(loop, lambda: all(r.done for r in in_flight))
    assert events == ["up", "down"]
    assert len(outcomes) == 100
    assert all(len(errors) == 1 and isinstance(errors[0], ConnectionLost)
               for errors in outcomes.values())
    # Down: a call fails at once, without running the loop.
    refused = client.call("PING")
    assert refused.done and isinstance(refused.error, Unavailable)
    assert "unavailable" in str(refused.error)
    # Nine failed attempts: uncapped, the pending delay would be 2.56 s.
    run_until(loop, lambda: client._failures >= 9)
    assert isinstance(client.last_error, ConnectionRefusedError)
    server.start()   # same port
    started = time.monotonic()
    run_until(loop, lambda: client.connected, timeout=5)
    assert time.monotonic() - started < 0.1 + 1.9   # the cap, and slack for a loaded machine
    assert events == ["up", "down", "up"]
    assert wait(loop, client.call("PING")) == ["PONG"]
    assert all(len(errors) == 1 for errors in outcomes.values())
    client.close()


def test_a_server_that_stops_answering_is_noticed_by_the_reply_timeout(loop, redis_server):
    lost = []
    client = connect(loop, redis_server.url(), reply_timeout=0.3, connect_timeout=0.3,
                     backoff_initial=0.05, backoff_max=0.2,
                     on_disconnected=lost.append)
    redis_server.pause()
    try:
        started = time.monotonic()
        reply = client.call("PING")
        run_until(loop, lambda: reply.done)
        assert isinstance(reply.error, ConnectionLost) and "within 0.3 s" in str(reply.error)
        assert 0.25 < time.monotonic() - started < 2
        assert len(lost) == 1 and not client.connected
    finally:
        redis_server.resume()
    run_until(loop, lambda: client.connected)
    assert wait(loop, client.call("PING")) == ["PONG"]
    client.close()


def test_connect_to_a_closed_port_fails_with_a_clear_error(loop):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RedisClient(loop, "redis://127.0.0.1:%d" % port, connect_timeout=1.0,
                         backoff_initial=10)
    started = time.monotonic()
    run_until(loop, lambda: client.last_error is not None, timeout=2)
    assert time.monotonic() - started < 1.0
    assert isinstance(client.last_error, ConnectionRefusedError)
    reply = client.call("PING")
    assert reply.done and isinstance(reply.error, Unavailable)
    assert "refused" in str(reply.error).lower()
    client.close()


def test_a_peer_that_accepts_but_never_answers_fails_within_the_connect_timeout(loop):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = RedisClient(loop, "redis://127.0.0.1:%d" % silent.getsockname()[1],
                             connect_timeout=0.3, backoff_initial=10)
        started = time.monotonic()
        run_until(loop, lambda: client.last_error is not None, timeout=2)
        assert 0.25 < time.monotonic() - started < 1.5
        assert "within 0.3 s" in str(client.last_error)
        assert not client.connected
        client.close()


def peek(sock):
    try:
        return sock.recv(4096, socket.MSG_PEEK)
    except BlockingIOError:
        return b""


def accept(listener, accepted):
    try:
        accepted.append(listener.accept()[0])
        return True
    except BlockingIOError:
        return False


def test_a_peer_speaking_garbage_loses_the_connection_not_the_process(loop):
    """A fake server (a plain socket driven by the test) answers the
    handshake, then sends what is not RESP: the waiting call fails once,
    and the client comes back on its own."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        accepted = []
        events = []
        client = RedisClient(loop, "redis://127.0.0.1:%d" % listener.getsockname()[1],
                             backoff_initial=0.01, backoff_max=0.01,
                             on_disconnected=events.append)
        # Not RESP: the call fails. A reply nobody asked for: the call had its own.
        for garbage, outcome in ((b"?what\r\n", None), (b"+OK\r\n+unasked\r\n", "OK")):
            run_until(loop, lambda: accept(listener, accepted))
            with accepted.pop() as peer:
                peer.setblocking(False)
                run_until(loop, lambda: b"PING" in peek(peer))
                peer.sendall(b"+PONG\r\n")
                run_until(loop, lambda: client.connected)
                reply = client.call("GET", "k")
                run_until(loop, lambda: b"GET" in peek(peer))
                peer.sendall(garbage)
                run_until(loop, lambda: reply.done)
                run_until(loop, lambda: events)
                if outcome is None:
                    assert isinstance(reply.error, ConnectionLost)
                else:
                    assert reply.result() == outcome
                assert not client.connected and len(events) == 1
                events.clear()
        client.close()


def test_a_peer_that_echoes_the_handshake_is_not_redis(loop):
    """A socket connected to itself (connecting to a local port nobody
    listens on, from that very port) echoes PING back: never "connected"."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        accepted = []
        client = RedisClient(loop, "redis://127.0.0.1:%d" % listener.getsockname()[1],
                             backoff_initial=5, backoff_max=5)
        run_until(loop, lambda: accept(listener, accepted))
        with accepted.pop() as peer:
            peer.setblocking(False)
            run_until(loop, lambda: b"PING" in peek(peer))
            peer.sendall(b"*1\r\n$4\r\nPING\r\n")
            run_until(loop, lambda: client.last_error is not None)
        assert not client.connected
        assert "not a redis server" in str(client.last_error)
        client.close()


def test_bounded_queue_fails_the_excess_at_once(loop, redis_server):
    client = connect(loop, redis_server.url(), max_pending=10)
    replies = [client.call("PING") for _ in range(12)]
    assert all(isinstance(r.error, Overloaded) for r in replies[10:])
    assert wait(loop, *replies[:10]) == ["PONG"] * 10
    client.max_output_bytes = 1000
    too_big = client.call("SET", "k", b"x" * 1000)
    assert isinstance(too_big.error, Overloaded) and "queued" in str(too_big.error)
    client.close()
    closed = client.call("PING")
    assert isinstance(closed.error, Unavailable) and "closed" in str(closed.error)


def test_a_bad_database_is_refused_in_the_handshake(loop, redis_server):
    client = RedisClient(loop, redis_server.url(99), backoff_initial=10)
    run_until(loop, lambda: client.last_error is not None)
    assert isinstance(client.last_error, ReplyError) and not client.connected
    client.close()


def test_password_from_the_url(loop, own_redis_server):
    server = own_redis_server("--requirepass", "s3cret")
    client = connect(loop, "redis://:s3cret@127.0.0.1:%d/2" % server.port)
    assert wait(loop, client.call("PING")) == ["PONG"]
    client.close()
    wrong = RedisClient(loop, "redis://:nope@127.0.0.1:%d" % server.port,
                        backoff_initial=10)
    run_until(loop, lambda: wrong.last_error is not None)
    assert isinstance(wrong.last_error, ReplyError)
    wrong.close()


@pytest.mark.parametrize("url, expected", [
    ("redis://127.0.0.1:7000/3", ("127.0.0.1", 7000, 3, None, None)),
    ("redis://localhost", ("localhost", 6379, 0, None, None)),
    ("redis://u:p%40ss@[::1]:1/", ("::1", 1, 0, "u", "p@ss")),
])
def test_parse_url(url, expected):
    assert parse_url(url) == expected


@pytest.mark.parametrize("url", ["http://h:1", "redis://h:x", "redis://h/db", "redis://h/1?x=1"])
def test_parse_url_refuses(url):
    with pytest.raises(ValueError):
        parse_url(url)


# -- a caller's failing callback -----------------------------------------------------------

def test_a_failing_callback_logs_a_bounded_line(redis_server, caplog):  # noqa: F811
    """A caller's callback that raises is logged in a bounded line, not
    with the whole reply (100 KB here)."""
    loop = EventLoop()
    client = RedisClient(loop, redis_server.url(9))
    try:
        run_until(loop, lambda: client.connected)
        client.call("SET", "big", b"x" * 100_000)
        reply = client.call("GET", "big")

        def bug(_reply):
            raise RuntimeError("a caller's bug")
        reply.add_done_callback(bug)
        with caplog.at_level(logging.ERROR, logger="reactor.redis"):
            run_until(loop, lambda: reply.done)
        [record] = [r for r in caplog.records if "callback" in r.getMessage()]
        assert len(record.getMessage()) < 10_000
    finally:
        client.close()
        loop.close()
