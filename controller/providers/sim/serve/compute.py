"""ECS's JSON shapes for the simulated cloud: pure functions of an `index.Index`.

Field names, nesting and types follow Huawei Cloud's ECS API reference and the
official SDK's models (`huaweicloudsdkecs.v2.model`): `cloudservers/detail`
(`ServerDetail`), `cloudservers/flavors` (`Flavor`), `os-interface`
(`InterfaceAttachment`) and `jobs/{id}` (`ShowJobResponse`). Every field a real answer
carries is there with the type the reference gives (`flavor.ram` a string in a server,
an integer in a flavor; `OS-EXT-STS:power_state` an integer). What the simulated
cloud does not model (images, hosts, volumes, users) is filled with stable values
derived from the ids it has.

- a flavor's id is its name, as on Huawei Cloud (`s6.large.2`); its vCPUs and memory
  come from the name (`<family>.<size>.<memory per vCPU>`, 2 vCPUs / 4 GiB otherwise);
- a server's `OS-EXT-STS:vm_state`, `task_state` and `power_state` follow its status;
- `addresses` holds one `fixed` entry per NIC and a `floating` entry per bound EIP,
  under the server's VPC id;
- `attachableQuantity.free_nic` is the NIC limit (the flavor's, else the server's
  own) minus the NICs attached; without any limit it is left out.

The servers listing grows with the cloud, so a server is written as JSON text directly
(`server_json`); every other answer is a dict.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from controller.model import NetworkInterface, Server
from controller.providers.base import Job
from controller.providers.sim.serve.index import (
    CREATED,
    ENTERPRISE_PROJECT,
    Index,
    array,
    boolean,
    derived_id,
    mac_address,
    neutron_subnet_id,
    nullable,
    q,
)

JsonDict = dict[str, Any]
FLAVOR_SIZES = {"small": 1, "medium": 1, "large": 2, "xlarge": 4}
DEFAULT_VCPUS, DEFAULT_RAM_MB = 2, 4096
VM_STATES = {
    "ACTIVE": "active",
    "SHUTOFF": "stopped",
    "BUILD": "building",
    "ERROR": "error",
    "REBOOT": "active",
    "HARD_REBOOT": "active",
    "MIGRATING": "active",
    "RESIZE": "active",
    "VERIFY_RESIZE": "resized",
    "REVERT_RESIZE": "resized",
    "REBUILD": "active",
    "SHELVED": "shelved",
    "SHELVED_OFFLOADED": "shelved_offloaded",
    "DELETED": "deleted",
}
TASK_STATES = {
    "BUILD": "spawning",
    "REBOOT": "rebooting",
    "HARD_REBOOT": "rebooting_hard",
    "MIGRATING": "migrating",
    "RESIZE": "resize_migrating",
    "REVERT_RESIZE": "resize_reverting",
    "REBUILD": "rebuilding",
}
POWER_RUNNING, POWER_NOSTATE, POWER_SHUTDOWN = 1, 0, 4
JOB_TYPES = {  # the stop one (unconfirmed): the ECS job types we read name no stop
    "attach": ("batchAddNics", "addNic"),
    "detach": ("batchDeleteNics", "deleteNic"),
    "stop": ("batchStopServers", "stopServer"),
}
JOB_TIME = "2026-01-01T00:00:00.000Z"


def flavor_size(name: str) -> tuple[int, int]:
    """(vCPUs, memory in MiB) that a flavor name such as `s6.2xlarge.4` states."""
    found = re.fullmatch(r"[a-z0-9]+\.(\d*)(small|medium|large|xlarge)\.(\d+)", name)
    if found is None:
        return DEFAULT_VCPUS, DEFAULT_RAM_MB
    times, size, ratio = found.groups()
    vcpus = FLAVOR_SIZES[size] * (int(times) if times else 1)
    return vcpus, vcpus * int(ratio) * 1024


def iso_time(epoch: float) -> str:
    """`2026-12-04T10:42:07Z`, as ECS writes `created` / `updated` (whole seconds)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def power_state(status: str) -> int:
    if status == "SHUTOFF":
        return POWER_SHUTDOWN
    return POWER_RUNNING if VM_STATES.get(status) == "active" else POWER_NOSTATE


# ---------------------------------------------------------------- servers


def server_json(index: Index, srv: Server) -> str:
    """A server as ECS `cloudservers/detail` shows it, as JSON text."""
    vpc_id = q(index.vpc_id(srv.vpc))
    nics = index.interfaces_on(srv.name)
    addresses = array(_address(index, iface) for iface in nics)
    groups = index.topology.catalog.security_groups
    security_groups = array(
        f'{{"id":{q(groups[name].id)},"name":{q(name)}}}'
        for name in srv.security_groups or ()
        if name in groups
    )
    vcpus, ram = flavor_size(srv.flavor)
    flavor = q(srv.flavor)
    project, image = q(index.project_id), q(derived_id("image", srv.flavor))
    host = derived_id("host", srv.availability_zone).replace("-", "")
    instance = f"instance-{srv.id.replace('-', '')[:8]}"
    updated = CREATED if srv.status_since is None else iso_time(srv.status_since)
    return (
        f'{{"id":{q(srv.id)},"name":{q(srv.name)},"status":{q(srv.status)},'
        f'"flavor":{{"id":{flavor},"name":{flavor},"vcpus":"{vcpus}","ram":"{ram}",'
        f'"disk":"0","gpus":[],"asic_accelerators":[]}},'
        f'"OS-EXT-AZ:availability_zone":{q(srv.availability_zone)},'
        f'"OS-EXT-STS:vm_state":{q(VM_STATES.get(srv.status, ""))},'
        f'"OS-EXT-STS:task_state":{q(TASK_STATES.get(srv.status, ""))},'
        f'"OS-EXT-STS:power_state":{power_state(srv.status)},'
        f'"OS-EXT-SRV-ATTR:host":"{host}","OS-EXT-SRV-ATTR:hostname":{q(srv.name.lower())},'
        f'"OS-EXT-SRV-ATTR:hypervisor_hostname":"{host}","OS-EXT-SRV-ATTR:instance_name":'
        f'"{instance}","OS-EXT-SRV-ATTR:kernel_id":"","OS-EXT-SRV-ATTR:launch_index":0,'
        f'"OS-EXT-SRV-ATTR:ramdisk_id":"","OS-EXT-SRV-ATTR:reservation_id":"r-{instance[9:]}",'
        f'"OS-EXT-SRV-ATTR:root_device_name":"/dev/vda","OS-DCF:diskConfig":"MANUAL",'
        f'"OS-SRV-USG:launched_at":"2026-01-01T00:00:00.000000","OS-SRV-USG:terminated_at":"",'
        f'"accessIPv4":"","accessIPv6":"",'
        f'"addresses":{{{vpc_id + ":" + addresses if nics else ""}}},'
        f'"metadata":{{"vpc_id":{vpc_id},"charging_mode":"0","image_name":"Sim_Linux_64bit",'
        f'"metering.image_id":{image},"metering.imagetype":"gold",'
        f'"metering.resourcespeccode":{q(srv.flavor + ".linux")},"os_bit":"64",'
        f'"os_type":"Linux"}},"security_groups":{security_groups},"tenant_id":{project},'
        f'"user_id":"{derived_id("user", index.project_id)}","key_name":"","locked":false,'
        f'"created":"{CREATED}","updated":"{updated}","hostId":"{host}","host_status":"UP",'
        f'"image":{{"id":{image}}},"config_drive":"","progress":0,"description":"",'
        f'"tags":[],"sys_tags":[{{"key":"_sys_enterprise_project_id",'
        f'"value":"{ENTERPRISE_PROJECT}"}}],"enterprise_project_id":"{ENTERPRISE_PROJECT}",'
        f'"os:scheduler_hints":{{}},"auto_terminate_time":"",'
        f'"os-extended-volumes:volumes_attached":[{{"id":"{derived_id("volume", srv.id)}",'
        f'"device":"/dev/vda","delete_on_termination":"true","bootIndex":"0"}}]}}'
    )


def _address(index: Index, iface: NetworkInterface) -> str:
    """A NIC's entry (and its EIP's, when one is bound) in a server's `addresses`."""
    common = (
        f'"OS-EXT-IPS-MAC:mac_addr":"{mac_address(iface.id)}",'
        f'"OS-EXT-IPS:port_id":{q(iface.id)},"primary":{boolean(iface.primary)}'
    )
    fixed = (
        f'{{"version":"4","addr":{nullable(iface.private_ip)},"OS-EXT-IPS:type":"fixed",{common}}}'
    )
    eip = index.port_eips.get(iface.id)
    if eip is None:
        return fixed
    floating = f'{{"version":"4","addr":{q(eip.address)},"OS-EXT-IPS:type":"floating",{common}}}'
    return f"{fixed},{floating}"


# ---------------------------------------------------------------- NICs


def interface_attachment(index: Index, iface: NetworkInterface) -> JsonDict:
    """One row of `os-interface`: the attachment of a port to its server."""
    subnet_id = index.subnet_id(iface.subnet)
    return {
        "port_state": "ACTIVE",
        "fixed_ips": [{"subnet_id": neutron_subnet_id(subnet_id), "ip_address": iface.private_ip}],
        "net_id": subnet_id,
        "port_id": iface.id,
        "mac_addr": mac_address(iface.id),
        "delete_on_termination": iface.delete_on_termination,
        "driver_mode": "virtio",
        "min_rate": None,
        "multiqueue_num": None,
    }


def interface_attachments(index: Index, srv: Server) -> JsonDict:
    """ListServerInterfaces: a server's attachments and how many more NICs it can take."""
    attached = index.interfaces_on(srv.name)
    limit = index.nic_limit(srv)
    quantity = {} if limit is None else {"free_nic": max(limit - len(attached), 0)}
    return {
        "attachableQuantity": quantity,
        "interfaceAttachments": [interface_attachment(index, iface) for iface in attached],
    }


# ---------------------------------------------------------------- flavors


def flavor(index: Index, name: str) -> JsonDict:
    """A flavor as ECS `cloudservers/flavors` shows it: its id is its name."""
    specs = {
        "ecs:performancetype": "normal",
        "ecs:virtualization_env_types": "CloudCompute",
        "resource_type": f"IOoptimized{name.split('.')[0].upper()}",
        "cond:operation:status": "normal",
    }
    return flavor_body(index, name, specs, "quota:vif_max_num", "ecs")


def flavor_body(
    index: Index, name: str, specs: dict[str, str], limit_spec: str, host: str
) -> JsonDict:
    """A flavor as ECS and BMS show one (its id is its name): `specs` are its extra
    specs, plus its NIC limit as `limit_spec` (a string) when it states one."""
    found = index.topology.catalog.flavors[name]
    vcpus, ram = flavor_size(name)
    if found.max_interfaces is not None:
        specs = {**specs, limit_spec: str(found.max_interfaces)}
    link = f"https://{host}.sim.invalid/v1/{index.project_id}/flavors/{name}"
    return {
        "id": name,
        "name": name,
        "vcpus": str(vcpus),
        "ram": ram,
        "disk": "0",
        "swap": "",
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False,
        "rxtx_factor": 1.0,
        "rxtx_quota": None,
        "rxtx_cap": None,
        "os-flavor-access:is_public": True,
        "links": [
            {"rel": "self", "href": link, "type": None},
            {"rel": "bookmark", "href": link, "type": None},
        ],
        "os_extra_specs": specs,
    }


# ---------------------------------------------------------------- jobs


def job(found: Job, kind: str, server_id: str, port_id: str) -> JsonDict:
    """ShowJob: the job and its single sub-job (one NIC, or one server, per batch here)."""
    job_type, sub_type = JOB_TYPES.get(kind, JOB_TYPES["attach"])
    end = JOB_TIME if found.status.finished else ""
    error_code, reason = found.error_code or None, found.error_message or None
    entities: JsonDict = {"server_id": server_id, **({"nic_id": port_id} if port_id else {})}
    if reason:
        entities["errorcode_message"] = reason
    sub: JsonDict = {
        "status": found.status.value,
        "job_id": found.id + "-1",
        "job_type": sub_type,
        "begin_time": JOB_TIME,
        "end_time": end,
        "entities": entities,
        "error_code": error_code,
        "fail_reason": reason,
    }
    return {
        "job_id": found.id,
        "job_type": job_type,
        "status": found.status.value,
        "begin_time": JOB_TIME,
        "end_time": end,
        "entities": {"sub_jobs_total": 1, "sub_jobs": [sub]},
        "error_code": error_code,
        "fail_reason": reason,
    }
