"""The simulated cloud's error catalogue: each refusal with its real cloud code and status.

Codes and HTTP statuses come from Huawei Cloud's ECS and VPC error tables (the
Open Telekom Cloud copies of them, which share the codes) unless marked otherwise:

| refusal | code | status | source |
|---|---|---|---|
| request parameters invalid | Ecs.0005 | 400 | ECS table |
| private IP already in use | Ecs.0010 | 400 | ECS table |
| subnet has no free IP | Ecs.0012 | 400 | ECS table |
| security group of another VPC | Ecs.0014 | 400 | ECS table ("incorrect VPC, subnet or SG") |
| subnet does not exist | Ecs.0038 | 404 | ECS table says 400; 404 here like every unknown id |
| IP not in the subnet | Ecs.0039 | 400 | ECS table |
| NIC count over the flavor's quota | Ecs.0050 | 400 | ECS table |
| VPC differs from the primary NIC's | Ecs.0064 | 400 | ECS table |
| server does not have that NIC | Ecs.0085 | 400 | ECS table |
| server status forbids it | Ecs.0100 | 400 | ECS table |
| server does not exist | Ecs.0114 | 404 | ECS table |
| NIC already attached (or attaching) | Ecs.0919 | 400 | ECS table |
| primary NIC detached or deleted | Ecs.0003 | 403 | the ECS table's one 403 (unconfirmed) |
| job does not exist | Common.0011 | 404 | ECS table says 400 |
| port does not exist | VPC.0704 | 404 | VPC table ("resource query by ID failed") |
| port still attached, not deletable | VPC.0707 | 409 | VPC table ("IP address is in use") |
| security group does not exist | VPC.0603 | 404 | VPC table |
| EIP does not exist | VPC.0504 | 404 | VPC table |
| EIP already bound to a port | VPC.0510 | 409 | VPC table |
| port already has an EIP | VPC.0511 | 409 | VPC table |
| port name already taken | Sim.0001 | 409 | simulator only: real port names need not be unique |
| other operations running (transient) | Ecs.0603 | 501 | ECS table ("try again 1 minute later") |
| throttled (transient) | APIGW.0308 | 429 | API Gateway's throttling code |

Late failures end a job FAIL with Ecs.0217 (attach NIC failed) or Ecs.0507 (delete
NIC failed), both from the ECS table.
"""

from __future__ import annotations

from controller.errors import PermanentProviderError, ProviderError, TransientProviderError

BAD_PARAMETER = "Ecs.0005"
IP_IN_USE = "Ecs.0010"
SUBNET_FULL = "Ecs.0012"
SECURITY_GROUP_VPC = "Ecs.0014"
SUBNET_NOT_FOUND = "Ecs.0038"
IP_NOT_IN_SUBNET = "Ecs.0039"
NIC_QUOTA = "Ecs.0050"
VPC_MISMATCH = "Ecs.0064"
NIC_NOT_ON_SERVER = "Ecs.0085"
SERVER_STATUS = "Ecs.0100"
SERVER_NOT_FOUND = "Ecs.0114"
NIC_ATTACHED = "Ecs.0919"
PRIMARY_NIC = "Ecs.0003"
JOB_NOT_FOUND = "Common.0011"
PORT_NOT_FOUND = "VPC.0704"
PORT_IN_USE = "VPC.0707"
SECURITY_GROUP_NOT_FOUND = "VPC.0603"
EIP_NOT_FOUND = "VPC.0504"
EIP_BOUND = "VPC.0510"
PORT_HAS_EIP = "VPC.0511"
DUPLICATE_NAME = "Sim.0001"
BUSY = "Ecs.0603"
THROTTLED = "APIGW.0308"
ATTACH_FAILED = "Ecs.0217"
DETACH_FAILED = "Ecs.0507"

_STATUS = {
    BAD_PARAMETER: 400,
    IP_IN_USE: 400,
    SUBNET_FULL: 400,
    SECURITY_GROUP_VPC: 400,
    SUBNET_NOT_FOUND: 404,
    IP_NOT_IN_SUBNET: 400,
    NIC_QUOTA: 400,
    VPC_MISMATCH: 400,
    NIC_NOT_ON_SERVER: 400,
    SERVER_STATUS: 400,
    SERVER_NOT_FOUND: 404,
    NIC_ATTACHED: 400,
    PRIMARY_NIC: 403,
    JOB_NOT_FOUND: 404,
    PORT_NOT_FOUND: 404,
    PORT_IN_USE: 409,
    SECURITY_GROUP_NOT_FOUND: 404,
    EIP_NOT_FOUND: 404,
    EIP_BOUND: 409,
    PORT_HAS_EIP: 409,
    DUPLICATE_NAME: 409,
    BUSY: 501,
    THROTTLED: 429,
}

TRANSIENT_CODES = frozenset({BUSY, THROTTLED})


def refuse(code: str, message: str) -> ProviderError:
    """The error the cloud raises for `code`: transient or permanent, with its HTTP status."""
    status = _STATUS.get(code, 400)
    if code in TRANSIENT_CODES:
        return TransientProviderError(code, message, status=status)
    return PermanentProviderError(code, message, status=status)
