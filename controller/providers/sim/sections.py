"""The CloudInventory spec's vocabulary, and a reader that collects located problems.

`SECTIONS` and `FIELDS` say what a spec may hold. A `Reader` walks one spec for
`controller.providers.sim.inventory`: each accessor checks one field's type, records
a problem located by the inventory file and the field's path
(`spec.servers[3].flavor`) when it is wrong, and returns a usable stand-in, so every
problem of the inventory is reported, not only the first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.errors import Problem

SECTIONS = ("flavors", "vpcs", "subnets", "securityGroups", "eips", "servers", "interfaces")
FIELDS: dict[str, frozenset[str]] = {
    "flavors": frozenset({"name", "maxInterfaces"}),
    "vpcs": frozenset({"name", "cidr"}),
    "subnets": frozenset({"name", "vpc", "cidr", "availabilityZone"}),
    "securityGroups": frozenset({"name", "vpc"}),
    "eips": frozenset({"name", "address"}),
    "servers": frozenset(
        {
            "name",
            "flavor",
            "availabilityZone",
            "vpc",
            "subnet",
            "status",
            "privateIp",
            "securityGroups",
            "primaryInterface",
            "eip",
        }
    ),
    "interfaces": frozenset(
        {
            "name",
            "subnet",
            "privateIp",
            "securityGroups",
            "server",
            "eip",
            "managed",
            "protect",
            "deleteOnTermination",
        }
    ),
}


@dataclass
class Reader:
    """Reads the fields of one spec, remembering every problem (`source` and the path)."""

    source: str
    problems: list[Problem] = field(default_factory=list)

    def problem(self, where: str, message: str, code: str = "InvalidInventory") -> None:
        self.problems.append(Problem(self.source, message, code=code, field=where))

    def entries(self, spec: Mapping[str, Any], section: str) -> list[tuple[str, dict[str, Any]]]:
        raw = spec.get(section) or []
        if not isinstance(raw, list):
            self.problem(f"spec.{section}", "must be a list")
            return []
        out = []
        for index, entry in enumerate(raw):
            where = f"spec.{section}[{index}]"
            if not isinstance(entry, dict):
                self.problem(where, "must be a mapping")
                continue
            for key in sorted(set(entry) - FIELDS[section], key=str):
                self.problem(f"{where}.{key}", "unknown field")
            out.append((where, entry))
        return out

    def text(self, entry: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
        value = entry.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            self.problem(f"{where}.{key}", "required" if value is None else "must be a string")
            return ""
        return value

    def names(self, entry: Mapping[str, Any], key: str, where: str) -> list[str]:
        value = entry.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{where}.{key}", "must be a list of names")
            return []
        return list(value)

    def flag(self, entry: Mapping[str, Any], key: str, where: str) -> bool:
        value = entry.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(f"{where}.{key}", "must be true or false")
            return False
        return value

    def network(self, text: str, where: str) -> ipaddress.IPv4Network | None:
        try:
            return ipaddress.IPv4Network(text, strict=True)
        except ValueError:
            self.problem(where, f"{text!r} is not an IPv4 CIDR block")
            return None

    def unique(self, seen: dict[str, str], name: str, where: str, kind: str) -> bool:
        if not name:
            return False
        if name in seen:
            self.problem(
                f"{where}.name",
                f"duplicate {kind} name {name!r} (also {seen[name]})",
                code="DuplicateName",
            )
            return False
        seen[name] = where
        return True
