"""The BMS API's JSON shapes for the simulated cloud: pure functions of an `index.Index`.

Field names, nesting and types follow Huawei Cloud's BMS API reference and the official
SDK's models (`huaweicloudsdkbms.v1.model`): `baremetalservers/detail`
(`ListBareMetalServersResponse`, `ServerDetails`), `baremetalservers/flavors`
(`FlavorsResp`, its NIC limit `baremetal:net_num` a string), a BMS's `os-interface`
(`interfaceAttachments`, without ECS's `attachableQuantity` and `delete_on_termination`)
and `jobs/{id}` (`ShowJobInfosResponse`, the new NIC's id at
`entities.sub_jobs[0].entities.nic_id`).

- a BMS's `addresses` entries have no `primary` (the BMS model has none); the primary
  NIC's port says `binding:vif_details.primary_interface` (as `network` writes it) and
  comes first in `metadata.baremetalPortIDList` (unconfirmed, the reference does not
  say what that list holds beyond "the BMS's NICs");
- `count` is the number of servers on the page: the reference says its maximum is
  `limit` (unconfirmed which it is; the huaweicloud provider does not rely on it).

The ECS API does not show BMSs, nor BMS flavors (`compute`, `listings`).
"""

from __future__ import annotations

from typing import Any

from controller.model import NetworkInterface, Server
from controller.providers.base import Job
from controller.providers.sim.serve.compute import (
    JOB_TIME,
    TASK_STATES,
    VM_STATES,
    flavor_body,
    flavor_size,
    power_state,
)
from controller.providers.sim.serve.index import (
    CREATED,
    ENTERPRISE_PROJECT,
    Index,
    derived_id,
    mac_address,
    neutron_subnet_id,
)

JsonDict = dict[str, Any]
JOB_TYPES = {"bms_attach": "baremetalAddNics", "bms_detach": "baremetalDeleteNics"}  # (unconfirmed)


def server(index: Index, srv: Server) -> JsonDict:
    """A BMS as `baremetalservers/detail` shows it."""
    vpc_id = index.vpc_id(srv.vpc)
    nics = index.interfaces_on(srv.name)
    groups = index.topology.catalog.security_groups
    vcpus, ram = flavor_size(srv.flavor)
    host = derived_id("host", srv.availability_zone).replace("-", "")
    instance = f"instance-{srv.id.replace('-', '')[:8]}"
    image = derived_id("image", srv.flavor)
    return {
        "id": srv.id,
        "user_id": derived_id("user", index.project_id),
        "name": srv.name,
        "created": CREATED,
        "updated": CREATED,
        "tenant_id": index.project_id,
        "hostId": host,
        "addresses": {vpc_id: [a for i in nics for a in _addresses(index, i)]} if nics else {},
        "key_name": "",
        "image": {"id": image},
        "flavor": {
            "id": srv.flavor,
            "name": srv.flavor,
            "vcpus": str(vcpus),
            "ram": str(ram),
            "disk": "0",
            "gpus": [],
            "asic_accelerators": [],
        },
        "security_groups": [
            {"id": groups[n].id, "name": n} for n in srv.security_groups or () if n in groups
        ],
        "accessIPv4": "",
        "accessIPv6": "",
        "status": srv.status,
        "progress": 0,
        "config_drive": "",
        "metadata": {
            "vpc_id": vpc_id,
            "chargingMode": "0",
            "metering.image_id": image,
            "metering.imagetype": "gold",
            "metering.resourcespeccode": f"{srv.flavor}.linux",
            "metering.resourcetype": "hws.resource.type.pm",
            "baremetalPortIDList": "[" + ", ".join(i.id for i in nics) + "]",
            "image_name": "Sim_Linux_64bit",
            "os_type": "Linux",
            "os_bit": "64",
        },
        "OS-EXT-STS:task_state": TASK_STATES.get(srv.status, ""),
        "OS-EXT-STS:vm_state": VM_STATES.get(srv.status, ""),
        "OS-EXT-SRV-ATTR:host": host,
        "OS-EXT-SRV-ATTR:instance_name": instance,
        "OS-EXT-STS:power_state": power_state(srv.status),
        "OS-EXT-SRV-ATTR:hypervisor_hostname": host,
        "OS-EXT-AZ:availability_zone": srv.availability_zone,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-SRV-USG:launched_at": "2026-01-01T00:00:00.000000",
        "OS-SRV-USG:terminated_at": "",
        "os-extended-volumes:volumes_attached": [],
        "description": "",
        "host_status": "UP",
        "OS-EXT-SRV-ATTR:hostname": srv.name.lower(),
        "OS-EXT-SRV-ATTR:reservation_id": f"r-{instance[9:]}",
        "OS-EXT-SRV-ATTR:launch_index": 0,
        "OS-EXT-SRV-ATTR:kernel_id": "",
        "OS-EXT-SRV-ATTR:ramdisk_id": "",
        "OS-EXT-SRV-ATTR:root_device_name": "/dev/sda",
        "locked": False,
        "tags": ["__type_baremetal"],
        "enterprise_project_id": ENTERPRISE_PROJECT,
        "sys_tags": [{"key": "_sys_enterprise_project_id", "value": ENTERPRISE_PROJECT}],
    }


def _addresses(index: Index, iface: NetworkInterface) -> list[JsonDict]:
    """A NIC's entries in a BMS's `addresses`: fixed, and floating while an EIP is bound."""
    common = {"OS-EXT-IPS-MAC:mac_addr": mac_address(iface.id), "OS-EXT-IPS:port_id": iface.id}
    out = [{"version": "4", "addr": iface.private_ip, "OS-EXT-IPS:type": "fixed", **common}]
    eip = index.port_eips.get(iface.id)
    if eip is not None:
        out.append({"version": "4", "addr": eip.address, "OS-EXT-IPS:type": "floating", **common})
    return out


def flavor(index: Index, name: str) -> JsonDict:
    """A BMS flavor as `baremetalservers/flavors` shows it; its NIC limit is
    `baremetal:net_num` (a string), absent when the simulated flavor states none."""
    specs = {
        "resource_type": "ironic",
        "capabilities:cpu_arch": "x86_64",
        "capabilities:hypervisor_type": "ironic",
        "capabilities:board_type": name.split(".")[1] if "." in name else name,
        "baremetal:__support_evs": "true",
        "cond:operation:status": "normal",
    }
    return flavor_body(index, name, specs, "baremetal:net_num", "bms")


def interface_attachments(index: Index, srv: Server) -> JsonDict:
    """A BMS's `os-interface`: its NICs (no free-slot count, unlike ECS)."""
    return {
        "interfaceAttachments": [
            {
                "port_state": "ACTIVE",
                "fixed_ips": [
                    {
                        "subnet_id": neutron_subnet_id(index.subnet_id(i.subnet)),
                        "ip_address": i.private_ip,
                    }
                ],
                "net_id": index.subnet_id(i.subnet),
                "port_id": i.id,
                "mac_addr": mac_address(i.id),
                "driver_mode": "",
                "pci_address": "",
            }
            for i in index.interfaces_on(srv.name)
        ]
    }


def job(found: Job, kind: str, server_id: str) -> JsonDict:
    """ShowJobInfos: the job and its one sub-job, which names the NIC (a BMS attach's new
    port once the job has made it)."""
    end = JOB_TIME if found.status.finished else ""
    entities: JsonDict = {"server_id": server_id, "nic_id": found.interface_id}
    if found.error_message:
        entities["errorcode_message"] = found.error_message
    common: JsonDict = {
        "status": found.status.value,
        "begin_time": JOB_TIME,
        "end_time": end,
        "error_code": found.error_code or None,
        "fail_reason": found.error_message or None,
    }
    sub = {**common, "job_id": found.id + "-1", "job_type": JOB_TYPES.get(kind, kind),
           "entities": entities}  # fmt: skip
    return {
        **common,
        "job_id": found.id,
        "job_type": JOB_TYPES.get(kind, kind),
        "entities": {"server_id": server_id, "sub_jobs_total": 1, "sub_jobs": [sub]},
    }
