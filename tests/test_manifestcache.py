"""The manifest cache behind `enictl watch`: re-read only the files that changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from controller.errors import ManifestError
from controller.manifests import loader
from controller.manifests.cache import CachedManifests

DATA = Path(__file__).resolve().parent / "data" / "watch" / "manifests"
OLD_NS = 1_000_000_000 * 1_000_000_000  # 2001: long before any load in these tests


def _age(folder: Path) -> None:
    """Make every file look untouched for years (its stat can be trusted)."""
    for path in folder.rglob("*.yaml"):
        os.utime(path, ns=(OLD_NS, OLD_NS))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "manifests"
    shutil.copytree(DATA, target)
    _age(target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_an_idle_load_reads_nothing(folder: Path) -> None:
    """With no file changed, load() returns the last answer and parses no file."""
    cache = CachedManifests([folder])
    first = cache.load()
    assert cache.reread == 2
    assert cache.load() is first
    assert cache.reread == 0


def test_only_the_changed_file_is_parsed_again(folder: Path) -> None:
    """Editing one file parses that file only, and the result equals a full load."""
    cache = CachedManifests([folder])
    cache.load()
    _edit(folder / "interfaces.yaml", "server: web-1", "server: web-2")
    again = cache.load()
    assert cache.reread == 1
    full = loader.load([folder])
    assert again.digest == full.digest
    assert again.topology == full.topology
    assert again.topology.interfaces["eni-a"].server == "web-2"


def test_new_and_removed_files_are_seen(folder: Path) -> None:
    """A file added to or removed from a watched folder changes the desired state."""
    cache = CachedManifests([folder])
    cache.load()
    extra = folder / "sub" / "more.yaml"
    extra.parent.mkdir()
    extra.write_text(
        "apiVersion: enictl/v1\nkind: NetworkInterface\nmetadata: {name: eni-b}\n"
        "spec: {subnet: subnet-web}\n",
        encoding="utf-8",
    )
    assert "eni-b" in cache.load().topology.interfaces
    assert cache.reread == 1
    extra.unlink()
    assert "eni-b" not in cache.load().topology.interfaces


def test_invalid_manifests_stay_invalid_until_fixed(folder: Path) -> None:
    """A broken file raises on every load (without re-reading) until it is fixed."""
    cache = CachedManifests([folder])
    good = cache.load()
    path = folder / "interfaces.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "broken: [\n", encoding="utf-8")
    os.utime(path, ns=(OLD_NS + 5, OLD_NS + 5))
    with pytest.raises(ManifestError) as first:
        cache.load()
    with pytest.raises(ManifestError) as second:
        cache.load()
    assert second.value is first.value
    assert cache.reread == 0
    path.write_text(text, encoding="utf-8")
    assert cache.load().digest == good.digest


def test_a_racy_same_size_edit_is_caught_by_content(folder: Path) -> None:
    """An edit that keeps size and mtime, just after a load, is still noticed."""
    path = folder / "interfaces.yaml"
    stamp = 2_000_000_000 * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    cache = CachedManifests([folder], clock_ns=lambda: stamp + 1_000_000)  # 1 ms later
    cache.load()
    _edit(path, "server: web-1", "server: web-2")  # same length
    os.utime(path, ns=(stamp, stamp))
    assert cache.load().topology.interfaces["eni-a"].server == "web-2"


def test_an_unchanged_file_is_not_checked_again(folder: Path) -> None:
    """The values of a file whose bytes did not change are reused as they are."""
    cache = CachedManifests([folder])
    first = cache.load()
    _edit(folder / "interfaces.yaml", "server: web-1", "server: web-2")
    again = cache.load()
    assert cache.reread == 1
    assert again.topology.servers["web-1"] is first.topology.servers["web-1"]
    assert again.topology.interfaces["eni-a"] is not first.topology.interfaces["eni-a"]


def test_checks_across_files_see_cached_files(folder: Path) -> None:
    """A new file repeating a cached file's name, or a removed server file, is an error
    located as a full load locates it."""
    cache = CachedManifests([folder])
    cache.load()
    extra = folder / "more.yaml"
    extra.write_text(
        "apiVersion: enictl/v1\nkind: Server\nmetadata: {name: web-2}\n"
        "spec: {flavor: s3.medium, availabilityZone: az1, vpc: vpc-prod, subnet: subnet-web}\n",
        encoding="utf-8",
    )
    with pytest.raises(ManifestError) as duplicate:
        cache.load()
    assert cache.reread == 1
    with pytest.raises(ManifestError) as full:
        loader.load([folder])
    assert duplicate.value.problems == full.value.problems
    assert [p.code for p in full.value.problems] == ["DuplicateName"]
    extra.unlink()
    (folder / "servers.yaml").unlink()
    with pytest.raises(ManifestError) as unknown:
        cache.load()
    assert cache.reread == 0
    assert [p.code for p in unknown.value.problems] == ["UnknownServer"]
    assert unknown.value.problems[0].location.endswith("interfaces.yaml:4:84")
