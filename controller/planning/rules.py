"""The rules of SPEC section 2 over a desired state: every violation, not the first.

`check(desired, observed, diff)` checks the target of a diff (the desired state
applied to the observed cloud, i.e. the final state a plan must reach): references
resolve, declared servers match the cloud, placement and security groups (pins only
where the cloud has them), immutable fields, no existing ENI moved onto or off a BMS,
primary ENIs, addresses usable in their subnet (not reserved) and in use by no other
port (ENI or not), EIPs in use, flavor limits (unmanaged ENIs count; an attach where
no limit is known is refused), plus the plan-time warnings (`ServerNotReady`,
`ProtectedInterface`). Each
violation names the resource (`Server/web-1`, `NetworkInterface/eni-a`), the
manifest `source` (file:line:col, "" for a resource no manifest declares), a message
a person understands and a hint. The per-resource checks live in `invariants`, which
the plan simulator shares.

`DuplicateName` and `UnknownServer` are mostly caught by the manifest loader; the
functions here stay total (`duplicate_names` is also usable by the loader).
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.model import DEFAULT_OWNER, Catalog, NetworkInterface, Server, Topology
from controller.plan import DEFAULT_PRUNE_LIMIT, Code, Violation
from controller.planning.diff import Diff, eni_ref, server_ref
from controller.planning.invariants import (
    Where,
    address_key,
    bare_metal_move,
    did_you_mean,
    eip_in_use,
    flavor_limit,
    groups,
    ip_in_use,
    ip_usable,
    limit_of,
    ordered,
    placement,
    taken_addresses,
    unknown_limit,
    violation,
)


def source_of(value: Server | NetworkInterface | None) -> str:
    return "" if value is None or value.source is None else str(value.source)


def duplicate_names(entries: Iterable[tuple[str, str, str]]) -> list[Violation]:
    """DuplicateName for every (kind, name, source) whose kind and name came before."""
    first: dict[tuple[str, str], str] = {}
    out: list[Violation] = []
    for kind, name, source in entries:
        if (kind, name) not in first:
            first[(kind, name)] = source
            continue
        earlier = first[(kind, name)]
        out.append(
            violation(
                Code.DUPLICATE_NAME,
                f"{kind}/{name}",
                source,
                f"{kind} {name} is declared twice (first at {earlier or 'an unknown place'})",
                "names are unique per kind across all manifest files: rename or remove one",
            )
        )
    return out


# -- the desired state ---------------------------------------------------------------


def check(
    desired: Topology,
    observed: Topology,
    diff: Diff,
    *,
    prune_limit: int = DEFAULT_PRUNE_LIMIT,
    owner: str = DEFAULT_OWNER,
    gone: frozenset[str] = frozenset(),
) -> list[Violation]:
    """Every rule over the diff's target state (the desired state applied to the
    observed one), and the plan-time warnings; errors first, in a stable order. `gone`
    are declared servers the cloud no longer has that only failover ENIs name: for
    them a server that is gone is down, so it is a warning (SPEC 4a)."""
    out = pruning_brake(diff, prune_limit)
    out += owned_elsewhere(desired, observed, owner)
    out += _names(desired)
    out += _servers(desired, observed, gone)
    askers: list[str] = []
    unusable: set[str] = set()
    out += _interfaces(desired, observed, askers, unusable)
    out += _in_use(desired, observed, diff, askers, unusable)
    out += _limits(desired, observed, diff)
    out += _warnings(desired, observed, diff)
    return ordered(out)


def pruning_brake(diff: Diff, limit: int) -> list[Violation]:
    """PruneLimitExceeded when the plan would delete more than `limit` ENIs: the last
    brake when a manifest file is missing, empty or unread and --prune sees orphans."""
    doomed = [d.name for d in diff.deltas if d.after is None and d.before is not None]
    if len(doomed) <= limit:
        return []
    shown = ", ".join(doomed[:5]) + (f" and {len(doomed) - 5} more" if len(doomed) > 5 else "")
    return [
        violation(
            Code.PRUNE_LIMIT_EXCEEDED,
            "Plan/prune",
            None,
            f"the plan would delete {len(doomed)} ENIs ({shown}), more than --prune-limit {limit}",
            "check that no manifest file is missing, empty or unreadable; if these ENIs "
            f"must go, run again with --prune-limit {len(doomed)}",
        )
    ]


def owned_elsewhere(desired: Topology, observed: Topology, owner: str) -> list[Violation]:
    """OwnedElsewhere for each declared ENI that another owner manages: never
    declared, adopted or changed here, never taken over in silence."""
    out: list[Violation] = []
    seen = observed.interfaces
    for name, want in desired.interfaces.items():
        have = seen.get(name)
        other = None if have is None else have.managed_by
        if other is None or other == owner:
            continue
        out.append(
            violation(
                Code.OWNED_ELSEWHERE,
                eni_ref(name),
                want.source,
                f"{name} is managed by owner {other}; these manifests are owner {owner}'s",
                f"remove {name} from these manifests, or plan them with --owner {other} "
                f"if they are that owner's",
            )
        )
    return out


def _names(desired: Topology) -> list[Violation]:
    values: list[Server | NetworkInterface] = [*desired.servers.values()]
    values += desired.interfaces.values()
    clean = all(k == v.name for k, v in desired.servers.items()) and all(
        k == v.name for k, v in desired.interfaces.items()
    )
    if clean:  # keys are names and unique per kind: nothing can repeat
        return []
    kinds = ["Server"] * len(desired.servers) + ["NetworkInterface"] * len(desired.interfaces)
    return duplicate_names((k, v.name, source_of(v)) for k, v in zip(kinds, values, strict=True))


def _servers(desired: Topology, observed: Topology, gone: frozenset[str]) -> list[Violation]:
    cat = observed.catalog
    out: list[Violation] = []
    for name, want in desired.servers.items():
        have = observed.servers.get(name)
        if (
            have is not None
            and want.flavor == have.flavor
            and want.flavor in cat.flavors
            and want.availability_zone == have.availability_zone
            and want.vpc == have.vpc
            and want.subnet == have.subnet
            and want.subnet in cat.subnets
            and want.security_groups is None
        ):
            continue  # the usual case, in one test
        ref, src = server_ref(name), want.source
        if want.flavor not in cat.flavors:
            out.append(
                violation(
                    Code.UNKNOWN_FLAVOR,
                    ref,
                    src,
                    f"flavor {want.flavor} of {name} does not exist in the cloud",
                    did_you_mean(want.flavor, cat.flavors, "flavor"),
                )
            )
        if want.subnet not in cat.subnets:
            out.append(_unknown_subnet(ref, src, name, want.subnet, cat))
        if want.security_groups is not None:
            vpc = want.vpc if have is None else have.vpc
            owner = f"{name}'s primary ENI"
            out.extend(groups(ref, src, owner, want.security_groups, vpc, cat))
        if have is None and name in gone:
            out.append(
                violation(
                    Code.UNKNOWN_SERVER,
                    ref,
                    src,
                    f"server {name} is declared but does not exist in the cloud: its failover "
                    f"ENIs count it as down",
                    f"restore {name}, or remove it from the manifests (and from spec.server "
                    f"and spec.standbys) once its ENIs have moved",
                    warning=True,
                )
            )
            continue
        if have is None:
            out.append(
                violation(
                    Code.UNKNOWN_SERVER,
                    ref,
                    src,
                    f"server {name} is declared but does not exist in the cloud",
                    "enictl never creates servers: check the name, or create the server first",
                )
            )
            continue
        for field, mine, theirs in (
            ("flavor", want.flavor, have.flavor),
            ("availabilityZone", want.availability_zone, have.availability_zone),
            ("vpc", want.vpc, have.vpc),
            ("subnet", want.subnet, have.subnet),
        ):
            if mine != theirs:
                out.append(
                    violation(
                        Code.SERVER_MISMATCH,
                        ref,
                        src,
                        f"{name}'s {field} is {mine} in the manifest but {theirs} in the cloud",
                        f"enictl never changes servers: set spec.{field}: {theirs}",
                    )
                )
    return out


def _unknown_subnet(ref: str, src: Where, owner: str, subnet: str, cat: Catalog) -> Violation:
    return violation(
        Code.UNKNOWN_SUBNET,
        ref,
        src,
        f"subnet {subnet} of {owner} does not exist in the cloud",
        did_you_mean(subnet, cat.subnets, "subnet"),
    )


def _interfaces(
    desired: Topology, observed: Topology, askers: list[str], unusable: set[str]
) -> list[Violation]:
    """Per declared interface; also lists those that ask for an EIP or a new address,
    and those whose new address is not usable in its subnet."""
    cat, policy = observed.catalog, desired.policy
    subnets, known_eips, servers = cat.subnets, cat.eips, observed.servers
    declared, seen = desired.servers, observed.interfaces
    out: list[Violation] = []
    for name, want in desired.interfaces.items():
        src = want.source
        have = seen.get(name)
        subnet = subnets.get(want.subnet)
        if subnet is None:
            out.append(_unknown_subnet(eni_ref(name), src, name, want.subnet, cat))
        elif want.security_groups:
            out += groups(eni_ref(name), src, name, want.security_groups, subnet.vpc, cat)
        if want.eip is not None or (
            want.private_ip is not None and (have is None or have.private_ip != want.private_ip)
        ):
            askers.append(name)
        if want.eip is not None and want.eip not in known_eips:
            out.append(
                violation(
                    Code.UNKNOWN_EIP,
                    eni_ref(name),
                    src,
                    f"EIP {want.eip} of {name} does not exist in the cloud",
                    did_you_mean(want.eip, known_eips, "EIP"),
                )
            )
        if want.server is not None:
            if want.server not in declared:
                out.append(
                    violation(
                        Code.UNKNOWN_SERVER,
                        eni_ref(name),
                        src,
                        f"{name} names server {want.server}, which no Server manifest declares",
                        f"declare {want.server} with a Server manifest, or fix spec.server",
                    )
                )
            else:
                server = servers.get(want.server)
                if server is not None and subnet is not None:
                    out += placement(name, subnet, server, policy, src)
        if have is not None and want.server != have.server and not have.primary:
            moved = bare_metal_move(
                name,
                src,
                servers.get(have.server) if have.server else None,
                servers.get(want.server) if want.server else None,
            )
            if moved is not None:
                out.append(moved)
        if have is not None and (
            have.subnet != want.subnet
            or want.private_ip not in (None, have.private_ip)
            or (have.primary and want.server != have.server)
        ):
            out += _immutable(name, src, want, have)
        if (
            want.private_ip is not None
            and subnet is not None
            and (have is None or have.private_ip != want.private_ip or have.subnet != subnet.name)
        ):
            found = ip_usable(name, want.private_ip, subnet, src)
            if found is not None:
                out.append(found)
                unusable.add(name)
    return out


def _immutable(
    name: str, src: Where, want: NetworkInterface, have: NetworkInterface
) -> list[Violation]:
    ref = eni_ref(name)
    out: list[Violation] = []
    if have.primary and want.server != have.server:
        where = "detach it" if want.server is None else f"move it to {want.server}"
        out.append(
            violation(
                Code.PRIMARY_INTERFACE_IMMUTABLE,
                ref,
                src,
                f"{name} is the primary ENI of {have.server}; the manifest would {where}",
                f"a primary ENI is never detached, moved or deleted: set spec.server: "
                f"{have.server}, or remove this manifest (a Server's spec.securityGroups sets "
                f"its primary ENI's security groups)",
            )
        )
    for field, mine, theirs in (
        ("subnet", want.subnet, have.subnet),
        ("privateIp", want.private_ip, have.private_ip),
    ):
        if mine is not None and mine != theirs:
            out.append(
                violation(
                    Code.IMMUTABLE_FIELD,
                    ref,
                    src,
                    f"{name}'s {field} cannot change ({theirs} -> {mine}): replacing the ENI "
                    f"would lose its IP",
                    f"keep spec.{field}: {theirs}, or declare a new NetworkInterface under "
                    f"another name",
                )
            )
    return out


def _in_use(
    desired: Topology, observed: Topology, diff: Diff, askers: list[str], unusable: set[str]
) -> list[Violation]:
    """EipInUse and IpInUse in the target state, for the declared interfaces that ask for
    an EIP or for a usable address that is new to them (held by another interface or by
    one of the catalog's other ports); only those keys are indexed."""
    if not askers:
        return []
    cat, wanted, target = observed.catalog, desired.interfaces, diff.target.interfaces
    new_ip: dict[str, tuple[str, str] | None] = {}
    for name in askers:
        have = observed.interfaces.get(name)
        ip = wanted[name].private_ip
        if ip is not None and (have is None or have.private_ip != ip) and name not in unusable:
            new_ip[name] = address_key(target[name], cat)
    asked_eips = {wanted[n].eip for n in askers} - {None}
    asked_ips = {key[1] for key in new_ip.values() if key is not None}
    eips: dict[str, list[str]] = {}
    addresses: dict[tuple[str, str], list[str]] = {}
    for iface in target.values():
        if iface.eip is not None and iface.eip in asked_eips:
            eips.setdefault(iface.eip, []).append(iface.name)
        if iface.private_ip in asked_ips:
            key = address_key(iface, cat)
            if key is not None:
                addresses.setdefault(key, []).append(iface.name)
    ports = (
        {k: v for k, v in taken_addresses(cat).items() if k[1] in asked_ips} if asked_ips else {}
    )
    out: list[Violation] = []
    for name in askers:
        want = wanted[name]
        if want.eip is not None:
            for other in eips.get(want.eip, ()):
                if other != name:
                    holder = _describe(other, desired, observed, diff)
                    out.append(eip_in_use(name, want.source, want.eip, holder))
        key = new_ip.get(name)
        if key is None:
            continue
        for other in addresses.get(key, ()):
            if other != name:
                holder = _describe(other, desired, observed, diff)
                out.append(ip_in_use(name, want.source, key, holder))
        if key in ports:
            out.append(ip_in_use(name, want.source, key, ports[key]))
    return out


def _describe(name: str, desired: Topology, observed: Topology, diff: Diff) -> str:
    """How an interface that holds something is owned, for a message."""
    if name in desired.interfaces:
        return f"{name} (declared)"
    have = observed.interfaces[name]
    if have.primary:
        return f"{name} (primary ENI of {have.server}, left alone)"
    if not have.managed:
        return f"{name} (unmanaged, left alone)"
    if name in diff.protected_orphans:
        return f"{name} (orphan with protect set, kept)"
    return f"{name} (orphan, kept: run with --prune to delete it)"


def _limits(desired: Topology, observed: Topology, diff: Diff) -> list[Violation]:
    """FlavorLimitExceeded on every declared server and every server that gains an ENI;
    UnknownFlavor on a server an ENI would attach to when nothing tells its limit."""
    counts, cat = diff.target_counts, observed.catalog
    gaining = {d.after.server for d in diff.deltas if d.after is not None and d.after.server}
    out = _unknown_limits(desired, observed, diff)
    members: dict[str, list[str]] | None = None
    for name in gaining | desired.servers.keys():
        server = observed.servers.get(name)
        limit = None if server is None else limit_of(server, cat)
        count = counts.get(name, 0)
        if server is None or limit is None or count <= limit:
            continue
        if members is None:
            members = {}
            for iface in diff.target.interfaces.values():
                if iface.server is not None:
                    members.setdefault(iface.server, []).append(iface.name)
        on = sorted(members.get(name, ()))
        declared = desired.servers.get(name)
        found = flavor_limit(server, count, cat, declared.source if declared else None, on)
        if found is not None:
            out.append(found)
    return out


def _unknown_limits(desired: Topology, observed: Topology, diff: Diff) -> list[Violation]:
    attaching: dict[str, list[str]] = {}
    for d in diff.deltas:
        after = None if d.after is None else d.after.server
        if after is not None and (d.before is None or d.before.server != after):
            attaching.setdefault(after, []).append(d.name)
    out: list[Violation] = []
    for name, enis in attaching.items():
        server = observed.servers.get(name)
        if server is None or server.flavor not in observed.catalog.flavors:
            continue  # UnknownServer / UnknownFlavor already say so
        declared = desired.servers.get(name)
        found = unknown_limit(
            server, observed.catalog, declared.source if declared else None, sorted(enis)
        )
        if found is not None:
            out.append(found)
    return out


def _warnings(desired: Topology, observed: Topology, diff: Diff) -> list[Violation]:
    out: list[Violation] = []
    busy: set[str] = set()
    for delta in diff.deltas:
        before = None if delta.before is None else delta.before.server
        after = None if delta.after is None else delta.after.server
        if before != after:
            busy.update(s for s in (before, after) if s is not None)
    for name in sorted(busy):
        server = observed.servers.get(name)
        if server is None or server.ready:
            continue
        declared = desired.servers.get(name)
        out.append(
            violation(
                Code.SERVER_NOT_READY,
                server_ref(name),
                declared.source if declared else None,
                f"{name} is {server.status}: attach and detach need ACTIVE or SHUTOFF",
                "apply waits for the server to become ready, then fails the step",
                warning=True,
            )
        )
    for name in diff.protected_orphans:
        out.append(
            violation(
                Code.PROTECTED_INTERFACE,
                eni_ref(name),
                "",
                f"orphan {name} has protect set: --prune keeps it",
                "declare it with protect: false and apply to clear the marker, "
                "or delete it by hand",
                warning=True,
            )
        )
    return out
