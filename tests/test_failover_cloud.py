"""The cloud verbs failover needs, on the simulated cloud and on huaweicloud through
`enictl sim serve` (the official SDK): a hard stop (ECS batch stop, type HARD) that is
a job, the failover time port tag, server statuses in one listing, a deleted server
that keeps the ports attached with deleteOnTermination false; and `sim console`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.errors import PermanentProviderError, TransientProviderError
from controller.providers.base import JobStatus
from controller.providers.huaweicloud import adapter, errors
from controller.providers.huaweicloud.adapter import HuaweiCloud
from controller.providers.huaweicloud.settings import Clients, Settings
from controller.providers.sim.cloud import SimCloud
from controller.providers.sim.faults import Faults
from tests.applyhelpers import Cli
from tests.fakeclock import FakeClock
from tests.sim_support import Ids


@pytest.fixture
def hw(cloud: SimCloud, tmp_path: Path, sim_serve: Callable[..., dict[str, str]]) -> HuaweiCloud:
    return adapter.from_environment(sim_serve(tmp_path))


def test_a_stop_is_a_job_that_leaves_the_server_shutoff(cloud: SimCloud, clock: FakeClock) -> None:
    """stop_server answers a job; when it ends the server is SHUTOFF since then."""
    cloud.set_faults(Faults(latency_ms=2000))
    job = cloud.stop_server(Ids(cloud).server("web-1"))
    assert cloud.job(job).status is JobStatus.RUNNING
    assert cloud.snapshot().servers["web-1"].status == "ACTIVE"
    clock.advance(2)
    assert cloud.job(job).status is JobStatus.SUCCESS
    stopped = cloud.snapshot().servers["web-1"]
    assert (stopped.status, stopped.status_since) == ("SHUTOFF", 2.0)


def test_a_stop_waits_for_a_nic_job_on_the_server(cloud: SimCloud) -> None:
    """One job per server, as ECS: a stop during a NIC job is refused, transient."""
    cloud.set_faults(Faults(latency_ms=2000))
    ids = Ids(cloud)
    cloud.attach(ids.server("web-1"), ids.port("spare-2"))
    with pytest.raises(TransientProviderError) as refused:
        cloud.stop_server(ids.server("web-1"))
    assert refused.value.code == "Ecs.0603"


def test_a_deleted_server_keeps_ports_without_delete_on_termination(cloud: SimCloud) -> None:
    """Deleting a server deletes its primary and the ports attached with
    deleteOnTermination true; the others stay, detached."""
    cloud.force_attach("spare-1", "web-1", delete_on_termination=True)
    cloud.force_delete_server("web-1")
    after = cloud.snapshot()
    assert "web-1" not in after.servers
    assert "web-1-primary" not in after.interfaces and "spare-1" not in after.interfaces
    assert after.interfaces["legacy-1"].server is None


def test_the_verbs_through_sim_serve_and_the_sdk(hw: HuaweiCloud, cloud: SimCloud) -> None:
    """Through the SDK: BatchStopServers (HARD) is a job that stops the server; the
    failover tag is read back as the port's failover time; statuses come in one listing."""
    ids = Ids(cloud)
    job = hw.stop_server(ids.server("web-2"))
    assert hw.job(job).status is JobStatus.SUCCESS
    assert hw.server_statuses() == {
        "build-1": "BUILD",
        "other-1": "SHUTOFF",
        "web-1": "ACTIVE",
        "web-2": "SHUTOFF",
    }
    hw.set_failover_time(ids.port("legacy-1"), 1_800_000_000.7)
    assert hw.observe().interfaces["legacy-1"].failover_at == 1_800_000_000
    assert cloud.snapshot().interfaces["legacy-1"].failover_at == 1_800_000_000
    seen = hw.observe().servers["web-2"]
    assert seen.status == "SHUTOFF" and seen.status_since is not None


def test_sim_serve_refuses_a_stop_it_does_not_know(
    cloud: SimCloud, tmp_path: Path, sim_serve: Callable[..., dict[str, str]]
) -> None:
    """An action other than os-stop, or a stop type other than SOFT/HARD, is a 400 with
    the ECS error body; the server is not stopped."""
    clients = Clients.build(Settings.from_env(sim_serve(tmp_path)))
    ecs = clients.ecs_models
    for body, code in (({"os-start": {}}, "Sim.0002"), ({"os-stop": {"type": "KILL"}}, "Ecs.0005")):
        request = ecs.BatchStopServersRequest(body=body)
        with pytest.raises(PermanentProviderError) as refused:
            errors.call_json(clients.ecs.batch_stop_servers, request, clients.sdk_exceptions)
        assert (refused.value.code, refused.value.status) == (code, 400)
    assert cloud.snapshot().servers["web-1"].status == "ACTIVE"


def test_sim_console_commands(cli: Cli) -> None:
    """`sim console`: each change as the console makes it, refusals as one error line."""
    cli.init(Path(__file__).parent / "data" / "failover" / "inventory.yaml")
    assert cli("sim", "console", "detach", "eni-svc").out == "eni-svc detached\n"
    assert cli("sim", "console", "attach", "eni-svc", "standby-2").code == 0
    assert cli("sim", "console", "set-security-groups", "eni-svc").code == 0
    svc = cli.interfaces()["eni-svc"]
    assert (svc["server"], svc["securityGroups"]) == ("standby-2", [])
    refused = cli("sim", "console", "detach", "web-1-primary")
    assert refused.code == 1 and refused.err.startswith("error: Ecs.0003: ")
    assert len(refused.err.splitlines()) == 1
    bad = cli("sim", "console", "set-status", "web-1", "FINE")
    assert bad.code == 1 and "ACTIVE" in bad.err
    log = json.loads(cli("sim", "log", "-o", "json").out)
    assert [e["operation"] for e in log if e["operation"].startswith("console.")] == [
        "console.detach",
        "console.attach",
        "console.set_security_groups",
        "console.detach",
    ]


def test_each_api_call_answers_call_ms_later_console_changes_at_once(cloud: SimCloud) -> None:
    """`sim faults --call-ms`: every API call waits that long after taking effect (a
    distant cloud); a console change does not wait."""
    waited: list[float] = []
    slow = SimCloud(cloud.path, sleep=waited.append)
    slow.set_faults(Faults(call_ms=100))
    slow.server_statuses()
    slow.force_set_status("web-1", "SHUTOFF")
    slow.observe()
    assert waited == [0.1, 0.1]
    slow.close()
