"""The huaweicloud provider, through the official SDK, against `enictl sim serve`."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from huaweicloudsdkcore.exceptions import exceptions as sdk

from controller.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UsageError,
)
from controller.model import Topology
from controller.providers.base import JobStatus, NewInterface
from controller.providers.huaweicloud import adapter, listings
from controller.providers.huaweicloud.adapter import HuaweiCloud
from controller.providers.sim import cloud as simcloud
from controller.providers.sim.cloud import SimCloud
from controller.providers.sim.faults import Faults
from controller.providers.sim.serve import api, httpserver
from tests.cloudfixtures import serve
from tests.fakeclock import FakeClock
from tests.sim_support import Ids, small_spec

SECRET = "the-secret-key-nobody-may-see-0123456789"
OTHER_EP = "6bb4d2f6-0d0b-4d35-9c60-1d2a1fb1c0de"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimCloud]:
    """The small cloud on the real clock (not conftest's fake one): `sim serve` keeps real time."""
    found = simcloud.init_cloud(tmp_path, small_spec())
    yield found
    found.close()


@pytest.fixture
def env(tmp_path: Path, cloud: SimCloud) -> Iterator[dict[str, str]]:
    with serve(tmp_path, page_size=2) as served:
        yield served


@pytest.fixture
def hw(env: dict[str, str], clock: FakeClock) -> Iterator[HuaweiCloud]:
    provider = adapter.from_environment(env, sleep=clock.sleep)
    yield provider
    provider.close()


def through_the_api(topology: Topology) -> Topology:
    """The simulated cloud as Huawei Cloud's API shows it: no subnet pinned to an AZ, no
    security group pinned to a VPC (the real API has no pins), and delete_on_termination
    True for every attached port (only a per-server call would tell)."""
    catalog = topology.catalog
    return replace(
        topology,
        interfaces={
            n: replace(i, delete_on_termination=i.server is not None)
            for n, i in topology.interfaces.items()
        },
        catalog=replace(
            catalog,
            subnets={n: replace(s, availability_zone="") for n, s in catalog.subnets.items()},
            security_groups={n: replace(g, vpc="") for n, g in catalog.security_groups.items()},
        ),
    )


def observes(cloud: SimCloud, since: int) -> int:
    return sum(1 for e in cloud.log(since=since) if e.operation == "observe")


def last_seq(cloud: SimCloud) -> int:
    return max((e.seq for e in cloud.log()), default=0)


# ------------------------------------------------------------------ observe


def test_observe_round_trips_the_inventory(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """Every server, ENI (attachment, primary, managed, EIP, SGs) and catalog entry comes back."""
    assert hw.observe() == through_the_api(cloud.snapshot())


def test_observe_after_changes_shows_the_cloud_as_it_is_now(
    hw: HuaweiCloud, cloud: SimCloud
) -> None:
    """sim serve keeps its last observation only while nothing changes: after console
    changes to servers, ports, groups, EIPs and tags, observing shows the new cloud."""
    assert hw.observe() == through_the_api(cloud.snapshot())
    cloud.force_set_status("web-2", "SHUTOFF")
    cloud.force_set_security_groups("web-1-primary", ["sg-db"])
    cloud.force_attach("spare-1", "web-1")
    cloud.force_bind_eip("eip-2", "spare-2")
    cloud.force_detach("legacy-1", delete=True)
    port_id = cloud.force_create_interface("eni-new", "subnet-web", managed=True)
    cloud.clear_managed(Ids(cloud).port("spare-2"))
    seen = hw.observe()
    assert seen == through_the_api(cloud.snapshot())
    assert seen.interfaces["eni-new"].id == port_id and "legacy-1" not in seen.interfaces
    assert seen.servers["web-1"].security_groups == ("sg-db",)


def test_other_ports_are_observed_with_their_addresses(tmp_path: Path) -> None:
    """DHCP, virtual IP, load balancer and NAT ports of the simulated cloud come back
    through the API as Catalog.ports, owner and address kept, none of them an ENI."""
    spec = small_spec()
    spec["ports"] = [
        {"subnet": "subnet-web", "privateIp": "10.0.1.254", "owner": "dhcp"},
        {"subnet": "subnet-web", "privateIp": "10.0.1.100", "owner": "vip"},
        {"subnet": "subnet-db", "privateIp": "10.0.2.30", "owner": "loadbalancer"},
        {"subnet": "subnet-db", "privateIp": "10.0.2.9", "owner": "nat"},
    ]
    other = simcloud.init_cloud(tmp_path, spec)
    try:
        with serve(tmp_path, page_size=2) as env:
            provider = adapter.from_environment(env)
            seen = provider.observe()
            provider.close()
        truth = other.snapshot()
        assert len(truth.catalog.ports) == 4
        assert seen == through_the_api(truth)
    finally:
        other.close()


def test_observe_pages_through_more_than_one_page(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """With 2 items a page, 4 servers and 9 ports take several pages, one observe each
    (a cloud without BMSs: one empty BMS page and one BMS flavors answer)."""
    truth = cloud.snapshot()
    before = last_seq(cloud)
    hw.observe()
    catalog = truth.catalog
    expected = (
        -(-len(truth.servers) // 2)  # ECS pages by marker until `count` servers are seen
        + -(-len(truth.interfaces) // 2)  # v3 ports: next_marker only when more follow
        + sum(
            -(-n // 2) + 1  # v1 lists: only an empty page ends the listing
            for n in (
                len(catalog.flavors),
                len(catalog.vpcs),
                len(catalog.subnets),
                len(catalog.security_groups),
                len(catalog.eips),
            )
        )
        + 2  # BMS servers by page number until an empty page; BMS flavors in one answer
    )
    assert observes(cloud, before) == expected
    assert len(truth.servers) > 2 and len(truth.interfaces) > 2


def big_spec(servers: int, spares: int) -> dict[str, Any]:
    return {
        "flavors": [{"name": "s6.large.2", "maxInterfaces": 4}],
        "vpcs": [{"name": "vpc-big", "cidr": "10.0.0.0/8"}],
        "subnets": [
            {
                "name": "subnet-big",
                "vpc": "vpc-big",
                "cidr": "10.0.0.0/16",
                "availabilityZone": "az1",
            }
        ],
        "securityGroups": [{"name": "sg-big", "vpc": "vpc-big"}],
        "eips": [],
        "servers": [
            {
                "name": f"srv-{i:05d}",
                "flavor": "s6.large.2",
                "availabilityZone": "az1",
                "vpc": "vpc-big",
                "subnet": "subnet-big",
            }
            for i in range(servers)
        ],
        "interfaces": [
            {"name": f"eni-{i:05d}", "subnet": "subnet-big", "server": f"srv-{2 * i:05d}"}
            for i in range(spares)
        ],
    }


def test_a_2000_server_cloud_costs_pages_not_servers(tmp_path: Path) -> None:
    """Observing 2,000 servers / 2,500 ports: the calls are set by the page size alone."""
    big = simcloud.init_cloud(tmp_path, big_spec(2000, 500))
    try:
        with serve(tmp_path, page_size=1000) as env:
            provider = adapter.from_environment(env)
            before = last_seq(big)
            topology = provider.observe()
            provider.close()
        assert len(topology.servers) == 2000 and len(topology.interfaces) == 2500
        # ceil(2000 / 1000) server pages + ceil(2500 / 1000) port pages + four catalog
        # listings of one page and the empty page that ends it + the empty EIP page + the
        # empty BMS page and the BMS flavors: 16 calls, where a per-server loop is 2,000+
        assert observes(big, before) == 2 + 3 + 4 * 2 + 1 + 2
    finally:
        big.close()


def test_os_interface_is_asked_only_for_servers_whose_flavor_states_no_limit(
    tmp_path: Path,
) -> None:
    """A flavor without quota:vif_max_num costs one os-interface call per server of it,
    no call for the others; without free_nic there either, the limit stays unknown."""
    spec = big_spec(6, 0)
    spec["flavors"].append({"name": "x1.custom.2"})  # states no NIC limit
    for server in spec["servers"][:2]:
        server["flavor"] = "x1.custom.2"
    big = simcloud.init_cloud(tmp_path, spec)
    try:
        with serve(tmp_path, page_size=1000) as env:
            provider = adapter.from_environment(env)
            before = last_seq(big)
            seen = provider.observe()
            provider.close()
        # one page of each of the 9 listings, the empty page after 4 of them, and 2
        # os-interface calls (servers and ports end on count and next_marker, EIPs and
        # BMS servers empty, BMS flavors one answer)
        assert observes(big, before) == 9 + 4 + 2
        assert seen.catalog.flavors["x1.custom.2"].max_interfaces is None
        assert [s.nic_limit for s in seen.servers.values()] == [None] * 6
        assert seen == through_the_api(big.snapshot())
    finally:
        big.close()


def test_a_page_size_above_an_apis_maximum_still_reads_everything(tmp_path: Path) -> None:
    """ENICTL_HUAWEICLOUD_PAGE_SIZE=3000: the limit is capped at each API's maximum (2,000
    security groups a page) and all 2,105 groups are read, not the first page alone."""
    spec = big_spec(3, 0)
    spec["securityGroups"] = [{"name": f"sg-{i:04d}", "vpc": "vpc-big"} for i in range(2105)]
    big = simcloud.init_cloud(tmp_path, spec)
    try:
        with serve(tmp_path, page_size=3000) as env:
            provider = adapter.from_environment(env)
            topology = provider.observe()
            provider.close()
        assert len(topology.catalog.security_groups) == 2105
    finally:
        big.close()


@pytest.mark.parametrize(
    ("paging", "body", "items", "seen", "marker"),
    [
        (listings.PAGING["security_groups"], {}, [{"id": "b"}], 1, "b"),  # short, not last
        (listings.PAGING["security_groups"], {}, [], 5, None),
        (listings.PAGING["servers"], {"count": 3}, [{"id": "s2"}], 2, "s2"),
        (listings.PAGING["servers"], {"count": 3}, [{"id": "s3"}], 3, None),
        (listings.PAGING["servers"], {}, [{"id": "s3"}], 3, "s3"),  # no count: on to empty
        (listings.PAGING["ports"], {"page_info": {"next_marker": "p9"}}, [{"id": "p1"}], 1, "p9"),
        (listings.PAGING["ports"], {"page_info": {"current_count": 2}}, [{"id": "p2"}], 9, None),
    ],
)
def test_where_the_next_page_starts(
    paging: listings.Paging, body: dict[str, Any], items: list[Any], seen: int, marker: str | None
) -> None:
    """A short page never ends a listing: an empty page, `count` or no next_marker does."""
    assert listings.next_marker(paging, body, items, seen) == marker


@pytest.mark.parametrize(
    ("project", "sees"),
    [("", True), ("all_granted_eps", True), ("0", True), ("none", True), (OTHER_EP, False)],
)
def test_listings_ask_for_the_enterprise_project(
    tmp_path: Path, env: dict[str, str], cloud: SimCloud, project: str, sees: bool
) -> None:
    """enterprise_project_id goes to the listings that take it: all_granted_eps by default,
    or the one configured (another project's resources are not listed)."""
    provider = adapter.from_environment(
        {**env, "ENICTL_HUAWEICLOUD_ENTERPRISE_PROJECT_ID": project}
    )
    seen = provider.observe()
    provider.close()
    truth = cloud.snapshot()
    assert bool(seen.servers) is sees and bool(seen.catalog.security_groups) is sees
    assert set(seen.catalog.subnets) == set(truth.catalog.subnets)  # subnets take none
    if sees:
        assert seen == through_the_api(truth)


# ------------------------------------------------------------------ mutations


def test_every_mutation_through_the_api(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """Create (tagged), SGs, EIP bind/unbind, attach, delete_on_termination, detach, delete."""
    ids = Ids(cloud)
    port = hw.create_interface(
        NewInterface("eni-new", ids.subnet("subnet-web"), "10.0.1.77", (ids.sg("sg-web"),))
    )
    seen = cloud.snapshot().interfaces["eni-new"]
    assert (seen.id, seen.private_ip, seen.managed, seen.server) == (port, "10.0.1.77", True, None)
    assert seen.security_groups == ("sg-web",)

    hw.update_security_groups(port, (ids.sg("sg-web"), ids.sg("sg-db")))
    assert cloud.snapshot().interfaces["eni-new"].security_groups == ("sg-web", "sg-db")

    hw.bind_eip(ids.eip("eip-2"), port)
    assert cloud.snapshot().interfaces["eni-new"].eip == "eip-2"

    job = hw.attach(ids.server("web-1"), port)
    assert hw.job(job).status is JobStatus.SUCCESS
    assert cloud.snapshot().interfaces["eni-new"].server == "web-1"

    hw.set_delete_on_termination(ids.server("web-1"), port, False)
    assert cloud.snapshot().interfaces["eni-new"].delete_on_termination is False

    job = hw.detach(ids.server("web-1"), port)
    assert hw.job(job).status is JobStatus.SUCCESS
    after = cloud.snapshot().interfaces["eni-new"]
    assert (after.server, after.private_ip, after.eip) == (None, "10.0.1.77", "eip-2")

    hw.unbind_eip(ids.eip("eip-2"))
    assert cloud.snapshot().interfaces["eni-new"].eip is None
    hw.delete_interface(port)
    assert "eni-new" not in cloud.snapshot().interfaces


def test_unmanaged_create_has_no_tag(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """NewInterface(managed=False) creates a port without the managed tag, with a cloud IP."""
    ids = Ids(cloud)
    hw.create_interface(NewInterface("eni-plain", ids.subnet("subnet-db"), managed=False))
    seen = hw.observe().interfaces["eni-plain"]
    assert seen.managed is False and seen.private_ip is not None


def test_a_failed_tag_leaves_no_unmarked_port(
    hw: HuaweiCloud, cloud: SimCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When tagging keeps failing, the fresh port is deleted and the tag's error raised."""

    def refuse(self: api.HuaweiApi, req: Any) -> api.Reply:
        raise api.ApiError(400, "VPC.9999", "tags are broken today")

    monkeypatch.setattr(api.HuaweiApi, "tag_port", refuse)
    ids = Ids(cloud)
    with pytest.raises(PermanentProviderError) as excinfo:
        hw.create_interface(NewInterface("eni-x", ids.subnet("subnet-db")))
    assert excinfo.value.code == "VPC.9999"
    assert "eni-x" not in cloud.snapshot().interfaces


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("server", "port", "code", "status"),
    [
        ("web-2", "spare-1", "Ecs.0050", 400),  # web-2 (2 NICs max) is made full first
        ("other-1", "spare-1", "Ecs.0064", 400),  # VPC differs from the primary NIC's
        ("web-1", "other-eni", "Ecs.0064", 400),
        ("build-1", "spare-1", "Ecs.0100", 400),  # BUILD: status forbids it
    ],
)
def test_refused_attaches_keep_the_clouds_code(
    hw: HuaweiCloud, cloud: SimCloud, server: str, port: str, code: str, status: int
) -> None:
    """Refusals map to PermanentProviderError with the cloud's exact code and status."""
    ids = Ids(cloud)
    if code == "Ecs.0050":
        cloud.force_attach("spare-2", "web-2")  # web-2's flavor allows 2 NICs: now full
    with pytest.raises(PermanentProviderError) as excinfo:
        hw.attach(ids.server(server), ids.port(port))
    assert (excinfo.value.code, excinfo.value.status) == (code, status)


def test_primary_detach_and_port_attached_elsewhere(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """Primary detach is a permanent 403; a port on another server is Ecs.0919."""
    ids = Ids(cloud)
    with pytest.raises(PermanentProviderError) as excinfo:
        hw.detach(ids.server("web-1"), ids.port("web-1-primary"))
    assert (excinfo.value.code, excinfo.value.status) == ("Sim.0403", 403)
    with pytest.raises(PermanentProviderError) as excinfo:
        hw.attach(ids.server("web-2"), ids.port("legacy-1"))
    assert excinfo.value.code == "Ecs.0919"


def test_injected_transient_errors_are_transient(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """Ecs.0603 (501) and throttling (429) become TransientProviderError, code kept."""
    ids = Ids(cloud)
    cloud.set_faults(Faults(error_rate=1.0, seed=1))
    seen = set()
    for _ in range(20):
        with pytest.raises(TransientProviderError) as excinfo:
            hw.attach(ids.server("web-1"), ids.port("spare-1"))
        seen.add((excinfo.value.code, excinfo.value.status))
    assert seen == {("Ecs.0603", 501), ("APIGW.0308", 429)}


def test_observe_retries_pages_through_transient_errors(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """A page that fails transiently is read again; the observation still completes."""
    cloud.set_faults(Faults(error_rate=0.3, seed=7))
    assert hw.observe() == through_the_api(cloud.snapshot())


@pytest.mark.parametrize("broken", ["list_ports", "list_servers"])
def test_a_refused_listing_fails_the_observation_with_its_code(
    hw: HuaweiCloud, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    """Ports are read beside the other listings: a refusal of either surfaces as itself."""

    def refuse(self: api.HuaweiApi, req: Any) -> api.Reply:
        raise api.ApiError(400, "Sim.0999", f"{broken} is broken today")

    monkeypatch.setattr(api.HuaweiApi, broken, refuse)
    with pytest.raises(PermanentProviderError) as excinfo:
        hw.observe()
    assert (excinfo.value.code, excinfo.value.message) == ("Sim.0999", f"{broken} is broken today")


def test_a_job_that_ends_fail_carries_the_clouds_code(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """A late failure: the attach is accepted, the job ends FAIL with Ecs.0217 and a reason."""
    ids = Ids(cloud)
    cloud.set_faults(Faults(job_fail_rate=1.0, seed=2))
    job = hw.attach(ids.server("web-1"), ids.port("spare-1"))
    found = hw.job(job)
    assert found.status is JobStatus.FAIL
    assert found.error_code == "Ecs.0217" and found.error_message


def test_a_wrong_secret_is_refused_with_401(env: dict[str, str]) -> None:
    """A request signed with the wrong SK is refused (401); the error names no secret."""
    provider = adapter.from_environment({**env, "HUAWEICLOUD_SDK_SK": SECRET})
    with pytest.raises(PermanentProviderError) as excinfo:
        provider.observe()
    assert (excinfo.value.code, excinfo.value.status) == ("APIGW.0301", 401)
    assert SECRET not in str(excinfo.value)
    assert "HUAWEICLOUD_SDK_SK" in str(excinfo.value)


def test_an_unreachable_endpoint_is_transient(env: dict[str, str]) -> None:
    """Nothing listening: a transient error (the executor may retry)."""
    closed = {**env, "ENICTL_HUAWEICLOUD_ENDPOINT": "http://127.0.0.1:9"}
    provider = adapter.from_environment(closed, sleep=FakeClock().sleep)
    with pytest.raises(TransientProviderError):
        provider.delete_interface("x")


def test_an_unreachable_cloud_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SDK's own failure logging never adds lines next to enictl's single error line."""
    from controller.cli import main

    for key, value in {**BASE, "ENICTL_HUAWEICLOUD_ENDPOINT": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(adapter, "READ_ATTEMPTS", 1)
    code = main(["--provider", "huaweicloud", "--state-dir", str(tmp_path), "get", "servers"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: cannot reach Huawei Cloud") and len(err.splitlines()) == 1


def error(status: int, code: str) -> sdk.ServiceResponseException:
    kind = sdk.ClientRequestException if status < 500 else sdk.ServerResponseException
    return kind(status, sdk.SdkError("req-1", code, f"message for {code}"))


@pytest.mark.parametrize(
    ("exc", "transient", "code"),
    [
        (error(429, "APIGW.0308"), True, "APIGW.0308"),
        (error(400, "Common.1503"), True, "Common.1503"),
        (error(501, "Ecs.0603"), True, "Ecs.0603"),
        (error(400, "Ecs.1002"), True, "Ecs.1002"),
        (error(500, "Ecs.0500"), True, "Ecs.0500"),
        (error(503, ""), True, "503"),
        (error(400, "Ecs.0050"), False, "Ecs.0050"),
        (error(404, "VPC.0704"), False, "VPC.0704"),
        (error(403, "Ecs.0003"), False, "Ecs.0003"),
        (sdk.ConnectionException("refused"), True, ""),
        (sdk.CallTimeoutException("slow"), True, ""),
        (requests.exceptions.ReadTimeout("slow"), True, ""),
        (sdk.SdkException("odd"), False, ""),
    ],
)
def test_classify(exc: Exception, transient: bool, code: str) -> None:
    """Each SDK failure maps once onto transient or permanent, keeping the cloud's code."""
    mapped = adapter.classify(exc, sdk)
    assert isinstance(mapped, ProviderError)
    assert (mapped.transient, mapped.code) == (transient, code)


def test_job_from_json_reads_sub_job_failures() -> None:
    """A FAIL whose code sits only in the failed sub-job still surfaces that code."""
    body = {
        "status": "FAIL",
        "entities": {
            "sub_jobs": [
                {"status": "SUCCESS"},
                {"status": "FAIL", "error_code": "Ecs.0201", "fail_reason": "no quota"},
            ]
        },
    }
    found = adapter.job_from_json("j", body)
    assert (found.status, found.error_code, found.error_message) == (
        JobStatus.FAIL,
        "Ecs.0201",
        "no quota",
    )
    assert adapter.job_from_json("j", {"status": "WEIRD"}).status is JobStatus.RUNNING


# ------------------------------------------------------------------ settings and secrets


BASE = {
    "HUAWEICLOUD_SDK_AK": "AKAKAKAKAKAKAKAKAKAK",
    "HUAWEICLOUD_SDK_SK": SECRET,
    "HUAWEICLOUD_PROJECT_ID": "0123456789abcdef0123456789abcdef",
    "HUAWEICLOUD_REGION": "ap-southeast-1",
}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"HUAWEICLOUD_SDK_AK": ""}, "HUAWEICLOUD_SDK_AK"),
        ({"HUAWEICLOUD_SDK_SK": "", "HUAWEICLOUD_PROJECT_ID": ""}, "HUAWEICLOUD_SDK_SK, HUAWEI"),
        ({"HUAWEICLOUD_REGION": ""}, "HUAWEICLOUD_REGION (e.g."),
        ({"HUAWEICLOUD_REGION": "mars-north-1"}, "'mars-north-1' is not a region"),
        ({"ENICTL_HUAWEICLOUD_ENDPOINT": "localhost:8080"}, "must be an http(s) URL"),
        ({"HUAWEICLOUD_PROJECT_ID": "a b"}, "is not a project id"),
        ({"ENICTL_HUAWEICLOUD_PAGE_SIZE": "0"}, "positive integer"),
        ({"ENICTL_HUAWEICLOUD_ENTERPRISE_PROJECT_ID": "a b"}, "an enterprise project id"),
    ],
)
def test_bad_settings_are_one_clear_line(change: dict[str, str], says: str) -> None:
    """Missing or wrong settings: a UsageError, one line, no secret in it."""
    with pytest.raises(UsageError) as excinfo:
        adapter.from_environment({**BASE, **change})
    message = str(excinfo.value)
    assert says in message and "\n" not in message and SECRET not in message


def test_region_settings_build_sdk_clients() -> None:
    """A known region builds the four clients without any network call."""
    provider = adapter.from_environment(BASE)
    assert provider.name == "huaweicloud"
    provider.close()
    assert SECRET not in repr(adapter.Settings.from_env(BASE))


def test_missing_sdk_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the SDK: a UsageError telling to install the huaweicloud extra (from the
    repository: enictl is on no package index)."""
    monkeypatch.setitem(sys.modules, "huaweicloudsdkecs", None)
    with pytest.raises(UsageError, match=r"pip install -e '\.\[huaweicloud\]'"):
        adapter.from_environment(BASE)


def test_secrets_never_reach_output_or_logs(
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The CLI with a wrong secret exits 1 with one error line; the SK is nowhere."""
    from controller.cli import main

    caplog.set_level(logging.DEBUG)
    for key, value in {**env, "HUAWEICLOUD_SDK_SK": SECRET}.items():
        monkeypatch.setenv(key, value)
    code = main(["--provider", "huaweicloud", "--state-dir", str(tmp_path), "get", "interfaces"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("error: APIGW.0301") and len(err.strip().splitlines()) == 1
    assert SECRET not in out + err + caplog.text


def test_get_interfaces_is_the_same_through_both_providers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`enictl get interfaces -o json` prints the same thing via sim and via huaweicloud
    for a cloud without pins, as Huawei Cloud's are (an ENI's AZ is then its server's)."""
    from controller.cli import main

    spec = small_spec()
    for subnet in spec["subnets"]:
        del subnet["availabilityZone"]
    for group in spec["securityGroups"]:
        del group["vpc"]
    simcloud.init_cloud(tmp_path, spec).close()
    args = ["--state-dir", str(tmp_path), "get", "interfaces", "-o", "json"]
    assert main(["--provider", "sim", *args]) == 0
    via_sim = capsys.readouterr().out
    with serve(tmp_path) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(["--provider", "huaweicloud", *args]) == 0
    assert capsys.readouterr().out == via_sim
    assert {row["availabilityZone"] for row in json.loads(via_sim)} == {"az1", "az2", None}


REPO = Path(__file__).parent.parent
DEMO_CLOUD = REPO / "manifests" / "inventory" / "demo-cloud.yaml"


def without_pins(inventory: Path, target: Path) -> Path:
    """The inventory as a Huawei Cloud account has it: regional groups, AZ-less subnets."""
    document = yaml.safe_load(inventory.read_text())
    for subnet in document["spec"]["subnets"]:
        subnet.pop("availabilityZone", None)
    for group in document["spec"]["securityGroups"]:
        group.pop("vpc", None)
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


@pytest.mark.parametrize("pins", ["as in the demo", "none, as on Huawei Cloud"])
def test_the_demo_plans_through_huaweicloud_as_on_the_sim(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pins: str,
) -> None:
    """`enictl --provider huaweicloud plan manifests/demo` is not rejected (no false
    SecurityGroupVpcMismatch or AvailabilityZoneMismatch from answers without pins) and
    plans the sim's steps; on a pin-free cloud the two plans are the same bytes."""
    from controller.cli import main

    monkeypatch.chdir(REPO)
    state = tmp_path / "state"
    inventory = DEMO_CLOUD if pins.startswith("as") else without_pins(DEMO_CLOUD, tmp_path / "c")
    assert main(["--state-dir", str(state), "sim", "init", str(inventory)]) == 0
    with serve(state) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        plan = ["--state-dir", str(state), "plan", "manifests/demo", "-o", "json"]
        capsys.readouterr()
        outputs = []
        for name in ("sim", "huaweicloud"):
            assert main(["--provider", name, *plan]) == 0, capsys.readouterr()
            outputs.append(capsys.readouterr().out)
    via_sim, via_huaweicloud = outputs
    huawei = json.loads(via_huaweicloud)
    assert huawei["applyable"] and huawei["steps"] and not huawei["violations"]
    if pins.startswith("none"):
        assert via_huaweicloud == via_sim
    else:
        fingerprint = {"observedFingerprint": None}
        assert {**huawei, **fingerprint} == {**json.loads(via_sim), **fingerprint}


def test_simserver_default_credentials_are_what_the_fixture_uses(env: dict[str, str]) -> None:
    """The fixture's environment carries the documented sim serve test credentials."""
    assert env["HUAWEICLOUD_SDK_AK"] == httpserver.DEFAULT_AK
    assert env["HUAWEICLOUD_PROJECT_ID"] == httpserver.DEFAULT_PROJECT_ID
