"""Create -> add -> upload -> finalize -> get, child versions, and the rules of each step."""

from __future__ import annotations

import os
import stat
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from satchel import (
    Dataset,
    DatasetFinalizedError,
    DatasetNotFinalizedError,
    InvalidArgumentError,
    InvalidDatasetPathError,
    PendingUploadError,
)
from satchel.dataset.context import get_context
from satchel.dataset.lifecycle import MAX_DELTA_DEPTH
from satchel.objects import Location, hash_bytes
from tests.conftest import random_tree, read_tree, store_dir, write_tree


def finalized(folder: Path, name: str = "ds", project: str = "proj", **create: object) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project=project, **create)  # type: ignore[arg-type]
    ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_round_trip_bytes_identical(home: Path, tmp_path: Path) -> None:
    files = random_tree(tmp_path / "src", 60)
    write_tree(tmp_path / "src", {"big/large.bin": os.urandom(17 << 20), "empty.txt": b""})
    ds = finalized(tmp_path / "src")
    assert ds.is_final()
    copy = Path(ds.get_local_copy())
    got = read_tree(copy)
    assert {k: v for k, v in got.items() if k in files} == files
    assert len(got) == len(files) + 2
    assert got["big/large.bin"] == (tmp_path / "src/big/large.bin").read_bytes()
    assert got["empty.txt"] == b""


def test_local_copy_is_read_only_and_hardlinked(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "hello", "sub/b.txt": "world"})
    ds = finalized(tmp_path / "src")
    copy = Path(ds.get_local_copy())
    info = (copy / "sub/b.txt").stat()
    assert stat.S_IMODE(info.st_mode) & 0o222 == 0
    assert info.st_nlink >= 2
    assert stat.S_IMODE(copy.stat().st_mode) & 0o222 == 0
    soft = Path(ds.get_local_copy(use_soft_links=True))
    assert soft != copy
    assert (soft / "a.txt").is_symlink() and (soft / "a.txt").read_text() == "hello"


def test_warm_get_returns_same_folder_without_rebuilding(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "hello"})
    ds = finalized(tmp_path / "src")
    first = ds.get_local_copy()
    inode = os.stat(first).st_ino
    again = Dataset.get(dataset_id=ds.id).get_local_copy()
    assert again == first and os.stat(again).st_ino == inode


def test_identical_content_is_stored_once(home: Path, tmp_path: Path) -> None:
    payload = os.urandom(300_000)
    write_tree(tmp_path / "src", {"a.bin": payload, "copy/a.bin": payload, "renamed.bin": payload})
    ds = finalized(tmp_path / "src")
    storage = store_dir(home)
    packs = list((storage / "packs").rglob("*.pack"))
    stored = sum(p.stat().st_size for p in packs)
    assert stored < len(payload) * 1.1
    child = Dataset.create(parent_datasets=[ds])
    write_tree(tmp_path / "ren", {"moved/elsewhere.bin": payload})
    child.add_files(tmp_path / "ren")
    child.upload(show_progress=False)
    child.finalize()
    assert sorted(p.name for p in (storage / "packs").rglob("*.pack")) == sorted(p.name for p in packs)


def test_small_files_are_packed(home: Path, tmp_path: Path) -> None:
    random_tree(tmp_path / "src", 300, max_size=2000)
    finalized(tmp_path / "src")
    assert len(list((store_dir(home) / "packs").rglob("*.pack"))) == 1


def test_chunk_size_limits_pack_size(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {f"f{i}.bin": os.urandom(400_000) for i in range(8)})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False, chunk_size=1)
    ds.finalize()
    packs = list((store_dir(home) / "packs").rglob("*.pack"))
    assert len(packs) >= 3
    assert max(p.stat().st_size for p in packs) < 2 * 1024 * 1024
    assert read_tree(Path(ds.get_local_copy())) == read_tree(tmp_path / "src")


@pytest.mark.parametrize("compression", [None, "zstd", "none", zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_compression_options_round_trip(home: Path, tmp_path: Path, compression: object) -> None:
    write_tree(tmp_path / "src", {"text.txt": "abc " * 50_000})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False, compression=compression)
    ds.finalize()
    stored = sum(p.stat().st_size for p in (store_dir(home) / "packs").rglob("*.pack"))
    if compression in ("none", zipfile.ZIP_STORED):
        assert stored >= 200_000
    else:
        assert stored < 20_000
    assert (Path(ds.get_local_copy()) / "text.txt").read_text() == "abc " * 50_000


def test_bad_compression_is_refused(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a": "x"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    with pytest.raises(InvalidArgumentError, match="compression"):
        ds.upload(compression="brotli")


def test_upload_to_output_url_and_file_uri(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    target = tmp_path / "bucket"
    ds = Dataset.create(dataset_name="ds", dataset_project="p", output_uri=target.as_uri())
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False)
    ds.finalize()
    assert list((target / "packs").rglob("*.pack"))
    assert not (store_dir(home)).exists()
    other = tmp_path / "other"
    ds2 = Dataset.create(dataset_name="ds2", dataset_project="p")
    ds2.add_files(tmp_path / "src")
    ds2.upload(show_progress=False, output_url=str(other))
    ds2.finalize()
    assert ds2.storage_url == other.as_uri()
    assert (Path(ds2.get_local_copy()) / "a.txt").read_text() == "alpha"


def test_child_inherits_adds_modifies_removes(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "v1", {"keep.txt": "k", "change.txt": "old", "drop/x.txt": "x", "drop/y.txt": "y"})
    parent = finalized(tmp_path / "v1")
    child = Dataset.create(parent_datasets=[parent.id])
    assert (child.name, child.project, child.version) == ("ds", "proj", "1.0.1")
    write_tree(tmp_path / "v2", {"change.txt": "new", "added.txt": "a"})
    assert child.add_files(tmp_path / "v2") == 1
    assert child.remove_files("drop") == 2
    child.upload(show_progress=False)
    child.finalize()
    assert read_tree(Path(child.get_local_copy())) == {
        "keep.txt": b"k", "change.txt": b"new", "added.txt": b"a"
    }
    assert read_tree(Path(parent.get_local_copy()))["change.txt"] == b"old"
    assert child.list_added_files() == ["added.txt"]
    assert child.list_modified_files() == ["change.txt"]
    assert child.list_removed_files() == ["drop/x.txt", "drop/y.txt"]
    assert child.stats["removed"] == 2 and child.stats["file_count"] == 3
    entries = child.file_entries_dict
    assert entries["keep.txt"].parent_dataset_id == parent.id
    assert entries["added.txt"].parent_dataset_id == child.id
    assert child.list_files(dataset_id=child.id) == ["added.txt", "change.txt"]


def test_finalize_locates_a_childs_rows_once_and_finalize_after_an_auto_upload_locates_them_again(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from satchel.objects.store import ObjectStore

    write_tree(tmp_path / "v1", {"keep.txt": "k", "change.txt": "old"})
    parent = finalized(tmp_path / "v1")
    asked: list[set[str]] = []
    locate = ObjectStore.locate

    def recorded(self: ObjectStore, hashes: Iterable[str]) -> dict[str, Location]:
        asked.append(set(hashes))
        return locate(self, asked[-1])

    monkeypatch.setattr(ObjectStore, "locate", recorded)
    child = Dataset.create(parent_datasets=[parent.id])
    write_tree(tmp_path / "v2", {"change.txt": "new", "added.txt": "a"})
    child.add_files(tmp_path / "v2")
    child.upload(show_progress=False)
    asked.clear()
    child.finalize()
    assert asked == [{hash_bytes(b"new"), hash_bytes(b"a")}]  # pending found them; the manifest reused that
    assert read_tree(Path(child.get_local_copy())) == {"keep.txt": b"k", "change.txt": b"new", "added.txt": b"a"}

    late = Dataset.create(parent_datasets=[child.id])
    write_tree(tmp_path / "v3", {"late.txt": "late"})
    late.add_files(tmp_path / "v3")
    asked.clear()
    late.finalize(auto_upload=True)  # pending found it missing; after the upload it is located again
    assert asked[0] == asked[-1] == {hash_bytes(b"late")} and len(asked) >= 2
    assert read_tree(Path(late.get_local_copy()))["late.txt"] == b"late"


def test_content_no_file_and_no_parent_holds_is_refused_naming_one_of_its_paths(home: Path) -> None:
    """Two rows hold the lost content; the error names the first in the catalog's order of the draft's rows."""
    from satchel import IntegrityError
    from satchel.catalog import DraftRow

    ds = Dataset.create(dataset_name="lost", dataset_project="proj")
    gone = hash_bytes(b"nowhere")
    get_context().catalog.change_draft(ds.id, [DraftRow("b/second.txt", gone, 7), DraftRow("a/first.txt", gone, 7)])
    for step in (lambda: ds.upload(show_progress=False), lambda: ds.finalize(auto_upload=True)):
        with pytest.raises(IntegrityError, match="no source left for 1 file") as caught:
            step()
        assert caught.value.dataset_path in ("b/second.txt", "a/first.txt") and caught.value.content_hash == gone
    assert not ds.is_final()


def test_later_parent_overrides_earlier(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"same.txt": "from a", "only_a.txt": "a"})
    write_tree(tmp_path / "b", {"same.txt": "from b", "only_b.txt": "b"})
    a = finalized(tmp_path / "a", name="a")
    b = finalized(tmp_path / "b", name="b")
    ab = Dataset.create(dataset_name="ab", dataset_project="proj", parent_datasets=[a, b])
    ab.finalize()
    ba = Dataset.create(dataset_name="ba", dataset_project="proj", parent_datasets=[b, a])
    ba.finalize()
    assert read_tree(Path(ab.get_local_copy()))["same.txt"] == b"from b"
    assert read_tree(Path(ba.get_local_copy()))["same.txt"] == b"from a"
    assert sorted(read_tree(Path(ab.get_local_copy()))) == ["only_a.txt", "only_b.txt", "same.txt"]


def test_add_files_options(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "root", {"imgs/a.jpg": "1", "imgs/b.png": "2", "imgs/sub/c.jpg": "3", "top.jpg": "4"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    assert ds.add_files(tmp_path / "root/imgs", wildcard="*.jpg") == 2
    assert ds.list_files() == ["a.jpg", "sub/c.jpg"]
    assert ds.add_files(tmp_path / "root/imgs", wildcard=["*.png"], dataset_path="png") == 1
    assert ds.add_files(tmp_path / "root/imgs", recursive=False, dataset_path="flat") == 2
    assert ds.add_files(tmp_path / "root/imgs/sub/c.jpg", local_base_folder=tmp_path / "root",
                        dataset_path="based") == 1
    assert ds.add_files(tmp_path / "root/top.jpg") == 1
    assert ds.list_files() == [
        "a.jpg", "based/imgs/sub/c.jpg", "flat/a.jpg", "flat/b.png", "png/b.png", "sub/c.jpg", "top.jpg"
    ]
    assert ds.add_files(tmp_path / "root/imgs", wildcard="*.gif") == 0


def test_modified_files_are_not_counted_as_added(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "1", "b.txt": "2"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    assert ds.add_files(tmp_path / "src") == 2
    write_tree(tmp_path / "src", {"a.txt": "changed"})
    assert ds.add_files(tmp_path / "src") == 0
    assert ds.file_entries_dict["a.txt"].size == len("changed")


def test_unchanged_files_are_not_read_again(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("satchel.dataset.statcache.RACY_WINDOW_NS", 50_000_000)
    write_tree(tmp_path / "src", {f"f{i}.txt": f"content {i}" for i in range(20)})
    time.sleep(0.1)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    import satchel.dataset.scan as scan

    calls = []
    original = scan.hash_source
    monkeypatch.setattr(scan, "hash_source", lambda s: calls.append(s) or original(s))
    ds2 = Dataset.create(dataset_name="ds2", dataset_project="p")
    assert ds2.add_files(tmp_path / "src") == 20
    assert calls == []
    (tmp_path / "src/f3.txt").write_text("now different")
    ds2.add_files(tmp_path / "src")
    assert [c.dataset_path for c in calls] == ["f3.txt"]


def test_same_size_rewrite_with_restored_mtime_is_noticed(home: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("satchel.dataset.statcache.RACY_WINDOW_NS", 50_000_000)
    write_tree(tmp_path / "src", {"a.txt": "version-1"})
    time.sleep(0.1)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    path = tmp_path / "src/a.txt"
    before = path.stat()
    path.write_text("version-2")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    time.sleep(0.1)
    ds.add_files(tmp_path / "src")
    assert ds.file_entries_dict["a.txt"].hash == hash_bytes(b"version-2")


def test_file_read_right_after_a_write_is_not_trusted(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "fresh"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    info = (tmp_path / "src/a.txt").stat()
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    assert get_context().stat_cache.lookup([key]) == [None]


def test_sync_folder(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "v1", {"a.txt": "a", "b.txt": "b", "sub/c.txt": "c"})
    parent = finalized(tmp_path / "v1")
    child = Dataset.create(parent_datasets=[parent])
    write_tree(tmp_path / "v2", {"a.txt": "a", "b.txt": "B!", "new.txt": "n"})
    assert child.sync_folder(tmp_path / "v2") == (1, 2)
    assert child.list_files() == ["a.txt", "b.txt", "new.txt"]
    write_tree(tmp_path / "v3", {"only.txt": "o"})
    assert child.sync_folder(tmp_path / "v3", dataset_path="nested") == (0, 1)
    assert child.list_files() == ["a.txt", "b.txt", "nested/only.txt", "new.txt"]


def test_re_adding_the_same_content_from_another_folder_uploads_from_there(home: Path, tmp_path: Path) -> None:
    """A draft row remembers where to read its file at upload: re-adding the same bytes from elsewhere moves it,
    so deleting the first folder before the upload loses nothing."""
    write_tree(tmp_path / "first", {"a.txt": "same bytes", "b.txt": "b"})
    write_tree(tmp_path / "second", {"a.txt": "same bytes"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "first")
    assert ds.add_files(tmp_path / "second") == 0  # nothing new: a.txt is unchanged
    (tmp_path / "first" / "a.txt").unlink()
    ds.upload(show_progress=False)
    ds.finalize()
    got = Path(Dataset.get(dataset_id=ds.id).get_local_copy())
    assert (got / "a.txt").read_bytes() == b"same bytes" and (got / "b.txt").read_bytes() == b"b"


def test_a_deep_chain_is_rebased_on_a_full_manifest(home: Path, tmp_path: Path) -> None:
    """Each child stores a delta against its parent until the chain is MAX_DELTA_DEPTH deep; the next child
    stores a full manifest (depth 0) with the same files, changes and statistics, and its child is a delta again."""
    ctx = get_context()
    folder = tmp_path / "tree"
    files = {f"d{n % 3}/f{n}.txt": f"v0 {n}" for n in range(12)}
    write_tree(folder, files)
    versions = [finalized(folder)]
    for step in range(1, MAX_DELTA_DEPTH + 3):
        (folder / f"d{step % 3}/f{step % 12}.txt").write_text(f"v{step}")
        files[f"d{step % 3}/f{step % 12}.txt"] = f"v{step}"
        (folder / f"new{step}.txt").write_text(str(step))
        files[f"new{step}.txt"] = str(step)
        if step > 1:
            (folder / f"new{step - 1}.txt").unlink()
            del files[f"new{step - 1}.txt"]
        child = Dataset.create(parent_datasets=[versions[-1]])
        child.sync_folder(folder)
        child.upload(show_progress=False)
        child.finalize()
        versions.append(child)
    records = [ctx.catalog.get_version(v.id) for v in versions]
    kinds = [ctx.store(str(r.storage_url)).get_manifest(str(r.manifest)).kind for r in records]
    depths = [*range(MAX_DELTA_DEPTH + 1), 0, 1]
    assert [r.depth for r in records] == depths
    assert kinds == ["full"] + ["delta"] * MAX_DELTA_DEPTH + ["full", "delta"]
    rebased = Dataset.get(dataset_id=versions[-2].id)
    assert rebased.list_added_files() == [f"new{MAX_DELTA_DEPTH + 1}.txt"]
    assert rebased.list_modified_files() == [f"d{(MAX_DELTA_DEPTH + 1) % 3}/f{(MAX_DELTA_DEPTH + 1) % 12}.txt"]
    assert rebased.list_removed_files() == [f"new{MAX_DELTA_DEPTH}.txt"]
    assert records[-2].stats["file_count"] == records[-3].stats["file_count"] == len(files)
    assert read_tree(Path(Dataset.get(dataset_id=versions[-1].id).get_local_copy())) == \
        {path: text.encode() for path, text in files.items()}


def test_remove_files_patterns(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a/x.jpg": "1", "a/y.txt": "2", "a/deep/z.jpg": "3", "b.jpg": "4"})
    ds = finalized(tmp_path / "src")
    child = Dataset.create(parent_datasets=[ds])
    assert child.remove_files("a/*.jpg", recursive=False) == 1
    assert child.remove_files("nothing/*") == 0
    assert child.remove_files("*.jpg") == 2
    assert child.list_files() == ["a/y.txt"]
    assert child.remove_files("*") == 1
    assert child.list_files() == []
    with pytest.raises(InvalidArgumentError, match=r"'\*'"):
        child.remove_files()


def test_version_numbers(home: Path, tmp_path: Path) -> None:
    a = Dataset.create(dataset_name="n", dataset_project="p")
    assert a.version == "1.0.0"
    b = Dataset.create(dataset_name="n", dataset_project="p", dataset_version="2.3.9")
    assert b.version == "2.3.9"
    assert Dataset.create(dataset_name="n", dataset_project="p").version == "2.3.10"
    assert Dataset.create(dataset_name="other", dataset_project="p").version == "1.0.0"


def test_finalize_requires_upload(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "a"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    assert ds.is_dirty()
    with pytest.raises(PendingUploadError, match=r"upload\(\)") as caught:
        ds.finalize()
    assert caught.value.pending_files == 1
    assert not ds.is_final()
    assert ds.finalize(raise_on_error=False) is False
    assert ds.finalize(auto_upload=True) is True
    assert ds.is_final() and not ds.is_dirty()


def test_finalized_is_immutable(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "a"})
    ds = finalized(tmp_path / "src")
    for action in (lambda: ds.add_files(tmp_path / "src"), lambda: ds.remove_files("*"),
                   lambda: ds.upload(), lambda: ds.sync_folder(tmp_path / "src")):
        with pytest.raises(DatasetFinalizedError):
            action()
    with pytest.raises(DatasetFinalizedError):
        ds.finalize()
    assert ds.list_files() == ["a.txt"]


def test_unfinalized_parent_is_refused(home: Path, tmp_path: Path) -> None:
    draft = Dataset.create(dataset_name="ds", dataset_project="p")
    with pytest.raises(DatasetNotFinalizedError, match="finalize"):
        Dataset.create(dataset_name="child", dataset_project="p", parent_datasets=[draft])
    with pytest.raises(DatasetNotFinalizedError):
        draft.get_local_copy()


def test_bad_paths_are_refused(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "a"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    for bad in ("../x", "C:/abs", "a/../../b", "/../x"):
        with pytest.raises(InvalidDatasetPathError):
            ds.add_files(tmp_path / "src", dataset_path=bad)
    with pytest.raises(InvalidArgumentError, match="no such file"):
        ds.add_files(tmp_path / "missing")
    with pytest.raises(InvalidArgumentError, match="local_base_folder"):
        ds.add_files(tmp_path / "src/a.txt", local_base_folder=tmp_path / "elsewhere")
    assert ds.list_files() == []


def test_empty_dataset_finalizes_and_materializes(home: Path) -> None:
    ds = Dataset.create(dataset_name="empty", dataset_project="p")
    assert ds.finalize()
    assert os.listdir(ds.get_local_copy()) == []


def test_draft_state_survives_a_new_process_context(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "a"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    import satchel

    satchel.configure(home=home)
    again = Dataset.get(dataset_id=ds.id)
    assert again.list_files() == ["a.txt"] and again.is_dirty()
    again.upload(show_progress=False)
    again.finalize()
    assert get_context().catalog.draft_rows(ds.id) == {}
