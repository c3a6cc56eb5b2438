"""reactor/http.py: request heads in, requests or one error out."""

import pytest
from hypothesis import given, strategies as st

from reactor.http import (MAX_HEAD, HttpError, RequestParser, response, valid_websocket_key,
                          websocket_accept)

GET = (b"GET /chat?x=1 HTTP/1.1\r\nHost: example.org\r\nUpgrade: websocket\r\n"
       b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       b"Sec-WebSocket-Version: 13\r\n\r\n")
PLAIN = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
HEAD_CLOSE = b"HEAD /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


def parse_in_pieces(data, cuts):
    parser = RequestParser()
    requests, start = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        requests += parser.feed(data[start:cut])
        start = cut
    return parser, requests


def test_a_request_and_its_headers():
    parser, [request] = parse_in_pieces(GET, [])
    assert (request.method, request.target, request.path) == ("GET", "/chat?x=1", "/chat")
    assert request.version == (1, 1) and request.keep_alive
    assert request.header("host") == "example.org"
    assert request.tokens("connection") == {"keep-alive", "upgrade"}
    assert request.header("missing") is None


@given(st.lists(st.integers(0, len(GET + PLAIN + HEAD_CLOSE)), max_size=12))
def test_any_split_gives_the_same_requests(cuts):
    data = PLAIN + HEAD_CLOSE + GET
    _, requests = parse_in_pieces(data, cuts)
    assert [(r.method, r.path, r.keep_alive) for r in requests] == [
        ("GET", "/", True), ("HEAD", "/metrics", False), ("GET", "/chat", True)]


def test_every_single_byte_split():
    data = PLAIN + GET
    for cut in range(len(data) + 1):
        _, requests = parse_in_pieces(data, [cut])
        assert len(requests) == 2


def test_bytes_after_an_upgrade_belong_to_the_next_protocol():
    parser = RequestParser()
    requests = parser.feed(GET + b"\x81\x85frame" + PLAIN)
    assert len(requests) == 1
    assert parser.take_rest() == b"\x81\x85frame" + PLAIN


def test_http_1_0_closes_unless_asked():
    parser = RequestParser()
    [closing, staying] = parser.feed(b"GET / HTTP/1.0\r\n\r\n"
                                     b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    assert not closing.keep_alive and staying.keep_alive


@pytest.mark.parametrize("data, status", [
    (b"POST / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\n\r\n", 400),                                  # no Host
    (b"GET /\r\nHost: a\r\n\r\n", 400),                                # no version
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),                      # two spaces
    (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),                        # no colon
    (b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 400),                      # space in a name
    (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),           # obsolete folding
    (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),                  # control character
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 70 + b"\r\n", 431),
])
def test_malformed_requests_get_their_status(data, status):
    parser = RequestParser()
    with pytest.raises(HttpError) as caught:
        parser.feed(data)
    assert caught.value.status == status
    with pytest.raises(HttpError):   # the stream cannot be trusted after
        parser.feed(PLAIN)


def test_a_head_without_end_is_bounded():
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(HttpError) as caught:
        for _ in range(MAX_HEAD // 10 + 2):
            parser.feed(b"X-Pad: 12\r\n")
    assert caught.value.status == 431
    assert parser.pending <= MAX_HEAD + 16


def test_a_request_line_without_end_is_bounded():
    parser = RequestParser()
    with pytest.raises(HttpError) as caught:
        for _ in range(1000):
            parser.feed(b"A" * 100)
    assert caught.value.status == 414


def test_requests_before_an_error_are_handed_out_first():
    parser = RequestParser()
    assert len(parser.feed(PLAIN + b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n")) == 1
    with pytest.raises(HttpError) as caught:
        parser.feed(b"")
    assert caught.value.status == 405


def test_response_encoding():
    assert response(200, [("Content-Type", "text/plain")], b"ok") == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
    assert response(200, [], b"ok", head_only=True).endswith(b"Content-Length: 2\r\n\r\n")
    assert b"Content-Length" not in response(101, [("Upgrade", "websocket")])


def test_websocket_accept_is_rfc_6455s_example():
    assert websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert not valid_websocket_key("c2hvcnQ=") and not valid_websocket_key("not base64!")
