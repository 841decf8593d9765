"""Hypothesis helpers shared by the schema and fuzz tests: random edits of documents."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NAMES = ["app-1", "app-2", "gw-1", "svc-eni", "10.0.1.7", "10.0.1.700", "vpc-demo", "Web_1"]

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.sampled_from(NAMES),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=5,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path below `node` (keys and list indexes), the root excluded."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(paths(value, (*prefix, i)))
    return out


def edit(draw: st.DrawFn, doc: Any, keep: tuple[tuple[Any, ...], ...] = ()) -> Any:
    """`doc` with one random edit in place (replace, delete or add at a random path).

    Paths in `keep` are left alone. Returns the document (a new value when `doc` has
    no path to edit).
    """
    candidates = [p for p in paths(doc) if p not in keep]
    if not candidates:
        return draw(VALUES)
    path = draw(st.sampled_from(candidates))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(VALUES)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(VALUES)
    else:
        parent.append(draw(VALUES))
    return doc
