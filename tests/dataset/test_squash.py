"""Squash: one version flattened, several merged with their own changes, without moving stored bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

import satchel
from satchel import Dataset, DatasetNotFinalizedError
from satchel.dataset.context import get_context
from satchel.objects import store as store_module
from tests.conftest import make_version, read_tree, store_dir


def version(folder: Path, files: dict[str, str], parents: list[Dataset] | None = None,
            remove: list[str] | None = None, name: str = "ds") -> Dataset:
    return make_version(folder, dict(files), name=name, parents=parents, remove=remove)


def test_squash_one_version_keeps_view_and_drops_parents(home: Path, tmp_path: Path) -> None:
    v1 = version(tmp_path / "1", {"a.txt": "a", "b.txt": "b"})
    v2 = version(tmp_path / "2", {"c.txt": "c"}, parents=[v1], remove=["a.txt"])
    flat = Dataset.squash("flat", dataset_ids=[v2.id])
    assert flat.is_final() and flat.parent_ids == []
    assert read_tree(Path(flat.get_local_copy())) == read_tree(Path(v2.get_local_copy()))
    assert {e.parent_dataset_id for e in flat.file_entries} == {flat.id}


def test_squash_several_applies_changes_in_order(home: Path, tmp_path: Path) -> None:
    base = version(tmp_path / "base", {"x.txt": "x0", "y.txt": "y0", "z.txt": "z0"})
    left = version(tmp_path / "left", {"x.txt": "x-left"}, parents=[base], name="left")
    right = version(tmp_path / "right", {"new.txt": "n"}, parents=[base], remove=["z.txt"], name="right")
    merged = Dataset.squash("merged", dataset_ids=[left, right])
    assert read_tree(Path(merged.get_local_copy())) == {"x.txt": b"x-left", "y.txt": b"y0", "new.txt": b"n"}
    by_name = Dataset.squash("merged2", dataset_project_name_pairs=[("p", "left"), ("p", "right")])
    assert read_tree(Path(by_name.get_local_copy())) == read_tree(Path(merged.get_local_copy()))


def test_squash_moves_no_bytes_within_one_store(home: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    v1 = version(tmp_path / "1", {"a.bin": "a" * 10_000})
    v2 = version(tmp_path / "2", {"b.bin": "b" * 10_000}, parents=[v1])
    packs_before = sorted(p.name for p in (store_dir(home) / "packs").rglob("*.pack"))
    calls: list[str] = []
    for name in ("read", "read_batch", "read_to_file", "write_pack", "write_stream"):
        original = getattr(store_module.ObjectStore, name)

        def spy(self: object, *args: object, _name: str = name, _orig: object = original, **kw: object) -> object:
            calls.append(_name)
            return _orig(self, *args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(store_module.ObjectStore, name, spy)
    flat = Dataset.squash("flat", dataset_ids=[v1, v2])
    assert calls == []
    assert sorted(p.name for p in (store_dir(home) / "packs").rglob("*.pack")) == packs_before
    monkeypatch.undo()
    assert read_tree(Path(flat.get_local_copy())) == {"a.bin": b"a" * 10_000, "b.bin": b"b" * 10_000}


def test_squash_to_other_storage_copies_content(home: Path, tmp_path: Path) -> None:
    v1 = version(tmp_path / "1", {"a.txt": "alpha"})
    other = tmp_path / "other-store"
    flat = Dataset.squash("flat", dataset_ids=[v1], output_url=str(other))
    assert flat.storage_url == other.as_uri()
    assert list((other / "packs").rglob("*.pack"))
    assert read_tree(Path(flat.get_local_copy())) == {"a.txt": b"alpha"}


def test_squash_of_a_child_to_other_storage_names_only_the_packs_it_wrote_there(home: Path, tmp_path: Path) -> None:
    """Several files (packed together, so the target's pack is not the source's), a child that changes and
    removes some: the squash's manifest names the target's packs only, and reads back on a fresh cache."""
    files = {f"d{n % 3}/f{n}.txt": f"content {n} " * (n + 1) for n in range(12)}
    v1 = version(tmp_path / "1", files)
    v2 = version(tmp_path / "2", {"d0/f0.txt": "changed", "new.txt": "new"}, parents=[v1], remove=["d1/f1.txt"])
    other = tmp_path / "other-store"
    flat = Dataset.squash("flat", dataset_ids=[v1.id, v2.id], output_url=str(other))
    expected = {p: t.encode() for p, t in files.items() if p != "d1/f1.txt"} | {"d0/f0.txt": b"changed",
                                                                                "new.txt": b"new"}
    ctx = get_context()
    record = ctx.catalog.get_version(flat.id)
    manifest = ctx.store(other.as_uri()).get_manifest(str(record.manifest))
    assert manifest.kind == "full"
    assert {e.pack for e in manifest.entries.values()} == {p.stem for p in (other / "packs").rglob("*.pack")}
    satchel.configure(home=home, cache_dir=tmp_path / "fresh-cache")
    assert read_tree(Path(Dataset.get(dataset_id=flat.id).get_local_copy())) == expected


def test_squash_refuses_drafts(home: Path) -> None:
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    with pytest.raises(DatasetNotFinalizedError):
        Dataset.squash("flat", dataset_ids=[draft.id])


def test_squash_of_a_file_that_replaced_a_folder(home: Path, tmp_path: Path) -> None:
    """The squash knows its parent's folders ("x" among them) as a hint for its clash check; "x" is a file now,
    and the squash must not mistake it for a clash."""
    v1 = version(tmp_path / "1", {"x/y.txt": "y", "k.txt": "k"})
    v2 = version(tmp_path / "2", {"x": "now a file"}, parents=[v1], remove=["x/y.txt"])
    flat = Dataset.squash("flat", dataset_ids=[v2.id])
    assert read_tree(Path(flat.get_local_copy())) == {"x": b"now a file", "k.txt": b"k"}
