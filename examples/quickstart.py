"""The main job on the embedded default: version a folder, store it, change it, get it back.

Run with ``bash scripts/demo`` (sets up .venv first). Uses $SATCHEL_HOME (default ~/.satchel).
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import tempfile
import time
import zlib
from pathlib import Path

from satchel import Dataset
from satchel.dataset.context import get_context
from satchel.units import format_size


def png(width: int, height: int, rgb: bytes) -> bytes:
    """A PNG image (8-bit RGB) of ``rgb`` pixels, written without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + rgb[y * width * 3 : (y + 1) * width * 3] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def make_sample(folder: Path, seed: int = 7) -> None:
    """A small image dataset: 200 PNG images (noise, tinted by class) in 4 classes plus a labels CSV."""
    rng = random.Random(seed)
    for i in range(200):
        path = folder / f"class_{i % 4}" / f"img_{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        side = rng.randint(24, 64)
        tint = [(200, 60, 60), (60, 160, 60), (60, 90, 200), (190, 170, 40)][i % 4]
        rgb = bytes(min(255, c + rng.randint(0, 55)) for _ in range(side * side) for c in tint)
        path.write_bytes(png(side, side, rgb))
    (folder / "labels.csv").write_text("file,label\n" + "".join(f"class_{i % 4}/img_{i:04d}.png,{i % 4}\n"
                                                                 for i in range(200)))


def main() -> None:
    settings = get_context().settings
    print(f"satchel home: {settings.home} (catalog, default storage {settings.default_storage}, cache)")
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample"
        make_sample(sample)

        started = time.perf_counter()
        v1 = Dataset.create(dataset_name="quickstart", dataset_project="examples/vision")
        added = v1.add_files(sample)
        v1.upload(show_progress=False)
        v1.finalize()
        print(f"created {v1!r}: {added} files, {format_size(v1.stats['total_size'])}, "
              f"stored at {v1.storage_url} in {time.perf_counter() - started:.2f}s")

        for i in range(10):
            (sample / "class_0" / f"img_{i * 4:04d}.png").write_bytes(png(32, 32, os.urandom(32 * 32 * 3)))
        (sample / "class_4").mkdir()
        (sample / "class_4" / "img_new.png").write_bytes(png(48, 48, os.urandom(48 * 48 * 3)))
        shutil.rmtree(sample / "class_3")
        v2 = Dataset.create(parent_datasets=[v1])
        removed, changed = v2.sync_folder(sample)
        v2.upload(show_progress=False)
        v2.finalize()
        print(f"created child {v2!r} by sync_folder: {removed} removed, {changed} added or modified "
              f"(+{v2.stats['added']} / ~{v2.stats['modified']} / -{v2.stats['removed']})")

    started = time.perf_counter()
    latest = Dataset.get(dataset_project="examples/vision", dataset_name="quickstart")
    folder = latest.get_local_copy()
    cold = time.perf_counter() - started
    started = time.perf_counter()
    Dataset.get(dataset_id=latest.id).get_local_copy()
    warm = time.perf_counter() - started
    count = sum(1 for p in Path(folder).rglob("*") if p.is_file())
    print(f"latest version {latest.version}: read-only copy with {count} files at {folder}")
    print(f"get_local_copy: cold {cold * 1000:.0f} ms, warm {warm * 1000:.1f} ms")
    shard = latest.get_local_copy(part=0, num_parts=2)
    print(f"shard 0 of 2: {sum(1 for p in Path(shard).rglob('*') if p.is_file())} files at {shard}")


if __name__ == "__main__":
    main()
