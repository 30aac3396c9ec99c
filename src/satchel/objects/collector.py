"""Holding the cyclic garbage collector while millions of small objects are built or taken apart."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector (process-wide, so only around CPU-bound work that creates many
    objects, never around I/O): entries, tuples and ints hold no cycles, and each full collection would scan
    them all for nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
