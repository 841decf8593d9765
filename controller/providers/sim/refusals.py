"""The simulated cloud's error catalogue: each refusal with its real cloud code and status.

Codes and HTTP statuses come from Huawei Cloud's ECS and VPC error tables (the
Open Telekom Cloud copies of them, which share the codes) unless marked otherwise:

| refusal | code | status | source |
|---|---|---|---|
| request parameters invalid (ECS) | Ecs.0005 | 400 | ECS table |
| port's subnet pinned to another AZ (attach) | Ecs.0014 | 400 | ECS table (1) |
| NIC count over the flavor's quota | Ecs.0050 | 400 | ECS table |
| VPC differs from the primary NIC's | Ecs.0064 | 400 | ECS table |
| server does not have that NIC | Ecs.0085 | 400 | ECS table |
| server status forbids it | Ecs.0100 | 400 | ECS table |
| server does not exist | Ecs.0114 | 404 | ECS table |
| NIC already attached (or attaching) | Ecs.0919 | 400 | ECS table |
| primary NIC detached or deleted | Ecs.0003 | 403 | the ECS table's one 403 (unconfirmed) |
| job does not exist | Common.0011 | 404 | ECS table says 400 |
| port parameter invalid (2) | VPC.2500 | 400 | VPC table (create port: "Param is invalid") |
| private IP in use (by any port) | VPC.0701 | 409 | VPC table (create port: "IP is in use") |
| port does not exist | VPC.0704 | 404 | VPC table ("resource query by ID failed") |
| port still attached, not deletable | VPC.0707 | 409 | VPC table ("IP address is in use") |
| security group does not exist | VPC.0603 | 404 | VPC table |
| EIP does not exist | VPC.0504 | 404 | VPC table |
| EIP already bound to a port | VPC.0510 | 409 | VPC table |
| port already has an EIP | VPC.0511 | 409 | VPC table |
| port name already taken | Sim.0001 | 409 | simulator only: real port names need not be unique |
| other operations running (transient) | Ecs.0603 | 501 | ECS table ("try again 1 minute later") |
| throttled (transient) | APIGW.0308 | 429 | API Gateway's throttling code |
| BMS: request invalid (subnet, IP, groups, no BMS NIC add) | BMS.0001 | 400 | BMS table |
| BMS: NIC count over the flavor's baremetal:net_num | BMS.0050 | 400 | (3) |
| BMS: subnet in another VPC than the BMS | BMS.0064 | 400 | (3) |
| BMS: server status forbids it | BMS.0100 | 400 | (3) |
| BMS: server does not exist (or is no BMS) | BMS.0114 | 404 | (3) |
| BMS: IP address in use | BMS.0010 | 400 | (3) |
| BMS: server does not have that NIC | BMS.0085 | 400 | (3) |
| BMS: other NIC operations running (transient) | BMS.0603 | 501 | (3) |
| BMS: a NIC job failed (attach / detach) | BMS.0217 / BMS.0507 | (job) | (3) |

(1) "Incorrect VPC, subnet or security group"; only a simulated subnet is pinned.
(2) VPC.2500 answers a port whose subnet is unknown, whose IP is not an address, lies
outside the subnet or is one of its reserved addresses, a subnet with no free address
left, and a security group pinned to another VPC (only a simulated group is pinned):
that the real VPC answers VPC.2500 in each of these cases is unconfirmed.

(3) The BMS API reference lists only its common codes (BMS.0001 "Fail to parse
request" among them) and says NIC failures may surface in the job instead: these codes
mirror the ECS numbers of the same refusal and are the simulator's choice
(unconfirmed). The ECS API answers a BMS's id with Ecs.0114 (its listing shows none).

Late failures end a job FAIL with Ecs.0217 (attach NIC failed) or Ecs.0507 (delete
NIC failed), both from the ECS table, or (a stop job) Sim.0005: the ECS table we read
names no code for a failed stop. VPC calls (ports, security groups, EIPs) answer
VPC codes only, ECS calls (NICs of servers, jobs) ECS codes.
"""

from __future__ import annotations

from controller.errors import PermanentProviderError, ProviderError, TransientProviderError

BAD_PARAMETER = "Ecs.0005"
ZONE_MISMATCH = "Ecs.0014"
NIC_QUOTA = "Ecs.0050"
VPC_MISMATCH = "Ecs.0064"
NIC_NOT_ON_SERVER = "Ecs.0085"
SERVER_STATUS = "Ecs.0100"
SERVER_NOT_FOUND = "Ecs.0114"
NIC_ATTACHED = "Ecs.0919"
PRIMARY_NIC = "Ecs.0003"
JOB_NOT_FOUND = "Common.0011"
PORT_INVALID = "VPC.2500"
IP_IN_USE = "VPC.0701"
PORT_NOT_FOUND = "VPC.0704"
PORT_IN_USE = "VPC.0707"
SECURITY_GROUP_NOT_FOUND = "VPC.0603"
EIP_NOT_FOUND = "VPC.0504"
EIP_BOUND = "VPC.0510"
PORT_HAS_EIP = "VPC.0511"
DUPLICATE_NAME = "Sim.0001"
BUSY = "Ecs.0603"
THROTTLED = "APIGW.0308"
BMS_BAD_REQUEST = "BMS.0001"
BMS_NIC_QUOTA = "BMS.0050"
BMS_VPC_MISMATCH = "BMS.0064"
BMS_SERVER_STATUS = "BMS.0100"
BMS_SERVER_NOT_FOUND = "BMS.0114"
BMS_IP_IN_USE = "BMS.0010"
BMS_NIC_NOT_ON_SERVER = "BMS.0085"
BMS_BUSY = "BMS.0603"
ATTACH_FAILED = "Ecs.0217"
DETACH_FAILED = "Ecs.0507"
STOP_FAILED = "Sim.0005"

_STATUS = {
    BAD_PARAMETER: 400,
    ZONE_MISMATCH: 400,
    NIC_QUOTA: 400,
    VPC_MISMATCH: 400,
    NIC_NOT_ON_SERVER: 400,
    SERVER_STATUS: 400,
    SERVER_NOT_FOUND: 404,
    NIC_ATTACHED: 400,
    PRIMARY_NIC: 403,
    JOB_NOT_FOUND: 404,
    PORT_INVALID: 400,
    IP_IN_USE: 409,
    PORT_NOT_FOUND: 404,
    PORT_IN_USE: 409,
    SECURITY_GROUP_NOT_FOUND: 404,
    EIP_NOT_FOUND: 404,
    EIP_BOUND: 409,
    PORT_HAS_EIP: 409,
    DUPLICATE_NAME: 409,
    BUSY: 501,
    THROTTLED: 429,
    BMS_BAD_REQUEST: 400,
    BMS_NIC_QUOTA: 400,
    BMS_VPC_MISMATCH: 400,
    BMS_SERVER_STATUS: 400,
    BMS_SERVER_NOT_FOUND: 404,
    BMS_IP_IN_USE: 400,
    BMS_NIC_NOT_ON_SERVER: 400,
    BMS_BUSY: 501,
}

TRANSIENT_CODES = frozenset({BUSY, THROTTLED, BMS_BUSY})

# The BMS API's code for each refusal the ECS API makes with its own.
BMS_CODES = {
    BAD_PARAMETER: BMS_BAD_REQUEST,
    ZONE_MISMATCH: BMS_BAD_REQUEST,
    NIC_QUOTA: BMS_NIC_QUOTA,
    VPC_MISMATCH: BMS_VPC_MISMATCH,
    SERVER_STATUS: BMS_SERVER_STATUS,
    SERVER_NOT_FOUND: BMS_SERVER_NOT_FOUND,
    NIC_NOT_ON_SERVER: BMS_NIC_NOT_ON_SERVER,
    BUSY: BMS_BUSY,
    PORT_INVALID: BMS_BAD_REQUEST,
    SECURITY_GROUP_NOT_FOUND: BMS_BAD_REQUEST,
    IP_IN_USE: BMS_IP_IN_USE,
    ATTACH_FAILED: "BMS.0217",
    DETACH_FAILED: "BMS.0507",
}


def bare_metal(exc: ProviderError) -> ProviderError:
    """The BMS API's form of a refusal the shared rules made with an ECS or VPC code."""
    code = BMS_CODES.get(exc.code)
    return exc if code is None else refuse(code, exc.message)


def refuse(code: str, message: str) -> ProviderError:
    """The error the cloud raises for `code`: transient or permanent, with its HTTP status."""
    status = _STATUS.get(code, 400)
    if code in TRANSIENT_CODES:
        return TransientProviderError(code, message, status=status)
    return PermanentProviderError(code, message, status=status)
