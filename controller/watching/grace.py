"""`watch --prune-grace`: an orphan is deleted only once it has stayed an orphan for a while.

A manifest file that is briefly empty, missing or half-written while it is saved
(truncate-then-write, rm + recreate, a rename and back) makes its ENIs look like
orphans for a moment. `enictl apply --prune` is one decision, made by a person;
`watch --prune` decides again at every reconcile, so it must not act on a moment:

- every reconcile reports the orphans its plan saw (`saw`), and `PruneGrace` keeps
  when each was first seen, by name and cloud id (an ENI deleted and created again
  under its name starts over);
- an ENI that is no orphan any more at a reconcile is forgotten at once: its manifest
  came back, so its next time as an orphan starts from zero;
- the next plan may delete only the orphans seen for at least `seconds` on the
  watch's monotonic clock (`prunable`); a new orphan is never among them.

Grace 0 prunes at once, as `enictl apply --prune` does. The reconciles that cannot
read the manifests (an unreadable or half-written file fails the load) leave the
record as it is: they saw nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from controller.model import Topology

DEFAULT_SECONDS = 60.0  # SPEC section 4


@dataclass
class PruneGrace:
    """When each current orphan was first seen; which ones may be deleted now."""

    seconds: float = DEFAULT_SECONDS
    clock: Callable[[], float] = time.monotonic
    _since: dict[str, tuple[str, float]] = field(default_factory=dict)  # name -> (id, t)

    def prunable(self, observed: Topology) -> frozenset[str] | None:
        """The orphans a plan may delete now; None (all of them) when there is no grace."""
        if self.seconds <= 0:
            return None
        due = self.clock() - self.seconds
        seen = observed.interfaces
        return frozenset(
            name
            for name, (iface_id, since) in self._since.items()
            if since <= due and name in seen and seen[name].id == iface_id
        )

    def saw(self, orphans: Iterable[str], observed: Topology) -> None:
        """Record the orphans a reconcile's plan saw in `observed`; forget the others."""
        now, seen = self.clock(), observed.interfaces
        kept: dict[str, tuple[str, float]] = {}
        for name in orphans:
            iface = seen.get(name)
            if iface is None:
                continue
            first = self._since.get(name)
            kept[name] = first if first is not None and first[0] == iface.id else (iface.id, now)
        self._since = kept

    def waiting(self) -> tuple[str, ...]:
        """The orphans seen so far whose grace has not passed yet, by name."""
        due = self.clock() - self.seconds
        return tuple(sorted(n for n, (_, since) in self._since.items() if since > due))
