"""No partial reads: a manifest path that cannot be read fails the whole load, naming it;
symlinks are followed; FIFOs and devices are refused at once, never read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli import main
from controller.errors import InvalidPlanFile, ManifestError
from controller.manifests import discovery, loader
from controller.storage import savedplan

REPO = Path(__file__).parent.parent
ENICTL = Path(sys.executable).with_name("enictl")
EXTRA = """apiVersion: enictl/v1
kind: NetworkInterface
metadata: {name: extra-eni}
spec: {subnet: subnet-mgmt, securityGroups: [sg-mgmt], server: app-1}
"""


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo manifests, with one more ENI in a subfolder `more/`, applied."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    more = tmp_path / "manifests" / "demo" / "more"
    more.mkdir()
    (more / "extra.yaml").write_text(EXTRA)
    state = str(tmp_path / "state")
    inventory = str(tmp_path / "manifests" / "inventory" / "demo-cloud.yaml")
    assert main(["--state-dir", state, "sim", "init", inventory]) == 0
    assert main(["--state-dir", state, "apply", str(tmp_path / "manifests/demo"), "--yes"]) == 0
    return tmp_path


def enictl(*args: str, cwd: Path, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """`enictl ARGS` as a process, bounded in time (a hang fails the test). With
    `unprivileged`, without the capabilities that let root read any file."""
    prefix: list[str] = []
    if unprivileged and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("running as root without setpriv: cannot drop the right to read all")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    env = {**os.environ, "ENICTL_STATE_DIR": str(cwd / "state")}
    env.pop("ENICTL_PROVIDER", None)
    return subprocess.run(
        [*prefix, str(ENICTL), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _interfaces(root: Path) -> set[str]:
    ran = enictl("get", "interfaces", "-o", "json", cwd=root)
    assert ran.returncode == 0, ran.stderr
    return {i["name"] for i in json.loads(ran.stdout)}


def test_an_unreadable_subfolder_fails_validate_and_prune_deletes_nothing(demo: Path) -> None:
    """A subfolder that cannot be listed: validate fails naming it (it used to say ok),
    and `apply --prune` fails before planning, so the ENI declared inside survives."""
    more = demo / "manifests" / "demo" / "more"
    more.chmod(0)
    try:
        checked = enictl("validate", "manifests/demo", cwd=demo, unprivileged=True)
        pruned = enictl("apply", "manifests/demo", "--prune", "--yes", cwd=demo, unprivileged=True)
    finally:
        more.chmod(0o755)
    for ran in (checked, pruned):
        assert ran.returncode == 1
        assert (
            "manifests/demo/more: ReadError: cannot read this folder: Permission denied"
            in ran.stderr
        )
        assert "Traceback" not in ran.stderr
    assert "extra-eni" in _interfaces(demo)


def test_an_unreadable_file_fails_the_load(demo: Path) -> None:
    """A manifest file that cannot be opened fails the load, naming the file."""
    extra = demo / "manifests" / "demo" / "more" / "extra.yaml"
    extra.chmod(0)
    try:
        ran = enictl("plan", "manifests/demo", "--prune", cwd=demo, unprivileged=True)
    finally:
        extra.chmod(0o644)
    assert ran.returncode == 1
    assert "manifests/demo/more/extra.yaml: ReadError: cannot read: Permission denied" in ran.stderr


def test_a_symlinked_subfolder_is_followed(demo: Path, tmp_path: Path) -> None:
    """A folder reached through a symlink is read like any other: its ENIs are declared,
    so --prune sees no orphan."""
    elsewhere = tmp_path / "elsewhere"
    (demo / "manifests" / "demo" / "more").rename(elsewhere)
    (demo / "manifests" / "demo" / "more").symlink_to(elsewhere, target_is_directory=True)
    ran = enictl("plan", "manifests/demo", "--prune", "--detailed-exitcode", cwd=demo)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_symlinked_file_is_followed(demo: Path, tmp_path: Path) -> None:
    """A manifest file that is a symlink is read through it."""
    target = tmp_path / "extra-target.yaml"
    (demo / "manifests" / "demo" / "more" / "extra.yaml").rename(target)
    (demo / "manifests" / "demo" / "more" / "extra.yaml").symlink_to(target)
    ran = enictl("plan", "manifests/demo", "--prune", "--detailed-exitcode", cwd=demo)
    assert ran.returncode == 0, ran.stdout + ran.stderr


@pytest.mark.parametrize("name", ["gone.yaml", "gone-folder"])
def test_a_broken_symlink_fails_the_load(demo: Path, name: str) -> None:
    """A broken symlink (named like a manifest or like a folder) fails the load."""
    (demo / "manifests" / "demo" / name).symlink_to(demo / "nowhere")
    ran = enictl("validate", "manifests/demo", cwd=demo)
    assert ran.returncode == 1
    assert (
        f"manifests/demo/{name}: ReadError: broken symlink: it points to {demo}/nowhere"
        in ran.stderr
    )


def test_a_symlink_loop_is_an_error(tmp_path: Path) -> None:
    """A folder that links back to its ancestor is an error, not an endless walk."""
    top = tmp_path / "m"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "a.yaml").write_text(EXTRA)
    (top / "sub" / "back").symlink_to(top, target_is_directory=True)
    with pytest.raises(ManifestError) as info:
        loader.load([top])
    assert info.value.problems[0].line() == (
        f"{top}/sub/back: ReadError: symlink loop: it leads back to {top}"
    )


def test_two_symlinks_to_one_folder_read_it_once(tmp_path: Path) -> None:
    """The same folder through two links: its files are read once, no duplicate names."""
    real = tmp_path / "shared"
    real.mkdir()
    (real / "s.yaml").write_text(_SERVER)
    top = tmp_path / "m"
    top.mkdir()
    (top / "one").symlink_to(real, target_is_directory=True)
    (top / "two").symlink_to(real, target_is_directory=True)
    assert list(loader.load([top]).topology.servers) == ["gw-1"]


_SERVER = """apiVersion: enictl/v1
kind: Server
metadata: {name: gw-1}
spec: {flavor: c7.xlarge.2, availabilityZone: az1, vpc: vpc-demo, subnet: subnet-app}
"""


@pytest.mark.parametrize("where", ["argument", "in-folder"])
def test_a_fifo_is_refused_at_once(demo: Path, where: str) -> None:
    """A FIFO named on the command line, or named *.yaml in a folder, is refused at
    once (it used to hang apply forever while it held the lock)."""
    fifo = demo / "manifests" / "demo" / "pipe.yaml"
    os.mkfifo(fifo)
    path = str(fifo) if where == "argument" else "manifests/demo"
    ran = enictl("apply", path, "--yes", cwd=demo)
    assert ran.returncode == 1
    assert "pipe.yaml: ReadError: a FIFO, not a manifest file: refusing to read it" in ran.stderr
    assert not (demo / "state" / "lock").exists() or "lock" not in ran.stderr


def test_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    """`/dev/zero` as a manifest path is a device: refused, never read."""
    ran = enictl("validate", "/dev/zero", cwd=tmp_path)
    assert ran.returncode == 1
    assert "/dev/zero: ReadError: a character device, not a manifest file" in ran.stderr


def test_a_file_that_vanishes_after_listing_fails_the_read(tmp_path: Path) -> None:
    """A file listed, then removed before it is read (a save by rm + recreate): the read
    fails, so the load fails instead of planning without it."""
    (tmp_path / "a.yaml").write_text(_SERVER)
    files, problems = discovery.discover([tmp_path])
    assert problems == [] and len(files) == 1
    (tmp_path / "a.yaml").unlink()
    with pytest.raises(discovery.Unreadable, match="vanished while the manifests were read"):
        discovery.read(files[0].path)


def test_a_plan_file_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """`apply --plan FIFO` is refused with one line, without blocking on the pipe."""
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    with pytest.raises(InvalidPlanFile, match="a FIFO, not a manifest file"):
        savedplan.load(fifo)
