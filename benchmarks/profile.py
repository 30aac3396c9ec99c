"""Profiles (pyinstrument) of the satchel steps that miss a target, written to benchmarks/profiles/.

    python benchmarks/profile.py [--files N] [--w2-files N] [--w5-entries N]

Builds a W1-like folder of N small files, then profiles store (add, upload, finalize), cold get, re-add, the W3
child (sync_folder, upload, finalize), and W4's get + list and squash, each in this process with a fresh
SATCHEL_HOME; with ``--w2-files``, the store of that many W2 files (512 MiB each, every other one random); with
``--w5-entries``, W5's child (built on a metadata-only version of that many entries, which takes a minute and
1.5 GB for 10M). The text profiles back the notes in RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workloads import Sizes, apply_w3, make_w1, make_w2

OUT = Path(__file__).resolve().parent / "profiles"


def profiled(name: str, func: object) -> object:
    profiler = Profiler(interval=0.002)
    profiler.start()
    result = func()  # type: ignore[operator]
    profiler.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.txt").write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return result


def _child(parent: str, folder: Path) -> None:
    """W3: a child mirroring ``folder`` (sync_folder, upload, finalize)."""
    from satchel import Dataset

    kid = Dataset.create(parent_datasets=[parent])
    kid.sync_folder(folder)
    kid.upload(show_progress=False)
    kid.finalize()


def _w2(work: Path, sizes: Sizes, files: int) -> None:
    """W2's store of ``files`` large files: add (hashing), upload (chunks, compression, packs), finalize."""
    from satchel import Dataset

    make_w2(work / "w2", replace(sizes, w2_files=files))
    ds = Dataset.create(dataset_name="w2", dataset_project="profile")
    profiled("w2_add", lambda: ds.add_files(work / "w2"))
    profiled("w2_upload", lambda: ds.upload(show_progress=False))
    profiled("w2_finalize", ds.finalize)
    with open(OUT / "w2_upload.txt", "a") as out:  # the profile shows only the main thread waiting for them
        out.write(_w2_stages(sorted((work / "w2").iterdir())))
    shutil.rmtree(work / "w2")


def _w2_stages(files: list[Path]) -> str:
    """The CPU seconds of each stage of a large file's upload, measured alone over ``files`` (read warm): the
    chunker, BLAKE3 of each chunk, zstd at the default level of each chunk (kept only where it saves 10%)."""
    import time

    from pyfastcdc import FastCDC

    from satchel.objects import hash_bytes
    from satchel.objects.chunks import CDC_AVG, CDC_MAX, CDC_MIN
    from satchel.objects.codec import ZSTD_LEVEL, encode

    lines = ["", "Stages measured alone (CPU seconds, one thread; the upload runs them on threads):", ""]
    for path in files:
        data = path.read_bytes()
        costs = {}
        start = time.process_time()
        chunks = [piece.data for piece in FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX).cut_buf(data)]
        costs["FastCDC cut"] = time.process_time() - start
        start = time.process_time()
        for chunk in chunks:
            hash_bytes(chunk)
        costs["BLAKE3 per chunk"] = time.process_time() - start
        start = time.process_time()
        for chunk in chunks:
            encode(chunk, ZSTD_LEVEL)
        costs[f"zstd level {ZSTD_LEVEL} per chunk"] = time.process_time() - start
        lines.append(f"{path.name} ({len(data) >> 20} MiB, {len(chunks)} chunks): "
                     + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in costs.items()))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--w4-entries", type=int, default=1_000_000)
    parser.add_argument("--w2-files", type=int, default=0, help="W2 files to store and profile (0: none)")
    parser.add_argument("--w5-entries", type=int, default=0, help="W5 base entries (0: no W5 profile)")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="satchel-profile-"))
    try:
        sizes = replace(Sizes.full(), w1_files=options.files, w1_folders=max(1, options.files // 100))
        make_w1(work / "w1", sizes)
        # W3 before W1 is added, as bench.py does: linking changes the shared inodes' ctime, which the stat cache
        # (rightly) takes for a change
        subprocess.run(["cp", "-al", str(work / "w1"), str(work / "w3")], check=True)
        apply_w3(work / "w3", sizes)
        os.environ["SATCHEL_HOME"] = str(work / "home")
        import satchel
        from benchmarks import ops
        from satchel import Dataset

        satchel.configure(home=work / "home")
        ds = Dataset.create(dataset_name="w1", dataset_project="profile")
        profiled("w1_add", lambda: ds.add_files(work / "w1"))
        profiled("w1_upload", lambda: ds.upload(show_progress=False))
        profiled("w1_finalize", ds.finalize)
        profiled("w1_cold_get", lambda: Dataset.get(dataset_id=ds.id).get_local_copy())
        child = Dataset.create(parent_datasets=[ds])
        profiled("w1_readd", lambda: child.add_files(work / "w1"))
        profiled("w3_child", lambda: _child(ds.id, work / "w3"))
        built = ops.w4_build(options.w4_entries)
        profiled("w4_get_list", lambda: Dataset.get(dataset_id=built["child"]).list_files())
        profiled("w4_squash", lambda: Dataset.squash("w4-flat", dataset_ids=[built["child"]]))
        if options.w2_files:
            _w2(work, sizes, options.w2_files)
        if options.w5_entries:
            base = ops.w5_build(options.w5_entries)["base"]
            news = [f"w5 new content {i}".encode() for i in range(max(1, options.w5_entries // 100))]
            profiled("w5_child", lambda: ops.w5_child(base, options.w5_entries, news))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"profiles written to {OUT}")


if __name__ == "__main__":
    main()
