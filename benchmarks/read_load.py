"""Streaming reads of a version next to reading its materialized folder: first-byte latency and throughput of
``open().read()`` on small and large files, a footer read of a large Parquet file, and a PyTorch DataLoader
epoch over many small files, from the local cache and from a store (a local folder, and SeaweedFS over S3).

    python benchmarks/read_load.py [--small 100000] [--large-mb 512] [--out benchmarks/RESULTS-read.md]

Each store case runs in a fresh process with a cold satchel cache (the page cache is what it is: reading the
materialized folder right after making it is a warm-cache baseline, stated as such).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torch.utils.data import IterableDataset as TorchIterableDataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make(home: Path, source: Path, small: int, large_mb: int, storage: str | None) -> dict[str, str]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from satchel import Dataset

    rng = np.random.default_rng(1)
    for i in range(small):
        path = source / "small" / f"d{i % 100:03d}" / f"f{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.bytes(1024 + (i % 7) * 512))
    rows = large_mb * (1 << 20) // 16
    table = pa.table({"a": rng.random(rows), "b": rng.random(rows)})
    pq.write_table(table, source / "large.parquet", compression="none", row_group_size=1 << 20)
    ds = Dataset.create(dataset_name="read", dataset_project="bench", output_uri=storage)
    ds.add_files(source)
    ds.finalize(auto_upload=True)
    return {"id": ds.id}


class FolderFiles(TorchIterableDataset):  # type: ignore[misc,type-arg]
    """The baseline: the same files read from the materialized folder by the same kind of DataLoader."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.paths = sorted(str(p) for p in Path(folder, "small").rglob("*.bin"))

    def __iter__(self):  # type: ignore[no-untyped-def]
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for path in self.paths[worker::workers]:
            with open(path, "rb") as handle:
                yield path, handle.read()


def measure(version_id: str, source: str, spawn: bool = False) -> dict[str, float]:
    """In a fresh process: the reads, from whatever the cache holds."""
    import fsspec
    import pyarrow.parquet as pq
    from torch.utils.data import DataLoader

    from satchel.torch import IterableDataset

    fs = fsspec.filesystem("satchel")
    out: dict[str, float] = {}
    started = time.perf_counter()
    with fs.open(f"{version_id}/small/d000/f000000.bin") as handle:
        handle.read(1)
    out["small_first_byte_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with fs.open(f"{version_id}/large.parquet", block_size=1 << 20) as handle:
        pq.read_metadata(handle)
    out["parquet_footer_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with fs.open(f"{version_id}/large.parquet", block_size=8 << 20) as handle:
        first = time.perf_counter()
        handle.read(1)
        out["large_first_byte_s"] = time.perf_counter() - first
        total = 1
        while chunk := handle.read(8 << 20):
            total += len(chunk)
    out["large_read_mb_s"] = total / (1 << 20) / (time.perf_counter() - started)
    started = time.perf_counter()
    loader = DataLoader(IterableDataset(dataset_id=version_id, files=["small/*"]), batch_size=None, num_workers=2,
                        multiprocessing_context="spawn" if spawn else None)  # obstore (S3) needs spawned workers
    count = sum(1 for _ in loader)
    out["epoch_s"] = time.perf_counter() - started
    out["epoch_files"] = count
    baseline = FolderFiles(source)
    started = time.perf_counter()
    count = sum(1 for _ in DataLoader(baseline, batch_size=None, num_workers=2,
                                      multiprocessing_context="spawn" if spawn else None))
    out["folder_loader_s"] = time.perf_counter() - started
    started = time.perf_counter()
    folder = Path(source)
    total = 0
    for path in sorted((folder / "small").rglob("*.bin")):
        total += len(path.read_bytes())
    out["folder_epoch_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with open(folder / "large.parquet", "rb") as handle:
        while handle.read(8 << 20):
            pass
    out["folder_large_s"] = time.perf_counter() - started
    return out


def run_case(home: Path, version_id: str, source: Path, env: dict[str, str], spawn: bool) -> dict[str, float]:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.read_load import measure; "
            f"print(json.dumps(measure({version_id!r}, {str(source)!r}, {spawn!r})))")
    done = subprocess.run([sys.executable, "-c", code], env={**env, "SATCHEL_HOME": str(home)}, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large-mb", type=int, default=512)
    parser.add_argument("--seaweedfs", action="store_true", help="also read from SeaweedFS (S3 on 127.0.0.1)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS-read.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="satchel-read-bench-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
        cases = [("local folder store", None, {})]
        weed = None
        if args.seaweedfs:
            import boto3
            from tests import servers

            weed = servers.start_seaweedfs(work / "weed")
            boto3.client("s3", endpoint_url=weed.endpoint, aws_access_key_id=servers.S3_ACCESS_KEY,
                         aws_secret_access_key=servers.S3_SECRET_KEY, region_name="us-east-1"
                         ).create_bucket(Bucket="bench")
            cases.append(("SeaweedFS (S3)", "s3://bench/read", {
                "SATCHEL_S3_ENDPOINT_URL": weed.endpoint, "SATCHEL_S3_ACCESS_KEY_ID": servers.S3_ACCESS_KEY,
                "SATCHEL_S3_SECRET_ACCESS_KEY": servers.S3_SECRET_KEY, "SATCHEL_S3_REGION": "us-east-1"}))
        try:
            for name, storage, extra in cases:
                home, source = work / f"home-{len(rows)}", work / f"src-{len(rows)}"
                case_env = {**env, **extra}
                os.environ.update(extra)
                os.environ["SATCHEL_HOME"] = str(home)
                import satchel

                satchel.configure(home=home)
                version = make(home, source, args.small, args.large_mb, storage)["id"]
                shutil.rmtree(home / "cache", ignore_errors=True)  # cold: nothing cached
                cold = run_case(home, version, source, case_env, storage is not None)
                warm = run_case(home, version, source, case_env, storage is not None)  # the cache is filled now
                rows.append((name, cold, warm))
        finally:
            if weed is not None:
                weed.stop()
    lines = [f"# Streaming reads: {args.small:,} small files and a {args.large_mb} MiB Parquet file", "",
             f"Generated by `bash benchmarks/run-read` on {time.strftime('%Y-%m-%d')}. Cold: a fresh process, empty "
             "satchel cache. Warm: the next process (the cache filled by the cold run). The folder columns read "
             "the source folder just written (page cache warm): the floor.", "",
             "DataLoader workers are forked for the local store and spawned for S3 (obstore does not survive a "
             "fork).", "",
             "| store | case | small first byte | Parquet footer | large first byte | large MB/s | DataLoader epoch "
             "(2 workers) | same DataLoader over the folder | folder read in one loop | folder large read |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, cold, warm in rows:
        for label, m in (("cold", cold), ("warm", warm)):
            lines.append(f"| {name} | {label} | {m['small_first_byte_s'] * 1000:.0f} ms | "
                         f"{m['parquet_footer_s'] * 1000:.0f} ms | {m['large_first_byte_s'] * 1000:.0f} ms | "
                         f"{m['large_read_mb_s']:.0f} | {m['epoch_s']:.1f} s ({int(m['epoch_files']):,} files) | "
                         f"{m['folder_loader_s']:.1f} s | {m['folder_epoch_s']:.1f} s | {m['folder_large_s']:.2f} s |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
