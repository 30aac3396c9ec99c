"""One measured satchel operation per process: ``python ops.py OP JSON-ARGS``; prints a JSON result.

Run with SATCHEL_HOME set by the caller. Times are measured inside the process around the API calls
(the caller also records the process's wall time and peak RSS).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import satchel.catalog.sql  # noqa: F401 - loaded on first use; imported here so no timing below includes it
from satchel import Dataset
from satchel.catalog import DraftRow
from satchel.dataset.context import get_context
from satchel.objects import Codec, Manifest, ManifestEntry, PackBuilder, hash_bytes
from satchel.objects.packs import PACK_MAGIC, pack_key


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def store(folder: str, name: str) -> dict[str, Any]:
    """create + add_files, upload, finalize."""
    t_add, ds = timed(lambda: _create_and_add(folder, name))
    t_upload, _ = timed(lambda: ds.upload(show_progress=False))
    t_final, _ = timed(ds.finalize)
    return {"id": ds.id, "add": t_add, "upload": t_upload, "finalize": t_final, "seconds": t_add + t_upload + t_final}


def _create_and_add(folder: str, name: str) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="bench")
    ds.add_files(folder)
    return ds


def child(parent: str, folder: str) -> dict[str, Any]:
    """A child version mirroring ``folder`` (W3): create + sync_folder, upload, finalize."""
    start = time.perf_counter()
    ds = Dataset.create(parent_datasets=[parent])
    removed, changed = ds.sync_folder(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return {"id": ds.id, "seconds": time.perf_counter() - start, "removed": removed, "changed": changed}


def readd(parent: str, folder: str) -> dict[str, Any]:
    """Re-adding an unchanged folder to a child of the version made from it."""
    ds = Dataset.create(parent_datasets=[parent])
    seconds, added = timed(lambda: ds.add_files(folder))
    return {"seconds": seconds, "added": added, "dirty": ds.is_dirty()}


def get(dataset_id: str, unprivileged: bool = False) -> dict[str, Any]:
    """``get_local_copy``; ``unprivileged``: as a process that cannot write read-only files (not root), whose
    cache hit skips the per-file check (the benchmark runs as whoever runs it; this shows the other path)."""
    if unprivileged:
        from satchel.dataset import retrieve

        retrieve.can_write_read_only_files = lambda: False  # type: ignore[assignment,attr-defined]
    seconds, path = timed(lambda: Dataset.get(dataset_id=dataset_id).get_local_copy())
    return {"seconds": seconds, "path": path}


def mutable(dataset_id: str, target: str) -> dict[str, Any]:
    seconds, path = timed(lambda: Dataset.get(dataset_id=dataset_id).get_mutable_local_copy(target, overwrite=True))
    return {"seconds": seconds, "path": path}


def squash(dataset_id: str, name: str) -> dict[str, Any]:
    seconds, flat = timed(lambda: Dataset.squash(name, dataset_ids=[dataset_id]))
    return {"seconds": seconds, "id": flat.id}


def w4_build(entries: int) -> dict[str, Any]:
    """A metadata-only version of ``entries`` files and a child with 1% modified, added and removed."""
    store, base, view = _synthetic_base("w4", entries, lambda i: f"d{i % 1000:04d}/f{i:07d}.bin")
    pack = "f" * 64
    kid = Dataset.create(parent_datasets=[base])
    step = 100
    paths = list(view)
    puts = {p: view[p]._replace(hash=f"{i + 10**9:064x}", origin=kid.id) for i, p in enumerate(paths[::step])}
    puts.update({f"new/f{i:07d}.bin": ManifestEntry(f"{i + 2 * 10**9:064x}", 4096, kid.id, pack, 0, 4096, 0)
                 for i in range(len(puts))})
    removed = paths[1::step]
    _finalize_synthetic(kid.id, Manifest("delta", [base.id], puts, removed), store, 1, len(view))
    return {"base": base.id, "child": kid.id}


def _synthetic_base(name: str, entries: int, path_of: Callable[[int], str]) -> tuple[Any, Dataset, dict[str, Any]]:
    """(store, version, view): a finalized metadata-only version of ``entries`` files whose content is in a pack
    that exists (squash checks) and holds no data."""
    ctx = get_context()
    store = ctx.store(ctx.default_storage_url)
    store.check_format(create=True)
    base = Dataset.create(dataset_name=name, dataset_project="bench")
    pack = "f" * 64
    store.storage.put(pack_key(pack), PACK_MAGIC)
    view = {path_of(i): ManifestEntry(f"{i:064x}", 4096, base.id, pack, i * 4096, 4096, 0) for i in range(entries)}
    _finalize_synthetic(base.id, Manifest("full", [], view, []), store, 0, len(view))
    return store, base, view


def _finalize_synthetic(version_id: str, manifest: Manifest, store: Any, depth: int, count: int) -> None:
    manifest_hash = store.put_manifest(manifest)
    get_context().catalog.finalize_version(version_id, manifest=manifest_hash, storage_url=store.url, depth=depth,
                                           stats={"file_count": count})


def w4_measure(base: str, kid: str) -> dict[str, Any]:
    t_get, files = timed(lambda: Dataset.get(dataset_id=kid).list_files())
    ds = Dataset.get(dataset_id=kid)
    t_diff, changes = timed(lambda: (ds.list_added_files(), ds.list_modified_files(), ds.list_removed_files()))
    t_squash, _ = timed(lambda: Dataset.squash("w4-flat", dataset_ids=[kid]))
    return {"get_list": t_get, "files": len(files), "diff": t_diff, "changes": [len(c) for c in changes],
            "squash": t_squash}


def w5_build(entries: int) -> dict[str, Any]:
    """W5's base: a metadata-only version of ``entries`` files (content in a pack that holds none of it), and a
    real pack holding the 1% of new contents its child will use."""
    store, base, view = _synthetic_base("w5", entries, lambda i: f"d{i % 10000:05d}/f{i:08d}.bin")
    del view
    builder = PackBuilder()
    for i in range(max(1, entries // 100)):
        data = f"w5 new content {i}".encode()
        builder.add(hash_bytes(data), Codec.RAW, data, len(data))
    store.write_pack(builder)
    return {"base": base.id}


def w5_child(base: str, entries: int, news: list[bytes]) -> tuple[Dataset, list[DraftRow]]:
    """W5's child of ``base``, finalized: ``news`` set at 1% of the paths (every other one new, the others
    changed), 1% removed; (the child, its draft's rows)."""
    kid = Dataset.create(parent_datasets=[base])
    rows = [DraftRow(f"d{i % 10000:05d}/f{i:08d}.bin" if n % 2 else f"new/f{i:08d}.bin", hash_bytes(data),
                     len(data)) for n, (i, data) in enumerate(zip(range(0, entries, 100), news, strict=False))]
    rows += [DraftRow(f"d{i % 10000:05d}/f{i:08d}.bin", None) for i in range(51, entries, 100)]
    get_context().catalog.change_draft(kid.id, rows)
    kid.finalize()
    return kid, rows


def w5_measure(base: str, entries: int) -> dict[str, Any]:
    """W5's operations, each timed: a child changing 1% of the files (half modified, half added) and removing
    1%, finalized; its list; its diff; one file read."""
    count = max(1, entries // 100)
    news = [f"w5 new content {i}".encode() for i in range(count)]
    start = time.perf_counter()
    kid, rows = w5_child(base, entries, news)
    t_child = time.perf_counter() - start
    t_list, files = timed(lambda: Dataset.get(dataset_id=kid.id).list_files())
    ds = Dataset.get(dataset_id=kid.id)
    t_diff, changes = timed(lambda: (ds.list_added_files(), ds.list_modified_files(), ds.list_removed_files()))
    t_one, data = timed(lambda: ds.read_bytes(rows[1].path))
    return {"child": t_child, "list": t_list, "diff": t_diff, "get_one": t_one, "files": len(files),
            "changes": [len(c) for c in changes], "read_ok": data == news[1]}


OPS: dict[str, Callable[..., dict[str, Any]]] = {
    "store": store, "child": child, "readd": readd, "get": get, "mutable": mutable, "squash": squash,
    "w4_build": w4_build, "w4_measure": w4_measure, "w5_build": w5_build, "w5_measure": w5_measure,
}

if __name__ == "__main__":
    result = OPS[sys.argv[1]](**json.loads(sys.argv[2]))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)
