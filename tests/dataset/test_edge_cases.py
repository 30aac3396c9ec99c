"""Edge cases found in review: races, literal paths, file/folder clashes, bounded memory, ClearML habits."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import satchel
import satchel.dataset.upload as upload_module
from satchel import ConflictError, Dataset, InvalidArgumentError, InvalidDatasetPathError
from satchel.dataset import lifecycle
from satchel.dataset.context import get_context
from satchel.errors import ConfigError
from satchel.objects import store as store_module
from tests.conftest import read_tree, store_dir, write_tree


def finalized(folder: Path, name: str = "ds", **create: object) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="p", **create)  # type: ignore[arg-type]
    ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_eviction_waits_for_builds_using_content(home: Path) -> None:
    cache = get_context().cache
    cache.limit = 0
    cache.add_usage(10)
    finished = threading.Event()
    with cache.using_content():
        worker = threading.Thread(target=lambda: (cache.evict(keep=set()), finished.set()))
        worker.start()
        time.sleep(0.3)
        assert not finished.is_set()
    worker.join(timeout=10)
    assert finished.is_set()


def test_change_during_finalize_is_a_conflict_not_a_loss(home: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "a", {"a.txt": "a"})
    write_tree(tmp_path / "b", {"b.txt": "b"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "a")
    ds.upload(show_progress=False)
    original = lifecycle.build_manifest

    def meanwhile(*args: object, **kw: object) -> object:
        other = Dataset.get(dataset_id=ds.id)
        other.add_files(tmp_path / "b")
        other.upload(show_progress=False)
        return original(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(lifecycle, "build_manifest", meanwhile)
    with pytest.raises(ConflictError, match=r"finalize\(\) again"):
        ds.finalize()
    monkeypatch.undo()
    assert not ds.is_final()
    ds.finalize()
    assert read_tree(Path(ds.get_local_copy())) == {"a.txt": b"a", "b.txt": b"b"}


def test_literal_paths_win_over_wildcards(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"img[1].png": "bracket", "img1.png": "plain"})
    ds = finalized(tmp_path / "src")
    assert sorted(os.listdir(ds.get_local_copy(files=["img[1].png"]))) == ["img[1].png"]
    child = Dataset.create(parent_datasets=[ds])
    assert child.remove_files("img[1].png") == 1
    assert child.list_files() == ["img1.png"]
    assert child.remove_files("img?.png") == 1


def test_a_path_cannot_be_file_and_folder(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "one", {"data": "a file"})
    write_tree(tmp_path / "two", {"data/x.txt": "in a folder"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "one")
    with pytest.raises(InvalidDatasetPathError, match=r"'data' is a file in the dataset.*remove_files"):
        ds.add_files(tmp_path / "two")
    write_tree(tmp_path / "deep", {"ok/new.txt": "fine", "data/sub/deeper.txt": "under the file", "z.txt": "z"})
    with pytest.raises(InvalidDatasetPathError, match=r"cannot add .data/sub/deeper\.txt.: .data. is a file"):
        ds.add_files(tmp_path / "deep")  # the clash is two folders up, among paths that would be fine
    ds2 = Dataset.create(dataset_name="ds2", dataset_project="p")
    ds2.add_files(tmp_path / "two")
    with pytest.raises(InvalidDatasetPathError, match="folder of that name"):
        ds2.add_files(tmp_path / "one")
    assert ds.list_files() == ["data"] and ds2.list_files() == ["data/x.txt"]
    ds2.remove_files("data")
    ds2.add_files(tmp_path / "one")
    assert ds2.list_files() == ["data"]


def test_upload_reads_a_bounded_window_ahead(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "src", {f"f{i:03d}.bin": os.urandom(128 << 10) for i in range(400)})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    reads: list[str] = []
    seen_at_first_write: list[int] = []
    original_read, original_write = upload_module._read_local, store_module.ObjectStore.write_pack
    monkeypatch.setattr(upload_module, "_read_local", lambda item: reads.append(item.hash) or original_read(item))

    def slow_write(self: store_module.ObjectStore, builder: object) -> object:
        if not seen_at_first_write:
            time.sleep(0.5)
            seen_at_first_write.append(len(reads))
        return original_write(self, builder)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module.ObjectStore, "write_pack", slow_write)
    ds.upload(show_progress=False, chunk_size=1, compression="none", max_workers=1)
    assert len(reads) == 400
    assert seen_at_first_write[0] < 150


def test_many_small_add_calls_do_not_reload_the_draft(home: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "src", {f"f{i}.txt": str(i) for i in range(40)})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    catalog = get_context().catalog
    loads: list[str] = []
    original = catalog.draft_rows
    monkeypatch.setattr(catalog, "draft_rows", lambda version_id: loads.append(version_id) or original(version_id))
    for i in range(40):
        ds.add_files(tmp_path / f"src/f{i}.txt")
    assert len(loads) == 1
    assert len(ds.list_files()) == 40


def test_half_given_part_raises_even_when_cached(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a": "a"})
    ds = finalized(tmp_path / "src")
    ds.get_local_copy()
    with pytest.raises(InvalidArgumentError, match="num_parts"):
        ds.get_local_copy(part=0)


def test_child_defaults_to_its_parents_store(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "a", "b.txt": "b"})
    parent = finalized(tmp_path / "src", output_uri=str(tmp_path / "team-store"))
    child = Dataset.create(parent_datasets=[parent])
    child.remove_files("b.txt")
    assert not child.is_dirty()
    child.finalize()
    assert child.storage_url == parent.storage_url
    assert not (store_dir(home)).exists()


def test_handles_see_each_others_state(home: Path) -> None:
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    other = Dataset.get(dataset_id=ds.id)
    ds.finalize()
    assert other.is_final()


def test_bare_strings_are_single_values(home: Path, tmp_path: Path) -> None:
    parent = Dataset.create(dataset_name="ds", dataset_project="p", dataset_tags="train")
    assert parent.tags == ["train"]
    parent.tags = "val"
    assert parent.tags == ["val"]
    parent.finalize()
    child = Dataset.create(parent_datasets=parent.id)
    assert child.parent_ids == [parent.id]


def test_settings_and_urls_are_checked(home: Path) -> None:
    assert satchel.configure(home=home, cache_limit=1.5e9).cache_limit == 1_500_000_000
    with pytest.raises(ConfigError):
        satchel.configure(home=home, cache_limit=True)
    with pytest.raises(InvalidArgumentError, match="file:///data/store"):
        Dataset.create(dataset_name="x", dataset_project="p", output_uri="file://data/store")


def test_chunk_size_minus_one_means_one_pack(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {f"f{i}.bin": os.urandom(300_000) for i in range(10)})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False, chunk_size=-1, preview=False)
    ds.finalize()
    assert len(list((store_dir(home) / "packs").rglob("*.pack"))) == 1
