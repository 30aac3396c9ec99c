"""Deterministic, byte-balanced split of a view into parts (for workers that each take one shard)."""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from satchel.errors import InvalidArgumentError
from satchel.objects import ManifestEntry


def check_part(part: int | None, num_parts: int | None) -> tuple[int, int] | None:
    """Validate ``part``/``num_parts``; None when no split is asked."""
    if part is None and num_parts is None:
        return None
    if part is None or num_parts is None:
        raise InvalidArgumentError("part and num_parts go together: pass both (e.g. part=0, num_parts=4) or neither")
    if num_parts < 1 or not 0 <= part < num_parts:
        raise InvalidArgumentError(f"part must be in 0..num_parts-1 and num_parts >= 1; got part={part}, "
                                   f"num_parts={num_parts}")
    return part, num_parts


def split_parts(view: Mapping[str, ManifestEntry], num_parts: int) -> list[list[str]]:
    """Assign every path to exactly one part: largest files first, each to the lightest part so far.

    Ties go to the lower part number, so the result depends only on the view.
    """
    parts: list[list[str]] = [[] for _ in range(num_parts)]
    heap = [(0, index) for index in range(num_parts)]
    for path in sorted(view, key=lambda p: (-view[p].size, p)):
        weight, index = heapq.heappop(heap)
        parts[index].append(path)
        heapq.heappush(heap, (weight + view[path].size, index))
    return [sorted(p) for p in parts]


def select_part(view: Mapping[str, ManifestEntry], part: int, num_parts: int) -> dict[str, ManifestEntry]:
    """The entries of one part."""
    return {p: view[p] for p in split_parts(view, num_parts)[part]}
