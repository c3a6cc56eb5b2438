"""The PROXY protocol, versions 1 and 2: a client's real address from the
proxy in front of the server (HAProxy, nginx ``stream``).

Theory of operation
-------------------
With ``--proxy-protocol``, a connection from an address in
``--trusted-proxies`` must begin with a PROXY header, which a
``HeaderReader`` consumes before the first request: version 1 is one
text line, ``PROXY TCP4 <src> <dst> <sport> <dport>\\r\\n`` (at most 107
bytes); version 2 is a 16-byte binary header (a 12-byte signature,
version/command, family, length) and the addresses. ``feed`` returns None
while the header is incomplete, then ``(host, rest)``: the client's
address (None for ``UNKNOWN`` and ``LOCAL``: a health check of the proxy
itself, which keeps the proxy's address) and the bytes after the header,
which are the client's first requests. Anything else raises
``ProxyError`` and the glue closes the connection with a log line.

A connection from any other address is a direct client; it may not claim
an address: one that begins like a PROXY header (``PROXY `` or the
version 2 signature) is refused (``Sniffer``), so a client cannot pretend
to be a proxy. The address a header gives is the one every limit, ban and
log line uses.
"""

import ipaddress
import struct

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107
V2_MAX_ADDRESSES = 512   # addresses and TLVs a header may carry (HAProxy sends far less)


class ProxyError(Exception):
    """A malformed, unsupported or unwanted PROXY header."""


def parse_networks(text):
    """``"127.0.0.0/8,::1"`` -> a tuple of networks; ValueError if malformed."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in text.split(",") if part.strip())


def is_trusted(host, networks):
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address.version == net.version and address in net for net in networks)


class HeaderReader:
    """Consumes one PROXY header (v1 or v2) from a trusted proxy."""

    def __init__(self):
        self._buffer = b""

    def feed(self, data):
        buffer = self._buffer = self._buffer + data
        if buffer[:len(V2_SIGNATURE)] == V2_SIGNATURE[:len(buffer)]:
            return self._v2(buffer) if len(buffer) >= 16 else None
        if buffer[:len(V1_PREFIX)] == V1_PREFIX[:len(buffer)]:
            return self._v1(buffer) if len(buffer) >= len(V1_PREFIX) else None
        raise ProxyError("no PROXY header from a trusted proxy")

    def _v1(self, buffer):
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) >= V1_MAX:
                raise ProxyError("PROXY v1 header longer than %d bytes" % V1_MAX)
            return None
        if end + 2 > V1_MAX:
            raise ProxyError("PROXY v1 header longer than %d bytes" % V1_MAX)
        fields = buffer[:end].split(b" ")
        rest = buffer[end + 2:]
        if fields[1:2] == [b"UNKNOWN"]:
            return None, rest
        if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
            raise ProxyError("malformed PROXY v1 header")
        try:
            source = ipaddress.ip_address(fields[2].decode("ascii"))
            ipaddress.ip_address(fields[3].decode("ascii"))
            ports = [int(port) for port in fields[4:6]]
        except (ValueError, UnicodeDecodeError):
            raise ProxyError("malformed PROXY v1 addresses") from None
        if source.version != (4 if fields[1] == b"TCP4" else 6) or \
                not all(0 <= port <= 65535 for port in ports):
            raise ProxyError("malformed PROXY v1 addresses")
        return str(source), rest

    def _v2(self, buffer):
        version_command, family, length = struct.unpack("!BBH", buffer[12:16])
        if version_command >> 4 != 2 or version_command & 0xF not in (0, 1):
            raise ProxyError("unsupported PROXY v2 version or command")
        if length > V2_MAX_ADDRESSES:
            raise ProxyError("PROXY v2 header too long (%d bytes of addresses)" % length)
        if len(buffer) < 16 + length:
            return None
        body, rest = buffer[16:16 + length], buffer[16 + length:]
        if version_command & 0xF == 0:   # LOCAL: the proxy's own connection
            return None, rest
        if family == 0x11 and length >= 12:
            return str(ipaddress.IPv4Address(body[:4])), rest
        if family == 0x21 and length >= 36:
            return str(ipaddress.IPv6Address(body[:16])), rest
        if family == 0x00:
            return None, rest
        raise ProxyError("unsupported PROXY v2 address family 0x%02x" % family)


class Sniffer:
    """Passes a direct client's bytes through, unless they begin like a
    PROXY header: an untrusted peer may not claim an address."""

    def __init__(self):
        self._buffer = b""

    def feed(self, data):
        buffer = self._buffer = self._buffer + data
        for prefix in (V1_PREFIX, V2_SIGNATURE):
            if buffer[:len(prefix)] == prefix[:len(buffer)]:
                if len(buffer) >= len(prefix):
                    raise ProxyError("a PROXY header from a peer that is not a trusted proxy")
                return None   # undecided: wait for more
        return None, buffer
