"""Dataset round trips on real object-storage servers (SeaweedFS S3, Azurite, fake-gcs-server): create, add,
upload, finalize, get, partial get, parts, child version, squash, a killed upload resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import satchel
from satchel import Dataset
from satchel.errors import DatasetNotFinalizedError, ExternalLinkError, InvalidDatasetPathError
from satchel.objects.packs import pack_id_of_index_key
from satchel.storage import open_storage
from tests.conftest import Backend, random_tree, read_tree, write_tree
from tests.dataset.test_faults import UPLOADER


def stored_objects(backend: Backend, prefix: str) -> dict[str, tuple[int, str | None]]:
    """key -> (size, change tag) of every object under ``prefix`` in the backend's store."""
    return {i.key: (i.size, i.tag) for i in backend.storage().list(prefix)}


def test_round_trip(cloud_home: Backend, home: Path, tmp_path: Path) -> None:
    backend = cloud_home
    files = random_tree(tmp_path / "v1", 60, max_size=200_000)
    files["big/large.bin"] = os.urandom(20 << 20)  # above the large-file threshold: its own multipart pack
    write_tree(tmp_path / "v1", {"big/large.bin": files["big/large.bin"]})
    ds = Dataset.create(dataset_name="images", dataset_project="cloud", output_uri=backend.url)
    ds.add_files(tmp_path / "v1")
    ds.upload(show_progress=False, chunk_size=1)
    with pytest.raises(DatasetNotFinalizedError):
        ds.get_local_copy()
    ds.finalize()
    assert ds.get_default_storage() == backend.url
    packs = [k for k in stored_objects(backend, "packs/") if k.endswith(".pack")]
    assert len(packs) >= 3  # chunk_size=1 MB: several small packs plus the large file's own

    copy = Path(Dataset.get(dataset_id=ds.id).get_local_copy())
    assert read_tree(copy) == files

    # Only what is asked for is fetched (range reads): a selection into an empty cache, then parts.
    satchel.configure(home=home, cache_dir=tmp_path / "cold-cache")
    some = sorted(p for p in files if p.startswith("d1/"))[:3]
    selected = Path(Dataset.get(dataset_id=ds.id).get_local_copy(files=some))
    assert read_tree(selected) == {p: files[p] for p in some}
    cached = sum(f.stat().st_size for f in (tmp_path / "cold-cache").rglob("*") if f.is_file())
    assert cached < sum(len(files[p]) for p in some) * 2 + (256 << 10)  # not the 20 MiB file, not whole packs
    parts = [read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy(part=i, num_parts=3))) for i in range(3)]
    merged: dict[str, bytes] = {}
    for part in parts:
        assert part and not set(part) & set(merged)
        merged.update(part)
    assert merged == files
    mutable = Path(Dataset.get(dataset_id=ds.id).get_mutable_local_copy(tmp_path / "mutable"))
    assert read_tree(mutable) == files

    # A child version stores only its change, in the parent's store.
    child = Dataset.create(dataset_name="images", dataset_project="cloud", parent_datasets=[ds.id])
    removed = sorted(files)[5]
    child.remove_files(removed)
    write_tree(tmp_path / "v2", {"new/added.txt": "added in the child", sorted(files)[6]: "changed"})
    child.add_files(tmp_path / "v2")
    before = sum(size for size, _ in stored_objects(backend, "packs/").values())
    child.upload(show_progress=False)
    child.finalize()
    after = sum(size for size, _ in stored_objects(backend, "packs/").values())
    assert after - before < 4096
    expected = dict(files)
    del expected[removed]
    expected["new/added.txt"] = b"added in the child"
    expected[sorted(files)[6]] = b"changed"
    assert read_tree(Path(Dataset.get(dataset_id=child.id).get_local_copy())) == expected
    assert child.list_removed_files() == [removed]

    # Squash flattens without copying data.
    squashed = Dataset.squash("flat", dataset_ids=[ds.id, child.id])
    assert sum(size for size, _ in stored_objects(backend, "packs/").values()) == after
    assert read_tree(Path(squashed.get_local_copy())) == expected
    assert squashed.verify_dataset_hash() == []


def test_killed_upload_resumes_and_stores_only_what_is_missing(cloud_home: Backend, home: Path,
                                                               tmp_path: Path) -> None:
    backend = cloud_home
    files = random_tree(tmp_path / "src", 40, max_size=300_000)
    ds = Dataset.create(dataset_name="ds", dataset_project="p", output_uri=backend.url)
    ds.add_files(tmp_path / "src")
    script = tmp_path / "uploader.py"
    script.write_text(UPLOADER)
    env = {**os.environ, "SATCHEL_HOME": str(home), "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen([sys.executable, str(script), ds.id], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        indexes = [k for k in stored_objects(backend, "packs/") if pack_id_of_index_key(k)]
        if len(indexes) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None and "finished" not in proc.stdout.read()
    before = stored_objects(backend, "packs/")
    assert any(k.endswith(".pack") for k in before)
    fresh = Dataset.get(dataset_id=ds.id)
    assert not fresh.is_final()
    fresh.upload(show_progress=False, chunk_size=1, compression="none")
    after = stored_objects(backend, "packs/")
    assert all(after[k] == v for k, v in before.items())  # nothing stored twice or rewritten
    raw = sum(len(v) for v in files.values())
    stored = sum(size for key, (size, _) in after.items() if key.endswith(".pack"))
    assert stored <= raw * 1.05 + 8 * len(after)
    fresh.finalize()
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == files


def test_external_links_on_the_store(cloud_home: Backend, tmp_path: Path) -> None:
    """Objects that already live in the bucket are linked (not copied), fetched into views, and refused once
    they change at the source."""
    backend = cloud_home
    raw = open_storage(backend.url + "-raw", retries=0, options=backend.options)
    objects = {"cam1/0001.jpg": os.urandom(5000), "cam1/0002.jpg": os.urandom(7000), "cam2/x y.jpg": b"spaces",
               "notes.txt": b"not an image"}
    for key, data in objects.items():
        raw.put(key, data)
    ds = Dataset.create(dataset_name="linked", dataset_project="cloud", output_uri=backend.url)
    assert ds.add_external_files(backend.url + "-raw/", wildcard="*.jpg", dataset_path="images") == 3
    assert ds.add_external_files(f"{backend.url}-raw/notes.txt") == 1
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.get_num_chunks() == 0  # nothing was copied into the store
    links = ds.link_entries_dict
    assert links["images/cam2/x y.jpg"].size == 6 and links["images/cam2/x y.jpg"].tag
    expected = {f"images/{k}": v for k, v in objects.items() if k.endswith(".jpg")} | {"notes.txt": b"not an image"}
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == expected
    assert Dataset.get(dataset_id=ds.id).verify_dataset_hash() == []

    raw.put("cam1/0001.jpg", b"replaced at the source")
    assert Dataset.get(dataset_id=ds.id).verify_dataset_hash() == ["images/cam1/0001.jpg"]
    satchel.configure(cache_dir=tmp_path / "fresh-cache")
    with pytest.raises(ExternalLinkError) as info:
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert info.value.reason == "changed" and info.value.dataset_path == "images/cam1/0001.jpg"
    raw.delete("notes.txt")
    satchel.configure(cache_dir=tmp_path / "another-cache")  # the failed get may have cached notes.txt already
    partial = read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy(raise_on_error=False)))
    assert partial == {k: v for k, v in expected.items() if k not in ("images/cam1/0001.jpg", "notes.txt")}


def test_link_keys_as_written_markers_and_clashes(cloud_home: Backend) -> None:
    backend = cloud_home
    raw = open_storage(backend.url + "-odd", retries=0, options=backend.options)
    raw.put("pct%41.txt", b"percent kept")
    raw.put("pctA.txt", b"a different object")
    raw.put("marked", b"")  # an empty "folder marker" next to the folder's files
    raw.put("marked/inside.txt", b"inside")
    ds = Dataset.create(dataset_name="odd", dataset_project="cloud", output_uri=backend.url)
    assert ds.add_external_files(f"{backend.url}-odd/pct%41.txt") == 1
    assert ds.link_entries_dict["pct%41.txt"].link == f"{backend.url}-odd/pct%41.txt"
    assert ds.add_external_files(f"{backend.url}-odd/marked/", dataset_path="m") == 1
    assert ds.add_external_files(f"{backend.url}-odd/", wildcard="*.txt", dataset_path="all") == 3
    assert sorted(ds.link_entries_dict) == ["all/marked/inside.txt", "all/pct%41.txt", "all/pctA.txt",
                                            "m/inside.txt", "pct%41.txt"]
    raw.put("clash", b"a file")
    raw.put("clash/file.txt", b"and a folder of the same name")
    with pytest.raises(InvalidDatasetPathError, match="file and a folder"):
        ds.add_external_files(f"{backend.url}-odd/", dataset_path="c")
    ds.upload(show_progress=False)
    ds.finalize()
    got = read_tree(Path(ds.get_local_copy()))
    assert got["pct%41.txt"] == b"percent kept" and got["all/pctA.txt"] == b"a different object"
