"""Label selectors as kubectl spells them: `-l role=web,tier!=db,env in (prod,stage),!legacy`.

`parse(text)` gives a `Selector` (or raises `UsageError` naming what is wrong); a
selector `matches(labels)` when every requirement holds:

| requirement | holds when |
|---|---|
| `key=value`, `key==value` | the label is there with that value |
| `key!=value` | the label is absent or has another value |
| `key in (a,b)` | the label is there with one of those values |
| `key notin (a,b)` | the label is absent or has none of those values |
| `key` / `!key` | the label is there / absent |

An empty selector matches everything. In the observed cloud, labels are the cloud's
tags on the resource (enictl's own markers left out); in manifests, `metadata.labels`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from controller.errors import UsageError


class Op(enum.StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    ABSENT = "!"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def holds(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op is Op.EXISTS:
            return value is not None
        if self.op is Op.ABSENT:
            return value is None
        if self.op in (Op.EQUALS, Op.IN):
            return value is not None and value in self.values
        return value is None or value not in self.values


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()
    text: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.holds(labels) for r in self.requirements)


EVERYTHING = Selector()
_KEY = r"[A-Za-z0-9]([A-Za-z0-9_./-]*[A-Za-z0-9])?"
_VALUE = r"[A-Za-z0-9_.-]*"
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)$")
_COMPARE = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_EXISTS = re.compile(rf"^(?P<not>!?)\s*(?P<key>{_KEY})$")


def parse(text: str) -> Selector:
    """The selector `text` (kubectl syntax); UsageError for anything else."""
    requirements = [_requirement(part.strip(), text) for part in _split(text) if part.strip()]
    return Selector(tuple(requirements), text)


def _split(text: str) -> list[str]:
    """Split at the commas that are not inside `( ... )`."""
    parts: list[str] = []
    depth, current = 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _requirement(part: str, text: str) -> Requirement:
    if found := _SET.match(part):
        values = tuple(v.strip() for v in found["values"].split(","))
        if not all(re.fullmatch(_VALUE, v) for v in values) or values == ("",):
            raise UsageError(f"invalid selector {text!r}: bad values in {part!r}")
        return Requirement(found["key"], Op.IN if found["op"] == "in" else Op.NOT_IN, values)
    if found := _COMPARE.match(part):
        op = Op.NOT_EQUALS if found["op"] == "!=" else Op.EQUALS
        return Requirement(found["key"], op, (found["value"],))
    if found := _EXISTS.match(part):
        return Requirement(found["key"], Op.ABSENT if found["not"] else Op.EXISTS)
    raise UsageError(
        f"invalid selector {text!r} at {part!r} (expected key=value, key!=value, "
        "key in (a,b), key notin (a,b), key or !key)"
    )
