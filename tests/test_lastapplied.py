"""`controller.storage.lastapplied`: the record's file format, written compact and read back."""

from __future__ import annotations

import json
from pathlib import Path

from controller.model import NetworkInterface, Server, Topology
from controller.planning import drift
from controller.storage import lastapplied


def _desired() -> Topology:
    servers = {f"web-{i}": Server(f"web-{i}", "s6.large.2", "az1", "vpc", "sn") for i in range(3)}
    interfaces = {
        "eni-a": NetworkInterface("eni-a", "sn", "10.0.0.5", ("sg-b", "sg-a"), "eip-1", "web-0"),
        "eni-é": NetworkInterface("eni-é", "sn", protect=True),
    }
    return Topology(servers=servers, interfaces=interfaces)


def test_the_record_is_one_line_of_compact_json(tmp_path: Path) -> None:
    """record() writes compact JSON (no indentation) that load() reads back as the snapshot."""
    target = lastapplied.record(tmp_path, _desired(), manifests_digest="sha256:x")
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n") and text.count("\n") == 1 and ", " not in text
    found = lastapplied.load(tmp_path)
    assert found is not None and found.manifests_digest == "sha256:x"
    assert found.resources == drift.snapshot(_desired())


def test_an_indented_record_still_reads(tmp_path: Path) -> None:
    """A record written indented (as earlier versions did) reads the same."""
    lastapplied.record(tmp_path, _desired())
    target = lastapplied.path(tmp_path)
    compact = lastapplied.load(tmp_path)
    target.write_text(json.dumps(json.loads(target.read_text()), indent=2, sort_keys=True))
    assert lastapplied.load(tmp_path) == compact


def test_a_record_is_kept_in_memory_while_its_file_is_unchanged(tmp_path: Path) -> None:
    """load() after record() reuses what was written; a file replaced by another writer
    (or removed) is read again."""
    lastapplied.record(tmp_path, _desired(), manifests_digest="sha256:a")
    first = lastapplied.load(tmp_path)
    assert first is not None and lastapplied.load(tmp_path) is first
    target = lastapplied.path(tmp_path)
    other = tmp_path / "other.json"
    other.write_text(target.read_text().replace("sha256:a", "sha256:b"))
    other.replace(target)
    again = lastapplied.load(tmp_path)
    assert again is not None and again.manifests_digest == "sha256:b"
    assert again.resources == first.resources
    target.unlink()
    assert lastapplied.load(tmp_path) is None
