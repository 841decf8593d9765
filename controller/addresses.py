"""A subnet's IPv4 addresses: which belong to it, which the cloud reserves, which are free.

Huawei Cloud reserves a subnet's first two addresses (network, gateway) and its last
three (two system addresses and the broadcast address): `.0 .1 .253 .254 .255` in a
/24 (SPEC section 1; the VPC API reference: "the first and last three IP addresses of
each subnet are reserved by the system"). No ENI may take one. This module is the one
place that says so: the planner's rules (`IpOutOfSubnet`, `IpReserved`), the
CloudInventory checker and the simulated cloud's address pool all ask it.

Addresses are integers inside (`parse_ip`, `ip_text`) and dotted quads outside.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from functools import lru_cache

RESERVED_FIRST = 2  # the network address and the gateway
RESERVED_LAST = 3  # two system addresses and the broadcast address


class Place(enum.StrEnum):
    """Where an address stands in a subnet."""

    USABLE = "usable"
    RESERVED = "reserved"
    OUTSIDE = "outside"  # not in the CIDR, or not an IPv4 address at all


class Pool:
    """The addresses of one IPv4 subnet; `first` and `last` bound the usable ones."""

    __slots__ = ("_end", "_start", "first", "last", "network")

    def __init__(self, network: ipaddress.IPv4Network) -> None:
        self.network = network
        self._start = int(network.network_address)
        self._end = int(network.broadcast_address)
        self.first = self._start + RESERVED_FIRST
        self.last = self._end - RESERVED_LAST

    def place(self, address: int) -> Place:
        if not self._start <= address <= self._end:
            return Place.OUTSIDE
        if address < self.first or address > self.last:
            return Place.RESERVED
        return Place.USABLE

    def lowest_free(self, used: Iterable[int], start: int | None = None) -> int | None:
        """The lowest usable address not in `used` (ascending, no repeats), from `start` on."""
        candidate = self.first if start is None else max(start, self.first)
        for address in used:
            if address < candidate:
                continue
            if address > candidate:
                break
            candidate += 1
        return candidate if candidate <= self.last else None


def network(cidr: str) -> ipaddress.IPv4Network | None:
    """The IPv4 network `cidr` names (host bits must be zero), or None."""
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def pool(cidr: str) -> Pool | None:
    """The pool of a subnet's CIDR (host bits tolerated, as a cloud's listing may show
    them), or None when it is not an IPv4 network; cached, clouds have few subnets."""
    try:
        return Pool(ipaddress.IPv4Network(cidr, strict=False))
    except ValueError:
        return None


def place(ip: str, cidr: str) -> Place:
    """Where the dotted quad `ip` stands in subnet `cidr`."""
    found = pool(cidr)
    address = parse_ip(ip)
    if found is None or address is None:
        return Place.OUTSIDE
    return found.place(address)


def reserved_text(cidr: str) -> str:
    """The reserved addresses of `cidr`, for a message: `10.0.1.0, .1, .253, .254, .255`."""
    found = pool(cidr)
    if found is None:
        return cidr
    start, end = int(found.network.network_address), int(found.network.broadcast_address)
    numbers = [*range(start, min(start + RESERVED_FIRST, end + 1))]
    numbers += [n for n in range(max(end - RESERVED_LAST + 1, start), end + 1) if n not in numbers]
    texts = [ip_text(n) for n in numbers]
    prefix = texts[0].rsplit(".", 1)[0] + "."
    short = [texts[0]] + [t[len(prefix) - 1 :] if t.startswith(prefix) else t for t in texts[1:]]
    return ", ".join(short)


def parse_ip(text: object) -> int | None:
    """A dotted-quad IPv4 address as an integer, or None if `text` is not one (the same
    strictness as `ipaddress`: four decimal octets <= 255, no leading zeros)."""
    parts = str(text).split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3 or part[:1] == "0" != part:
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def ip_text(address: int) -> str:
    return ".".join(str(octet) for octet in address.to_bytes(4, "big"))


def unicast_problem(text: str) -> str | None:
    """Why `text` is not a usable unicast IPv4 address (an EIP's, a `format: ipv4`
    field's), or None."""
    address = parse_ip(text)
    if address is None:
        shown = repr(text) if len(repr(text)) <= 60 else repr(text)[:57] + "..."
        return f"{shown} is not an IPv4 address (like 10.0.1.15)"
    first = address >> 24
    if first == 0 or first == 127 or first >= 224:
        return f"{text} is not a usable unicast address"
    return None
