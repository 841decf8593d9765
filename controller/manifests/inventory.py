"""Consistency checks and defaults for a schema-valid CloudInventory `spec`.

The schema says each entry is well formed; this module says the entries fit together
the way a real cloud would have them: every reference resolves, addresses lie in
their subnets and are used once, ENIs sit in their server's VPC and AZ, no server
carries more NICs than its flavor allows. Pure functions from the spec dict to
`SchemaIssue`s (a path inside the document, a message, a code), so the loader can
point at `file:line:col` of the offending field.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable
from typing import Any

from controller.manifests.schema import SchemaIssue, ipv4_problem

LISTS = ("flavors", "vpcs", "subnets", "securityGroups", "eips", "servers", "interfaces")
_DEFAULTS: dict[str, dict[str, Any]] = {
    "servers": {"status": "ACTIVE", "securityGroups": []},
    "interfaces": {
        "securityGroups": [],
        "server": None,
        "eip": None,
        "managed": False,
        "protect": False,
        "deleteOnTermination": False,
    },
}


def with_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of `spec` with every list present and every optional field filled in.

    Servers get `status: ACTIVE`, `securityGroups: []` and `primaryInterface:
    <name>-primary`; interfaces get `securityGroups: []`, `server`/`eip` None,
    `managed`, `protect` and `deleteOnTermination` false.
    """
    out = copy.deepcopy(spec)
    for name in LISTS:
        out.setdefault(name, [])
    for kind, defaults in _DEFAULTS.items():
        for item in out[kind]:
            for key, value in defaults.items():
                item.setdefault(key, copy.copy(value))
    for server in out["servers"]:
        server.setdefault("primaryInterface", f"{server['name']}-primary")
    return out


def check(spec: dict[str, Any]) -> list[SchemaIssue]:
    """Every inconsistency in a schema-valid inventory spec."""
    spec = with_defaults(spec)
    issues: list[SchemaIssue] = []
    for name in LISTS:
        issues.extend(_duplicate_names(spec, name))
    index: dict[str, dict[str, Any]] = {name: {} for name in LISTS}
    for name in LISTS:  # the first of duplicate names counts (the others are reported)
        for item in spec[name]:
            index[name].setdefault(item["name"], item)
    issues.extend(_networks(spec, index))
    issues.extend(_servers(spec, index))
    issues.extend(_interfaces(spec, index))
    issues.extend(_eips(spec, index))
    issues.extend(_addresses(spec, index))
    return issues


def _issue(path: tuple[str | int, ...], code: str, message: str) -> SchemaIssue:
    return SchemaIssue(path, message, "value", code)


def _duplicate_names(spec: dict[str, Any], name: str) -> Iterable[SchemaIssue]:
    seen: dict[str, int] = {}
    if name == "interfaces":  # primary ENIs share the name space of extension ENIs
        seen = {s["primaryInterface"]: -1 for s in spec["servers"]}
    for i, item in enumerate(spec[name]):
        first = seen.setdefault(item["name"], i)
        if first != i:
            where = "a server's primary interface" if first < 0 else f"{name}[{first}]"
            yield _issue((name, i, "name"), "DuplicateName", f"'{item['name']}' is also {where}")


def _network(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return None


def _networks(spec: dict[str, Any], index: dict[str, Any]) -> Iterable[SchemaIssue]:
    for i, vpc in enumerate(spec["vpcs"]):
        if _network(vpc["cidr"]) is None:
            yield _issue(("vpcs", i, "cidr"), "InvalidCidr", _bad_cidr(vpc["cidr"]))
    taken: list[tuple[str, str, ipaddress.IPv4Network]] = []
    for i, subnet in enumerate(spec["subnets"]):
        vpc = index["vpcs"].get(subnet["vpc"])
        if vpc is None:
            yield _unknown(("subnets", i, "vpc"), "UnknownVpc", "VPC", subnet["vpc"])
        net = _network(subnet["cidr"])
        if net is None:
            yield _issue(("subnets", i, "cidr"), "InvalidCidr", _bad_cidr(subnet["cidr"]))
            continue
        outer = _network(vpc["cidr"]) if vpc is not None else None
        if outer is not None and not net.subnet_of(outer):
            message = f"{net} is not inside {vpc['name']} ({outer})"
            yield _issue(("subnets", i, "cidr"), "InvalidCidr", message)
        for other_vpc, other_name, other in taken:
            if other_vpc == subnet["vpc"] and net.overlaps(other):
                message = f"{net} overlaps subnet {other_name} ({other})"
                yield _issue(("subnets", i, "cidr"), "InvalidCidr", message)
        taken.append((subnet["vpc"], subnet["name"], net))
    for i, group in enumerate(spec["securityGroups"]):
        if group["vpc"] not in index["vpcs"]:
            yield _unknown(("securityGroups", i, "vpc"), "UnknownVpc", "VPC", group["vpc"])


def _bad_cidr(cidr: str) -> str:
    return f"'{cidr}' is not an IPv4 network in CIDR notation (like 10.0.0.0/16, host bits zero)"


def _unknown(path: tuple[str | int, ...], code: str, what: str, name: str) -> SchemaIssue:
    return _issue(path, code, f"{what} '{name}' is not in the inventory")


def _placement(
    path: tuple[str | int, ...], item: dict[str, Any], index: dict[str, Any], vpc: str, az: str
) -> Iterable[SchemaIssue]:
    """An ENI's (or primary's) subnet, security groups: present, and in `vpc` / `az`."""
    subnet = index["subnets"].get(item["subnet"])
    if subnet is None:
        yield _unknown((*path, "subnet"), "UnknownSubnet", "subnet", item["subnet"])
    elif subnet["vpc"] != vpc:
        message = f"subnet {subnet['name']} is in {subnet['vpc']}, the server in {vpc}"
        yield _issue((*path, "subnet"), "VpcMismatch", message)
    elif subnet["availabilityZone"] != az:
        message = f"subnet {subnet['name']} is in {subnet['availabilityZone']}, the server in {az}"
        yield _issue((*path, "subnet"), "AvailabilityZoneMismatch", message)
    for j, name in enumerate(item["securityGroups"]):
        group = index["securityGroups"].get(name)
        where = (*path, "securityGroups", j)
        if group is None:
            yield _unknown(where, "UnknownSecurityGroup", "security group", name)
        elif group["vpc"] != vpc:
            message = f"security group {name} belongs to {group['vpc']}, not {vpc}"
            yield _issue(where, "SecurityGroupVpcMismatch", message)


def _servers(spec: dict[str, Any], index: dict[str, Any]) -> Iterable[SchemaIssue]:
    for i, server in enumerate(spec["servers"]):
        path: tuple[str | int, ...] = ("servers", i)
        if server["flavor"] not in index["flavors"]:
            yield _unknown((*path, "flavor"), "UnknownFlavor", "flavor", server["flavor"])
        if server["vpc"] not in index["vpcs"]:
            yield _unknown((*path, "vpc"), "UnknownVpc", "VPC", server["vpc"])
            continue
        yield from _placement(path, server, index, server["vpc"], server["availabilityZone"])


def _eips(spec: dict[str, Any], index: dict[str, Any]) -> Iterable[SchemaIssue]:
    """EIPs named by servers (bound to the primary ENI) and interfaces: known, bound once."""
    bound: dict[str, str] = {}
    holders = [("servers", i, s) for i, s in enumerate(spec["servers"])]
    holders += [("interfaces", i, s) for i, s in enumerate(spec["interfaces"])]
    for kind, i, item in holders:
        eip = item.get("eip")
        if not eip:
            continue
        where = (kind, i, "eip")
        if eip not in index["eips"]:
            yield _unknown(where, "UnknownEip", "EIP", eip)
        elif bound.setdefault(eip, f"{kind}[{i}]") != f"{kind}[{i}]":
            yield _issue(where, "EipInUse", f"EIP {eip} is already bound to {bound[eip]}")


def _interfaces(spec: dict[str, Any], index: dict[str, Any]) -> Iterable[SchemaIssue]:
    attached = {name: 1 for name in index["servers"]}  # the primary ENI
    for i, iface in enumerate(spec["interfaces"]):
        path: tuple[str | int, ...] = ("interfaces", i)
        server = index["servers"].get(iface["server"]) if iface["server"] else None
        if iface["server"] and server is None:
            yield _unknown((*path, "server"), "UnknownServer", "server", iface["server"])
        subnet = index["subnets"].get(iface["subnet"])
        if server is not None and server["vpc"] in index["vpcs"]:
            yield from _placement(path, iface, index, server["vpc"], server["availabilityZone"])
        elif subnet is not None:
            yield from _placement(path, iface, index, subnet["vpc"], subnet["availabilityZone"])
        else:
            yield _unknown((*path, "subnet"), "UnknownSubnet", "subnet", iface["subnet"])
        if server is not None:
            attached[server["name"]] += 1
            flavor = index["flavors"].get(server["flavor"])
            if flavor is not None and attached[server["name"]] > flavor["maxInterfaces"]:
                message = (
                    f"{server['name']} ({flavor['name']}, max {flavor['maxInterfaces']} NICs) "
                    f"would carry {attached[server['name']]}"
                )
                yield _issue((*path, "server"), "FlavorLimitExceeded", message)


def _addresses(spec: dict[str, Any], index: dict[str, Any]) -> Iterable[SchemaIssue]:
    used: dict[tuple[str, str], str] = {}
    holders = [("servers", i, s) for i, s in enumerate(spec["servers"])]
    holders += [("interfaces", i, s) for i, s in enumerate(spec["interfaces"])]
    for kind, i, item in holders:
        where = (kind, i, "privateIp")
        address = item.get("privateIp")
        if address is None:
            continue  # the simulator picks the lowest free address
        problem = ipv4_problem(address)
        if problem is not None:
            yield _issue(where, "InvalidIp", problem)
            continue
        subnet = index["subnets"].get(item["subnet"])
        net = _network(subnet["cidr"]) if subnet is not None else None
        if net is not None:
            ip = ipaddress.IPv4Address(address)
            if ip not in net or ip in (net.network_address, net.broadcast_address):
                message = f"{address} is not a host address of {item['subnet']} ({net})"
                yield _issue(where, "IpOutOfSubnet", message)
                continue
        key = (subnet["vpc"] if subnet is not None else "", address)
        if key in used:
            yield _issue(where, "IpInUse", f"{address} is already used by {used[key]}")
        else:
            used[key] = item["name"]
    seen: dict[str, str] = {}
    for i, eip in enumerate(spec["eips"]):
        problem = ipv4_problem(eip["address"])
        if problem is not None:
            yield _issue(("eips", i, "address"), "InvalidIp", problem)
        elif seen.setdefault(eip["address"], eip["name"]) != eip["name"]:
            message = f"{eip['address']} is already the address of {seen[eip['address']]}"
            yield _issue(("eips", i, "address"), "IpInUse", message)
