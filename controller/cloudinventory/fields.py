"""The CloudInventory spec's vocabulary, located issues, and a reader that collects them.

`SECTIONS` and `FIELDS` say what a spec may hold (the JSON Schema
`schemas/cloudinventory.json` says the same for editors and `enictl validate`). A
`Reader` walks one spec: each accessor checks one field's type, records an `Issue`
located by the field's path (`("servers", 3, "flavor")`) when it is wrong, and returns
a usable stand-in, so every problem of the inventory is reported, not only the first.
A schema-valid spec never gives the reader cause to complain: only the consistency
checks (`checks`) then speak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECTIONS = (
    "flavors",
    "vpcs",
    "subnets",
    "securityGroups",
    "eips",
    "servers",
    "interfaces",
    "ports",
)
OWNERS = ("dhcp", "vip", "loadbalancer", "nat", "baremetal")  # of `ports` entries
FIELDS: dict[str, frozenset[str]] = {
    "flavors": frozenset({"name", "maxInterfaces", "bareMetal"}),
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
    "ports": frozenset({"subnet", "privateIp", "owner"}),
}
INVALID = "InvalidInventory"  # the code of a wrong shape (the schema's territory)

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem of an inventory: where inside the spec, what, and its code."""

    path: Path
    message: str
    code: str = INVALID

    @property
    def field(self) -> str:
        """The path as users read it: `spec.servers[3].flavor`."""
        out = "spec"
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out


@dataclass
class Reader:
    """Reads the fields of one spec, remembering every issue."""

    issues: list[Issue] = field(default_factory=list)

    def issue(self, path: Path, message: str, code: str = INVALID) -> None:
        self.issues.append(Issue(path, message, code))

    def spec(self, spec: object) -> Mapping[str, Any]:
        """The spec as a mapping (an empty one, with an issue, when it is not)."""
        if not isinstance(spec, Mapping):
            self.issue((), "the inventory's spec must be a mapping")
            return {}
        for key in sorted(set(spec) - set(SECTIONS), key=str):
            self.issue((str(key),), "unknown field")
        return spec

    def entries(self, spec: Mapping[str, Any], section: str) -> list[tuple[Path, dict[str, Any]]]:
        raw = spec.get(section) or []
        if not isinstance(raw, list):
            self.issue((section,), "must be a list")
            return []
        out = []
        for index, entry in enumerate(raw):
            where: Path = (section, index)
            if not isinstance(entry, dict):
                self.issue(where, "must be a mapping")
                continue
            for key in sorted(set(entry) - FIELDS[section], key=str):
                self.issue((*where, str(key)), "unknown field")
            out.append((where, entry))
        return out

    def text(
        self, entry: Mapping[str, Any], key: str, where: Path, *, required: bool = True
    ) -> str:
        value = entry.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            self.issue((*where, key), "required" if value is None else "must be a string")
            return ""
        return value

    def names(self, entry: Mapping[str, Any], key: str, where: Path) -> tuple[str, ...]:
        value = entry.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.issue((*where, key), "must be a list of names")
            return ()
        return tuple(value)

    def flag(self, entry: Mapping[str, Any], key: str, where: Path) -> bool:
        value = entry.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.issue((*where, key), "must be true or false")
            return False
        return value

    def count(self, entry: Mapping[str, Any], key: str, where: Path) -> int | None:
        """An optional integer >= 1 (None when absent)."""
        value = entry.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.issue((*where, key), "must be an integer >= 1")
            return None
        return value

    def unique(self, seen: dict[str, Path], name: str, where: Path, kind: str) -> bool:
        """Whether `name` is new among `seen` (a DuplicateName issue when it is not)."""
        if not name:
            return False
        if name in seen:
            first = Issue(seen[name], "").field
            self.issue((*where, "name"), f"{kind} '{name}' is also {first}", "DuplicateName")
            return False
        seen[name] = where
        return True
