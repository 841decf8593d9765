"""The simulated cloud's own enforcement, driven through the Provider interface.

Each test pins one refusal and its exact cloud code, HTTP status and retry class.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import PermanentProviderError, ProviderError, TransientProviderError
from controller.providers.base import JobStatus, NewInterface, Provider
from controller.providers.sim.cloud import SimCloud, init_cloud
from controller.providers.sim.faults import Faults
from tests.fakeclock import FakeClock
from tests.sim_support import Ids, refused, small_spec


@pytest.fixture
def ids(cloud: SimCloud) -> Ids:
    return Ids(cloud)


def done(cloud: SimCloud, job_id: str) -> JobStatus:
    return cloud.job(job_id).status


def new_port(cloud: SimCloud, ids: Ids, name: str, subnet: str = "subnet-web", **kw: object) -> str:
    return cloud.create_interface(NewInterface(name, ids.subnet(subnet), **kw))  # type: ignore[arg-type]


def test_sim_cloud_is_a_provider(cloud: SimCloud) -> None:
    """SimCloud satisfies the Provider protocol and is called `sim`."""
    assert isinstance(cloud, Provider)
    assert cloud.name == "sim"


def test_attach_over_the_flavor_limit_is_ecs_0050(cloud: SimCloud, ids: Ids) -> None:
    """web-2 (max 2 NICs) takes one extension ENI; the next attach is refused with Ecs.0050."""
    assert done(cloud, cloud.attach(ids.server("web-2"), ids.port("spare-1"))) == "SUCCESS"
    with pytest.raises(PermanentProviderError) as exc:
        cloud.attach(ids.server("web-2"), ids.port("spare-2"))
    assert refused(exc) == ("Ecs.0050", 400, False)


def test_a_pending_attach_occupies_its_slot(cloud: SimCloud, ids: Ids) -> None:
    """While an attach job runs, the slot is taken: a second attach gets Ecs.0050."""
    cloud.set_faults(Faults(latency_ms=5_000))
    job = cloud.attach(ids.server("web-2"), ids.port("spare-1"))
    assert cloud.job(job).status == JobStatus.RUNNING
    assert cloud.observe().interfaces["spare-1"].server is None
    with pytest.raises(PermanentProviderError) as exc:
        cloud.attach(ids.server("web-2"), ids.port("spare-2"))
    assert refused(exc)[0] == "Ecs.0050"


def test_detaching_a_primary_nic_is_http_403(cloud: SimCloud, ids: Ids) -> None:
    """The primary NIC is never detached: HTTP 403, code Ecs.0003, permanent."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.detach(ids.server("web-1"), ids.port("web-1-primary"))
    assert refused(exc) == ("Ecs.0003", 403, False)


def test_deleting_a_primary_nic_is_http_403(cloud: SimCloud, ids: Ids) -> None:
    """The primary NIC is never deleted either."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.delete_interface(ids.port("web-2-eth0"))
    assert refused(exc) == ("Ecs.0003", 403, False)


def test_attach_from_another_vpc_is_ecs_0064(cloud: SimCloud, ids: Ids) -> None:
    """A port of vpc-other cannot join a server of vpc-prod."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.attach(ids.server("web-1"), ids.port("other-eni"))
    assert refused(exc) == ("Ecs.0064", 400, False)


def test_attach_of_a_port_attached_elsewhere_is_ecs_0919(cloud: SimCloud, ids: Ids) -> None:
    """legacy-1 is on web-1: attaching it to web-2 (or web-1 again) is Ecs.0919."""
    for server in ("web-2", "web-1"):
        with pytest.raises(PermanentProviderError) as exc:
            cloud.attach(ids.server(server), ids.port("legacy-1"))
        assert refused(exc) == ("Ecs.0919", 400, False)


def test_attach_of_a_port_being_attached_is_ecs_0919(cloud: SimCloud, ids: Ids) -> None:
    """A port with an attach job running cannot be attached anywhere else."""
    cloud.set_faults(Faults(latency_ms=1_000))
    cloud.attach(ids.server("web-1"), ids.port("spare-1"))
    with pytest.raises(PermanentProviderError) as exc:
        cloud.attach(ids.server("web-2"), ids.port("spare-1"))
    assert refused(exc)[0] == "Ecs.0919"


@pytest.mark.parametrize("verb", ["attach", "detach"])
def test_server_not_active_or_shutoff_is_ecs_0100(cloud: SimCloud, ids: Ids, verb: str) -> None:
    """build-1 is BUILDing: NICs can be neither attached nor detached."""
    port = ids.port("spare-1") if verb == "attach" else ids.port("building-eni")
    with pytest.raises(PermanentProviderError) as exc:
        getattr(cloud, verb)(ids.server("build-1"), port)
    assert refused(exc) == ("Ecs.0100", 400, False)


def test_shutoff_servers_accept_nics(cloud: SimCloud, ids: Ids) -> None:
    """SHUTOFF is as good as ACTIVE for attach and detach."""
    other = new_port(cloud, ids, "eni-x", "subnet-other")
    job = cloud.attach(ids.server("other-1"), other)
    assert done(cloud, job) == "SUCCESS"


def test_a_job_fails_if_the_server_leaves_a_ready_status(
    cloud: SimCloud, ids: Ids, clock: FakeClock
) -> None:
    """A server that stops being ACTIVE/SHUTOFF before the job ends fails it with Ecs.0100."""
    cloud.set_faults(Faults(latency_ms=1_000))
    job = cloud.attach(ids.server("web-1"), ids.port("spare-1"))
    cloud.force_set_status("web-1", "REBOOT")
    clock.advance(1.0)
    result = cloud.job(job)
    assert (result.status, result.error_code) == (JobStatus.FAIL, "Ecs.0100")
    assert cloud.observe().interfaces["spare-1"].server is None


def test_ip_outside_the_subnet_or_reserved_is_vpc_2500(cloud: SimCloud, ids: Ids) -> None:
    """Creating a port (a VPC call) outside the subnet's CIDR, or on one of its reserved
    addresses (the first two, the last three), is the VPC's parameter error VPC.2500."""
    for address in ("10.0.2.20", "10.0.1.0", "10.0.1.1", "10.0.1.253", "10.0.1.254", "10.0.1.255"):
        with pytest.raises(PermanentProviderError) as exc:
            new_port(cloud, ids, "eni-x", private_ip=address)
        assert refused(exc) == ("VPC.2500", 400, False), address
    assert new_port(cloud, ids, "eni-x", private_ip="10.0.1.252")


def test_ip_in_use_is_vpc_0701(cloud: SimCloud, ids: Ids) -> None:
    """A taken address (another port's) is VPC.0701 "IP is in use" (409)."""
    with pytest.raises(PermanentProviderError) as exc:
        new_port(cloud, ids, "eni-x", private_ip="10.0.1.50")
    assert refused(exc) == ("VPC.0701", 409, False)


def test_malformed_ip_is_vpc_2500(cloud: SimCloud, ids: Ids) -> None:
    """Something that is not an IPv4 address is an invalid port parameter."""
    with pytest.raises(PermanentProviderError) as exc:
        new_port(cloud, ids, "eni-x", private_ip="10.0.1.300")
    assert refused(exc) == ("VPC.2500", 400, False)


def test_the_cloud_picks_the_lowest_free_address(cloud: SimCloud, ids: Ids) -> None:
    """Without an IP, a port gets the lowest free usable one: not .0, not the gateway .1."""
    new_port(cloud, ids, "eni-a", "subnet-tiny")
    new_port(cloud, ids, "eni-b", "subnet-tiny", private_ip="10.0.3.3")
    new_port(cloud, ids, "eni-c", "subnet-tiny")
    got = {n: i.private_ip for n, i in cloud.observe().interfaces.items() if n.startswith("eni-")}
    assert got == {"eni-a": "10.0.3.2", "eni-b": "10.0.3.3", "eni-c": "10.0.3.4"}


def test_a_full_subnet_is_vpc_2500(cloud: SimCloud, ids: Ids) -> None:
    """A /29 has three usable addresses (.2 to .4, five are reserved); the fourth port is
    refused."""
    for n in range(3):
        new_port(cloud, ids, f"eni-{n}", "subnet-tiny")
    with pytest.raises(PermanentProviderError) as exc:
        new_port(cloud, ids, "eni-3", "subnet-tiny")
    assert refused(exc) == ("VPC.2500", 400, False)
    assert "no free IP address" in exc.value.message


def test_security_group_pinned_to_another_vpc_is_vpc_2500(cloud: SimCloud, ids: Ids) -> None:
    """A group pinned to another VPC than the port's is refused, at creation and on
    update, with the VPC's parameter error."""
    with pytest.raises(PermanentProviderError) as exc:
        new_port(cloud, ids, "eni-x", security_group_ids=(ids.sg("sg-other"),))
    assert refused(exc) == ("VPC.2500", 400, False)
    with pytest.raises(PermanentProviderError) as exc:
        cloud.update_security_groups(ids.port("spare-1"), (ids.sg("sg-other"),))
    assert refused(exc)[0] == "VPC.2500"


def test_update_security_groups_replaces_them_in_order(cloud: SimCloud, ids: Ids) -> None:
    """The new list replaces the old one, order kept."""
    cloud.update_security_groups(ids.port("spare-1"), (ids.sg("sg-web"), ids.sg("sg-db")))
    assert cloud.observe().interfaces["spare-1"].security_groups == ("sg-web", "sg-db")


def test_eip_bound_to_another_port_is_vpc_0510(cloud: SimCloud, ids: Ids) -> None:
    """eip-1 is on legacy-1: binding it to spare-1 is refused (409 VPC.0510)."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.bind_eip(ids.eip("eip-1"), ids.port("spare-1"))
    assert refused(exc) == ("VPC.0510", 409, False)


def test_port_that_has_an_eip_is_vpc_0511(cloud: SimCloud, ids: Ids) -> None:
    """legacy-1 already has eip-1: binding eip-2 to it is refused (409 VPC.0511)."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.bind_eip(ids.eip("eip-2"), ids.port("legacy-1"))
    assert refused(exc) == ("VPC.0511", 409, False)


def test_bind_and_unbind_eip(cloud: SimCloud, ids: Ids) -> None:
    """Unbind frees the EIP for another port; binding to the same port again is a no-op."""
    cloud.unbind_eip(ids.eip("eip-1"))
    cloud.unbind_eip(ids.eip("eip-1"))
    cloud.bind_eip(ids.eip("eip-1"), ids.port("spare-1"))
    cloud.bind_eip(ids.eip("eip-1"), ids.port("spare-1"))
    interfaces = cloud.observe().interfaces
    assert (interfaces["legacy-1"].eip, interfaces["spare-1"].eip) == (None, "eip-1")


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c, i: c.attach("no-such-server", i.port("spare-1")), "Ecs.0114"),
        (lambda c, i: c.detach(i.server("web-1"), "no-such-port"), "VPC.0704"),
        (lambda c, i: c.delete_interface("no-such-port"), "VPC.0704"),
        (lambda c, i: c.update_security_groups(i.port("spare-1"), ("no-such-sg",)), "VPC.0603"),
        (lambda c, i: c.bind_eip("no-such-eip", i.port("spare-1")), "VPC.0504"),
        (lambda c, i: c.unbind_eip("no-such-eip"), "VPC.0504"),
        (lambda c, i: c.job("no-such-job"), "Common.0011"),
        (lambda c, i: c.set_delete_on_termination("nope", i.port("legacy-1"), False), "Ecs.0114"),
    ],
)
def test_unknown_ids_are_404(cloud: SimCloud, ids: Ids, call: object, code: str) -> None:
    """Every verb answers an unknown id with HTTP 404 and its service's code."""
    with pytest.raises(PermanentProviderError) as exc:
        call(cloud, ids)  # type: ignore[operator]
    assert refused(exc) == (code, 404, False)


def test_a_port_in_an_unknown_subnet_is_vpc_2500(cloud: SimCloud) -> None:
    """Creating a port is a VPC call: an unknown subnet is its parameter error, no ECS code."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.create_interface(NewInterface("eni-x", "no-such-subnet"))
    assert refused(exc) == ("VPC.2500", 400, False)


def test_port_names_are_unique_in_the_simulator(cloud: SimCloud, ids: Ids) -> None:
    """A second port with a taken name is refused with the simulator's Sim.0001 (409)."""
    with pytest.raises(PermanentProviderError) as exc:
        new_port(cloud, ids, "spare-1")
    assert refused(exc) == ("Sim.0001", 409, False)


def test_detach_from_a_server_without_that_port_is_ecs_0085(cloud: SimCloud, ids: Ids) -> None:
    """legacy-1 is on web-1, not web-2; spare-1 is on nothing."""
    for server, port in (("web-2", "legacy-1"), ("web-1", "spare-1")):
        with pytest.raises(PermanentProviderError) as exc:
            cloud.detach(ids.server(server), ids.port(port))
        assert refused(exc) == ("Ecs.0085", 400, False)


def test_second_detach_while_one_runs_is_transient(cloud: SimCloud, ids: Ids) -> None:
    """A detach already running makes another one wait: Ecs.0603, retry later."""
    cloud.set_faults(Faults(latency_ms=1_000))
    cloud.detach(ids.server("web-1"), ids.port("legacy-1"))
    with pytest.raises(TransientProviderError) as exc:
        cloud.detach(ids.server("web-1"), ids.port("legacy-1"))
    assert refused(exc) == ("Ecs.0603", 501, True)


def test_one_nic_job_per_server_a_second_one_is_ecs_0603(
    cloud: SimCloud, ids: Ids, clock: FakeClock
) -> None:
    """While an attach runs on web-1 (which had a free slot), a detach from web-1 is
    refused with the transient Ecs.0603 (501), and so is a detach of another port while a
    detach runs; another server is not held up, and once the job is done the call that
    was refused is accepted."""
    cloud.set_faults(Faults(latency_ms=5_000))
    web_1, web_2 = ids.server("web-1"), ids.server("web-2")
    attaching = cloud.attach(web_1, ids.port("spare-1"))
    with pytest.raises(TransientProviderError) as exc:
        cloud.detach(web_1, ids.port("legacy-1"))
    assert refused(exc) == ("Ecs.0603", 501, True)
    assert "other operations are running" in exc.value.message
    other = cloud.attach(web_2, ids.port("spare-2"))  # web-2 has no job running
    clock.advance(5)
    assert done(cloud, attaching) == done(cloud, other) == JobStatus.SUCCESS
    detaching = cloud.detach(web_1, ids.port("spare-1"))
    with pytest.raises(TransientProviderError) as exc:
        cloud.detach(web_1, ids.port("legacy-1"))
    assert refused(exc) == ("Ecs.0603", 501, True)
    clock.advance(5)
    assert done(cloud, detaching) == JobStatus.SUCCESS
    assert done(cloud, cloud.detach(web_1, ids.port("legacy-1"))) == JobStatus.RUNNING


def test_console_changes_are_not_held_up_by_a_running_nic_job(cloud: SimCloud, ids: Ids) -> None:
    """The one-job-per-server rule is about jobs: a console attach has none and goes through."""
    cloud.set_faults(Faults(latency_ms=5_000))
    cloud.attach(ids.server("web-1"), ids.port("spare-1"))
    cloud.force_detach("legacy-1")
    assert cloud.snapshot().interfaces["legacy-1"].server is None


def test_deleting_an_attached_port_is_vpc_0707(cloud: SimCloud, ids: Ids) -> None:
    """A port must be detached before it is deleted (409 VPC.0707)."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.delete_interface(ids.port("legacy-1"))
    assert refused(exc) == ("VPC.0707", 409, False)


def test_deleting_a_port_frees_its_ip_and_eip(cloud: SimCloud, ids: Ids) -> None:
    """After delete, the address can be reused and the EIP is unbound."""
    cloud.bind_eip(ids.eip("eip-2"), ids.port("spare-1"))
    address = cloud.observe().interfaces["spare-1"].private_ip
    cloud.delete_interface(ids.port("spare-1"))
    new_port(cloud, ids, "spare-1", "subnet-db", private_ip=address)
    assert cloud.observe().interfaces["spare-1"].eip is None


def test_attach_by_port_id_starts_with_delete_on_termination_true(
    cloud: SimCloud, ids: Ids
) -> None:
    """The pessimistic default: an attached port would be deleted by its detach."""
    cloud.job(cloud.attach(ids.server("web-1"), ids.port("spare-1")))
    assert cloud.observe().interfaces["spare-1"].delete_on_termination is True


def test_detach_with_delete_on_termination_deletes_the_port(cloud: SimCloud, ids: Ids) -> None:
    """Detaching a port whose flag is true deletes it, frees its IP and unbinds its EIP."""
    cloud.job(cloud.attach(ids.server("web-1"), ids.port("spare-1")))
    cloud.bind_eip(ids.eip("eip-2"), ids.port("spare-1"))
    cloud.job(cloud.detach(ids.server("web-1"), ids.port("spare-1")))
    topology = cloud.observe()
    assert "spare-1" not in topology.interfaces
    cloud.bind_eip(ids.eip("eip-2"), ids.port("spare-2"))  # eip-2 is free again


def test_clearing_delete_on_termination_keeps_the_port(cloud: SimCloud, ids: Ids) -> None:
    """With the flag cleared, detach keeps the port with its IP, EIP and security groups."""
    server, port = ids.server("web-1"), ids.port("spare-1")
    cloud.job(cloud.attach(server, port))
    cloud.bind_eip(ids.eip("eip-2"), port)
    before = cloud.observe().interfaces["spare-1"]
    cloud.set_delete_on_termination(server, port, False)
    assert cloud.job(cloud.detach(server, port)).status == JobStatus.SUCCESS
    after = cloud.observe().interfaces["spare-1"]
    assert after.server is None
    assert (after.private_ip, after.eip, after.security_groups) == (
        before.private_ip,
        "eip-2",
        ("sg-db",),
    )


def test_inventory_interfaces_default_to_delete_on_termination_false(
    cloud: SimCloud, ids: Ids
) -> None:
    """legacy-1 (deleteOnTermination: false) survives its detach."""
    cloud.job(cloud.detach(ids.server("web-1"), ids.port("legacy-1")))
    assert cloud.observe().interfaces["legacy-1"].server is None


def test_set_delete_on_termination_needs_the_attachment(cloud: SimCloud, ids: Ids) -> None:
    """The flag belongs to an attachment: on a detached port it is Ecs.0085."""
    with pytest.raises(PermanentProviderError) as exc:
        cloud.set_delete_on_termination(ids.server("web-1"), ids.port("spare-1"), False)
    assert refused(exc)[0] == "Ecs.0085"


def test_a_refused_call_changes_nothing_and_is_logged(cloud: SimCloud, ids: Ids) -> None:
    """The refusal leaves the cloud as it was and appears in the log with its code."""
    before = cloud.snapshot()
    with pytest.raises(ProviderError):
        cloud.attach(ids.server("web-1"), ids.port("other-eni"))
    assert cloud.snapshot() == before
    last = cloud.log()[-1]
    assert (last.operation, last.target, last.result, last.error_code) == (
        "attach",
        "other-eni -> web-1",
        "error",
        "Ecs.0064",
    )


def pinned_spec() -> dict[str, object]:
    """small.yaml plus an unpinned and a pinned subnet of vpc-prod, a regional group,
    a flavor that states no NIC limit (and a server of it), a VIP and the DHCP port."""
    spec = small_spec()
    spec["flavors"].append({"name": "old.flavor"})
    spec["subnets"] += [
        {"name": "subnet-any", "vpc": "vpc-prod", "cidr": "10.0.4.0/24"},
        {"name": "subnet-az2", "vpc": "vpc-prod", "cidr": "10.0.5.0/24", "availabilityZone": "az2"},
    ]
    spec["securityGroups"].append({"name": "sg-any"})
    spec["servers"].append(
        {
            "name": "old-1",
            "flavor": "old.flavor",
            "availabilityZone": "az1",
            "vpc": "vpc-prod",
            "subnet": "subnet-any",
        }
    )
    spec["ports"] = [
        {"subnet": "subnet-web", "privateIp": "10.0.1.2", "owner": "vip"},
        {"subnet": "subnet-web", "privateIp": "10.0.1.254", "owner": "dhcp"},
    ]
    return spec


@pytest.fixture
def pinned(tmp_path: Path, clock: FakeClock) -> SimCloud:
    return init_cloud(tmp_path / "pinned", pinned_spec(), clock=clock)


def test_a_subnet_pinned_to_another_az_is_ecs_0014(pinned: SimCloud) -> None:
    """Attaching (an ECS call) a port of a subnet pinned to az2 to a server in az1 is
    refused; a port of an unpinned subnet of the VPC goes to any of its AZs."""
    ids = Ids(pinned)
    far = pinned.create_interface(NewInterface("eni-far", ids.subnet("subnet-az2")))
    near = pinned.create_interface(NewInterface("eni-near", ids.subnet("subnet-any")))
    with pytest.raises(PermanentProviderError) as exc:
        pinned.attach(ids.server("web-1"), far)
    assert refused(exc) == ("Ecs.0014", 400, False)
    assert done(pinned, pinned.attach(ids.server("web-1"), near)) == "SUCCESS"


def test_a_regional_security_group_serves_every_vpc(pinned: SimCloud) -> None:
    """A group without a VPC pin is accepted on ports of any VPC."""
    ids = Ids(pinned)
    for name, subnet in (("eni-prod", "subnet-web"), ("eni-other", "subnet-other")):
        pinned.create_interface(
            NewInterface(name, ids.subnet(subnet), security_group_ids=(ids.sg("sg-any"),))
        )
    interfaces = pinned.observe().interfaces
    assert interfaces["eni-other"].security_groups == ("sg-any",)
    assert interfaces["eni-prod"].security_groups == ("sg-any",)


def test_other_ports_hold_their_addresses(pinned: SimCloud) -> None:
    """A VIP's address is taken (VPC.0701) and the cloud picks around it."""
    ids = Ids(pinned)
    with pytest.raises(PermanentProviderError) as exc:
        pinned.create_interface(NewInterface("eni-x", ids.subnet("subnet-web"), "10.0.1.2"))
    assert refused(exc) == ("VPC.0701", 409, False)
    pinned.create_interface(NewInterface("eni-y", ids.subnet("subnet-web")))
    assert pinned.observe().interfaces["eni-y"].private_ip == "10.0.1.3"


def test_a_flavor_without_a_limit_limits_nothing_in_the_simulator(pinned: SimCloud) -> None:
    """The simulated cloud knows no NIC limit where the flavor states none."""
    ids = Ids(pinned)
    for n in range(4):
        port = pinned.create_interface(NewInterface(f"eni-{n}", ids.subnet("subnet-any")))
        assert done(pinned, pinned.attach(ids.server("old-1"), port)) == "SUCCESS"
    assert len(pinned.observe().interfaces_on("old-1")) == 5
