"""The web UI on a version of a million entries: how long the content page (first page, a folder, a sort, a deep
page) and a preview take to answer, cold (the first request after the UI started) and warm.

    python benchmarks/ui_load.py [--entries 1000000] [--out benchmarks/RESULTS-ui.md]

The version is made in a fresh embedded home: a real dataset (a CSV and a PNG, uploaded as usual), then a
finalized version whose full manifest holds those two files (their real stored locations) and ``entries``
synthetic entries in 1,000 folders (metadata only, as benchmark W4). It is served by a real ``satchel ui``
process on 127.0.0.1 (the same pages and code as ``satchel server``), stopped by PID. Times are wall-clock times
of whole HTTP requests from this process (median of 5 for warm), with the server's peak RSS.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(home: Path, entries: int) -> tuple[str, str]:
    """The ids of the million-entry version and of a second version with the same manifest (run in this
    process with SATCHEL_HOME=home)."""
    from PIL import Image

    from satchel import Dataset
    from satchel.dataset.context import get_context
    from satchel.objects import Manifest, ManifestEntry
    from satchel.objects.packs import PACK_MAGIC, pack_key

    source = home.parent / "source"
    source.mkdir()
    (source / "labels.csv").write_text("file,label,weight\n" + "".join(f"f{i}.png,{i % 5},{i / 3:.4f}\n"
                                                                       for i in range(5000)))
    out = io.BytesIO()
    Image.new("RGB", (1024, 768), (30, 90, 160)).save(out, format="PNG")
    (source / "photo.png").write_bytes(out.getvalue())
    real = Dataset.create(dataset_name="real", dataset_project="bench")
    real.add_files(source)
    real.finalize(auto_upload=True)
    ctx = get_context()
    record = ctx.catalog.get_version(real.id)
    real_view = ctx.views.view(record)
    store = ctx.store(ctx.default_storage_url)
    fake = "f" * 64
    store.storage.put(pack_key(fake), PACK_MAGIC)
    big = Dataset.create(dataset_name="million", dataset_project="bench")
    view = {f"d{i % 1000:04d}/f{i:07d}.bin": ManifestEntry(f"{i:064x}", 4096 + i % 977, big.id, fake, 8, 4096, 0)
            for i in range(entries)}
    view.update({path: entry._replace(origin=big.id) for path, entry in real_view.items()})
    manifest_hash = store.put_manifest(Manifest("full", [], view, []))
    stats = {"file_count": len(view), "total_size": sum(e.size for e in view.values())}
    ctx.catalog.finalize_version(big.id, manifest=manifest_hash, storage_url=store.url, depth=0, stats=stats)
    twin = Dataset.create(dataset_name="million-twin", dataset_project="bench")  # same files, its own caches
    ctx.catalog.finalize_version(twin.id, manifest=manifest_hash, storage_url=store.url, depth=0, stats=stats)
    return big.id, twin.id


def start_ui(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    env["SATCHEL_HOME"] = str(home)
    process = subprocess.Popen([sys.executable, "-m", "satchel", "ui", "--port", "0"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"(http://127\.0\.0\.1:\d+)/login\?code=(\S+)", line)
    if not found:
        raise SystemExit(f"satchel ui did not start: {line}")
    url, code = found.group(1), found.group(2)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(f"{url}/login?code={code}")
    except urllib.error.HTTPError as exc:
        cookie = re.search(r"satchel_session=([^;]+)", exc.headers["set-cookie"])
        assert cookie is not None
        return process, url, cookie.group(1)
    raise SystemExit("the login link set no session")


def timed_get(url: str, token: str) -> tuple[float, int]:
    request = urllib.request.Request(url, headers={"Cookie": f"satchel_session={token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as reply:
        body = reply.read()
    return time.perf_counter() - started, len(body)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS-ui.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="satchel-ui-bench-") as tmp:
        home = Path(tmp) / "home"
        os.environ["SATCHEL_HOME"] = str(home)
        started = time.perf_counter()
        version, twin = build(home, args.entries)
        built = time.perf_counter() - started
        process, url, token = start_ui(home)
        try:
            base = f"{url}/versions/{version}"
            csv_preview = f"{base}/preview?path=labels.csv"
            pages = [("content page, root (1,000 folders)", f"{base}/files"),
                     ("content page, a folder (first 100 of 1,000 files)", f"{base}/files?folder=d0500"),
                     ("content page, a folder sorted by size, descending", f"{base}/files?folder=d0501&sort=size"
                                                                           "&order=desc"),
                     ("content page, page 9 of a folder", f"{base}/files?folder=d0502&offset=900"),
                     ("content search (substring over 1M paths)", f"{base}/files?search=f0999999"),
                     ("preview of a CSV (5,000 rows, first 50 shown)", csv_preview),
                     ("preview of a 1024x768 PNG (page)", f"{base}/preview?path=photo.png"),
                     ("thumbnail of that PNG", f"{base}/thumbnail?path=photo.png"),
                     ("version page", base),
                     ("JSON twin of the content page", f"{url}/api/v1/browse/versions/{version}/files"
                                                       "?folder=d0503")]
            rows = []
            for label, target in pages:
                cold, size = timed_get(target, token) if "twin" not in label else (float("nan"), 0)
                if "twin" in label:
                    request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
                    started = time.perf_counter()
                    with urllib.request.urlopen(request) as reply:
                        size = len(reply.read())
                    cold = time.perf_counter() - started
                    warm = []
                    for _ in range(5):
                        started = time.perf_counter()
                        with urllib.request.urlopen(request) as reply:
                            reply.read()
                        warm.append(time.perf_counter() - started)
                else:
                    warm = [timed_get(target, token)[0] for _ in range(5)]
                rows.append((label, cold, statistics.median(warm), size))
            timed_get(f"{url}/versions/{twin}", token)  # a person opens the version page...
            time.sleep(3)  # ...reads it for a few seconds, then opens its content
            after, size = timed_get(f"{url}/versions/{twin}/files", token)
            rows.insert(1, ("content page, root, 3 s after opening the version page (it prefetches)", after,
                            timed_get(f"{url}/versions/{twin}/files", token)[0], size))
            rss = peak_rss_mb(process.pid)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
    lines = [f"# Web UI on a version of {args.entries + 2:,} entries",
             "", f"Generated by `bash benchmarks/run-ui` on {time.strftime('%Y-%m-%d')}: a real `satchel ui` process "
             f"(the same pages and code as `satchel server`) on 127.0.0.1; made the version in {built:.1f} s.",
             "Cold: the first request for that page after the UI started (the first one of all loads the "
             "version's manifest and indexes its folders; later pages reuse them). Warm: median of 5.",
             "", "| request | cold | warm | bytes | under 1 s |", "|---|---|---|---|---|"]
    for label, cold, warm, size in rows:
        lines.append(f"| {label} | {cold * 1000:.0f} ms | {warm * 1000:.1f} ms | {size:,} | "
                     f"{'yes' if max(cold, warm) < 1 else 'cold no, warm yes' if warm < 1 else 'no'} |")
    lines += ["", f"Peak RSS of the UI process: {rss:.0f} MB.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
