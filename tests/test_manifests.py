"""`controller.manifests.loader`: files to the desired Topology, sources, digest, bad input."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import pytest
import yaml

from controller.errors import ManifestError, Problem
from controller.manifests import loader, yamlsource
from controller.model import (
    FailoverPolicy,
    Fence,
    NetworkInterface,
    PlacementPolicy,
    Server,
    Source,
    SubnetScope,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO_INVENTORY = "manifests/inventory/demo-cloud.yaml"

SERVER = """\
apiVersion: enictl/v1
kind: Server
metadata:
  name: {name}
spec: {{flavor: s6.large.2, availabilityZone: az1, vpc: vpc-prod, subnet: subnet-web}}
"""


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def problems_of(paths: list[str | Path]) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        loader.load(paths)
    return list(caught.value.problems)


def lines_of(paths: list[str | Path]) -> list[str]:
    return [p.line() for p in problems_of(paths)]


@pytest.mark.usefixtures("in_root")
def test_demo_topology() -> None:
    """The demo loads into the servers, interfaces and policy it declares."""
    loaded = loader.load(["manifests/demo"])
    topo = loaded.topology
    assert list(topo.servers) == ["app-1", "app-2", "gw-1"]
    assert topo.servers["app-1"] == Server(
        name="app-1",
        flavor="s6.large.2",
        availability_zone="az1",
        vpc="vpc-demo",
        subnet="subnet-app",
        security_groups=("sg-app",),
        labels={"role": "app", "story": "migration"},
        source=Source("manifests/demo/migration.yaml", 13, 3),
    )
    assert topo.servers["gw-1"].security_groups is None  # absent: left alone
    assert topo.interfaces["svc-eni"] == NetworkInterface(
        name="svc-eni",
        subnet="subnet-app",
        private_ip="10.0.1.100",
        security_groups=("sg-svc",),
        eip="eip-svc",
        server="app-1",
        protect=True,
        labels={"role": "service", "story": "migration"},
        source=Source("manifests/demo/migration.yaml", 37, 3),
        standbys=("app-2",),
        failover=FailoverPolicy(failback=False, hold_down_seconds=60.0, fence=Fence.NONE),
    )
    mgmt = topo.interfaces["gw-1-mgmt"]
    assert (mgmt.private_ip, mgmt.eip, mgmt.protect) == (None, None, True)
    assert topo.interfaces["gw-1-private"].protect is False
    assert str(topo.interfaces["gw-1-public"].source) == "manifests/demo/traffic.yaml:33:3"
    assert topo.policy == PlacementPolicy(
        SubnetScope.VPC, "demo", Source("manifests/demo/policy.yaml", 10, 3)
    )
    assert not topo.catalog.flavors
    assert loaded.files == (
        "manifests/demo/migration.yaml",
        "manifests/demo/policy.yaml",
        "manifests/demo/traffic.yaml",
    )


def test_default_policy_when_none_declared(tmp_path: Path) -> None:
    """Without a PlacementPolicy document the policy is the strict default."""
    (tmp_path / "s.yaml").write_text(SERVER.format(name="web-1"))
    policy = loader.load([tmp_path]).topology.policy
    assert policy == PlacementPolicy()
    assert policy.subnet_scope is SubnetScope.SERVER_SUBNET


@pytest.mark.usefixtures("in_root")
def test_digest_matches_digest_files_and_tracks_content(tmp_path: Path) -> None:
    """digest_files gives load's digest without parsing; any byte or name change moves it."""
    loaded = loader.load(["manifests/demo"])
    assert loaded.digest.startswith("sha256:") and len(loaded.digest) == 7 + 64
    assert loader.digest_files(["manifests/demo"]) == loaded.digest
    demo = [f"manifests/demo/{n}" for n in ("traffic.yaml", "policy.yaml", "migration.yaml")]
    assert loader.digest_files(demo) == loaded.digest  # argument order does not matter
    (tmp_path / "a.yaml").write_text(SERVER.format(name="web-1"))
    before = loader.digest_files([tmp_path])
    (tmp_path / "a.yaml").write_text(SERVER.format(name="web-1") + "\n")
    after = loader.digest_files([tmp_path])
    (tmp_path / "a.yaml").rename(tmp_path / "b.yaml")
    renamed = loader.digest_files([tmp_path])
    assert len({before, after, renamed}) == 3
    assert loader.load([tmp_path]).digest == renamed


def test_digest_files_reports_missing_paths(tmp_path: Path) -> None:
    """digest_files fails like load on a path that does not exist."""
    with pytest.raises(ManifestError) as caught:
        loader.digest_files([tmp_path / "gone"])
    assert [p.code for p in caught.value.problems] == ["PathNotFound"]


def test_discovery_is_recursive_sorted_and_skips_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folders are read recursively (*.yaml, *.yml), sorted, hidden entries and others skipped."""
    (tmp_path / "m" / "b" / "deep").mkdir(parents=True)
    (tmp_path / "m" / ".git").mkdir()
    (tmp_path / "m" / "z.yaml").write_text(SERVER.format(name="z"))
    (tmp_path / "m" / "b" / "deep" / "a.yml").write_text(SERVER.format(name="a"))
    (tmp_path / "m" / "b" / "notes.txt").write_text("- not: [yaml")
    (tmp_path / "m" / ".git" / "x.yaml").write_text("- not: [yaml")
    (tmp_path / "m" / ".hidden.yaml").write_text("- not: [yaml")
    (tmp_path / "extra.conf").write_text(SERVER.format(name="c"))
    monkeypatch.chdir(tmp_path)
    loaded = loader.load(["m/", "extra.conf", "m/z.yaml"])
    assert loaded.files == ("extra.conf", "m/b/deep/a.yml", "m/z.yaml")
    assert list(loaded.topology.servers) == ["c", "a", "z"]
    assert str(loaded.topology.servers["a"].source) == "m/b/deep/a.yml:4:3"


def test_empty_files_and_documents_are_fine(tmp_path: Path) -> None:
    """Empty files, comment-only files and empty documents hold zero resources, no error."""
    (tmp_path / "empty.yaml").write_bytes(b"")
    (tmp_path / "comments.yaml").write_text("# nothing here yet\n")
    (tmp_path / "docs.yaml").write_text("---\n---\n# c\n---\n" + SERVER.format(name="w") + "---\n")
    report = loader.validate([tmp_path])
    assert report.valid and report.resources == 1
    assert str(report.manifests.topology.servers["w"].source) == f"{tmp_path}/docs.yaml:8:3"  # type: ignore[union-attr]


def test_all_problems_in_one_error(tmp_path: Path) -> None:
    """ManifestError carries every problem of every file, sorted by file and position."""
    (tmp_path / "a.yaml").write_text("kind: [\n")
    (tmp_path / "b.yaml").write_text(SERVER.format(name="bad/name") + "---\nkind: Router\n")
    lines = lines_of([tmp_path])
    assert lines == [
        f"{tmp_path}/a.yaml:2:1: YamlSyntax: invalid YAML: did not find expected node content "
        "(while parsing a flow node)",
        f"{tmp_path}/b.yaml:4:9: SchemaViolation: Server/bad/name metadata.name: 'bad/name' is "
        "not a name as the cloud spells it: 1-64 letters, digits, '_', '-' and '.' "
        "(case-sensitive)",
        f"{tmp_path}/b.yaml:7:7: UnknownKind: Router kind: unknown kind 'Router' (expected one "
        "of Server, NetworkInterface, PlacementPolicy)",
    ]


def test_error_line_format(tmp_path: Path) -> None:
    """ManifestError prints `error: file:line:col: Code: Kind/name field: message` lines."""
    (tmp_path / "a.yaml").write_text(SERVER.format(name="w").replace("az1", "[az1]"))
    with pytest.raises(ManifestError) as caught:
        loader.load([tmp_path / "a.yaml"])
    assert caught.value.error_lines() == [
        f"error: {tmp_path}/a.yaml:5:46: SchemaViolation: Server/w spec.availabilityZone: "
        "expected a string, "
        "got a list"
    ]


def test_cloud_inventory_is_not_desired_state(in_root: None) -> None:
    """load() refuses a CloudInventory: it seeds the simulator, plan/apply never read it."""
    assert lines_of([DEMO_INVENTORY]) == [
        f"{DEMO_INVENTORY}:8:7: UnknownKind: CloudInventory/demo kind: a CloudInventory "
        "describes the simulated cloud: give it to `enictl sim init`, not to plan or apply"
    ]


def test_missing_path_empty_folder_and_no_paths(tmp_path: Path) -> None:
    """A missing path is PathNotFound, a folder without YAML and no paths are NoManifests."""
    (tmp_path / "empty").mkdir()
    problems = problems_of([tmp_path / "empty", tmp_path / "nope.yaml"])
    assert [(p.code, p.location) for p in problems] == [
        ("NoManifests", str(tmp_path / "empty")),
        ("PathNotFound", str(tmp_path / "nope.yaml")),
    ]
    assert [p.code for p in problems_of([])] == ["NoManifests"]


def test_non_utf8_bytes(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give InvalidEncoding at the first bad byte's line and column."""
    (tmp_path / "a.yaml").write_bytes(b"apiVersion: enictl/v1\nkind: S\xc3\xa9rver\nname: x\xff\n")
    assert lines_of([tmp_path / "a.yaml"]) == [
        f"{tmp_path}/a.yaml:3:8: InvalidEncoding: the file is not UTF-8 (byte 0xff); "
        "save it as UTF-8"
    ]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    """A UTF-8 byte order mark does not shift positions or break parsing."""
    (tmp_path / "a.yaml").write_bytes(b"\xef\xbb\xbf" + SERVER.format(name="w").encode())
    assert str(loader.load([tmp_path]).topology.servers["w"].source).endswith("a.yaml:4:3")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("apiVersion: enictl/v1\nkind: Ser\x00ver\n", "2:10"),
        ("apiVersion: enictl/v1\nkind: Ser\x07ver\n", "2:10"),
        ("kind: Server\n\tmetadata: {}\n", "2:1"),
        ("kind: Server\n  metadata: {}\n", "2:11"),
        ("a: " + "[" * 2000, "1:"),
    ],
    ids=["nul", "bell", "tab", "indent", "nesting"],
)
def test_yaml_syntax_errors_are_located(tmp_path: Path, text: str, where: str) -> None:
    """Control characters, tabs, bad indentation and deep nesting are YamlSyntax at a place."""
    (tmp_path / "a.yaml").write_text(text)
    (problem,) = problems_of([tmp_path / "a.yaml"])
    assert problem.code == "YamlSyntax"
    assert problem.location.startswith(f"{tmp_path}/a.yaml:{where}")


def test_syntax_error_keeps_documents_before_it(tmp_path: Path) -> None:
    """Documents before a syntax error are still checked; the error ends the file."""
    text = SERVER.format(name="bad name") + "---\nkind: [\n"
    (tmp_path / "a.yaml").write_text(text)
    assert [p.code for p in problems_of([tmp_path])] == ["SchemaViolation", "YamlSyntax"]


def test_unreadable_file(tmp_path: Path) -> None:
    """A file that cannot be read is a ReadError naming it; the other files are still read."""
    (tmp_path / "a.yaml").write_text(SERVER.format(name="bad name"))
    (tmp_path / "b.yaml").symlink_to(tmp_path / "gone.yaml")
    assert [(p.code, p.location, p.message) for p in problems_of([tmp_path])] == [
        ("ReadError", f"{tmp_path}/b.yaml",
         f"broken symlink: it points to {tmp_path}/gone.yaml, which does not exist"),
        ("SchemaViolation", f"{tmp_path}/a.yaml:4:9", problems_of([tmp_path])[1].message),
    ]  # fmt: skip


def test_folder_named_like_a_file_is_walked(tmp_path: Path) -> None:
    """A folder passed explicitly is walked even if its name ends in .yaml."""
    target = tmp_path / "a.yaml"
    target.mkdir()
    (target / "inner.txt").write_text("")
    problems = problems_of([target])
    assert [(p.code, p.location) for p in problems] == [("NoManifests", str(target))]


def test_load_inventory_demo(in_root: None) -> None:
    """load_inventory returns the cloud the demo describes, every default filled in."""
    cloud = loader.load_inventory(DEMO_INVENTORY)
    assert [f.max_interfaces for f in cloud.catalog.flavors.values()] == [3, 4]
    app1 = cloud.servers["app-1"]
    assert (app1.status, app1.security_groups) == ("ACTIVE", ("sg-app",))
    primary = cloud.interfaces["app-1-primary"]
    assert (primary.primary, primary.server, primary.private_ip) == (True, "app-1", "10.0.1.11")
    assert cloud.interfaces["legacy-monitor"] == NetworkInterface(
        name="legacy-monitor",
        subnet="subnet-app",
        private_ip="10.0.1.50",
        security_groups=("sg-app",),
        server="app-2",
    )


def test_load_inventory_defaults(tmp_path: Path) -> None:
    """Omitted lists are empty; optional fields get defaults; pins and limits stay open;
    an ENI without an address gets the subnet's lowest usable one."""
    (tmp_path / "c.yaml").write_text(
        "apiVersion: enictl/v1\nkind: CloudInventory\nmetadata: {name: c}\nspec:\n"
        "  flavors: [{name: f}]\n"
        "  vpcs: [{name: v, cidr: 10.0.0.0/16}]\n"
        "  subnets: [{name: s, vpc: v, cidr: 10.0.1.0/24}]\n"
        "  securityGroups: [{name: g}]\n"
        "  interfaces: [{name: e, subnet: s, securityGroups: [g]}]\n"
    )
    cloud = loader.load_inventory(tmp_path / "c.yaml")
    assert cloud.servers == {} and cloud.catalog.eips == {} and cloud.catalog.ports == ()
    assert cloud.catalog.flavors["f"].max_interfaces is None
    assert cloud.catalog.subnets["s"].availability_zone == ""
    assert cloud.catalog.security_groups["g"].vpc == ""
    assert cloud.interfaces["e"] == NetworkInterface(
        name="e", subnet="s", private_ip="10.0.1.2", security_groups=("g",)
    )


def test_load_inventory_errors(tmp_path: Path) -> None:
    """load_inventory locates problems and refuses other kinds, none or several inventories."""
    inv = "apiVersion: enictl/v1\nkind: CloudInventory\nmetadata: {name: %s}\nspec: {}\n"
    (tmp_path / "two.yaml").write_text(inv % "a" + "---\n" + inv % "b")
    (tmp_path / "server.yaml").write_text(SERVER.format(name="w"))
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "bad.yaml").write_text(
        inv.replace("spec: {}", "spec:\n  vpcs: [{name: v, cidr: 10.0.0.0/33}]") % "c"
    )

    def fails(name: str) -> list[str]:
        with pytest.raises(ManifestError) as caught:
            loader.load_inventory(tmp_path / name)
        return [p.line() for p in caught.value.problems]

    assert fails("two.yaml") == [
        f"{tmp_path}/two.yaml:8:12: DuplicateName: only one CloudInventory per file "
        f"(the first is at {tmp_path}/two.yaml:3:12)"
    ]
    assert fails("server.yaml") == [
        f"{tmp_path}/server.yaml:2:7: UnknownKind: Server/w kind: expected a CloudInventory "
        "here, not a Server"
    ]
    assert fails("empty.yaml") == [
        f"{tmp_path}/empty.yaml: NoManifests: no CloudInventory document"
    ]
    assert fails("bad.yaml") == [
        f"{tmp_path}/bad.yaml:5:26: InvalidCidr: CloudInventory/c spec.vpcs[0].cidr: "
        "'10.0.0.0/33' is not an IPv4 network in CIDR notation (like 10.0.0.0/16, host bits zero)"
    ]


def test_anchor_in_one_document_does_not_spoil_the_next(tmp_path: Path) -> None:
    """A refused document is reported; the other documents of the file are still read."""
    (tmp_path / "a.yaml").write_text(
        SERVER.format(name="w1").replace("spec:", "spec: &s") + "---\n" + SERVER.format(name="w2")
    )
    report = loader.validate([tmp_path])
    assert [p.code for p in report.problems] == ["UnsupportedYaml"]
    assert report.resources == 1


def test_pure_python_loader_gives_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libyaml the loader falls back to PyYAML's SafeLoader with the same locations."""
    case = ROOT / "tests" / "data" / "manifests" / "errors" / "wrong-types"
    expected = loader.validate([case]).problems
    monkeypatch.delattr(yaml, "CSafeLoader")
    try:
        importlib.reload(yamlsource)
        assert not issubclass(yamlsource._Loader, yaml.cyaml.CParser)
        assert loader.validate([case]).problems == expected
        assert loader.load([ROOT / "manifests" / "demo"]).topology.servers
    finally:
        monkeypatch.undo()
        importlib.reload(yamlsource)


def test_big_file_with_an_error_at_the_end(tmp_path: Path) -> None:
    """A 50 MB file (a long comment, then a mistake) is read and the mistake located."""
    comment = ("# " + "x" * 97 + "\n") * 500_000
    (tmp_path / "big.yaml").write_text(comment + SERVER.format(name="big name"))
    started = time.perf_counter()
    (problem,) = problems_of([tmp_path])
    assert time.perf_counter() - started < 60
    assert (problem.code, problem.location) == ("SchemaViolation", f"{tmp_path}/big.yaml:500004:9")


@pytest.mark.slow
def test_big_file_of_manifests(tmp_path: Path) -> None:
    """A 50 MB file of valid manifests (330,000 Servers) loads without trouble (slow)."""
    one = SERVER.replace("{name}", "web-{i}")
    text = "".join("---\n" + one.format(i=i) for i in range(330_000))
    assert len(text) > 50_000_000
    (tmp_path / "big.yaml").write_text(text)
    assert len(loader.load([tmp_path]).topology.servers) == 330_000
