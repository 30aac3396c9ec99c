"""The main job on the embedded default: version a folder, store it, change it, get it back.

Run with ``bash scripts/demo`` (sets up .venv first). Uses $SATCHEL_HOME (default ~/.satchel).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from satchel import Dataset
from satchel.dataset.context import get_context
from satchel.units import format_size


def make_sample(folder: Path, seed: int = 7) -> None:
    """A small image-like dataset: 200 binary 'images' in 4 classes plus a labels file."""
    rng = random.Random(seed)
    for i in range(200):
        path = folder / f"class_{i % 4}" / f"img_{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(2_000, 20_000)))
    (folder / "labels.csv").write_text("".join(f"img_{i:04d},{i % 4}\n" for i in range(200)))


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
            (sample / "class_0" / f"img_{i * 4:04d}.bin").write_bytes(os.urandom(5_000))
        (sample / "class_4").mkdir()
        (sample / "class_4" / "img_new.bin").write_bytes(os.urandom(8_000))
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
