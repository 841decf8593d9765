"""Loading the same manifests again and again, cheaply: what `enictl watch` needs.

`CachedManifests(paths).load()` gives what `manifests.load(paths)` gives, but keeps
the last answer (the `Manifests`, or the `ManifestError`) with the list of files it
was made from and each file's (mtime_ns, size):

- when the list and every stat are unchanged, no file is read and the last answer
  is returned (an idle interval);
- otherwise `manifests.load` runs with a `manifests.ParseCache`, so only the files
  whose bytes changed are parsed and checked again; the checks across files (names,
  server references, one policy) run over the whole set, on what each file keeps.

`reread` says how many files the last `load()` parsed again (0 on an idle interval).

A stat can miss an edit that keeps the size and lands within the file system's
timestamp granularity of the previous one (git's "racily clean" problem). While a
file is younger than `RACY_SECONDS` at the last load, its stat is not trusted: the
files' digest is compared instead (a read, no parse).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import ManifestError
from controller.manifests import discovery, loader

RACY_SECONDS = 2.0

Stat = tuple[int, int]  # (mtime_ns, size)
Key = tuple[tuple[str, Stat], ...]


@dataclass
class CachedManifests:
    """A `DesiredSource` over `manifests.load`, re-reading only the files that changed."""

    paths: Sequence[str | Path]
    clock_ns: Callable[[], int] = time.time_ns
    reread: int = 0
    _parse: loader.ParseCache = field(default_factory=loader.ParseCache)
    _key: Key | None = None
    _answer: loader.Manifests | ManifestError | None = None
    _digest: str = ""
    _trusted_before_ns: int = 0

    def load(self) -> loader.Manifests:
        """The desired state; raises ManifestError when the manifests are invalid."""
        key = self._current_key()
        if key is None or key != self._key or self._answer is None or not self._same(key):
            self._refresh()
        else:
            self.reread = 0
        answer = self._answer
        if isinstance(answer, ManifestError):
            raise answer
        assert answer is not None
        return answer

    def _same(self, key: Key) -> bool:
        """The stats match; for files modified just before the last load, check bytes."""
        if all(stat[0] < self._trusted_before_ns for _, stat in key):
            return True
        return self._digest_now() == self._digest

    def _refresh(self) -> None:
        read_at = self.clock_ns()
        key = self._current_key()
        answer: loader.Manifests | ManifestError
        try:
            answer = loader.load(list(self.paths), cache=self._parse)
            digest = answer.digest
        except ManifestError as exc:
            answer, digest = exc, self._digest_now()
        self._answer, self._digest, self._key = answer, digest, key
        self._trusted_before_ns = read_at - int(RACY_SECONDS * 1e9)
        self.reread = self._parse.parsed

    def _digest_now(self) -> str:
        try:
            return loader.digest_files(list(self.paths))
        except ManifestError:
            return ""

    def _current_key(self) -> Key | None:
        """Every file's (path, (mtime_ns, size)); None when listing or a stat fails."""
        files, problems = discovery.discover(self.paths)
        if problems:
            return None
        key: list[tuple[str, Stat]] = []
        for file in files:
            try:
                st = os.stat(file.path)
            except OSError:
                return None
            key.append((file.display, (st.st_mtime_ns, st.st_size)))
        return tuple(key)
