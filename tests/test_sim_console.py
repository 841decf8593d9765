"""Out-of-band changes (someone at the console): immediate, unfaulted, still under the
cloud's rules, and logged as `console.*`. Tests of drift build on these."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import PermanentProviderError, UsageError
from controller.providers.sim.cloud import SimCloud, init_cloud
from controller.providers.sim.faults import Faults
from tests.sim_support import Ids, small_spec


@pytest.fixture
def cloud(tmp_path: Path) -> SimCloud:
    cloud = init_cloud(tmp_path, small_spec())
    cloud.set_faults(Faults(latency_ms=60_000, error_rate=1.0))
    return cloud


def test_force_attach_and_detach_are_immediate(cloud: SimCloud) -> None:
    """No job, no latency, no injected fault: the next snapshot shows the change."""
    cloud.force_attach("spare-1", "web-2")
    assert cloud.snapshot().interfaces["spare-1"].server == "web-2"
    cloud.force_detach("spare-1")
    assert cloud.snapshot().interfaces["spare-1"].server is None


def test_console_changes_obey_the_cloud(cloud: SimCloud) -> None:
    """Over the limit, another VPC or a primary NIC: refused as through the API."""
    cloud.force_attach("spare-1", "web-2")
    cases = [
        (lambda: cloud.force_attach("spare-2", "web-2"), "Ecs.0050"),
        (lambda: cloud.force_attach("other-eni", "web-1"), "Ecs.0064"),
        (lambda: cloud.force_detach("web-1-primary"), "Ecs.0003"),
        (lambda: cloud.force_delete_interface("legacy-1"), "VPC.0707"),
        (lambda: cloud.force_set_security_groups("spare-2", ["sg-other"]), "VPC.2500"),
    ]
    for change, code in cases:
        with pytest.raises(PermanentProviderError) as exc:
            change()
        assert exc.value.code == code


def test_force_detach_can_delete_the_port(cloud: SimCloud) -> None:
    """`delete=True` models a detach whose deleteOnTermination was set."""
    cloud.force_detach("legacy-1", delete=True)
    topology = cloud.snapshot()
    assert "legacy-1" not in topology.interfaces
    cloud.force_bind_eip("eip-1", "spare-1")  # its EIP was freed


def test_force_create_delete_status_groups_and_eips(cloud: SimCloud) -> None:
    """Ports by names, server status, security groups and EIP moves."""
    port_id = cloud.force_create_interface(
        "hand-made", "subnet-db", private_ip="10.0.2.77", security_groups=["sg-db"]
    )
    cloud.force_set_status("web-1", "SHUTOFF")
    cloud.force_set_security_groups("hand-made", ["sg-web", "sg-db"])
    cloud.force_bind_eip("eip-1", "hand-made")
    topology = cloud.snapshot()
    made = topology.interfaces["hand-made"]
    assert (made.id, made.private_ip, made.managed) == (port_id, "10.0.2.77", False)
    assert made.security_groups == ("sg-web", "sg-db")
    assert (made.eip, topology.interfaces["legacy-1"].eip) == ("eip-1", None)
    assert topology.servers["web-1"].status == "SHUTOFF"
    cloud.force_bind_eip("eip-1", None)
    cloud.force_delete_interface("hand-made")
    assert "hand-made" not in cloud.snapshot().interfaces


def test_console_changes_are_logged(cloud: SimCloud) -> None:
    """Each shows in the log as console.<verb> with its target."""
    cloud.force_set_status("web-1", "SHUTOFF")
    with pytest.raises(PermanentProviderError):
        cloud.force_detach("web-1-primary")
    entries = [(e.operation, e.target, e.result) for e in cloud.log()]
    assert entries == [
        ("console.set_status", "web-1 = SHUTOFF", "ok"),
        ("console.detach", "web-1-primary", "error"),
    ]


def test_unknown_names_are_usage_errors(cloud: SimCloud) -> None:
    """A typo in a test's name lookup is a clear error."""
    with pytest.raises(UsageError, match="no subnet named 'nope'"):
        cloud.force_create_interface("x", "nope")


def test_set_managed_tags_a_port(tmp_path: Path) -> None:
    """The managed tag can be set after creation (sim serve's VPC v3 port tags)."""
    cloud = init_cloud(tmp_path, small_spec())
    cloud.set_managed(Ids(cloud).port("spare-1"), "default")
    assert cloud.observe().interfaces["spare-1"].managed is True
