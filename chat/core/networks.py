"""Address groups: the networks that every per-address limit counts.

Theory of operation
-------------------
An attacker owns a network, not an address: rotating through the
addresses of one IPv4 /24 or one IPv6 /64 costs nothing. So every limit
that protects accounts (failed logins, registrations) and the fair
hashing queue key on the *group* of the peer's address: its IPv4 /24 or
IPv6 /64 by default (both prefixes configurable), written as the
network's CIDR text, ``"203.0.113.0/24"``. All of loopback is one group,
``"loopback"``: every local user and a proxy on the same host share it
(the PROXY protocol gives such a proxy's clients their own address). An
IPv4-mapped IPv6 address is grouped as the IPv4 address it carries; a
string that is no address at all is its own group.
"""

import ipaddress

LOOPBACK = "loopback"


def _address(host):
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def is_loopback(host):
    """Whether ``host`` (an address string, maybe IPv4-mapped) is loopback."""
    address = _address(host)
    return address is not None and address.is_loopback


class AddressGroups:
    """``group(host)`` -> the group's name; cached, since thousands of
    connections share a few networks."""

    def __init__(self, ipv4_prefix=24, ipv6_prefix=64):
        if not (0 <= ipv4_prefix <= 32 and 0 <= ipv6_prefix <= 128):
            raise ValueError("prefix lengths: IPv4 0-32, IPv6 0-128")
        self.ipv4_prefix = ipv4_prefix
        self.ipv6_prefix = ipv6_prefix
        self._cache = {}

    def group(self, host):
        group = self._cache.get(host)
        if group is None:
            if len(self._cache) >= 4096:
                self._cache.clear()   # bounded; recomputing is cheap
            group = self._cache[host] = self._compute(host)
        return group

    def _compute(self, host):
        address = _address(host)
        if address is None:
            return str(host)
        if address.is_loopback:
            return LOOPBACK
        prefix = self.ipv4_prefix if address.version == 4 else self.ipv6_prefix
        return str(ipaddress.ip_network((address, prefix), strict=False))
