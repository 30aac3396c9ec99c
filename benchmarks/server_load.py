"""Loopback load run of a satchel server: metadata requests per second and latency under N concurrent clients,
file-server throughput next to the same bytes written to and read from the same storage directly, and many
concurrent readers of one dataset. Bounded: a fixed request count, a fixed blob size. See benchmarks/README.md.

    python benchmarks/server_load.py [--clients 16] [--requests 4000] [--blob-mb 256] [--readers 50] [--out FILE]

The server is a real ``satchel server`` process (SQLite catalog, local storage folder) on 127.0.0.1, started for
the run and stopped by PID. Client load comes from separate processes (no shared interpreter with the server).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import free_port  # noqa: E402 - the tests' helper for a free port


def start_server(data: Path, storage: str | None, options: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    env.update({f"SATCHEL_{k.upper()}": v for k, v in options.items()})
    argv = [sys.executable, "-m", "satchel", "server", "--port", str(port), "--data", str(data)]
    process = subprocess.Popen(argv + (["--storage", storage] if storage else []),
                               env={**env, "SATCHEL_HOME": str(data / "home")},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)
    return process, url, (data / "admin-token").read_text().strip()


def metadata_worker(args: tuple[str, str, str, int]) -> list[float]:
    """``count`` requests alternating a version by id and a listing page; the latency of each."""
    url, token, version_id, count = args
    from satchel.storage.api import ApiClient

    client = ApiClient(url, token)
    latencies = []
    for i in range(count):
        start = time.perf_counter()
        if i % 2:
            client.get_json(f"/versions/{version_id}")
        else:
            client.get_json("/versions", project="bench", limit=50)
        latencies.append(time.perf_counter() - start)
    return latencies


def reader_worker(args: tuple[str, str, str, str]) -> str:
    """One machine (its own home) getting the whole dataset; "" on success, else the error."""
    url, token, version_id, home = args
    os.environ.update({"SATCHEL_API_URL": url, "SATCHEL_API_TOKEN": token, "SATCHEL_HOME": home})
    try:
        from satchel import Dataset

        folder = Path(Dataset.get(dataset_id=version_id).get_local_copy())
        return "" if sum(1 for p in folder.rglob("*") if p.is_file()) == 200 else "wrong file count"
    except Exception as exc:  # counted, reported
        return f"{type(exc).__name__}: {exc}"


def make_dataset(url: str, token: str, work: Path) -> str:
    os.environ.update({"SATCHEL_API_URL": url, "SATCHEL_API_TOKEN": token, "SATCHEL_HOME": str(work / "maker")})
    from satchel import Dataset

    source = work / "files"
    source.mkdir()
    for i in range(200):
        (source / f"f{i:03d}.bin").write_bytes(os.urandom(20_000 + i))
    ds = Dataset.create(dataset_name="load", dataset_project="bench")
    ds.add_files(source)
    ds.finalize(auto_upload=True)
    for n in range(40):  # a catalog with some rows to list
        Dataset.create(dataset_name=f"other{n}", dataset_project="bench")
    return ds.id


def throughput(url: str, token: str, direct_url: str, options: dict[str, str], work: Path,
               blob_mb: int) -> dict[str, float]:
    """MB/s of one blob up and down through the file server, and the same bytes put into and read from the
    server's storage directly (the same adapter the server uses), in this process."""
    from satchel.storage import open_storage

    blob = work / "blob.bin"
    with open(blob, "wb") as out:
        for _ in range(blob_mb):
            out.write(os.urandom(1 << 20))
    size_mb = blob.stat().st_size / 1e6
    served = open_storage("server://bench", retries=0, options={"api_url": url, "api_token": token})
    direct = open_storage(direct_url, retries=0, options=options)
    results = {}
    for name, storage in (("file server", served), ("direct", direct)):
        subprocess.run(["sync"], check=True)
        start = time.perf_counter()
        storage.put_file("blob.bin", blob)
        results[f"{name} upload MB/s"] = size_mb / (time.perf_counter() - start)
        start = time.perf_counter()
        received = sum(len(c) for c in storage.iter_range("blob.bin", 0, blob.stat().st_size))
        results[f"{name} download MB/s"] = size_mb / (time.perf_counter() - start)
        assert received == blob.stat().st_size
    results["upload ratio"] = results["file server upload MB/s"] / results["direct upload MB/s"]
    results["download ratio"] = results["file server download MB/s"] / results["direct download MB/s"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--blob-mb", type=int, default=256)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--append", action="store_true", help="add to --out instead of replacing it")
    parser.add_argument("--storage", choices=["folder", "s3"], default="folder",
                        help="the server's storage: a local folder, or SeaweedFS (S3) started for the run")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS-server.md"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="satchel-load-"))
    seaweed = None
    options: dict[str, str] = {}
    storage_url, direct_url = None, str(work / "server" / "storage" / "projects" / "bench-direct")
    if args.storage == "s3":
        import boto3
        from tests import servers

        seaweed = servers.start_seaweedfs(work / "seaweedfs")
        options = {"s3_endpoint_url": seaweed.endpoint, "s3_access_key_id": servers.S3_ACCESS_KEY,
                   "s3_secret_access_key": servers.S3_SECRET_KEY, "s3_region": "us-east-1"}
        boto3.client("s3", endpoint_url=seaweed.endpoint, region_name="us-east-1",
                     aws_access_key_id=servers.S3_ACCESS_KEY,
                     aws_secret_access_key=servers.S3_SECRET_KEY).create_bucket(Bucket="bench")
        storage_url, direct_url = "s3://bench/server", "s3://bench/direct"
    try:
        run(args, work, storage_url, direct_url, options)
    finally:
        if seaweed is not None:
            seaweed.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, storage_url: str | None, direct_url: str,
        options: dict[str, str]) -> None:
    process, url, token = start_server(work / "server", storage_url, options)
    try:
        version_id = make_dataset(url, token, work)
        per = args.requests // args.clients
        start = time.perf_counter()
        with ProcessPoolExecutor(args.clients) as pool:
            latencies = [x for part in pool.map(metadata_worker, [(url, token, version_id, per)] * args.clients)
                         for x in part]
        elapsed = time.perf_counter() - start
        latencies.sort()
        meta = {"requests": len(latencies), "req/s": len(latencies) / elapsed,
                "p50 ms": 1000 * statistics.median(latencies),
                "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]}
        start = time.perf_counter()
        with ProcessPoolExecutor(min(args.readers, 25)) as pool:
            errors = list(pool.map(reader_worker, [(url, token, version_id, str(work / f"reader{i}"))
                                                   for i in range(args.readers)]))
        readers = {"readers": args.readers, "errors": sum(1 for e in errors if e),
                   "seconds": time.perf_counter() - start, "first error": next((e for e in errors if e), "")}
        transfer = throughput(url, token, direct_url, options, work, args.blob_mb)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    report = render(args, meta, readers, transfer)
    out = Path(args.out)
    out.write_text((out.read_text() + "\n" if out.exists() and args.append else "") + report)
    print(report)
    print(json.dumps({"metadata": meta, "readers": readers, "transfer": transfer}))


def render(args: argparse.Namespace, meta: dict[str, float], readers: dict[str, object],
           transfer: dict[str, float]) -> str:
    where = "a local storage folder" if args.storage == "folder" else "SeaweedFS (S3) on 127.0.0.1"
    lines = [f"## satchel server on {where}", "",
             f"`python benchmarks/server_load.py --clients {args.clients} --requests {args.requests} --blob-mb "
             f"{args.blob_mb} --readers {args.readers} --storage {args.storage}` on {os.cpu_count()} CPUs; one "
             f"server process (SQLite catalog, {where}) on 127.0.0.1; clients in separate processes.", "",
             "| metadata (GET a version / a listing page) | value |", "|---|---|",
             f"| requests | {meta['requests']:.0f} from {args.clients} concurrent clients |",
             f"| throughput | {meta['req/s']:.0f} req/s |",
             f"| latency p50 / p99 | {meta['p50 ms']:.1f} / {meta['p99 ms']:.1f} ms |", "",
             "| transfer of one blob | file server | direct to the same storage | ratio (goal >= 0.70) |",
             "|---|---|---|---|",
             f"| upload | {transfer['file server upload MB/s']:.0f} MB/s | {transfer['direct upload MB/s']:.0f} MB/s | "
             f"{transfer['upload ratio']:.2f} |",
             f"| download | {transfer['file server download MB/s']:.0f} MB/s | "
             f"{transfer['direct download MB/s']:.0f} MB/s | {transfer['download ratio']:.2f} |", "",
             f"Concurrent readers: {readers['readers']} machines (own homes) got the same 200-file dataset at once "
             f"in {float(str(readers['seconds'])):.1f} s with {readers['errors']} errors (goal: 0)."
             + (f" First error: {readers['first error']}" if readers["errors"] else ""), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
