"""Deterministic, byte-balanced split of a view into parts (for workers that each take one shard)."""

from __future__ import annotations

import heapq
import operator
from collections.abc import Mapping

from satchel.errors import InvalidArgumentError
from satchel.objects import ManifestEntry


def check_part(part: object, num_parts: object) -> tuple[int, int] | None:
    """Validate ``part``/``num_parts`` (whole numbers, ``0 <= part < num_parts``); None when no split is asked."""
    if part is None and num_parts is None:
        return None
    if part is None or num_parts is None:
        raise InvalidArgumentError("part and num_parts go together: pass both (e.g. part=0, num_parts=4) or neither")
    whole = _whole(part, "part"), _whole(num_parts, "num_parts")
    if whole[1] < 1 or not 0 <= whole[0] < whole[1]:
        raise InvalidArgumentError(f"part must be in 0..num_parts-1 and num_parts >= 1; got part={part}, "
                                   f"num_parts={num_parts}")
    return whole


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a whole number, not {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgumentError(f"{name} must be a whole number, got {value!r} ({type(value).__name__})") from None


def split_parts(view: Mapping[str, ManifestEntry], num_parts: int) -> list[list[str]]:
    """Assign every path to exactly one part: largest files first, each to the lightest part so far.

    Ties go to the lower part number, so the result depends only on the view. Parts beyond the number of files
    stay empty (only that many are simulated: a huge ``num_parts`` costs nothing).
    """
    used = max(1, min(num_parts, len(view)))
    parts: list[list[str]] = [[] for _ in range(used)]
    heap = [(0, index) for index in range(used)]
    for path in sorted(view, key=lambda p: (-view[p].size, p)):
        weight, index = heapq.heappop(heap)
        parts[index].append(path)
        heapq.heappush(heap, (weight + view[path].size, index))
    return [sorted(p) for p in parts]


def select_part(view: Mapping[str, ManifestEntry], part: int, num_parts: int) -> dict[str, ManifestEntry]:
    """The entries of one part (empty for a part beyond the number of files)."""
    parts = split_parts(view, num_parts)
    return {p: view[p] for p in parts[part]} if part < len(parts) else {}
