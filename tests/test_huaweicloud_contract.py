"""`sim serve` against the official SDK: every call enictl makes, through the SDK's own
clients and models, answers with the fields Huawei Cloud documents, typed as documented.

Each answer is checked twice: the SDK deserialises it into its models without a type
conversion warning, and its raw JSON matches the models' `openapi_types` field by field
(the SDK would quietly turn a number into a string, or any string into True). The
fields a real answer carries (`DOCUMENTED`, from the API reference's field tables and
examples) must be present in every object of that model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkbms import v1 as bms
from huaweicloudsdkcore.exceptions import exceptions as sdk
from huaweicloudsdkecs import v2 as ecs
from huaweicloudsdkeip import v2 as eip
from huaweicloudsdkvpc import v2 as vpc
from huaweicloudsdkvpc import v3 as vpc3

from controller.providers.huaweicloud.settings import Clients, Settings
from controller.providers.sim.cloud import SimCloud, init_cloud
from controller.providers.sim.serve import httpserver
from tests.sim_support import Ids, small_spec

SERVER_DETAIL = """id name status flavor addresses metadata security_groups image
    OS-EXT-AZ:availability_zone OS-EXT-STS:vm_state OS-EXT-STS:task_state
    OS-EXT-STS:power_state OS-EXT-SRV-ATTR:host OS-EXT-SRV-ATTR:hostname
    OS-EXT-SRV-ATTR:hypervisor_hostname OS-EXT-SRV-ATTR:instance_name
    OS-EXT-SRV-ATTR:kernel_id OS-EXT-SRV-ATTR:launch_index OS-EXT-SRV-ATTR:ramdisk_id
    OS-EXT-SRV-ATTR:root_device_name OS-SRV-USG:launched_at OS-SRV-USG:terminated_at
    OS-DCF:diskConfig accessIPv4 accessIPv6 config_drive created updated hostId host_status
    key_name locked tenant_id user_id progress tags enterprise_project_id
    os-extended-volumes:volumes_attached"""
V2_PORT = """id name network_id admin_state_up mac_address fixed_ips device_id device_owner
    tenant_id status security_groups allowed_address_pairs extra_dhcp_opts binding:vnic_type
    binding:vif_details binding:profile dns_assignment dns_name instance_id instance_type
    port_security_enabled zone_id enable_efi"""
V3_PORT = """id name description admin_state_up virsubnet_id vpc_id private_ips security_groups
    status device_id device_owner mac_address tags binding:host_id binding:migration_info
    binding:profile binding:vif_details binding:vif_type binding:vnic_type created_at
    updated_at ecs_flavor enable_efi extra_dhcp_opts instance_id instance_info instance_type
    port_security_enabled position_type project_id scope tenant_id vpc_tenant_id vtep_ip
    zone_id allowed_address_pairs"""
PUBLICIP = """id alias type status public_ip_address tenant_id ip_version bandwidth_id
    bandwidth_name bandwidth_size bandwidth_share_type enterprise_project_id"""
JOB = "job_id job_type status begin_time end_time entities error_code fail_reason"
# the BMS API reference's server fields (ListBareMetalServers, "server" table)
BMS_SERVER = """id user_id name created updated tenant_id hostId addresses key_name image flavor
    security_groups accessIPv4 accessIPv6 status progress config_drive metadata
    OS-EXT-STS:task_state OS-EXT-STS:vm_state OS-EXT-SRV-ATTR:host
    OS-EXT-SRV-ATTR:instance_name OS-EXT-STS:power_state OS-EXT-SRV-ATTR:hypervisor_hostname
    OS-EXT-AZ:availability_zone OS-DCF:diskConfig os-extended-volumes:volumes_attached
    locked tags enterprise_project_id"""
# (SDK package, model) -> the JSON fields every object of that model carries.
DOCUMENTED: dict[tuple[str, str], list[str]] = {
    key: fields.split()
    for key, fields in {
        ("ecs", "ListServersDetailsResponse"): "count servers",
        ("ecs", "ServerDetail"): SERVER_DETAIL,
        ("ecs", "ServerFlavor"): "id name vcpus ram disk gpus asic_accelerators",
        ("ecs", "ServerAddress"): """addr version OS-EXT-IPS:type OS-EXT-IPS-MAC:mac_addr
            OS-EXT-IPS:port_id""",
        ("ecs", "ServerSecurityGroup"): "id name",
        ("ecs", "ServerImage"): "id",
        ("ecs", "ServerExtendVolumeAttachment"): "id device delete_on_termination",
        ("ecs", "ListFlavorsResponse"): "flavors",
        ("ecs", "Flavor"): """id name vcpus ram disk swap links os_extra_specs rxtx_factor
            rxtx_quota rxtx_cap OS-FLV-EXT-DATA:ephemeral OS-FLV-DISABLED:disabled
            os-flavor-access:is_public""",
        ("ecs", "FlavorLink"): "href rel type",
        ("ecs", "ListServerInterfacesResponse"): "attachableQuantity interfaceAttachments",
        ("ecs", "InterfaceAttachment"): """port_state fixed_ips net_id port_id mac_addr
            delete_on_termination""",
        ("ecs", "ServerInterfaceFixedIp"): "subnet_id ip_address",
        ("ecs", "ShowJobResponse"): JOB,
        ("ecs", "SubJob"): JOB,
        ("ecs", "BatchAddServerNicsResponse"): "job_id",
        ("ecs", "BatchDeleteServerNicsResponse"): "job_id",
        ("vpc", "ListVpcsResponse"): "vpcs",
        ("vpc", "Vpc"): """id name cidr description status routes enterprise_project_id
            tenant_id created_at updated_at""",
        ("vpc", "ListSubnetsResponse"): "subnets",
        ("vpc", "Subnet"): """id name description cidr gateway_ip ipv6_enable dhcp_enable
            primary_dns secondary_dns dnsList availability_zone vpc_id status
            neutron_network_id neutron_subnet_id extra_dhcp_opts tenant_id created_at
            updated_at available_ip_address_count""",
        ("vpc", "ListSecurityGroupsResponse"): "security_groups",
        ("vpc", "SecurityGroup"): """id name description vpc_id enterprise_project_id
            security_group_rules""",
        ("vpc", "Port"): V2_PORT,
        ("vpc", "FixedIp"): "subnet_id ip_address",
        ("vpc", "ListPortsResponse"): "ports",
        ("vpc", "CreatePortResponse"): "port",
        ("vpc", "UpdatePortResponse"): "port",
        ("vpc", "ShowPortResponse"): "port",
        ("vpc3", "ListPortsResponse"): "ports page_info request_id",
        ("vpc3", "PageInfo"): "current_count",
        ("vpc3", "Port"): V3_PORT,
        ("vpc3", "PrivateIpInfo"): "subnet_cidr_id ip_address",
        ("vpc3", "ResponseTag"): "key value",
        ("vpc3", "ShowPortResponse"): "port request_id",
        ("vpc3", "ShowPortTagsResponse"): "tags request_id",
        ("vpc3", "ResourceTag"): "key value",
        ("eip", "ListPublicipsResponse"): "publicips",
        ("eip", "PublicipShowResp"): PUBLICIP + " create_time",
        ("eip", "UpdatePublicipResponse"): "publicip",
        ("eip", "PublicipUpdateResp"): PUBLICIP + " create_time",
        ("bms", "ListBareMetalServersResponse"): "count servers",
        ("bms", "ServerDetails"): BMS_SERVER,
        ("bms", "FlavorInfos"): "id name vcpus ram disk",
        ("bms", "AddressInfo"): "version addr OS-EXT-IPS:type OS-EXT-IPS-MAC:mac_addr",
        ("bms", "MetadataList"): "vpc_id baremetalPortIDList",
        ("bms", "ListBaremetalFlavorDetailExtendsResponse"): "flavors",
        ("bms", "FlavorsResp"): "id name vcpus ram disk os_extra_specs",
        ("bms", "ShowBaremetalServerInterfaceAttachmentsResponse"): "interfaceAttachments",
        ("bms", "InterfaceAttachments"): "port_state fixed_ips net_id port_id mac_addr",
        ("bms", "FixedIps"): "subnet_id ip_address",
        ("bms", "AddServerNicsResponse"): "job_id",
        ("bms", "DeleteServerNicsResponse"): "job_id",
        ("bms", "ShowJobInfosResponse"): "status entities job_id job_type begin_time end_time",
        ("bms", "SubJobs"): "status entities job_id job_type begin_time end_time",
        ("bms", "Entitie"): "server_id nic_id",
    }.items()
}
# A value the SDK had to convert to its model's type fails the test.
pytestmark = pytest.mark.filterwarnings(
    "error::huaweicloudsdkcore.warning.warning.TypeConversionWarning"
)
PACKAGES = {"ecs": ecs, "vpc": vpc, "vpc3": vpc3, "eip": eip, "bms": bms}
PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
}


@dataclass
class Checked:
    """What a walk over one answer found: problems, and the models it went through."""

    problems: list[str]
    seen: set[tuple[str, str]]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[SimCloud]:
    """The small cloud on the real clock (not conftest's fake one): `sim serve` keeps real time."""
    found = init_cloud(tmp_path, small_spec())
    yield found
    found.close()


def walk(value: Any, kind: str, package: str, where: str, found: Checked) -> None:
    """Check JSON `value` against the SDK type `kind` (as openapi_types spell it)."""
    if value is None or kind == "object":
        return
    listed = re.fullmatch(r"list\[(.+)\]", kind)
    mapping = re.fullmatch(r"dict\([^,]+, (.+)\)", kind)
    if listed or mapping:
        container = list if listed else dict
        if not isinstance(value, container):
            found.problems.append(f"{where}: {type(value).__name__}, not {kind}")
            return
        inner = (listed or mapping).group(1)  # type: ignore[union-attr]
        items = enumerate(value) if listed else value.items()
        for key, item in items:
            walk(item, inner, package, f"{where}[{key!r}]", found)
        return
    if kind in PRIMITIVES:
        wanted = PRIMITIVES[kind]
        wrong = isinstance(value, bool) and bool not in wanted
        if wrong or not isinstance(value, wanted):
            found.problems.append(f"{where}: {value!r} is not a {kind}")
        return
    model = getattr(PACKAGES[package], kind)
    if not isinstance(value, dict):
        found.problems.append(f"{where}: {type(value).__name__}, not a {kind} object")
        return
    found.seen.add((package, kind))
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            found.problems.append(f"{where}.{key}: not a field of {kind}")
        else:
            walk(item, model.openapi_types[by_json[key]], package, f"{where}.{key}", found)
    missing = [f for f in DOCUMENTED.get((package, kind), ()) if f not in value]
    if missing:
        found.problems.append(f"{where} ({kind}) lacks {missing}")


def conforms(response: Any, package: str) -> dict[str, Any]:
    """The answer's JSON, after checking it against the SDK model it was read into."""
    body = json.loads(response.raw_content or b"{}")
    found = Checked([], set())
    walk(body, type(response).__name__, package, "answer", found)
    assert not found.problems, "\n".join(found.problems)
    assert (package, type(response).__name__) in DOCUMENTED or not body
    return dict(body)


@pytest.fixture
def clients(tmp_path: Path, cloud: SimCloud) -> Iterator[Clients]:
    running = httpserver.start(tmp_path, httpserver.ServeSettings.from_env({}))
    env = running.client_env()
    built = Clients.build(
        Settings(
            env["HUAWEICLOUD_SDK_AK"],
            env["HUAWEICLOUD_SDK_SK"],
            env["HUAWEICLOUD_PROJECT_ID"],
            endpoint=env["ENICTL_HUAWEICLOUD_ENDPOINT"],
        )
    )
    yield built
    for client in (built.ecs, built.bms, built.vpc, built.vpc3, built.eip):
        client.close()
    running.stop()


BMS_SPEC = {
    "flavors": [
        {"name": "s6.large.2", "maxInterfaces": 3},
        {"name": "physical.o2.medium", "maxInterfaces": 3, "bareMetal": True},
    ],
    "vpcs": [{"name": "vpc-prod", "cidr": "10.0.0.0/16"}],
    "subnets": [{"name": "subnet-web", "vpc": "vpc-prod", "cidr": "10.0.1.0/24"}],
    "securityGroups": [{"name": "sg-web"}],
    "eips": [{"name": "eip-1", "address": "198.51.100.10"}],
    "servers": [
        {"name": "web-1", "flavor": "s6.large.2", "availabilityZone": "az1", "vpc": "vpc-prod",
         "subnet": "subnet-web"},
        {"name": "bm-1", "flavor": "physical.o2.medium", "availabilityZone": "az1",
         "vpc": "vpc-prod", "subnet": "subnet-web", "securityGroups": ["sg-web"]},
    ],
    "interfaces": [
        {"name": "bm-data", "subnet": "subnet-web", "server": "bm-1", "eip": "eip-1"},
    ],
}  # fmt: skip


@pytest.fixture
def bms_clients(tmp_path: Path) -> Iterator[tuple[Clients, SimCloud]]:
    """The SDK's clients on a served cloud with a BMS (`bm-1`) beside an ECS."""
    state = tmp_path / "bms"
    cloud = init_cloud(state, BMS_SPEC)
    running = httpserver.start(state, httpserver.ServeSettings.from_env({}))
    env = running.client_env()
    built = Clients.build(
        Settings(
            env["HUAWEICLOUD_SDK_AK"],
            env["HUAWEICLOUD_SDK_SK"],
            env["HUAWEICLOUD_PROJECT_ID"],
            endpoint=env["ENICTL_HUAWEICLOUD_ENDPOINT"],
        )
    )
    yield built, cloud
    for client in (built.ecs, built.bms, built.vpc, built.vpc3, built.eip):
        client.close()
    running.stop()
    cloud.close()


def test_bms_listings(bms_clients: tuple[Clients, SimCloud]) -> None:
    """ListBareMetalServers by page number (the ECS listing shows no BMS) and the BMS
    flavors with baremetal:net_num (a string; the ECS flavors listing has no BMS flavor)."""
    clients, _ = bms_clients
    page = clients.bms.list_bare_metal_servers(
        bms.ListBareMetalServersRequest(limit=1, offset=1, enterprise_project_id="all_granted_eps")
    )
    body = conforms(page, "bms")
    assert [s["name"] for s in body["servers"]] == ["bm-1"] and page.count == 1
    server = page.servers[0]
    kinds = {a.os_ext_ip_stype for nics in server.addresses.values() for a in nics}
    assert kinds == {"fixed", "floating"} and server.flavor.id == "physical.o2.medium"
    after = clients.bms.list_bare_metal_servers(bms.ListBareMetalServersRequest(limit=1, offset=2))
    assert conforms(after, "bms")["servers"] == []
    ecs_names = {s.name for s in clients.ecs.list_servers_details(
        ecs.ListServersDetailsRequest(limit=10)).servers}  # fmt: skip
    assert ecs_names == {"web-1"}
    flavors = clients.bms.list_baremetal_flavor_detail_extends(
        bms.ListBaremetalFlavorDetailExtendsRequest()
    )
    conforms(flavors, "bms")
    assert [(f.id, f.os_extra_specs.baremetalnet_num) for f in flavors.flavors] == [
        ("physical.o2.medium", "3")
    ]
    ecs_flavors = clients.ecs.list_flavors(ecs.ListFlavorsRequest()).flavors
    assert {f.id for f in ecs_flavors} == {"s6.large.2"}


def test_bms_nic_calls(bms_clients: tuple[Clients, SimCloud]) -> None:
    """AddServerNics by subnet (with an address and groups) answers a job id, and the job
    (ShowJobInfos) names the port it made; os-interface lists it; the BMS's
    UpdateBaremetalServerInterfaceAttachments answers no body; DeleteServerNics a job."""
    clients, cloud = bms_clients
    ids = Ids(cloud)
    server = ids.server("bm-1")
    seen = cloud.observe()
    subnet, group = seen.catalog.subnets["subnet-web"].id, seen.catalog.security_groups["sg-web"].id
    nic = bms.ServerNicsReq(
        subnet_id=subnet, ip_address="10.0.1.80", security_groups=[bms.SecurityGroupInfo(id=group)]
    )
    add = bms.AddServerNicsRequest(server_id=server, body=bms.AddServerNicsReq(nics=[nic]))
    job_id = conforms(clients.bms.add_server_nics(add), "bms")["job_id"]
    job = clients.bms.show_job_infos(bms.ShowJobInfosRequest(job_id=job_id))
    conforms(job, "bms")
    port = job.entities.sub_jobs[0].entities.nic_id
    assert job.status == "SUCCESS" and port
    listed = clients.bms.show_baremetal_server_interface_attachments(
        bms.ShowBaremetalServerInterfaceAttachmentsRequest(server_id=server)
    )
    conforms(listed, "bms")
    made = next(a for a in listed.interface_attachments if a.port_id == port)
    assert made.fixed_ips[0].ip_address == "10.0.1.80"
    update = bms.UpdateBaremetalServerInterfaceAttachmentsRequest(
        server_id=server,
        port_id=port,
        body=bms.UpdateBaremetalServerInterfaceAttachmentsReq(
            interface_attachment=bms.InterfaceAttachmentsReq(delete_on_termination=False)
        ),
    )
    updated = clients.bms.update_baremetal_server_interface_attachments(update)
    assert (updated.status_code, updated.raw_content) == (200, b"")
    delete = bms.DeleteServerNicsRequest(
        server_id=server, body=bms.DeleteServerNicsReq(nics=[bms.ServerNics(id=port)])
    )
    gone = conforms(clients.bms.delete_server_nics(delete), "bms")["job_id"]
    finished = clients.bms.show_job_infos(bms.ShowJobInfosRequest(job_id=gone))
    assert conforms(finished, "bms")["status"] == "SUCCESS"


def test_bms_refusals(bms_clients: tuple[Clients, SimCloud]) -> None:
    """The BMS API answers an ECS's id as no BMS, a port of a BMS's NICs past its limit
    with its own code, and the ECS API does not know a BMS."""
    clients, cloud = bms_clients
    ids = Ids(cloud)
    subnet = cloud.observe().catalog.subnets["subnet-web"].id
    body = bms.AddServerNicsReq(nics=[bms.ServerNicsReq(subnet_id=subnet)])
    with pytest.raises(sdk.ClientRequestException) as caught:
        clients.bms.add_server_nics(
            bms.AddServerNicsRequest(server_id=ids.server("web-1"), body=body)
        )
    assert (caught.value.status_code, caught.value.error_code) == (404, "BMS.0114")
    interfaces = ecs.ListServerInterfacesRequest(server_id=ids.server("bm-1"))
    with pytest.raises(sdk.ClientRequestException) as caught:
        clients.ecs.list_server_interfaces(interfaces)
    assert caught.value.error_code == "Ecs.0114"
    request = bms.AddServerNicsRequest(server_id=ids.server("bm-1"), body=body)
    clients.bms.add_server_nics(request)  # the third NIC of three
    with pytest.raises(sdk.ClientRequestException) as caught:
        clients.bms.add_server_nics(request)
    assert (caught.value.status_code, caught.value.error_code) == (400, "BMS.0050")


def test_servers_listing(clients: Clients, cloud: SimCloud) -> None:
    """ListServersDetails by marker with all_granted_eps: ServerDetail as documented,
    flavor id = name, flavor.ram a string, power_state an integer, fixed + floating
    addresses of the NICs."""
    request = ecs.ListServersDetailsRequest(limit=10, enterprise_project_id="all_granted_eps")
    answer = clients.ecs.list_servers_details(request)
    body = conforms(answer, "ecs")
    assert answer.count == 4 and len(answer.servers) == 4
    web1 = next(s for s in answer.servers if s.name == "web-1")
    flavor = web1.flavor
    assert (flavor.id, flavor.name, flavor.vcpus, flavor.ram) == ("s6.large.2",) * 2 + ("2", "4096")
    assert (web1.os_ext_st_svm_state, web1.os_ext_st_spower_state) == ("active", 1)
    other = next(s for s in answer.servers if s.name == "other-1")
    assert (other.os_ext_st_svm_state, other.os_ext_st_spower_state) == ("stopped", 4)
    kinds = {a.os_ext_ip_stype for nics in web1.addresses.values() for a in nics}
    assert kinds == {"fixed", "floating"}  # legacy-1 carries eip-1
    last = body["servers"][-1]["id"]
    after = clients.ecs.list_servers_details(ecs.ListServersDetailsRequest(limit=10, marker=last))
    assert conforms(after, "ecs")["servers"] == [] and after.count == 4


def test_flavors_listing(clients: Clients) -> None:
    """ListFlavors: ids are names, ram an integer, vcpus a string, the NIC limit a string."""
    answer = clients.ecs.list_flavors(ecs.ListFlavorsRequest(limit=1000))
    conforms(answer, "ecs")
    large = next(f for f in answer.flavors if f.name == "s6.large.2")
    assert (large.id, large.ram, large.vcpus) == ("s6.large.2", 4096, "2")
    assert large.os_extra_specs.quotavif_max_num == "3"


def test_nic_calls(clients: Clients, cloud: SimCloud) -> None:
    """BatchAddServerNics / BatchDeleteServerNics answer a job id; ShowJob the job and its
    sub-job; ListServerInterfaces the attachments and free_nic; UpdateServerInterface no
    body at all."""
    ids = Ids(cloud)
    server, port = ids.server("web-1"), ids.port("spare-1")
    add = ecs.BatchAddServerNicsRequest(
        server_id=server,
        body=ecs.BatchAddServerNicsRequestBody(nics=[ecs.BatchAddServerNicOption(port_id=port)]),
    )
    job_id = clients.ecs.batch_add_server_nics(add).job_id
    job = clients.ecs.show_job(ecs.ShowJobRequest(job_id=job_id))
    conforms(job, "ecs")
    assert job.status == "SUCCESS" and job.entities.sub_jobs[0].entities.nic_id == port
    assert job.error_code is None and job.fail_reason is None

    interfaces = clients.ecs.list_server_interfaces(ecs.ListServerInterfacesRequest(server))
    conforms(interfaces, "ecs")
    assert interfaces.attachable_quantity.free_nic == 0
    assert {a.port_id for a in interfaces.interface_attachments} >= {port}

    update = ecs.UpdateServerInterfaceRequest(
        server_id=server,
        port_id=port,
        body=ecs.UpdateNicInfoRequestBody(
            interface_attachment=ecs.InterfaceAttachment(delete_on_termination=False)
        ),
    )
    updated = clients.ecs.update_server_interface(update)
    assert (updated.status_code, updated.raw_content) == (200, b"")

    delete = ecs.BatchDeleteServerNicsRequest(
        server_id=server,
        body=ecs.BatchDeleteServerNicsRequestBody(nics=[ecs.BatchDeleteServerNicOption(id=port)]),
    )
    conforms(clients.ecs.batch_delete_server_nics(delete), "ecs")


def test_refusals_that_the_reference_documents(clients: Clients, cloud: SimCloud) -> None:
    """An unknown job is 400 Common.0011; the primary NIC's detach a 403 that does not
    claim Ecs.0003 ("no permission")."""
    with pytest.raises(sdk.ClientRequestException) as raised:
        clients.ecs.show_job(ecs.ShowJobRequest(job_id="no-such-job"))
    assert (raised.value.status_code, raised.value.error_code) == (400, "Common.0011")
    ids = Ids(cloud)
    delete = ecs.BatchDeleteServerNicsRequest(
        server_id=ids.server("web-1"),
        body=ecs.BatchDeleteServerNicsRequestBody(
            nics=[ecs.BatchDeleteServerNicOption(id=ids.port("web-1-primary"))]
        ),
    )
    with pytest.raises(sdk.ClientRequestException) as raised:
        clients.ecs.batch_delete_server_nics(delete)
    assert raised.value.status_code == 403 and raised.value.error_code != "Ecs.0003"


def test_vpc_v1_listings(clients: Clients, cloud: SimCloud) -> None:
    """ListVpcs, ListSubnets (gateway_ip, the pinned AZ only as a hint) and
    ListSecurityGroups (regional: no vpc_id)."""
    vpcs = clients.vpc.list_vpcs(vpc.ListVpcsRequest(limit=10))
    conforms(vpcs, "vpc")
    subnets = clients.vpc.list_subnets(vpc.ListSubnetsRequest(limit=10))
    conforms(subnets, "vpc")
    web = next(s for s in subnets.subnets if s.name == "subnet-web")
    assert (web.gateway_ip, web.availability_zone, web.dhcp_enable) == ("10.0.1.1", "az1", True)
    groups = clients.vpc.list_security_groups(
        vpc.ListSecurityGroupsRequest(limit=10, enterprise_project_id="all_granted_eps")
    )
    conforms(groups, "vpc")
    assert {g.vpc_id for g in groups.security_groups} == {""}


def test_ports(clients: Clients, cloud: SimCloud) -> None:
    """VPC v3 ListPorts (page_info, tags), ShowPort and ShowPortTags; VPC v1 ListPorts and
    ShowPort: the same port, each in its version's shape."""
    ids = Ids(cloud)
    listed = clients.vpc3.list_ports(vpc3.ListPortsRequest(limit=3))
    conforms(listed, "vpc3")
    assert listed.page_info.current_count == 3 and listed.page_info.next_marker
    spare2 = ids.port("spare-2")
    shown = clients.vpc3.show_port(vpc3.ShowPortRequest(port_id=spare2))
    conforms(shown, "vpc3")
    assert [(t.key, t.value) for t in shown.port.tags] == [("enictl-managed", "true")]
    tags = clients.vpc3.show_port_tags(vpc3.ShowPortTagsRequest(port_id=spare2))
    conforms(tags, "vpc3")
    assert [(t.key, t.value) for t in tags.tags] == [("enictl-managed", "true")]
    conforms(clients.vpc.list_ports(vpc.ListPortsRequest(limit=100)), "vpc")
    legacy = clients.vpc.show_port(vpc.ShowPortRequest(port_id=ids.port("legacy-1")))
    conforms(legacy, "vpc")
    assert legacy.port.device_owner == "compute:az1" and legacy.port.status == "ACTIVE"


def test_port_create_tag_update_rename_delete(clients: Clients, cloud: SimCloud) -> None:
    """CreatePort, CreatePortTag (no body), UpdatePort with a new name and groups (both
    honoured), DeletePort."""
    ids = Ids(cloud)
    option = vpc.CreatePortOption(
        name="eni-new", network_id=ids.subnet("subnet-web"), security_groups=[ids.sg("sg-web")]
    )
    created = clients.vpc.create_port(
        vpc.CreatePortRequest(body=vpc.CreatePortRequestBody(port=option))
    )
    conforms(created, "vpc")
    assert created.status_code == 201
    port_id = created.port.id
    tag = vpc3.CreatePortTagRequest(
        port_id=port_id,
        body=vpc3.CreatePortTagRequestBody(
            tag=vpc3.ResourceTag(key="enictl-managed", value="true")
        ),
    )
    assert clients.vpc3.create_port_tag(tag).status_code == 204
    update = vpc.UpdatePortRequest(
        port_id=port_id,
        body=vpc.UpdatePortRequestBody(
            port=vpc.UpdatePortOption(name="eni-renamed", security_groups=[ids.sg("sg-db")])
        ),
    )
    updated = clients.vpc.update_port(update)
    conforms(updated, "vpc")
    assert updated.port.name == "eni-renamed"
    seen = cloud.snapshot().interfaces["eni-renamed"]
    assert (seen.id, seen.security_groups, seen.managed) == (port_id, ("sg-db",), True)
    clients.vpc.delete_port(vpc.DeletePortRequest(port_id=port_id))
    assert "eni-renamed" not in cloud.snapshot().interfaces


def test_a_rename_the_api_refuses(clients: Clients, cloud: SimCloud) -> None:
    """A name longer than VPC's 255 characters is a 400, and nothing changes."""
    ids = Ids(cloud)
    update = vpc.UpdatePortRequest(
        port_id=ids.port("spare-1"),
        body=vpc.UpdatePortRequestBody(port=vpc.UpdatePortOption(name="x" * 256)),
    )
    with pytest.raises(sdk.ClientRequestException) as raised:
        clients.vpc.update_port(update)
    assert raised.value.status_code == 400
    assert "spare-1" in cloud.snapshot().interfaces


def test_publicips(clients: Clients, cloud: SimCloud) -> None:
    """ListPublicips (port_id only while bound) and UpdatePublicip, which answers with the
    whole public IP, for a bind and an unbind (port_id "")."""
    ids = Ids(cloud)
    listed = clients.eip.list_publicips(
        eip.ListPublicipsRequest(limit=10, enterprise_project_id="all_granted_eps")
    )
    body = conforms(listed, "eip")
    bound = {p["alias"]: "port_id" in p for p in body["publicips"]}
    assert bound == {"eip-1": True, "eip-2": False}
    for port in (ids.port("spare-2"), ""):
        request = eip.UpdatePublicipRequest(
            publicip_id=ids.eip("eip-2"),
            body=eip.UpdatePublicipsRequestBody(publicip=eip.UpdatePublicipOption(port_id=port)),
        )
        answer = clients.eip.update_publicip(request)
        conforms(answer, "eip")
        assert answer.publicip.public_ip_address == "198.51.100.11"
        assert (answer.publicip.port_id or "") == port
        assert answer.publicip.status == ("ACTIVE" if port else "DOWN")


def test_every_documented_model_is_exercised() -> None:
    """The table of documented fields names only models the SDK has (no typo hides one)."""
    for package, model in DOCUMENTED:
        assert hasattr(PACKAGES[package], model), (package, model)
