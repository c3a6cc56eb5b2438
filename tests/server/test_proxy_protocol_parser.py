"""The PROXY header readers (``chat/server/proxy_protocol.py``), byte by
byte and whole, versions 1 and 2, and what they refuse."""

import ipaddress
import struct

import pytest

from chat.server.proxy_protocol import (V2_SIGNATURE, HeaderReader, ProxyError, Sniffer,
                                        is_trusted, parse_networks)


def v2(source, family=0x11, command=0x21, extra=b""):
    address = ipaddress.ip_address(source)
    dest = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
    body = address.packed + dest.packed + struct.pack("!HH", 40000, 9998) + extra
    return V2_SIGNATURE + struct.pack("!BBH", command, family, len(body)) + body


def feed_bytewise(reader, data):
    for i in range(len(data) - 1):
        assert reader.feed(data[i:i + 1]) is None
    return reader.feed(data[-1:])


@pytest.mark.parametrize("header, host", [
    (b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 9998\r\n", "203.0.113.7"),
    (b"PROXY TCP6 2001:db8::7 ::1 40000 9998\r\n", "2001:db8::7"),
    (b"PROXY UNKNOWN\r\n", None),
    (v2("203.0.113.7"), "203.0.113.7"),
    (v2("2001:db8::7", family=0x21), "2001:db8::7"),
    (v2("203.0.113.7", extra=b"\x04\x00\x01x"), "203.0.113.7"),    # a TLV, skipped
    (v2("203.0.113.7", command=0x20), None),                       # LOCAL: a health check
])
def test_headers_give_the_client_address_and_the_rest(header, host):
    rest = b'{"request": "help"}\n'
    assert HeaderReader().feed(header + rest) == (host, rest)
    assert feed_bytewise(HeaderReader(), header) == (host, b"")


@pytest.mark.parametrize("data", [
    b'{"request": "login", "content": "x"}\n',            # no header at all
    b"PROXY TCP4 203.0.113.7 127.0.0.1 40000\r\n",        # a field missing
    b"PROXY TCP4 2001:db8::7 127.0.0.1 40000 9998\r\n",   # the wrong family
    b"PROXY TCP4 203.0.113.999 127.0.0.1 1 2\r\n",
    b"PROXY TCP4 203.0.113.7 127.0.0.1 1 99999\r\n",
    b"PROXY " + b"x" * 120,                                # no end in 107 bytes
    V2_SIGNATURE + b"\x31\x11\x00\x0c" + b"\x00" * 12,    # version 3
    V2_SIGNATURE + b"\x21\x11\x10\x00",                   # 4096 bytes of addresses
    V2_SIGNATURE + b"\x21\x31\x00\x0c" + b"\x00" * 12,    # a UNIX socket family
])
def test_malformed_headers_are_refused(data):
    with pytest.raises(ProxyError):
        HeaderReader().feed(data)


def test_a_direct_client_may_not_claim_an_address():
    with pytest.raises(ProxyError):
        Sniffer().feed(b"PROXY TCP4 10.0.0.1 127.0.0.1 1 2\r\n")
    with pytest.raises(ProxyError):
        feed_bytewise(Sniffer(), v2("10.0.0.1"))
    data = b'{"request": "help"}\n'
    assert Sniffer().feed(data) == (None, data)
    sniffer = Sniffer()
    assert sniffer.feed(b"PRO") is None              # undecided
    assert sniffer.feed(b"BE") == (None, b"PROBE")   # not a header: garbage for the decoder


def test_trusted_networks():
    networks = parse_networks("127.0.0.0/8, ::1,10.1.0.0/16")
    assert is_trusted("127.0.0.9", networks) and is_trusted("::1", networks)
    assert is_trusted("::ffff:10.1.2.3", networks)
    assert not is_trusted("10.2.0.1", networks) and not is_trusted("?", networks)
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")
