"""Deterministic workloads (seeded), sizes overridable so CI can run a small version.

W1 many small files, W2 large files, W3 an incremental change of W1, W4 a metadata-only million-entry version,
W5 a metadata-only ten-million-entry version, W7 a chain of versions each changing 1% of W1's files.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

_WORDS = b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho".split()


@dataclass(frozen=True)
class Sizes:
    """Workload sizes; ``full()`` is what RESULTS.md reports, ``small()`` what CI runs."""

    w1_files: int
    w1_folders: int
    w1_min: int
    w1_max: int
    w2_files: int
    w2_size: int
    w4_entries: int
    w7_steps: int
    w5_entries: int
    w6_size: int

    @staticmethod
    def full() -> Sizes:
        return Sizes(100_000, 1_000, 1024, 8192, 8, 512 << 20, 1_000_000, 100, 10_000_000, 512 << 20)

    @staticmethod
    def small() -> Sizes:
        return Sizes(2_000, 40, 1024, 8192, 2, 4 << 20, 20_000, 3, 30_000, 24 << 20)


def _text(rng: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += rng.choice(_WORDS) + b" " + str(rng.randint(0, 999)).encode() + b"\n"
    return bytes(out[:size])


def small_file(rng: random.Random, index: int, sizes: Sizes) -> bytes:
    """One W1 file: half compressible text, half random bytes."""
    size = rng.randint(sizes.w1_min, sizes.w1_max)
    return _text(rng, size) if index % 2 == 0 else rng.randbytes(size)


def make_w1(root: Path, sizes: Sizes, seed: int = 1) -> None:
    """W1: ``w1_files`` files of 1-8 KiB in ``w1_folders`` folders."""
    rng = random.Random(seed)
    for index in range(sizes.w1_files):
        folder = root / f"d{index % sizes.w1_folders:04d}"
        if index < sizes.w1_folders:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:06d}.bin").write_bytes(small_file(rng, index, sizes))


def make_w2(root: Path, sizes: Sizes, seed: int = 2) -> None:
    """W2: ``w2_files`` large files, half random, half compressible, written in 8 MiB blocks."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    block = 8 << 20
    for index in range(sizes.w2_files):
        with open(root / f"large_{index}.bin", "wb") as out:
            left = sizes.w2_size
            while left > 0:
                step = min(block, left)
                out.write(rng.randbytes(step) if index % 2 else _text(rng, step))
                left -= step


W6_PLACES = 10
W6_INSERT = 1 << 20


def make_w6(root: Path, sizes: Sizes, seed: int = 6) -> int:
    """W6: ``root/w6/model.bin``, ``w6_size`` random bytes, and ``root/w6b/model.bin``, the same with 1% of it
    overwritten in ``W6_PLACES`` places spread over the file and ``W6_INSERT`` bytes inserted in the middle.
    Returns the bytes changed (overwritten + inserted)."""
    rng = random.Random(seed)
    data = bytearray()
    while len(data) < sizes.w6_size:
        data += rng.randbytes(min(64 << 20, sizes.w6_size - len(data)))
    (root / "w6").mkdir(parents=True, exist_ok=True)
    (root / "w6" / "model.bin").write_bytes(data)
    piece = sizes.w6_size // 100 // W6_PLACES
    stride = sizes.w6_size // W6_PLACES
    for place in range(W6_PLACES):
        at = place * stride + rng.randrange(stride - piece)
        data[at : at + piece] = rng.randbytes(piece)
    data[len(data) // 2 : len(data) // 2] = rng.randbytes(W6_INSERT)
    (root / "w6b").mkdir(parents=True, exist_ok=True)
    (root / "w6b" / "model.bin").write_bytes(data)
    return piece * W6_PLACES + W6_INSERT


@dataclass(frozen=True)
class Change:
    """A W3 change: paths modified, added and removed (relative to the W1 root), and the changed bytes."""

    modified: list[str]
    added: list[str]
    removed: list[str]
    changed_bytes: int


def apply_w3(root: Path, sizes: Sizes, seed: int = 3) -> Change:
    """Modify 1%, add 1%, remove 1% of the W1 files under ``root`` (a copy of W1; files are replaced,
    never written in place, so hard-linked copies of the original stay intact)."""
    rng = random.Random(seed)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.bin"))
    count = max(1, len(files) // 100)
    picked = rng.sample(files, 2 * count)
    modified, removed = sorted(picked[:count]), sorted(picked[count:])
    changed = 0
    for relative in modified:
        data = small_file(rng, rng.randint(0, 1), sizes)
        target = root / relative
        target.unlink()
        target.write_bytes(data)
        changed += len(data)
    for relative in removed:
        (root / relative).unlink()
    added = []
    for index in range(count):
        relative = f"d{index % sizes.w1_folders:04d}/added_{index:06d}.bin"
        data = small_file(rng, index, sizes)
        (root / relative).write_bytes(data)
        added.append(relative)
        changed += len(data)
    return Change(modified, sorted(added), removed, changed)


def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> BLAKE3 of every file under ``root`` (for byte-identity checks)."""
    from blake3 import blake3

    result = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            hasher = blake3()
            if os.path.getsize(path):
                hasher.update_mmap(path)
            result[os.path.relpath(path, root)] = hasher.hexdigest()
    return result


def change_some(root: Path, sizes: Sizes, seed: int) -> int:
    """One W7 step: replace 1% of the files under ``root`` (a copy of W1) with new content; the bytes written."""
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*.bin"))
    changed = 0
    for path in rng.sample(files, max(1, len(files) // 100)):
        data = small_file(rng, rng.randint(0, 1), sizes)
        path.unlink()
        path.write_bytes(data)
        changed += len(data)
    return changed
