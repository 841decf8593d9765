"""Pause the cyclic garbage collector while building many small acyclic values.

Observing, parsing or planning at scale allocates hundreds of thousands of dicts,
tuples and frozen values that all stay alive; the collector would scan them again
and again and free nothing. Reference counting still frees everything as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic GC inside the block; restore its previous state after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
