"""The diff: per-resource changes with before/after, ownership, and reasons for no-ops."""

from __future__ import annotations

from controller.plan import Change, Mark, Marker, NoOp
from controller.planning import diff
from tests.builders import as_declared, declared, desired, eni, standard


def _noop(d: diff.Diff, resource: str) -> str:
    found = [n.reason for n in d.unchanged if n.resource == resource]
    assert len(found) == 1, d.unchanged
    return found[0]


def test_in_sync_interfaces_are_noops_with_a_reason() -> None:
    """An ENI exactly as declared has no delta and the no-op reason "in sync"."""
    obs = standard().server("web-1").eni("a", server="web-1", sgs=("sg-a",)).build()
    d = diff.diff(desired(obs, ["web-1"], as_declared(obs, "a")), obs)
    assert d.deltas == () and d.changes == ()
    assert _noop(d, "NetworkInterface/a") == "in sync"


def test_missing_private_ip_keeps_the_observed_address() -> None:
    """A manifest without privateIp keeps the ENI's current IP: not a change."""
    obs = standard().server("web-1").eni("a", server="web-1").build()
    d = diff.diff(desired(obs, ["web-1"], [eni("a", server="web-1")]), obs)
    assert d.deltas == ()
    assert d.target.interfaces["a"].private_ip == obs.interfaces["a"].private_ip


def test_security_group_order_does_not_matter() -> None:
    """[sg-a, sg-b] and [sg-b, sg-a] are the same groups."""
    obs = standard().server("web-1").eni("a", sgs=("sg-a", "sg-b")).build()
    d = diff.diff(desired(obs, ["web-1"], [eni("a", sgs=("sg-b", "sg-a"))]), obs)
    assert d.deltas == ()


def test_changed_fields_have_before_and_after() -> None:
    """Each differing field is one Change with the observed and the desired value."""
    obs = standard().server("web-1").server("web-2").eni("a", server="web-1", eip="eip-1").build()
    want = eni("a", server="web-2", sgs=("sg-b",), eip="eip-2")
    d = diff.diff(desired(obs, ["web-1", "web-2"], [want]), obs)
    assert [(c.field, c.before, c.after) for c in d.changes] == [
        ("securityGroups", (), ("sg-b",)),
        ("eip", "eip-1", "eip-2"),
        ("server", "web-1", "web-2"),
    ]
    assert [x.name for x in d.deltas] == ["a"] and d.deltas[0].moves


def test_new_interface_is_created_with_its_fields() -> None:
    """An undeclared-in-cloud ENI is a create: exists False->True, then its fields."""
    obs = standard().server("web-1").build()
    d = diff.diff(desired(obs, ["web-1"], [eni("n", server="web-1", eip="eip-1")]), obs)
    assert d.changes == (
        Change("NetworkInterface/n", "exists", False, True),
        Change("NetworkInterface/n", "subnet", None, "sn-a"),
        Change("NetworkInterface/n", "securityGroups", None, ()),
        Change("NetworkInterface/n", "eip", None, "eip-1"),
        Change("NetworkInterface/n", "server", None, "web-1"),
    )
    assert d.deltas[0].before is None and d.target.interfaces["n"].managed


def test_existing_interface_is_adopted_by_name() -> None:
    """An unmanaged ENI named by a manifest is adopted: managed False->True, no step."""
    obs = standard().server("web-1").eni("a", server="web-1", managed=False).build()
    d = diff.diff(desired(obs, ["web-1"], as_declared(obs, "a")), obs)
    assert d.changes == (Change("NetworkInterface/a", "managed", False, True),)
    assert d.deltas == () and d.marks == (Mark("a", Marker.MANAGED),)
    assert _noop(d, "NetworkInterface/a") == "in sync (adopted)"


def test_unmanaged_interfaces_are_left_alone_but_stay_in_the_target() -> None:
    """Unmanaged ENIs no manifest names are no-ops, never orphans, and still count."""
    obs = standard().server("web-1").eni("u", server="web-1", managed=False).build()
    d = diff.diff(desired(obs, ["web-1"]), obs, prune=True)
    assert _noop(d, "NetworkInterface/u") == "unmanaged, left alone"
    assert d.orphans == () and "u" in d.target.interfaces


def test_orphans_are_kept_without_prune() -> None:
    """A managed ENI no manifest mentions is an orphan, kept with a hint at --prune."""
    obs = standard().server("web-1").eni("old", server="web-1").build()
    d = diff.diff(desired(obs, ["web-1"]), obs)
    assert d.orphans == ("old",) and d.deltas == ()
    assert _noop(d, "NetworkInterface/old") == "orphan kept: run with --prune to delete"


def test_prune_deletes_orphans() -> None:
    """With prune, an orphan is a delta to nothing and leaves the target."""
    obs = standard().server("web-1").eni("old", server="web-1").build()
    d = diff.diff(desired(obs, ["web-1"]), obs, prune=True)
    assert d.orphans == ("old",)
    assert [(x.name, x.after) for x in d.deltas] == [("old", None)]
    assert d.changes == (Change("NetworkInterface/old", "exists", True, False),)
    assert "old" not in d.target.interfaces


def test_protected_orphans_are_never_deleted() -> None:
    """An orphan whose cloud state says protect stays, even with prune."""
    obs = standard().server("web-1").eni("old", protect=True).build()
    d = diff.diff(desired(obs, ["web-1"]), obs, prune=True)
    assert d.deltas == () and d.protected_orphans == ("old",) and "old" in d.protected
    assert "protect" in _noop(d, "NetworkInterface/old")


def test_declared_protect_is_remembered() -> None:
    """protect: true in a manifest marks the ENI as never to be deleted."""
    obs = standard().server("web-1").build()
    d = diff.diff(desired(obs, ["web-1"], [eni("a", protect=True)]), obs)
    assert d.protected == frozenset({"a"})


def test_server_security_groups_update_the_primary_interface() -> None:
    """A Server's securityGroups are a change of its primary ENI's groups."""
    obs = standard().server("web-1", sgs=("sg-a",)).build()
    d = diff.diff(desired(obs, [declared(obs, "web-1", security_groups=("sg-b",))]), obs)
    assert d.changes == (Change("Server/web-1", "securityGroups", ("sg-a",), ("sg-b",)),)
    assert [x.name for x in d.deltas] == ["web-1-primary"]
    assert d.target.interfaces["web-1-primary"].primary


def test_servers_without_security_groups_leave_the_primary_alone() -> None:
    """A Server without securityGroups: its primary's groups are left alone."""
    obs = standard().server("web-1", sgs=("sg-a",)).build()
    d = diff.diff(desired(obs, ["web-1"]), obs)
    assert d.unchanged == (
        NoOp("Server/web-1", "in sync (primary security groups not declared, left alone)"),
    )


def test_primary_interfaces_are_never_orphans() -> None:
    """Primary ENIs are not extension ENIs: never orphans, never pruned."""
    obs = standard().server("web-1").build()
    assert diff.diff(desired(obs, []), obs, prune=True).deltas == ()


def test_noops_and_changes_are_sorted_by_resource() -> None:
    """Output order does not depend on dict order."""
    cloud = standard().server("web-1")
    for name in ("z", "m", "a"):
        cloud.eni(name, managed=False)
    d = diff.diff(desired(cloud.build(), ["web-1"]), cloud.build())
    resources = [n.resource for n in d.unchanged]
    assert resources == sorted(resources)


# -- the detail of a changed list or mapping field (deepdiff) ------------------------


def test_detail_of_security_groups_is_the_groups_added_and_removed() -> None:
    """A security-group change names the groups added and removed, order ignored."""
    swapped = Change("NetworkInterface/a", "securityGroups", ("sg-c", "sg-a"), ("sg-a", "sg-b"))
    grown = Change("NetworkInterface/b", "securityGroups", ["sg-a"], ["sg-b", "sg-a", "sg-c"])
    assert diff.details([swapped, grown]) == (
        diff.Detail(added=("sg-b",), removed=("sg-c",)),
        diff.Detail(added=("sg-b", "sg-c")),
    )


def test_detail_of_labels_is_the_keys_added_removed_and_changed() -> None:
    """A mapping change (labels) names the keys added, removed and whose value changed."""
    change = Change(
        "Server/web-1",
        "labels",
        {"role": "web", "env": "dev", "team": "a"},
        {"role": "db", "tier": "1", "team": "a", "zone": "x"},
    )
    nested = Change("Server/web-2", "labels", {"a": {"x": "1"}}, {"a": {"x": "2", "y": "3"}})
    assert diff.details([change, nested]) == (
        diff.Detail(added=("tier", "zone"), removed=("env",), changed=("role",)),
        diff.Detail(changed=("a",)),
    )


def test_scalar_creates_and_deletes_have_no_detail() -> None:
    """An EIP or server change, and a field of a created or deleted ENI, have no detail
    (before and after say it all), next to one that has."""
    changes = [
        Change("NetworkInterface/a", "eip", "eip-1", "eip-2"),
        Change("NetworkInterface/a", "server", None, "web-1"),
        Change("NetworkInterface/b", "securityGroups", None, ("sg-a",)),
        Change("NetworkInterface/b", "exists", True, False),
        Change("NetworkInterface/c", "securityGroups", ("sg-a",), ()),
    ]
    assert diff.details(changes) == (None, None, None, None, diff.Detail(removed=("sg-a",)))
    assert diff.details([]) == ()


def test_detail_of_unhashable_list_items_is_none() -> None:
    """A hand-edited saved plan with lists of mappings gets no detail, not an error."""
    change = Change("NetworkInterface/a", "securityGroups", [{"a": 1}], [{"b": 2}])
    assert diff.details([change]) == (None,)
