"""Owners: which manifest set manages an ENI (SPEC section 4).

Several teams, repositories or CI runners can manage ENIs in one cloud project, each
under its own owner name (`--owner NAME`, env `ENICTL_OWNER`, default `default`).
enictl's managed marker on a port names its owner, and each owner sees only its own
ENIs as orphans: `--prune` of one manifest set never deletes another's ENIs, and an
ENI another owner manages is never declared, adopted or changed here
(`OwnedElsewhere`).

On Huawei Cloud the marker is the VPC v3 port tag `enictl-managed`, whose value is
the owner. The value `true`, which enictl wrote before owners existed (and still
writes for the default owner, so that older versions keep reading it), is the owner
`default`. An owner name is therefore a valid tag value (letters, digits, `_`, `.`
and `-`; at most 43 characters, the shortest limit Huawei Cloud documents for a tag
value) and never `true` or `false`.
"""

from __future__ import annotations

import re

from controller.errors import UsageError, shorten
from controller.model import DEFAULT_OWNER

__all__ = ["DEFAULT_OWNER", "checked", "from_tag_value", "tag_value"]
LEGACY_TAG_VALUE = "true"  # `enictl-managed=true`: the default owner
MAX_LENGTH = 43
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,43}")
_RESERVED = frozenset({"true", "false"})


def checked(name: str) -> str:
    """`name` when it is a usable owner name; otherwise a `UsageError` saying why."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"--owner {shorten(name, 60)!r}: an owner is 1 to {MAX_LENGTH} letters, digits, "
            "'_', '.' or '-' (it is stored as a tag value on each ENI)"
        )
    if name.lower() in _RESERVED:
        raise UsageError(f"--owner {name!r} is reserved (the tag value of the owner 'default')")
    return name


def tag_value(owner: str) -> str:
    """The managed tag's value for `owner` (`true` for the default owner)."""
    return LEGACY_TAG_VALUE if owner == DEFAULT_OWNER else owner


def from_tag_value(value: object) -> str | None:
    """The owner a managed tag's value names; None for a value no enictl writes."""
    text = str(value)
    if text == LEGACY_TAG_VALUE:
        return DEFAULT_OWNER
    if text.lower() in _RESERVED or not _NAME.fullmatch(text):
        return None
    return text
