"""reactor/tls/ with real TLS: our layer on both sides, and Python's
blocking ``ssl`` socket (an independent implementation) against it.
Certificates come from ``tls_support`` (the openssl command)."""

import json
import logging
import socket
import ssl
import subprocess
import threading
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from reactor.framing import JsonStreamDecoder
from reactor.loop import EventLoop
from reactor.tcp import listen
from reactor.tls import TLSLayer, client_context, connect_tls, describe_failure, server_context

from tls_support import certs  # noqa: F401  (the fixture)

TIMEOUT = 5.0


class Recorder:
    """An application protocol that keeps what arrives."""

    def __init__(self, greeting=None, close_at_once=False):
        self.transport = None
        self.data = bytearray()
        self.lost = None
        self.gone = False
        self.eof = False
        self.greeting = greeting
        self.close_at_once = close_at_once

    def connection_made(self, transport):
        self.transport = transport
        if self.greeting:
            transport.write(self.greeting)
        if self.close_at_once:
            transport.close()

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.eof = True

    def connection_lost(self, exc):
        self.gone = True
        self.lost = exc


def run_until(loop, done, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached in time"
        loop.run_once()


class Server:
    """A TLS listener on a loop; ``accepted`` holds each connection's Recorder."""

    def __init__(self, loop, certs, cert=None, key=None, make=Recorder, **layer_options):
        self.loop = loop
        self.accepted = []
        context = server_context(cert or certs.cert, key or certs.key)

        def factory(_address):
            app = make()
            self.accepted.append(app)
            return TLSLayer(loop, context, app, server_side=True, **layer_options)
        self.listener = listen(loop, "127.0.0.1", 0, factory)
        self.port = self.listener.address[1]


def connect(loop, port, certs, app, host="127.0.0.1", cafile=None):
    errors = []
    connect_tls(loop, host, port, app, errors.append, client_context(cafile or certs.ca))
    return errors


def test_our_client_and_our_server_talk_both_ways(certs):
    loop = EventLoop()
    server = Server(loop, certs, make=lambda: Recorder(greeting=b"hello\n"))
    app = Recorder()
    errors = connect(loop, server.port, certs, app)
    run_until(loop, lambda: app.data == b"hello\n")
    assert errors == [] and app.transport.secure
    app.transport.write(b"one ")
    app.transport.write(b"two\n")
    run_until(loop, lambda: server.accepted[0].data == b"one two\n")
    app.transport.close()
    run_until(loop, lambda: server.accepted[0].gone and app.gone)
    assert server.accepted[0].lost is None
    loop.close()


def test_a_refusal_written_before_the_handshake_still_arrives(certs):
    loop = EventLoop()
    server = Server(loop, certs, make=lambda: Recorder(greeting=b"server full\n",
                                                         close_at_once=True))
    app = Recorder()
    connect(loop, server.port, certs, app)
    run_until(loop, lambda: app.gone)
    assert app.data == b"server full\n"
    loop.close()


def _failure(certs, cert, key, host="127.0.0.1", cafile=None):
    loop = EventLoop()
    server = Server(loop, certs, cert, key)
    app = Recorder()
    errors = connect(loop, server.port, certs, app, host=host, cafile=cafile)
    run_until(loop, lambda: errors and server.accepted and server.accepted[0].gone)
    assert app.transport is None   # never told of a connection
    loop.close()
    return describe_failure(errors[0])


def test_our_client_refuses_an_expired_certificate(certs):
    assert "expired" in _failure(certs, certs.expired_cert, certs.expired_key)


def test_our_client_refuses_a_certificate_for_another_host(certs):
    assert "wrong host" in _failure(certs, certs.wrong_cert, certs.wrong_key)


def test_our_client_refuses_an_unknown_issuer(certs, tmp_path):
    other = tmp_path / "other.pem"   # a CA that did not sign the server's certificate
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(tmp_path / "other.key"), "-out", str(other), "-days", "1", "-subj",
                    "/CN=other"], check=True, capture_output=True)
    assert "unknown issuer" in _failure(certs, certs.cert, certs.key, cafile=str(other))


def _raw_peer_costs_one_connection(certs, caplog, behave, **layer_options):
    """A raw TCP peer that ``behave``s badly: its connection ends (the app
    is told), with a debug line, and the listener still serves a good client."""
    loop = EventLoop()
    server = Server(loop, certs, **layer_options)
    caplog.set_level(logging.DEBUG, logger="reactor.tls")
    sock = socket.create_connection(("127.0.0.1", server.port))
    behave(sock)
    run_until(loop, lambda: server.accepted and server.accepted[0].gone)
    sock.close()
    good = Recorder()
    connect(loop, server.port, certs, good)
    run_until(loop, lambda: good.transport is not None)
    good.transport.write(b"still here\n")
    run_until(loop, lambda: len(server.accepted) == 2 and server.accepted[1].data == b"still here\n")
    loop.close()
    return [r for r in caplog.records if r.name == "reactor.tls" and r.levelno == logging.DEBUG]


def test_a_stalled_handshake_meets_its_deadline(certs, caplog):
    lines = _raw_peer_costs_one_connection(certs, caplog, lambda sock: None,
                                           handshake_timeout=0.2)
    assert any("within 0.2 seconds" in r.getMessage() for r in lines)


def test_plaintext_json_on_the_tls_port_costs_one_connection(certs, caplog):
    def behave(sock):
        sock.sendall(b'{"request": "login", "content": "alice"}\n')
    lines = _raw_peer_costs_one_connection(certs, caplog, behave)
    assert any("handshake" in r.getMessage() for r in lines)


def test_a_handshake_over_the_size_bound_costs_one_connection(certs, caplog):
    def behave(sock):   # a record header announcing 16 KB, then its bytes
        sock.sendall(b"\x16\x03\x01\x40\x00" + b"\x01" * 3000)
    lines = _raw_peer_costs_one_connection(certs, caplog, behave, max_handshake_bytes=1000)
    assert any("over 1000 bytes" in r.getMessage() for r in lines)


def _blocking_client(port, certs, script):
    """Python's blocking ssl socket in a thread: ``script(tls_sock)``."""
    result = {}

    def run():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            tls = ssl.create_default_context(cafile=certs.ca).wrap_socket(
                sock, server_hostname="localhost")
            result["value"] = script(tls)
        except Exception as exc:   # reported by the test, not lost in the thread
            result["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_close_without_close_notify_and_mid_record_are_plain_ends(certs):
    loop = EventLoop()
    server = Server(loop, certs)

    def script(tls):
        tls.sendall(b"whole\n")
        # no close_notify: close the TCP socket from under TLS
        socket.socket(fileno=tls.detach()).close()
    thread, result = _blocking_client(server.port, certs, script)
    run_until(loop, lambda: server.accepted and server.accepted[0].gone)
    thread.join(TIMEOUT)
    assert "error" not in result, result
    assert bytes(server.accepted[0].data) == b"whole\n"

    def half_record(tls):
        sock = socket.socket(fileno=tls.detach())
        sock.sendall(b"\x17\x03\x03\x00\x40" + b"x" * 10)   # 10 of 64 announced bytes
        sock.close()
    thread, result = _blocking_client(server.port, certs, half_record)
    run_until(loop, lambda: len(server.accepted) == 2 and server.accepted[1].gone)
    thread.join(TIMEOUT)
    assert server.accepted[1].data == b""
    loop.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="ab \u00e9\"\\{}", max_size=30), min_size=1, max_size=4),
       st.data())
def test_payloads_split_at_any_byte_across_records_arrive_whole_and_in_order(certs, texts, data):
    wire = b"".join(json.dumps({"request": "msg", "content": t}).encode() + b"\n" for t in texts)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(wire) - 1)), max_size=8))))
    pieces = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)]) if wire[a:b]]
    loop = EventLoop()
    server = Server(loop, certs)

    def script(tls):
        for piece in pieces:   # one sendall, one TLS record
            tls.sendall(piece)
        tls.unwrap()
    thread, result = _blocking_client(server.port, certs, script)
    run_until(loop, lambda: server.accepted and server.accepted[0].gone)
    thread.join(TIMEOUT)
    decoder = JsonStreamDecoder(1 << 20)
    got = decoder.feed(bytes(server.accepted[0].data))
    assert [v["content"] for v in got] == texts
    loop.close()
