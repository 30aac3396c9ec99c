"""Progress reporting: the library calls callbacks; this renders them with tqdm when asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress(enabled: bool, total: int, description: str, unit: str = "B") -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callback, drawing a tqdm bar on stderr when ``enabled``."""
    if not enabled:
        yield _ignore
        return
    from tqdm.auto import tqdm  # on first use: a quiet call does not pay for importing it

    options: dict[str, Any] = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    bar = tqdm(total=total, desc=description, unit=unit, leave=False, **options)
    try:
        yield bar.update
    finally:
        bar.close()


def _ignore(_amount: int) -> None:
    return None
