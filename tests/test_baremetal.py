"""Bare-metal servers end to end: ENIs created on a BMS, changed there and pruned,
through both providers (the sim, and huaweicloud through `sim serve`); a crash in the
middle of a BMS attach never makes a second NIC; the simulated BMS API's refusals.

A BMS takes NICs only through its own API, which creates the port as it attaches it
(SPEC section 1): the plan has one attach for a new ENI there, and the executor then
names the port and tags it managed (`controller.execution.baremetal`).
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from controller.errors import ProviderError
from controller.execution import recovery
from controller.providers.base import NewInterface
from controller.providers.sim.cloud import SimCloud, init_cloud, open_cloud
from controller.storage import journal
from controller.storage.journal import Journal, NewPort
from tests.applyhelpers import Cli, cloud_log, rejected, spawn, wait_for
from tests.cloudfixtures import CloudProvider
from tests.fakeclock import FakeClock, patience

DATA = Path(__file__).parent / "data" / "bms"
SERVERS = """
apiVersion: enictl/v1
kind: Server
metadata: {name: web-1}
spec: {flavor: s6.large.2, availabilityZone: az1, vpc: vpc-prod, subnet: subnet-web}
---
apiVersion: enictl/v1
kind: Server
metadata: {name: bm-1}
spec: {flavor: physical.o2.medium, availabilityZone: az1, vpc: vpc-prod, subnet: subnet-web}
"""


def manifests(folder: Path, bms_eni: str | None, ecs_eni: bool = True) -> str:
    """The servers, an ECS ENI and (`bms_eni`: its spec lines) an ENI on bm-1."""
    folder.mkdir(parents=True, exist_ok=True)
    text = SERVERS
    if ecs_eni:
        text += textwrap.dedent("""
            ---
            apiVersion: enictl/v1
            kind: NetworkInterface
            metadata: {name: eni-web}
            spec: {subnet: subnet-web, server: web-1, securityGroups: [sg-web]}
            """)
    if bms_eni is not None:
        text += textwrap.dedent(f"""
            ---
            apiVersion: enictl/v1
            kind: NetworkInterface
            metadata: {{name: eni-bm}}
            spec: {{subnet: subnet-web, server: bm-1, {bms_eni}}}
            """)
    (folder / "all.yaml").write_text(text)
    return str(folder)


def nics_on(cli: Cli, server: str) -> list[str]:
    return sorted(n for n, i in cli.interfaces().items() if i["server"] == server)


def test_an_eni_lives_on_a_bms_from_create_to_prune(cli: Cli, tmp_path: Path) -> None:
    """A mixed ECS/BMS set applies and converges: an ENI is created on a BMS (declared
    IP, groups), its groups change and an EIP is bound there, then --prune removes it."""
    cli.init(DATA / "inventory.yaml")
    first = manifests(tmp_path / "m1", "privateIp: 10.0.1.50, securityGroups: [sg-web]")
    ran = cli("apply", first, "--yes")
    assert ran.code == 0, ran.err
    assert "The cloud matches the manifests." in ran.out and cli.in_sync(first)
    eni = cli.interfaces()["eni-bm"]
    assert (eni["server"], eni["privateIp"], eni["managed"]) == ("bm-1", "10.0.1.50", True)
    assert nics_on(cli, "bm-1") == ["bm-1-primary", "eni-bm"]

    second = manifests(tmp_path / "m2", "privateIp: 10.0.1.50, securityGroups: [sg-db], eip: eip-1")
    plan = cli("plan", second, "-o", "json")
    assert '"action": "update"' in plan.out and '"action": "bind-eip"' in plan.out
    assert cli("apply", second, "--yes").code == 0 and cli.in_sync(second)
    eni = cli.interfaces()["eni-bm"]
    assert (eni["securityGroups"], eni["eip"], eni["privateIp"]) == (
        ["sg-db"],
        "eip-1",
        "10.0.1.50",
    )

    third = manifests(tmp_path / "m3", None)
    ran = cli("apply", third, "--yes", "--prune")
    assert ran.code == 0, ran.err
    assert cli.in_sync(third, "--prune") and "eni-bm" not in cli.interfaces()
    assert nics_on(cli, "bm-1") == ["bm-1-primary"]
    assert rejected(cli.state) == []


def test_get_servers_shows_the_kind(cli: Cli) -> None:
    """`get servers` says which servers are ECSs and which BMSs, in its table and JSON."""
    cli.init(DATA / "inventory.yaml")
    ran = cli("get", "servers", "-o", "json")
    assert ran.code == 0, ran.err
    assert '"kind": "bms"' in ran.out and '"kind": "ecs"' in ran.out
    table = cli("get", "servers").out.splitlines()
    assert table[0].split()[:2] == ["NAME", "KIND"]
    assert {line.split()[0]: line.split()[1] for line in table[1:]} == {
        "bm-1": "bms",
        "bm-2": "bms",
        "web-1": "ecs",
    }


@pytest.mark.parametrize("provider", ["sim", "huaweicloud"])
def test_kill_9_during_a_bms_attach_never_makes_a_second_nic(
    provider: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sim_serve: object,
) -> None:
    """An apply killed while the BMS job that creates an ENI's port runs: the next apply
    claims that port (named, managed) and the BMS carries one NIC for the ENI, not two."""
    monkeypatch.setenv("ENICTL_RESUME_WAIT", "3")
    state = tmp_path / "state"
    cloud = CloudProvider(provider, sim_serve, monkeypatch)  # type: ignore[arg-type]
    cloud.use(state)
    cli = Cli(state, capsys)
    cli.init(DATA / "inventory.yaml")
    assert cli("sim", "faults", "--latency-ms", "400").code == 0
    wanted = manifests(tmp_path / "m", "securityGroups: [sg-web]", ecs_eni=False)
    victim = spawn(state, *cloud.argv(), "apply", wanted, "--yes")

    def submitted() -> bool:
        """The cloud took the BMS attach and the journal has its job id (the moment
        between the two is the dangling-call case, pinned by the recovery test below)."""
        took = any(
            e.operation == "attach_bare_metal" and e.result == "ok" for e in cloud_log(state)
        )
        return took and any(r.jobs for r in Journal.open(state).unfinished())

    wait_for(submitted, what="the BMS attach to be submitted and journalled")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert any(r.jobs for r in Journal.open(state).unfinished())  # it died mid-job
    ran = cli("apply", wanted, "--yes")
    assert ran.code == 0, (ran.out, ran.err)
    assert cli.in_sync(wanted)
    assert nics_on(cli, "bm-1") == ["bm-1-primary", "eni-bm"]
    adds = [e for e in cloud_log(state) if e.operation == "attach_bare_metal"]
    assert len(adds) == 1 and cli.interfaces()["eni-bm"]["managed"] is True
    assert rejected(state) == []


def test_a_dangling_bms_attach_is_claimed_by_recovery(tmp_path: Path) -> None:
    """A run that died between a BMS attach call and its job id: recovery waits for the NIC
    it may have made, finds it among the BMS's ports, names it and tags it managed."""
    cloud = init_cloud(tmp_path, _spec())
    try:
        seen = cloud.observe()
        server = seen.servers["bm-1"].id
        subnet = seen.catalog.subnets["subnet-web"].id
        before = tuple(i.id for i in seen.interfaces.values() if i.server == "bm-1")
        book = Journal.open(tmp_path)
        new = NewPort("eni-bm", subnet, "10.0.1.77", before)
        book.begin_run("sha256:p", steps=1).job_intent(1, "bms-attach", server, "", new)
        cloud.attach_bare_metal(server, NewInterface("", subnet, "10.0.1.77", ()))  # the dead run's
        found = recovery.recover(cloud, book, patience=patience(FakeClock()), settle=5.0)
        assert found is not None and found.intents == 1 and found.unsettled == 0
        eni = cloud.observe().interfaces["eni-bm"]
        assert (eni.server, eni.private_ip, eni.managed) == ("bm-1", "10.0.1.77", True)
        assert Journal.open(tmp_path).unfinished() == []
    finally:
        cloud.close()


def _spec() -> dict[str, object]:
    import yaml

    document = yaml.safe_load((DATA / "inventory.yaml").read_text())
    spec: dict[str, object] = document["spec"]
    return spec


@pytest.fixture
def bms_cloud(tmp_path: Path) -> SimCloud:
    cloud = init_cloud(tmp_path, _spec())
    return cloud


def _refusal(call: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_the_simulated_bms_api_refuses_as_the_cloud_does(bms_cloud: SimCloud) -> None:
    """The BMS API refuses with its own codes: a subnet of another VPC, a BMS that is not
    ACTIVE/SHUTOFF, an address in use, a NIC past baremetal:net_num; the ECS API does not
    know a BMS, and no existing port is ever attached to one."""
    seen = bms_cloud.observe()
    bm1, bm2 = seen.servers["bm-1"].id, seen.servers["bm-2"].id
    web, other = seen.catalog.subnets["subnet-web"].id, seen.catalog.subnets["subnet-other"].id
    new = NewInterface("", web)
    assert _refusal(lambda: bms_cloud.attach_bare_metal(bm1, NewInterface("", other))).code == (
        "BMS.0064"
    )
    assert _refusal(lambda: bms_cloud.attach_bare_metal(bm2, new)).code == "BMS.0100"
    taken = NewInterface("", web, "10.0.1.10")
    assert _refusal(lambda: bms_cloud.attach_bare_metal(bm1, taken)).code == "BMS.0010"
    port = bms_cloud.create_interface(NewInterface("spare", web))
    assert _refusal(lambda: bms_cloud.attach(bm1, port)).code == "Ecs.0114"
    assert _refusal(lambda: bms_cloud.detach(bm1, seen.interfaces["bm-1-primary"].id)).code == (
        "Ecs.0114"
    )
    assert _refusal(lambda: bms_cloud.force_attach("spare", "bm-1")).code == "BMS.0001"
    job = bms_cloud.attach_bare_metal(bm1, new)  # bm-1 takes 2 NICs: the primary and this
    assert _refusal(lambda: bms_cloud.attach_bare_metal(bm1, new)).code == "BMS.0050"
    done = bms_cloud.job(job)
    assert done.status.value == "SUCCESS" and done.interface_id
    primary = seen.interfaces["bm-1-primary"].id
    assert _refusal(lambda: bms_cloud.detach_bare_metal(bm1, primary)).code == "Ecs.0003"
    gone = bms_cloud.detach_bare_metal(bm1, done.interface_id)
    assert bms_cloud.job(gone).status.value == "SUCCESS"
    assert done.interface_id not in {i.id for i in bms_cloud.observe().interfaces.values()}
    bms_cloud.close()


def test_an_old_cloud_without_bms_columns_opens(tmp_path: Path) -> None:
    """A simulated cloud made before BMSs (no flavors.bare_metal, no jobs.spec) opens, its
    servers all ECSs."""
    cloud = init_cloud(tmp_path, _spec())
    cloud.close()
    import sqlite3

    db = sqlite3.connect(tmp_path / "cloud.db")
    db.execute("ALTER TABLE flavors DROP COLUMN bare_metal")
    db.execute("ALTER TABLE jobs DROP COLUMN spec")
    db.commit()
    db.close()
    again = open_cloud(tmp_path)
    try:
        assert {s.kind.value for s in again.observe().servers.values()} == {"ecs"}
    finally:
        again.close()


def test_journal_keeps_a_bms_attach_open_until_its_port_is_claimed(tmp_path: Path) -> None:
    """A BMS attach whose job finished but whose step never ended is still unfinished: the
    port it made is yet to be claimed."""
    book = Journal.open(tmp_path)
    run = book.begin_run("sha256:p", steps=1)
    new = NewPort("eni-bm", "sn", "", ("p0",))
    run.job_intent(1, "bms-attach", "s", "", new)
    run.job_submitted(1, "bms-attach", "s", "", "job-1", new)
    run.job_finished(1, "job-1", "SUCCESS")
    (found,) = book.unfinished()
    assert [(j.job_id, j.new_port) for j in found.jobs] == [("job-1", new)]
    run.step_done(1)
    assert [r.jobs for r in book.unfinished()] == [()]
    assert journal.JOURNAL_FILE
