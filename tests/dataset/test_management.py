"""Management API: diffs, lineage, verify, listing, publish/archive, metadata, delete + gc, rename, move."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from satchel import ConflictError, Dataset, DatasetNotFinalizedError, DatasetNotFoundError, InvalidArgumentError
from tests.conftest import make_version as version
from tests.conftest import read_tree, store_dir, write_tree


def stored_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_changes_against_parents_and_against_a_version(home: Path, tmp_path: Path) -> None:
    v1 = version(tmp_path / "1", {"a": "1", "b": "2", "c": "3"})
    v2 = version(tmp_path / "2", {"a": "changed", "d": "4"}, parents=[v1], remove=["b"])
    v3 = version(tmp_path / "3", {"e": "5"}, parents=[v2])
    assert (v3.list_added_files(), v3.list_modified_files(), v3.list_removed_files()) == (["e"], [], [])
    assert v3.list_added_files(dataset_id=v1.id) == ["d", "e"]
    assert v3.list_modified_files(dataset_id=v1.id) == ["a"]
    assert v3.list_removed_files(dataset_id=v1.id) == ["b"]
    assert v3.get_dependency_graph() == {v3.id: [v2.id], v2.id: [v1.id], v1.id: []}


def test_verify_finds_changed_missing_and_extra_files(home: Path, tmp_path: Path) -> None:
    ds = version(tmp_path / "src", {"a.txt": "alpha", "b.txt": "beta", "sub/c.txt": "gamma"})
    assert ds.verify_dataset_hash() == []
    work = tmp_path / "work"
    ds.get_mutable_local_copy(work)
    assert ds.verify_dataset_hash(local_copy_path=work) == []
    (work / "a.txt").write_text("ALPHA")
    (work / "b.txt").unlink()
    (work / "extra.txt").write_text("x")
    assert ds.verify_dataset_hash(local_copy_path=work) == ["a.txt", "b.txt", "extra.txt"]
    assert ds.verify_dataset_hash(local_copy_path=work, skip_hash=True) == ["b.txt", "extra.txt"]


def test_verify_detects_a_corrupted_cached_copy(home: Path, tmp_path: Path) -> None:
    ds = version(tmp_path / "src", {"a.txt": "alpha"})
    copy = Path(ds.get_local_copy())
    target = copy / "a.txt"
    os.chmod(target, stat.S_IWUSR | stat.S_IRUSR)
    target.write_text("tampered")
    assert ds.verify_dataset_hash() == ["a.txt"]


def test_list_datasets_with_nested_projects(home: Path, tmp_path: Path) -> None:
    cats = version(tmp_path / "c", {"c.jpg": "c"}, name="cats", project="vision/cats", dataset_tags=["animals"])
    version(tmp_path / "d", {"d.jpg": "d"}, name="dogs", project="vision/dogs")
    Dataset.create(dataset_name="draft", dataset_project="vision")
    found = Dataset.list_datasets(dataset_project="vision")
    assert [d["name"] for d in found] == ["dogs", "cats"]
    assert found[1]["file_count"] == 1 and found[1]["total_size"] == 1 and found[1]["status"] == "completed"
    assert {d["name"] for d in Dataset.list_datasets(dataset_project="vision", only_completed=False)} == {
        "cats", "dogs", "draft"}
    assert Dataset.list_datasets(dataset_project="vision", recursive_project_search=False) == []
    assert [d["id"] for d in Dataset.list_datasets(partial_name="CAT")] == [cats.id]
    assert [d["id"] for d in Dataset.list_datasets(tags=["animals"])] == [cats.id]
    cats.archive()
    assert [d["name"] for d in Dataset.list_datasets(include_archived=False)] == ["dogs"]
    cats.unarchive()
    assert len(Dataset.list_datasets(include_archived=False)) == 2


def test_publish_archive_description_tags(home: Path, tmp_path: Path) -> None:
    draft = Dataset.create(dataset_name="ds", dataset_project="p", dataset_tags=["a"])
    with pytest.raises(DatasetNotFinalizedError, match="finalize"):
        draft.publish()
    draft.finalize()
    draft.publish()
    assert Dataset.get(dataset_project="p", dataset_name="ds", only_published=True).id == draft.id
    draft.set_description("hello")
    draft.add_tags(["b", "a"])
    again = Dataset.get(dataset_id=draft.id)
    assert again.description == "hello" and again.tags == ["a", "b"]
    draft.archive()
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_project="p", dataset_name="ds")
    assert Dataset.get(dataset_project="p", dataset_name="ds", include_archived=True).id == draft.id


def test_metadata_round_trips_with_its_type(home: Path) -> None:
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.set_metadata({"classes": ["cat", "dog"], "n": 2})
    assert ds.get_metadata() == {"classes": ["cat", "dog"], "n": 2}
    assert ds.get_metadata("other") is None
    with pytest.raises(InvalidArgumentError, match="reserved"):
        ds.set_metadata({"x": 1}, metadata_name="state")
    with pytest.raises(InvalidArgumentError, match="not supported"):
        ds.set_metadata(object())
    import numpy

    array = numpy.arange(12, dtype=numpy.float32).reshape(3, 4)
    ds.set_metadata(array, metadata_name="weights")
    back = ds.get_metadata("weights")
    assert isinstance(back, numpy.ndarray) and back.dtype == numpy.float32 and (back == array).all()


def test_metadata_dataframe(home: Path) -> None:
    import pandas

    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    frame = pandas.DataFrame({"name": ["a", "b"], "count": [1, 2], "score": [0.5, 1.5]})
    ds.set_metadata(frame, metadata_name="table")
    back = ds.get_metadata("table")
    assert isinstance(back, pandas.DataFrame)
    pandas.testing.assert_frame_equal(back, frame)


def test_storage_facts(home: Path, tmp_path: Path, mode: str) -> None:
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    assert ds.get_default_storage() == ("server://p" if mode == "server" else store_dir(home).as_uri())
    write_tree(tmp_path / "src", {"a": "a", "big.bin": os.urandom(17 << 20)})
    ds.add_files(tmp_path / "src")
    ds.finalize(auto_upload=True)
    assert ds.get_num_chunks() == 2
    assert ds.link_entries == [] and ds.link_entries_dict == {}
    assert ds.stats["stored_size"] >= (17 << 20)


def test_delete_refuses_a_parent_in_use_then_force_keeps_children_readable(home: Path, tmp_path: Path) -> None:
    v1 = version(tmp_path / "1", {"a.txt": "a", "b.txt": "b"})
    v2 = version(tmp_path / "2", {"c.txt": "c"}, parents=[v1])
    with pytest.raises(ConflictError, match="force=True"):
        Dataset.delete(dataset_id=v1.id)
    Dataset.delete(dataset_id=v1.id, force=True)
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=v1.id)
    survivor = Dataset.get(dataset_id=v2.id)
    assert survivor.parent_ids == []
    assert survivor.get_dependency_graph() == {v2.id: []}
    survivor_copy = tmp_path / "check"
    survivor.get_mutable_local_copy(survivor_copy)
    assert read_tree(survivor_copy) == {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"}


def test_delete_frees_bytes_on_disk(home: Path, tmp_path: Path) -> None:
    shared = os.urandom(200_000)
    keep = version(tmp_path / "keep", {"shared.bin": shared}, name="keep")
    doomed = version(tmp_path / "doomed", {"own.bin": os.urandom(3_000_000), "shared.bin": shared}, name="doomed")
    before = stored_bytes(store_dir(home))
    report = next(iter(Dataset.delete(dataset_id=doomed.id, delete_files=True).values()))
    after = stored_bytes(store_dir(home))
    assert report.packs_deleted == 1 and report.bytes_freed >= 3_000_000
    assert before - after >= 3_000_000
    assert read_tree(Path(keep.get_local_copy())) == read_tree(tmp_path / "keep")


def test_gc_keeps_what_drafts_need(home: Path, tmp_path: Path) -> None:
    from satchel.dataset import admin
    from satchel.dataset.context import get_context

    payload = os.urandom(500_000)
    old = version(tmp_path / "old", {"x.bin": payload}, name="old")
    draft = Dataset.create(dataset_name="new", dataset_project="p")
    write_tree(tmp_path / "new", {"x.bin": payload})
    draft.add_files(tmp_path / "new")
    Dataset.delete(dataset_id=old.id, delete_files=False)
    report = admin.collect(get_context())
    assert report.packs_deleted == 0
    draft.upload(show_progress=False)
    draft.finalize()
    assert (Path(draft.get_local_copy()) / "x.bin").read_bytes() == payload


def test_delete_by_name_and_entire_dataset(home: Path, tmp_path: Path) -> None:
    version(tmp_path / "1", {"a": "1"})
    version(tmp_path / "2", {"a": "2"})
    with pytest.raises(InvalidArgumentError, match="dataset_version"):
        Dataset.delete(dataset_project="p", dataset_name="ds")
    Dataset.delete(dataset_project="p", dataset_name="ds", dataset_version="1.0.1")
    with pytest.raises(InvalidArgumentError, match="force=True"):
        Dataset.delete(dataset_project="p", dataset_name="ds", entire_dataset=True)
    Dataset.delete(dataset_project="p", dataset_name="ds", entire_dataset=True, force=True)
    assert Dataset.list_datasets(dataset_project="p") == []


def test_published_needs_force_to_delete(home: Path) -> None:
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.finalize()
    ds.publish()
    with pytest.raises(ConflictError, match="published"):
        Dataset.delete(dataset_id=ds.id)
    Dataset.delete(dataset_id=ds.id, force=True)


def test_rename_and_move_keep_lineage_and_content(home: Path, tmp_path: Path) -> None:
    v1 = version(tmp_path / "1", {"a": "1"})
    v2 = version(tmp_path / "2", {"b": "2"}, parents=[v1])
    Dataset.rename("renamed", dataset_project="p", dataset_name="ds")
    Dataset.move_to_project("q/sub", dataset_project="p", dataset_name="renamed")
    moved = Dataset.get(dataset_project="q/sub", dataset_name="renamed")
    assert moved.id == v2.id and moved.parent_ids == [v1.id]
    assert read_tree(Path(moved.get_local_copy())) == {"a": b"1", "b": b"2"}
    with pytest.raises(DatasetNotFoundError):
        Dataset.rename("x", dataset_project="p", dataset_name="ds")
    version(tmp_path / "3", {"c": "3"}, name="other", project="q/sub")
    with pytest.raises(ConflictError):
        Dataset.rename("other", dataset_project="q/sub", dataset_name="renamed")


def test_deleting_a_whole_lineage_at_once(home: Path, tmp_path: Path) -> None:
    v1 = version(tmp_path / "1", {"a": "1"})
    version(tmp_path / "2", {"b": "2"}, parents=[v1])
    Dataset.delete(dataset_project="p", dataset_name="ds", entire_dataset=True, force=True)
    assert Dataset.list_datasets(only_completed=False) == []


def test_a_parent_of_a_draft_cannot_be_deleted_and_nothing_changes(home: Path, tmp_path: Path) -> None:
    parent = version(tmp_path / "1", {"a": "1"})
    child = version(tmp_path / "2", {"b": "2"}, parents=[parent])
    draft = Dataset.create(parent_datasets=[parent])
    with pytest.raises(ConflictError, match="draft"):
        Dataset.delete(dataset_id=parent.id, force=True)
    assert Dataset.get(dataset_id=child.id).parent_ids == [parent.id]
    assert draft.list_files() == ["a"]


def test_a_collection_during_finalize_keeps_the_new_manifest(home: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from satchel.dataset import admin
    from satchel.dataset.context import get_context

    ctx = get_context()
    original = ctx.catalog.finalize_version

    def collect_first(*args: object, **kw: object) -> None:
        admin.collect(ctx)
        original(*args, **kw)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(ctx.catalog, "finalize_version", collect_first)
        ds = version(tmp_path / "src", {"a.txt": "alpha"})
    for path in (ctx.settings.cache_dir / "objects/manifests").iterdir():
        path.unlink()
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == {"a.txt": b"alpha"}


def test_a_collection_during_a_cross_store_squash_keeps_reused_packs(home: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from satchel.dataset import admin, squash
    from satchel.dataset.context import get_context

    other = tmp_path / "other-store"
    payload = os.urandom(300_000)
    source = version(tmp_path / "a", {"x.bin": payload}, name="a")
    garbage = version(tmp_path / "b", {"x.bin": payload}, name="b", output_uri=str(other))
    Dataset.delete(dataset_id=garbage.id, delete_files=False)
    original = squash.finalize_flat

    def collect_first(ctx: object, record: object, view: object, target: str) -> object:
        admin.collect(get_context(), target)
        return original(ctx, record, view, target)  # type: ignore[arg-type]

    monkeypatch.setattr(squash, "finalize_flat", collect_first)
    flat = Dataset.squash("flat", dataset_ids=[source.id], output_url=str(other))
    assert (Path(flat.get_local_copy()) / "x.bin").read_bytes() == payload


def test_rename_onto_an_existing_dataset_is_refused(home: Path, tmp_path: Path) -> None:
    version(tmp_path / "1", {"a": "1"}, name="x", dataset_version="2.0.0")
    version(tmp_path / "2", {"b": "2"}, name="y")
    with pytest.raises(ConflictError, match="merge"):
        Dataset.rename("y", dataset_project="p", dataset_name="x")
    version(tmp_path / "3", {"c": "3"}, name="x", project="q")
    with pytest.raises(ConflictError, match="merge"):
        Dataset.move_to_project("q", dataset_project="p", dataset_name="x")
    assert Dataset.get(dataset_project="p", dataset_name="y").version == "1.0.0"


def test_metadata_on_a_deleted_version_is_not_found(home: Path) -> None:
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    Dataset.delete(dataset_id=ds.id)
    with pytest.raises(DatasetNotFoundError):
        ds.set_metadata({"a": 1})
